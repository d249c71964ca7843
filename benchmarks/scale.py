"""Scale-out figures: the Ray executor against the local one, the driver's commit ceiling, driver memory.

1. **Throughput** (``--notes`` notes, default 1000): ``dualalign run`` as a subprocess, the ``openai``
   generator (real SDK) at total concurrency C (64) against the loopback OpenAI server (this process) answering
   after L (0.5 s); the offline ``lexicon`` annotator; every core filter in warn mode (the config of
   ``throughput_e2e.py``). Arms: the local executor, and Ray with 1, 2 and 4 workers at the same total C (each
   replica gets C/workers). Each arm's generation phase (first request to last reply, as the server saw them)
   as a ratio of C/L, and the whole command (Ray's start-up included).
2. **Commit ceiling**: the same through Ray (2 workers) with an instant server (L = 1 ms): notes/s the driver
   commits when generation costs nothing, against the local executor.
3. **Driver memory** at 10k and 100k planned notes (template generator): peak RSS of planning (the whole cohort
   is sampled in memory, then stored), and of the note phase: a driver that resumes the planned run and
   makes its first ``--units`` notes through Ray (2 workers); flat means the note phase does not grow with
   the cohort.

4. **Driver CPU per committed note** (``--driver-notes``, default 3000; filters off): the driver's CPU time
   (``time.process_time``, every thread of the process) over the note phase divided by the notes committed.
   The generator and annotator are instant (``runner_overhead.py``'s). Locally the figure is everything one
   process does per note (plan decode, segmentation, commit), and the part that is not making the note (the
   same calls in a bare loop subtracted); through Ray (1 and 2 replicas) it is the driver's alone: reading
   plans, batches to and from the replicas, commit, and Ray's own threads in the driver process.
5. **Run memory** (``--run-notes``, default 2000,20000): peak RSS of ``dualalign run`` (template generator,
   full histories: no ``max_notes_per_patient`` cap, default filters, cohort filters included) as a subprocess.
6. **Planning** (``--plan-notes``, default 10000,100000): ``dualalign plan`` wall time and peak RSS.

    .venv/bin/python benchmarks/scale.py [--notes 1000] [--concurrency 64] [--latency 0.5]
        [--workers 1,2,4] [--memory 10000,100000] [--units 2000] [--driver-notes 3000]
        [--run-notes 2000,20000] [--plan-notes 10000,100000]
        [--skip throughput,ceiling,memory,driver,run,planning]

Every figure comes from one invocation on one machine; ratios compare arms measured in the same run.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "llm"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput_e2e import config as llm_config  # noqa: E402  (the same run as the end-to-end benchmark)


def arm_config(url: str, notes: int, concurrency: int, workers: int | None) -> str:
    """The end-to-end benchmark's config, on the local executor (``workers`` None) or on Ray."""
    text = llm_config(url, notes, concurrency)
    if workers is None:
        return text
    text = text.replace("[run]\n", '[run]\nexecutor = "ray"\n', 1)
    return text + f'[ray]\nworkers = {workers}\nnum_cpus = 0\nforward_env = ["OPENAI_API_KEY"]\n'


def run_arm(server: Any, tmp: Path, name: str, notes: int, concurrency: int, workers: int | None) -> dict[str, Any]:
    cfg = tmp / f"{name}.toml"
    cfg.write_text(arm_config(server.url, notes, concurrency, workers))
    run_dir = tmp / name
    server.arrivals.clear()
    server.max_in_flight = 0
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "dualalign_core.cli", "run", str(cfg), "--out", str(run_dir), "-q"],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": "sk-bench"},
    )
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name}: dualalign run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    done = sum(manifest["counts"]["units"].values())
    arrivals = sorted(server.arrivals)
    phase = arrivals[-1] + server.latency - arrivals[0]
    limit = concurrency / server.latency
    return {
        "arm": name,
        "notes": done,
        "max_in_flight": server.max_in_flight,
        "generation_notes_per_s": round(done / phase, 1),
        "generation_ratio": round(done / phase / limit, 3),
        "command_s": round(wall, 1),
        "command_ratio": round(done / wall / limit, 3),
        "before_first_request_s": round(arrivals[0] - start, 1),
    }


