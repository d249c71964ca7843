"""Test helpers: run the real CLI in a subprocess, write toy-pack configs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
TOY_PACK = ROOT / "tests" / "data" / "toy_pack"


def cli_env(site: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUALALIGN_")}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def dualalign(*args: str, site: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (entry points are discovered like a user's would be)."""
    return subprocess.run([sys.executable, "-m", "dualalign_core.cli", *args], capture_output=True, text=True,
                          env=env or cli_env(site), timeout=timeout)


def toy_config(path: Path, **sections: str) -> Path:
    """A toy-pack config using the test plugin's components; ``sections`` replace whole TOML sections."""
    base = {
        "run": "seed = 11\npatients = 6",
        "disease": f'path = "{TOY_PACK.as_posix()}"',
        "trajectory": "multiplier = 2",
        "generator": 'name = "slow-echo"',
        "annotator": 'name = "keyword"',
        "filters": 'use = ["short-note"]\noptions = {short-note = {min_chars = 60}}',
    }
    base.update(sections)
    path.write_text("".join(f"[{k}]\n{v}\n\n" for k, v in base.items() if v is not None))
    return path
