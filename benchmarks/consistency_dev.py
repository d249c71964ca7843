"""The consistency checker on realistic, hand-written patient histories (measured, never tuned on).

Each note of the development histories (JSONL: patient_id, visit, years_before_diagnosis, note_type, text and
the ``facts`` it asserts: medications with doses, scores, living situation, caregiver; default
``../shared/eval/dev_histories.jsonl``) is checked twice with the AD pack's checker
(``dualalign_core.history.consistency``):

- against a context built from **its own facts**: every flag is a false alarm (the note agrees with its record);
- against the facts of **another patient's** note (the next patient, same position): a flag is a detected
  mismatch, so the share of notes flagged is the checker's sensitivity to a wrong record.

The facts are turned into a context without reading the notes: drugs of the pack's vocabulary with their doses,
scores by the pack's score patterns, living situation and caregiver by the pack's state assertions (a fact no
state asserts is left out). Drugs the pack does not know are not checked (by design). Usage::

    python benchmarks/consistency_dev.py [HISTORIES.jsonl]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from dualalign_core.history.consistency import KINDS, Checker, vocabulary
from dualalign_core.history.timeline import Measurement, MedicationState, NoteContext, SocialChange
from dualalign_core.plugins import get_registry

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "eval" / "dev_histories.jsonl"


def context_of(facts: dict, disease, vocab) -> NoteContext:  # noqa: ANN001 - DiseasePack, Vocabulary
    """A note context from a note's facts (its record), read with the pack's own vocabulary."""
    meds = []
    for line in facts.get("medications", ()):
        low = line.lower()
        drug = next((name for name in vocab.drugs if low.startswith(name)), None)
        if drug is not None:
            meds.append(MedicationState(drug, "", low[len(drug) :].strip(), ""))
    scores = []
    for name, value in (facts.get("scores") or {}).items():
        spec = next((s for s in disease.history["scores"] if any(re.search(p, name) for p in s["patterns"])), None)
        if spec is not None and isinstance(value, (int, float)):
            scores.append(Measurement(spec["id"], spec["title"], "score", 0.0, float(value), "", spec["maximum"]))
    social = []
    for dim in disease.history["social"]:
        text = str(facts.get(dim["id"], "") or "")
        state = next((sid for sid, st in dim["states"].items() if any(re.search(p, text) for p in st["asserts"])), None)
        if dim["id"] == "caregiver" and text.startswith("none"):
            state = "none"
        if state is not None:
            social.append(SocialChange(dim["id"], state, 0.0, dim["states"][state]["text"]))
    return NoteContext(since_years=None, medications=meds, measurements=scores, social=social)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("histories", nargs="?", default=str(DEFAULT))
    args = parser.parse_args()
    rows = [json.loads(line) for line in Path(args.histories).read_text(encoding="utf-8").splitlines() if line]
    disease = get_registry().get("disease", "alzheimers")
    vocab = vocabulary(disease)
    by_patient: dict[str, list[dict]] = {}
    for row in rows:
        by_patient.setdefault(row["patient_id"], []).append(row)
    patients = sorted(by_patient)
    own, other = Counter(), Counter()
    own_notes = other_notes = 0
    for i, pid in enumerate(patients):
        swap = by_patient[patients[(i + 1) % len(patients)]]
        for j, row in enumerate(by_patient[pid]):
            found = Checker(vocab, context_of(row["facts"], disease, vocab)).text(row["text"])
            own.update(c.kind for c in found)
            own_notes += bool(found)
            wrong = Checker(vocab, context_of(swap[j % len(swap)]["facts"], disease, vocab)).text(row["text"])
            other.update(c.kind for c in wrong)
            other_notes += bool(wrong)
    n = len(rows)
    print(f"dev histories {args.histories}: {len(patients)} patients, {n} notes")
    print(f"own record:     {own_notes}/{n} notes flagged ({own_notes / n:.2f}, false alarms) by kind {dict(own)}")
    print(f"another record: {other_notes}/{n} notes flagged ({other_notes / n:.2f}, detected) by kind {dict(other)}")
    print(f"kinds checked: {', '.join(KINDS)}")


if __name__ == "__main__":
    sys.exit(main())
