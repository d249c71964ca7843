"""Hostile vendor replies through the real CLI (issue 21, item 10): token counts no SQLite integer holds are
capped at the runtime boundary; a reply carrying a lone surrogate is paid once, cached and sanitised, so a
resume never pays for it again."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeLLMServer
from llm_helpers import MODELS, SECRET

from dualalign_core.plugins import get_registry
from dualalign_core.run.view import RunView

sys.path.insert(0, str(Path(__file__).parents[1]))
from support import cli_env, dualalign  # noqa: E402

pytestmark = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")


class HostileServer(FakeLLMServer):
    """The fake vendor, with ``usage`` token counts of ``tokens`` and note text ending in ``tail``."""

    def __init__(self, *, tokens: int | None = None, tail: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        self.tokens, self.tail = tokens, tail

    def reply(self, wire: str, req: dict[str, Any], fault: str | None, path: str = "") -> dict[str, Any]:
        reply = super().reply(wire, req, fault, path)
        if self.tokens is not None:
            reply["usage"].update(prompt_tokens=self.tokens, completion_tokens=self.tokens, total_tokens=self.tokens)
        if self.tail and "response_format" not in req:  # free text (notes), not the labels' JSON
            reply["choices"][0]["message"]["content"] += self.tail
        return reply


def config(path: Path, url: str) -> Path:
    backend = (
        f'name = "openai"\nmodel = "{MODELS["openai"]}"\nconcurrency = 1\n'
        f'options = {{ base_url = "{url}/v1", timeout = 2, backoff_initial = 0.01, max_attempts = 2 }}\n'
    )
    path.write_text(
        '[run]\nseed = 4\npatients = 1\nmax_notes_per_patient = 2\n[disease]\nname = "alzheimers"\n'
        f'[generator]\n{backend}[annotator]\nname = "lexicon"\n[filters]\nuse = []\n'
    )
    return path


def run(cfg: Path | None, out: Path, *extra: str) -> Any:
    args = ["run", *([str(cfg)] if cfg else []), "--out", str(out), "--quiet", *extra]
    return dualalign(*args, env=cli_env(OPENAI_API_KEY=SECRET["openai"]))


def test_huge_token_counts_are_capped_not_an_sqlite_overflow(tmp_path: Path) -> None:
    with HostileServer(tokens=2**63 - 1) as server:
        result = run(config(tmp_path / "c.toml", server.url), tmp_path / "r")
    output = result.stdout + result.stderr
    assert "overflow" not in output and "Traceback" not in output, output
    assert result.returncode in (0, 1), output
    with RunView(tmp_path / "r") as view:
        for _, usage in view.unit_outcomes().values():
            assert 0 <= usage.input_tokens < 2**62 and 0 <= usage.output_tokens < 2**62


def test_a_lone_surrogate_is_paid_once_and_a_resume_pays_nothing(tmp_path: Path) -> None:
    with HostileServer(tail=" Plan \ud800 reviewed.") as server:
        cfg = config(tmp_path / "c.toml", server.url)
        first = run(cfg, tmp_path / "r")
        paid = server.completions
        again = run(None, tmp_path / "r", "--resume")
        assert server.completions == paid, (first.stderr, again.stderr)  # nothing paid twice
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    out = tmp_path / "e"
    exported = dualalign("export", str(tmp_path / "r"), "--format", "jsonl", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    notes = [json.loads(line) for line in (out / "notes.jsonl").read_text(encoding="utf-8").splitlines()]
    assert notes and all("\ufffd" in n["text"] for n in notes)  # sanitised alike on every path
