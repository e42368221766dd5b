"""Configuration elements: reward weights, PowerGym quirks and one entry per device.

These are the values the sections of :class:`~marl_vvc.systems.config.SystemConfig` hold.
Each validates itself on construction and raises :class:`~marl_vvc.errors.ConfigError`
naming the field, the value and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from marl_vvc.errors import ConfigError
from marl_vvc.systems.checks import real


@dataclass(frozen=True)
class RewardWeights:
    """PowerGym reward weights (each a finite number >= 0).

    Attributes:
        power_w: Weight of the loss ratio term.
        cap_w: Cost per capacitor status change.
        reg_w: Cost per regulator tap step moved.
        soc_w: Cost per unit of |SoC - initial SoC| at the last step.
        dis_w: Cost per unit of discharge (fraction of rated kW).
        curtail_w: Cost per unit of PV curtailment (fraction of the inverter rating).
    """

    power_w: float
    cap_w: float
    reg_w: float
    soc_w: float
    dis_w: float
    curtail_w: float = 0.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = real(f"reward.{item.name}", getattr(self, item.name), non_negative=True)
            object.__setattr__(self, item.name, value)


@dataclass(frozen=True)
class Quirks:
    """PowerGym behaviours kept for number-for-number parity (all on for PowerGym systems).

    Attributes:
        tap_ratio_obs: Observe the regulator tap *ratio* (PowerGym) instead of the tap index.
        taps_at_max_on_reset: Start every episode with all taps at the top (1.1) instead of the
            middle (1.0).
        battery_kvar_over_pf: Battery kvar = kW / pf (PowerGym) instead of kW·tan(acos pf).
        integer_kwh: Round stored energy to whole kWh after every step.
        reset_uses_last_multiplier: OpenDSS daily-mode timing: the reset solve uses the day's
            last multiplier and step ``t`` uses multiplier ``t - 1``. Off: reset uses
            multiplier 0 and step ``t`` uses multiplier ``t``.
    """

    tap_ratio_obs: bool = False
    taps_at_max_on_reset: bool = False
    battery_kvar_over_pf: bool = False
    integer_kwh: bool = False
    reset_uses_last_multiplier: bool = False

    @classmethod
    def powergym(cls) -> Quirks:
        """Every PowerGym quirk on."""
        return cls(True, True, True, True, True)


@dataclass(frozen=True)
class BatteryPlacement:
    """Where to add a battery's Generator when the circuit file does not declare it.

    Attributes:
        bus1: Bus with nodes, e.g. ``l3160098.1.2.3``.
        kv: Rated kV (line-to-line for 2- and 3-phase units, as OpenDSS reads it).
        phases: Number of phases.
        conn: ``wye`` or ``delta``.
        model: OpenDSS Generator model (1 = constant P and Q).
    """

    bus1: str
    kv: float
    phases: int = 1
    conn: str = "wye"
    model: int = 1

    def __post_init__(self) -> None:
        if not self.kv > 0 or self.phases not in (1, 2, 3) or self.conn not in ("wye", "delta"):
            raise ConfigError(
                f"battery placement {self}: kv must be > 0, phases 1-3, conn wye or delta"
            )

    def command(self, name: str, pf: float) -> str:
        """OpenDSS command declaring the battery as an idle Generator (kW = 0)."""
        return (
            f"new generator.{name} bus1={self.bus1} phases={self.phases} kv={self.kv!r} kw=0 "
            f"pf={pf!r} conn={self.conn} model={self.model}"
        )


@dataclass(frozen=True)
class BatteryConfig:
    """A battery, modelled in the circuit as an OpenDSS Generator of the same name.

    ``placement`` adds the Generator after compiling when the circuit lacks it.
    """

    name: str
    max_kw: float
    pf: float
    max_kwh: float
    initial_kwh: float
    placement: BatteryPlacement | None = None

    def __post_init__(self) -> None:
        for key in ("max_kw", "max_kwh"):
            if not getattr(self, key) > 0:
                raise ConfigError(
                    f"battery {self.name}: {key} must be > 0, got {getattr(self, key)}"
                )
        if not 0 < self.pf <= 1:
            raise ConfigError(f"battery {self.name}: pf must be in (0, 1], got {self.pf}")
        if not 0 <= self.initial_kwh <= self.max_kwh:
            raise ConfigError(
                f"battery {self.name}: initial_kwh must be in [0, max_kwh={self.max_kwh}], "
                f"got {self.initial_kwh}"
            )


@dataclass(frozen=True)
class GeneratorConfig:
    """A renewable generator agent (Gym-ANM's ``Generator``), MW / MVAr.

    ``p_plus``, ``q_plus`` and ``q_minus`` place the sloped corners of the PQ region (None:
    a rectangle).
    """

    name: str
    p_max: float
    q_max: float
    q_min: float
    p_min: float = 0.0
    p_plus: float | None = None
    q_plus: float | None = None
    q_minus: float | None = None


@dataclass(frozen=True)
class StorageConfig:
    """A storage (DES) agent (Gym-ANM's ``StorageUnit``): MW, MVAr, MWh."""

    name: str
    p_max: float
    p_min: float
    q_max: float
    q_min: float
    soc_max: float
    soc_min: float = 0.0
    eff: float = 1.0
    p_plus: float | None = None
    p_minus: float | None = None
    q_plus: float | None = None
    q_minus: float | None = None


@dataclass(frozen=True)
class AnmReward:
    """Gym-ANM's reward.

    ``−(clip(e_loss) + clip(penalty))``, and ``−clip_penalty/(1−γ)`` on non-convergence.

    Attributes:
        lam: Weight λ of the constraint violations.
        clip_loss: Bound of ``|e_loss|`` (MWh / baseMVA).
        clip_penalty: Bound of the penalty.
        gamma: Discount used for the non-convergence reward.
    """

    lam: float = 100.0
    clip_loss: float = 1.0
    clip_penalty: float = 100.0
    gamma: float = 0.995


@dataclass(frozen=True)
class PowerGymLayout:
    """Where a system lives inside a PowerGym-style ``systems`` folder."""

    folder: str
    master: str
    loadshape_files: tuple[str, ...] = ()
    battery_csv: str = "Battery.csv"
