"""Seeded stochastic clouds: a clear-sky index ``kt*`` per PV unit and fine step.

:class:`CloudModel` draws one day's weather at one feeder (day type, cloud cover, levels) and
the units' correlated shade and fluctuation processes; :class:`~marl_vvc.tasks.solar.SolarProfiles`
multiplies the clear-sky irradiance by the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy.signal import lfilter

from marl_vvc.errors import ConfigError

__all__ = ["DAY_TYPES", "CloudModel"]

DAY_TYPES = ("clear", "partly_cloudy", "overcast")


@dataclass(frozen=True)
class CloudModel:
    """Seeded stochastic clear-sky index ``kt*`` for one day at one feeder.

    Each day draws a type (clear, partly cloudy, overcast) and, from ranges that depend on the
    type, a cloud cover fraction ``f``, a clear-sky index ``k_sun`` of the open sky and a mean
    transmissivity ``k_cloud`` of the clouds (a clear day's rare clouds are like a partly
    cloudy day's). At the fine resolution a latent Gaussian AR(1) process ``z`` (correlation
    time ``cover_tau_minutes``) decides shade: a unit is under a cloud where ``z < Φ⁻¹(f)``,
    so clouds come and go and cover the right share of the day. Under a cloud ``kt*`` is
    ``k_cloud`` plus an AR(1) fluctuation (``cloud_sd``, ``cloud_tau_minutes``), in the open
    it is ``k_sun``; white noise (``noise_sd``) is added and ``kt*`` is clipped to
    ``[kt_min, kt_max]`` (values above 1 are cloud enhancement).

    Every unit of the feeder shares the weather: each of its three driving noises is
    ``√ρ·common + √(1−ρ)·own`` with ``ρ = spatial_correlation``, so the units see the same day
    and nearly the same clouds, slightly decorrelated in time (on a partly cloudy day the
    5-minute ``kt*`` of two units correlate at about 0.7–0.85 with the default 0.95).

    The default day-type probabilities (40 % clear, 40 % partly cloudy, 20 % overcast) are in
    line with the clear / partly cloudy / cloudy day counts of sunny continental US sites such
    as Denver; change them for a cloudier climate. Ranges are ``(low, high)`` of uniform draws.

    Attributes:
        p_clear: Probability of a clear day.
        p_partly_cloudy: Probability of a partly cloudy day.
        p_overcast: Probability of an overcast day.
        sun_kt: Range of ``k_sun`` (haze and turbidity scatter around the clear-sky model).
        clear_cover: Range of ``f`` on clear days.
        partly_cloudy_cover: Range of ``f`` on partly cloudy days.
        overcast_cover: Range of ``f`` on overcast days.
        partly_cloudy_kt: Range of ``k_cloud`` on clear and partly cloudy days.
        overcast_kt: Range of ``k_cloud`` on overcast days.
        cover_tau_minutes: Correlation time of the shade process.
        cloud_sd: Standard deviation of ``kt*`` under a cloud around ``k_cloud``.
        cloud_tau_minutes: Correlation time of that fluctuation.
        noise_sd: Standard deviation of the white noise on ``kt*``.
        spatial_correlation: Share ``ρ`` of every noise common to all units.
        kt_min: Lower clip of ``kt*``.
        kt_max: Upper clip of ``kt*``.
    """

    p_clear: float = 0.40
    p_partly_cloudy: float = 0.40
    p_overcast: float = 0.20
    sun_kt: tuple[float, float] = (0.95, 1.02)
    clear_cover: tuple[float, float] = (0.0, 0.05)
    partly_cloudy_cover: tuple[float, float] = (0.2, 0.8)
    overcast_cover: tuple[float, float] = (0.95, 1.0)
    partly_cloudy_kt: tuple[float, float] = (0.25, 0.6)
    overcast_kt: tuple[float, float] = (0.12, 0.45)
    cover_tau_minutes: float = 20.0
    cloud_sd: float = 0.08
    cloud_tau_minutes: float = 30.0
    noise_sd: float = 0.02
    spatial_correlation: float = 0.95
    kt_min: float = 0.1
    kt_max: float = 1.05

    def __post_init__(self) -> None:
        p = (self.p_clear, self.p_partly_cloudy, self.p_overcast)
        if min(p) < 0 or not np.isclose(sum(p), 1.0):
            raise ConfigError(f"CloudModel: day-type probabilities {p} must be >= 0, sum to 1")
        if not 0.0 <= self.spatial_correlation <= 1.0:
            raise ConfigError(
                f"CloudModel: spatial_correlation {self.spatial_correlation} not in [0, 1]"
            )
        if not 0.0 <= self.kt_min < self.kt_max:
            raise ConfigError(
                f"CloudModel: need 0 <= kt_min < kt_max, got {self.kt_min}, {self.kt_max}"
            )

    def sample(
        self,
        rng_day: np.random.Generator,
        rng_units: np.random.Generator,
        n_units: int,
        n_fine: int,
        fine_minutes: float,
    ) -> tuple[str, np.ndarray]:
        """Draw one day's type and clear-sky index.

        Args:
            rng_day: Generator of the feeder-wide draws (day type, levels, common processes).
            rng_units: Generator of the per-unit processes (row ``i`` depends only on the
                unit index ``i``, not on ``n_units``).
            n_units: Number of units.
            n_fine: Number of fine steps.
            fine_minutes: Length of a fine step (minutes).

        Returns:
            The day type (one of :data:`DAY_TYPES`) and ``kt*`` as an array
            ``(n_units, n_fine)``.
        """
        kind = DAY_TYPES[
            int(rng_day.choice(3, p=[self.p_clear, self.p_partly_cloudy, self.p_overcast]))
        ]
        cover_range, cloud_range = {
            "clear": (self.clear_cover, self.partly_cloudy_kt),
            "partly_cloudy": (self.partly_cloudy_cover, self.partly_cloudy_kt),
            "overcast": (self.overcast_cover, self.overcast_kt),
        }[kind]
        cover = rng_day.uniform(*cover_range)
        k_sun = rng_day.uniform(*self.sun_kt)
        k_cloud = rng_day.uniform(*cloud_range)
        common = rng_day.standard_normal((3, n_fine))
        own = rng_units.standard_normal((n_units, 3, n_fine))
        a, b = np.sqrt(self.spatial_correlation), np.sqrt(1.0 - self.spatial_correlation)
        mixed = a * common[None] + b * own  # (n_units, 3, n_fine), each unit variance
        latent = _ar1(mixed[:, 0], fine_minutes / self.cover_tau_minutes)
        wiggle = _ar1(mixed[:, 1], fine_minutes / self.cloud_tau_minutes)
        noise = mixed[:, 2]
        if cover <= 0.0:
            shaded = np.zeros(latent.shape, dtype=bool)
        elif cover >= 1.0:
            shaded = np.ones(latent.shape, dtype=bool)
        else:
            shaded = latent < NormalDist().inv_cdf(cover)
        kt = np.where(shaded, k_cloud + self.cloud_sd * wiggle, k_sun) + self.noise_sd * noise
        return kind, np.clip(kt, self.kt_min, self.kt_max)


def _ar1(white: np.ndarray, dt_over_tau: float) -> np.ndarray:
    """Stationary unit-variance AR(1) along the last axis, driven by ``white`` (N(0, 1))."""
    phi = float(np.exp(-dt_over_tau))
    x = white * np.sqrt(1.0 - phi * phi)
    x[..., 0] = white[..., 0]  # start in the stationary distribution
    filtered: np.ndarray = lfilter([1.0], [1.0, -phi], x, axis=-1)
    return filtered
