"""Logic behind ``dualalign annotate``, ``dualalign agreement`` and ``dualalign export --format review``.

The CLI wires typer commands to these functions; every bad input raises :class:`BadInput` naming the
file and the line (``field="line 7"``) or field; every write is atomic (temp file + ``os.replace``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from dualalign_core.annotate.agreement import AgreementReport, agreement
from dualalign_core.annotate.output import Tally, check_target, check_unchanged, is_stream, state_dir
from dualalign_core.atomic import atomic_writer, check_file_target
from dualalign_core.components import Annotator
from dualalign_core.context import RunContext
from dualalign_core.errors import BadInput
from dualalign_core.plugins import plugin_call
from dualalign_core.records import Label, Note, Provenance, Sentence, Usage, canonical_json
from dualalign_core.run.lock import locked
from dualalign_core.run.note import sentence_id
from dualalign_core.text.segment import segment
from dualalign_core.textio import check_unicode, iter_lines

SEGMENT_MODES = ("auto", "always", "never")


@frozen
class AnnotateStats:
    """What ``annotate_file`` did: records read, sentences labelled, labels by name, usage, failures."""

    records: int
    sentences: int
    labels: dict[str, int]
    usage: Usage
    failed: tuple[dict[str, Any], ...] = ()
    skipped: int = 0
    stopped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "sentences": self.sentences,
            "labels": dict(sorted(self.labels.items())),
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "cost_usd": self.usage.cost_usd,
            "resumed_done": self.skipped,
            "failed": len(self.failed),
            "failures": list(self.failed[:20]),
            "stopped": self.stopped,
        }


def _constant(name: str) -> None:
    """NaN / Infinity in input JSON become null (never written back as non-standard JSON)."""
    return None


def iter_jsonl(path: str | Path, *, require: Sequence[str] = ("text",)) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) pairs, blank lines skipped; BadInput names the file and line of a bad one."""
    path = Path(path)
    for n, line in iter_lines(path, what="input file"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line, parse_constant=_constant)
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
        yield n, rec


def read_jsonl(path: str | Path, *, require: Sequence[str] = ("text",)) -> list[dict[str, Any]]:
    """JSON objects, one a line (blank lines skipped); BadInput names the file and line of a bad one."""
    return [rec for _, rec in iter_jsonl(path, require=require)]


def dumps(row: Mapping[str, Any]) -> str:
    """One JSONL line: standard JSON only (never NaN or Infinity)."""
    return json.dumps(row, ensure_ascii=False, sort_keys=False, allow_nan=False)


REVIEW = "review file (or it holds adjudications)"


def is_review(path: Path) -> bool:
    """An existing file a review output may replace: empty, or a review file nobody adjudicated yet (every row
    has ``adjudicated_label``, and it and ``note`` are still null)."""
    try:
        if path.stat().st_size > 256 * 2**20:
            return False
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError):
        return False
    return all(
        isinstance(r, dict) and "adjudicated_label" in r and r["adjudicated_label"] is None and r.get("note") is None
        for r in rows
    )


def check_review_target(path: str | Path, *, field: str = "--out", inputs: Iterable[str | Path] = ()) -> Path:
    """A review output's target, refused (exit 2 naming it) when it is an input, a run's file or not ours."""
    return check_file_target(path, field=field, owned=is_review, what=REVIEW, inputs=inputs)


def write_jsonl_atomic(
    path: str | Path,
    rows: Iterable[Mapping[str, Any]],
    *,
    field: str = "--out",
    inputs: Iterable[str | Path] = (),
) -> int:
    """Write a review file's rows as JSONL via a temp file in the same directory and ``os.replace``, replacing
    only an earlier review file (:func:`check_review_target`); returns the row count."""
    n = 0
    with atomic_writer(path, field=field, owned=is_review, what=REVIEW, inputs=inputs) as f:
        for row in rows:
            f.write(dumps(row) + "\n")
            n += 1
    return n


