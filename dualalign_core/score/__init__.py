"""The scorecard: fidelity, realism, diversity, privacy and utility of a run, each graded pass / warn / fail
against the thresholds in :mod:`dualalign_core.score.thresholds` (``dualalign score``, the report's top).

The reference and control files are read, never copied: the scorecard records their paths and counts, and
its details name notes and reference record numbers, not reference text.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dualalign_core.atomic import atomic_write_text, check_file_target
from dualalign_core.score.grades import Measure, Scorecard, Threshold
from dualalign_core.score.thresholds import THRESHOLDS

__all__ = ["SCORECARD", "THRESHOLDS", "Measure", "Scorecard", "Threshold", "score_run", "write_scorecard"]

SCORECARD = "scorecard.json"


def score_run(
    run_dir: str | Path,
    *,
    reference: str | Path | None = None,
    control: str | Path | None = None,
    ablation: str | Path | None = None,
    embeddings: bool = True,
    embedding_similarity: float | None = None,
    seed: int = 0,
) -> Scorecard:
    """Every measure of the run in ``run_dir``; without ``reference`` realism and replay say so instead."""
    from dualalign_core.errors import BadInput
    from dualalign_core.run.view import RunView
    from dualalign_core.score import corpus, homogeneity, privacy, realism, targets, utility
    from dualalign_core.score.thresholds import not_measured
    from dualalign_core.text.diversity import load_embedder

    started = time.perf_counter()
    if control is not None and reference is None:
        raise BadInput("--control needs --reference (the control is compared with the reference)", field="--control")
    ref = corpus.read_corpus(reference, what="reference") if reference is not None else None
    ctl = corpus.read_corpus(control, what="control") if control is not None else None
    with RunView(run_dir) as view:
        if not view.has_plans():
            raise BadInput("the run has no plans yet: nothing to score", file=str(run_dir))
        notes = corpus.synthetic_notes(view)
        labels = corpus.synthetic_labels(view) if ref is not None and ref.labelled else None
        run_id = str(view.manifest.get("run_id", ""))
        manifest = view.manifest
        measures: list[Measure] = targets.fidelity_measures(view.manifest)
    embedder = None
    if embeddings and (ref is not None or embedding_similarity is None):
        loaded, _ = load_embedder()
        embedder = corpus.CachedEmbedder(loaded) if loaded is not None else None
    if ref is None:
        measures += not_measured(realism.NAMES, "no reference (score RUN_DIR --reference REAL.jsonl)")
    else:
        units = corpus.synthetic_units(notes, ref.unit)
        measures += realism.realism_measures(units, labels, ref, embedder, seed)
    measures += homogeneity.diversity_measures(notes, embedder, embedding_similarity=embedding_similarity, seed=seed)
    if ref is None:
        measures += not_measured(privacy.REFERENCE_NAMES, "no reference (score RUN_DIR --reference REAL.jsonl)")
    else:
        measures += privacy.reference_measures(notes, ref, ctl, seed=seed)
    measures.append(privacy.identifier_measure(notes, manifest, seed))
    measures.append(utility.utility_measure(Path(run_dir), Path(ablation) if ablation is not None else None))
    inputs: dict[str, Any] = {"run_dir": str(run_dir), "accepted_notes": len(notes)}
    inputs["reference"] = ref.describe() if ref is not None else None
    inputs["control"] = ctl.describe() if ctl is not None else ("held-out 20 % of the reference" if ref else None)
    return Scorecard(run_id, tuple(measures), inputs, time.perf_counter() - started)


def is_scorecard(path: Path) -> bool:
    """An existing file we may replace: an earlier scorecard of ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "scorecard_version" in data and "measures" in data


def check_target(path: str | Path, field: str = "--out") -> Path:
    return check_file_target(path, field=field, owned=is_scorecard, what="scorecard")


def write_scorecard(card: Scorecard, path: str | Path, field: str = "--out") -> Path:
    """``scorecard.json`` written atomically; an existing file is replaced only if it is a scorecard."""
    text = json.dumps(card.as_dict(), indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    atomic_write_text(path, text, field=field, owned=is_scorecard, what="scorecard")
    return Path(path)


def read_scorecard(run_dir: str | Path) -> dict[str, Any] | None:
    """``RUN_DIR/scorecard.json`` when the run was scored (for the dataset card)."""
    path = Path(run_dir) / SCORECARD
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() and is_scorecard(path) else None
