"""``dualalign score`` on 10,000 notes against a 5,000-note reference (goal: under 2 minutes on 2 cores).

The synthetic run and the reference are template runs (the reference another seed, exported as a JSONL of
note texts), made once under ``--work`` and reused. The figure is the wall time of the whole command
(``dualalign score RUN --reference REF.jsonl``, a fresh process: imports, MiniLM load and MAUVE included).

python benchmarks/score_speed.py [--work runs/bench-score] [--notes 10000] [--reference-notes 5000]
    [--no-embeddings]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "alzheimers-template.toml"
NOTES_PER_PATIENT = 4  # the template config's max_notes_per_patient
ACCEPTED = 0.92  # share of planned template notes the default filters accept (near-duplicates rejected)


def make_run(out: Path, notes: int, seed: int) -> Path:
    if not (out / "run.sqlite").exists():
        patients = str(int(notes / ACCEPTED / NOTES_PER_PATIENT) + 1)
        cmd = ["dualalign", "run", str(CONFIG), "--out", str(out), "--patients", patients, "--seed", str(seed), "-q"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def reference_jsonl(run: Path, path: Path, limit: int) -> Path:
    """The reference run's notes (accepted first) as ``{"text": ...}`` lines (the reader's input)."""
    from dualalign_core.run.view import RunView

    if not path.exists():
        with RunView(run) as view, path.open("w", encoding="utf-8") as fh:
            accepted = {n.id for n in view.accepted}
            notes = sorted(view.notes.values(), key=lambda n: n.id not in accepted)
            for note in notes[:limit]:
                fh.write(json.dumps({"text": note.text}) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-score")
    ap.add_argument("--notes", type=int, default=10_000)
    ap.add_argument("--reference-notes", type=int, default=5_000)
    ap.add_argument("--no-embeddings", action="store_true", help="Skip MAUVE and embedding similarity.")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    run = make_run(args.work / "synthetic", args.notes, seed=1)
    ref_run = make_run(args.work / "reference-run", args.reference_notes, seed=2)
    ref = reference_jsonl(ref_run, args.work / f"reference-{args.reference_notes}.jsonl", args.reference_notes)
    cmd = ["dualalign", "score", str(run), "--reference", str(ref), "--json", "--out", str(args.work / "sc.json")]
    if args.no_embeddings:
        cmd.append("--no-embeddings")
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - started
    if result.returncode not in (0, 1):
        sys.exit(result.stderr)
    card = json.loads(result.stdout)
    notes = card["inputs"]["accepted_notes"]
    records = card["inputs"]["reference"]["records"]
    print(
        f"dualalign score: {notes:,} notes vs a {records:,}-note reference in {wall:.1f} s wall "
        f"(scoring {card['seconds']:.1f} s; {os.cpu_count()} cores; embeddings {'off' if args.no_embeddings else 'on'})"
    )
    for m in card["measures"]:
        print(f"  {m['name']:<38} {m['value'] if m['value'] is not None else '-':<10} {m['verdict']}")


if __name__ == "__main__":
    main()
