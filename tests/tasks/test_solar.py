"""PV availability profiles (marl_vvc.tasks.solar): physics against pvlib, clouds, determinism."""

from __future__ import annotations

import numpy as np
import pytest

pvlib = pytest.importorskip("pvlib")
pd = pytest.importorskip("pandas")

from marl_vvc.errors import ConfigError, InvalidOptionError  # noqa: E402
from marl_vvc.tasks.solar import CloudModel, SolarProfiles, ambient_temperature  # noqa: E402

# pvlib 0.16.1 itself still calls DatetimeIndex.dayofyear, deprecated in pandas 3
pytestmark = pytest.mark.filterwarnings("ignore:DatetimeIndex.dayofyear is deprecated")

SUMMER, WINTER = 171, 354  # 2023-06-21 and 2023-12-21 (zero-based day of year)


@pytest.fixture(scope="module")
def clear_qh() -> SolarProfiles:
    """Clear-sky profiles, 96 quarter-hours, default site (Golden, CO)."""
    return SolarProfiles(2, 96, 0.25, clouds=None)


@pytest.fixture(scope="module")
def cloudy_qh() -> SolarProfiles:
    return SolarProfiles(4, 96, 0.25, seed=7)


def test_index_is_a_calendar_day(clear_qh: SolarProfiles) -> None:
    assert str(clear_qh.date(0).date()) == "2023-01-01"
    assert str(clear_qh.date(SUMMER).date()) == "2023-06-21"
    assert str(clear_qh.date(WINTER).date()) == "2023-12-21"
    with pytest.raises(InvalidOptionError, match="0 <= profile < 365"):
        clear_qh.profile(365)
    with pytest.raises(InvalidOptionError):
        clear_qh.profile(-1)


@pytest.mark.parametrize(("horizon", "step_hours"), [(24, 1.0), (96, 0.25)])
def test_shapes_and_range(horizon: int, step_hours: float) -> None:
    sp = SolarProfiles(5, horizon, step_hours, seed=3)
    assert sp.num_profiles == 365
    year = np.stack([sp.profile(k) for k in range(0, 365, 9)])
    assert year.shape == (41, 5, horizon)
    assert year.dtype == np.float64
    assert np.all(np.isfinite(year))
    assert year.min() >= 0.0 and year.max() <= 1.0
    assert year.max() > 0.8  # some clear noon reaches most of the rating


def test_zero_output_at_night(clear_qh: SolarProfiles, cloudy_qh: SolarProfiles) -> None:
    for index in (SUMMER, WINTER, 79):
        start = clear_qh.date(index)
        events = pvlib.solarposition.sun_rise_set_transit_spa(
            pd.DatetimeIndex([start + pd.Timedelta(hours=12)]),
            clear_qh.location.latitude,
            clear_qh.location.longitude,
        )
        sunrise = (events["sunrise"].iloc[0] - start).total_seconds() / 3600.0
        sunset = (events["sunset"].iloc[0] - start).total_seconds() / 3600.0
        ends = np.arange(1, 97) * 0.25  # step t covers (ends[t] - 0.25, ends[t]]
        night = (ends <= sunrise) | (ends - 0.25 >= sunset)
        day = (ends - 0.25 >= sunrise + 0.5) & (ends <= sunset - 0.5)
        for sp in (clear_qh, cloudy_qh):
            p = sp.profile(index)
            assert np.all(p[:, night] == 0.0), (index, sunrise, sunset)
            assert np.all(p[:, day] > 0.0)
        # the site's day length is what astronomy says, to within the few minutes when the
        # sun is up but below the inverter's start threshold (PVWatts: 0.6 % of DC rating)
        lit = np.flatnonzero(clear_qh.profile(index)[0] > 0)
        first, last = ends[lit[0]], ends[lit[-1]]
        assert first > sunrise and first - 0.25 <= sunrise + 0.5, (first, sunrise)
        assert last - 0.25 < sunset and last >= sunset - 0.5, (last, sunset)


def test_clear_day_midday_peak_is_plausible(clear_qh: SolarProfiles) -> None:
    for index in (0, 79, SUMMER, 265, WINTER):
        p = clear_qh.profile(index)[0]
        assert 0.6 <= p.max() <= 1.0, (index, p.max())
        peak_hour = (np.argmax(p) + 0.5) * 0.25  # mid-step
        assert 11.0 <= peak_hour <= 13.0, (index, peak_hour)  # solar noon near 12:00 MST


