"""Electrical influence of each device on each bus, measured once per circuit.

Finite-difference capability sensitivities from extra power flows at a reference operating
point (loads at their nominal value × the system's scale, capacitors closed, taps mid-range,
batteries idle). For device ``i`` the perturbation is the largest change its action can make
from that point:

- capacitor: open it;
- regulator: move its tap from the middle to the top of its range;
- battery: discharge at its rated kW.

Then ``S[i, b] = max over the nodes n of bus b of |V_n(perturbed_i) − V_n(reference)|`` and
``L[i] = |P_loss(perturbed_i) − P_loss(reference)|``. The split weights normalise each bus
column over agents, ``W[i, b] = S[i, b] / Σ_j S[j, b]`` (uniform where no device moves the
bus, e.g. the source bus), and likewise ``w[i] = L[i] / Σ_j L[j]``. A regulator therefore
carries the buses downstream of it, a capacitor or battery the buses around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marl_vvc.core.grid import GridCore

_EPS = 1e-4  # pu: a bus no device moves by this much is shared uniformly


@dataclass(frozen=True)
class Influence:
    """Sensitivities and split weights of a system's devices.

    Attributes:
        bus_sensitivity: ``(n_devices, n_buses)`` |ΔV| in pu, ``S`` above.
        loss_sensitivity: ``(n_devices,)`` |ΔP_loss| in kW, ``L`` above.
        bus_weights: ``(n_devices, n_buses)`` columns summing to 1, ``W`` above.
        loss_weights: ``(n_devices,)`` summing to 1, ``w`` above.
    """

    bus_sensitivity: np.ndarray
    loss_sensitivity: np.ndarray
    bus_weights: np.ndarray
    loss_weights: np.ndarray

    def neighbourhood(self, device: int, own_bus: int, k: int) -> np.ndarray:
        """The device's own bus followed by the ``k − 1`` buses it moves most."""
        order = np.argsort(-self.bus_sensitivity[device], kind="stable")
        rest = order[order != own_bus]
        return np.concatenate(([own_bus], rest[: max(k - 1, 0)])).astype(np.intp)


def normalise_columns(s: np.ndarray) -> np.ndarray:
    """Divide each column by its sum over rows; all-zero columns become uniform."""
    s = np.asarray(s, dtype=float)
    total = s.sum(axis=0)
    out = np.full_like(s, 1.0 / s.shape[0])
    live = total > _EPS
    out[:, live] = s[:, live] / total[live]
    return out


def measure_influence(core: GridCore, load_scale: float = 1.0) -> Influence:
    """Run the perturbation power flows on ``core``'s engine (call before ``reset``).

    Every load at ``load_scale``, every device at its neutral setpoint; then each device in
    turn at its probe setpoint (:meth:`~marl_vvc.core.devices.Device.perturb`).
    """
    eng = core.engine
    eng.set_load_profiles(np.full((len(core.load_names), 1), load_scale), core.step_hours * 3600.0)

    def solve() -> tuple[np.ndarray, float]:
        eng.solve(advance=False)
        return eng.node_vmag_pu()[eng.bus_node_order], eng.losses_kw()[0]

    eng.rewind()
    for dev in core.all_devices:
        dev.rest(eng)
    v0, loss0 = solve()

    n_dev = len(core.devices)
    dv = np.zeros((n_dev, len(v0)))
    dloss = np.zeros(n_dev)
    for i, dev in enumerate(core.devices):
        dev.perturb(eng)
        v, loss = solve()
        dev.rest(eng)
        dv[i] = np.abs(np.nan_to_num(v - v0))
        dloss[i] = abs(loss - loss0) if np.isfinite(loss - loss0) else 0.0
    sens = np.maximum.reduceat(dv, eng.bus_offsets, axis=1) if n_dev else dv
    loss_w = normalise_columns(dloss[:, None] / max(float(dloss.max()), 1e-12))[:, 0]
    return Influence(sens, dloss, normalise_columns(sens), loss_w)
