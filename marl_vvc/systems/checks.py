"""Field checks of the configuration sections.

Each check returns the value in its canonical form (``int``, ``float``, ``tuple``, ``Path``) or
raises :class:`~marl_vvc.errors.ConfigError` with the same message shape everywhere:
``"<field>: expected <what>, got <value>"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from os import PathLike
from pathlib import Path
from typing import Any, NoReturn

from marl_vvc.errors import ConfigError


def fail(field: str, expected: str, value: Any) -> NoReturn:
    """Raise the uniform ``ConfigError`` for ``field``.

    Raises:
        ConfigError: Always: ``"<field>: expected <expected>, got <value!r>"``.
    """
    raise ConfigError(f"{field}: expected {expected}, got {value!r}")


def integer(field: str, value: Any, minimum: int | None = None) -> int:
    """An integer (not a bool, not a float such as ``2.0``), at least ``minimum``.

    Raises:
        ConfigError: Not an integer, or below ``minimum``.
    """
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        fail(field, expected, value)
    if minimum is not None and value < minimum:
        fail(field, expected, value)
    return int(value)


def real(field: str, value: Any, *, positive: bool = False, non_negative: bool = False) -> float:
    """A finite real number (not a bool), optionally ``> 0`` or ``>= 0``.

    Raises:
        ConfigError: Not a real number, not finite, or out of range.
    """
    expected = "a finite number" + (" > 0" if positive else " >= 0" if non_negative else "")
    if isinstance(value, bool) or not isinstance(value, Real):
        fail(field, expected, value)
    number = float(value)
    if not math.isfinite(number) or (positive and number <= 0) or (non_negative and number < 0):
        fail(field, expected, value)
    return number


def flag(field: str, value: Any) -> bool:
    """A bool (``True`` or ``False``; not ``0``, ``1`` or a string).

    Raises:
        ConfigError: Not a bool.
    """
    if not isinstance(value, bool):
        fail(field, "True or False", value)
    return value


def names(field: str, value: Any) -> tuple[str, ...]:
    """A sequence of strings (a single string is refused: it would split into letters).

    Raises:
        ConfigError: Not a list or tuple of strings.
    """
    expected = "a list of strings"
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        fail(field, expected, value)
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            fail(field, expected, value)
    return items


def instances(field: str, value: Any, cls: type) -> tuple[Any, ...]:
    """A sequence of ``cls`` instances, as a tuple.

    Raises:
        ConfigError: Not a sequence of ``cls``.
    """
    expected = f"a list of {cls.__name__}"
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        fail(field, expected, value)
    items = tuple(value)
    for item in items:
        if not isinstance(item, cls):
            fail(field, expected, item)
    return items


def path(field: str, value: Any, *, optional: bool = False) -> Path | None:
    """A filesystem path given as ``str`` or ``os.PathLike`` (``None`` if ``optional``).

    Raises:
        ConfigError: Neither a string nor a path.
    """
    if value is None and optional:
        return None
    if not isinstance(value, str | PathLike) or value == "":
        fail(field, "a path" + (" or None" if optional else ""), value)
    return Path(value)


def unique(field: str, items: tuple[str, ...]) -> None:
    """Refuse a list that names an element twice.

    Raises:
        ConfigError: A name appears twice.
    """
    seen: set[str] = set()
    for item in items:
        if item in seen:
            fail(field, f"each name once ({item!r} appears twice)", list(items))
        seen.add(item)
