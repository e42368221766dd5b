"""Load profiles: PowerGym's chop scheme, the built-in source, explicit multipliers."""

from __future__ import annotations

import numpy as np
import pytest

from marl_vvc import InvalidOptionError, make_env
from marl_vvc.tasks.profiles import SyntheticProfiles, YearlyProfiles, explicit_profile


def test_chop_scheme_on_synthetic_series(tmp_path) -> None:
    # two files of 10 values, 2 loads, horizon 3 -> E = floor(20 / 6) = 3 profiles
    (tmp_path / "LoadShape_b.csv").write_text("\n".join(str(10 + i) for i in range(10)))
    (tmp_path / "LoadShape_a.csv").write_text("\n".join(str(i) for i in range(10)))
    (tmp_path / "other.csv").write_text("99\n")
    p = YearlyProfiles(tmp_path, n_loads=2, horizon=3, files=["LoadShape_a.csv", "LoadShape_b.csv"])
    assert p.num_profiles == 3
    x = np.arange(20.0)
    x[10:] = np.arange(10, 20)
    # load k, profile e, hour h -> x[k*S*E + e*S + h]
    for k in range(2):
        for e in range(3):
            np.testing.assert_array_equal(p.profile(e)[k], x[k * 9 + e * 3 : k * 9 + e * 3 + 3])
    default_order = YearlyProfiles(tmp_path, n_loads=2, horizon=3)
    assert default_order.files == ("LoadShape_a.csv", "LoadShape_b.csv")  # sorted, filtered
    with pytest.raises(InvalidOptionError, match="0 <= profile < 3"):
        p.profile(3)


def test_synthetic_profiles_are_deterministic_and_plausible() -> None:
    a, b = SyntheticProfiles(15, 24), SyntheticProfiles(15, 24)
    np.testing.assert_array_equal(a.profile(42), b.profile(42))
    assert not np.array_equal(a.profile(42), a.profile(43))
    year = np.stack([a.profile(e) for e in range(0, 365, 7)])
    assert 0.2 <= year.min() and year.max() <= 1.3
    assert 0.5 < year.mean() < 0.8
    daily = year.mean(axis=(0, 1))
    assert daily[18] > daily[3]  # evening above the night


def test_explicit_profile_validation() -> None:
    names = ("a", "b")
    out = explicit_profile({"A": [1, 2], "b": [3, 4]}, names, 2)
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]])
    with pytest.raises(InvalidOptionError, match=r"missing loads \['b'\]"):
        explicit_profile({"a": [1, 2]}, names, 2)
    with pytest.raises(InvalidOptionError, match=r"unknown loads \['c'\]"):
        explicit_profile({"a": [1, 2], "b": [1, 2], "c": [1, 2]}, names, 2)
    with pytest.raises(InvalidOptionError, match="expected 2 finite real numbers"):
        explicit_profile({"a": [1, 2], "b": [1, float("nan")]}, names, 2)


def test_env_profile_options() -> None:
    env = make_env("13Bus")
    env.reset(seed=0, options={"profile": 12})
    first = env.unwrapped.core.task.multipliers.copy()
    env.reset(seed=99, options={"profile": 12})
    np.testing.assert_array_equal(env.unwrapped.core.task.multipliers, first)
    with pytest.raises(InvalidOptionError, match="profile"):
        env.reset(options={"profile": "twelve"})
    with pytest.raises(InvalidOptionError, match="0 <= profile < 365"):
        env.reset(options={"profile": 365})
    scaled = make_env("13Bus_s2")
    scaled.reset(options={"profile": 12})
    np.testing.assert_allclose(scaled.unwrapped.core.task.multipliers, 2 * first)
    env.close()
    scaled.close()


def test_profile_pool_restricts_random_draws() -> None:
    from marl_vvc import ConfigError

    env = make_env("13Bus", profile_pool=(300, 365))
    drawn = {env.reset(seed=s)[1]["profile"] for s in range(40)}
    assert min(drawn) >= 300 and max(drawn) < 365 and len(drawn) > 10
    env.reset(options={"profile": 3})  # an explicit choice is still allowed
    assert env.unwrapped.core.task.profile_index == 3
    with pytest.raises(ConfigError, match="profile_pool"):
        make_env("13Bus", profile_pool=(5, 2))
    big = make_env("13Bus", profile_pool=(0, 400))
    with pytest.raises(InvalidOptionError, match="exceeds"):
        big.reset(seed=0)


def test_explicit_multipliers_refuse_text_nan_and_wrong_length() -> None:
    from marl_vvc.tasks.profiles import explicit_profile

    names = ("a", "b")
    ok = explicit_profile({"a": [1.0] * 3, "B": [2] * 3}, names, 3)
    np.testing.assert_array_equal(ok, [[1.0] * 3, [2.0] * 3])
    bad = {
        "got <U1 values of shape": {"a": ["x"] * 3, "b": [1.0] * 3},
        "got bool values": {"a": [True] * 3, "b": [1.0] * 3},
        r"shape \(2,\)": {"a": [1.0] * 2, "b": [1.0] * 3},
        "nan": {"a": [1.0, float("nan"), 1.0], "b": [1.0] * 3},
    }
    for match, table in bad.items():
        with pytest.raises(InvalidOptionError, match=match):
            explicit_profile(table, names, 3)
