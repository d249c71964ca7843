"""A small real AD run shared by the report and export tests (built once per test session)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from dualalign_core.records import Label, Rejection, canonical_json, to_dict
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
        notes = [n for n in store.iter_records("notes")]
        first, second = notes[0], notes[1]
        with store._tx():
            store._put_rejections([
                ("annotated", Rejection(record_id=first.id, record_kind="note", filter="temporal_coherence",
                                        reason="1 stage-implausible mention: wandering (moderate)", value=1.0,
                                        threshold=0.0)),
                ("generated", Rejection(record_id=f"{second.id}@0", record_kind="note", filter="length_form",
                                        reason="note too short", value=80.0, threshold=200.0)),
            ])
            for lb in list(store.iter_records("labels"))[:40]:
                other = Label(sentence_id=lb.sentence_id, note_id=lb.note_id,
                              label="none" if lb.label != "none" else lb.label, binary=False, annotator="second")
                store.db.execute("INSERT INTO labels VALUES (?, ?, ?, ?, ?)",
                                 (f"{lb.sentence_id}:second", lb.sentence_id, lb.note_id, "second",
                                  canonical_json(to_dict(other))))
    return run_dir
