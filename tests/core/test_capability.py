"""Closed-form PQ-capability projections (marl_vvc.core.capability) against Gym-ANM.

* Replay: every recorded ANM6-Easy action (3 seeds, 263 steps, 789 projections of which 378
  move the set-point) goes through our projection with the step's available power and the SoC
  before the step; the applied P/Q match the recorded ones to 5.2e-8 MW/MVAr (Gym-ANM solves
  the projection with OSQP, whose answer is that far from the exact one) and the SoC to 1.4e-14
  MWh. Seed 3's step 70 (power-flow divergence) still projected its set-points and is included;
  the frozen steps after it are not.
* Brute force: points around every vertex and edge of each region (PV, wind at several
  available powers, DES at several states of charge) against the closest feasible point of a
  dense grid (4e-3 p.u., refined three times down to 4e-6 around the winner): ours is never
  farther than any grid point, and the brute-force winner lies where the projection theorem
  puts it.
* Properties (hypothesis), on ANM6-Easy's devices and on random valid capability regions: the
  result is feasible, a feasible input is returned unchanged, the projection is idempotent,
  and it satisfies the variational inequality of a Euclidean projection against every vertex.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from conftest import GYM_ANM_TRACES, require
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from marl_vvc.core.capability import (
    GeneratorCapability,
    StorageCapability,
    is_feasible,
    project_onto_halfplanes,
)

BASE_MVA = 100.0
DT = 0.25

# ANM6-Easy's devices from the paper's Table 8 (MW / MVAr / MWh).
PV = GeneratorCapability.from_physical(
    base_mva=BASE_MVA, p_max=30, q_max=30, q_min=-30, p_plus=20, q_plus=15, q_minus=-15
)
WIND = GeneratorCapability.from_physical(
    base_mva=BASE_MVA, p_max=50, q_max=50, q_min=-50, p_plus=35, q_plus=20, q_minus=-20
)
DES = StorageCapability.from_physical(
    base_mva=BASE_MVA,
    p_max=50,
    p_min=-50,
    q_max=50,
    q_min=-50,
    p_plus=30,
    p_minus=-30,
    q_plus=25,
    q_minus=-25,
    soc_max=100,
    soc_min=0,
    eff=0.9,
)


# ---------------------------------------------------------------------------- helpers
def unit(g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same constraints with unit normals (violations become distances)."""
    n = np.hypot(g[:, 0], g[:, 1])  # no overflow for steep lines (|τ| up to 1e308)
    return g / n[:, None], h / n


