"""The continuity filters' knobs through ``dualalign run``: ``consistency`` warns by default and rejects with
``enforce = true``; ``copy_forward``'s ``threshold`` decides what counts as carried over."""

from __future__ import annotations

import json
from pathlib import Path

from fakeserver import FakeLLMServer
from llm_helpers import MODELS, SECRET

from support import cli_env, dualalign

# a note that claims a test no timeline planned at a visit (a score contradiction) and copies itself forward
NOTE = (
    "S: Patient seen for follow-up. MoCA 29/30 today, within normal limits. No new complaints today.\n"
    "O: Alert, oriented. Vitals within normal limits.\nA: Stable.\nP: Follow up in 3 months."
)


def config(path: Path, url: str, filters: str) -> Path:
    path.write_text(
        '[run]\nseed = 4\npatients = 2\nmax_notes_per_patient = 3\nmax_attempts = 1\n[disease]\nname = "alzheimers"\n'
        f'[generator]\nname = "openai"\nmodel = "{MODELS["openai"]}"\n'
        f'options = {{ base_url = "{url}/v1", price = {{ input = 1.0, output = 1.0 }}, timeout = 5 }}\n'
        f'[annotator]\nname = "lexicon"\n[filters]\n{filters}\n'
    )
    return path


def ledger(run: Path) -> list[dict]:
    export = run.parent / (run.name + "-export")
    done = dualalign("export", str(run), "--format", "jsonl", "--out", str(export))
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in (export / "rejections.jsonl").read_text().splitlines()]


def run(cfg: Path, out: Path) -> list[dict]:
    done = dualalign("run", str(cfg), "--out", str(out), "-q", env=cli_env(OPENAI_API_KEY=SECRET["openai"]))
    assert done.returncode == 0, done.stderr
    return ledger(out)


def test_consistency_warns_by_default_and_rejects_when_enforced(tmp_path: Path) -> None:
    with FakeLLMServer(note_text=NOTE) as server:
        warned = run(config(tmp_path / "w.toml", server.url, 'use = ["consistency"]'), tmp_path / "w")
        enforced = run(
            config(
                tmp_path / "e.toml", server.url, 'use = ["consistency"]\noptions = { consistency = { enforce = true } }'
            ),
            tmp_path / "e",
        )
    warn = [r for r in warned if r["filter"] == "consistency"]
    assert warn and all(not r["enforced"] and r["reason"].startswith("score:") for r in warn)
    hard = [r for r in enforced if r["filter"] == "consistency"]
    assert hard and all(r["enforced"] for r in hard)


def test_copy_forward_threshold_decides_what_is_carried_over(tmp_path: Path) -> None:
    with FakeLLMServer(note_text=NOTE) as server:  # every note repeats the last one word for word
        strict = run(
            config(
                tmp_path / "s.toml",
                server.url,
                'use = ["copy_forward"]\noptions = { copy_forward = { threshold = 0.9 } }',
            ),
            tmp_path / "s",
        )
        lax = run(
            config(
                tmp_path / "l.toml",
                server.url,
                'use = ["copy_forward"]\noptions = { copy_forward = { threshold = 1.0 } }',
            ),
            tmp_path / "l",
        )
    flagged = [r for r in strict if r["filter"] == "copy_forward"]
    assert len(flagged) == 4 and all(r["value"] >= 0.9 and r["threshold"] == 0.9 for r in flagged)  # 2 x (3 - 1)
    assert [r for r in lax if r["filter"] == "copy_forward"] == []  # nothing is above a threshold of 1
