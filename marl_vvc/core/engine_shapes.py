"""The engine's private daily load shapes: one per load, sized once, rewritten per episode.

Part of the engine: the functions take the engine's OpenDSS context wrapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from marl_vvc.errors import ConfigError

#: Most points one load shape can hold: OpenDSS counts them in a 32-bit integer. (Profiles
#: used to crash near 150k-260k points only because shapes were resized through the ``npts``
#: text property, see :func:`define_shapes`.)
MAX_PROFILE_POINTS = 2**31 - 1

SHAPE_PREFIX = "marl_vvc_shape_"


def check_profiles(shape: tuple[int, ...], n_loads: int) -> int:
    """Validate the shape of a profile array before anything reaches OpenDSS.

    Args:
        shape: ``np.shape`` of the multipliers, expected ``(n_loads, npts)``.
        n_loads: Loads of the circuit.

    Returns:
        ``npts``, the points per load.

    Raises:
        ValueError: Not one row per load.
        ConfigError: ``npts`` is 0 or above :data:`MAX_PROFILE_POINTS`.
    """
    rows, npts = shape
    if rows != n_loads:
        raise ValueError(f"expected {n_loads} load rows, got {rows}")
    if not 1 <= npts <= MAX_PROFILE_POINTS:
        raise ConfigError(
            f"load profiles of {npts} points per load: OpenDSS load shapes hold 1 to "
            f"MAX_PROFILE_POINTS = {MAX_PROFILE_POINTS} points (shorten the horizon)"
        )
    return int(npts)


def define_shapes(
    dss: Any, load_names: Sequence[str], mult: np.ndarray, step_seconds: float
) -> list[int]:
    """Create or resize the private shapes, fill them, then make them the loads' daily shapes.

    Sizes go through the API, never the ``npts`` text property: that one keeps the old,
    shorter array and OpenDSS then reads past its end (a segfault for long profiles). A shape
    gets its points before a load uses it: in daily mode (left by a master that ran a daily
    solve) OpenDSS evaluates the shape at once and would read an empty one.

    Args:
        dss: The engine's context wrapper.
        load_names: Loads in circuit order (row ``i`` of ``mult`` is load ``i``).
        mult: ``(n_loads, npts)`` C-contiguous float64 multipliers.
        step_seconds: Length of one point in seconds.

    Returns:
        The shapes' indices among the circuit's load shapes, row order (for
        :func:`write_shapes`).
    """
    shapes, loads = dss.LoadShape, dss.Loads
    indices = []
    dss.Circuit.SetActiveClass("LoadShape")
    existing = {str(n).lower() for n in dss.ActiveClass.AllNames() or ()}
    for i, load in enumerate(load_names):
        name = f"{SHAPE_PREFIX}{i}"
        if name in existing:
            shapes.Name(name)
        else:
            shapes.New(name)
        shapes.Npts(mult.shape[1])
        shapes.SInterval(step_seconds)
        shapes.PMult(mult[i])
        indices.append(int(shapes.Idx()))
        loads.Name(load)
        loads.Daily(name)
    return indices


def write_shapes(dss: Any, indices: Sequence[int], mult: np.ndarray) -> None:
    """Overwrite the points of shapes that already have the right size.

    Raw calls by index: every reset writes every load's shape.
    """
    lib, prepare, check = dss._lib, dss._prepare_float64_array, dss._check_for_error
    for idx, row in zip(indices, mult, strict=True):
        check(lib.LoadShapes_Set_idx(idx))
        _, ptr, count = prepare(row)
        check(lib.LoadShapes_Set_Pmult(ptr, count))