def throughput(args: argparse.Namespace, latency: float, workers: list[int]) -> list[dict[str, Any]]:
    from fakeserver import FakeLLMServer

    server = FakeLLMServer(latency=latency).start()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for w in [None, *workers]:
            name = "local" if w is None else f"ray-{w}"
            rows.append(run_arm(server, Path(tmp), name, args.notes, args.concurrency, w))
            print(json.dumps(rows[-1]), flush=True)
    server.stop()
    return rows


# -- driver memory -----------------------------------------------------------------------------------
def template_config(notes: int) -> str:
    per_patient = 50
    return (
        f"[run]\nseed = 3\npatients = {-(-notes // per_patient)}\nmax_notes_per_patient = {per_patient}\n"
        '[disease]\nname = "alzheimers"\n[generator]\nname = "template"\n[annotator]\nname = "plan"\n'
        "[filters]\nuse = []\n"
        "[ray]\nworkers = 2\nnum_cpus = 0\n"
    )


def memory_child(cfg: Path, run_dir: Path, phase: str, units: int) -> None:
    """In a fresh process: plan the run, or resume it and make its first ``units`` notes through Ray."""
    import asyncio
    import itertools

    from dualalign_core.config import load_config
    from dualalign_core.run.pipeline import Pipeline
    from dualalign_core.run.ray_executor import RayExecutor

    config = load_config(cfg)
    t0 = time.monotonic()
    if phase == "plan":
        pipeline = Pipeline(config, run_dir)
        pipeline.plan()
        pipeline.close()
    else:

        class FirstUnits(RayExecutor):
            async def run(self, units, work, on_results, should_stop):  # type: ignore[no-untyped-def]
                await super().run(itertools.islice(units, units_wanted), work, on_results, should_stop)

        units_wanted = units
        pipeline = Pipeline(config.override(executor="ray"), run_dir, resume=True)
        store = pipeline._open()
        pipeline.executor = FirstUnits(
            pipeline.config, pipeline.run_id, store, concurrency={"generator": 8, "annotator": 8}, max_in_flight=16
        )
        asyncio.run(pipeline.run_async())
        pipeline.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"phase": phase, "peak_rss_mb": round(peak_mb, 1), "seconds": round(time.monotonic() - t0, 1)}))


