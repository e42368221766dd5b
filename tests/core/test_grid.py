"""GridCore outcomes: voltage collapse counts as a failed power flow; dead buses do not."""

from __future__ import annotations

from pathlib import Path

import pytest

import marl_vvc
from marl_vvc.core.grid import COLLAPSE_FLOOR_PU

# A spur whose line is open at its source end: bus "far" is de-energised (reads 0 pu).
ISOLATED = """clear
new circuit.iso basekv=12.47 pu=1.0 phases=3 bus1=src
new line.trunk bus1=src bus2=a phases=3 r1=0.25 x1=0.5 r0=0.75 x0=1.5 length=2 units=km
new line.spur bus1=a bus2=far phases=3 r1=0.25 x1=0.5 r0=0.75 x0=1.5 length=1 units=km
new load.l1 bus1=a phases=3 kv=12.47 kw=800 kvar=300
new load.l2 bus1=far phases=3 kv=12.47 kw=100 kvar=30
new capacitor.c1 bus1=a phases=3 kv=12.47 kvar=300
open line.spur term=1
set voltagebases=[12.47]
calcv
"""


def test_an_impossible_load_is_a_voltage_collapse_not_a_solution() -> None:
    # OpenDSS "converges" at 1e5 x the load (constant-impedance loads at low voltage)
    env = marl_vvc.parallel_env("13Bus_s100000")
    _, infos = env.reset(seed=0)
    assert infos["capacitor_cap1"]["converged"] is False
    assert env.core.snapshot.bus_vmin.min() < COLLAPSE_FLOOR_PU
    _, rewards, terms, _, infos = env.step(env.hold_actions())
    info = infos["capacitor_cap1"]
    assert info["converged"] is False and info["failure"] == "collapse"
    assert "voltage collapse" in info["error"]
    assert info["failure_penalty"] == -100.0 == info["global_reward"]
    assert sum(rewards.values()) == pytest.approx(-100.0)
    assert all(terms.values()) and env.agents == []
    env.close()


def test_heavy_but_physical_load_is_not_a_collapse() -> None:
    env = marl_vvc.parallel_env("13Bus_s5")  # minimum voltage ~0.88 pu
    env.reset(seed=0)
    _, _, _, _, infos = env.step(env.hold_actions())
    assert infos["capacitor_cap1"]["converged"] is True
    env.close()


def test_de_energised_buses_do_not_count_as_collapse(tmp_path: Path) -> None:
    path = tmp_path / "iso.dss"
    path.write_text(ISOLATED)
    env = marl_vvc.parallel_env(circuit=str(path))
    _, infos = env.reset(seed=0)
    assert infos["capacitor_c1"]["converged"] is True
    assert env.core.snapshot.bus_vmin[env.bus_names.index("far")] == 0.0
    for _ in range(3):
        _, _, terms, _, infos = env.step(env.hold_actions())
        assert infos["capacitor_c1"]["converged"] is True and not terms["capacitor_c1"]
    env.close()
