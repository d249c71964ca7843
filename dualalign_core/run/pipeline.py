"""The coordinator of one run: open or reconcile the run directory, plan, hand notes to an executor, refill
what cohort filters reject, and keep the manifest.

Plans are sampled once and stored, a patient at a time; notes are units of work committed in batches of whole
units (one transaction a batch), so a killed run resumes where it stopped. Every record's seed is derived from
the run seed and its id, so the same config and seed give the same personas, plans and prompts whatever the
order of execution."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from dualalign_core.config import RunConfig
from dualalign_core.context import RunContext
from dualalign_core.errors import ComponentError, RunFailed
from dualalign_core.history.memory import summariser_for
from dualalign_core.plugins import Registry, get_registry
from dualalign_core.run.build import build_components, preflight, resolved_pipeline
from dualalign_core.run.chains import NoteScheduler, executor_for
from dualalign_core.run.cohort import cohort_rejections, refill_units
from dualalign_core.run.executor import Executor, close_run, open_run
from dualalign_core.run.manifest import add_llm_stats, compose_manifest, now, resumes_of, stored_llm_stats
from dualalign_core.run.note import NoteMaker
from dualalign_core.run.plan import Cohort, plan_cohort, stream_cohort
from dualalign_core.run.planner import Fidelity, store_cohort
from dualalign_core.run.resume import Claim, check_same_pipeline, reconcile, run_id_for
from dualalign_core.run.shard import ShardSpec, manifest_fields, resolve_shard
from dualalign_core.run.stats import Stats
from dualalign_core.run.store import DB_NAME, MANIFEST, RunStore, UnitResult, write_json_atomic
from dualalign_core.signals import stop_reason as interrupt_reason


class Pipeline:
    """One run in one run directory."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | Path,
        *,
        registry: Registry | None = None,
        resume: bool = False,
        executor: Executor | None = None,
        progress: Callable[[Stats], None] | None = None,
        shard: ShardSpec | None = None,
    ):
        self.registry = registry or get_registry()
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.progress = progress
        self.store: RunStore | None = None
        self.claim = Claim(self.run_dir)  # one process per run directory: taken when the store opens
        self.config, stored_run_id = reconcile(config, self.run_dir, resume=resume)
        self.shard = resolve_shard(self.run_dir, shard)  # a shard makes its patients' notes, no cohort filter
        self.components = build_components(self.config, self.registry)
        self.pipeline = resolved_pipeline(self.components)
        if stored_run_id is not None:
            check_same_pipeline(self.run_dir, self.pipeline, self.config.path)
        self.run_id = stored_run_id or run_id_for(self.config, self.pipeline)
        self.executor = executor
        self.stats = Stats()
        self.ctx = RunContext(run_id=self.run_id, seed=self.config.seed, disease=self.components.disease)
        self._cohort_pending = False
        self._llm_before: dict[str, Any] = {}  # LLM stats of earlier invocations of a resumed run

    # -- setup --------------------------------------------------------------------------------------
    def _open(self) -> RunStore:
        if self.store is None:
            from dualalign_core.llm.budget import Budget

            self.store = store = RunStore(self.claim.take())  # the run directory, locked for this process
            spent = store.spent_usd()  # paid calls of units that never committed included
            limit = self.config.max_cost_usd
            self.ctx = attrs.evolve(self.ctx, store=store, budget=Budget(limit, spent) if limit is not None else None)
            stored = store.get_meta("config")
            limits = self.config.to_dict().get("limits")
            if stored is not None and stored.get("limits") != limits:  # keep the latest limit for a bare --resume
                kept = {k: v for k, v in stored.items() if k != "limits"}
                store.set_meta("config", kept | ({"limits": limits} if limits else {}))
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        self.claim.release()

    # -- plan phase ---------------------------------------------------------------------------------
    def sample(self) -> Cohort:
        """Personas, note plans and timelines for the whole cohort (pure: no store, no LLM)."""
        return plan_cohort(self.config, self.components, self.ctx)

    def plan(self, *, fidelity: Fidelity | None = None) -> dict[str, Any]:
        """Plan and store personas and plans (streamed: one batch of patients in memory) unless the store has
        them; returns the manifest. A fresh run whose planning fails leaves no database behind."""
        fresh = self.store is None and not (self.run_dir / DB_NAME).exists()
        store = self._open()
        if not store.has_plans():
            meta = manifest_fields(self.shard) | {  # a shard records its spec with its plans
                "config": self.config.to_dict(),
                "run_id": self.run_id,
                "pipeline": self.pipeline,
            }
            try:
                store_cohort(store, stream_cohort(self.config, self.components, self.ctx), meta, fidelity)
            except BaseException:
                if fresh:
                    self.close()
                    for suffix in ("", "-wal", "-shm"):
                        (self.run_dir / (DB_NAME + suffix)).unlink(missing_ok=True)
                raise
        return self.write_manifest(status="planned" if not store.finished_count() else "running")

    # -- manifest -----------------------------------------------------------------------------------
    def write_manifest(self, **fields: Any) -> dict[str, Any]:
        store = self._open()
        manifest = compose_manifest(
            self.run_dir,
            self.run_id,
            self.config,
            self.components,
            self.registry,
            counts=store.counts(),
            fidelity=store.get_meta("fidelity"),
            **(manifest_fields(self.shard) | fields),
        )
        write_json_atomic(self.run_dir / MANIFEST, manifest)
        return manifest

    # -- note phase ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Plan if needed, make every unfinished note, run cohort filters, finish the manifest."""
        try:
            return asyncio.run(self.run_async())
        except ComponentError as exc:  # a plugin raised outside a unit (cohort filter, sampler): mark it failed
            self._mark(status="failed", stop_reason=str(exc))
            raise
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: units in flight are dropped, committed ones kept; resumable
            self._mark(status="interrupted", stop_reason=interrupt_reason())
            raise
        finally:
            self.close()

    def _mark(self, **fields: Any) -> None:
        """Record how the run ended in the manifest, if there is a manifest to record it in."""
        if self.store is not None and (self.run_dir / MANIFEST).exists():
            self.write_manifest(finished_at=now(), **fields)

    async def run_async(self) -> dict[str, Any]:
        from dualalign_core.fidelity import fidelity_report
        from dualalign_core.llm.budget import BudgetReached
        from dualalign_core.llm.pricing import usd

        preflight(self.components, self.config)  # e.g. a missing API key: exit 2 before any work
        resumed = (self.run_dir / DB_NAME).exists() and self._open().has_plans()
        self._llm_before = stored_llm_stats(self.run_dir) if resumed else {}
        self.plan(fidelity=lambda p, n: fidelity_report(self.components.disease, p, n, self.config.multiplier))
        store = self._open()
        manifest = self.write_manifest(resumes=resumes_of(self.run_dir) + (1 if resumed and self.resume else 0))
        personas = {p.id: p for p in store.personas()}
        mine = self.shard.persona_ids(list(personas.values())) if self.shard else None  # None: every patient
        planned = store.plan_count(mine)
        st = self.stats = Stats.of(store, planned)
        budget = self.config.max_cost_usd

        def should_stop() -> bool:
            # a budget of 0 allows no LLM spend; work that costs nothing (template, lexicon) goes on
            return budget is not None and st.usage.cost_usd > 0 and st.usage.cost_usd >= budget

        def on_result(results: list[UnitResult]) -> None:
            store.commit_units(results)
            for result in results:
                st.count(result.plan_id, result.status, result.usage)
            if self.progress:
                self.progress(st)

        executor = self.executor = self.executor or executor_for(self.config, self.run_id, store, self.components)
        maker = NoteMaker(self.config, self.components, self.ctx, store)
        summarise = summariser_for(self.config, self.components.disease)  # None: notes remember the timeline only
        finished = store.finished_units() if summarise else set()  # chains read it; independent units ask SQL
        scheduler = NoteScheduler(executor, store, personas, finished, summarise)  # chains if notes remember notes
        if self.progress:
            self.progress(st)
        self._cohort_pending = False
        reason: str | None = None
        try:
            await open_run(executor, self.components, self.ctx)
            await scheduler.run(mine, maker.process, on_result, should_stop)
            await self.cohort_phase(scheduler, maker, on_result, should_stop)
        except BudgetReached as exc:  # the next call would cross the budget: stopped before it, resumable
            reason = str(exc)
        except RunFailed as exc:  # error-rate breaker: stop cleanly, resumable
            self.write_manifest(
                status="stopped",
                finished_at=now(),
                stop_reason=str(exc),
                resumes=manifest["resumes"],
                llm=self.llm_stats(),
            )
            raise
        finally:
            await close_run(executor, self.components)
        unfinished = planned - store.finished_count()  # failed units included: resume retries them
        held_back = planned - sum(store.counts()["units"].values())  # never started
        if reason is None and should_stop() and (held_back or self._cohort_pending):  # the budget held them back
            reason = f"cost budget of {usd(budget or 0.0)} reached (spent {usd(st.usage.cost_usd)})"
        status = "stopped" if reason else "finished"
        if reason:
            left = (
                f"{unfinished} of {planned} notes unfinished"
                if unfinished
                else "notes rejected by cohort filters wait for regeneration"
            )
            reason = f"stopped by budget: {reason}; {left}, resume with a higher --max-cost"
        elif store.counts()["units"].get("failed", 0):
            status = "finished_with_failures"
        return self.write_manifest(
            status=status,
            finished_at=now(),
            stop_reason=reason,
            resumes=manifest["resumes"],
            throughput=self.throughput(),
            llm=self.llm_stats(),
            executor=executor.describe(),
        )

    def llm_stats(self) -> dict[str, Any]:
        """Runtime stats (requests, retries, 429s, re-asks, cache hits, tokens) of each LLM-driven component."""
        from dualalign_core.llm.adapter import stats_by_role

        now_ = stats_by_role(generator=self.components.generator, annotator=self.components.annotator)
        remote = getattr(self.executor, "llm_stats", None)  # a distributed executor's workers made the calls
        return add_llm_stats(self._llm_before, add_llm_stats(now_, remote()) if callable(remote) else now_)

    def throughput(self) -> dict[str, Any] | None:
        """Generation speed reported by the generator's backend, if it measures one (local models do)."""
        measure = getattr(getattr(self.components.generator, "backend", None), "throughput", None)
        return measure() if callable(measure) else None

    # -- cohort phase -------------------------------------------------------------------------------
    async def cohort_phase(
        self,
        scheduler: NoteScheduler,
        maker: NoteMaker,
        on_result: Callable[[list[UnitResult]], None],
        should_stop: Callable[[], bool],
    ) -> None:
        """Run cohort filters; regenerate what they reject (next attempt) and run them again, bounded."""
        store = self._open()
        for _ in range(self.config.max_attempts):
            rejected = self.run_cohort_filters()
            personas = {p.id: p for p in store.personas()} if rejected else {}
            refill = refill_units(store, rejected, personas, self.config.max_attempts)
            if not refill:
                return
            if should_stop():
                self._cohort_pending = True  # rejected notes wait for their refill: the budget stopped it
                return
            await scheduler.refill(refill, maker.process, on_result, should_stop)  # each replaces its stored unit
        self.run_cohort_filters()

    def run_cohort_filters(self) -> set[str]:
        """Run cohort-stage filters over accepted notes in plan order (streamed patient by patient where the
        filter can: :mod:`dualalign_core.run.cohort`); replaces earlier cohort verdicts."""
        cohort = [f for f in self.components.filters if f.stage == "cohort" and self.shard is None]  # shard: merge
        store = self._open()
        c = self.components
        rejections = cohort_rejections(store, cohort, self.config, self.ctx, c.warn) if cohort else []
        store.replace_cohort_rejections(rejections)
        return {r.record_id for r in rejections if r.enforced}


__all__ = ["Pipeline", "Stats"]
