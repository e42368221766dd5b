"""The documentation site's pages run as written.

Every Python block of a page runs (the page's blocks in order, in one namespace, from the
repository root, as the pages say); a ``text`` block right after a Python block is its output
and must equal what it printed, and a block without one must print nothing. A ``bash`` block
holding only ``marl-vvc list --env NAME`` is compared with the command's output the same way.
The tutorial and the architecture page have their own tests (``test_tutorial.py``,
``test_architecture_example.py``); the CLI page's help texts are checked in
``test_cli_page.py``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
OWN_TESTS = {"tutorial.md", "architecture.md"}
PAGES = sorted(p for p in DOCS.rglob("*.md") if str(p.relative_to(DOCS)) not in OWN_TESTS)

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
_LIST = re.compile(r"^marl-vvc list --env (\S+)\n$")
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    """A fenced block of a page and the ``text`` block right after it, if any."""

    lang: str
    body: str
    output: str | None


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path``, each with the output block that follows it."""
    text = path.read_text()
    fences = list(_FENCE.finditer(text))
    out = []
    for i, fence in enumerate(fences):
        nxt = fences[i + 1] if i + 1 < len(fences) else None
        adjacent = nxt is not None and not text[fence.end() : nxt.start()].strip()
        output = nxt.group(2) if adjacent and nxt.group(1) == "text" else None
        out.append(Block(fence.group(1), fence.group(2), output))
    return out


def _same(printed: str, shown: str, what: str) -> None:
    got = [line.rstrip() for line in printed.strip().splitlines()]
    want = [line.rstrip() for line in shown.strip().splitlines()]
    assert got == want, f"{what}: printed\n{printed}\nthe page shows\n{shown}"


def _page_id(path: Path) -> str:
    return str(path.relative_to(DOCS))


def test_pages_are_found() -> None:
    names = {_page_id(p) for p in PAGES}
    assert {"getting-started.md", "systems/powergym.md", "systems/capswitch.md"} <= names
    assert {"parity.md", "benchmark.md", "performance.md", "versioning.md"} <= names


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if any(b.lang == "python" for b in blocks(p))],
    ids=_page_id,
)
def test_python_blocks_run_and_print_what_the_page_shows(
    page: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    namespace: dict = {"__name__": f"docs.{page.stem}"}
    for n, block in enumerate(b for b in blocks(page) if b.lang == "python"):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block.body, f"{page}:python block {n + 1}", "exec"), namespace)
        _same(printed.getvalue(), block.output or "", f"{_page_id(page)} python block {n + 1}")


LISTINGS = [
    (page, block)
    for page in PAGES
    for block in blocks(page)
    if block.lang == "bash" and _LIST.match(block.body)
]


def test_the_system_pages_show_their_agents() -> None:
    shown = {_LIST.match(b.body).group(1) for _, b in LISTINGS}  # type: ignore[union-attr]
    assert shown == {"13Bus", "13Bus_pv", "ANM6Easy", "123Bus_capswitch"}
    assert all(block.output for _, block in LISTINGS)


@pytest.mark.parametrize(
    ("page", "block"), LISTINGS, ids=[_LIST.match(b.body).group(1) for _, b in LISTINGS]
)
def test_listings_match_marl_vvc_list(page: Path, block: Block) -> None:
    command = block.body.split()
    scripts = Path(sys.executable).parent
    env = {**os.environ, "COLUMNS": "100", "PATH": f"{scripts}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    _same(proc.stdout, block.output or "", f"{_page_id(page)}: {block.body.strip()}")


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_pictures_exist_and_are_pngs(page: Path) -> None:
    for ref in _IMAGE.findall(page.read_text()):
        path = (page.parent / ref).resolve()
        assert path.is_file(), f"{_page_id(page)}: {ref} does not exist"
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 300_000, ref


def test_every_feeder_picture_is_drawn_by_the_script_and_shown() -> None:
    script = (DOCS / "gen_figures.py").read_text()
    drawn = set(re.findall(r'"(feeder_\w+\.png)"', script))
    on_disk = {p.name for p in (DOCS / "img").glob("feeder_*.png")}
    shown = {Path(ref).name for page in PAGES for ref in _IMAGE.findall(page.read_text())}
    assert drawn == on_disk
    assert drawn <= shown, f"pictures no page shows: {sorted(drawn - shown)}"
