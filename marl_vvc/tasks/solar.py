"""PV availability profiles from pvlib's clear-sky model and a seeded cloud process.

:class:`SolarProfiles` follows the same protocol as the load sources in
:mod:`marl_vvc.tasks.profiles` (``num_profiles`` and ``profile(index)``): profile ``k`` is the
calendar day January 1 + ``k`` days of ``year`` at one site, and its value for unit ``i`` and
step ``t`` is the AC power that unit's PV system can deliver, averaged over the step, as a
fraction of its inverter's AC rating (in [0, 1]).

Model chain (all physics from pvlib, evaluated at a fine resolution, default 5 minutes, at the
midpoint of each fine interval, then averaged into steps):

1. Sun position (``Location.get_solarposition``, NREL SPA) and clear-sky irradiance
   (``Location.get_clearsky``: Ineichen–Perez with the Linke turbidity climatology that ships
   inside pvlib as ``LinkeTurbidities.h5``, read with h5py, offline).
2. Clouds: a clear-sky index ``kt*`` per unit and fine step (see :class:`CloudModel`), so
   ``GHI = kt*·GHI_clear``. The split into beam and diffuse keeps the clear-sky model's split
   at ``kt* = 1`` and adds the change in diffuse fraction that pvlib's Erbs decomposition
   (``pvlib.irradiance.erbs``) predicts between the clear and the cloudy GHI.
3. Plane of array: the steps of ``pvlib.irradiance.get_total_irradiance`` (Hay–Davies sky
   diffuse ``haydavies``, ``get_ground_diffuse`` with albedo 0.2, ``poa_components``), with
   the angle of incidence computed once per day and orientation, and the beam reduced by the
   Fresnel incidence-angle modifier (``pvlib.iam.physical``).
4. Cell temperature: ``pvlib.temperature.sapm_cell`` with the roof-mount parameters
   (``close_mount_glass_glass``), a deterministic seasonal + diurnal ambient temperature
   (:func:`ambient_temperature`) and constant wind.
5. DC power: ``pvlib.pvsystem.pvwatts_dc`` (−0.37 %/°C) times PVWatts system losses
   (``pvlib.pvsystem.pvwatts_losses`` without the availability term: 11.4 %), DC rating
   ``dc_ac_ratio`` × the AC rating.
6. AC power: ``pvlib.inverter.pvwatts`` (nominal efficiency 96 %), which clips at the AC
   rating, so the result divided by the rating lies in [0, 1].

Steps 1–2 are :mod:`marl_vvc.tasks.weather` and :mod:`marl_vvc.tasks.clouds`; steps 3–6
and the profiles' timing, seeding and caching are :class:`SolarProfiles`.

Step ``t`` (1-based) of a profile covers the interval ``((t−1)·Δ, t·Δ]`` hours after local
midnight, ``Δ = step_hours``: the same timing as the load profiles, where step ``t`` uses the
interval ending at ``t``. The fine grid depends only on ``fine_minutes`` and the length of the
day, so a 24 × 1 h profile is exactly the mean of the 96 × 15 min profile of the same day.

Everything is deterministic per profile index: the clear-sky part has no randomness, and the
clouds of day ``k`` come from ``numpy.random.default_rng([seed, k, ...])`` alone, so the result
does not depend on which days were asked for before. The clear-sky part of each day (sun
position, clear-sky irradiance, ambient temperature: 10–20 ms) is computed on the day's first
use and cached in the instance, or for every day at once by :meth:`SolarProfiles.precompute`
(about 0.7 s for a year of 5-minute steps). A cached day costs about 0.5 ms for 10 units and
2 ms for 85 units with clouds (drawing the clouds dominates), microseconds in clear sky.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np
import pandas as pd
import pvlib

from marl_vvc.errors import ConfigError, InvalidOptionError
from marl_vvc.tasks.clouds import DAY_TYPES, CloudModel
from marl_vvc.tasks.weather import (
    ClearSkyDay,
    ambient_temperature,
    clear_sky_days,
    cloudy_irradiance,
)

__all__ = ["DAY_TYPES", "DEFAULT_SITE", "CloudModel", "SolarProfiles", "ambient_temperature"]


class Site(TypedDict):
    """A site's location and time zone (the keyword arguments of :class:`SolarProfiles`)."""

    latitude: float
    longitude: float
    altitude: float
    tz: str


