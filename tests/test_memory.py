"""Notes that remember what was written (``[generator] memory = "notes"``) without an LLM: the extractive
summariser, the config knob, and the template generator through the CLI (chains record what each note was
conditioned on; both chain schedulers, and shards merged, store what one run does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dualalign_core.components import NoteBundle
from dualalign_core.config import MEMORY_WORDS, parse_config
from dualalign_core.history.memory import ExtractiveSummariser
from dualalign_core.plugins import get_registry
from dualalign_core.records import Label, Note, NotePlan, Persona, Provenance, Sentence, Usage
from dualalign_core.run.chains import NoteScheduler
from dualalign_core.seeds import short_hash
from support import dualalign

TEMPLATE = Path(__file__).parents[1] / "examples" / "alzheimers-template.toml"
needs_ad = pytest.mark.skipif("alzheimers" not in get_registry().names("disease"), reason="needs the AD pack")
PROV = Provenance(run_id="r", seed=1, component="test", plugin="test", plugin_version="0")
PERSONA = Persona(id="p1", age=70, demographics={}, risk_factors=(), provenance=PROV)


def plan(index: int, years: float, note_type: str = "primary_care") -> NotePlan:
    return NotePlan(f"p1-n{index}", "p1", index, years, note_type, "mci", 1, (), PROV)


def bundle(index: int, years: float, sentences: list[tuple[str | None, str, str]]) -> NoteBundle:
    """A note of ``(section, text, label)`` sentences."""
    p = plan(index, years)
    note = Note(p.id, p.id, "p1", " ".join(t for _, t, _ in sentences), Usage(), PROV)
    ss = tuple(Sentence(f"{p.id}-s{i}", p.id, i, 0, 0, t, section) for i, (section, t, _) in enumerate(sentences))
    labels = tuple(
        Label(s.id, p.id, label, label != "none", "x") for s, (_, _, label) in zip(ss, sentences, strict=True)
    )
    return NoteBundle(PERSONA, p, note, ss, labels)


EARLIER = [
    bundle(0, 2.0, [("subjective", "Feels well.", "none"), ("assessment", "Hypertension controlled.", "none")]),
    bundle(1, 1.5, [("subjective", "Forgets  names\nat times.", "memory"), ("plan", "Recheck in 6 months.", "none")]),
]


def test_the_summary_is_the_most_recent_notes_assessment_plan_and_symptoms_first():
    summarise = ExtractiveSummariser(words=100, negative_label="none")
    memory = summarise(plan(2, 1.0), EARLIER)
    assert memory.text == (
        "Primary care, 6 months earlier: Recheck in 6 months. Forgets names at times.\n"
        "Primary care, 12 months earlier: Hypertension controlled."
    )  # plan before symptoms, whitespace folded, the unlabelled subjective sentence left out
    assert memory.note_ids == ("p1-n1", "p1-n0") and memory.hash == short_hash(memory.text)
    assert summarise(plan(2, 1.0), EARLIER) == memory  # pure


def test_the_summary_is_bounded_in_whole_sentences_and_empty_for_a_first_note():
    tight = ExtractiveSummariser(words=9, negative_label="none")(plan(2, 1.0), EARLIER)
    assert tight.text == "Primary care, 6 months earlier: Recheck in 6 months." and tight.note_ids == ("p1-n1",)
    first = ExtractiveSummariser(words=100, negative_label="none")(plan(0, 2.0), [])
    assert first.text == "" and first.note_ids == () and first.hash == short_hash("")


def test_memory_is_part_of_the_config_and_of_the_run_identity():
    base = parse_config({"disease": {"name": "x"}})
    assert (base.memory, base.memory_words) == ("timeline", MEMORY_WORDS)
    assert "memory" not in base.to_dict()["generator"]  # runs that leave it out keep their run id
    notes = parse_config({"disease": {"name": "x"}, "generator": {"memory": "notes", "memory_words": 80}})
    assert parse_config(notes.to_dict()).to_dict() == notes.to_dict() and notes.identity() != base.identity()
    assert (
        base.override(memory="notes").identity()
        == parse_config({"disease": {"name": "x"}, "generator": {"memory": "notes"}}).identity()
    )


def test_a_bad_memory_is_exit_2_naming_the_option(tmp_path):
    result = dualalign("run", str(TEMPLATE), "--out", str(tmp_path / "r"), "--memory", "everything", "--quiet")
    assert result.returncode == 2 and "--memory" in result.stderr and "Traceback" not in result.stderr


def _export(run: Path, out: Path) -> dict[str, bytes]:
    result = dualalign("export", str(run), "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix == ".jsonl"}


def _run(*args: str) -> None:
    result = dualalign("run", str(TEMPLATE), "--patients", "6", *args, "--quiet")
    assert result.returncode == 0, result.stderr


@needs_ad
def test_template_notes_record_their_chain_and_every_scheduler_stores_the_same(tmp_path, monkeypatch):
    _run("--out", str(tmp_path / "timeline"))
    _run("--out", str(tmp_path / "stream"), "--memory", "notes")
    monkeypatch.setattr(NoteScheduler, "scheduler", "waves")
    _run("--out", str(tmp_path / "waves"), "--memory", "notes")
    stream = _export(tmp_path / "stream", tmp_path / "e-stream")
    assert _export(tmp_path / "waves", tmp_path / "e-waves") == stream
    notes = [json.loads(line) for line in stream["notes.jsonl"].splitlines()]
    plans = {p["id"]: p for p in map(json.loads, stream["plans.jsonl"].splitlines())}
    for n in notes:  # (a note a cohort filter rejects later may have been remembered: it was accepted then)
        earlier = [m["id"] for m in notes if m["persona_id"] == n["persona_id"]]
        earlier = [i for i in earlier if plans[i]["index"] < plans[n["id"]]["index"]]
        assert set(n["conditioned_on"]) <= set(earlier) and n["memory_hash"]
        assert list(n["conditioned_on"]) == sorted(n["conditioned_on"], key=lambda i: -plans[i]["index"])
    assert any(n["conditioned_on"] for n in notes)
    timeline = [
        json.loads(line) for line in _export(tmp_path / "timeline", tmp_path / "e-t")["notes.jsonl"].splitlines()
    ]
    assert all(n["conditioned_on"] == [] and n["memory_hash"] is None for n in timeline)
    ids = [json.loads((tmp_path / d / "manifest.json").read_text())["run_id"] for d in ("timeline", "stream")]
    assert ids[0] != ids[1]  # what a note remembers is part of what the run makes


@needs_ad
def test_shards_of_a_run_that_remembers_merge_to_the_unsharded_run(tmp_path):
    _run("--out", str(tmp_path / "whole"), "--memory", "notes")
    for k in (1, 2):
        _run("--out", str(tmp_path / str(k)), "--memory", "notes", "--shard", f"{k}/2")
    merged = dualalign("merge", str(tmp_path / "1"), str(tmp_path / "2"), "--out", str(tmp_path / "m"), "--quiet")
    assert merged.returncode == 0, merged.stderr
    assert _export(tmp_path / "m", tmp_path / "e-m") == _export(tmp_path / "whole", tmp_path / "e-w")


@needs_ad
def test_estimate_counts_the_summary_of_each_note_after_a_patients_first(monkeypatch):
    from dualalign_core.llm.estimate import estimate_run

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    doc = {"run": {"patients": 3, "max_notes_per_patient": 4}, "disease": {"name": "alzheimers"}}
    gen = {"name": "openai", "model": "gpt-4o"}
    timeline = estimate_run(parse_config(doc | {"generator": gen}))
    notes = estimate_run(parse_config(doc | {"generator": gen | {"memory": "notes", "memory_words": 150}}))
    assert notes.assumptions["memory_tokens"] == 200 and timeline.assumptions["memory_tokens"] == 0
    assert notes.generator.input_tokens - timeline.generator.input_tokens == 200 * 3 * 3  # 3 later notes each
