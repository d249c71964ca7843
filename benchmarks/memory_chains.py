"""Throughput of ``[generator] memory = "notes"`` (a patient's notes written in order, each remembering the
earlier ones) next to ``memory = "timeline"`` (independent notes), at the same concurrency C, end to end.

The CLI runs as a subprocess (``python -m dualalign_core.cli run``) as in ``throughput_e2e.py``: the AD pack,
the ``openai`` generator against the fake OpenAI server (this process, a background thread) answering every
request after ``L`` seconds, every core filter in warn mode, the offline ``lexicon`` annotator. With chains,
at most one note per patient is in flight, so the physical limit is min(C, patients)/L notes/s; with
independent notes it is C/L. Each figure is the generation phase (first request to last reply, as the server
saw it) as a ratio of its limit, all measured in one invocation; ``waves`` is the reference chain scheduler
(rounds of every patient's next note) next to the default streaming one.

    .venv/bin/python benchmarks/memory_chains.py [--patients 100] [--notes-per-patient 10] [--concurrency 64]
        [--latency 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "llm"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput_e2e import FILTERS  # noqa: E402

# the CLI with the chain scheduler set (``NoteScheduler.scheduler``), argv after the scheduler's name
CHILD = (
    "import sys; from dualalign_core.run.chains import NoteScheduler; NoteScheduler.scheduler = sys.argv.pop(1); "
    "from dualalign_core.cli import app; sys.argv[0] = 'dualalign'; app()"
)


def config(url: str, patients: int, per_patient: int, concurrency: int, memory: str) -> str:
    warn = ", ".join(f'"{f}"' for f in FILTERS)
    return (
        f"[run]\nseed = 1\npatients = {patients}\nmax_notes_per_patient = {per_patient}\n"
        '[disease]\nname = "alzheimers"\n'
        f'[generator]\nname = "openai"\nmodel = "gpt-4o"\nconcurrency = {concurrency}\nmemory = "{memory}"\n'
        f'options = {{ base_url = "{url}/v1", price = {{ input = 0, output = 0 }} }}\n'
        '[annotator]\nname = "lexicon"\n'
        f"[filters]\nuse = [{warn}]\nwarn = [{warn}]\n"
    )


def measure(server, tmp: Path, name: str, memory: str, scheduler: str, args: argparse.Namespace) -> dict:
    cfg = tmp / f"{name}.toml"
    cfg.write_text(config(server.url, args.patients, args.notes_per_patient, args.concurrency, memory))
    run_dir = tmp / name
    first = len(server.arrivals)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, scheduler, "run", str(cfg), "--out", str(run_dir), "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": "sk-bench"},
    )
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name}: dualalign run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    notes = sum(manifest["counts"]["units"].values())
    arrivals = sorted(server.arrivals[first:])
    phase = arrivals[-1] + args.latency - arrivals[0]
    in_flight = min(args.concurrency, args.patients) if memory == "notes" else args.concurrency
    limit = in_flight / args.latency
    return {
        "memory": memory,
        "scheduler": scheduler if memory == "notes" else "-",
        "notes": notes,
        "limit_notes_per_s": round(limit, 1),
        "generation_s": round(phase, 2),
        "generation_notes_per_s": round(notes / phase, 1),
        "generation_ratio": round(notes / phase / limit, 3),
        "command_s": round(wall, 2),
        "command_ratio": round(notes / wall / limit, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--notes-per-patient", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    from fakeserver import FakeLLMServer

    server = FakeLLMServer(latency=args.latency).start()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            measure(server, Path(tmp), "timeline", "timeline", "stream", args),
            measure(server, Path(tmp), "notes", "notes", "stream", args),
            measure(server, Path(tmp), "notes-waves", "notes", "waves", args),
        ]
    server.stop()
    print(json.dumps({"rows": rows, "load_average_at_start": round(load, 2), "cpus": os.cpu_count()}, indent=1))
    c, p, lat = args.concurrency, args.patients, args.latency
    for r in rows:
        limit = f"min(C, patients)/L = {min(c, p) / lat:.0f}" if r["memory"] == "notes" else f"C/L = {c / lat:.0f}"
        print(
            f"memory={r['memory']:<8} scheduler={r['scheduler']:<6} {r['notes']} notes, C={c}, patients={p}, "
            f"L={lat}s: {r['generation_notes_per_s']} notes/s = {r['generation_ratio']:.2f} of {limit} notes/s "
            f"(whole command {r['command_ratio']:.2f})"
        )


if __name__ == "__main__":
    main()
