"""Typed errors raised by marl_vvc.

Every error a user can trigger derives from :class:`MarlVVCError`; messages name what was
wrong and what was expected. A power flow that does not converge is *not* an error: it is an
outcome reported by the engine and turned into a terminated episode by the environments.
"""

from __future__ import annotations


class MarlVVCError(Exception):
    """Base class of every error raised on purpose by marl_vvc."""


class ConfigError(MarlVVCError, ValueError):
    """A system configuration or variant name is invalid (names the key or the value)."""


class CircuitLoadError(MarlVVCError, RuntimeError):
    """A circuit file is missing, malformed, or names elements that do not exist."""


class DataNotFoundError(MarlVVCError, FileNotFoundError):
    """Scenario or feeder data that the caller asked for cannot be found."""


class InvalidActionError(MarlVVCError, ValueError):
    """An action is missing, unknown, outside its space, NaN or of the wrong shape.

    The environment's state is unchanged when this is raised.
    """


class InvalidOptionError(MarlVVCError, ValueError):
    """A ``reset`` option (profile index, load multipliers) is invalid."""


class ResetNeededError(MarlVVCError, RuntimeError):
    """``step()`` was called before ``reset()`` or after the episode ended."""


class EngineError(MarlVVCError, RuntimeError):
    """OpenDSS rejected a command (the message carries OpenDSS's own text)."""