def record_id(rec: Mapping[str, Any], line: int, path: str = "") -> str:
    """A record's id: ``note_id``, else ``id``, else (missing or null) ``line-N`` from its line number."""
    for key in ("note_id", "id"):
        value = rec.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value):
            raise BadInput(f"field {key!r} must be a non-empty string or an integer", file=path, field=f"line {line}")
        return str(value)
    return f"line-{line}"


def _units(rec: Mapping[str, Any], index: int, mode: str, path: str = "") -> tuple[Note, list[Sentence]]:
    """A record as a note and its sentences (``index`` is the record's line number)."""
    note_id = record_id(rec, index, path)
    text = rec["text"]
    prov = Provenance(
        run_id="annotate", seed=0, component="cli:annotate", plugin="dualalign-core", plugin_version="unknown"
    )
    note = Note(id=note_id, plan_id="", persona_id="", text=text, usage=Usage(), provenance=prov)
    spans = segment(text) if mode != "never" else []
    if mode == "never" or (mode == "auto" and len(spans) <= 1):
        sid, given = rec.get("sentence_id"), rec.get("sentence_index")  # not ``index``: that is the line
        if sid is None:
            whole = given is None or isinstance(given, int)
            sid = sentence_id(note_id, given or 0) if whole else f"{note_id}-s{given}"
        sentences = [Sentence(str(sid), note_id, 0, 0, len(text), text)]
    else:
        sentences = [
            Sentence(sentence_id(note_id, i), note_id, i, s.start, s.end, s.text, s.section)
            for i, s in enumerate(spans)
        ]
    return note, sentences


def _rows(
    rec: Mapping[str, Any],
    note: Note,
    sentences: Sequence[Sentence],
    labels: Sequence[Label],
    annotator: str,
    negative: str,
) -> Iterator[dict[str, Any]]:
    """Output rows of one record, one at a time. A segmented note's rows carry the note id, the sentence and
    its offsets into the note's ``text`` (never the whole note again: output size is linear in the input)."""
    by_sentence = {lab.sentence_id: lab for lab in labels}
    segmented = len(sentences) > 1 or bool(sentences and sentences[0].text != rec["text"])
    meta = {k: v for k, v in rec.items() if k not in ("text", "note_text")} if segmented else dict(rec)
    for s in sentences:
        lab = by_sentence.get(s.id)
        row = dict(meta)
        if segmented:
            row.update(
                {
                    "note_id": note.id,
                    "text": s.text,
                    "sentence_index": s.index,
                    "start": s.start,
                    "end": s.end,
                    "section": s.section,
                }
            )
        row["sentence_id"] = s.id
        row["label"] = lab.label if lab else negative
        row["binary"] = lab.binary if lab else False
        row["evidence"] = lab.evidence if lab else None
        row["annotator"] = lab.annotator if lab else annotator
        yield row


def _write_rows(fh: Any, rows: Iterable[Mapping[str, Any]], chunk: int = 1024) -> None:
    """Rows as JSONL lines, encoded ``chunk`` rows at a time (a huge note's output is never held whole)."""
    lines: list[str] = []
    for row in rows:
        lines.append(dumps(row))
        if len(lines) >= chunk:
            fh.write(("\n".join(lines) + "\n").encode("utf-8"))
            lines.clear()
    if lines:
        fh.write(("\n".join(lines) + "\n").encode("utf-8"))


async def _label(
    note: Note, sentences: list[Sentence], annotator: Annotator, ctx: RunContext
) -> tuple[list[Label], Usage]:
    if not sentences or not note.text.strip():
        return [], Usage()
    with plugin_call(annotator, "annotate", "annotator"):
        result = await annotator.annotate(note, sentences, ctx)
    return list(result.labels), result.usage


