"""Privacy: replay of reference text, distance to closest record against a control, identifier-like strings."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dualalign_core.filters.identifiers import KINDS, IdentifierFilter, find_identifiers
from dualalign_core.score.corpus import Corpus, SyntheticNote, synthetic_units
from dualalign_core.score.dcr import dcr, split_control
from dualalign_core.score.grades import Measure
from dualalign_core.score.replay import MIN_SENTENCE_TOKENS, NEAR_JACCARD, NGRAM, ReferenceIndex, Vocab
from dualalign_core.score.thresholds import measure, not_measured

REFERENCE_NAMES = [
    "privacy.exact_replay",
    "privacy.near_replay",
    "privacy.longest_common_span",
    "privacy.reference_8gram_share",
    "privacy.dcr_ratio",
]
MAX_LISTED = 500  # note ids listed in a replay measure's detail
IDENTIFIER_SAMPLE = 1000  # notes re-checked when the identifiers filter already ran on all


def identifiers_filtered(manifest: Mapping[str, Any]) -> bool:
    """Whether the run's identifiers filter checked every accepted note for every kind (its default)."""
    if "identifiers" not in {f.get("name") for f in manifest.get("filters", [])}:
        return False
    configured = manifest.get("config", {}).get("filters", {}).get("options", {}).get("identifiers", {})
    default = IdentifierFilter.options_schema["properties"]["kinds"]["default"]  # the schema's, not ours
    return set(configured.get("kinds") or default) >= set(KINDS)


def identifier_measure(notes: Sequence[SyntheticNote], manifest: Mapping[str, Any], seed: int = 0) -> Measure:
    """Identifier-like strings in accepted notes: every note, or a re-check sample of ``IDENTIFIER_SAMPLE``
    when the run's identifiers filter already passed every accepted note (the patterns cost ~4 ms a note)."""
    filtered = identifiers_filtered(manifest)
    checked = list(notes)
    if filtered and len(checked) > IDENTIFIER_SAMPLE:
        checked = random.Random(seed).sample(checked, IDENTIFIER_SAMPLE)
    flagged: dict[str, list[str]] = {}
    for n in checked:
        hits = find_identifiers(n.text)
        if hits:
            flagged[n.id] = sorted({h.kind for h in hits})
    kinds: dict[str, int] = {}
    for ks in flagged.values():
        for k in ks:
            kinds[k] = kinds.get(k, 0) + 1
    share = len(flagged) / len(checked) if checked else None
    detail = {"notes": len(flagged), "checked": len(checked), "of": len(notes), "kinds": kinds}
    detail["note_ids"] = sorted(flagged)[:MAX_LISTED]
    detail["identifiers_filter"] = "passed every accepted note" if filtered else "not run on every kind"
    return measure("privacy.identifiers", share, detail, note="" if notes else "no accepted notes")


def _flagged(notes: Sequence[SyntheticNote], hits: list[tuple[tuple[int, int, float], ...]]) -> dict[str, Any]:
    ids = [n.id for n, h in zip(notes, hits, strict=True) if h]
    examples = [
        {"note_id": n.id, "sentence": i, "reference_record": rec, "jaccard": jac}
        for n, h in zip(notes, hits, strict=True)
        for i, rec, jac in h
    ][:20]
    return {"notes": len(ids), "of": len(notes), "note_ids": ids[:MAX_LISTED], "examples": examples}


def reference_measures(
    notes: Sequence[SyntheticNote], reference: Corpus, control: Corpus | None, *, seed: int = 0
) -> list[Measure]:
    """Replay and DCR against the reference (its text is read, never stored: details hold ids and numbers)."""
    if not notes:
        return not_measured(REFERENCE_NAMES, "no accepted notes")
    index = ReferenceIndex(reference.texts, Vocab())
    replays = index.replay([n.text for n in notes])
    exact = _flagged(notes, [r.exact for r in replays])
    near = _flagged(notes, [r.near for r in replays])
    rule = f"sentences of >= {MIN_SENTENCE_TOKENS} tokens; near: word-bigram Jaccard >= {NEAR_JACCARD}"
    spans = np.array([r.span for r in replays])
    worst = int(np.argmax(spans))
    total = sum(r.ngrams for r in replays)
    shared = sum(r.shared for r in replays)
    out = [
        measure("privacy.exact_replay", exact["notes"] / len(notes), {**exact, "rule": rule}),
        measure("privacy.near_replay", near["notes"] / len(notes), {**near, "rule": rule}),
        measure(
            "privacy.longest_common_span",
            int(spans.max()),
            {
                "note_id": notes[worst].id if spans.max() else None,
                "notes_over_pass": int(np.sum(spans > 15)),
                "median": float(np.median(spans)),
                "method": f"runs of consecutive shared word {NGRAM}-grams (0: none shared)",
            },
        ),
        measure(
            "privacy.reference_8gram_share",
            shared / total if total else None,
            {"shared": shared, "ngrams": total},
            note="" if total else f"no note has {NGRAM} tokens",
        ),
    ]
    units = synthetic_units(notes, reference.unit)
    if control is not None:
        ref_texts, ctl_texts, source = list(reference.texts), list(control.texts), "--control"
    else:
        ref_texts, ctl_texts = split_control(reference.texts, seed)
        source = "a held-out 20 % of the reference"
    d = dcr(units, ref_texts, ctl_texts, seed=seed)
    d["control_source"] = source
    d["unit"] = reference.unit
    note = "" if d["ratio"] is not None else "the control's texts sit on the reference (median DCR 0)"
    out.append(measure("privacy.dcr_ratio", d.pop("ratio"), d, note=note))
    return out