def vertices(g: np.ndarray, h: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Vertices of ``{x : g x <= h}`` by brute force over all pairs of lines."""
    g, h = unit(g, h)
    pts = []
    for i in range(len(h)):
        for j in range(i + 1, len(h)):
            a = g[[i, j]]
            if abs(np.linalg.det(a)) < 1e-12:
                continue
            x = np.linalg.solve(a, h[[i, j]])
            if np.all(g @ x - h <= tol):
                pts.append(x)
    return np.unique(np.round(np.asarray(pts), 12), axis=0)


def brute_force(x0: np.ndarray, g: np.ndarray, h: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Closest feasible point of a dense grid, refined on a finer grid around the winner."""
    best = grid[np.argmin(np.sum((grid - x0) ** 2, axis=1))]
    for step in (4e-4, 4e-5, 4e-6):
        ax = step * np.arange(-20, 21)  # includes an exact 0: degenerate regions keep points
        fine = best + np.stack(np.meshgrid(ax, ax), axis=-1).reshape(-1, 2)
        fine = fine[np.all(fine @ g.T - h <= 1e-12, axis=1)]
        best = fine[np.argmin(np.sum((fine - x0) ** 2, axis=1))]
    return best


def feasible_grid(g: np.ndarray, h: np.ndarray, step: float = 4e-3) -> np.ndarray:
    v = vertices(g, h)
    lo, hi = v.min(axis=0), v.max(axis=0)
    axes = [np.arange(lo[k], hi[k] + step / 2, step) for k in range(2)]
    pts = np.stack(np.meshgrid(*axes), axis=-1).reshape(-1, 2)
    pts = np.concatenate((pts, v))  # the vertices themselves are feasible grid points too
    return pts[np.all(pts @ g.T - h <= 1e-12, axis=1)]


def probe_points(g: np.ndarray, h: np.ndarray) -> list[np.ndarray]:
    """Vertices, edge midpoints, and points pushed out of them in 16 directions."""
    v = vertices(g, h)
    centre = v.mean(axis=0)
    order = np.argsort(np.arctan2(v[:, 1] - centre[1], v[:, 0] - centre[0]))
    v = v[order]
    mids = (v + np.roll(v, -1, axis=0)) / 2
    anchors = np.concatenate((v, mids))
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    dirs = np.stack((np.cos(angles), np.sin(angles)), axis=1)
    pts = list(anchors)
    for a in anchors:
        for d in dirs:
            for r in (1e-3, 0.05, 0.4):
                pts.append(a + r * d)
    return pts


def check_projection(x0: np.ndarray, g: np.ndarray, h: np.ndarray, x: np.ndarray) -> None:
    """Feasible, and no vertex gives a descent direction (variational inequality)."""
    g, h = unit(g, h)
    scale = 1.0 + np.max(np.abs(h)) + np.max(np.abs(x0))
    assert np.all(g @ x - h <= 1e-11 * scale), (x0, x, g @ x - h)
    v = vertices(g, h, tol=1e-9 * scale)
    assert np.all((v - x) @ (x0 - x) <= 1e-9 * scale * (1.0 + np.linalg.norm(x0 - x)))


def _network() -> dict[str, Any]:
    return json.loads(require(GYM_ANM_TRACES / "anm6easy_network.json").read_text())


# ---------------------------------------------------------------------------- parameters
def test_parameters_match_gym_anm_derived_values() -> None:
    derived = _network()["derived_device_params_pu"]
    for dev, cap in (("2", PV), ("4", WIND)):
        d = derived[dev]
        assert cap.slopes == (d["tau_1"], d["rho_1"], d["tau_2"], d["rho_2"])
        assert (cap.p_min, cap.p_max, cap.q_min, cap.q_max) == (
            d["p_min"],
            d["p_max"],
            d["q_min"],
            d["q_max"],
        )
    d = derived["6"]
    names = ("tau_1", "rho_1", "tau_2", "rho_2", "tau_3", "rho_3", "tau_4", "rho_4")
    assert DES.slopes == tuple(d[n] for n in names)
    assert (DES.soc_min, DES.soc_max, DES.eff) == (d["soc_min"], d["soc_max"], d["eff"])


def test_defaults_mean_no_sloped_corners() -> None:
    box = GeneratorCapability.from_physical(base_mva=10.0, p_max=5.0, q_max=2.0, q_min=-1.0)
    assert box.slopes == (0.0, 0.2, 0.0, -0.1)
    assert box.project(1.0, 1.0, p_pot=0.3) == (0.3, 0.2)
    des = StorageCapability.from_physical(
        base_mva=10.0, p_max=5.0, p_min=-5.0, q_max=2.0, q_min=-2.0, soc_max=10.0
    )
    assert des.slopes == (0.0, 0.2, 0.0, -0.2, 0.0, -0.2, 0.0, 0.2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p_max": 0.3, "q_max": 0.3, "q_min": -0.3, "p_plus": 0.4, "q_plus": 0.1, "q_minus": -0.1},
        {"p_max": 0.3, "q_max": 0.3, "q_min": -0.3, "p_plus": 0.2, "q_plus": 0.4, "q_minus": 0.0},
        {"p_max": 0.3, "q_max": 0.3, "q_min": -0.3, "p_plus": 0.2, "q_plus": 0.1, "q_minus": 0.2},
        {"p_max": 0.3, "q_max": 0.3, "q_min": -0.3, "p_plus": 0.2, "q_plus": 0.1, "q_minus": -0.1,
         "p_min": -0.1},
        {"p_max": float("nan"), "q_max": 0.3, "q_min": -0.3, "p_plus": 0.2, "q_plus": 0.1,
         "q_minus": -0.1},
    ],
)  # fmt: skip
def test_invalid_generator_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        GeneratorCapability(**kwargs)


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="finite"):
        PV.project(float("nan"), 0.0, 0.2)
    with pytest.raises(ValueError, match="finite"):
        DES.project(0.0, float("inf"), 0.5, DT)
    with pytest.raises(ValueError, match="delta_t"):
        DES.project(0.0, 0.0, 0.5, 0.0)
    with pytest.raises(ValueError, match="empty"):  # SoC far above SoC_max: must charge > P_min
        DES.project(0.0, 0.0, 5.0, DT)
    with pytest.raises(ValueError):
        StorageCapability(p_max=0.5, p_min=-0.5, q_max=0.5, q_min=-0.5, p_plus=0.3,
                          p_minus=-0.3, q_plus=0.2, q_minus=-0.2, soc_max=1.0, eff=1.5)  # fmt: skip


