"""A Hugging Face ``datasets`` directory: ``load_from_disk(DIR)`` gives the sentence ``DatasetDict``.

Layout: ``DIR/`` is the labelled sentences (train / validation / test, split by patient), ``DIR/notes``,
``DIR/patients`` and ``DIR/timeline`` (one planned timeline per patient) are DatasetDicts with the same patient
split. Only accepted notes are included; labels are
the run's primary annotator's, as a ``ClassLabel``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dualalign_core.errors import BadInput
from dualalign_core.exports import SPLITS, patient_splits
from dualalign_core.exports import timeline_table as timeline
from dualalign_core.run.view import RunView


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:  # pragma: no cover
        raise BadInput("hf export needs datasets: pip install 'dualalign-core[hf]'", field="--format") from None
    return datasets


def build(view: RunView) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """table -> split -> rows."""
    split_of = patient_splits(list(view.personas))
    labels = view.primary_labels
    negative = view.disease.negative_label if view.disease else "none"
    tables: dict[str, dict[str, list[dict[str, Any]]]] = {
        t: {s: [] for s, _ in SPLITS} for t in ("sentences", "notes", "patients", timeline.TABLE)
    }
    for row in timeline.rows(view):
        tables[timeline.TABLE][split_of[row["persona_id"]]].append(row)
    variables = sorted({k for p in view.personas.values() for k in p.demographics})
    for p in view.personas.values():
        tables["patients"][split_of[p.id]].append(
            {
                "id": p.id,
                "age": p.age,
                **{v: p.demographics.get(v, "") for v in variables},
                "risk_factors": list(p.risk_factors),
            }
        )
    for n in sorted(view.accepted, key=lambda x: x.id):
        plan = view.plans[n.plan_id]
        split = split_of[n.persona_id]
        common = {
            "patient_id": n.persona_id,
            "stage": plan.stage,
            "note_type": plan.note_type,
            "years_before_diagnosis": float(plan.years_before_diagnosis),
        }
        tables["notes"][split].append(
            {
                "id": n.id,
                "plan_id": n.plan_id,
                **common,
                "text": n.text,
                "n_mentions": plan.n_mentions,
                "required_terms": [
                    {"label": t.label, "term_id": t.term_id, "term": t.term} for t in plan.required_terms
                ],
            }
        )
        for s in view.sentences.get(n.id, ()):
            lb = labels.get(s.id)
            if lb is None:
                continue
            tables["sentences"][split].append(
                {
                    "id": s.id,
                    "note_id": n.id,
                    **common,
                    "index": s.index,
                    "section": s.section or "",
                    "text": s.text,
                    "label": lb.label,
                    "binary": int(lb.label != negative),
                }
            )
    return tables


def features(view: RunView) -> dict[str, Any]:
    ds = _datasets()
    d = view.disease
    negative = d.negative_label if d else "none"
    found = sorted({lb.label for lb in view.primary_labels.values()})
    # the pack's labels (negative last), each once, plus any label the run holds that the pack lacks
    names = list(dict.fromkeys([*(x for x in (d.all_labels if d else found) if x != negative), *found, negative]))
    common = {
        "patient_id": ds.Value("string"),
        "stage": ds.Value("string"),
        "note_type": ds.Value("string"),
        "years_before_diagnosis": ds.Value("float64"),
    }
    variables = sorted({k for p in view.personas.values() for k in p.demographics})
    return {
        "sentences": ds.Features(
            {
                "id": ds.Value("string"),
                "note_id": ds.Value("string"),
                **common,
                "index": ds.Value("int32"),
                "section": ds.Value("string"),
                "text": ds.Value("string"),
                "label": ds.ClassLabel(names=names),
                "binary": ds.ClassLabel(names=[negative, "symptom"]),
            }
        ),
        "notes": ds.Features(
            {
                "id": ds.Value("string"),
                "plan_id": ds.Value("string"),
                **common,
                "text": ds.Value("string"),
                "n_mentions": ds.Value("int32"),
                "required_terms": [
                    {"label": ds.Value("string"), "term_id": ds.Value("string"), "term": ds.Value("string")}
                ],
            }
        ),
        "patients": ds.Features(
            {
                "id": ds.Value("string"),
                "age": ds.Value("int32"),
                **{v: ds.Value("string") for v in variables},
                "risk_factors": ds.Sequence(ds.Value("string")),
            }
        ),
        timeline.TABLE: timeline.hf_features(ds),
    }


def _dataset(ds: Any, rows: list[dict[str, Any]], features: Any) -> Any:
    """A Dataset with ``features`` even when ``rows`` is empty (``from_list([])`` loses the columns)."""
    if rows:
        return ds.Dataset.from_list(rows, features=features)
    return ds.Dataset.from_dict({name: [] for name in features}, features=features)


def write(view: RunView, out: Path) -> dict[str, int]:
    """Write the three DatasetDicts under ``out``; returns ``table/split`` -> rows."""
    ds = _datasets()
    ds.disable_progress_bars()
    tables, feats = build(view), features(view)
    counts: dict[str, int] = {}
    for table, splits in tables.items():
        dd = ds.DatasetDict({s: _dataset(ds, rows, feats[table]) for s, rows in splits.items()})
        empty = {s: 1 for s, d in dd.items() if len(d) == 0}  # else 0 shards: load_from_disk fails
        dd.save_to_disk(str(out if table == "sentences" else out / table), num_shards=empty)
        counts.update({f"{table}/{s}": len(rows) for s, rows in splits.items()})
    return counts


CARD_NOTE = (
    "Hugging Face layout: `datasets.load_from_disk(DIR)` gives the labelled sentences as a `DatasetDict` "
    "(train / validation / test, split by patient: no patient's notes appear in two splits); "
    "`load_from_disk(DIR/'notes')`, `load_from_disk(DIR/'patients')` and `load_from_disk(DIR/'timeline')` give "
    "the notes, patients and planned patient timelines with the same split. `label` and `binary` are "
    "`ClassLabel`s. Only accepted notes are included."
)
