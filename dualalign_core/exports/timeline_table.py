"""The patients' planned timelines as an export table: ``timeline.jsonl`` / ``timeline.parquet`` / ``hf/timeline``.

One row per patient: the :class:`~dualalign_core.history.timeline.Timeline` record as a dict (schema
``schemas/records/timeline.schema.json``), ordered by persona id. A run planned without timelines (a pack
without a history table, or a run from before timelines existed) gives an empty table.
"""

from __future__ import annotations

from typing import Any

from dualalign_core.records import to_dict
from dualalign_core.run.view import RunView

TABLE = "timeline"


def rows(view: RunView) -> list[dict[str, Any]]:
    """Each patient's timeline as a JSON-ready dict, by persona id."""
    return [to_dict(t) for t in view.timelines.values()]


def hf_features(ds: Any) -> Any:
    """The ``datasets.Features`` of a timeline row (nested lists of structs; ``None`` where a field is unset)."""
    string, number = ds.Value("string"), ds.Value("float64")
    return ds.Features(
        {
            "persona_id": string,
            "medications": [
                {
                    "id": string,
                    "drug": string,
                    "drug_class": string,
                    "indication": string,
                    "start": number,
                    "doses": [{"years_before_diagnosis": number, "dose": string, "reason": string}],
                    "stop": number,
                    "stop_reason": string,
                }
            ],
            "measurements": [
                {
                    "id": string,
                    "title": string,
                    "kind": string,
                    "years_before_diagnosis": number,
                    "value": number,
                    "unit": string,
                    "maximum": number,
                    "note_id": string,
                }
            ],
            "social": [{"dimension": string, "state": string, "years_before_diagnosis": number, "text": string}],
            "events": [
                {"kind": string, "title": string, "years_before_diagnosis": number, "detail": string, "label": string}
            ],
            "clinicians": [{"id": string, "role": string, "note_types": [string], "style": [[string]]}],
            "note_authors": [[string]],
            "provenance": {
                "run_id": string,
                "seed": ds.Value("int64"),
                "component": string,
                "plugin": string,
                "plugin_version": string,
                "model": string,
                "prompt_hash": string,
            },
        }
    )


__all__ = ["TABLE", "hf_features", "rows"]