# ---------------------------------------------------------------------------- Gym-ANM replay
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recorded_trajectory_projections(seed: int) -> None:
    path = require(GYM_ANM_TRACES / f"anm6easy_traj_seed{seed}.json")
    traj = json.loads(path.read_text())
    soc = traj["initial"]["des_soc_MWh"][0] / BASE_MVA
    worst_pq = worst_soc = 0.0
    n_steps = n_moved = 0
    for step in traj["steps"]:
        if step["already_terminal_before_step"]:
            break  # frozen terminal state: no projection ran
        a = np.asarray(step["action"]) / BASE_MVA  # [P2, P4, Q2, Q4, P6, Q6]
        p_pot = np.asarray(step["gen_p_max_MW"]) / BASE_MVA
        applied = {
            2: PV.project(a[0], a[2], p_pot[0]),
            4: WIND.project(a[1], a[3], p_pot[1]),
            6: DES.project(a[4], a[5], soc, DT),
        }
        for dev, (p, q) in applied.items():
            worst_pq = max(
                worst_pq,
                abs(p * BASE_MVA - step["dev_p_MW"][dev]),
                abs(q * BASE_MVA - step["dev_q_MVAr"][dev]),
            )
        n_moved += sum((p, q) != (x, y) for (p, q), (x, y) in zip(
            applied.values(), ((a[0], a[2]), (a[1], a[3]), (a[4], a[5])), strict=True
        ))  # fmt: skip
        new_soc = DES.next_soc(soc, applied[6][0], DT)
        worst_soc = max(worst_soc, abs(new_soc * BASE_MVA - step["des_soc_MWh"][0]))
        soc = step["des_soc_MWh"][0] / BASE_MVA
        n_steps += 1
    assert n_steps == (96 if seed != 3 else 71)
    assert n_moved > n_steps  # most random actions are outside the regions
    assert worst_pq < 1e-6, worst_pq  # measured 5.2e-8 MW (OSQP's inexactness)
    assert worst_soc < 1e-9, worst_soc  # measured 1.4e-14 MWh


def test_next_soc_rules() -> None:
    # Charging stores η·|P|·Δt; discharging draws P·Δt/η; clipped to [SoC_min, SoC_max].
    assert DES.next_soc(0.5, -0.4, DT) == pytest.approx(0.5 + 0.9 * 0.4 * DT, abs=1e-15)
    assert DES.next_soc(0.5, 0.4, DT) == pytest.approx(0.5 - 0.4 * DT / 0.9, abs=1e-15)
    assert DES.next_soc(0.99, -0.5, DT) == 1.0
    assert DES.next_soc(0.01, 0.5, DT) == 0.0
    # The projection's SoC limits are exactly what the update can absorb.
    _, p_hi = DES.power_limits(0.02, DT)
    assert DES.next_soc(0.02, p_hi, DT) == pytest.approx(0.0, abs=1e-15)
    assert DES.project(0.5, 0.0, 0.02, DT) == pytest.approx((p_hi, 0.0), abs=1e-15)
    p_lo, _ = DES.power_limits(0.999, DT)
    assert DES.project(-0.5, 0.0, 0.999, DT) == pytest.approx((p_lo, 0.0), abs=1e-15)
    assert DES.next_soc(0.999, p_lo, DT) == pytest.approx(1.0, abs=1e-15)


