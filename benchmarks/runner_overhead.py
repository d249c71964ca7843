"""Per-record overhead of the runner: an instant generator and annotator, 10,000 notes.

Prints records/s through the full pipeline (executor, semaphores, filters, SQLite commit per note) and
records/s of the same component calls in a bare loop, and their ratio, measured in one run.

    python benchmarks/runner_overhead.py [--records 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from dualalign_core.components import Annotation, Annotator, Generation, Generator
from dualalign_core.config import parse_config
from dualalign_core.context import RunContext
from dualalign_core.plugins import get_registry
from dualalign_core.records import Label, Sentence
from dualalign_core.run.pipeline import Pipeline
from dualalign_core.text.segment import segment

TOY = Path(__file__).resolve().parents[1] / "tests" / "data" / "toy_pack"
TEXT = "S: Pt reports resting tremor. Denies falls.\nO: BP 120/80.\nA: Stable.\nP: Follow up in 3 months.\n"


class InstantGenerator(Generator):
    concurrency = 64

    async def generate(self, plan, persona, seed, ctx):
        return Generation(text=TEXT, model="instant")


class InstantAnnotator(Annotator):
    concurrency = 64

    async def annotate(self, note, sentences, ctx):
        return Annotation(
            labels=tuple(
                Label(sentence_id=s.id, note_id=note.id, label="none", binary=False, annotator="instant")
                for s in sentences
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000)
    args = ap.parse_args()
    notes_per_patient = 10
    registry = get_registry()
    for kind, name, cls in (("generator", "instant", InstantGenerator), ("annotator", "instant", InstantAnnotator)):
        cls.name, cls.plugin, cls.plugin_version = name, "benchmark", "0"
        registry.components.setdefault(kind, {})[name] = cls
    cfg = parse_config(
        {
            "run": {"seed": 1, "patients": args.records // notes_per_patient},
            "disease": {"path": str(TOY)},
            "trajectory": {"options": {"notes": notes_per_patient}},
            "generator": {"name": "instant"},
            "annotator": {"name": "instant"},
            "filters": {"use": []},
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        pipe = Pipeline(cfg, Path(tmp) / "run", registry=registry)
        t0 = time.perf_counter()
        cohort = pipe.sample()
        personas, plans = cohort.personas, cohort.plans
        t_plan = time.perf_counter() - t0
        t0 = time.perf_counter()
        manifest = pipe.run()
        t_run = time.perf_counter() - t0
        n = manifest["counts"]["notes"]

    async def bare() -> float:
        ctx = RunContext(run_id="b", seed=1, disease=pipe.components.disease)
        gen, ann = InstantGenerator(), InstantAnnotator()
        persona_of = {p.id: p for p in personas}
        t = time.perf_counter()
        for plan in plans:
            g = await gen.generate(plan, persona_of[plan.persona_id], 0, ctx)
            sents = [
                Sentence(
                    id=f"{plan.id}-s{i}",
                    note_id=plan.id,
                    index=i,
                    start=s.start,
                    end=s.end,
                    text=s.text,
                    section=s.section,
                )
                for i, s in enumerate(segment(g.text))
            ]
            await ann.annotate(plan, sents, ctx)
        return time.perf_counter() - t

    t_bare = asyncio.run(bare())
    print(f"records: {n} (plans sampled in {t_plan:.2f}s: {len(plans) / t_plan:,.0f} plans/s)")
    print(
        f"runner (plan + generate + segment + annotate + filters + SQLite commit per note): "
        f"{t_run:.2f}s = {n / t_run:,.0f} records/s, {1e6 * t_run / n:.0f} us/record"
    )
    print(f"bare loop (generate + segment + annotate, no runner, no store): {n / t_bare:,.0f} records/s")
    print(f"runner overhead ratio (runner time / bare time): {t_run / t_bare:.2f}x")


if __name__ == "__main__":
    main()