def test_summer_longer_and_more_energetic_than_winter(clear_qh: SolarProfiles) -> None:
    summer, winter = clear_qh.profile(SUMMER)[0], clear_qh.profile(WINTER)[0]
    daylight_summer = np.count_nonzero(summer) * 0.25
    daylight_winter = np.count_nonzero(winter) * 0.25
    assert 14.0 <= daylight_summer <= 15.5  # 39.7° N: 14.9 h of sun on June 21
    assert 9.0 <= daylight_winter <= 10.0  # 9.4 h on December 21
    # energy in kWh per kWp: sum of fractions × step / (DC/AC ratio)
    e_summer = summer.sum() * 0.25 / clear_qh.dc_ac_ratio
    e_winter = winter.sum() * 0.25 / clear_qh.dc_ac_ratio
    assert 5.0 <= e_summer <= 7.0
    assert 3.5 <= e_winter <= 5.5
    assert e_summer > 1.1 * e_winter
    # a horizontal array shows the season far more strongly
    flat = SolarProfiles(1, 24, 1.0, clouds=None, tilt=0.0)
    assert flat.profile(SUMMER).sum() > 2.0 * flat.profile(WINTER).sum()


def _direct_pvlib(sp: SolarProfiles, index: int, minutes: int = 1) -> np.ndarray:
    """The same model chain written out with pvlib at ``minutes`` resolution (AC / rating)."""
    start = sp.date(index)
    n = 24 * 60 // minutes
    times = start + pd.to_timedelta((np.arange(n) + 0.5) * minutes * 60, unit="s")
    loc = sp.location
    solpos = loc.get_solarposition(times)
    clear = loc.get_clearsky(times, model="ineichen", solar_position=solpos)
    tilt, azimuth = sp.tilt[0], sp.azimuth[0]
    poa = pvlib.irradiance.get_total_irradiance(
        tilt,
        azimuth,
        solpos["apparent_zenith"],
        solpos["azimuth"],
        clear["dni"],
        clear["ghi"],
        clear["dhi"],
        dni_extra=pvlib.irradiance.get_extra_radiation(times),
        albedo=sp.albedo,
        model="haydavies",
    ).fillna(0.0)
    aoi = pvlib.irradiance.aoi(tilt, azimuth, solpos["apparent_zenith"], solpos["azimuth"])
    effective = poa["poa_direct"] * pvlib.iam.physical(aoi) + poa["poa_diffuse"]
    hour = (np.arange(n) + 0.5) * minutes / 60.0
    temp_air = ambient_temperature(times.day_of_year.to_numpy() + hour / 24.0, hour)
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["close_mount_glass_glass"]
    temp_cell = pvlib.temperature.sapm_cell(poa["poa_global"], temp_air, sp.wind_speed, **params)
    losses = pvlib.pvsystem.pvwatts_losses(availability=0) / 100.0
    pdc = pvlib.pvsystem.pvwatts_dc(effective, temp_cell, sp.dc_ac_ratio, -0.0037) * (1 - losses)
    pac = pvlib.inverter.pvwatts(np.asarray(pdc), 1.0 / 0.96, eta_inv_nom=0.96)
    return np.asarray(pac)


def test_step_average_matches_direct_pvlib_at_one_minute() -> None:
    sp = SolarProfiles(1, 24, 1.0, clouds=None)
    for index in (SUMMER, WINTER):
        fine = _direct_pvlib(sp, index)
        hourly = fine.reshape(24, 60).mean(axis=1)  # step t: mean over (t-1 h, t h]
        ours = sp.profile(index)[0]
        assert np.max(np.abs(ours - hourly)) < 1e-3, np.max(np.abs(ours - hourly))
        assert abs(ours.sum() - hourly.sum()) < 1e-3  # daily energy to 0.001 kWh per kW AC
        # a one-step misalignment (interval starting at t) would be far off
        shifted = np.r_[hourly[1:], 0.0]
        assert np.max(np.abs(ours - shifted)) > 0.1
        # a point sample at the step end instead of the mean would also be far off
        assert np.max(np.abs(ours - fine[59::60])) > 0.05


def test_step_lengths_share_one_fine_grid(cloudy_qh: SolarProfiles) -> None:
    hourly = SolarProfiles(4, 24, 1.0, seed=7)
    for index in (3, 150, 300):
        quarter = cloudy_qh.profile(index)
        np.testing.assert_allclose(
            hourly.profile(index), quarter.reshape(4, 24, 4).mean(axis=2), atol=1e-12
        )


def test_clear_sky_index_one_reproduces_clear_sky_mode() -> None:
    always_clear = CloudModel(
        p_clear=1.0,
        p_partly_cloudy=0.0,
        p_overcast=0.0,
        clear_cover=(0.0, 0.0),
        sun_kt=(1.0, 1.0),
        noise_sd=0.0,
    )
    cloudy_path = SolarProfiles(2, 24, 1.0, clouds=always_clear, tilt=[20.0, 40.0])
    clear = SolarProfiles(2, 24, 1.0, clouds=None, tilt=[20.0, 40.0])
    for index in (10, SUMMER):
        np.testing.assert_allclose(cloudy_path.profile(index), clear.profile(index), atol=1e-12)