# ---------------------------------------------------------------------------- brute force
REGIONS = (
    [(f"pv p_pot={x}", *PV.halfplanes(x)) for x in (0.0, 0.1, 0.2, 0.25, 0.3, 0.45)]
    + [(f"wind p_pot={x}", *WIND.halfplanes(x)) for x in (0.0, 0.2, 0.35, 0.42, 0.5, 0.7)]
    + [(f"des soc={s}", *DES.halfplanes(s, DT)) for s in (0.0, 0.005, 0.02, 0.5, 0.99, 1.0)]
)


@pytest.mark.parametrize(("name", "g", "h"), REGIONS, ids=[r[0] for r in REGIONS])
def test_corners_and_edges_against_brute_force(name: str, g: np.ndarray, h: np.ndarray) -> None:
    grid = feasible_grid(g, h)
    for x0 in probe_points(g, h):
        x = np.array(project_onto_halfplanes(x0[0], x0[1], g, h))
        check_projection(x0, g, h, x)
        # Never farther than any feasible grid point, coarse or refined ...
        d2 = np.sum((x0 - x) ** 2)
        assert d2 <= np.min(np.sum((grid - x0) ** 2, axis=1)) + 1e-14, (name, x0, x)
        best = brute_force(x0, g, h, grid)
        best_d2 = np.sum((x0 - best) ** 2)
        assert d2 <= best_d2 + 1e-14, (name, x0, x, best)
        # ... and where the brute force lands: for a projection x* onto a convex set,
        # |y - x*|² <= |y - x0|² - |x* - x0|² for every feasible y (here y = best).
        assert np.sum((best - x) ** 2) <= best_d2 - d2 + 1e-12, (name, x0, x, best)
        assert np.linalg.norm(best - x) < 2e-3, (name, x0, x, best)


def test_degenerate_regions() -> None:
    # No sun: the PV region is the segment p = 0, |q| <= 0.3.
    assert PV.project(0.2, 0.1, 0.0) == (0.0, 0.1)
    assert PV.project(0.2, 0.9, 0.0) == (0.0, 0.3)
    assert PV.project(-1.0, -0.9, 0.0) == (0.0, -0.3)
    # Empty DES with a full battery is impossible; an empty one may only charge.
    assert DES.power_limits(0.0, DT)[1] == 0.0
    assert DES.project(0.4, 0.1, 0.0, DT) == (0.0, 0.1)
    # A single point: a box with p_min = p_max and q_min = q_max.
    point = GeneratorCapability(
        p_max=0.1, q_max=0.0, q_min=0.0, p_plus=0.1, q_plus=0.0, q_minus=0.0, p_min=0.1
    )
    assert point.project(3.0, -2.0, 0.5) == pytest.approx((0.1, 0.0), abs=1e-15)


def test_scale_invariance_mw_vs_pu() -> None:
    pv_mw = GeneratorCapability.from_physical(
        base_mva=1.0, p_max=30, q_max=30, q_min=-30, p_plus=20, q_plus=15, q_minus=-15
    )
    rng = np.random.default_rng(3)
    for _ in range(200):
        p, q = rng.uniform(-40, 40, 2)
        p_pot = rng.uniform(0, 40)
        a = np.array(pv_mw.project(p, q, p_pot))
        b = np.array(PV.project(p / BASE_MVA, q / BASE_MVA, p_pot / BASE_MVA)) * BASE_MVA
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- properties
coord = st.floats(-2.0, 2.0, allow_nan=False)
unit_interval = st.floats(0.0, 1.0, allow_subnormal=False)
signed_unit = st.floats(-1.0, 1.0, allow_subnormal=False)


