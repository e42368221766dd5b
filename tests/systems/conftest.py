"""Fixtures of the systems tests: a small feeder with one device of each discoverable kind."""

from __future__ import annotations

from pathlib import Path

import pytest

FEEDER = """clear
new circuit.mini basekv=12.47 pu=1.02 phases=3 bus1=src
new transformer.vr phases=3 windings=2 buses=[src hub] conns=[wye wye] kvs=[12.47 12.47]
~ kvas=[6000 6000] xhl=0.01 %loadloss=0.0001
new regcontrol.vrc transformer=vr winding=2 vreg=122 band=2 ptratio=60
new line.trunk bus1=hub bus2=mid phases=3 r1=0.25 x1=0.5 r0=0.75 x0=1.5 length=4 units=km
new line.lat bus1=mid bus2=end.1 phases=1 r1=0.4 x1=0.6 r0=0.4 x0=0.6 length=3 units=km
new load.big bus1=mid phases=3 kv=12.47 kw=2500 kvar=900
new load.tail bus1=end.1 phases=1 kv=7.2 kw=400 kvar=150
new capacitor.cmid bus1=mid phases=3 kv=12.47 kvar=900
new storage.ess bus1=mid phases=3 kv=12.47 kwrated=500 kwhrated=2000 %stored=50 pf=1
new generator.pv bus1=end.1 phases=1 kv=7.2 kw=50 kva=60 pf=1 model=1
set voltagebases=[12.47]
calcv
"""


@pytest.fixture()
def mini(tmp_path: Path) -> Path:
    path = tmp_path / "mini.dss"
    path.write_text(FEEDER)
    return path
