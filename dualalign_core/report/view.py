"""A read-only view of a finished (or partial) run: manifest, disease pack, records and joins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from dualalign_core.disease import DiseasePack
from dualalign_core.errors import BadInput
from dualalign_core.records import Label, Note, NotePlan, Persona, Sentence
from dualalign_core.store import DB_NAME, MANIFEST, RunStore
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


def base_note_id(record_id: str) -> str:
    """``noteid@attempt`` (an earlier, regenerated attempt) -> ``noteid``."""
    return record_id.split("@", 1)[0]


class RunView:
    """Everything the report, the card and the exports read from a run directory."""

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

    def rejections(self) -> Iterator[dict[str, Any]]:
        """Ledger rows (with ``stage``), each joined to its note, plan and persona ids where known."""
        for stage, data in self.store.db.execute("SELECT stage, data FROM rejections ORDER BY record_id, filter"):
            row = {**json.loads(data), "stage": stage}
            nid = base_note_id(row["record_id"])
            note = self.notes.get(nid)
            plan_id = note.plan_id if note else (nid if nid in self.plans else None)
            plan = self.plans.get(plan_id) if plan_id else None
            row["note_id"] = nid
            row["plan_id"] = plan_id
            row["persona_id"] = plan.persona_id if plan else (nid if nid in self.personas else None)
            yield row

    def persona_of(self, note: Note) -> Persona | None:
        return self.personas.get(note.persona_id)
