"""Test helpers: run the real CLI (in-process by default, or in a child process), write toy-pack configs."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
TOY_PACK = ROOT / "tests" / "data" / "toy_pack"


def cli_env(site: Path | None = None, **extra: str) -> dict[str, str]:
    """The whole environment a CLI call gets: no inherited ``DUALALIGN_*``, ``site`` first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUALALIGN_")}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def dualalign(
    *args: str,
    site: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    separate: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI with ``env`` as its whole environment; ``site`` adds a directory of installed plugins.

    In-process (the typer app under click's test runner, plugins discovered through their entry points from
    ``PYTHONPATH`` entries put on ``sys.path``) unless ``separate``, ``env`` changes an interpreter setting
    (``PYTHONIOENCODING`` ...) or sets a ``DUALALIGN_TEST_KILL*`` fault (the CLI SIGKILLs itself): then
    ``python -m dualalign_core.cli`` in a child process, killed after ``timeout`` seconds. Either way: the exit
    code, stdout and stderr apart, as a ``CompletedProcess``.
    """
    env = env or cli_env(site)
    interpreter = {
        k
        for k in {*env, *os.environ}
        if k.startswith("PYTHON") and k != "PYTHONPATH" and env.get(k) != os.environ.get(k)
    }
    kills_itself = any(k.startswith("DUALALIGN_TEST_KILL") for k in env)  # fault injection: SIGKILL to its pid
    if separate or interpreter or kills_itself:
        return subprocess.run(
            [sys.executable, "-m", "dualalign_core.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    return _in_process(list(args), env)


def _in_process(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    from typer.testing import CliRunner

    from dualalign_core import cli

    changes: dict[str, str | None] = {k: v for k, v in env.items() if os.environ.get(k) != v}
    changes.update({k: None for k in os.environ if k not in env})
    inherited = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    added = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in inherited]
    with _fresh_plugins(added), _consoles(int(env.get("COLUMNS", "80"))), _warnings_to_stderr():
        result = CliRunner().invoke(cli.app, args, env=changes, prog_name="dualalign")
    stderr = result.stderr
    if result.exc_info and not isinstance(result.exc_info[1], SystemExit):  # as the interpreter prints it
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return subprocess.CompletedProcess(["dualalign", *args], result.exit_code, result.stdout, stderr)


@contextlib.contextmanager
def _fresh_plugins(paths: list[str]) -> Iterator[None]:
    """``paths`` first on ``sys.path`` and a registry loaded for this call only; modules imported from
    ``paths`` are forgotten afterwards, so the next call imports them again (as a new process would)."""
    from dualalign_core import plugins

    saved_path, saved_registry = list(sys.path), plugins._REGISTRY
    sys.path[:0] = paths
    importlib.invalidate_caches()  # a plugin installed since the last look is found
    plugins._REGISTRY = None
    try:
        yield
    finally:
        sys.path[:] = saved_path
        plugins._REGISTRY = saved_registry
        roots = tuple(os.path.join(p, "") for p in paths)  # a module's __file__ starts with its sys.path entry
        for name, module in list(sys.modules.items()):
            if roots and (getattr(module, "__file__", None) or "").startswith(roots):
                del sys.modules[name]


@contextlib.contextmanager
def _consoles(columns: int) -> Iterator[None]:
    """The CLI's rich consoles at ``columns`` wide (they read ``COLUMNS`` once, at import)."""
    from rich.console import Console

    found = {
        id(c): c
        for name, m in list(sys.modules.items())
        if name.split(".")[0] == "dualalign_core"
        for c in vars(m).values()
        if isinstance(c, Console)
    }
    consoles = list(found.values())
    saved = [c._width for c in consoles]
    for c in consoles:
        c.width = columns
    try:
        yield
    finally:
        for c, width in zip(consoles, saved, strict=True):
            c._width = width


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record comes (the test runner swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """What ``cli.main`` sets up: logged warnings on stderr as ``warning: ...``."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


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


def pip_install_target(target: Path, *packages: Path | str) -> Path:
    """pip-install local distributions (no dependencies, no build isolation) into ``target``: a plugin site the
    CLI finds through ``PYTHONPATH`` and entry points, like a user's installation."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "--target", str(target)]
        + [str(p) for p in packages],
        check=True,
        capture_output=True,
    )
    return target


def committed_units(run: Path) -> int:
    """Units the run has committed so far (0 before its store exists), read without disturbing the writer."""
    if not (run / "run.sqlite").exists():
        return 0
    db = sqlite3.connect(f"file:{run / 'run.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT count(*) FROM units").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        db.close()
