"""The one reader of a run directory: manifest, disease pack, records, joins and note bundles.

Exports, the report, the dataset card, training data and the CLI summary read a run here (read-only); the
coordinator reads its own bundles back through :func:`load_bundles` on its writable store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from dualalign_core.components import NoteBundle
from dualalign_core.disease import DiseasePack
from dualalign_core.errors import BadInput
from dualalign_core.history.timeline import Timeline
from dualalign_core.records import Label, Note, NotePlan, Persona, Sentence, Usage
from dualalign_core.run.store import DB_NAME, MANIFEST, RunStore
from dualalign_core.textio import read_text


def load_disease(manifest: dict[str, Any]) -> DiseasePack | None:
    """The run's disease pack (by stored path, else by registered name); ``None`` if it cannot be found."""
    spec = manifest.get("config", {}).get("disease", {})
    try:
        if spec.get("path"):
            return DiseasePack.from_directory(spec["path"])
        from dualalign_core.plugins import get_registry

        return get_registry().get("disease", spec.get("name") or manifest.get("disease", {}).get("name", ""))
    except BadInput:
        return None


def read_manifest(path: Path) -> dict[str, Any]:
    """The run's manifest (``{}`` if absent); a corrupt one is :class:`BadInput` naming it."""
    if not path.exists():
        return {}
    try:
        data = json.loads(read_text(path, what="run manifest"))
    except BadInput:
        raise
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc).splitlines()[0]
        raise BadInput(f"cannot read the run manifest: {reason}", file=str(path)) from None
    if not isinstance(data, dict):
        raise BadInput("cannot read the run manifest: expected a JSON object", file=str(path))
    return data


def open_run(run_dir: str | Path) -> RunStore:
    """A run's store, read-only; a directory that is not a run is :class:`BadInput` naming it."""
    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).is_file():
        raise BadInput("not a run directory (no run.sqlite)", file=str(run_dir))
    return RunStore(run_dir, readonly=True)


def load_bundles(store: RunStore, *, accepted_only: bool = True, include_cohort: bool = True) -> list[NoteBundle]:
    """Every stored note with its persona, plan, sentences and labels, in plan order; ``accepted_only``
    keeps accepted units (``include_cohort``: less the notes a cohort filter rejects)."""
    personas = {p.id: p for p in store.personas()}
    plans = {p.id: p for p in store.plans()}
    statuses = store.unit_status()
    cohort_rejected = store.cohort_rejected()
    sentences: dict[str, list[Sentence]] = {}
    for s in store.iter_records("sentences"):
        sentences.setdefault(s.note_id, []).append(s)
    labels: dict[str, list[Label]] = {}
    for lb in store.iter_records("labels"):
        labels.setdefault(lb.note_id, []).append(lb)
    out = []
    for note in store.iter_records("notes"):
        if accepted_only and (
            statuses.get(note.plan_id) != "accepted" or (include_cohort and note.id in cohort_rejected)
        ):
            continue
        out.append(
            NoteBundle(
                persona=personas[note.persona_id],
                plan=plans[note.plan_id],
                note=note,
                sentences=tuple(sentences.get(note.id, ())),
                labels=tuple(labels.get(note.id, ())),
            )
        )
    return out


def patient_history(store: RunStore, persona: Persona, plans: dict[str, NotePlan]) -> list[NoteBundle]:
    """One patient's accepted notes as bundles, in plan order (``plans``: the patient's, by id)."""
    return [
        NoteBundle(persona=persona, plan=plans[note.plan_id], note=note, sentences=tuple(s), labels=tuple(lb))
        for note, s, lb in store.accepted_of(persona.id)
    ]


def patient_bundles(store: RunStore) -> Iterator[list[NoteBundle]]:
    """Each patient's accepted notes as bundles (plan order), patients in cohort order, one patient held at a
    time: the whole stream is in plan order. Cohort filters stream through it."""
    for persona in store.personas():
        if bundles := patient_history(store, persona, {p.id: p for _, p in store.plans_of(persona.id)}):
            yield bundles