def test_clouds_reduce_energy_and_add_variability(
    clear_qh: SolarProfiles, cloudy_qh: SolarProfiles
) -> None:
    days = range(0, 365, 5)
    clear_energy = np.array([clear_qh.profile(k)[0].sum() for k in days])
    cloudy = {k: cloudy_qh.profile(k) for k in days}
    cloudy_energy = np.array([cloudy[k][0].sum() for k in days])
    # no day beats its clear-sky value by more than the cloud enhancement allows
    assert np.all(cloudy_energy <= 1.06 * clear_energy)
    ratio = cloudy_energy.sum() / clear_energy.sum()
    assert 0.55 <= ratio <= 0.85, ratio
    kinds = {k: cloudy_qh.clear_sky_index(k)[0] for k in days}
    assert set(kinds.values()) == {"clear", "partly_cloudy", "overcast"}
    overcast = [i for i, k in enumerate(days) if kinds[k] == "overcast"]
    assert np.all(cloudy_energy[overcast] < 0.6 * clear_energy[overcast])

    def roughness(p: np.ndarray) -> float:  # mean |change| between quarter-hours
        return float(np.abs(np.diff(p, axis=-1)).mean())

    partly = [k for k in days if kinds[k] == "partly_cloudy"]
    assert len(partly) >= 10
    rough_cloudy = np.mean([roughness(cloudy[k][0]) for k in partly])
    rough_clear = np.mean([roughness(clear_qh.profile(k)[0]) for k in partly])
    assert rough_cloudy > 1.3 * rough_clear, (rough_cloudy, rough_clear)


def test_units_share_weather_with_small_decorrelation(cloudy_qh: SolarProfiles) -> None:
    partly = next(k for k in range(365) if cloudy_qh.clear_sky_index(k)[0] == "partly_cloudy")
    _, kt = cloudy_qh.clear_sky_index(partly)
    assert kt.shape == (4, cloudy_qh.n_fine) == (4, 288)
    assert 0.1 <= kt.min() and kt.max() <= 1.05
    corr = np.corrcoef(kt)[np.triu_indices(4, 1)]
    assert np.all(corr > 0.6) and np.all(corr < 0.99), corr
    p = cloudy_qh.profile(partly)
    assert not np.allclose(p[0], p[1])
    energy = p.sum(axis=1)
    assert energy.std() / energy.mean() < 0.15  # same day for every unit


def test_deterministic_per_index_and_independent_of_call_order() -> None:
    a = SolarProfiles(3, 24, 1.0, seed=11)
    b = SolarProfiles(3, 24, 1.0, seed=11)
    first = {k: a.profile(k) for k in (5, 200, 77)}
    for k in (77, 5, 200, 5):
        np.testing.assert_array_equal(b.profile(k), first[k])
    b.precompute()
    np.testing.assert_array_equal(b.profile(200), first[200])
    assert not np.array_equal(a.profile(5), a.profile(6))
    other_seed = SolarProfiles(3, 24, 1.0, seed=12)
    assert not np.array_equal(other_seed.profile(5), first[5])
    # more units on the feeder do not change the weather of the first ones
    more = SolarProfiles(5, 24, 1.0, seed=11)
    np.testing.assert_array_equal(more.profile(200)[:3], first[200])
    # the returned array is the caller's own
    p = a.profile(5)
    p[:] = -1.0
    np.testing.assert_array_equal(a.profile(5), first[5])


def test_no_global_rng_is_touched() -> None:
    state = np.random.get_state()  # noqa: NPY002 (checking the legacy global RNG on purpose)
    SolarProfiles(2, 24, 1.0, seed=1).profile(42)
    after = np.random.get_state()  # noqa: NPY002
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_orientation_per_unit() -> None:
    sp = SolarProfiles(3, 96, 0.25, clouds=None, tilt=30.0, azimuth=[90.0, 180.0, 270.0])
    p = sp.profile(SUMMER)
    peaks = (np.argmax(p, axis=1) + 0.5) * 0.25
    assert peaks[0] < peaks[1] < peaks[2]  # east, south, west
    assert peaks[0] < 11.0 and peaks[2] > 13.0
    with pytest.raises(ConfigError, match="tilt"):
        SolarProfiles(3, 24, tilt=[10.0, 20.0])
    with pytest.raises(ConfigError):
        CloudModel(p_clear=0.9)


def test_southern_site_faces_north() -> None:
    sydney = SolarProfiles(
        1, 24, clouds=None, latitude=-33.87, longitude=151.21, altitude=50.0, tz="Etc/GMT-10"
    )
    assert sydney.azimuth[0] == 0.0 and sydney.tilt[0] == 34.0
    # December is summer there
    flat = SolarProfiles(
        1, 24, clouds=None, latitude=-33.87, longitude=151.21, tz="Etc/GMT-10", tilt=0.0
    )
    assert flat.profile(WINTER).sum() > 2.0 * flat.profile(SUMMER).sum()
