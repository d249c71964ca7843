"""The docs site builds with ``mkdocs build --strict`` (broken links, missing pages, API references that no
longer resolve fail it). Skipped where the docs extra is not installed (``make docs`` installs it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")
pytest.importorskip("material")

ROOT = Path(__file__).resolve().parents[1]


def test_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert built.returncode == 0, built.stderr[-4000:]
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert 'id="dualalign_core.api.LLMBackend"' in api and 'id="dualalign_core.api.Filter"' in api
    hooks = (site / "reference" / "hooks" / "index.html").read_text(encoding="utf-8")
    assert 'id="dualalign_core.hookspecs.register_filters"' in hooks
    testing = (site / "reference" / "testing" / "index.html").read_text(encoding="utf-8")
    assert 'id="dualalign_core.testing.check_backend"' in testing
    for tutorial in ("disease-pack", "backend", "filter", "sampler", "persona"):
        page = (site / "tutorials" / tutorial / "index.html").read_text(encoding="utf-8")
        assert "Generate the package" in page and "pytest" in page
    assert "Changelog" in (site / "changelog" / "index.html").read_text(encoding="utf-8")
    for page in site.rglob("*.html"):  # Sphinx roles in docstrings render as code, never raw
        raw = re.search(r":(?:meth|func|class|mod|attr|data|exc|obj):<code>", page.read_text(encoding="utf-8"))
        assert raw is None, page