async def annotate_records(
    records: Sequence[Mapping[str, Any]], annotator: Annotator, ctx: RunContext, *, segment_mode: str = "auto"
) -> tuple[list[dict[str, Any]], Usage]:
    """Label every record (a sentence, or a note that is segmented) in one pass; rows keep the input fields."""
    if segment_mode not in SEGMENT_MODES:
        raise BadInput(f"segment mode must be one of {SEGMENT_MODES}", field="segment")
    sem = asyncio.Semaphore(max(1, annotator.concurrency))
    units = [_units(rec, i + 1, segment_mode) for i, rec in enumerate(records)]

    async def one(note: Note, sentences: list[Sentence]) -> tuple[list[Label], Usage]:
        async with sem:
            return await _label(note, sentences, annotator, ctx)

    results = await asyncio.gather(*(one(n, s) for n, s in units))
    rows: list[dict[str, Any]] = []
    usage = Usage()
    for rec, (note, sentences), (labels, u) in zip(records, units, results, strict=True):
        usage = usage + u
        rows.extend(_rows(rec, note, sentences, labels, annotator.name, ctx.disease.negative_label))
    return rows, usage


def _fingerprint(in_path: Path, **settings: Any) -> str:
    digest = hashlib.sha256()
    with in_path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() + ":" + canonical_json(settings)


