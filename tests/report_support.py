"""A small real AD run shared by the report and export tests (built once per test session)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import attrs

from dualalign_core.records import Label, Rejection
from dualalign_core.run.store import RunStore

CONFIG = """
[run]
seed = 3
patients = 4
max_notes_per_patient = 4
[disease]
name = "alzheimers"
[generator]
name = "template"
[annotator]
name = "lexicon"
[filters]
use = ["identifiers", "length_form"]  # the cheap ones: the ledger gets its entries below
"""


@functools.cache
def audit_run() -> Path:
    """Run the pipeline, then add ledger entries (a temporal violation, an earlier attempt) and a second
    annotator's labels so every report section has something to show."""
    from dualalign_core.config import load_config
    from dualalign_core.run.pipeline import Pipeline

    root = Path(tempfile.mkdtemp(prefix="dualalign-audit-"))
    cfg_path = root / "audit.toml"
    cfg_path.write_text(CONFIG)
    run_dir = root / "run"
    Pipeline(load_config(cfg_path), run_dir).run()
    with RunStore(run_dir) as store:
        notes = list(store.iter_records("notes"))
        first, second = notes[0], notes[1]
        units = {n.id: store.stored_unit(n.id) for n in notes}
        temporal = Rejection(
            record_id=first.id,
            record_kind="note",
            filter="temporal_coherence",
            reason="1 stage-implausible mention: wandering (moderate)",
            value=1.0,
            threshold=0.0,
            attempt=units[first.id].attempt,
        )
        earlier = Rejection(
            record_id=second.id,
            record_kind="note",
            filter="length_form",
            reason="note too short",
            value=80.0,
            threshold=200.0,
            attempt=units[second.id].attempt,
        )
        units[first.id] = attrs.evolve(
            units[first.id], rejections=[*units[first.id].rejections, ("annotated", temporal)]
        )
        units[second.id] = attrs.evolve(
            units[second.id],
            attempt=earlier.attempt + 1,  # regenerated since
            rejections=[("generated", earlier), *units[second.id].rejections],
        )
        for lb in list(store.iter_records("labels"))[:40]:
            other = Label(
                sentence_id=lb.sentence_id,
                note_id=lb.note_id,
                label="none" if lb.label != "none" else lb.label,
                binary=False,
                annotator="second",
            )
            units[lb.note_id] = attrs.evolve(units[lb.note_id], labels=[*units[lb.note_id].labels, other])
        store.commit_units(list(units.values()))
    return run_dir