#: Default site: NREL's Solar Radiation Research Laboratory, Golden, Colorado (39.742° N,
#: 105.179° W, 1829 m), a well-documented mid-latitude site, on local standard time (MST,
#: UTC−7, no daylight saving time, so solar noon stays near 12:00 all year).
DEFAULT_SITE: Site = {
    "latitude": 39.742,
    "longitude": -105.179,
    "altitude": 1829.0,
    "tz": "Etc/GMT+7",
}

#: The cloud model of :class:`SolarProfiles` unless told otherwise.
_DEFAULT_CLOUDS = CloudModel()

#: SAPM cell-temperature parameters for roof-mounted (close-mount) modules.
ROOF_MOUNT_TEMPERATURE = dict(
    pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["close_mount_glass_glass"]
)


class SolarProfiles:
    """Daily PV availability profiles (fraction of AC rating) from pvlib, one day per index.

    Profile ``k`` is the date January 1 of ``year`` + ``k`` days (``k`` is the zero-based day
    of year: ``k = 171`` is June 21 in a non-leap year), from local midnight.

    Args:
        n_units: Number of PV units ``N``.
        horizon: Steps per profile ``S``.
        step_hours: Length of a step in hours (1.0: 24 hourly steps; 0.25: 96 quarter-hours).
        latitude: Site latitude (°, north positive). Default: Golden, Colorado
            (:data:`DEFAULT_SITE`).
        longitude: Site longitude (°, east positive).
        altitude: Site altitude (m).
        tz: Time zone of the profiles' clock (an IANA name or ``Etc/GMT±h``). The default is
            fixed local standard time; with a DST zone, steps still count elapsed hours from
            local midnight.
        year: Calendar year of profile 0.
        num_profiles: Number of days (indices ``0 .. num_profiles-1``).
        seed: Seed of the cloud process.
        tilt: Array tilt (°), one value or one per unit. Default: the latitude, rounded.
        azimuth: Array azimuth (° from north, clockwise), one value or one per unit. Default:
            equator-facing (180 in the northern hemisphere).
        clouds: Cloud model, or ``None`` for clear-sky profiles.
        dc_ac_ratio: DC rating over AC rating of every unit.
        gamma_pdc: Temperature coefficient of DC power (1/°C).
        eta_inv_nom: Nominal inverter efficiency.
        albedo: Ground albedo.
        wind_speed: Wind speed for the cell-temperature model (m/s).
        fine_minutes: Target length of the fine steps (minutes); each step is split into
            ``round(step_hours·60 / fine_minutes)`` (at least one) equal fine steps.
        clearsky_model: ``"ineichen"`` (default) or ``"simplified_solis"``.

    Raises:
        ConfigError: An argument is out of range.
    """

    def __init__(
        self,
        n_units: int,
        horizon: int = 24,
        step_hours: float = 1.0,
        *,
        latitude: float = DEFAULT_SITE["latitude"],
        longitude: float = DEFAULT_SITE["longitude"],
        altitude: float = DEFAULT_SITE["altitude"],
        tz: str = DEFAULT_SITE["tz"],
        year: int = 2023,
        num_profiles: int = 365,
        seed: int = 0,
        tilt: float | Sequence[float] | None = None,
        azimuth: float | Sequence[float] | None = None,
        clouds: CloudModel | None = _DEFAULT_CLOUDS,
        dc_ac_ratio: float = 1.2,
        gamma_pdc: float = -0.0037,
        eta_inv_nom: float = 0.96,
        albedo: float = 0.2,
        wind_speed: float = 2.0,
        fine_minutes: float = 5.0,
        clearsky_model: str = "ineichen",
    ) -> None:
        _check_arguments(
            n_units=n_units,
            horizon=horizon,
            num_profiles=num_profiles,
            step_hours=step_hours,
            fine_minutes=fine_minutes,
            clearsky_model=clearsky_model,
            latitude=latitude,
            longitude=longitude,
        )
        self.n_units = int(n_units)
        self.horizon = int(horizon)
        self.step_hours = float(step_hours)
        self.num_profiles = int(num_profiles)
        self.seed = int(seed)
        self.year = int(year)
        self.clouds = clouds
        self.location = pvlib.location.Location(latitude, longitude, tz=tz, altitude=altitude)
        self.tilt = self._per_unit(round(abs(latitude)) if tilt is None else tilt, "tilt")
        default_azimuth = 180.0 if latitude >= 0 else 0.0
        self.azimuth = self._per_unit(default_azimuth if azimuth is None else azimuth, "azimuth")
        self.dc_ac_ratio = float(dc_ac_ratio)
        self.gamma_pdc = float(gamma_pdc)
        self.eta_inv_nom = float(eta_inv_nom)
        self.albedo = float(albedo)
        self.wind_speed = float(wind_speed)
        #: PVWatts DC losses (soiling, shading, mismatch, wiring, ...) as a fraction, without
        #: the availability term (outages are not part of "available" power).
        self.loss_fraction = float(pvlib.pvsystem.pvwatts_losses(availability=0)) / 100.0
        self.temperature_params = dict(ROOF_MOUNT_TEMPERATURE)
        self.clearsky_model = clearsky_model
        self.substeps = max(1, round(self.step_hours * 60.0 / fine_minutes))
        self.fine_minutes = self.step_hours * 60.0 / self.substeps
        self.n_fine = self.horizon * self.substeps
        self._orientation_of_unit, self._surface = _orientations(self.tilt, self.azimuth)
        self._cache: dict[int, ClearSkyDay] = {}

    def _per_unit(self, value: float | Sequence[float], name: str) -> np.ndarray:
        arr = np.asarray(value, dtype=float)
        if arr.ndim == 0:
            return np.full(self.n_units, float(arr))
        if arr.shape != (self.n_units,):
            raise ConfigError(
                f"SolarProfiles: {name} has shape {arr.shape}; expected a number or "
                f"{self.n_units} values"
            )
        return arr

    # ----------------------------------------------------------------------------- time
    def date(self, index: int) -> pd.Timestamp:
        """Local midnight that starts profile ``index`` (timezone-aware)."""
        self._check(index)
        day = pd.Timestamp(self.year, 1, 1) + pd.Timedelta(days=int(index))
        return day.tz_localize(self.location.tz, nonexistent="shift_forward", ambiguous=False)

    def fine_times(self, index: int) -> pd.DatetimeIndex:
        """Midpoints of the fine steps of profile ``index`` (timezone-aware)."""
        start = self.date(index)
        offsets = (np.arange(self.n_fine) + 0.5) * self.fine_minutes * 60e9
        return start + pd.to_timedelta(offsets.round().astype(np.int64), unit="ns")

    def _check(self, index: int) -> None:
        if not 0 <= index < self.num_profiles:
            raise InvalidOptionError(
                f"profile index {index} out of range; expected 0 <= profile < {self.num_profiles}"
            )

    # ------------------------------------------------------------------------ clear sky
    def precompute(self, indices: Sequence[int] | None = None) -> None:
        """Fill the clear-sky cache for ``indices`` (default: every day) in one batch.

        Optional: :meth:`profile` fills the cache day by day on first use. The batch costs
        under 1 s for a year of 5-minute steps.
        """
        todo = [int(k) for k in (range(self.num_profiles) if indices is None else indices)]
        for k in todo:
            self._check(k)
        todo = [k for k in dict.fromkeys(todo) if k not in self._cache]
        if todo:
            self._clear_sky(todo)

    def _clear_sky(self, indices: list[int]) -> None:
        utc = [self.fine_times(k).tz_convert("UTC").tz_localize(None).to_numpy() for k in indices]
        times = pd.DatetimeIndex(np.concatenate(utc)).tz_localize("UTC")
        days = clear_sky_days(self.location, times, self.n_fine, self._surface, self.clearsky_model)
        self._cache.update(zip(indices, days, strict=True))

    def _day(self, index: int) -> ClearSkyDay:
        day = self._cache.get(index)
        if day is None:
            self._clear_sky([index])
            day = self._cache[index]
        return day

    # ------------------------------------------------------------------------ PV chain
    def _ac_fraction(self, day: ClearSkyDay, kt: np.ndarray | None) -> np.ndarray:
        """AC output / AC rating at the daylight fine steps.

        Args:
            day: The day's clear-sky part.
            kt: Clear-sky index ``(n_units, n_day)``, or ``None`` for clear sky.

        Returns:
            An array ``(n_units, n_day)``, or ``(n_orientations, n_day)`` in clear sky.
        """
        ghi, dni, dhi = day.ghi, day.dni, day.dhi
        tilt, azimuth = self._surface
        aoi, iam, rb = day.aoi, day.iam, day.projection_ratio
        if kt is not None:  # cloudy: anchored Erbs split, see the module docstring
            ghi, dni, dhi = cloudy_irradiance(day, kt)
            if len(tilt) > 1:  # several orientations: one row per unit
                rows = self._orientation_of_unit
                tilt, azimuth, aoi, iam, rb = (x[rows] for x in (tilt, azimuth, aoi, iam, rb))
        # plane of array: the steps of pvlib.irradiance.get_total_irradiance (Hay–Davies),
        # with the geometry computed once per day
        sky = pvlib.irradiance.haydavies(
            tilt, azimuth, dhi, dni, day.dni_extra, projection_ratio=rb
        )
        ground = pvlib.irradiance.get_ground_diffuse(tilt, ghi, albedo=self.albedo)
        poa = pvlib.irradiance.poa_components(aoi, dni, sky, ground)
        effective = (poa["poa_direct"] * iam + poa["poa_diffuse"]).clip(0.0)
        temp_cell = pvlib.temperature.sapm_cell(
            poa["poa_global"], day.temp_air, self.wind_speed, **self.temperature_params
        )
        pdc = pvlib.pvsystem.pvwatts_dc(effective, temp_cell, self.dc_ac_ratio, self.gamma_pdc)
        pdc = np.asarray(pdc) * (1.0 - self.loss_fraction)
        pac = pvlib.inverter.pvwatts(pdc, 1.0 / self.eta_inv_nom, eta_inv_nom=self.eta_inv_nom)
        ac: np.ndarray = np.clip(pac, 0.0, 1.0)
        return ac

    def _to_steps(self, day: ClearSkyDay, fine: np.ndarray) -> np.ndarray:
        full = np.zeros((fine.shape[0], self.n_fine))
        full[:, day.cols] = fine
        steps: np.ndarray = full.reshape(fine.shape[0], self.horizon, self.substeps).mean(axis=2)
        return steps

    def clear_sky_index(self, index: int) -> tuple[str, np.ndarray]:
        """Day type and clear-sky index ``kt*`` of day ``index``, shape ``(n_units, n_fine)``.

        In clear-sky mode (``clouds=None``) the type is ``"clear_sky"`` and ``kt* = 1``.
        """
        self._check(index)
        if self.clouds is None:
            return "clear_sky", np.ones((self.n_units, self.n_fine))
        return self.clouds.sample(
            np.random.default_rng([self.seed, int(index), 0]),
            np.random.default_rng([self.seed, int(index), 1]),
            self.n_units,
            self.n_fine,
            self.fine_minutes,
        )

    def profile(self, index: int) -> np.ndarray:
        """Available AC power / AC rating of day ``index``, array ``(n_units, horizon)``."""
        self._check(index)
        day = self._day(int(index))
        if self.clouds is None:
            if day.clear_profile is None:
                per_orientation = self._to_steps(day, self._ac_fraction(day, None))
                day.clear_profile = per_orientation[self._orientation_of_unit]
            return day.clear_profile.copy()
        _, kt = self.clear_sky_index(index)
        return self._to_steps(day, self._ac_fraction(day, kt[:, day.cols]))


