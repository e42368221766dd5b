"""Feeder maps: known coordinates kept, the other buses placed near their neighbours."""

from __future__ import annotations

import numpy as np

from marl_vvc.envs.layout import feeder_layout

NAMES = ("src", "a", "b", "c", "d", "island1", "island2")
BRANCHES = [("src", "a"), ("a", "b"), ("b", "c"), ("b", "d"), ("island1", "island2")]


def test_partial_coordinates_are_kept_and_completed_near_neighbours() -> None:
    xy = np.full((7, 2), np.nan)
    xy[0], xy[1], xy[2] = (0, 0), (10, 0), (20, 0)  # c, d and the island have none
    out = feeder_layout(xy, NAMES, BRANCHES)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[:3], xy[:3])
    for bus in (3, 4):  # children of b sit half an edge (median length 10) from b
        assert np.hypot(*(out[bus] - out[2])) == np.float64(5.0)
    assert not np.allclose(out[3], out[4])  # siblings are spread apart
    assert out[5:, 0].min() > 20  # the island without coordinates is drawn beside the map


def test_no_or_degenerate_coordinates_fall_back_to_a_tree() -> None:
    tree = feeder_layout(np.full((7, 2), np.nan), NAMES, BRANCHES)
    same = feeder_layout(np.zeros((7, 2)), NAMES, BRANCHES)
    np.testing.assert_array_equal(tree, same)
    assert tree[0, 0] == 0 and tree[1, 0] == 1 and tree[2, 0] == 2  # hops from the source


def test_complete_coordinates_are_returned_as_given() -> None:
    xy = np.arange(14, dtype=float).reshape(7, 2)
    np.testing.assert_array_equal(feeder_layout(xy, NAMES, BRANCHES), xy)
