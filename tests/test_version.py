"""One version source: pyproject.toml's literal, read back through the installed distribution's metadata."""

from __future__ import annotations

import sys

import dualalign_core
from dualalign_core.plugins import get_registry
from support import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_version_is_pyprojects_everywhere_it_is_read():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert dualalign_core.__version__ == declared  # the package attribute (the manifest's dualalign_core_version)
    assert get_registry().plugins["core"].version == declared  # the builtin plugin's plugin_version
    assert f'"{declared}"' not in (ROOT / "dualalign_core" / "__init__.py").read_text()  # not written twice
