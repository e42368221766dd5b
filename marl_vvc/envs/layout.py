"""Where to draw each bus: its coordinates, and near its neighbours where it has none."""

from __future__ import annotations

from collections import deque

import numpy as np

_GOLDEN = np.pi * (3.0 - np.sqrt(5.0))  # spreads the children of one bus around it


def _adjacency(bus_names: tuple[str, ...], branches: list[tuple[str, str]]) -> list[list[int]]:
    index = {b: i for i, b in enumerate(bus_names)}
    adj: list[list[int]] = [[] for _ in bus_names]
    for a, b in branches:
        if a in index and b in index:
            adj[index[a]].append(index[b])
            adj[index[b]].append(index[a])
    return adj


def tree_layout(bus_names: tuple[str, ...], branches: list[tuple[str, str]]) -> np.ndarray:
    """Layered layout from the first bus: x = hops from the source, y = order in the layer."""
    adj = _adjacency(bus_names, branches)
    depth = np.full(len(bus_names), -1)
    xy = np.zeros((len(bus_names), 2))
    per_layer: dict[int, int] = {}
    for root in range(len(bus_names)):
        if depth[root] >= 0:
            continue
        depth[root] = 0 if root == 0 else max(per_layer, default=0) + 2
        queue = deque([root])
        while queue:
            u = queue.popleft()
            row = per_layer.get(depth[u], 0)
            per_layer[depth[u]] = row + 1
            xy[u] = depth[u], -row
            for v in adj[u]:
                if depth[v] < 0:
                    depth[v] = depth[u] + 1
                    queue.append(v)
    return xy


def feeder_layout(
    xy: np.ndarray, bus_names: tuple[str, ...], branches: list[tuple[str, str]]
) -> np.ndarray:
    """Bus positions: the known coordinates, the other buses placed near their neighbours.

    Args:
        xy: ``(n_buses, 2)`` coordinates, NaN where a bus has none.
        bus_names: Bus names in ``xy`` order.
        branches: ``(bus, bus)`` pairs connecting them.

    Returns:
        ``(n_buses, 2)`` positions without NaN. With no usable coordinate at all, a tree
        layout; buses connected to no bus with coordinates are laid out as a tree to the right.
    """
    xy = np.array(xy, dtype=float)
    known = ~np.isnan(xy).any(axis=1)
    if known.all() and np.ptp(xy[:, 0]) + np.ptp(xy[:, 1]) > 0:
        return xy
    if known.sum() < 2 or np.ptp(xy[known, 0]) + np.ptp(xy[known, 1]) == 0:
        return tree_layout(bus_names, branches)
    adj = _adjacency(bus_names, branches)
    step = _edge_length(xy, known, adj)
    placed = known.copy()
    children = np.zeros(len(xy), dtype=int)
    queue = deque(np.flatnonzero(known).tolist())
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if not placed[v]:
                angle = _GOLDEN * children[u]
                children[u] += 1
                xy[v] = xy[u] + 0.5 * step * np.array([np.cos(angle), np.sin(angle)])
                placed[v] = True
                queue.append(v)
    if not placed.all():  # islands with no coordinate anywhere: a tree beside the map
        rest = np.flatnonzero(~placed)
        tree = tree_layout(tuple(bus_names[i] for i in rest), branches) * step
        corner = np.array([np.nanmax(xy[placed, 0]) + 2 * step, np.nanmax(xy[placed, 1])])
        xy[rest] = tree + corner
    return xy


def _edge_length(xy: np.ndarray, known: np.ndarray, adj: list[list[int]]) -> float:
    """Median length of the branches between buses with coordinates (a fallback scale)."""
    lengths = [
        float(np.hypot(*(xy[u] - xy[v]))) for u in np.flatnonzero(known) for v in adj[u] if known[v]
    ]
    lengths = [x for x in lengths if x > 0]
    if lengths:
        return float(np.median(lengths))
    span = np.ptp(xy[known], axis=0).max()
    return float(span) / float(max(np.sqrt(known.sum()), 1.0))
