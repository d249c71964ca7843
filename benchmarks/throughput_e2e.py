"""End-to-end throughput of `dualalign run` with an LLM generator against a loopback vendor server.

The CLI runs as a subprocess (`python -m dualalign_core.cli run`), exactly as a user starts it: the AD pack,
the ``openai`` generator (the real SDK) at ``concurrency = C`` against the fake OpenAI server (this process,
a background thread) answering every request after ``L`` seconds, every core filter in warn mode, and the
offline ``lexicon`` annotator. The physical limit is C/L notes/s; the target is >= 0.9 of it.

Two figures: the generation phase (first request to last reply, as the server saw them) and the whole
command (start-up, planning, filters and the summary included). The run's CPU time during the generation
phase (sampled from /proc) says whether it waited on the server or on the CPU: ``cpu_bound_ceiling`` is the
notes/s one free core would allow at that CPU cost per note.

    .venv/bin/python benchmarks/throughput_e2e.py [--notes 1000] [--concurrency 64] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "llm"))

FILTERS = [
    "identifiers",
    "length_form",
    "near_duplicate",
    "plan_adherence",
    "temporal_coherence",
    "temporal_regression",
]


def config(url: str, notes: int, concurrency: int) -> str:
    per_patient = 50
    patients = -(-notes // per_patient)
    warn = ", ".join(f'"{f}"' for f in FILTERS)
    return (
        f"[run]\nseed = 1\npatients = {patients}\nmax_notes_per_patient = {per_patient}\n"
        '[disease]\nname = "alzheimers"\n'
        f'[generator]\nname = "openai"\nmodel = "gpt-4o"\nconcurrency = {concurrency}\n'
        f'options = {{ base_url = "{url}/v1", price = {{ input = 0, output = 0 }} }}\n'
        '[annotator]\nname = "lexicon"\n'
        f"[filters]\nuse = [{warn}]\nwarn = [{warn}]\n"
    )


def sample_cpu(proc: subprocess.Popen[str], every: float = 0.05) -> list[tuple[float, float]]:
    """(time.monotonic(), CPU seconds the process has used) until it exits, from /proc (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    samples: list[tuple[float, float]] = []
    while proc.poll() is None:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            samples.append((time.monotonic(), (int(fields[11]) + int(fields[12])) / tick))
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(every)
    return samples


def cpu_at(samples: list[tuple[float, float]], when: float) -> float:
    """CPU seconds used by ``when`` (the last sample at or before it)."""
    return max((cpu for t, cpu in samples if t <= when), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args()
    from fakeserver import FakeLLMServer

    server = FakeLLMServer(latency=args.latency).start()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.toml"
        cfg.write_text(config(server.url, args.notes, args.concurrency))
        run_dir = Path(tmp) / "run"
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
        load = os.getloadavg()[0]
        start = time.monotonic()  # the server's arrival times are time.monotonic() too
        errors = Path(tmp) / "stderr.txt"
        with errors.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dualalign_core.cli", "run", str(cfg), "--out", str(run_dir), "-q"],
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
                env=env,
            )
            samples = sample_cpu(proc)
        stderr = errors.read_text()
        end = time.monotonic()
        wall = end - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = usage.ru_utime + usage.ru_stime
        if proc.returncode != 0:
            raise SystemExit(f"dualalign run failed ({proc.returncode}):\n{stderr[-3000:]}")
        manifest = json.loads((run_dir / "manifest.json").read_text())
    server.stop()
    units = manifest["counts"]["units"]
    notes = sum(units.values())
    arrivals = sorted(server.arrivals)
    phase = arrivals[-1] + args.latency - arrivals[0]
    gen_cpu = cpu_at(samples, arrivals[-1] + args.latency) - cpu_at(samples, arrivals[0])
    limit = args.concurrency / args.latency
    result = {
        "notes": notes,
        "units": units,
        "requests": server.completions,
        "max_in_flight": server.max_in_flight,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "limit_notes_per_s": round(limit, 1),
        "generation_s": round(phase, 2),
        "generation_notes_per_s": round(notes / phase, 1),
        "generation_ratio": round(notes / phase / limit, 3),
        "command_s": round(wall, 2),
        "command_notes_per_s": round(notes / wall, 1),
        "command_ratio": round(notes / wall / limit, 3),
        "before_first_request_s": round(arrivals[0] - start, 2),
        "after_last_reply_s": round(end - phase - arrivals[0], 2),
        "run_cpu_s": round(cpu_s, 2),
        "cpu_ms_per_note": round(1000 * cpu_s / notes, 2),
        "generation_cpu_s": round(gen_cpu, 2),
        "generation_cpu_ms_per_note": round(1000 * gen_cpu / notes, 2),
        "generation_cpu_share": round(gen_cpu / phase, 2),  # of one core, while generating
        "cpu_bound_ceiling_notes_per_s": round(notes / gen_cpu, 1) if gen_cpu else None,
        "load_average_at_start": round(load, 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))
    print(
        f"{notes} notes, C={args.concurrency}, L={args.latency}s: limit {limit:.0f} notes/s; generation "
        f"{result['generation_notes_per_s']} notes/s = {result['generation_ratio']:.2f} of C/L; whole command "
        f"{wall:.1f} s = {result['command_notes_per_s']} notes/s = {result['command_ratio']:.2f}"
    )


if __name__ == "__main__":
    main()
