"""Classifier data: labelled sentences of a run, gold JSONL, task views, held-out splits and data mixes.

No torch here: trainers receive plain :class:`~dualalign_core.components.Example` values. A label space is a
list whose first entry is the disease pack's negative label (never assumed to be ``none``).
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
from dualalign_core.jsonschemas import validate
from dualalign_core.textio import check_unicode, read_text

TASKS = ("binary", "multiclass")
MIXES = ("gold", "synthetic", "gold+synthetic")
BALANCES = ("none", "gold", "equal")
POSITIVE = "symptom"
RESERVED = frozenset({"id", "text", "label", "patient_id", "demographics", "binary", "source"})


@frozen
class Mixing:
    """How synthetic sentences join the gold training split.

    ``ratio``: at most this many synthetic sentences per gold training sentence (None: all of them);
    ``balance``: the synthetic sample's class mix — ``none`` (as generated), ``gold`` (the gold training
    split's label proportions) or ``equal`` (the same count per label, as far as there are sentences);
    ``synthetic_weight``: each synthetic sentence's weight in the loss (gold sentences weigh 1).
    """

    ratio: float | None = None
    balance: str = "none"
    synthetic_weight: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.balance not in BALANCES:
            raise BadInput(f"unknown balance {self.balance!r} (one of: {', '.join(BALANCES)})", field="balance")
        if self.ratio is not None and self.ratio < 0:
            raise BadInput("ratio must be >= 0", field="ratio")
        if self.synthetic_weight <= 0:
            raise BadInput("synthetic_weight must be > 0", field="synthetic_weight")

    def as_dict(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "balance": self.balance, "synthetic_weight": self.synthetic_weight}


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
        out.append(Example(doc["text"], doc["label"], groups, unit, "gold", line=no))
    if not out:
        raise BadInput("no gold sentences", file=str(path))
    return out


def label_space(negative: str, examples: Sequence[Example]) -> list[str]:
    """The negative label first, then every other label the examples carry (sorted)."""
    return [negative, *sorted({e.label for e in examples} - {negative})]


def check_labels(examples: Sequence[Example], labels: Sequence[str], file: str) -> None:
    """Every gold label must be one of ``labels`` (the pack's negative label and its labels); an error names
    the example's line in ``file``."""
    known = set(labels)
    for i, ex in enumerate(examples, 1):
        if ex.label not in known:
            raise BadInput(
                f"unknown label {ex.label!r} (expected one of: {', '.join(labels)})",
                file=f"{file}:{ex.line or i}",
                field="label",
            )


def run_examples(run_dir: str | Path) -> tuple[list[Example], list[str]]:
    """The accepted, labelled sentences of a run, and its label space (the pack's negative label first, then
    its labels; without the pack, the negative label the run's labels mark as not binary)."""
    from dualalign_core.run.view import RunView

    with RunView(run_dir) as view:
        bundles = view.bundles()
        labels = _run_labels(view.stored_config())
    out: list[Example] = []
    negatives: set[str] = set()
    for b in bundles:
        by_sentence = {lb.sentence_id: lb.label for lb in b.labels}
        negatives.update(lb.label for lb in b.labels if not lb.binary)
        groups = {k: str(v) for k, v in b.persona.demographics.items()}
        for s in b.sentences:
            if s.id in by_sentence and s.text.strip():
                out.append(Example(s.text, by_sentence[s.id], groups, b.persona.id, "synthetic"))
    if labels:
        return out, labels
    negative = min(negatives) if len(negatives) == 1 else "none"
    return out, label_space(negative, out)


def _run_labels(stored: dict[str, Any] | None) -> list[str]:
    """The disease pack's label space (negative label first), from the run's stored config (empty when the
    pack cannot be found)."""
    if not stored:
        return []
    try:
        from dualalign_core.config import parse_config
        from dualalign_core.plugins import get_registry
        from dualalign_core.run.build import resolve_disease

        pack = resolve_disease(parse_config(stored, None), get_registry())
        return [pack.negative_label, *pack.labels]
    except Exception:  # a pack that moved or a plugin not installed: fall back to the labels seen
        return []


def task_view(examples: Sequence[Example], labels: Sequence[str], task: str) -> tuple[list[Example], list[str]]:
    """Examples and label space for a task: ``binary`` maps every label but the negative one (``labels[0]``,
    the pack's) to ``symptom``."""
    if task not in TASKS:
        raise BadInput(f"unknown task {task!r} (binary or multiclass)", field="--task")
    if task == "multiclass":
        return list(examples), list(labels)
    negative = labels[0]
    return ([evolve(ex, label=POSITIVE if ex.label != negative else negative) for ex in examples], [negative, POSITIVE])


def split_units(examples: Sequence[Example], fractions: Sequence[float], seed: int) -> tuple[list[Example], ...]:
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


def mix_synthetic(
    synthetic: Sequence[Example], gold_train: Sequence[Example], mixing: Mixing, seed: int = 0
) -> list[Example]:
    """The synthetic sentences that join ``gold_train``: sampled to ``mixing.ratio`` and ``mixing.balance``
    (seeded), weighted by ``mixing.synthetic_weight``. Without gold, ratio and ``gold`` balance keep all."""
    pool = list(synthetic)
    n = len(pool)
    if mixing.ratio is not None and gold_train:
        n = min(n, int(round(mixing.ratio * len(gold_train))))
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, ex in enumerate(pool):
        by_label.setdefault(ex.label, []).append(i)
    if mixing.balance == "equal" and by_label:
        quota = {lb: n // len(by_label) for lb in by_label}
    elif mixing.balance == "gold" and gold_train:
        counts = {lb: sum(e.label == lb for e in gold_train) for lb in by_label}
        quota = {lb: int(round(n * c / len(gold_train))) for lb, c in counts.items()}
    else:
        quota = None
    if quota is None:
        keep = sorted(rng.permutation(len(pool))[:n].tolist())
    else:
        keep = sorted(
            i
            for lb in sorted(by_label)
            for i in rng.permutation(by_label[lb])[: min(quota[lb], len(by_label[lb]))].tolist()
        )
    w = mixing.synthetic_weight
    return [pool[i] if w == 1.0 else evolve(pool[i], weight=w) for i in keep]


def assemble(
    mix: str,
    synthetic: Sequence[Example],
    gold: Sequence[Example] | None,
    *,
    seed: int = 0,
    gold_split: Sequence[float] = (0.6, 0.2, 0.2),
    mixing: Mixing | None = None,
) -> Splits:
    """Train / validation / test for a data mix. The gold split is always held out for validation and test;
    without gold, a synthetic-only model is validated and tested on held-out synthetic patients.
    ``mixing`` samples and weights the synthetic part of the training split (:func:`mix_synthetic`)."""
    if mix not in MIXES:
        raise BadInput(f"unknown data mix {mix!r} (one of: {', '.join(MIXES)})", field="--mix")
    mixing = mixing or Mixing()
    if gold:
        g_train, g_valid, g_test = split_units(gold, gold_split, seed)
        syn = mix_synthetic(synthetic, g_train, mixing, seed) if mix != "gold" else []
        train = {"gold": g_train, "synthetic": syn, "gold+synthetic": [*g_train, *syn]}[mix]
        return Splits(tuple(train), tuple(g_valid), tuple(g_test))
    if mix != "synthetic":
        raise BadInput(f"data mix {mix!r} needs a gold set", field="--gold")
    s_train, s_valid, s_test = split_units(synthetic, (0.8, 0.1, 0.1), seed)
    return Splits(tuple(mix_synthetic(s_train, [], mixing, seed)), tuple(s_valid), tuple(s_test))