def memory(sizes: list[int], units: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            cfg = Path(tmp) / f"m{n}.toml"
            cfg.write_text(template_config(n))
            run_dir = Path(tmp) / f"m{n}"
            row: dict[str, Any] = {"planned_notes": n}
            for phase in ("plan", "notes"):
                out = subprocess.run(
                    [sys.executable, __file__, "--memory-child", str(cfg), str(run_dir), phase, str(units)],
                    capture_output=True,
                    text=True,
                )
                if out.returncode != 0:
                    raise SystemExit(f"memory child failed:\n{out.stderr[-3000:]}")
                got = json.loads(out.stdout.strip().splitlines()[-1])
                row[f"{phase}_peak_rss_mb"], row[f"{phase}_s"] = got["peak_rss_mb"], got["seconds"]
            from dualalign_core.run.view import RunView

            with RunView(run_dir) as view:
                row["planned"] = len(view.plans)
                row["made"] = len(view.unit_outcomes())
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


# -- driver CPU per committed note ----------------------------------------------------------------------
def register_instant() -> None:
    """Register an instant generator and annotator (``runner_overhead.py``'s) as ``instant`` in this process."""
    from dualalign_core.components import Annotation, Annotator, Generation, Generator
    from dualalign_core.plugins import get_registry
    from dualalign_core.records import Label

    text = "S: Pt reports resting tremor. Denies falls.\nO: BP 120/80.\nA: Stable.\nP: Follow up in 3 months.\n"

    class InstantGenerator(Generator):
        concurrency = 64

        async def generate(self, plan, persona, seed, ctx):  # type: ignore[no-untyped-def]
            return Generation(text=text, model="instant")

    class InstantAnnotator(Annotator):
        concurrency = 64

        async def annotate(self, note, sentences, ctx):  # type: ignore[no-untyped-def]
            return Annotation(
                labels=tuple(
                    Label(sentence_id=s.id, note_id=note.id, label="none", binary=False, annotator="instant")
                    for s in sentences
                )
            )

    registry = get_registry()
    for kind, cls in (("generator", InstantGenerator), ("annotator", InstantAnnotator)):
        cls.name, cls.plugin, cls.plugin_version = "instant", "benchmark", "0"
        registry.components.setdefault(kind, {})["instant"] = cls


def instant_replica() -> type:
    """A Ray replica that registers the instant components before it builds the run's (pickled by value: this
    module runs as ``__main__``)."""
    from dualalign_core.run.ray_executor import Replica

    class InstantReplica(Replica):
        def __init__(self, *args: Any, **kw: Any):
            register_instant()
            super().__init__(*args, **kw)

    return InstantReplica


def driver_child(arm: str, notes: int, run_dir: Path) -> None:
    """In a fresh process: plan, then time the note phase's CPU (Ray started before the clock)."""
    import asyncio

    from dualalign_core.config import parse_config
    from dualalign_core.plugins import get_registry
    from dualalign_core.run.pipeline import Pipeline

    register_instant()
    registry = get_registry()
    per_patient = 10
    doc: dict[str, Any] = {
        "run": {"seed": 1, "patients": -(-notes // per_patient), "max_notes_per_patient": per_patient},
        "disease": {"name": "alzheimers"},
        "generator": {"name": "instant"},
        "annotator": {"name": "instant"},
        "filters": {"use": []},
    }
    bare_s = 0.0
    if arm != "local":
        import ray

        from dualalign_core.run import ray_executor

        ray_executor.Replica = instant_replica()  # type: ignore[misc]
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        doc["run"]["executor"] = "ray"
        doc["ray"] = {"workers": int(arm.split("-")[1]), "num_cpus": 0}
    pipeline = Pipeline(parse_config(doc), run_dir, registry=registry)
    pipeline.plan()
    cpu, wall = time.process_time(), time.monotonic()
    manifest = pipeline.run()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    done = sum(manifest["counts"]["units"].values())
    if arm == "local":  # the same note-making calls without the runner: what is not the driver's
        from dualalign_core.run.note import NoteMaker
        from dualalign_core.run.store import RunStore

        async def bare() -> float:
            store = RunStore(run_dir)
            maker = NoteMaker(pipeline.config, pipeline.components, pipeline.ctx, None)
            units = [u for _, u in zip(range(1000), store.iter_plans(), strict=False)]
            persona = {p.id: p for p in store.personas()}
            from dualalign_core.run.executor import WorkUnit

            t = time.process_time()
            for seq, plan in units:
                await maker.attempt(WorkUnit(seq, plan, persona[plan.persona_id]), 0)
            store.close()
            return (time.process_time() - t) / len(units)

        bare_s = asyncio.run(bare())
    print(
        json.dumps(
            {
                "arm": arm,
                "notes": done,
                "driver_ms_per_note": round(1000 * cpu / done, 3),
                "note_making_ms_per_note": round(1000 * bare_s, 3),
                "driver_less_note_making_ms": round(1000 * (cpu / done - bare_s), 3),
                "wall_notes_per_s": round(done / wall, 1),
            }
        )
    )


def child_json(args: list[str]) -> dict[str, Any]:
    """Run this script with ``args`` in a fresh process: its last line (JSON) and its peak RSS."""
    proc = subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def driver(notes: int, arms: list[str]) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for arm in arms:
            rows.append(child_json(["--driver-child", arm, str(notes), str(Path(tmp) / arm)]))
            rows[-1]["load_average"] = round(os.getloadavg()[0], 2)
            print(json.dumps(rows[-1]), flush=True)
    return rows


# -- run memory and planning, measured from outside ------------------------------------------------------
def measured(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed:\n{proc.stderr.read().decode()[-3000:] if proc.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def full_history_config(notes: int, path: Path) -> Path:
    """Template generator, ``plan`` annotator, full histories (~100 notes a patient), default filters."""
    path.write_text(
        f"[run]\nseed = 3\npatients = {max(1, round(notes / 100))}\n"
        '[disease]\nname = "alzheimers"\n[generator]\nname = "template"\n[annotator]\nname = "plan"\n'
    )
    return path


def run_memory(sizes: list[int], command: str) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            cfg = full_history_config(n, Path(tmp) / f"r{n}.toml")
            out = Path(tmp) / f"{command}{n}"
            load = round(os.getloadavg()[0], 2)
            wall, peak = measured(
                [
                    sys.executable,
                    "-m",
                    "dualalign_core.cli",
                    command,
                    str(cfg),
                    "--out",
                    str(out),
                    *(["-q"] if command == "run" else []),
                ]
            )
            manifest = json.loads((out / "manifest.json").read_text())
            rows.append(
                {
                    "command": command,
                    "planned_notes": manifest["counts"]["plans"],
                    "notes": manifest["counts"].get("notes", 0),
                    "seconds": round(wall, 1),
                    "peak_rss_mb": round(peak, 1),
                    "load_average_at_start": load,
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--driver-child":
        driver_child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--memory", default="10000,100000")
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--driver-notes", type=int, default=3000)
    parser.add_argument("--run-notes", default="2000,20000")
    parser.add_argument("--plan-notes", default="10000,100000")
    parser.add_argument("--skip", default="")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    workers = [int(w) for w in args.workers.split(",") if w]
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_at_start": round(os.getloadavg()[0], 2)}
    if "throughput" not in skip:
        report["throughput"] = rows = throughput(args, args.latency, workers)
        local = rows[0]["generation_ratio"]
        for r in rows:
            print(
                f"{r['arm']:>8}: generation {r['generation_notes_per_s']} notes/s = {r['generation_ratio']:.2f} of C/L"
                f" ({r['generation_ratio'] / local:.2f} x local); whole command {r['command_s']} s ="
                f" {r['command_ratio']:.2f} of C/L"
            )
    if "ceiling" not in skip:
        report["ceiling"] = rows = throughput(args, 0.001, [2])
        print(
            f"commit ceiling (L = 1 ms, C = {args.concurrency}): local {rows[0]['generation_notes_per_s']} notes/s,"
            f" Ray 2 workers {rows[1]['generation_notes_per_s']} notes/s"
            f" ({rows[1]['generation_notes_per_s'] / rows[0]['generation_notes_per_s']:.2f} x local)"
        )
    if "memory" not in skip:
        report["memory"] = rows = memory([int(n) for n in args.memory.split(",") if n], args.units)
        base = rows[0]
        for r in rows:
            print(
                f"{r['planned_notes']:>7} planned notes: planning peak {r['plan_peak_rss_mb']:.0f} MB"
                f" ({r['plan_peak_rss_mb'] / base['plan_peak_rss_mb']:.2f} x), note phase peak"
                f" {r['notes_peak_rss_mb']:.0f} MB ({r['notes_peak_rss_mb'] / base['notes_peak_rss_mb']:.2f} x)"
            )
    if "driver" not in skip:
        report["driver"] = rows = driver(args.driver_notes, ["local", "ray-1", "ray-2"])
        for r in rows:
            print(
                f"{r['arm']:>6}: driver {r['driver_ms_per_note']:.3f} ms CPU per committed note"
                f" (less note making {r['driver_less_note_making_ms']:.3f} ms); {r['wall_notes_per_s']} notes/s"
                f" (load {r['load_average']})"
            )
    for section, command, sizes in (("run", "run", args.run_notes), ("planning", "plan", args.plan_notes)):
        if section not in skip:
            report[section] = rows = run_memory([int(n) for n in sizes.split(",") if n], command)
            for r in rows:
                print(
                    f"dualalign {command}, {r['planned_notes']} planned notes: {r['seconds']} s, peak RSS"
                    f" {r['peak_rss_mb']:.0f} MB ({r['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f} x)"
                )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
