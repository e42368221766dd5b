"""PettingZoo conformance, determinism, reward conservation and bad input of the parallel env."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test
from pettingzoo.utils.conversions import parallel_to_aec

import marl_vvc
from marl_vvc import InvalidActionError, ResetNeededError, parallel_env


@pytest.fixture(scope="module")
def env13():
    env = parallel_env("13Bus")
    yield env
    env.close()


def _random_actions(env, rng: np.random.Generator) -> dict:
    out = {}
    for a in env.agents:
        space = env.action_space(a)
        if hasattr(space, "n"):
            out[a] = int(rng.integers(space.n))
        else:
            out[a] = rng.uniform(-1, 1, size=space.shape).astype(np.float32)
    return out


def _episode(env, seed: int, action_seed: int) -> list:
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    record = [obs]
    while env.agents:
        record.append(env.step(_random_actions(env, rng)))
    return record


def test_agent_ids_and_spaces(env13) -> None:
    assert env13.possible_agents == [
        "capacitor_cap1",
        "capacitor_cap2",
        "regulator_reg1",
        "regulator_reg2",
        "regulator_reg3",
        "battery_batt1",
    ]
    assert env13.action_space("capacitor_cap1").n == 2
    assert env13.action_space("regulator_reg2").n == 33
    assert env13.action_space("battery_batt1").n == 33
    for a in env13.possible_agents:
        assert env13.observation_space(a) is env13.observation_space(a)
        assert env13.action_space(a) is env13.action_space(a)
    cont = parallel_env("13Bus_cbat")
    assert cont.action_space("battery_batt1").shape == (1,)
    cont.close()


def test_parallel_api(env13) -> None:
    parallel_api_test(env13, num_cycles=200)


def test_aec_api() -> None:
    api_test(parallel_to_aec(parallel_env("13Bus")), num_cycles=100)
    api_test(marl_vvc.env("13Bus_cbat"), num_cycles=50)


def test_seed_tests() -> None:
    seed_test(lambda: marl_vvc.env("13Bus"), num_cycles=30)
    parallel_seed_test(lambda: parallel_env("13Bus"), num_cycles=30)


def _assert_same(rec_a: list, rec_b: list) -> None:
    assert len(rec_a) == len(rec_b)
    for x, y in zip(rec_a, rec_b, strict=True):
        if isinstance(x, dict):  # reset observations
            for k in x:
                np.testing.assert_array_equal(x[k], y[k])
            continue
        for part_a, part_b in zip(x, y, strict=True):
            assert part_a.keys() == part_b.keys()
            for k in part_a:
                va, vb = part_a[k], part_b[k]
                if isinstance(va, np.ndarray):
                    np.testing.assert_array_equal(va, vb)
                else:
                    assert va == vb or (va != va and vb != vb)


def test_two_instances_same_seed_identical_full_episodes() -> None:
    a, b = parallel_env("13Bus"), parallel_env("13Bus")
    for seed in (0, 7):
        # interleave to prove the two OpenDSS contexts do not share state
        rec_a, rec_b = _episode(a, seed, 3), _episode(b, seed, 3)
        _assert_same(rec_a, rec_b)
    other = _episode(a, 1, 3)
    assert not np.array_equal(other[0]["battery_batt1"], rec_a[0]["battery_batt1"]) or any(
        not np.array_equal(x[0]["capacitor_cap1"], y[0]["capacitor_cap1"])
        for x, y in zip(other[1:], rec_a[1:], strict=False)
    )
    a.close()
    b.close()


def test_pickle_round_trip_reproduces_episode(env13) -> None:
    clone = pickle.loads(pickle.dumps(env13))
    _assert_same(_episode(env13, 5, 11), _episode(clone, 5, 11))
    clone.close()


def test_infos_carry_global_terms(env13) -> None:
    env13.reset(seed=2)
    _, rewards, _, _, infos = env13.step(_random_actions(env13, np.random.default_rng(0)))
    for info in infos.values():
        for key in (
            "global_reward",
            "loss",
            "voltage",
            "control",
            "power_loss_ratio",
            "vol_reward",
            "ctrl_reward",
            "converged",
            "own_cost",
        ):
            assert key in info
        assert info["global_reward"] == pytest.approx(
            info["loss"] + info["voltage"] + info["control"]
        )
    assert sum(rewards.values()) == pytest.approx(
        infos["capacitor_cap1"]["global_reward"], abs=1e-9
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**31 - 1),
    action_seed=st.integers(0, 2**31 - 1),
    system=st.sampled_from(["13Bus", "13Bus_cbat_soc", "13Bus_s1.7", "123Bus", "123Bus_cbat"]),
)
def test_split_rewards_add_up_to_global_reward(seed: int, action_seed: int, system: str) -> None:
    env = _ENVS.setdefault(system, parallel_env(system))
    rng = np.random.default_rng(action_seed)
    env.reset(seed=seed)
    while env.agents:
        _, rewards, _, _, infos = env.step(_random_actions(env, rng))
        total = infos[next(iter(infos))]["global_reward"]
        assert abs(sum(rewards.values()) - total) <= 1e-9


_ENVS: dict = {}


def test_shared_and_local_modes() -> None:
    shared = parallel_env("13Bus", reward_mode="shared")
    local = parallel_env("13Bus", reward_mode="local")
    split = parallel_env("13Bus")
    rng = np.random.default_rng(4)
    for e in (shared, local, split):
        e.reset(seed=9)
    for _ in range(5):
        acts = _random_actions(split, rng)
        _, r_sh, _, _, inf_sh = shared.step(acts)
        _, r_lo, _, _, inf_lo = local.step(acts)
        _, r_sp, _, _, _ = split.step(acts)
        total = inf_sh["capacitor_cap1"]["global_reward"]
        assert all(v == pytest.approx(total) for v in r_sh.values())
        # local: own cost plus own-zone violations only, never the loss term
        for a, v in r_lo.items():
            assert v <= -inf_lo[a]["own_cost"] + 1e-12
        assert sum(r_lo.values()) >= total - 1e-9
        assert r_sp == pytest.approx(r_sh) or len(set(np.round(list(r_sp.values()), 12))) > 1
    for e in (shared, local, split):
        e.close()


def test_influence_weights_are_physical(env13) -> None:
    inf = env13.influence
    np.testing.assert_allclose(inf.bus_weights.sum(axis=0), 1.0, atol=1e-12)
    assert inf.loss_weights.sum() == pytest.approx(1.0)
    buses = env13.core.bus_names
    regs = [i for i, a in enumerate(env13.possible_agents) if a.startswith("regulator")]
    # Buses downstream of the regulators (behind rg60) are carried mostly by the regulators.
    for bus in ("632", "671", "675", "680", "652"):
        assert inf.bus_weights[regs, buses.index(bus)].sum() > 0.5, bus
    # The source bus is moved by nobody: shared uniformly.
    np.testing.assert_allclose(inf.bus_weights[:, buses.index("sourcebus")], 1 / 6)
    # The capacitor at 611 (phase c) matters more at 611 than the one at 675 does.
    cap1, cap2 = 0, 1
    assert inf.bus_sensitivity[cap2, buses.index("611")] > 0
    assert inf.bus_weights[cap1, buses.index("675")] > inf.bus_weights[cap2, buses.index("675")]


def test_local_observation_layout(env13) -> None:
    obs, _ = env13.reset(seed=0)
    core = env13.core
    cap = obs["capacitor_cap1"]
    assert cap[0] == 1.0  # closed at reset
    own_bus = core.bus_index["675"]
    assert cap[1] == pytest.approx(core.snapshot.bus_vmin[own_bus])
    assert cap[2] == pytest.approx(core.snapshot.bus_vmax[own_bus])
    bat = obs["battery_batt1"]
    assert bat[0] == 1.0 and bat[1] == 0.0  # full, idle
    assert env13.state().shape == env13.state_space.shape
    np.testing.assert_allclose(env13.state(), core.state_vector(), rtol=1e-6)
    for a, o in obs.items():
        assert env13.observation_space(a).contains(o), a


# ------------------------------------------------------------------ bad input
BAD = [
    ({"capacitor_cap1": 2}, "capacitor_cap1", "Discrete(2)"),
    ({"regulator_reg1": -1}, "regulator_reg1", "Discrete(33)"),
    ({"battery_batt1": 33}, "battery_batt1", "Discrete(33)"),
    ({"regulator_reg2": float("nan")}, "regulator_reg2", "Discrete(33)"),
    ({"capacitor_cap2": np.array([1, 0])}, "capacitor_cap2", "Discrete(2)"),
    ({"capacitor_cap2": "on"}, "capacitor_cap2", "Discrete(2)"),
]


def _valid(env) -> dict:
    return {a: 1 if a.startswith("capacitor") else 16 for a in env.possible_agents}


@pytest.mark.parametrize(("patch", "agent", "space"), BAD)
def test_bad_action_raises_typed_error_and_changes_nothing(patch, agent, space) -> None:
    env, twin = parallel_env("13Bus"), parallel_env("13Bus")
    env.reset(seed=3)
    twin.reset(seed=3)
    env.step(_valid(env))
    twin.step(_valid(twin))
    with pytest.raises(InvalidActionError, match=agent) as err:
        env.step({**_valid(env), **patch})
    assert space in str(err.value)
    acts = {**_valid(env), "regulator_reg1": 20, "battery_batt1": 30}
    _assert_same([env.step(acts)], [twin.step(acts)])
    assert env.core.t == twin.core.t == 2


def test_missing_and_unknown_agents_rejected() -> None:
    env = parallel_env("13Bus")
    env.reset(seed=0)
    acts = _valid(env)
    missing = {k: v for k, v in acts.items() if k != "regulator_reg3"}
    with pytest.raises(InvalidActionError, match="regulator_reg3"):
        env.step(missing)
    with pytest.raises(InvalidActionError, match="capacitor_cap9"):
        env.step({**acts, "capacitor_cap9": 1})
    with pytest.raises(InvalidActionError, match="dict"):
        env.step([1, 1, 16, 16, 16, 16])
    assert env.core.t == 0


def test_continuous_battery_rejects_nan_and_out_of_box() -> None:
    env = parallel_env("13Bus_cbat")
    env.reset(seed=0)
    base = {a: (np.zeros(1, np.float32) if a.startswith("battery") else 1) for a in env.agents}
    for bad in (np.array([np.nan], np.float32), np.array([1.5], np.float32), np.zeros(2)):
        with pytest.raises(
            InvalidActionError, match=r"battery_batt1.*Box|Box.*battery_batt1|battery_batt1"
        ):
            env.step({**base, "battery_batt1": bad})
    assert env.core.t == 0
    env.step(base)
    assert env.core.t == 1


def test_step_before_reset_and_after_end() -> None:
    env = parallel_env("13Bus")
    with pytest.raises(ResetNeededError):
        env.step({})
    env.reset(seed=0, options={"options": 1})  # unknown option keys are ignored
    for _ in range(24):
        _, _, term, _, _ = env.step(_valid(env))
    assert all(term.values()) and env.agents == []
    with pytest.raises(ResetNeededError):
        env.step(_valid(env))


# ------------------------------------------------------------------ divergence
TINY_DSS = """clear
new circuit.tiny basekv=12.47 pu=1.0 phases=3 bus1=src
new line.l1 bus1=src bus2=b1 phases=3 r1=0.5 x1=1.0 r0=1.5 x0=3 length=10 units=km
new load.ld1 bus1=b1 phases=3 kv=12.47 kw=1000 kvar=300 model=1 vminpu=0.0 vmaxpu=2.0
new capacitor.c1 bus1=b1 phases=3 kv=12.47 kvar=300
set voltagebases=[12.47]
calcv
"""
TINY_YAML = """circuit: tiny.dss
capacitors: [c1]
reward: {power_w: 1, cap_w: 1/10, reg_w: 0, soc_w: 0, dis_w: 0}
horizon: 4
divergence_penalty: 50
"""


def _tiny(tmp_path: Path) -> str:
    (tmp_path / "tiny.dss").write_text(TINY_DSS)
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    return str(tmp_path / "tiny.yaml")


def test_divergence_ends_episode_with_penalty_and_reset_recovers(tmp_path: Path) -> None:
    env = parallel_env(_tiny(tmp_path))
    collapse = {"load_multipliers": {"ld1": [1.0, 60.0, 1.0, 1.0]}}
    obs, infos = env.reset(seed=0, options=collapse)
    assert infos["capacitor_c1"]["converged"]
    obs, rewards, term, trunc, infos = env.step({"capacitor_c1": 1})
    assert term == {"capacitor_c1": True} and not trunc["capacitor_c1"]
    assert rewards["capacitor_c1"] == -50.0
    assert infos["capacitor_c1"]["converged"] is False
    assert env.observation_space("capacitor_c1").contains(obs["capacitor_c1"])
    assert env.agents == []
    healthy = {"load_multipliers": {"ld1": [1.0, 1.0, 1.0, 1.0]}}
    for _ in range(3):  # recovers, repeatedly
        obs, infos = env.reset(seed=0, options=healthy)
        assert infos["capacitor_c1"]["converged"]
        _, rewards, term, _, infos = env.step({"capacitor_c1": 1})
        assert infos["capacitor_c1"]["converged"] and not term["capacitor_c1"]
        assert -1.0 < rewards["capacitor_c1"] <= 0.0
        env.reset(seed=0, options=collapse)
        assert env.step({"capacitor_c1": 1})[4]["capacitor_c1"]["converged"] is False
    env.close()


def test_node_names_label_the_voltages_of_the_state() -> None:
    env = parallel_env("13Bus")
    env.reset(seed=0)
    names = env.node_names
    assert len(names) == len(env.core.snapshot.v) and len(set(names)) == len(names)
    assert names[0].split(".")[0] == env.bus_names[0]
    np.testing.assert_array_equal(env.state()[: len(names)], env.core.snapshot.v.astype(np.float32))
    env.close()
