"""PV inverters on a Volt-Var feeder (``_pv`` systems): PowerGym's task plus solar availability.

Profile ``k`` is day ``k`` of the year for the loads and for the sun (pvlib clear sky, PVWatts
and seeded clouds, :mod:`marl_vvc.tasks.solar`). The action of step ``t`` meets the
availability of step ``t``; the reset solve runs at midnight with the day's last
availability. Inverters pay ``curtail_w`` per unit of curtailed rating.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marl_vvc.core.grid import GridCore
from marl_vvc.core.pq_fleets import GeneratorFleet
from marl_vvc.errors import ConfigError
from marl_vvc.tasks.vvc import VvcTask


class PvTask(VvcTask):
    """:class:`VvcTask` with PV availability per day.

    Args:
        gens: The PV inverter fleet.
        **kwargs: :class:`VvcTask` arguments.

    Raises:
        ConfigError: pvlib is missing (the ``pv`` extra).
    """

    def __init__(self, gens: GeneratorFleet, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            from marl_vvc.tasks.solar import SolarProfiles
        except ImportError as exc:  # pvlib is the optional 'pv' extra
            raise ConfigError(
                "PV systems need pvlib for their profiles: pip install 'marl-vvc[pv]'"
            ) from exc
        assert self.horizon is not None
        self.gens = gens
        self.solar = SolarProfiles(len(gens.devices), self.horizon, step_hours=self.step_hours)
        self.availability = np.zeros((len(gens.devices), self.horizon))

    def start_of_day(self, core: GridCore) -> None:
        """The day's availability; the reset solve is at midnight (the day's last step)."""
        gens = self.gens
        day = (self.profile_index or 0) % self.solar.num_profiles
        self.availability = self.solar.profile(day) * gens.rating[:, None] * gens.base
        gens.available = self.availability[:, -1]
        gens.set_pq(core.engine, self.availability[:, -1], np.zeros(len(gens.devices)))

    def before_step(self, core: GridCore) -> None:
        """Availability of the coming step."""
        self.gens.available = self.availability[:, core.t]

    def curtailment(self, core: GridCore) -> np.ndarray:
        """Curtailed fraction of each inverter's rating."""
        fraction: np.ndarray = self.gens.curtailment() / self.gens.rating
        return fraction
