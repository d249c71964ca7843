"""Logic behind ``dualalign annotate``, ``dualalign agreement`` and ``dualalign export --format review``.

The CLI wires typer commands to these functions; every bad input raises :class:`BadInput` naming the
file and the line (``field="line 7"``) or field; every write is atomic (temp file + ``os.replace``).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from attrs import frozen

from dualalign_core.annotate.agreement import AgreementReport, agreement
from dualalign_core.components import Annotator
from dualalign_core.context import RunContext
from dualalign_core.errors import BadInput
from dualalign_core.plugins import plugin_call
from dualalign_core.records import Label, Note, Provenance, Sentence, Usage
from dualalign_core.text.segment import segment
from dualalign_core.textio import check_unicode, read_text

SEGMENT_MODES = ("auto", "always", "never")


@frozen
class AnnotateStats:
    """What ``annotate_file`` did: records read, sentences labelled, labels by name, usage."""

    records: int
    sentences: int
    labels: dict[str, int]
    usage: Usage

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "sentences": self.sentences, "labels": dict(sorted(self.labels.items())),
                "input_tokens": self.usage.input_tokens, "output_tokens": self.usage.output_tokens,
                "cost_usd": self.usage.cost_usd}


def read_jsonl(path: str | Path, *, require: Sequence[str] = ("text",)) -> list[dict[str, Any]]:
    """JSON objects, one a line (blank lines skipped); BadInput names the file and line of a bad one."""
    path = Path(path)
    lines = read_text(path, what="input file").splitlines()
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"invalid JSON: {exc.msg} (column {exc.colno})", file=str(path), field=f"line {n}") from None
        if not isinstance(rec, dict):
            raise BadInput("expected a JSON object", file=str(path), field=f"line {n}")
        check_unicode(rec, file=path, field=f"line {n}")
        for key in require:
            if key not in rec:
                raise BadInput(f"missing field {key!r}", file=str(path), field=f"line {n}")
            if key == "text" and not isinstance(rec[key], str):
                raise BadInput("field 'text' must be a string", file=str(path), field=f"line {n}")
        out.append(rec)
    return out


def write_jsonl_atomic(path: str | Path, rows: Iterable[Mapping[str, Any]], *, field: str = "--out") -> int:
    """Write rows as JSONL via a temp file in the same directory and ``os.replace``; returns the row count."""
    from dualalign_core.atomic import atomic_writer

    n = 0
    with atomic_writer(path, field=field) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")
            n += 1
    return n


def _units(rec: Mapping[str, Any], index: int, mode: str) -> tuple[Note, list[Sentence]]:
    note_id = str(rec.get("note_id", rec.get("id", f"record-{index}")))
    text = rec["text"]
    prov = Provenance(run_id="annotate", seed=0, component="cli:annotate", plugin="dualalign-core",
                      plugin_version="unknown")
    note = Note(id=note_id, plan_id="", persona_id="", text=text, usage=Usage(), provenance=prov)
    spans = segment(text) if mode != "never" else []
    if mode == "never" or (mode == "auto" and len(spans) <= 1):
        sentences = [Sentence(f"{note_id}:0", note_id, 0, 0, len(text), text)]
    else:
        sentences = [Sentence(f"{note_id}:{i}", note_id, i, s.start, s.end, s.text, s.section)
                     for i, s in enumerate(spans)]
    return note, sentences


async def annotate_records(records: Sequence[Mapping[str, Any]], annotator: Annotator, ctx: RunContext, *,
                           segment_mode: str = "auto") -> tuple[list[dict[str, Any]], Usage]:
    """Label every record (a sentence, or a note that is segmented); output rows keep the input fields."""
    if segment_mode not in SEGMENT_MODES:
        raise BadInput(f"segment mode must be one of {SEGMENT_MODES}", field="segment")
    sem = asyncio.Semaphore(max(1, annotator.concurrency))
    units = [_units(rec, i, segment_mode) for i, rec in enumerate(records)]

    async def one(note: Note, sentences: list[Sentence]) -> tuple[list[Label], Usage]:
        if not sentences or not note.text.strip():
            return [], Usage()
        async with sem:
            with plugin_call(annotator, "annotate", "annotator"):
                result = await annotator.annotate(note, sentences, ctx)
        return list(result.labels), result.usage

    results = await asyncio.gather(*(one(n, s) for n, s in units))
    rows: list[dict[str, Any]] = []
    usage = Usage()
    for rec, (note, sentences), (labels, u) in zip(records, units, results, strict=True):
        usage = usage + u
        by_sentence = {lab.sentence_id: lab for lab in labels}
        segmented = len(sentences) > 1 or (sentences and sentences[0].text != rec["text"])
        for s in sentences:
            lab = by_sentence.get(s.id)
            row = dict(rec)
            if segmented:
                row.update({"note_id": note.id, "note_text": rec["text"], "text": s.text,
                            "sentence_index": s.index, "start": s.start, "end": s.end, "section": s.section})
            row["sentence_id"] = row.get("sentence_id", s.id)
            row["label"] = lab.label if lab else ctx.disease.negative_label
            row["binary"] = lab.binary if lab else False
            row["evidence"] = lab.evidence if lab else None
            row["annotator"] = lab.annotator if lab else annotator.name
            rows.append(row)
    return rows, usage


def annotate_file(in_path: str | Path, out_path: str | Path, annotator_name: str, disease_name: str, *,
                  segment_mode: str = "auto", options: Mapping[str, Any] | None = None,
                  registry: Any = None) -> AnnotateStats:
    """``dualalign annotate FILE --annotator NAME --out OUT``: label a JSONL file of texts."""
    from dualalign_core.plugins import get_registry

    records = read_jsonl(in_path)
    registry = registry or get_registry()
    disease = registry.get("disease", disease_name, field_path="disease")
    annotator = registry.create("annotator", annotator_name, dict(options or {}), field_path="--annotator")
    ctx = RunContext(run_id="annotate", seed=0, disease=disease)
    rows, usage = asyncio.run(annotate_records(records, annotator, ctx, segment_mode=segment_mode))
    write_jsonl_atomic(out_path, rows)
    return AnnotateStats(len(records), len(rows), dict(Counter(r["label"] for r in rows)), usage)


def _labels_from_rows(rows: Sequence[Mapping[str, Any]], path: str, annotator: str) -> list[Label]:
    out = []
    for n, r in enumerate(rows, 1):
        if "label" not in r:
            raise BadInput("missing field 'label'", file=path, field=f"record {n}")
        sid = r.get("sentence_id") or (f"{r['note_id']}:{r['sentence_index']}" if "sentence_index" in r
                                      and "note_id" in r else r.get("id", f"line-{n}"))
        out.append(Label(str(sid), str(r.get("note_id", "")), str(r["label"]), bool(r.get("binary", False)),
                         str(r.get("annotator", annotator)), r.get("evidence")))
    return out


def agreement_files(a_path: str | Path, b_path: str | Path, *, negative_label: str = "none",
                    labels: Sequence[str] | None = None, review_out: str | Path | None = None
                    ) -> AgreementReport:
    """``dualalign agreement A.jsonl B.jsonl``: kappa between two annotated files (matched by sentence id,
    else note id + sentence index, else record id); optionally write the disagreements for review."""
    rows_a = read_jsonl(a_path, require=("label",))
    rows_b = read_jsonl(b_path, require=("label",))
    la = _labels_from_rows(rows_a, str(a_path), "a")
    lb = _labels_from_rows(rows_b, str(b_path), "b")
    report = agreement(la, lb, labels=labels, negative_label=negative_label)
    if review_out is not None:
        texts = {lab.sentence_id: r.get("text") for lab, r in zip(la, rows_a, strict=True)}
        write_jsonl_atomic(review_out, review_rows(report, texts), field="--review")
    return report


def review_rows(report: AgreementReport, texts: Mapping[str, str | None]) -> Iterator[dict[str, Any]]:
    """Disagreements as rows a person adjudicates: fill ``adjudicated_label`` (and ``note``)."""
    for d in report.disagreements:
        yield {"sentence_id": d.sentence_id, "note_id": d.note_id, "text": texts.get(d.sentence_id),
               "annotator_a": report.annotator_a, "label_a": d.label_a, "evidence_a": d.evidence_a,
               "annotator_b": report.annotator_b, "label_b": d.label_b, "evidence_b": d.evidence_b,
               "adjudicated_label": None, "note": None}


def export_review(run_dir: str | Path, out_path: str | Path, *, annotator_a: str | None = None,
                  annotator_b: str | None = None) -> dict[str, Any]:
    """``dualalign export RUN --format review``: a JSONL a person can adjudicate.

    With labels from two annotators in the run: their disagreements (and the kappa figures in the result).
    With one annotator: every labelled sentence with its label as a template to confirm or correct.
    """
    from dualalign_core.export import open_run

    store = open_run(run_dir)
    try:
        texts = {s.id: s.text for s in store.iter_records("sentences")}
        by_annotator: dict[str, list[Label]] = {}
        for lab in store.iter_records("labels"):
            by_annotator.setdefault(lab.annotator, []).append(lab)
    finally:
        store.close()
    names = sorted(by_annotator)
    a = annotator_a or (names[0] if names else None)
    b = annotator_b or next((n for n in names if n != a), None)
    for name, flag in ((annotator_a, "annotator_a"), (annotator_b, "annotator_b")):
        if name is not None and name not in by_annotator:
            raise BadInput(f"no labels by annotator {name!r} (found: {', '.join(names) or 'none'})",
                           file=str(run_dir), field=flag)
    if a is None:
        write_jsonl_atomic(out_path, [])
        return {"rows": 0, "mode": "empty"}
    if b is None:
        rows = [{"sentence_id": lab.sentence_id, "note_id": lab.note_id, "text": texts.get(lab.sentence_id),
                 "annotator": lab.annotator, "label": lab.label, "evidence": lab.evidence,
                 "adjudicated_label": None, "note": None} for lab in by_annotator[a]]
        return {"rows": write_jsonl_atomic(out_path, rows), "mode": "single", "annotator": a}
    report = agreement(by_annotator[a], by_annotator[b])
    n = write_jsonl_atomic(out_path, review_rows(report, texts))
    return {"rows": n, "mode": "disagreements", **report.as_dict()}
