"""The CLI's error boundary against the installed Typer: an exit code a command chooses (a budget stop, an
``annotate`` with a failed record) is that code and its message, never "internal error" (issue 21, item 7).

Typer 0.29 and later raise their own ``typer.Exit``, no longer Click's; the boundary lets both through.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from llm_helpers import SECRET
from test_budget_resume import write_config

from dualalign_core.plugins import get_registry

sys.path.insert(0, str(Path(__file__).parents[1]))
from support import cli_env, dualalign  # noqa: E402

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")


@pytest.mark.parametrize("separate", [True, False], ids=["child-process", "in-process"])
def test_budget_stop_exits_1_with_its_message_and_no_internal_error(server, tmp_path, separate):
    cfg = write_config(tmp_path / "c.toml", server.url)
    env = cli_env(OPENAI_API_KEY=SECRET["openai"])
    args = ("run", str(cfg), "--out", str(tmp_path / "run"), "-q", "--max-cost", "0")
    res = dualalign(*args, env=env, separate=separate)
    assert res.returncode == 1, res.stderr
    assert "stopped by budget" in res.stderr and "--resume" in res.stderr
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_annotate_with_a_failed_record_exits_1_and_says_rerun(server, tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "She forgets appointments."}\n{"text": "Vitals normal."}\n')
    server.fault_on = {"forgets": "500"}  # the first record's calls fail on every attempt
    try:
        res = dualalign(
            "annotate",
            str(data),
            "--annotator",
            "openai",
            "--option",
            f"base_url={server.url}/v1",
            "--option",
            "max_attempts=1",
            "--out",
            str(tmp_path / "out.jsonl"),
            env=cli_env(OPENAI_API_KEY=SECRET["openai"]),
            separate=True,
        )
    finally:
        server.fault_on = {}
    assert res.returncode == 1, res.stderr
    assert "record(s) failed" in res.stderr and "rerun the same command" in res.stderr, res.stderr
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr, res.stderr
