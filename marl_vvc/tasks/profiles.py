"""Load scenarios: per-load multiplier profiles for one episode.

Two sources, both deterministic given the episode's profile index:

- :class:`YearlyProfiles` follows PowerGym's scheme: yearly hourly series (one value per line)
  are joined in an explicit, recorded file order and chopped into one contiguous block per
  load, each block cut into days of ``horizon`` steps (profile ``e`` = day ``e`` of every
  load's block).
- :class:`SyntheticProfiles` is the built-in offline source: a year of residential and
  commercial daily shapes with seeded day-to-day and hour-to-hour variation, needing no
  third-party data.

Explicit per-load multipliers can always be given to ``reset(options=...)`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from marl_vvc.errors import DataNotFoundError, InvalidOptionError


class YearlyProfiles:
    """Daily profiles chopped from yearly load-shape series (PowerGym's scheme).

    Args:
        folder: Folder holding the series.
        n_loads: Number of loads ``L``.
        horizon: Steps per profile ``S``.
        files: File names in join order. Empty: every ``*.csv`` whose lower-case name contains
            ``loadshape``, sorted by name (PowerGym used ``os.listdir`` order, which is not
            reproducible; name the order to match a recording).

    Raises:
        DataNotFoundError: The folder or a file is missing, or there is too little data for
            one profile.
    """

    def __init__(
        self, folder: str | Path, n_loads: int, horizon: int, files: Sequence[str] = ()
    ) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataNotFoundError(f"load-shape folder not found: {self.folder}")
        if not files:
            files = sorted(
                p.name
                for p in self.folder.iterdir()
                if "loadshape" in p.name.lower() and p.name.lower().endswith(".csv")
            )
        self.files = tuple(files)
        series = []
        for name in self.files:
            path = self.folder / name
            if not path.is_file():
                raise DataNotFoundError(f"load-shape file not found: {path}")
            series.append(np.loadtxt(path, dtype=float, ndmin=1))
        x = np.concatenate(series) if series else np.empty(0)
        self.horizon = horizon
        self.num_profiles = int(len(x) // (horizon * n_loads)) if n_loads else 0
        if self.num_profiles < 1:
            raise DataNotFoundError(
                f"{self.folder}: {len(x)} values in {list(self.files)} are fewer than one "
                f"profile needs ({horizon} steps × {n_loads} loads)"
            )
        block = horizon * self.num_profiles
        # table[k, e, h] = x[k·S·E + e·S + h]
        self._table = x[: n_loads * block].reshape(n_loads, self.num_profiles, horizon)

    def profile(self, index: int) -> np.ndarray:
        """Multipliers of profile ``index`` as an array ``(n_loads, horizon)``."""
        if not 0 <= index < self.num_profiles:
            raise InvalidOptionError(
                f"profile index {index} out of range; expected 0 <= profile < {self.num_profiles}"
            )
        return self._table[:, index, :]


class SyntheticProfiles:
    """Built-in daily load profiles (no third-party data), one deterministic day per index.

    Each load is residential (morning and evening peaks) or commercial (daytime plateau),
    fixed per load. Day ``e`` scales the shape by a seasonal factor and adds smooth hourly
    noise; values stay within about [0.3, 1.1] like the IEEE feeders' load shapes.

    Args:
        n_loads: Number of loads.
        horizon: Steps per day.
        num_profiles: Distinct days available (profile indices ``0 .. num_profiles-1``).
        seed: Seed of the whole synthetic year.
    """

    def __init__(self, n_loads: int, horizon: int, num_profiles: int = 365, seed: int = 0) -> None:
        self.n_loads = n_loads
        self.horizon = horizon
        self.num_profiles = num_profiles
        self.seed = seed
        hours = (np.arange(horizon) + 1.0) * 24.0 / horizon  # end of each step, in hours
        residential = (
            0.42
            + 0.30 * np.exp(-0.5 * ((hours - 7.5) / 1.6) ** 2)
            + 0.52 * np.exp(-0.5 * ((hours - 19.0) / 2.4) ** 2)
        )
        commercial = 0.38 + 0.55 / (1.0 + np.exp(-(hours - 7.5) * 1.5)) / (
            1.0 + np.exp((hours - 18.5) * 1.2)
        )
        kinds = np.random.default_rng([seed, 0]).random(n_loads) < 0.3
        self._base = np.where(kinds[:, None], commercial[None, :], residential[None, :])

    def profile(self, index: int) -> np.ndarray:
        """Multipliers of day ``index`` as an array ``(n_loads, horizon)``."""
        if not 0 <= index < self.num_profiles:
            raise InvalidOptionError(
                f"profile index {index} out of range; expected 0 <= profile < {self.num_profiles}"
            )
        rng = np.random.default_rng([self.seed, 1, index])
        season = 0.85 + 0.15 * np.cos(2 * np.pi * index / 365.0)
        day = season * rng.uniform(0.9, 1.1)
        per_load = rng.uniform(0.85, 1.15, size=(self.n_loads, 1))
        noise = rng.normal(0.0, 0.03, size=(self.n_loads, self.horizon))
        smooth = np.cumsum(noise, axis=1) * 0.5 + noise  # correlated hour-to-hour
        multipliers: np.ndarray = np.clip(self._base * day * per_load + smooth * 0.5, 0.2, 1.3)
        return multipliers


def explicit_profile(
    multipliers: Mapping[str, Sequence[float]], load_names: Sequence[str], horizon: int
) -> np.ndarray:
    """Turn ``{load_name: [horizon floats]}`` into an array ``(n_loads, horizon)``.

    Raises:
        InvalidOptionError: A load is missing or unknown, a row has the wrong length or
            holds a non-finite value.
    """
    if not isinstance(multipliers, Mapping):
        raise InvalidOptionError(
            f"load_multipliers: expected a mapping load name -> {horizon} floats, "
            f"got {type(multipliers).__name__}"
        )
    given = {str(k).lower(): v for k, v in multipliers.items()}
    unknown = sorted(set(given) - set(load_names))
    missing = [n for n in load_names if n not in given]
    if unknown or missing:
        raise InvalidOptionError(
            f"load_multipliers: unknown loads {unknown}, missing loads {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}; expected exactly the circuit's loads"
        )
    out = np.empty((len(load_names), horizon))
    for i, name in enumerate(load_names):
        value = given[name]
        try:
            row = np.asarray(value)
        except (TypeError, ValueError):
            row = np.asarray(None)
        expected = f"load_multipliers[{name!r}]: expected {horizon} finite real numbers"
        if row.dtype.kind not in "iuf" or row.shape != (horizon,):
            raise InvalidOptionError(f"{expected}, got {row.dtype} values of shape {row.shape}")
        if not np.all(np.isfinite(row)):
            raise InvalidOptionError(f"{expected}, got {value!r}")
        out[i] = row
    return out
