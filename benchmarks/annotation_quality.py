"""Annotation quality figures: segmentation accuracy on the hard cases (ours vs pysbd) and the lexicon
annotator's precision/recall per label on the labelled sentence sets in tests/data; with ``--probe PATH``
(a JSONL of realistic sentences: text, label, optional difficulty) the lexicon annotator with the AD pack's
lexicon and phrase banks: binary F1 and 6-way macro-F1, overall and on ``difficulty == "hard"``.

    python benchmarks/annotation_quality.py [--json] [--probe ../shared/eval/dev_probe.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

from dualalign_core.annotate.lexicon import LexiconAnnotator
from dualalign_core.annotate.quality import label_quality, load_cases, load_labelled, segmentation_quality
from dualalign_core.text.segment import Span

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
LABELS = (
    "cognitive_impairment",
    "neuropsychiatric_symptoms",
    "notice_by_others",
    "physiological_changes",
    "requiring_assistance",
)


def _disease() -> types.SimpleNamespace:
    return types.SimpleNamespace(
        name="alzheimers",
        title="Alzheimer's disease",
        labels=LABELS,
        negative_label="none",
        third_party_label="notice_by_others",
        label_precedence=(
            "requiring_assistance",
            "notice_by_others",
            "neuropsychiatric_symptoms",
            "physiological_changes",
            "cognitive_impairment",
        ),
        stages=("early_prodromal", "mci", "mild", "moderate"),
        lexicon=json.loads((DATA / "test_lexicon.json").read_text(encoding="utf-8")),
    )


def _pysbd():
    try:
        import pysbd
    except ImportError:
        return None
    seg = pysbd.Segmenter(language="en", clean=False, char_span=True)

    def run(text: str) -> list[Span]:
        out = []
        for s in seg.segment(text):
            body = s.sent.strip()
            start = s.start + (len(s.sent) - len(s.sent.lstrip()))
            out.append(Span(start, start + len(body), body, None))
        return out

    return run


def _ad_pack():
    from dualalign_core.disease import DiseasePack

    return DiseasePack.from_directory(ROOT / "plugins" / "dualalign-alzheimers" / "dualalign_alzheimers" / "data")


def probe_figures(path: Path) -> dict[str, dict[str, float]]:
    """Aggregate figures of the AD pack's lexicon annotator on a probe set: overall and per difficulty."""
    pack = _ad_pack()
    rows = load_labelled(path)
    ann = LexiconAnnotator()
    pred = [ann.label_text(r["text"], pack).label for r in rows]
    out = {}
    subsets = {
        "all": lambda r: True,
        **{d: (lambda r, d=d: r.get("difficulty") == d) for d in sorted({r.get("difficulty") for r in rows} - {None})},
    }
    for name, keep in subsets.items():
        idx = [i for i, r in enumerate(rows) if keep(r)]
        q = label_quality(
            [rows[i]["text"] for i in idx],
            [rows[i]["label"] for i in idx],
            [pred[i] for i in idx],
            pack.labels,
            pack.negative_label,
        )
        out[name] = {
            "n": q.n,
            "binary_f1": round(q.binary.f1, 4),
            "macro_f1": round(q.macro_f1, 4),
            "accuracy": round(q.accuracy, 4),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--probe",
        type=Path,
        action="append",
        default=[],
        help="a JSONL of realistic labelled sentences to score the AD pack's lexicon annotator on",
    )
    ap.add_argument(
        "--grammar-patients",
        type=int,
        default=0,
        help="also score the lexicon annotator against the AD note grammar's own labels (N patients)",
    )
    ap.add_argument("--errors", action="store_true", help="also print the tests/data mislabels")
    args = ap.parse_args(argv)
    report: dict = {"segmentation": {}, "lexicon_annotator": {}, "probe": {}}
    for path in args.probe:
        report["probe"][str(path)] = probe_figures(path)
    if args.grammar_patients:
        from dualalign_core.grammar.label_recovery import grammar_agreement

        q = grammar_agreement(_ad_pack(), LexiconAnnotator(), patients=args.grammar_patients)
        report["grammar_agreement"] = {
            "n": q.n,
            "accuracy": round(q.accuracy, 4),
            "binary_f1": round(q.binary.f1, 4),
            "macro_f1": round(q.macro_f1, 4),
        }
        if not args.json:
            g = report["grammar_agreement"]
            print(
                f"Lexicon annotator vs the note grammar's labels ({args.grammar_patients} patients, {g['n']} "
                f"sentences): accuracy {g['accuracy']:.3f}, binary F1 {g['binary_f1']:.3f}, "
                f"6-way macro-F1 {g['macro_f1']:.3f}\n"
            )
    if args.probe and not args.json:
        for path, fig in report["probe"].items():
            print(f"Lexicon annotator (AD pack) on {path}")
            print(f"  {'subset':8s} n     binary-F1  6-way macro-F1  accuracy")
            for subset, f in fig.items():
                print(
                    f"  {subset:8s} {f['n']:4d}  {f['binary_f1']:.3f}      {f['macro_f1']:.3f}           "
                    f"{f['accuracy']:.3f}"
                )
        print()
    baseline = _pysbd()
    for name in ("segmentation_cases", "segmentation_cases_blind"):
        cases = load_cases(DATA / f"{name}.jsonl")
        for seg_name, fn in (("dualalign", None), ("pysbd", baseline)):
            if seg_name == "pysbd" and fn is None:
                continue
            s = segmentation_quality(cases) if fn is None else segmentation_quality(cases, fn)
            report["segmentation"][f"{name}/{seg_name}"] = {
                "cases": s.cases,
                "exact_case_accuracy": round(s.accuracy, 4),
                "sentence_precision": round(s.precision, 4),
                "sentence_recall": round(s.recall, 4),
                "f1": round(s.f1, 4),
            }
    disease, ann = _disease(), LexiconAnnotator()
    for name in ("labelled_sentences", "labelled_sentences_blind"):
        rows = load_labelled(DATA / f"{name}.jsonl")
        pred = [ann.label_text(r["text"], disease).label for r in rows]
        q = label_quality([r["text"] for r in rows], [r["label"] for r in rows], pred, LABELS, "none")
        report["lexicon_annotator"][name] = {**q.as_dict(), "errors": [list(e) for e in q.errors]}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print("Segmentation (exact spans)")
    print(f"  {'set/segmenter':45s} cases  exact  sent-P  sent-R")
    for k, v in report["segmentation"].items():
        print(
            f"  {k:45s} {v['cases']:5d}  {v['exact_case_accuracy']:.3f}  {v['sentence_precision']:.3f}   "
            f"{v['sentence_recall']:.3f}"
        )
    for name, q in report["lexicon_annotator"].items():
        print(f"\nLexicon annotator on {name} (n={q['n']}, accuracy {q['accuracy']:.3f})")
        print(f"  {'label':28s} P      R      F1     support")
        for lab, s in {**q["per_label"], "binary (any vs none)": q["binary"]}.items():
            print(f"  {lab:28s} {s['precision']:.3f}  {s['recall']:.3f}  {s['f1']:.3f}  {s['support']}")
        for text, gold, pred in q["errors"] if args.errors else ():
            print(f"  miss: {text!r} gold={gold} pred={pred}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
