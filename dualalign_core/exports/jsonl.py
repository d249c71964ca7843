"""Exports of a run, each with a ``DATASET_CARD.md``; the one-file-per-table formats are written here.

``jsonl`` / ``parquet``: one file per table (personas, plans, notes, sentences, labels, rejections, and
``timeline``: one row per patient, see :mod:`dualalign_core.exports.timeline_table`). Rows are in a canonical order
(by id, timelines by persona id) so the same run content always gives byte-identical files. Tables join on ids:
notes.persona_id -> personas.id, notes.plan_id -> plans.id, sentences.note_id -> notes.id, ...
``hf``: a ``datasets.load_from_disk`` directory (see :mod:`dualalign_core.exports.hf`).
``fhir``: FHIR R4 Bundles per patient (see :mod:`dualalign_core.exports.fhir`).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

from dualalign_core.atomic import replace_dir
from dualalign_core.errors import BadInput
from dualalign_core.exports import timeline_table as timeline
from dualalign_core.run.store import DB_NAME
from dualalign_core.run.view import RunView, open_run

FORMATS = ("jsonl", "parquet", "hf", "fhir")
CLI_FORMATS = (*FORMATS, "review")  # review is written by dualalign_core.annotate (one JSONL file)
CARD = "DATASET_CARD.md"
TABLES = ("personas", "plans", "notes", "sentences", "labels", "rejections")


def export_run(run_dir: str | Path, fmt: str, out: str | Path, *, anchor_date: date | None = None) -> dict[str, int]:
    """Write the export to ``out/`` (a directory), atomically: a temp sibling renamed into place.

    An existing ``out`` is replaced only if it is an earlier export of the same format (see
    :func:`dualalign_core.atomic.replace_dir`).
    """
    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r} (choose from {', '.join(CLI_FORMATS)})", field="--format")
    from dualalign_core.card import dataset_card

    open_run(run_dir).close()  # a clear error for a directory that is not a run
    counts: dict[str, int] = {}
    extra = ""
    try:
        with RunView(run_dir) as view, replace_dir(out, f"export-{fmt}", protect=[run_dir]) as tmp:
            if fmt in ("jsonl", "parquet"):
                for table in TABLES:
                    data = list(view.rows(table))
                    counts[table] = len(data)
                    _write_table(tmp, table, fmt, data)
                data = timeline.rows(view)
                counts[timeline.TABLE] = len(data)
                _write_table(tmp, timeline.TABLE, fmt, data)
            elif fmt == "hf":
                from dualalign_core.exports import hf

                counts = hf.write(view, tmp)
                extra = hf.CARD_NOTE
            else:
                from dualalign_core.exports import fhir

                anchor = anchor_date or fhir.ANCHOR_DATE
                counts = fhir.write(view, tmp, anchor)
                extra = fhir.card_note(anchor)
            (tmp / CARD).write_text(dataset_card(view, fmt, counts, extra), encoding="utf-8")
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"cannot read the run database: {exc}", file=str(Path(run_dir) / DB_NAME)) from None
    return counts


def _write_table(folder: Path, table: str, fmt: str, data: list[dict[str, Any]]) -> None:
    if fmt == "jsonl":
        _write_jsonl(folder / f"{table}.jsonl", data)
    else:
        _write_parquet(folder / f"{table}.parquet", data)


def _write_jsonl(path: Path, data: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in data:
            fh.write(json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    """Nested values become JSON strings so every table has flat, typed columns."""
    return {k: (json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v) for k, v in row.items()}


def _write_parquet(path: Path, data: list[dict[str, Any]]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover
        raise BadInput(
            "parquet export needs pyarrow: pip install 'dualalign-core[parquet]'", field="--format"
        ) from None
    table = pa.Table.from_pylist([_flatten(r) for r in data]) if data else pa.table({})
    pq.write_table(table, path)
