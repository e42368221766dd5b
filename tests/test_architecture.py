"""The architecture's size rules, checked on the package's own source.

No module over 450 lines; no function over 60 lines of code (docstrings, comments and blank
lines not counted). The import layers are checked by ``lint-imports`` (pyproject.toml).
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "marl_vvc"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 450
MAX_FUNCTION_CODE_LINES = 60


def _code_lines(source: str) -> set[int]:
    """Line numbers holding code (not comments, blank lines or docstrings)."""
    lines: set[int] = set()
    docstrings: set[int] = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines - docstrings


def _long_functions(path: Path) -> list[str]:
    source = path.read_text()
    code = _code_lines(source)
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            n = len(code & set(range(node.lineno, node.end_lineno + 1)))
            if n > MAX_FUNCTION_CODE_LINES:
                out.append(f"{node.name} ({n} lines of code)")
    return out


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_size(path: Path) -> None:
    n = len(path.read_text().splitlines())
    assert n <= MAX_MODULE_LINES, f"{path.name} has {n} lines; split it (limit {MAX_MODULE_LINES})"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_function_size(path: Path) -> None:
    assert _long_functions(path) == [], f"functions over {MAX_FUNCTION_CODE_LINES} lines of code"


def test_the_counter_counts_code_only() -> None:
    source = '''def f():
    """Doc
    string."""
    # a comment

    x = 1
    return (x +
            1)
'''
    assert len(_code_lines(source)) == 4  # def, x = 1, and the two lines of the return
