"""Classifier data: labelled sentences of a run, gold JSONL, task views, held-out splits and data mixes.

No torch here: trainers receive plain :class:`~dualalign_core.components.Example` values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import evolve, frozen

from dualalign_core.components import Example
from dualalign_core.errors import BadInput
from dualalign_core.records import NEGATIVE_LABEL
from dualalign_core.schemas import validate
from dualalign_core.textio import check_unicode, read_text

TASKS = ("binary", "multiclass")
MIXES = ("gold", "synthetic", "gold+synthetic")
POSITIVE = "symptom"
RESERVED = frozenset({"id", "text", "label", "patient_id", "demographics", "binary", "source"})


@frozen
class Splits:
    """Train / validation / test examples of one experiment."""

    train: tuple[Example, ...]
    valid: tuple[Example, ...]
    test: tuple[Example, ...]


def load_gold(path: str | Path) -> list[Example]:
    """Read gold JSONL (``text``, ``label``, optional demographics); errors name file, line and field."""
    path = Path(path)
    lines = read_text(path, what="gold file").splitlines()
    out = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInput(f"invalid JSON: {exc.msg}", file=f"{path}:{no}") from None
        validate(check_unicode(doc, file=f"{path}:{no}"), "gold", file=f"{path}:{no}")
        groups = {k: str(v) for k, v in doc.get("demographics", {}).items()}
        groups.update({k: str(v) for k, v in doc.items() if k not in RESERVED and isinstance(v, str)})
        unit = str(doc.get("patient_id", doc.get("id", f"line{no}")))
        out.append(Example(doc["text"], doc["label"], groups, unit, "gold"))
    if not out:
        raise BadInput("no gold sentences", file=str(path))
    return out


def check_labels(examples: Sequence[Example], labels: Sequence[str], file: str) -> None:
    """Every gold label must be one of ``labels`` (the pack's labels plus ``none``)."""
    known = set(labels)
    for i, ex in enumerate(examples, 1):
        if ex.label not in known:
            raise BadInput(f"unknown label {ex.label!r} (expected one of: {', '.join(labels)})",
                           file=f"{file}:{i}", field="label")


def run_examples(run_dir: str | Path) -> tuple[list[Example], list[str]]:
    """The accepted, labelled sentences of a run, and its label set (the pack's labels plus ``none``)."""
    from dualalign_core.pipeline import load_bundles
    from dualalign_core.store import DB_NAME, RunStore

    run_dir = Path(run_dir)
    if not (run_dir / DB_NAME).is_file():
        raise BadInput("not a run directory (no run.sqlite)", file=str(run_dir))
    with RunStore(run_dir, readonly=True) as store:
        bundles = load_bundles(store)
        labels = _run_labels(store)
    out = []
    for b in bundles:
        by_sentence = {lb.sentence_id: lb.label for lb in b.labels}
        groups = {k: str(v) for k, v in b.persona.demographics.items()}
        for s in b.sentences:
            if s.id in by_sentence and s.text.strip():
                out.append(Example(s.text, by_sentence[s.id], groups, b.persona.id, "synthetic"))
    seen = sorted({ex.label for ex in out} - {NEGATIVE_LABEL})
    return out, [NEGATIVE_LABEL, *(labels or seen)]


def _run_labels(store: Any) -> list[str]:
    """The disease pack's labels, from the run's stored config (empty when the pack cannot be found)."""
    stored = store.get_meta("config")
    if not stored:
        return []
    try:
        from dualalign_core.config import parse_config
        from dualalign_core.pipeline import resolve_disease
        from dualalign_core.plugins import get_registry

        return list(resolve_disease(parse_config(stored, None), get_registry()).labels)
    except Exception:  # a pack that moved or a plugin not installed: fall back to the labels seen
        return []


def task_view(examples: Sequence[Example], labels: Sequence[str], task: str) -> tuple[list[Example], list[str]]:
    """Examples and label space for a task: ``binary`` maps every non-``none`` label to ``symptom``."""
    if task not in TASKS:
        raise BadInput(f"unknown task {task!r} (binary or multiclass)", field="--task")
    if task == "multiclass":
        return list(examples), list(labels)
    return ([evolve(ex, label=POSITIVE if ex.label != NEGATIVE_LABEL else NEGATIVE_LABEL) for ex in examples],
            [NEGATIVE_LABEL, POSITIVE])


def split_units(examples: Sequence[Example], fractions: Sequence[float], seed: int
                ) -> tuple[list[Example], ...]:
    """Split by unit (patient) into len(fractions) parts, stratified by each unit's majority label."""
    units: dict[str, list[Example]] = {}
    for ex in examples:
        units.setdefault(ex.unit, []).append(ex)
    strata: dict[str, list[str]] = {}
    for unit, exs in units.items():
        labels = [e.label for e in exs]
        strata.setdefault(max(set(labels), key=labels.count), []).append(unit)
    rng = np.random.default_rng(seed)
    weights = np.asarray(fractions, dtype=float) / sum(fractions)
    parts: list[list[Example]] = [[] for _ in fractions]
    for key in sorted(strata):
        ids = sorted(strata[key])
        rng.shuffle(ids)
        edges = np.rint(np.cumsum(weights) * len(ids)).astype(int)
        start = 0
        for i, end in enumerate(edges):
            for unit in ids[start:end]:
                parts[i].extend(units[unit])
            start = end
    return tuple(parts)


def assemble(mix: str, synthetic: Sequence[Example], gold: Sequence[Example] | None, *, seed: int = 0,
             gold_split: Sequence[float] = (0.6, 0.2, 0.2)) -> Splits:
    """Train / validation / test for a data mix. The gold split is always held out for validation and test;
    without gold, a synthetic-only model is validated and tested on held-out synthetic patients."""
    if mix not in MIXES:
        raise BadInput(f"unknown data mix {mix!r} (one of: {', '.join(MIXES)})", field="--mix")
    if gold:
        g_train, g_valid, g_test = split_units(gold, gold_split, seed)
        train = {"gold": g_train, "synthetic": list(synthetic), "gold+synthetic": [*g_train, *synthetic]}[mix]
        return Splits(tuple(train), tuple(g_valid), tuple(g_test))
    if mix != "synthetic":
        raise BadInput(f"data mix {mix!r} needs a gold set", field="--gold")
    s_train, s_valid, s_test = split_units(synthetic, (0.8, 0.1, 0.1), seed)
    return Splits(tuple(s_train), tuple(s_valid), tuple(s_test))
