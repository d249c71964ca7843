"""Sampler throughput on the AD pack: personas/s (columns and records) and note plans/s.

python benchmarks/sampler_throughput.py [--personas 1000000] [--patients 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dualalign_core.context import RunContext
from dualalign_core.plugins import get_registry
from dualalign_core.sampling.personas import PrevalencePersonaSource, sample_columns, sample_columns_stratified
from dualalign_core.sampling.trajectory import StageScheduleSampler
from dualalign_core.seeds import derive_seed


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--personas", type=int, default=1_000_000)
    ap.add_argument("--patients", type=int, default=200)
    args = ap.parse_args()
    ad = get_registry().get("disease", "alzheimers")
    n = args.personas
    _, t_iid = timed(sample_columns, ad.demographics, ad.risk_factors, n, np.random.default_rng(0))
    _, t_strat = timed(sample_columns_stratified, ad.demographics, ad.risk_factors, n, np.random.default_rng(0))
    print(
        f"{n:,} personas as columns: iid {t_iid:.2f}s ({n / t_iid:,.0f}/s), "
        f"stratified {t_strat:.2f}s ({n / t_strat:,.0f}/s)"
    )
    ctx = RunContext(run_id="bench", seed=0, disease=ad)
    source = PrevalencePersonaSource()
    m = 100_000
    personas, t_rec = timed(source.sample, ad, m, 0, ctx)
    print(
        f"{m:,} persona records (attrs, validated): {t_rec:.2f}s ({m / t_rec:,.0f}/s); "
        f"column sampling is {(n / t_strat) / (m / t_rec):.1f}x faster per persona than building records"
    )
    sampler = StageScheduleSampler()
    t = time.perf_counter()
    plans = 0
    for p in personas[: args.patients]:
        plans += len(sampler.plan(p, ad, derive_seed(0, "plan", p.id), ctx))
    t_plan = time.perf_counter() - t
    print(f"{plans:,} note plans for {args.patients} patients: {t_plan:.2f}s ({plans / t_plan:,.0f} plans/s)")


if __name__ == "__main__":
    main()