def annotate_file(
    in_path: str | Path,
    out_path: str | Path,
    annotator_name: str,
    disease_name: str | None,
    *,
    segment_mode: str = "auto",
    options: Mapping[str, Any] | None = None,
    registry: Any = None,
) -> AnnotateStats:
    """``dualalign annotate FILE --annotator NAME --out OUT``: label a JSONL file of texts.

    Streams: each record's rows are appended to ``OUT`` and flushed as soon as it is labelled, then the
    record is marked done in ``OUT.state/`` (a run store: LLM reply cache, one unit per record with its cost).
    A record whose annotator call fails (invalid reply, retries exhausted) is recorded as failed and the
    file goes on. Rerunning the same command resumes: done records are skipped, failed ones retried, and
    replies already paid for come from the cache. Ids: ``note_id``, else ``id``, else ``line-N``; a
    duplicate id is bad input (exit 2).
    """
    from dualalign_core.disease import installed_pack_name
    from dualalign_core.plugins import get_registry
    from dualalign_core.run.store import RunStore, UnitResult

    if segment_mode not in SEGMENT_MODES:
        raise BadInput(f"segment mode must be one of {SEGMENT_MODES}", field="--segment")
    in_path, out_path = Path(in_path), Path(out_path)
    check_target(out_path, in_path)  # never the input, a run's file or someone else's: before any work
    # a first pass validates the whole file (JSON, ids, duplicates) before any work or any write
    seen: dict[str, int] = {}
    n_records = 0
    for line, rec in iter_jsonl(in_path):
        rid = record_id(rec, line, str(in_path))
        if rid in seen:
            raise BadInput(f"duplicate id {rid!r} (first on line {seen[rid]})", file=str(in_path), field=f"line {line}")
        seen[rid] = line
        n_records += 1
    registry = registry or get_registry()
    disease_name = installed_pack_name(disease_name, registry.names("disease"))
    disease = registry.get("disease", disease_name, field_path="--disease")
    # options (``--option KEY=VALUE``, ``--model``) are validated against the annotator's options_schema
    annotator = registry.create(
        "annotator",
        annotator_name,
        dict(options or {}),
        field_path="--annotator",
        name_field="--annotator",
        options_field="--option",
    )
    check = getattr(annotator, "preflight", None)
    if callable(check):  # e.g. a vendor backend without its API key: exit 2 before any work
        try:
            check()
        except BadInput as exc:
            raise BadInput(str(exc), field="--annotator") from None
    fingerprint = _fingerprint(
        in_path, annotator=annotator_name, disease=disease_name, segment=segment_mode, options=dict(options or {})
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if is_stream(out_path):  # /dev/null, a pipe: nothing to resume, no state left beside it
            state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dualalign-annotate-")))
        else:
            state = state_dir(out_path)
            stack.enter_context(locked(state, what="annotate state directory"))  # one annotate per output
        store = stack.enter_context(RunStore(state))
        sha = _continue(store, out_path, fingerprint, n_records)
        ctx = RunContext(run_id="annotate", seed=0, disease=disease, store=store)
        job = _stream(in_path, out_path, annotator, ctx, store, segment_mode, n_records, UnitResult, sha)
        return asyncio.run(job)
    raise AssertionError("unreachable")  # pragma: no cover - the block returns or raises


def _continue(store: Any, out_path: Path, fingerprint: str, n_records: int) -> Any:
    """Check the output is what annotate left before going on (:func:`check_unchanged`), or start the job
    over (another input or settings, or the output is gone; the reply cache stays); the output's digest."""
    same = store.get_meta("input") == fingerprint
    sha = None
    if out_path.is_file():
        pending = not same or len(store.finished_units()) < n_records
        offset = int(store.get_meta("out_offset") or 0)
        sha = check_unchanged(out_path, offset, store.get_meta("out_sha256"), pending=pending)
    if not same or sha is None:
        store.reset_job()
        store.set_meta("input", fingerprint)
        store.set_meta("out_offset", 0)
        sha = None
    return sha


async def _stream(
    in_path: Path,
    out_path: Path,
    annotator: Annotator,
    ctx: RunContext,
    store: Any,
    segment_mode: str,
    n_records: int,
    unit_result: Any,
    sha: Any,
) -> AnnotateStats:
    from dualalign_core.errors import RunFailed

    done = store.finished_units()
    skipped = len(done)
    offset = int(store.get_meta("out_offset") or 0)
    stream = is_stream(out_path)
    counted: Counter[str] = Counter()
    window = max(1, 2 * annotator.concurrency)
    sem = asyncio.Semaphore(max(1, annotator.concurrency))
    stopped: str | None = None

    async def one(line: int, rec: dict[str, Any]) -> tuple[Any, Iterable[dict[str, Any]]]:
        note, sentences = _units(rec, line, segment_mode, str(in_path))
        uid = f"line-{line}"
        with ctx.unit_scope(uid) as scope:
            try:
                async with sem:
                    labels, usage = await _label(note, sentences, annotator, ctx)
            except RunFailed:
                raise
            except Exception as exc:  # this record failed; the file goes on (retried on the next run)
                error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                wasted = getattr(exc, "usage", None)
                return unit_result(
                    uid,
                    line,
                    "failed",
                    error=error,
                    usage=wasted if isinstance(wasted, Usage) else Usage(),
                    billed=sorted(scope.billed),
                ), []
            rows = _rows(rec, note, sentences, labels, annotator.name, ctx.disease.negative_label)
            return unit_result(uid, line, "accepted", usage=usage, billed=sorted(scope.billed)), rows

    with out_path.open("r+b" if out_path.is_file() else "wb") as fh:
        if not stream:  # checked: offset <= size (never padded with NULs)
            fh.truncate(offset)  # drop rows written after the last committed record (a kill in between)
            fh.seek(offset)
        out = Tally(fh, offset, sha)
        batch: list[tuple[int, dict[str, Any]]] = []

        async def flush() -> None:
            results = await asyncio.gather(*(one(line, rec) for line, rec in batch))
            batch.clear()
            for result, rows in results:  # in input order: write + flush, then commit the record as done
                start = out.offset
                try:
                    _write_rows(out, _counting(rows, counted))
                    fh.flush()
                except BaseException:
                    if not stream:
                        fh.truncate(start)  # no part of an uncommitted record stays behind
                    raise
                prior = store.unit_usage(result.plan_id)
                store.commit_units([attrs.evolve(result, usage=prior + result.usage)], meta=out.meta())

        try:
            for line, rec in iter_jsonl(in_path):
                if f"line-{line}" in done:
                    continue
                batch.append((line, rec))
                if len(batch) >= window:
                    await flush()
            if batch:
                await flush()
        except RunFailed as exc:  # budget or error-rate breaker: what is done stays done
            stopped = str(exc)
    failed = tuple({"line": int(uid.split("-", 1)[1]), "error": err} for uid, err in store.failed_units())
    labels = counted if stream else _label_counts(out_path)
    usage = Usage(**store.counts()["usage"])
    return AnnotateStats(n_records, sum(labels.values()), dict(labels), usage, failed, skipped, stopped)


def _counting(rows: Iterable[dict[str, Any]], labels: Counter[str]) -> Iterator[dict[str, Any]]:
    """``rows`` unchanged, each counted by its label."""
    for row in rows:
        labels[row["label"]] += 1
        yield row


def _label_counts(path: Path) -> Counter[str]:
    """Labels of every row of an annotate output (BadInput naming it and the line if one is not a row)."""
    labels: Counter[str] = Counter()
    for n, line in iter_lines(path, what="annotate output"):
        if line.strip():
            try:
                labels[json.loads(line)["label"]] += 1
            except (ValueError, KeyError, TypeError):
                raise BadInput("is not an annotate output row", file=str(path), field=f"line {n}") from None
    return labels


def _labels_from_rows(
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    path: str,
    annotator: str,
    allowed: set[str] | None = None,
    negative: Callable[[], str] | None = None,
) -> list[Label]:
    """Labels of ``(line, row)`` pairs; BadInput (file, line, field) for a null, empty or unknown label and
    for a sentence id that appears twice (duplicates would silently collapse). A row without ``binary`` is a
    symptom unless its label is ``negative()`` (the pack's negative label, looked up only when needed)."""
    out = []
    seen: dict[str, int] = {}
    for n, r in rows:
        label = r.get("label")
        if not isinstance(label, str) or not label.strip():
            raise BadInput(
                f"field 'label' must be a non-empty string, got {json.dumps(label)}",
                file=path,
                field=f"line {n}: label",
            )
        if allowed is not None and label not in allowed:
            raise BadInput(
                f"unknown label {label!r} (expected one of {sorted(allowed)})", file=path, field=f"line {n}: label"
            )
        sid = r.get("sentence_id") or (
            f"{r['note_id']}:{r['sentence_index']}"
            if r.get("sentence_index") is not None and r.get("note_id") is not None
            else r.get("id")
        )
        if sid is None:
            sid = f"line-{n}"
        sid = str(sid)
        if sid in seen:
            raise BadInput(f"duplicate sentence id {sid!r} (first on line {seen[sid]})", file=path, field=f"line {n}")
        seen[sid] = n
        binary = bool(r["binary"]) if "binary" in r else (negative is not None and label != negative())
        out.append(
            Label(
                sid, str(r.get("note_id") or ""), label, binary, str(r.get("annotator", annotator)), r.get("evidence")
            )
        )
    return out


def _installed_negative_label() -> str:
    """The negative label of the one installed disease pack (rows without ``binary`` need it)."""
    from dualalign_core.disease import installed_pack_name
    from dualalign_core.plugins import get_registry

    registry = get_registry()
    return registry.diseases[installed_pack_name(None, registry.diseases)].negative_label


def pack_label_space(disease: str | None) -> tuple[list[str] | None, str | None]:
    """The labels (negative first) and negative label of pack ``disease``, else of the one installed pack;
    ``(None, None)`` when no name is given and not exactly one pack is installed (labels go unchecked)."""
    from dualalign_core.disease import installed_pack_name
    from dualalign_core.plugins import get_registry

    registry = get_registry()
    if disease is None and len(registry.names("disease")) != 1:
        return None, None
    pack = registry.get("disease", installed_pack_name(disease, registry.names("disease")), field_path="--disease")
    return [pack.negative_label, *pack.labels], pack.negative_label


def agreement_files(
    a_path: str | Path,
    b_path: str | Path,
    *,
    negative_label: str | None = None,
    labels: Sequence[str] | None = None,
    review_out: str | Path | None = None,
    disease: str | None = None,
) -> AgreementReport:
    """``dualalign agreement A.jsonl B.jsonl``: kappa between two annotated files (matched by sentence id,
    else note id + sentence index, else record id, else line number); optionally write the disagreements
    for review. Duplicate ids, null or unknown labels, and files with no sentence in common are bad input.
    Without ``labels``, the labels are those of pack ``disease`` (or of the one installed pack)."""
    if review_out is not None:  # before any work: never an input, a run's file or someone else's file
        check_review_target(review_out, field="--review", inputs=[a_path, b_path])
    known, negative_label = (labels, negative_label) if labels is not None else pack_label_space(disease)
    allowed = {*known, negative_label} if known is not None and negative_label is not None else None
    rows_a = list(iter_jsonl(a_path, require=("label",)))
    rows_b = list(iter_jsonl(b_path, require=("label",)))
    # looked up once per call, and only if a row lacks ``binary`` (the registry may differ between calls)
    negative = (lambda: negative_label) if negative_label is not None else functools.cache(_installed_negative_label)
    la = _labels_from_rows(rows_a, str(a_path), "a", allowed, negative)
    lb = _labels_from_rows(rows_b, str(b_path), "b", allowed, negative)
    shared = {lab.sentence_id for lab in la} & {lab.sentence_id for lab in lb}
    if not shared:
        what = "is empty" if not la or not lb else "has no sentence id in common with the other"
        empty = a_path if not la else b_path
        raise BadInput(
            f"nothing to compare: {'this file' if not la or not lb else 'A'} {what} "
            f"(A: {len(la)} labels, B: {len(lb)}); kappa is undefined",
            file=str(empty if not la or not lb else a_path),
        )
    report = agreement(la, lb, labels=labels)
    if review_out is not None:
        texts = {lab.sentence_id: r.get("text") for lab, (_, r) in zip(la, rows_a, strict=True)}
        write_jsonl_atomic(review_out, review_rows(report, texts), field="--review", inputs=[a_path, b_path])
    return report


def review_rows(report: AgreementReport, texts: Mapping[str, str | None]) -> Iterator[dict[str, Any]]:
    """Disagreements as rows a person adjudicates: fill ``adjudicated_label`` (and ``note``)."""
    for d in report.disagreements:
        yield {
            "sentence_id": d.sentence_id,
            "note_id": d.note_id,
            "text": texts.get(d.sentence_id),
            "annotator_a": report.annotator_a,
            "label_a": d.label_a,
            "evidence_a": d.evidence_a,
            "annotator_b": report.annotator_b,
            "label_b": d.label_b,
            "evidence_b": d.evidence_b,
            "adjudicated_label": None,
            "note": None,
        }


def export_review(
    run_dir: str | Path, out_path: str | Path, *, annotator_a: str | None = None, annotator_b: str | None = None
) -> dict[str, Any]:
    """``dualalign export RUN --format review``: a JSONL a person can adjudicate.

    With labels from two annotators in the run: their disagreements (and the kappa figures in the result).
    With one annotator: every labelled sentence with its label as a template to confirm or correct.
    """
    from dualalign_core.run.view import open_run

    check_review_target(out_path)  # before any work
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
            raise BadInput(
                f"no labels by annotator {name!r} (found: {', '.join(names) or 'none'})", file=str(run_dir), field=flag
            )
    if a is None:
        write_jsonl_atomic(out_path, [])
        return {"rows": 0, "mode": "empty"}
    if b is None:
        rows = [
            {
                "sentence_id": lab.sentence_id,
                "note_id": lab.note_id,
                "text": texts.get(lab.sentence_id),
                "annotator": lab.annotator,
                "label": lab.label,
                "evidence": lab.evidence,
                "adjudicated_label": None,
                "note": None,
            }
            for lab in by_annotator[a]
        ]
        return {"rows": write_jsonl_atomic(out_path, rows), "mode": "single", "annotator": a}
    report = agreement(by_annotator[a], by_annotator[b])
    n = write_jsonl_atomic(out_path, review_rows(report, texts))
    return {"rows": n, "mode": "disagreements", **report.as_dict()}
