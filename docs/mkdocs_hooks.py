"""MkDocs hook: show the docstrings' Sphinx roles (``:class:`X```) as plain code.

The package's docstrings cross-reference with Sphinx roles, which Markdown renders as
``:class:<code>X</code>``. This hook turns them into ``<code>X</code>`` (``~a.b.X`` shows as
``X``, as Sphinx does). Configured in ``mkdocs.yml`` under ``hooks``.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):<code>(~?)([^<]+)</code>")


def _plain(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, **_: Any) -> str:
    """Rewrite the roles of one rendered page."""
    return _ROLE.sub(_plain, html)