@st.composite
def generators(draw: st.DrawFn) -> GeneratorCapability:
    p_max = draw(unit_interval)
    p_plus = draw(unit_interval) * p_max
    p_min = draw(st.sampled_from([0.0, draw(unit_interval) * p_plus]))
    q = sorted(draw(st.lists(signed_unit, min_size=4, max_size=4)))
    try:
        return GeneratorCapability(
            p_max=p_max,
            q_max=q[3],
            q_min=q[0],
            p_plus=p_plus,
            q_plus=q[2],
            q_minus=q[1],
            p_min=p_min,
        )
    except ValueError:  # slopes overflow when p_max - p_plus is ~1e-308
        assume(False)
        raise


@st.composite
def storages(draw: st.DrawFn) -> StorageCapability:
    p_max = draw(unit_interval)
    p_min = -draw(unit_interval)
    q = sorted(draw(st.lists(signed_unit, min_size=4, max_size=4)))
    soc_max = draw(st.floats(0.0, 2.0, allow_subnormal=False))
    try:
        return StorageCapability(
            p_max=p_max,
            p_min=p_min,
            q_max=q[3],
            q_min=q[0],
            p_plus=draw(unit_interval) * p_max,
            p_minus=draw(unit_interval) * p_min,
            q_plus=q[2],
            q_minus=q[1],
            soc_max=soc_max,
            soc_min=draw(unit_interval) * soc_max,
            eff=draw(st.floats(0.05, 1.0)),
        )
    except ValueError:
        assume(False)
        raise


def _properties(x0: np.ndarray, g: np.ndarray, h: np.ndarray) -> None:
    x = np.array(project_onto_halfplanes(x0[0], x0[1], g, h))
    check_projection(x0, g, h, x)
    # Idempotent.
    again = np.array(project_onto_halfplanes(x[0], x[1], g, h))
    scale = 1.0 + np.max(np.abs(unit(g, h)[1])) + np.max(np.abs(x0))
    assert np.max(np.abs(again - x)) <= 1e-14 * scale
    # A feasible input is returned bit for bit.
    if is_feasible(x0[0], x0[1], g, h):
        assert tuple(x) == (x0[0], x0[1])
    # Any feasible point (convex combination of vertices) is unchanged.
    v = vertices(g, h)
    inside = v.mean(axis=0)
    if is_feasible(inside[0], inside[1], g, h):
        assert project_onto_halfplanes(inside[0], inside[1], g, h) == tuple(inside)


@settings(max_examples=300, deadline=None)
@given(p=coord, q=coord, p_pot=st.floats(-0.2, 0.8), wind=st.booleans())
def test_anm6_generators_properties(p: float, q: float, p_pot: float, wind: bool) -> None:
    g, h = (WIND if wind else PV).halfplanes(p_pot)
    _properties(np.array([p, q]), g, h)


@settings(max_examples=300, deadline=None)
@given(p=coord, q=coord, soc=st.floats(0.0, 1.0), dt=st.sampled_from([0.25, 1.0, 0.01]))
def test_anm6_des_properties(p: float, q: float, soc: float, dt: float) -> None:
    g, h = DES.halfplanes(soc, dt)
    _properties(np.array([p, q]), g, h)


@settings(max_examples=300, deadline=None)
@given(cap=generators(), p=coord, q=coord, p_pot=st.floats(-0.5, 1.5))
def test_random_generator_regions(
    cap: GeneratorCapability, p: float, q: float, p_pot: float
) -> None:
    g, h = cap.halfplanes(p_pot)
    _properties(np.array([p, q]), g, h)


@settings(max_examples=300, deadline=None)
@given(cap=storages(), p=coord, q=coord, u=st.floats(0.0, 1.0), dt=st.floats(0.01, 2.0))
def test_random_storage_regions(
    cap: StorageCapability, p: float, q: float, u: float, dt: float
) -> None:
    soc = cap.soc_min + u * (cap.soc_max - cap.soc_min)
    assume(cap.soc_min <= soc <= cap.soc_max)
    g, h = cap.halfplanes(soc, dt)
    _properties(np.array([p, q]), g, h)
    x = cap.project(p, q, soc, dt)
    # The applied power never drives the SoC outside its limits (before clipping).
    new = soc - dt * cap.eff * x[0] if x[0] <= 0 else soc - dt * x[0] / cap.eff
    assert cap.soc_min - 1e-9 <= new <= cap.soc_max + 1e-9
