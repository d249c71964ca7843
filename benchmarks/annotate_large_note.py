"""`dualalign annotate` on one huge note: segmentation, labelling and output are linear (issue 14, item 7).

Builds a ~5 MB clinical note (SOAP sections, wrapped prose, bullets, abbreviations), runs the same code
path as ``dualalign annotate NOTE.jsonl --annotator lexicon --out OUT`` in-process, then the CLI itself
in a subprocess, and prints seconds, sentences/s and peak resident memory for each, the output size
relative to the input, and, measured in the same run, how much faster trigger detection is than the
single ~200-rule alternation it replaces (``ContextDetector``'s kept reference). Before the linear-output
fix a 200 KB note gave a 1.8 GB output and a 5.4 MB note did not finish in 600 s.
Usage: ``python benchmarks/annotate_large_note.py [--mb 5] [--no-cli]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARA = (
    "S: Pt is a 74 yo F seen with her daughter, who says she repeats questions and forgets appointments. "
    "She misplaces keys b.i.d. per family. Dr. Smith started donepezil 5 mg p.o. q.d. last month.\n"
    "O: BP 142/88, T 98.6. MoCA 24/30.\n"
    "- alert, oriented x3\n"
    "A: Mild cognitive impairment, likely amnestic type; she denies depression and hallucinations,\n"
    "and the exam is otherwise unremarkable for her age and history of hypertension.\n"
    "P: Follow up in 3 months. Return sooner if worse.\n"
)


def _trigger_ratio(texts: list[str]) -> float:
    """Seconds of the single alternation / seconds of the dispatched one, on the same sentences."""
    from dualalign_core.text.assertion import ContextDetector

    alt = ContextDetector()._alternation
    best = {"single": float("inf"), "dispatched": float("inf")}
    for _ in range(3):  # interleaved repeats, best of each: the machine is shared
        for name, run in (
            ("single", lambda t: list(alt.regex.finditer(t))),
            ("dispatched", lambda t: list(alt.matches(t))),
        ):
            t0 = time.perf_counter()
            for t in texts:
                run(t)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best["single"] / best["dispatched"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    args = parser.parse_args()
    from dualalign_core.annotate.files import annotate_file
    from dualalign_core.plugins import get_registry
    from dualalign_core.text.segment import segment

    registry = get_registry()  # plugin loading is not part of the in-process figure

    note = PARA * int(args.mb * 1_000_000 / len(PARA))
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "note.jsonl", Path(tmp) / "out.jsonl"
        src.write_text(json.dumps({"id": "big", "text": note}) + "\n")
        t0 = time.perf_counter()
        spans = segment(note)
        t_seg = time.perf_counter() - t0
        t0 = time.perf_counter()
        stats = annotate_file(src, out, "lexicon", "alzheimers", registry=registry)
        t_all = time.perf_counter() - t0
        ratio = out.stat().st_size / src.stat().st_size
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if not args.no_cli:
            cli_out = Path(tmp) / "cli.jsonl"
            t0 = time.perf_counter()
            subprocess.run(
                [str(Path(sys.executable).with_name("dualalign")), "annotate", str(src), "--out", str(cli_out)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            t_cli = time.perf_counter() - t0
            cli_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            same = cli_out.read_bytes() == out.read_bytes()
    n = len(spans)
    speedup = _trigger_ratio([s.text for s in spans[:20_000]])
    print(f"note: {len(note) / 1e6:.2f} MB, {n:,} sentences")
    print(
        f"segment only:              {t_seg:6.2f} s ({len(note) / 1e6 / t_seg:.2f} MB/s, {n / t_seg:,.0f} sentences/s)"
    )
    print(
        f"annotate (lexicon, file):  {t_all:6.2f} s, {stats.sentences:,} rows ({n / t_all:,.0f} sentences/s), "
        f"peak RSS {rss:.0f} MiB"
    )
    if not args.no_cli:
        print(
            f"dualalign annotate (CLI):  {t_cli:6.2f} s end to end ({n / t_cli:,.0f} sentences/s), "
            f"peak RSS {cli_rss:.0f} MiB, output {'identical' if same else 'DIFFERENT'}"
        )
    print(f"output / input size:       {ratio:6.2f}x")
    print(f"trigger detection:         {speedup:6.1f}x faster than the single alternation (same run)")


if __name__ == "__main__":
    main()
