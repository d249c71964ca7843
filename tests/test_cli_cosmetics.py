"""One-line fixes a user meets first (issue 21, cosmetic items), each through the real CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dualalign_core.llm.pricing import usd
from support import ROOT, TOY_PACK, dualalign


def _core_config(path: Path) -> Path:
    path.write_text(
        f'[run]\nseed = 3\npatients = 1\nmax_notes_per_patient = 1\n\n[disease]\npath = "{TOY_PACK.as_posix()}"\n\n'
        "[trajectory]\nmultiplier = 2\n\n[filters]\nuse = []\n"
    )
    return path


def test_run_help_shows_the_ray_extra_rich_would_swallow() -> None:
    result = dualalign("run", "--help")
    assert result.returncode == 0 and "dualalign-core[ray]" in result.stdout, result.stdout


def test_a_tiny_budget_is_not_printed_as_zero() -> None:
    assert usd(1e-9) == "$0.000000001" and usd(0.000123) == "$0.000123" and usd(0) == "$0.00"


def test_an_option_without_a_value_is_refused_not_read_as_the_current_directory(tmp_path: Path) -> None:
    notes = tmp_path / "in.jsonl"
    notes.write_text('{"text": "Patient forgets names."}\n')
    args = ("annotate", str(notes), "--annotator", "classifier", "--option", "model_dir=", "--out", str(tmp_path / "o"))
    result = dualalign(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "--option" in result.stderr and "model_dir has no value" in result.stderr and "'.'" not in result.stderr


def test_the_report_header_of_a_run_without_a_name_says_no_none(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert dualalign("run", str(_core_config(tmp_path / "c.toml")), "--out", str(run), "--quiet").returncode == 0
    result = dualalign("report", str(run), "--out", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stderr
    header = re.search(r"<header>.*?</header>", (tmp_path / "r.html").read_text(encoding="utf-8"), re.S)
    assert header and "None" not in header.group(0) and "run-" in header.group(0)


def test_the_readme_gives_the_sentence_ids_annotate_writes(tmp_path: Path) -> None:
    notes = tmp_path / "in.jsonl"
    notes.write_text('{"id": "a", "text": "Patient forgets names. Lungs are clear."}\n')
    out = tmp_path / "o.jsonl"
    args = ("annotate", str(notes), "--annotator", "lexicon", "--disease", "alzheimers", "--out", str(out))
    result = dualalign(*args)
    assert result.returncode == 0, result.stderr
    ids = [json.loads(line)["sentence_id"] for line in out.read_text().splitlines()]
    assert ids[0] == "a-s000"
    readme = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    assert "`ID:i`" not in readme and "`a-s000`" in readme


def test_a_closed_pipe_is_a_quiet_exit_not_a_plugin_error(tmp_path):
    """``dualalign plugins | head -1``: the reader went away; no "plugin code called sys.exit" and nothing on
    stderr; piped, the plugins list is one plain block a plugin with every name whole."""
    import subprocess
    import sys

    cmd = f"{sys.executable} -m dualalign_core.cli plugins | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("dualalign plugins (API") and "sys.exit" not in done.stderr, done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "dualalign_core.cli", "plugins"], capture_output=True, text=True, timeout=120
    )
    assert "dualalign-alzheimers 0.1.0" in listed.stdout and "…" not in listed.stdout
