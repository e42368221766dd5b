"""ANM6-Easy's fixed day: demand and renewable availability, 96 quarter-hour steps.

Gym-ANM's ANM6-Easy repeats the same 24 hours forever. Each curve holds steady during the
night (steps 0–24), ramps over two hours, holds in the morning (32–44), moves to its afternoon
level (44–52), holds (52–64), moves back (64–72), holds in the evening (72–84) and returns to
the night level (84–92). The renewable curves jump at the ends of the afternoon ramps; the PV
and wind availabilities above a unit's rating are clipped to it by the generator model.

Values are MW (loads negative: consumption).
"""

from __future__ import annotations

import numpy as np

N_STEPS = 96

# (start, stop, value at start, value at stop): linear and inclusive; later segments win.
_Segment = tuple[int, int, float, float]


def _curve(segments: list[_Segment]) -> np.ndarray:
    out = np.empty(N_STEPS)
    for start, stop, v0, v1 in segments:
        k = np.arange(start, stop + 1)
        out[start : stop + 1] = v0 + (v1 - v0) * (k - start) / max(stop - start, 1)
    return out


def _load(night: float, morning: float, afternoon: float, evening: float) -> np.ndarray:
    return _curve(
        [
            (0, 24, night, night),
            (24, 32, night, morning),
            (32, 44, morning, morning),
            (44, 52, morning, afternoon),
            (52, 64, afternoon, afternoon),
            (64, 72, afternoon, evening),
            (72, 84, evening, evening),
            (84, 92, evening, night),
            (92, 95, night, night),
        ]
    )


def _renewable(night: float, day: float, ramp: tuple[float, float], noon: float) -> np.ndarray:
    lo, hi = ramp
    return _curve(
        [
            (0, 24, night, night),
            (24, 32, night, day),
            (32, 44, day, day),
            (45, 51, lo, hi),
            (52, 64, noon, noon),
            (65, 71, hi, lo),
            (72, 84, day, day),
            (84, 92, day, night),
            (92, 95, night, night),
        ]
    )


def load_series() -> np.ndarray:
    """``(3, 96)`` MW of the residential, industrial and EV-charging loads."""
    return np.stack(
        (
            _load(-1.0, -5.0, -2.0, -5.0),
            _load(-4.0, -10.0, -20.0, -10.0),
            _load(0.0, -25.0, 0.0, -25.0),
        )
    )


def availability_series() -> np.ndarray:
    """``(2, 96)`` MW the PV and the wind farm could produce."""
    return np.stack(
        (
            _renewable(0.0, 4.0, (7.25, 36.75), 30.0),
            _renewable(40.0, 11.0, (14.725, 36.375), 40.0),
        )
    )
