"""Hardening: fuzzed input, malformed circuits, repeated divergence, read-only installs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, run_python
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marl_vvc import (
    CircuitLoadError,
    ConfigError,
    InvalidActionError,
    load_system,
    make_env,
    parallel_env,
)

_ENV = parallel_env("13Bus_cbat")
_ENV.reset(seed=0)

values = st.one_of(
    st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.none(),
    st.text(max_size=3),
    st.booleans(),
    st.lists(st.floats(-2, 2, width=32), max_size=3).map(lambda x: np.array(x, dtype=np.float32)),
)
names = st.sampled_from([*_ENV.possible_agents, "capacitor_cap9", "battery", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.dictionaries(names, values, max_size=8))
def test_fuzzed_joint_actions_step_or_raise_typed_and_leave_state(actions) -> None:
    env = _ENV
    if not env.agents:
        env.reset(seed=1)
    core = env.core
    before = (
        core.t,
        core.state_vector(),
        core.fleet["battery"].kwh,
        core.fleet["regulator"].index,
        core.fleet["capacitor"].status,
    )
    try:
        env.step(actions)
    except InvalidActionError:
        after = (
            core.t,
            core.state_vector(),
            core.fleet["battery"].kwh,
            core.fleet["regulator"].index,
            core.fleet["capacitor"].status,
        )
        for x, y in zip(before, after, strict=True):
            np.testing.assert_array_equal(x, y)
        return
    assert core.t == before[0] + 1


tokens = st.sampled_from(["cbat", "soc", "s1.5", "s15", "s", "x", "s-1", "cbat", "S2", "s0.0"])


@settings(max_examples=80, deadline=None)
@given(
    base=st.sampled_from(["13Bus", "34Bus", "123Bus", "13bus", "Bus"]),
    parts=st.lists(tokens, max_size=4),
)
def test_fuzzed_variant_names(base, parts) -> None:
    name = "_".join([base, *parts])
    try:
        cfg = load_system(name)
    except ConfigError as exc:
        assert str(exc)
        return
    assert cfg.name == name and cfg.scenario.scale > 0


keys = st.sampled_from(
    [
        "circuit",
        "capacitors",
        "reward",
        "horizon",
        "v_min",
        "batteries",
        "regulators",
        "step_hours",
        "colour",
        "quirks",
        "tap_max",
    ]
)
yaml_values = st.one_of(
    st.integers(-5, 50),
    st.floats(-2, 2),
    st.text(max_size=5),
    st.lists(st.integers(0, 3), max_size=2),
    st.none(),
    st.booleans(),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(extra=st.dictionaries(keys, yaml_values, max_size=4))
def test_fuzzed_config_files_raise_config_errors_only(tmp_path: Path, extra) -> None:
    import yaml

    data = {
        "circuit": "feeder.dss",
        "capacitors": ["c1"],
        "reward": {"power_w": 1, "cap_w": 0.1, "reg_w": 0, "soc_w": 0, "dis_w": 0},
        **extra,
    }
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        load_system(str(path))
    except ConfigError:
        pass


def test_missing_and_malformed_circuits_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "master.dss").write_text("clear\nnew circuit.x basekv=12.47\nredirect lines.dss\n")
    (tmp_path / "lines.dss").write_text(
        "new line.l1 bus1=a bus2=b length=1\nnew line.l2 bus1=b bus2=c lenght=1\n"
    )
    cfg = tmp_path / "sys.yaml"
    cfg.write_text(
        "circuit: master.dss\ncapacitors: [c1]\n"
        "reward: {power_w: 1, cap_w: 0, reg_w: 0, soc_w: 0, dis_w: 0}\n"
    )
    with pytest.raises(CircuitLoadError) as err:
        parallel_env(str(cfg))
    msg = str(err.value)
    assert "lenght" in msg and "lines.dss" in msg and "line: 2" in msg
    cfg.write_text(cfg.read_text().replace("master.dss", "absent.dss"))
    with pytest.raises(CircuitLoadError, match=r"absent\.dss"):
        parallel_env(str(cfg))


def test_unknown_elements_in_config_are_named(tmp_path: Path) -> None:
    src = REPO_ROOT / "circuits" / "ieee13"
    cfg = tmp_path / "sys.yaml"
    for devices, missing in [
        ("capacitors: [cap1, cap7]", "Capacitor.cap7"),
        ("regulators: [reg1, regX]", "Transformer.regx"),
        (
            "batteries: [{name: batt9, max_kw: 1, pf: 1, max_kwh: 1, initial_kwh: 1}]",
            "Generator.batt9",
        ),
    ]:
        cfg.write_text(
            f"circuit: {src / 'ieee13.dss'}\n{devices}\n"
            "reward: {power_w: 1, cap_w: 0, reg_w: 0, soc_w: 0, dis_w: 0}\n"
        )
        with pytest.raises(CircuitLoadError, match=missing.replace(".", r"\.")):
            make_env(str(cfg))


TINY_DSS = """clear
new circuit.tiny basekv=12.47 pu=1.0 phases=3 bus1=src
new line.l1 bus1=src bus2=b1 phases=3 r1=0.5 x1=1.0 r0=1.5 x0=3 length=10 units=km
new load.ld1 bus1=b1 phases=3 kv=12.47 kw=1000 kvar=300 model=1 vminpu=0.0 vmaxpu=2.0
new capacitor.c1 bus1=b1 phases=3 kv=12.47 kvar=300
set voltagebases=[12.47]
calcv
"""


_CYCLES = """
import gc, os, sys
from marl_vvc import make_env

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

