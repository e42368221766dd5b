"""load_system: names and variants, YAML files, overrides, bring-your-own YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

import marl_vvc
from marl_vvc import ConfigError, DataNotFoundError, load_system
from marl_vvc.core.engine import MAX_PROFILE_POINTS
from marl_vvc.systems.config import Quirks
from marl_vvc.systems.discovery import DEFAULT_WEIGHTS
from marl_vvc.systems.elements import AnmReward, GeneratorConfig, PowerGymLayout, StorageConfig
from marl_vvc.systems.loading import resolve_system


# ---------------------------------------------------------------------------- named systems
def test_weights_per_variant() -> None:
    w = load_system("13Bus").reward.weights
    assert (w.power_w, w.cap_w, w.reg_w, w.soc_w, w.dis_w) == (10.0, 1 / 33, 1 / 33, 0.0, 6 / 33)
    w = load_system("13Bus_soc").reward.weights
    assert (w.soc_w, w.dis_w) == (20 / 33, 1 / 33)
    w = load_system("123Bus_soc_s1.5").reward.weights
    assert w.soc_w == pytest.approx(500 / 33 * 1.5**2)  # PowerGym scales soc_w by scale²
    assert load_system("123Bus_soc_s1.5").scenario.scale == 1.5
    assert load_system("34Bus").reward.weights.dis_w == pytest.approx(10 / 33)
    assert load_system("13Bus_cbat").devices.continuous_batteries


def test_sections_of_a_shipped_system() -> None:
    cfg = load_system("ANM6Easy")
    assert cfg.scenario.kind == "anm6easy"
    assert cfg.reward.anm == AnmReward(lam=100, clip_loss=1, clip_penalty=100, gamma=0.995)
    assert cfg.feeder.max_iterations == 500 and cfg.feeder.base_mva == 100.0
    assert cfg.devices.generators[0].name == "pv" and cfg.scenario.truncate_at_horizon
    cfg = load_system("13Bus_pv")
    assert cfg.scenario.kind == "solar" and cfg.feeder.base_mva == 1.0
    assert cfg.feeder.setup_commands[0].startswith("new generator.pv675")
    assert load_system("13Bus").scenario.kind == "loads"


def test_quirks_option() -> None:
    assert load_system("13Bus").quirks == Quirks.powergym()
    assert load_system("13Bus", quirks=False).quirks == Quirks()
    q = load_system("13Bus", quirks={"integer_kwh": True}).quirks
    assert q.integer_kwh and not q.tap_ratio_obs
    with pytest.raises(ConfigError, match="tap_obs"):
        load_system("13Bus", quirks={"tap_obs": True})
    with pytest.raises(ConfigError, match="quirks: expected None, a bool, a dict or Quirks"):
        load_system("13Bus", quirks="yes")


def test_overrides_and_unknown_override() -> None:
    cfg = load_system(
        "13Bus",
        horizon=12,
        divergence_penalty=50,
        profile_pool=(0, 300),
        tap_min=0.95,
        setup_commands=["set maxcontroliter=20"],
    )
    assert (cfg.scenario.horizon, cfg.reward.divergence_penalty, cfg.scenario.profile_pool) == (
        12,
        50.0,
        (0, 300),
    )
    assert cfg.devices.tap_min == 0.95 and cfg.feeder.setup_commands == ("set maxcontroliter=20",)
    with pytest.raises(
        ConfigError, match=r"system 13Bus: horizon: expected an integer >= 1, got 0"
    ):
        load_system("13Bus", horizon=0)
    with pytest.raises(ConfigError, match=r"unknown system option\(s\) \['horizn'\]; allowed: "):
        load_system("13Bus", horizn=12)
    with pytest.raises(ConfigError, match=r"\['base'\]"):
        load_system("13Bus", base="other")


def test_pv_setup_commands_run_before_the_callers() -> None:
    cfg = load_system("13Bus_pv", setup_commands=["set maxcontroliter=20"])
    assert (
        cfg.feeder.setup_commands[-1] == "set maxcontroliter=20"
        and len(cfg.feeder.setup_commands) == 6
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": 2.5}, r"horizon: expected an integer >= 1, got 2\.5"),
        ({"horizon": True}, r"horizon: expected an integer >= 1, got True"),
        ({"divergence_penalty": float("nan")}, r"divergence_penalty: expected .* >= 0, got nan"),
        ({"divergence_penalty": -5}, r"divergence_penalty: expected a finite number >= 0, got -5"),
        ({"reg_levels": 33.0}, r"reg_levels: expected an integer >= 2, got 33\.0"),
        ({"max_iterations": False}, r"max_iterations: expected an integer >= 1, got False"),
        ({"scenario": "wind"}, r"scenario: expected one of \['loads', 'anm6easy', 'solar'\]"),
        (
            {"horizon": MAX_PROFILE_POINTS + 1},
            rf"horizon: expected an integer <= {MAX_PROFILE_POINTS} \(OpenDSS .*got 2147483648",
        ),
    ],
)
def test_bad_override_values_are_config_errors(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        load_system("13Bus", **kwargs)
    with pytest.raises(ConfigError, match=match):
        marl_vvc.parallel_env("13Bus", **kwargs)


def test_scale_and_cbat_come_from_the_name() -> None:
    with pytest.raises(
        ConfigError, match=r"scale=2: .*'_s<x>' token.*expected a name such as '13Bus_s2'"
    ):
        marl_vvc.parallel_env("13Bus", scale=2)
    with pytest.raises(
        ConfigError, match=r"continuous_batteries=True: .*'_cbat' token.*'13Bus_cbat'"
    ):
        load_system("13Bus_soc", continuous_batteries=True)


def test_systems_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="13Bus"):
        load_system("13Bus", systems_dir=tmp_path)
    with pytest.raises(ConfigError, match="systems_dir applies to named systems"):
        resolve_system(circuit="x.dss", systems_dir=tmp_path)


# ---------------------------------------------------------------------------- YAML files
def _write(tmp_path: Path, body: str, name: str = "mine.yaml") -> str:
    path = tmp_path / name
    path.write_text(body)
    return str(path)


GOOD = """circuit: feeder.dss
capacitors: [c1]
reward: {power_w: 1, cap_w: 1/33, reg_w: 0, soc_w: 0, dis_w: 0}
"""


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (GOOD + "colour: red\n", r"unknown key\(s\) \['colour'\]"),
        (GOOD.replace("power_w: 1,", ""), r"missing key\(s\) \['power_w'\]"),
        (GOOD.replace("1/33", "a third"), "cap_w"),
        (GOOD + "horizon: 2.5\n", r"mine\.yaml: horizon: expected an integer >= 1, got 2\.5"),
        (GOOD + "horizon: true\n", r"horizon: expected an integer >= 1, got True"),
        (GOOD + "reg_levels: 33.0\n", r"reg_levels: expected an integer >= 2, got 33\.0"),
        (GOOD + "divergence_penalty: .nan\n", r"divergence_penalty: expected .* >= 0, got nan"),
        (GOOD + "divergence_penalty: -5\n", r"divergence_penalty: expected .* >= 0, got -5\.0"),
        (GOOD.replace("cap_w: 1/33", "cap_w: .nan"), r"reward\.cap_w: expected .* >= 0, got nan"),
        (GOOD.replace("cap_w: 1/33", "cap_w: -1"), r"reward\.cap_w: expected .* >= 0, got -1\.0"),
        (
            GOOD.replace("reward: {", "reward: {kind: gym, "),
            r"reward\.kind: expected 'anm' or 'powergym', got 'gym'",
        ),
        (
            GOOD + "batteries: [{name: b, max_kw: -1, pf: 0.9, max_kwh: 10, initial_kwh: 5}]\n",
            "max_kw",
        ),
        (
            GOOD + "batteries: [{name: b, max_kw: 1, pf: 0.9, max_kwh: 10, initial_kwh: 50}]\n",
            "initial_kwh",
        ),
        (GOOD + "v_min: 1.1\n", r"v_min: expected a voltage below v_max=1\.05, got 1\.1"),
        (
            "circuit: x.dss\nreward: {power_w: 1, cap_w: 0, reg_w: 0, soc_w: 0, dis_w: 0}\n",
            "no controllable device",
        ),
        ("- a list\n", "expected a mapping"),
        (GOOD + "feeder_data: ieee8500\n", "both circuit and feeder_data are given"),
    ],
)
def test_bad_config_files_name_the_key(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_system(_write(tmp_path, body))


def test_missing_reward_or_circuit_says_what_is_needed(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"missing key 'reward'; .*reward: \{power_w.*discover: true"
    ):
        load_system(_write(tmp_path, "circuit: feeder.dss\ncapacitors: [c1]\n"))
    with pytest.raises(ConfigError, match=r"missing key 'circuit'; expected circuit: <OpenDSS"):
        load_system(_write(tmp_path, "discover: true\n"))
    with pytest.raises(ConfigError, match=r"missing key 'reward'"):
        load_system(_write(tmp_path, "circuit: feeder.dss\ndiscover: false\n"))


def test_config_file_paths_resolve_relative_to_the_file(tmp_path: Path) -> None:
    cfg = load_system(_write(tmp_path, GOOD))
    assert cfg.feeder.circuit == tmp_path / "feeder.dss"
    assert cfg.devices.capacitors == ("c1",)
    with pytest.raises(ConfigError, match="not found"):
        load_system(str(tmp_path / "absent.yaml"))


def test_config_file_takes_scale_as_an_option(tmp_path: Path) -> None:
    # a file's name has no variant tokens: scale and continuous_batteries are plain options
    cfg = load_system(_write(tmp_path, GOOD), scale=2, continuous_batteries=True)
    assert cfg.scenario.scale == 2.0 and cfg.devices.continuous_batteries


def test_file_holds_every_section(tmp_path: Path) -> None:
    body = GOOD + (
        "powergym: {folder: Mine, master: m.dss}\n"
        "generators: [{name: PV, p_max: 1, q_max: 1, q_min: -1}]\n"
        "storage_units: [{name: des, p_max: 1, p_min: -1, q_max: 1, q_min: -1, soc_max: 2}]\n"
        "branch_ratings: {Line.L1: 3}\nstate_devices: [Slack, PV]\n"
        "scenario: anm6easy\ntruncate_at_horizon: true\nbase_mva: 10\nmax_iterations: 80\n"
    )
    cfg = load_system(_write(tmp_path, body))
    assert cfg.feeder.powergym == PowerGymLayout("Mine", "m.dss")
    assert cfg.devices.generators == (GeneratorConfig("pv", 1.0, 1.0, -1.0),)
    assert cfg.devices.storage_units == (StorageConfig("des", 1.0, -1.0, 1.0, -1.0, 2.0),)
    assert cfg.feeder.branch_ratings == (("line.l1", 3.0),)
    assert cfg.scenario.state_devices == ("slack", "pv")
    assert cfg.scenario.kind == "anm6easy" and cfg.scenario.truncate_at_horizon
    assert (cfg.feeder.base_mva, cfg.feeder.max_iterations) == (10.0, 80)


# ---------------------------------------------------------------------------- bring your own
BYO_KEYS = [
    ("max_iterations", "max_iterations: 75", ("feeder", "max_iterations"), 75),
    ("reg_levels", "reg_levels: 17", ("devices", "reg_levels"), 17),
    ("tap_min", "tap_min: 0.95", ("devices", "tap_min"), 0.95),
    ("tap_max", "tap_max: 1.05", ("devices", "tap_max"), 1.05),
    ("bat_levels", "bat_levels: 21", ("devices", "bat_levels"), 21),
    ("regulator_winding", "regulator_winding: 1", ("devices", "regulator_winding"), 1),
    ("horizon", "horizon: 12", ("scenario", "horizon"), 12),
    ("step_hours", "step_hours: 0.5", ("scenario", "step_hours"), 0.5),
    ("truncate", "truncate_at_horizon: true", ("scenario", "truncate_at_horizon"), True),
    ("v_min", "v_min: 0.9", ("reward", "v_min"), 0.9),
    ("v_max", "v_max: 1.1", ("reward", "v_max"), 1.1),
    ("penalty", "divergence_penalty: 7", ("reward", "divergence_penalty"), 7.0),
    ("base_mva", "base_mva: 10", ("feeder", "base_mva"), 10.0),
    ("quirks", "quirks: powergym", ("quirks",), Quirks.powergym()),
    (
        "powergym",
        "powergym: {folder: Mini, master: mini.dss}",
        ("feeder", "powergym"),
        PowerGymLayout("Mini", "mini.dss"),
    ),
    (
        "reward",
        "reward: {power_w: 2, cap_w: 0, reg_w: 0, soc_w: 0, dis_w: 0}",
        ("reward", "weights", "power_w"),
        2.0,
    ),
    ("anm reward", "reward: {kind: anm, lam: 5}", ("reward", "anm", "lam"), 5.0),
    ("capacitors", "capacitors: []", ("devices", "capacitors"), ()),
    ("regulators", "regulators: [VR]", ("devices", "regulators"), ("vr",)),
    (
        "branch_ratings",
        "branch_ratings: {line.trunk: 4}",
        ("feeder", "branch_ratings"),
        (("line.trunk", 4.0),),
    ),
    ("state_devices", "state_devices: [slack]", ("scenario", "state_devices"), ("slack",)),
]


@pytest.mark.parametrize(("key", "line", "where", "value"), BYO_KEYS, ids=[k[0] for k in BYO_KEYS])
def test_bring_your_own_yaml_honours_every_key(mini: Path, key, line, where, value) -> None:
    path = _write(mini.parent, f"circuit: mini.dss\ndiscover: true\n{line}\n", "byo.yaml")
    cfg = load_system(path)
    got = cfg
    for attr in where:
        got = getattr(got, attr)
    assert got == value
    assert cfg.name == cfg.base == "byo" and cfg.feeder.circuit == mini


def test_bring_your_own_yaml_defaults_and_overrides(mini: Path) -> None:
    path = _write(mini.parent, "circuit: mini.dss\ndiscover: true\ncapacitors: [cmid]\n", "b.yaml")
    cfg = load_system(path)
    assert cfg.reward.weights == DEFAULT_WEIGHTS and cfg.quirks == Quirks()
    assert cfg.feeder.setup_commands == ("storage.ess.enabled=no",)
    cfg = load_system(path, capacitors=[], regulators=["vr"], setup_commands=["set a=1"], horizon=6)
    assert (cfg.devices.capacitors, cfg.devices.regulators, cfg.scenario.horizon) == (
        (),
        ("vr",),
        6,
    )
    assert cfg.feeder.setup_commands == ("storage.ess.enabled=no", "set a=1")


def test_a_dss_path_as_the_system_means_circuit() -> None:
    master = Path(__file__).resolve().parents[2] / "circuits" / "ieee13" / "ieee13.dss"
    by_name = resolve_system(str(master), horizon=6)
    by_kwarg = resolve_system(circuit=str(master), horizon=6)
    assert by_name == by_kwarg and by_name.devices.capacitors == ("cap1", "cap2")