def _check_arguments(
    *,
    n_units: int,
    horizon: int,
    num_profiles: int,
    step_hours: float,
    fine_minutes: float,
    clearsky_model: str,
    latitude: float,
    longitude: float,
) -> None:
    """Raise :class:`ConfigError` on an out-of-range :class:`SolarProfiles` argument."""
    if n_units < 1 or horizon < 1 or num_profiles < 1:
        raise ConfigError(
            f"SolarProfiles: n_units={n_units}, horizon={horizon}, "
            f"num_profiles={num_profiles} must all be >= 1"
        )
    if not step_hours > 0 or not fine_minutes > 0:
        raise ConfigError(
            f"SolarProfiles: step_hours={step_hours} and fine_minutes={fine_minutes} must be > 0"
        )
    if clearsky_model not in ("ineichen", "simplified_solis"):
        raise ConfigError(
            f"SolarProfiles: clearsky_model {clearsky_model!r}; expected 'ineichen' or "
            "'simplified_solis'"
        )
    if not -90.0 <= latitude <= 90.0 or not -180.0 <= longitude <= 180.0:
        raise ConfigError(f"SolarProfiles: bad site ({latitude}, {longitude})")


def _orientations(
    tilt: np.ndarray, azimuth: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Each unit's index into the distinct orientations, and their ``(tilt, azimuth)``.

    Args:
        tilt: Tilt of each unit (°).
        azimuth: Azimuth of each unit (°).

    Returns:
        ``(orientation_of_unit, (tilts, azimuths))``, the last two of shape
        ``(n_orientations, 1)``.
    """
    orientations, orientation_of_unit = np.unique(
        np.stack([tilt, azimuth], axis=1), axis=0, return_inverse=True
    )
    return orientation_of_unit.reshape(-1), (orientations[:, :1], orientations[:, 1:])
