"""Keep the help texts on ``docs/cli.md`` equal to what ``marl-vvc … --help`` prints.

Run from the repository root after changing the command line::

    python docs/gen_cli.py          # rewrite the help blocks of docs/cli.md
    python docs/gen_cli.py --check  # exit 1 if a block is out of date

On the page, a ``bash`` block holding only ``marl-vvc [COMMAND] --help`` is followed by a
``text`` block with that help, formatted for a 100-column terminal (``COLUMNS=100``).
``tests/docs/test_cli_page.py`` checks every such block.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from marl_vvc.tools.cli import build_parser

PAGE = Path(__file__).resolve().parent / "cli.md"
WIDTH = 100  # terminal columns the page's help is formatted for

#: ```bash block with one ``marl-vvc [command] --help`` line, then the ```text block after it
HELP_BLOCK = re.compile(
    r"```bash\nmarl-vvc(?: (?P<command>[a-z]+))? --help\n```\n\n```text\n(?P<text>.*?)```\n",
    re.S,
)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=WIDTH - 2)  # as argparse does for COLUMNS


def help_texts() -> dict[str, str]:
    """``{"": top-level help, command: its help}`` as printed at ``COLUMNS=100``."""
    parser = build_parser()
    parser.formatter_class = _formatter
    texts = {"": parser.format_help()}
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            sub.formatter_class = _formatter
            texts[name] = sub.format_help()
    return texts


def render(page: str) -> str:
    """``page`` with every help block replaced by the current help text."""
    texts = help_texts()

    def replace(match: re.Match[str]) -> str:
        command = match.group("command") or ""
        head = match.group(0)[: match.start("text") - match.start(0)]
        return f"{head}{texts[command]}```\n"

    return HELP_BLOCK.sub(replace, page)


def main(argv: list[str]) -> int:
    """Rewrite the page (or, with ``--check``, report whether it is current)."""
    page = PAGE.read_text()
    current = render(page)
    if "--check" in argv:
        if current != page:
            print("docs/cli.md is out of date: run python docs/gen_cli.py")
            return 1
        return 0
    PAGE.write_text(current)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
