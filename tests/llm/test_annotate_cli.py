"""`dualalign annotate` with an LLM annotator (openai backend, loopback fake server) through the real CLI:
streams, records failures per record, resumes without paying again; ids and NaN handling."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fakeserver import FakeLLMServer
from llm_helpers import MODELS, SECRET

from dualalign_core.plugins import get_registry

sys.path.insert(0, str(Path(__file__).parents[1]))
from support import cli_env, dualalign  # noqa: E402

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")

NOTES = [{"id": f"n{i}", "text": f"S: Pt forgets names {i}.\nO: BP 120/80.\nA: Daughter is worried."} for i in range(6)]


def annotate(src: Path, out: Path, url: str, **opts: str):
    extra = [f"--model={MODELS['openai']}"]
    env = cli_env(OPENAI_API_KEY=SECRET["openai"], OPENAI_BASE_URL=f"{url}/v1", **opts)
    return dualalign("annotate", str(src), "--annotator", "openai", "--out", str(out), *extra, env=env)


def test_llm_annotate_failures_per_record_then_resume_without_paying(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(n) + "\n" for n in NOTES))
    out = tmp_path / "out.jsonl"
    # record n3 gets an invalid reply every time (the corrective re-ask too): it fails, the others go on
    NOTES[3]["text"] += " POISON"
    src.write_text("".join(json.dumps(n) + "\n" for n in NOTES))
    srv = FakeLLMServer(fault_on={"POISON": "badlabel"}).start()
    try:
        first = annotate(src, out, srv.url)
        assert first.returncode == 1, first.stderr
        assert "Traceback" not in first.stderr and "rerun the same command" in first.stderr
        summary = json.loads(first.stdout)
        assert summary["failed"] == 1 and "invalid structured reply" in summary["failures"][0]["error"]
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert {r["note_id"] for r in rows} == {f"n{i}" for i in range(6)} - {"n3"}
        paid = srv.completions
        srv.fault_on.clear()
        # rerun the same command: only the failed record is redone; nothing else is asked again
        second = annotate(src, out, srv.url)
        assert second.returncode == 0, second.stderr
        assert srv.completions == paid + 1
        summary2 = json.loads(second.stdout)
        assert summary2["failed"] == 0 and summary2["resumed_done"] == 5 and summary2["cost_usd"] > 0
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert sorted({r["note_id"] for r in rows}) == [f"n{i}" for i in range(6)]
        assert len(rows) == len({r["sentence_id"] for r in rows}) == 19  # n3 has 4 sentences
        # once more: all done, zero requests, output unchanged
        before = out.read_bytes()
        third = annotate(src, out, srv.url)
        assert third.returncode == 0 and srv.completions == paid + 1 and out.read_bytes() == before
    finally:
        srv.stop()


def test_annotate_options_reach_the_backend_and_bad_ones_exit_2(tmp_path, server):
    """``--option KEY=VALUE`` (JSON values) is validated against the annotator's options_schema and reaches
    the requests it sends; ``--model`` too."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(n) + "\n" for n in NOTES[:2]))
    env = cli_env(OPENAI_API_KEY=SECRET["openai"])
    opts = [
        "--option",
        f"base_url={server.url}/v1",
        "--option",
        "temperature=0.3",
        "--option",
        "max_tokens=777",
        "--option",
        'structured="json_object"',
    ]
    ok = dualalign(
        "annotate",
        str(src),
        "-a",
        "openai",
        "--model",
        "gpt-4o-mini",
        "--out",
        str(tmp_path / "o.jsonl"),
        *opts,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    bodies = [body for _, body in server.bodies]
    assert len(bodies) == 2 and all(
        b["model"] == "gpt-4o-mini"
        and b["temperature"] == 0.3
        and b["max_tokens"] == 777
        and b["response_format"] == {"type": "json_object"}
        for b in bodies
    )
    for bad, words in (
        (["--option", "temprature=0.2"], "--option.temprature: unknown field"),
        (["--option", "temperature=9"], "--option.temperature: 9 is greater than the maximum"),
        (["--option", "temperature"], "--option: expected KEY=VALUE"),
    ):
        res = dualalign(
            "annotate",
            str(src),
            "-a",
            "openai",
            "--out",
            str(tmp_path / "x.jsonl"),
            "--option",
            f"base_url={server.url}/v1",
            *bad,
            env=env,
        )
        assert res.returncode == 2 and words in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert not (tmp_path / "x.jsonl").exists()
    assert server.completions == 2
