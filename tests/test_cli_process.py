"""The CLI as users start it, in its own process: the installed ``dualalign`` script and ``python -m``, with
the test plugins pip-installed into a directory on ``PYTHONPATH`` (every other CLI test runs in-process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import cli_env, dualalign, toy_config


def test_installed_script_discovers_pip_installed_plugins(plugin_site: Path) -> None:
    script = Path(sys.executable).with_name("dualalign")
    proc = subprocess.run(
        [str(script), "plugins", "--json"], capture_output=True, text=True, env=cli_env(plugin_site), timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
    assert plugins["testkit"]["status"] == "ok" and plugins["testkit"]["version"] == "0.0.7"
    assert plugins["broken"]["status"] == "broken" and "broken on purpose" in plugins["broken"]["error"]
    assert "warning: plugin 'broken' is broken and was skipped" in proc.stderr


def test_run_with_third_party_components_in_a_child_process(plugin_site: Path, tmp_path: Path) -> None:
    cfg = toy_config(tmp_path / "toy.toml")
    result = dualalign("run", str(cfg), "--out", str(tmp_path / "run"), site=plugin_site, separate=True)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "broken" in result.stderr
    assert f"run directory: {tmp_path / 'run'}" in result.stdout
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["counts"]["notes"] > 0
    assert manifest["components"]["generator"]["plugin"] == "dualalign-testkit"
