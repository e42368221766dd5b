"""docs/cli.md shows what ``marl-vvc … --help`` prints (``python docs/gen_cli.py`` updates it)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _gen_cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli", REPO / "docs" / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_subcommand_has_its_help_on_the_page() -> None:
    gen = _gen_cli()
    page = gen.PAGE.read_text()
    shown = {m.group("command") or "" for m in gen.HELP_BLOCK.finditer(page)}
    assert shown == set(gen.help_texts()) == {"", "list", "run", "eval", "plot", "fetch", "bench"}


def test_the_help_blocks_are_current() -> None:
    gen = _gen_cli()
    page = gen.PAGE.read_text()
    assert gen.render(page) == page, "docs/cli.md is out of date: run python docs/gen_cli.py"


def test_the_formatting_is_what_a_100_column_terminal_prints() -> None:
    texts = _gen_cli().help_texts()
    scripts = Path(sys.executable).parent
    env = {**os.environ, "COLUMNS": "100", "PATH": f"{scripts}{os.pathsep}{os.environ['PATH']}"}
    for command in ("", "eval"):  # the top level and the longest subcommand
        args = ["marl-vvc", *([command] if command else []), "--help"]
        proc = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
        assert proc.stdout == texts[command], command
