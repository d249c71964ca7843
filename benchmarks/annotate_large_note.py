"""`dualalign annotate` on one huge note: segmentation and output are linear (issue 14, item 7).

Builds a ~5 MB clinical note (SOAP sections, wrapped prose, bullets, abbreviations), runs the same code
path as ``dualalign annotate NOTE.jsonl --annotator lexicon --out OUT`` in-process, and prints the time
for segmentation alone and for the whole annotate, the output size relative to the input, and the peak
resident memory. Before the fix a 200 KB note gave a 1.8 GB output and a 5.4 MB note did not finish in
600 s. Usage: ``python benchmarks/annotate_large_note.py [--mb 5]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

PARA = ("S: Pt is a 74 yo F seen with her daughter, who says she repeats questions and forgets appointments. "
        "She misplaces keys b.i.d. per family. Dr. Smith started donepezil 5 mg p.o. q.d. last month.\n"
        "O: BP 142/88, T 98.6. MoCA 24/30.\n"
        "- alert, oriented x3\n"
        "A: Mild cognitive impairment, likely amnestic type; she denies depression and hallucinations,\n"
        "and the exam is otherwise unremarkable for her age and history of hypertension.\n"
        "P: Follow up in 3 months. Return sooner if worse.\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=5.0)
    args = parser.parse_args()
    from dualalign_core.annotate.cli_support import annotate_file
    from dualalign_core.plugins import get_registry
    from dualalign_core.text.segment import segment

    registry = get_registry()  # plugin loading is not part of the figure

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
    print(f"note: {len(note) / 1e6:.2f} MB, {len(spans):,} sentences")
    print(f"segment only:              {t_seg:6.2f} s ({len(note) / 1e6 / t_seg:.2f} MB/s)")
    print(f"annotate (lexicon, file):  {t_all:6.2f} s, {stats.sentences:,} rows")
    print(f"output / input size:       {ratio:6.2f}x")
    print(f"peak RSS:                  {rss:6.0f} MiB")


if __name__ == "__main__":
    main()
