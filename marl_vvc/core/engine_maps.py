"""Index maps the engine builds once per compile: pure numpy, no OpenDSS calls."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bus_major_order(
    node_names: Sequence[str], bus_names: Sequence[str], bus_nodes: Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Permutation from ``AllNodeNames`` order to bus-major order, with each bus's size and start.

    Args:
        node_names: Node names (``bus.k``) in the order OpenDSS reads voltages.
        bus_names: Bus names in OpenDSS's bus order.
        bus_nodes: The node numbers of each bus, in ``Bus.Nodes`` order.

    Returns:
        ``(order, counts, offsets)``: ``v[order]`` lists bus 0's nodes, then bus 1's, ...;
        bus ``b`` holds ``counts[b]`` entries starting at ``offsets[b]``.
    """
    node_index = {n: i for i, n in enumerate(node_names)}
    pairs = zip(bus_names, bus_nodes, strict=True)
    order = [node_index[f"{bus}.{k}"] for bus, nodes in pairs for k in nodes]
    counts = np.asarray([len(nodes) for nodes in bus_nodes], dtype=np.intp)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp)
    return np.asarray(order, dtype=np.intp), counts, offsets


def terminal_layout(
    element_names: Sequence[str],
    conductors: np.ndarray,
    terminals: np.ndarray,
    wanted: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Where each wanted element's terminals sit in ``PDElements.AllPowers``.

    Args:
        element_names: Every power-delivery element, in ``PDElements`` order.
        conductors: Conductors per terminal of each element.
        terminals: Terminals of each element.
        wanted: The elements to read (full names, lower case).

    Returns:
        ``(bounds, owner)``: terminal ``t`` spans the complex entries ``bounds[t]`` to
        ``bounds[t + 1]`` and belongs to ``wanted[owner[t]]``.

    Raises:
        KeyError: A wanted element is not a power-delivery element (the key names it).
    """
    position: dict[str, int] = {}
    for i, n in enumerate(element_names):
        position.setdefault(n, i)
    sizes = conductors * terminals
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    offsets: list[int] = []
    owner: list[int] = []
    for k, name in enumerate(wanted):
        e = position[name]
        offsets.extend(int(starts[e] + t * conductors[e]) for t in range(terminals[e]))
        owner.extend([k] * int(terminals[e]))
    bounds = np.array([*offsets, int(sizes.sum())], dtype=np.intp)
    return bounds, np.asarray(owner, dtype=np.intp)
