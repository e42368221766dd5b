"""Safe reading of system YAML files, each parsed at most once per process.

:func:`read_yaml` decodes the file as UTF-8, parses it with a safe loader that refuses a key
given twice in one mapping (YAML would silently keep the last), and caches the result keyed
by the resolved path, modification time and size. A file modified within the last
:data:`RACY_SECONDS` is parsed again on the next read (its timestamp cannot yet tell two
versions apart), so a file rewritten in quick succession is never served stale.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import yaml

from marl_vvc.errors import ConfigError

RACY_SECONDS = 2.0
_cache: dict[tuple[Path, int, int], Any] = {}


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys in a mapping (merge keys ``<<`` aside)."""


def _unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if first is not None:
            raise ConfigError(
                f"duplicate key {key!r} at line {line} (first given at line {first}); "
                "expected each key once"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text with :class:`UniqueKeyLoader`.

    Raises:
        ConfigError: Invalid YAML or a duplicate key (the message starts with ``where``).
    """
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from exc


def _parse_file(path: Path) -> Any:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: expected a UTF-8 text file, got byte {raw[exc.start]:#04x} at offset "
            f"{exc.start} that is not UTF-8 (save the file as UTF-8)"
        ) from exc
    return parse_yaml(text, str(path))


def read_yaml(path: str | Path) -> Any:
    """The parsed content of a YAML file (a private copy; the parse is cached).

    Raises:
        ConfigError: The file is missing, not UTF-8, not valid YAML or repeats a key.
    """
    path = Path(path).expanduser().resolve()
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"system file not found: {path}") from exc
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _cache:
        data = _parse_file(path)
        if time.time_ns() - stat.st_mtime_ns < RACY_SECONDS * 1e9:
            return data  # too recent to trust the timestamp: parse again next time
        _cache[key] = data
    return copy.deepcopy(_cache[key])


def cached_files() -> tuple[Path, ...]:
    """Files whose parse is cached (for tests and diagnostics)."""
    return tuple(key[0] for key in _cache)


def clear_cache() -> None:
    """Forget every cached parse."""
    _cache.clear()
