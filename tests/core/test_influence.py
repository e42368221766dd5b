"""Split weights on a tiny circuit where the answer is known by hand.

A very stiff source feeds two separate laterals. Capacitor ``ca`` sits at the end of lateral A,
``cb`` at the end of lateral B. Switching ``ca`` moves lateral A's voltages and (the source being
stiff) nothing measurable on lateral B, so ``W[ca, bus on A] = 1``, ``W[cb, bus on B] = 1``, and
the source bus, moved by neither, is shared uniformly. A regulator at the head of lateral A moves
every bus of A far more than the capacitor does, so it carries most of A.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from marl_vvc import parallel_env
from marl_vvc.core.influence import normalise_columns

DSS = """clear
new circuit.two basekv=12.47 pu=1.0 phases=3 bus1=src mvasc3=1e9 mvasc1=1e9
new line.a1 bus1=src bus2=a1 phases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 length=2 units=km
new line.a2 bus1=a1 bus2=a2 phases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 length=2 units=km
new line.b1 bus1=src bus2=b1 phases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 length=2 units=km
new line.b2 bus1=b1 bus2=b2 phases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 length=2 units=km
new load.la bus1=a2 phases=3 kv=12.47 kw=800 kvar=300
new load.lb bus1=b2 phases=3 kv=12.47 kw=800 kvar=300
new capacitor.ca bus1=a2 phases=3 kv=12.47 kvar=600
new capacitor.cb bus1=b2 phases=3 kv=12.47 kvar=600
set voltagebases=[12.47]
calcv
"""


def _system(tmp_path: Path, with_regulator: bool) -> str:
    dss = DSS
    regs = ""
    if with_regulator:
        dss = dss.replace("bus1=src bus2=a1", "bus1=ra bus2=a1")
        dss = dss.replace(
            "new line.b1",
            "new transformer.rega phases=3 windings=2 buses=[src ra] conns=[wye wye] "
            "kvs=[12.47 12.47] kvas=[5000 5000] xhl=0.01 %loadloss=0.0001\nnew line.b1",
        )
        regs = "regulators: [rega]\n"
    (tmp_path / "two.dss").write_text(dss)
    (tmp_path / "two.yaml").write_text(
        f"circuit: two.dss\ncapacitors: [ca, cb]\n{regs}"
        "reward: {power_w: 1, cap_w: 0, reg_w: 0, soc_w: 0, dis_w: 0}\n"
    )
    return str(tmp_path / "two.yaml")


def test_capacitors_carry_their_own_lateral(tmp_path: Path) -> None:
    env = parallel_env(_system(tmp_path, with_regulator=False))
    w = env.influence.bus_weights
    bus = {b: i for i, b in enumerate(env.core.bus_names)}
    ca, cb = 0, 1
    for b in ("a1", "a2"):
        assert w[ca, bus[b]] == pytest.approx(1.0, abs=1e-3)
    for b in ("b1", "b2"):
        assert w[cb, bus[b]] == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(w[:, bus["src"]], [0.5, 0.5])
    # the far end of a lateral moves more than its middle
    s = env.influence.bus_sensitivity
    assert s[ca, bus["a2"]] > s[ca, bus["a1"]] > 0
    # losses: the two laterals are identical, so the capacitors share them equally
    np.testing.assert_allclose(env.influence.loss_weights, [0.5, 0.5], atol=1e-3)


def test_upstream_regulator_carries_its_downstream_buses(tmp_path: Path) -> None:
    env = parallel_env(_system(tmp_path, with_regulator=True))
    assert env.possible_agents == ["capacitor_ca", "capacitor_cb", "regulator_rega"]
    w = env.influence.bus_weights
    bus = {b: i for i, b in enumerate(env.core.bus_names)}
    for b in ("ra", "a1", "a2"):
        assert w[2, bus[b]] > 0.7, b  # a tap moves the whole lateral by up to 10 %
        assert w[1, bus[b]] == pytest.approx(0.0, abs=1e-3)  # the other lateral's capacitor
    for b in ("b1", "b2"):
        assert w[2, bus[b]] == pytest.approx(0.0, abs=1e-3)
        assert w[1, bus[b]] == pytest.approx(1.0, abs=1e-3)


def test_normalise_columns_by_hand() -> None:
    s = np.array([[3.0, 0.0, 0.0], [1.0, 2.0, 0.0]])
    np.testing.assert_allclose(normalise_columns(s), [[0.75, 0.0, 0.5], [0.25, 1.0, 0.5]])
