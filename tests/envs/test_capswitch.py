"""Capacitor switching mode (``<system>_capswitch``): API, masks, episodes and reward."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import marl_vvc
from marl_vvc import ConfigError, InvalidActionError, InvalidOptionError, ResetNeededError
from marl_vvc.envs.capswitch import CapSwitchEnv, base_system_name, capswitch_env, is_capswitch_name

# A high-load condition: a winter day of the built-in profiles at the evening peak, × 1.4.
HIGH_LOAD = {"profile": 0, "hour": 18, "scale": 1.4}


@pytest.fixture(scope="module")
def env123():
    env = capswitch_env("123Bus_capswitch")
    yield env
    env.close()


def _keep(env) -> dict:
    return dict.fromkeys(env.agents, 0)


def _masked_random(env, obs, rng: np.random.Generator) -> dict:
    return {a: int(rng.integers(2)) if obs[a]["action_mask"][1] else 0 for a in env.agents}


def _violation(env) -> float:
    snap, cfg = env.core.snapshot, env.config
    over = np.maximum(snap.bus_vmax - cfg.reward.v_max, 0.0)
    under = np.maximum(cfg.reward.v_min - snap.bus_vmin, 0.0)
    return float((over + under).sum())


def _episode(env, seed: int, action_seed: int) -> list:
    rng = np.random.default_rng(action_seed)
    obs, infos = env.reset(seed=seed)
    record = [(obs, infos, env.state())]
    while env.agents:
        out = env.step(_masked_random(env, obs, rng))
        obs = out[0]
        record.append((*out, env.state()))
    return record


def _assert_same(x, y) -> None:
    if isinstance(x, dict):
        assert x.keys() == y.keys()
        for k in x:
            _assert_same(x[k], y[k])
    elif isinstance(x, tuple | list):
        assert len(x) == len(y)
        for a, b in zip(x, y, strict=True):
            _assert_same(a, b)
    elif isinstance(x, np.ndarray):
        np.testing.assert_array_equal(x, y)
    else:
        assert x == y


# ---------------------------------------------------------------------------- names, spaces
def test_names_map_to_the_base_system() -> None:
    assert base_system_name("123Bus_capswitch") == "123Bus"
    assert base_system_name("13Bus_capswitch") == "13Bus"
    assert base_system_name("123Bus_s1.5_capswitch") == "123Bus_s1.5"
    assert base_system_name("123Bus_capswitch_cbat") == "123Bus_cbat"
    assert base_system_name("123Bus") == "123Bus"
    assert is_capswitch_name("34Bus_capswitch") and not is_capswitch_name("34Bus")
    assert not is_capswitch_name("capswitch") and not is_capswitch_name(None)


def test_agents_are_the_capacitors_only(env123) -> None:
    assert env123.possible_agents == [
        "capacitor_c83",
        "capacitor_c88a",
        "capacitor_c90b",
        "capacitor_c92c",
    ]
    assert env123.max_switches == 4
    for a in env123.possible_agents:
        assert env123.action_space(a) is env123.action_space(a)
        assert env123.observation_space(a) is env123.observation_space(a)
        assert env123.action_space(a).n == 2
        mask_space = env123.observation_space(a)["action_mask"]
        assert mask_space.shape == (2,) and mask_space.dtype == np.int8
    env13 = capswitch_env("13Bus_capswitch")
    assert env13.possible_agents == ["capacitor_cap1", "capacitor_cap2"]
    env13.close()


def test_regulators_held_and_batteries_idle(env123) -> None:
    env123.reset(seed=3, options={"initial_status": 0})
    core = env123.core
    taps = np.array(core.task.regs.index)
    assert (taps == 16).all()  # quirks=False: mid-range (ratio 1.0)
    rng = np.random.default_rng(0)
    obs, _ = env123.reset(seed=3)
    while env123.agents:
        obs, *_ = env123.step(_masked_random(env123, obs, rng))
        np.testing.assert_array_equal(core.task.regs.index, taps)
        np.testing.assert_array_equal(core.task.bats.setpoint, 0.0)


def test_base_quirks_keep_the_powergym_tap_start() -> None:
    env = capswitch_env("13Bus_capswitch", quirks=None)
    env.reset(seed=0)
    assert set(env.core.task.regs.index) == {32}
    env.close()


# ---------------------------------------------------------------------------- PettingZoo tests
@pytest.mark.parametrize("name", ["123Bus_capswitch", "13Bus_capswitch", "13Bus_cbat_capswitch"])
def test_parallel_api(name: str) -> None:
    env = capswitch_env(name)
    parallel_api_test(env, num_cycles=50)
    env.close()


def test_parallel_seed_test() -> None:
    # PettingZoo's seed test samples actions without their masks, so a second step could
    # toggle a masked agent; one-step episodes keep it inside the rules.
    parallel_seed_test(lambda: capswitch_env("123Bus_capswitch", max_switches=1), num_cycles=20)
    parallel_seed_test(lambda: capswitch_env("13Bus_capswitch", max_switches=1), num_cycles=20)


def test_full_episode_determinism() -> None:
    a, b = capswitch_env("123Bus_capswitch"), capswitch_env("123Bus_capswitch")
    for seed in (0, 7, 123):
        rec_a, rec_b = _episode(a, seed, seed + 1), _episode(b, seed, seed + 1)
        _assert_same(rec_a, rec_b)
        assert len(rec_a) >= 2
    # an episode does not depend on the instance's history
    fresh = capswitch_env("123Bus_capswitch")
    _assert_same(_episode(fresh, 0, 1), _episode(a, 0, 1))
    fresh.close()
    a.close()
    b.close()


def test_pickle_state_render_close() -> None:
    env = capswitch_env("13Bus_capswitch", max_switches=1, switch_cost=0.02)
    clone = pickle.loads(pickle.dumps(env))
    assert isinstance(clone, CapSwitchEnv)
    assert clone.max_switches == 1 and clone.switch_cost == 0.02
    _assert_same(_episode(env, 5, 5), _episode(clone, 5, 5))
    env.reset(seed=1)
    state, core = env.state(), env.core
    n_v = len(core.snapshot.v)
    np.testing.assert_array_equal(state[:n_v], core.snapshot.v.astype(np.float32))
    np.testing.assert_array_equal(state[n_v : n_v + 2], core.fleet["capacitor"].status)
    np.testing.assert_array_equal(state[n_v + 2 : n_v + 5], core.task.regs.index)
    assert env.state_space.contains(env.state())
    assert env.render() is None
    env.close()
    clone.close()


def test_parallel_env_hook() -> None:
    try:
        env = marl_vvc.parallel_env("123Bus_capswitch")
    except ConfigError:
        pytest.skip("marl_vvc.parallel_env does not dispatch '_capswitch' names yet")
    assert isinstance(env, CapSwitchEnv)
    env.close()


# ---------------------------------------------------------------------------- masks
def test_toggled_agent_is_masked_and_masked_toggle_raises(env123) -> None:
    obs, _ = env123.reset(seed=0, options={"initial_status": [0, 1, 0, 1]})
    for a in env123.agents:
        np.testing.assert_array_equal(obs[a]["action_mask"], [1, 1])
        assert obs[a]["observation"][-3] == 0.0
    core = env123.core
    actions = _keep(env123) | {"capacitor_c88a": 1}
    obs, *_ = env123.step(actions)
    np.testing.assert_array_equal(core.fleet["capacitor"].status, [0, 0, 0, 1])
    np.testing.assert_array_equal(obs["capacitor_c88a"]["action_mask"], [1, 0])
    assert obs["capacitor_c88a"]["observation"][-3] == 1.0
    assert env123.observation_space("capacitor_c88a").contains(obs["capacitor_c88a"])
    for a in ("capacitor_c83", "capacitor_c90b", "capacitor_c92c"):
        np.testing.assert_array_equal(obs[a]["action_mask"], [1, 1])

    state, status, t = env123.state(), core.fleet["capacitor"].status, core.t
    with pytest.raises(InvalidActionError, match="capacitor_c88a"):
        env123.step(_keep(env123) | {"capacitor_c88a": 1, "capacitor_c83": 1})
    np.testing.assert_array_equal(env123.state(), state)
    np.testing.assert_array_equal(core.fleet["capacitor"].status, status)
    assert core.t == t and env123.agents == env123.possible_agents
    # keeping is still allowed, and the other agents may toggle
    obs, _, terms, *_ = env123.step(_keep(env123) | {"capacitor_c83": 1})
    np.testing.assert_array_equal(core.fleet["capacitor"].status, [1, 0, 0, 1])
    assert not any(terms.values())


def test_bad_actions_raise_and_change_nothing(env123) -> None:
    env123.reset(seed=2)
    state = env123.state()
    bad = [
        {},
        _keep(env123) | {"capacitor_nope": 0},
        _keep(env123) | {"capacitor_c83": 2},
        _keep(env123) | {"capacitor_c83": -1},
        _keep(env123) | {"capacitor_c83": 0.5},
        [0, 0, 0, 0],
    ]
    for actions in bad:
        with pytest.raises(InvalidActionError):
            env123.step(actions)
        np.testing.assert_array_equal(env123.state(), state)


# ---------------------------------------------------------------------------- reward
@pytest.mark.parametrize("mode", ["change", "absolute"])
def test_reward_is_loss_reduction_by_number(mode: str) -> None:
    w, c = 2.0, 0.03
    env = capswitch_env("123Bus_capswitch", violation_mode=mode, violation_weight=w, switch_cost=c)
    _, infos = env.reset(seed=4, options={**HIGH_LOAD, "initial_status": 0})
    core = env.core
    loss0 = core.snapshot.losses_kw
    assert infos["capacitor_c83"]["initial_loss_kw"] == loss0
    prev_loss, prev_v = loss0, _violation(env)
    assert prev_v > 0  # the all-open feeder is under voltage at this load
    sequence = [{"capacitor_c83": 1}, {"capacitor_c88a": 1, "capacitor_c92c": 1}, {}]
    for toggles in sequence:
        _, rewards, terms, _, infos = env.step(_keep(env) | toggles)
        loss, v = core.snapshot.losses_kw, _violation(env)
        penalty = w * (v - prev_v if mode == "change" else v)
        expected = (prev_loss - loss) / loss0 - penalty - c * len(toggles)
        for a, r in rewards.items():
            assert r == pytest.approx(expected, rel=1e-12, abs=1e-12)
            info = infos[a]
            assert info["loss_kw"] == loss and info["prev_loss_kw"] == prev_loss
            assert info["loss_reduction"] == pytest.approx((prev_loss - loss) / loss0, abs=1e-14)
            assert info["violation"] == pytest.approx(v, abs=1e-12)
            assert info["violation_penalty"] == pytest.approx(penalty, abs=1e-12)
            assert info["switch_cost"] == pytest.approx(c * len(toggles))
            assert info["toggled"] == (a in toggles)
        split = sum(i["split_reward"] for i in infos.values())
        assert split == pytest.approx(expected, abs=1e-12)
        prev_loss, prev_v = loss, v
    assert all(terms.values()) and infos["capacitor_c83"]["end_reason"] == "all_keep"
    env.close()


def test_split_reward_charges_the_switching_agent() -> None:
    env = capswitch_env("123Bus_capswitch", violation_weight=0.0, switch_cost=0.05)
    env.reset(seed=4, options={**HIGH_LOAD, "initial_status": 0})
    _, rewards, _, _, infos = env.step(_keep(env) | {"capacitor_c83": 1})
    reduction = infos["capacitor_c83"]["loss_reduction"]
    assert reduction > 0
    assert infos["capacitor_c83"]["split_reward"] == pytest.approx(reduction - 0.05, abs=1e-14)
    for a in ("capacitor_c88a", "capacitor_c90b", "capacitor_c92c"):
        assert infos[a]["split_reward"] == 0.0
        assert rewards[a] == pytest.approx(reduction - 0.05, abs=1e-14)  # shared reward
    # nobody switched: the (tiny) loss term is shared equally
    _, rewards, _, _, infos = env.step(_keep(env))
    parts = [i["split_reward"] for i in infos.values()]
    assert parts == pytest.approx([rewards["capacitor_c83"] / 4] * 4, abs=1e-15)
    env.close()


def test_greedy_best_single_toggle_reduces_losses() -> None:
    env = capswitch_env("123Bus_capswitch")
    options = {**HIGH_LOAD, "initial_status": 0}
    totals = {}
    for agent in env.possible_agents:
        _, infos = env.reset(seed=0, options=options)
        assert infos[agent]["load_level"] > 0.9  # high load
        total = 0.0
        _, rewards, *_ = env.step(_keep(env) | {agent: 1})
        total += rewards[agent]
        _, rewards, terms, *_ = env.step(_keep(env))  # sequence finished
        total += rewards[agent]
        assert all(terms.values())
        totals[agent] = total
    best = max(totals, key=totals.get)
    assert totals[best] > 0.0, totals
    env.close()


# ---------------------------------------------------------------------------- episodes
def test_divergence_ends_the_episode_with_the_penalty() -> None:
    # Three power-flow iterations are too few for most solves of the 13-bus feeder.
    env = capswitch_env("13Bus_capswitch", max_iterations=3)
    _, infos = env.reset(seed=0, options={"scale": 0.5, "initial_status": 1})
    assert infos["capacitor_cap1"]["converged"]
    obs, rewards, terms, truncs, infos = env.step(dict.fromkeys(env.agents, 1))
    assert rewards == dict.fromkeys(env.possible_agents, -100.0)
    assert all(terms.values()) and not any(truncs.values()) and env.agents == []
    assert {i["end_reason"] for i in infos.values()} == {"diverged"}
    assert not infos["capacitor_cap1"]["converged"]
    assert sum(i["split_reward"] for i in infos.values()) == pytest.approx(-100.0)
    for a, o in obs.items():
        assert env.observation_space(a).contains(o)
    # the initial setting itself diverges: the first step ends the episode
    _, infos = env.reset(seed=0, options={"scale": 0.5, "initial_status": 0})
    assert not infos["capacitor_cap1"]["converged"] and env.agents == env.possible_agents
    _, rewards, terms, _, infos = env.step(_keep(env))
    assert all(terms.values()) and rewards["capacitor_cap1"] == -100.0
    assert infos["capacitor_cap2"]["end_reason"] == "diverged"
    env.close()


def test_all_keep_ends_the_sequence(env123) -> None:
    env123.reset(seed=0)
    _, _, terms, truncs, infos = env123.step(_keep(env123))
    assert all(terms.values()) and not any(truncs.values())
    assert env123.agents == []
    assert {i["end_reason"] for i in infos.values()} == {"all_keep"}
    assert {i["switches"] for i in infos.values()} == {0}
    assert abs(infos["capacitor_c83"]["loss_reduction"]) < 1e-7  # same configuration
    with pytest.raises(ResetNeededError):
        env123.step(_keep(env123))


def test_one_toggle_per_step_lasts_n_capacitors(env123) -> None:
    obs, _ = env123.reset(seed=1)
    reasons = []
    for agent in env123.possible_agents:
        assert env123.agents == env123.possible_agents
        obs, _, _, _, infos = env123.step(_keep(env123) | {agent: 1})
        reasons.append(infos[agent]["end_reason"])
    assert reasons == ["", "", "", "all_toggled"] and env123.agents == []
    for a in env123.possible_agents:
        np.testing.assert_array_equal(obs[a]["action_mask"], [1, 0])
        assert obs[a]["observation"][-2] == 1.0  # the budget is used up


def test_max_switches_budget() -> None:
    env = capswitch_env("123Bus_capswitch", max_switches=2)
    env.reset(seed=0)
    _, _, terms, _, infos = env.step(_keep(env) | {"capacitor_c83": 1})
    assert not any(terms.values())
    _, _, terms, truncs, infos = env.step(_keep(env) | {"capacitor_c90b": 1})
    assert all(terms.values()) and not any(truncs.values())
    assert infos["capacitor_c83"]["end_reason"] == "max_switches"
    env.close()
    env = capswitch_env("123Bus_capswitch")
    env.reset(seed=0)
    _, _, terms, _, infos = env.step(dict.fromkeys(env.agents, 1))  # everyone at once
    assert all(terms.values()) and infos["capacitor_c83"]["end_reason"] == "all_toggled"
    assert infos["capacitor_c83"]["switches"] == 4
    env.close()


def test_bad_construction_raises() -> None:
    long = capswitch_env("13Bus_capswitch", max_switches=24)  # not bound by the day's horizon
    assert long.max_switches == 24
    long.close()
    with pytest.raises(ConfigError):
        capswitch_env("13Bus_capswitch", max_switches=0)
    with pytest.raises(ConfigError, match="max_switches"):
        capswitch_env("13Bus_capswitch", max_switches=True)
    with pytest.raises(ConfigError):
        capswitch_env("13Bus_capswitch", action_masks=True)
    with pytest.raises(ConfigError):
        capswitch_env("13Bus_capswitch", violation_mode="sometimes")
    with pytest.raises(ConfigError):
        capswitch_env("13Bus_capswitch", scale_range=(1.4, 0.6))
    env = capswitch_env("13Bus_capswitch", max_switches=30, horizon=31)
    assert env.max_switches == 30
    env.close()


# ---------------------------------------------------------------------------- load condition
def test_seeded_load_scale_per_episode(env123) -> None:
    scales = []
    for seed in range(8):
        _, infos = env123.reset(seed=seed)
        info = infos["capacitor_c83"]
        assert 0.6 <= info["scale"] <= 1.4
        scales.append(info["scale"])
        # constant multipliers: scale × the profile's day at the drawn hour, every step
        day = env123.core.task.profiles.profile(info["profile"])
        expected = info["scale"] * day[:, info["hour"]]
        np.testing.assert_allclose(env123.core.task.multipliers, expected[:, None].repeat(24, 1))
        assert info["load_level"] == pytest.approx(expected.mean())
        _, again = env123.reset(seed=seed)
        assert again["capacitor_c83"] == info
    assert len(set(scales)) == len(scales)
    # an unseeded reset continues the stream: another load condition
    _, first = env123.reset(seed=3)
    _, second = env123.reset()
    assert second["capacitor_c83"]["scale"] != first["capacitor_c83"]["scale"]


def test_scale_range_and_system_scale() -> None:
    env = capswitch_env("13Bus_capswitch", scale_range=(0.9, 1.1))
    plain = [env.reset(seed=s)[1]["capacitor_cap1"]["scale"] for s in range(20)]
    assert min(plain) >= 0.9 and max(plain) <= 1.1
    env.close()
    heavy = capswitch_env("13Bus_s1.5_capswitch")
    heavy.reset(seed=0, options={"scale": 1.0, "profile": 2, "hour": 5})
    day = heavy.core.task.profiles.profile(2)
    np.testing.assert_allclose(heavy.core.task.multipliers[:, 0], 1.5 * day[:, 5])
    heavy.close()


def test_options_fix_draws_without_moving_the_others(env123) -> None:
    _, drawn = env123.reset(seed=11)
    drawn = drawn["capacitor_c83"]
    _, fixed = env123.reset(seed=11, options={"scale": 0.8})
    fixed = fixed["capacitor_c83"]
    assert fixed["scale"] == 0.8
    for key in ("profile", "hour", "initial_status"):
        assert fixed[key] == drawn[key]
    _, infos = env123.reset(seed=11, options={"profile": 40, "hour": 7, "initial_status": 1})
    info = infos["capacitor_c83"]
    assert (info["profile"], info["hour"], info["scale"]) == (40, 7, drawn["scale"])
    np.testing.assert_array_equal(env123.core.fleet["capacitor"].status, 1)


def test_initial_status_random_and_given(env123) -> None:
    seen = set()
    for seed in range(12):
        obs, infos = env123.reset(seed=seed)
        status = infos["capacitor_c83"]["initial_status"]
        np.testing.assert_array_equal(env123.core.fleet["capacitor"].status, status)
        for i, a in enumerate(env123.possible_agents):
            assert obs[a]["observation"][0] == status[i]  # own status first
        seen.add(tuple(status))
    assert len(seen) > 3
    env123.reset(seed=0, options={"initial_status": [1, 0, 1, 0]})
    np.testing.assert_array_equal(env123.core.fleet["capacitor"].status, [1, 0, 1, 0])
    env123.reset(seed=0, options={"initial_status": {"c83": 0, "c88a": 1, "c90b": 1, "c92c": 0}})
    np.testing.assert_array_equal(env123.core.fleet["capacitor"].status, [0, 1, 1, 0])


@pytest.mark.parametrize(
    "options",
    [
        {"scale": -1.0},
        {"scale": float("nan")},
        {"scale": "big"},
        {"hour": 24},
        {"hour": 1.5},
        {"profile": 10_000},
        {"profile": True},
        {"initial_status": [1, 0]},
        {"initial_status": [1, 0, 2, 0]},
        {"initial_status": {"c83": 1}},
        {"initial_status": "open"},
    ],
)
def test_bad_options_raise(env123, options: dict) -> None:
    with pytest.raises(InvalidOptionError):
        env123.reset(seed=0, options=options)
