"""Validation of agent actions against their spaces (typed errors naming the agent).

Every check returns the action as plain Python numbers or raises
:class:`~marl_vvc.errors.InvalidActionError` saying what was wrong and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from marl_vvc.errors import InvalidActionError

_REAL_KINDS = "iuf"  # numpy dtype kinds of real numbers (bool, complex, text, objects refused)
_SCALARS = (int, float, np.integer, np.floating)


def _is_real(x: Any) -> bool:
    return isinstance(x, _SCALARS) and not isinstance(x, bool | np.bool_)


def real_array(agent: str, action: Any, space: str) -> np.ndarray:
    """``action`` as a float array if it holds real numbers only (no bool, text, complex).

    Raises:
        InvalidActionError: Anything else, naming the agent, the value and the space.
    """
    if _is_real(action):
        return np.array(float(action))
    arr = action if isinstance(action, np.ndarray) else None
    if arr is None and isinstance(action, list | tuple):
        if all(_is_real(x) for x in action):
            return np.array(action, dtype=float)
        try:
            arr = np.asarray(action)
        except (TypeError, ValueError):
            arr = None
    if arr is None or arr.dtype.kind not in _REAL_KINDS:
        kind = type(action).__name__ if arr is None else f"{arr.dtype} array"
        raise InvalidActionError(
            f"{agent}: expected real numbers for {space}, got {kind} {action!r}"
        )
    return arr.astype(float)


def check_pq(agent: str, action: Any, low: np.ndarray, high: np.ndarray) -> tuple[float, float]:
    """Validate a ``(P, Q)`` action inside its box and return it as floats.

    Raises:
        InvalidActionError: Not two real numbers, NaN/inf or outside the box (names agent
            and box).
    """
    if isinstance(action, tuple | list) and len(action) == 2:  # fast path
        p, q = action
        if _is_real(p) and _is_real(q) and low[0] <= p <= high[0] and low[1] <= q <= high[1]:
            return float(p), float(q)
    box = f"Box(low={low.tolist()}, high={high.tolist()}, (2,))"
    arr = real_array(agent, action, box).reshape(-1)
    if arr.shape != (2,):
        raise InvalidActionError(f"{agent}: expected shape (2,) for {box}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidActionError(f"{agent}: action {arr.tolist()} is not finite; expected {box}")
    # float32 actions may sit a rounding step outside float64 bounds
    tol = 1e-6 * np.maximum(1.0, np.abs(high - low))
    if np.any(arr < low - tol) or np.any(arr > high + tol):
        raise InvalidActionError(f"{agent}: action {arr.tolist()} outside {box}")
    return float(arr[0]), float(arr[1])


_FAST_INTS = (int, np.int64, np.int32)


def check_discretes(
    devices: Sequence[Any], actions: Sequence[Any], sizes: Sequence[int]
) -> list[int]:
    """Validate one action per discrete device (``Discrete(sizes[i])``), in order.

    Plain and numpy integers in range take a fast path; anything else goes through the
    device's own check (which raises with the agent's name).
    """
    out: list[int] = []
    for device, action, n in zip(devices, actions, sizes, strict=True):
        if type(action) in _FAST_INTS:
            value = int(action)
            if 0 <= value < n:
                out.append(value)
                continue
        out.append(device.check(action))
    return out


def check_discrete(agent: str, action: Any, n: int) -> int:
    """Validate an action for ``Discrete(n)`` and return it as an int.

    A Python or numpy integer, an integral float, or a one-element array of them.

    Raises:
        InvalidActionError: Not an integer in ``[0, n)`` (names the agent and the space).
    """
    if type(action) is int and 0 <= action < n:  # the common case, fast
        return action
    if isinstance(action, np.integer) and 0 <= action < n:  # what Discrete.sample() gives
        return int(action)
    arr = real_array(agent, action, f"Discrete({n})")
    if arr.size != 1 or arr.ndim > 1:
        raise InvalidActionError(
            f"{agent}: expected one integer in Discrete({n}), got an array of shape {arr.shape}"
        )
    value = float(arr.reshape(()))
    if not math.isfinite(value) or value != int(value):
        raise InvalidActionError(f"{agent}: expected an integer in Discrete({n}), got {action!r}")
    ivalue = int(value)
    if not 0 <= ivalue < n:
        raise InvalidActionError(
            f"{agent}: action {ivalue} outside Discrete({n}); expected 0 <= action < {n}"
        )
    return ivalue


def check_box(agent: str, action: Any, low: float = -1.0, high: float = 1.0) -> float:
    """Validate a scalar action for ``Box(low, high, (1,))`` and return it as a float.

    Raises:
        InvalidActionError: Not one real number, NaN/inf or outside ``[low, high]``.
    """
    if isinstance(action, float) and low <= action <= high:  # the common case, fast
        return action
    arr = real_array(agent, action, f"Box({low}, {high}, (1,))")
    if arr.size != 1 or arr.ndim > 1:
        raise InvalidActionError(
            f"{agent}: expected shape (1,) for Box({low}, {high}, (1,)), got shape {arr.shape}"
        )
    value = float(arr.reshape(()))
    if not math.isfinite(value):
        raise InvalidActionError(
            f"{agent}: action is {value}; expected a finite float in [{low}, {high}]"
        )
    if not low <= value <= high:
        raise InvalidActionError(
            f"{agent}: action {value} outside Box({low}, {high}); expected {low} <= a <= {high}"
        )
    return value
