"""A PV site's weather at the fine resolution: the clear-sky day and its cloudy irradiance.

Steps 1–2 of the model chain of :mod:`marl_vvc.tasks.solar`: :func:`clear_sky_days` computes
the deterministic part of each day once (sun position, clear-sky irradiance, ambient
temperature, and the geometry of each array orientation) and :func:`cloudy_irradiance` scales
it by a clear-sky index ``kt*`` (:mod:`marl_vvc.tasks.clouds`), splitting the cloudy GHI into
beam and diffuse with the change in diffuse fraction that pvlib's Erbs model predicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib

__all__ = ["ClearSkyDay", "ambient_temperature", "clear_sky_days", "cloudy_irradiance"]


def ambient_temperature(
    day_of_year: np.ndarray | float,
    hour: np.ndarray | float,
    mean: float = 10.0,
    seasonal_amplitude: float = 11.0,
    diurnal_amplitude: float = 7.0,
) -> np.ndarray:
    """Deterministic ambient air temperature (°C) for the cell-temperature model.

    A seasonal cosine peaking on day 200 (mid-July) plus a diurnal cosine peaking at 15:00.
    The defaults roughly match Golden, Colorado (annual mean 10 °C).

    Args:
        day_of_year: Day of year (1-based, may be fractional).
        hour: Local hour of day.
        mean: Annual mean temperature (°C).
        seasonal_amplitude: Half the summer–winter difference of daily means (°C).
        diurnal_amplitude: Half the day–night difference (°C).

    Returns:
        The temperature, broadcast over the inputs.
    """
    doy = np.asarray(day_of_year, dtype=float)
    h = np.asarray(hour, dtype=float)
    return (
        mean
        + seasonal_amplitude * np.cos(2.0 * np.pi * (doy - 200.0) / 365.0)
        + diurnal_amplitude * np.cos(2.0 * np.pi * (h - 15.0) / 24.0)
    )


@dataclass
class ClearSkyDay:
    """Clear-sky part of one day at the fine resolution (daylight fine steps only)."""

    doy: np.ndarray  # local day of year of each daylight fine step
    cols: np.ndarray  # indices of the daylight fine steps
    zenith: np.ndarray  # apparent zenith (°)
    azimuth: np.ndarray
    ghi: np.ndarray
    dni: np.ndarray
    dhi: np.ndarray
    dni_extra: np.ndarray
    temp_air: np.ndarray
    df_clear: np.ndarray  # clear-sky model's diffuse fraction
    df_erbs_clear: np.ndarray  # Erbs's diffuse fraction of the clear-sky GHI
    aoi: np.ndarray  # (n_orientations, n_day) angle of incidence (°)
    iam: np.ndarray  # (n_orientations, n_day) Fresnel incidence-angle modifier
    projection_ratio: np.ndarray  # (n_orientations, n_day) Hay–Davies beam ratio Rb
    clear_profile: np.ndarray | None = None  # (n_units, horizon) in clear-sky mode


def clear_sky_days(
    location: pvlib.location.Location,
    times: pd.DatetimeIndex,
    n_fine: int,
    surface: tuple[np.ndarray, np.ndarray],
    clearsky_model: str,
) -> list[ClearSkyDay]:
    """Clear-sky part of consecutive blocks of ``n_fine`` fine steps, one block per day.

    Args:
        location: The site (its ``tz`` is the profiles' local clock).
        times: Fine-step midpoints of every day, day after day (UTC).
        n_fine: Fine steps per day.
        surface: ``(tilt, azimuth)`` of each distinct array orientation, ``(n_orientations, 1)``.
        clearsky_model: pvlib's clear-sky model name.

    Returns:
        One :class:`ClearSkyDay` per block of ``times``.
    """
    solpos = location.get_solarposition(times)
    clear = location.get_clearsky(times, model=clearsky_model, solar_position=solpos)
    zen = solpos["apparent_zenith"].to_numpy()
    azi = solpos["azimuth"].to_numpy()
    ghi, dni, dhi = (clear[c].to_numpy().clip(0.0) for c in ("ghi", "dni", "dhi"))
    dni_extra = pvlib.irradiance.get_extra_radiation(times.day_of_year.to_numpy())
    local = times.tz_convert(location.tz)
    doy = local.day_of_year.to_numpy()
    hour = (local - local.normalize()).total_seconds().to_numpy() / 3600.0
    temp = ambient_temperature(doy + hour / 24.0, hour)
    df_clear = _ratio(dhi, ghi)
    df_erbs = _erbs_fraction(ghi, zen, doy)
    # geometry of each distinct array orientation (as get_total_irradiance computes it)
    tilt, azimuth = surface
    aoi = pvlib.irradiance.aoi(tilt, azimuth, zen, azi)
    iam = pvlib.iam.physical(aoi)
    cos_tt = np.maximum(pvlib.irradiance.aoi_projection(tilt, azimuth, zen, azi), 0.0)
    rb = cos_tt / np.maximum(np.cos(np.radians(zen)), 0.01745)
    days = []
    for start in range(0, len(times), n_fine):
        sl = slice(start, start + n_fine)
        cols = np.flatnonzero(ghi[sl] > 0.0)
        pick = sl.start + cols
        days.append(
            ClearSkyDay(
                doy=doy[pick],
                cols=cols,
                zenith=zen[pick],
                azimuth=azi[pick],
                ghi=ghi[pick],
                dni=dni[pick],
                dhi=dhi[pick],
                dni_extra=dni_extra[pick],
                temp_air=temp[pick],
                df_clear=df_clear[pick],
                df_erbs_clear=df_erbs[pick],
                aoi=aoi[:, pick],
                iam=iam[:, pick],
                projection_ratio=rb[:, pick],
            )
        )
    return days


def cloudy_irradiance(
    day: ClearSkyDay, kt: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(GHI, DNI, DHI)`` under clouds of clear-sky index ``kt`` ``(n_units, n_day)``.

    ``GHI = kt*·GHI_clear``; the diffuse fraction is the clear-sky model's plus the change
    that Erbs predicts between the clear and the cloudy GHI (clipped to [0, 1]), and the beam
    shrinks with the beam fraction.
    """
    ghi = kt * day.ghi
    df = np.clip(
        day.df_clear + _erbs_fraction(ghi, day.zenith, day.doy) - day.df_erbs_clear,
        0.0,
        1.0,
    )
    beam_ratio = _ratio(1.0 - df, 1.0 - day.df_clear)
    return ghi, kt * beam_ratio * day.dni, ghi * df


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, else 0."""
    ratio: np.ndarray = np.divide(
        num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0
    )
    return ratio


def _erbs_fraction(ghi: np.ndarray, zenith: np.ndarray, doy: np.ndarray | int) -> np.ndarray:
    """Diffuse fraction of ``ghi`` by pvlib's Erbs model (0 where ``ghi`` is 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        dhi = np.asarray(pvlib.irradiance.erbs(ghi, zenith, doy)["dhi"])
    return _ratio(dhi, ghi)