class RunView:
    """Everything the report, the card, the exports, training and the CLI read from a run directory."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        if not (self.dir / DB_NAME).is_file():
            raise BadInput("not a run directory (no run.sqlite)", file=str(self.dir))
        self.manifest = read_manifest(self.dir / MANIFEST)
        self.store = RunStore(self.dir, readonly=True)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> RunView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def disease(self) -> DiseasePack | None:
        return load_disease(self.manifest)

    @cached_property
    def personas(self) -> dict[str, Persona]:
        return {p.id: p for p in self.store.personas()}

    @cached_property
    def plans(self) -> dict[str, NotePlan]:
        return {p.id: p for p in self.store.plans()}

    @cached_property
    def timelines(self) -> dict[str, Timeline]:
        """persona id -> the patient's planned timeline, in persona-id order (empty: a run without one)."""
        return {t.persona_id: t for t in sorted(self.store.timelines(), key=lambda t: t.persona_id)}

    @cached_property
    def notes(self) -> dict[str, Note]:
        return {n.id: n for n in self.store.iter_records("notes")}

    @cached_property
    def status(self) -> dict[str, str]:
        """note id -> accepted | rejected."""
        return self.store.note_status()

    @cached_property
    def accepted(self) -> list[Note]:
        return [n for n in self.notes.values() if self.status.get(n.id) == "accepted"]

    @cached_property
    def sentences(self) -> dict[str, list[Sentence]]:
        out: dict[str, list[Sentence]] = {}
        for s in self.store.iter_records("sentences"):
            out.setdefault(s.note_id, []).append(s)
        return out

    @cached_property
    def labels(self) -> list[Label]:
        return list(self.store.iter_records("labels"))

    @cached_property
    def annotators(self) -> list[str]:
        return sorted({lb.annotator for lb in self.labels})

    @cached_property
    def primary_annotator(self) -> str | None:
        """The run's configured annotator if it left labels, else the most frequent one."""
        name = self.manifest.get("components", {}).get("annotator", {}).get("name")
        if name in self.annotators:
            return name
        counts: dict[str, int] = {}
        for lb in self.labels:
            counts[lb.annotator] = counts.get(lb.annotator, 0) + 1
        return max(counts, key=lambda k: (counts[k], k)) if counts else None

    @cached_property
    def primary_labels(self) -> dict[str, Label]:
        """sentence id -> the primary annotator's label."""
        return {lb.sentence_id: lb for lb in self.labels if lb.annotator == self.primary_annotator}

    @cached_property
    def attempts(self) -> dict[str, int]:
        """plan (= note) id -> the attempt its stored unit holds."""
        return {pid: attempt for pid, (_, attempt) in self.store.unit_attempts().items()}

    def rejections(self) -> Iterator[dict[str, Any]]:
        """Ledger rows (with ``stage``), each joined to its note, plan and persona ids where known; ``final``
        is False for verdicts on an attempt that a later one replaced."""
        for row in self.store.rejection_rows():
            nid = row["record_id"]
            note = self.notes.get(nid)
            plan_id = note.plan_id if note else (nid if nid in self.plans else None)
            plan = self.plans.get(plan_id) if plan_id else None
            row["note_id"] = nid
            row["plan_id"] = plan_id
            row["persona_id"] = plan.persona_id if plan else (nid if nid in self.personas else None)
            row["final"] = row.get("attempt", 0) == self.attempts.get(nid, 0)
            yield row

    def persona_of(self, note: Note) -> Persona | None:
        return self.personas.get(note.persona_id)

    def bundles(self, *, accepted_only: bool = True) -> list[NoteBundle]:
        """Note bundles in plan order (accepted ones, cohort filters applied, by default)."""
        return load_bundles(self.store, accepted_only=accepted_only)

    def has_plans(self) -> bool:
        """Whether the run got through its plan phase."""
        return self.store.has_plans()

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        """A table's records as dicts, in the store's order; notes carry their ``status`` (accepted |
        rejected), ledger entries their ``stage``."""
        if table == "notes":
            for row in self.store.iter_rows("notes"):
                yield {**row, "status": self.status.get(row["id"], "accepted")}
        elif table == "rejections":
            yield from self.store.rejection_rows()
        else:
            yield from self.store.iter_rows(table)

    def stored_config(self) -> dict[str, Any] | None:
        """The config document the run stored (``None`` before its plan phase)."""
        return self.store.get_meta("config")

    def counts(self) -> dict[str, Any]:
        """Row counts per table, units by status, usage and spend (what the manifest records)."""
        return self.store.counts()

    def ledger_size(self) -> int:
        """Entries in the rejection ledger, earlier attempts included."""
        return self.store.counts()["rejections"]

    def unit_totals(self) -> dict[str, Any]:
        return self.store.unit_totals()

    def label_counts(self) -> dict[str, int]:
        return self.store.label_counts()

    def rejection_counts(self) -> dict[str, int]:
        return self.store.rejection_counts()

    def first_error(self) -> str | None:
        return self.store.first_error()

    def failed_units(self) -> list[tuple[str, str | None]]:
        """(unit id, error) of every failed unit, in plan order."""
        return self.store.failed_units()

    def unit_outcomes(self) -> dict[str, tuple[str, Usage]]:
        """plan id -> (status, usage) of every stored unit."""
        return self.store.unit_outcomes()

    def spend_ledger_usd(self) -> float:
        return self.store.spend_ledger_usd()

    def cache_size(self) -> int:
        return self.store.cache_size()
