"""mkdocs hook: docstrings cross-reference with Sphinx roles (``:class:`~a.b.C```); render them as code.

mkdocstrings shows the roles as written (``:meth:`complete```); this turns each into the name it points at,
``~`` keeping only the last part, as Sphinx would.
"""

from __future__ import annotations

import re

ROLE = re.compile(r":(?:py:)?(?:meth|func|class|mod|attr|data|exc|obj|const):<code>(~?)([^<]+)</code>")


def _name(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, **_: object) -> str:
    return ROLE.sub(_name, html)