env = make_env(sys.argv[1])
collapse = {"load_multipliers": {"ld1": [1.0, 80.0]}}
healthy = {"load_multipliers": {"ld1": [1.0, 1.0]}}

def cycle():
    env.reset(seed=0, options=collapse)
    _, reward, terminated, _, info = env.step([1])
    assert terminated and not info["converged"] and reward == -100.0, info
    _, info = env.reset(seed=0, options=healthy)
    assert info["converged"], info
    _, _, terminated, _, info = env.step([1])
    assert info["converged"] and not terminated, info

for _ in range(100):  # warm up
    cycle()
gc.collect()
start = rss_mb()
for _ in range(1000):
    cycle()
gc.collect()
print(rss_mb() - start)
"""


def test_thousand_diverging_episodes_leave_memory_flat(tmp_path: Path) -> None:
    # In a process of its own: in pytest's process, other tests' garbage and the collector's
    # timing moved RSS by megabytes, which made this test flaky on a loaded machine.
    (tmp_path / "tiny.dss").write_text(TINY_DSS)
    (tmp_path / "tiny.yaml").write_text(
        "circuit: tiny.dss\ncapacitors: [c1]\nhorizon: 2\n"
        "reward: {power_w: 1, cap_w: 0, reg_w: 0, soc_w: 0, dis_w: 0}\n"
    )
    proc = run_python(_CYCLES, str(tmp_path / "tiny.yaml"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split()[-1]) < 5.0  # MB over 1,000 diverging episodes


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if "__pycache__" not in p.parts
    }


def test_runs_from_a_read_only_install(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--target",
            str(target),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
    )
    pkg = target / "marl_vvc"
    assert (pkg / "circuits" / "ieee13" / "ieee13.dss").is_file()
    assert (pkg / "configs" / "13Bus.yaml").is_file()
    subprocess.run(["chmod", "-R", "a-w", str(target)], check=True)
    before = _tree(target)
    code = (
        "import marl_vvc, numpy as np\n"
        f"assert marl_vvc.__file__.startswith({str(pkg)!r})\n"
        "env = marl_vvc.parallel_env('13Bus')\n"
        "env.reset(seed=0)\n"
        "while env.agents:\n"
        "    env.step({a: env.action_space(a).sample() for a in env.agents})\n"
        "single = marl_vvc.make_env('13Bus_cbat', render_mode='rgb_array')\n"
        "single.reset(seed=0); single.step(single.action_space.sample()); single.render()\n"
        "print('episode ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-B", "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            "PYTHONPATH": str(target),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "MPLCONFIGDIR": str(tmp_path / "mpl"),
        },
    )
    subprocess.run(["chmod", "-R", "u+w", str(target)], check=True)
    assert done.returncode == 0, done.stderr
    assert "episode ok" in done.stdout
    assert _tree(target) == before  # nothing written into the installed package
