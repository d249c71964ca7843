"""The runner: personas -> plans -> generate -> filters -> annotate -> filters -> store.

Plans are sampled once and stored; notes are units of work committed one transaction each, so a killed
run resumes where it stopped. Every record's seed is derived from the run seed and its id, so the same
config and seed give the same personas, plans and prompts whatever the order of execution.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from attrs import define, field

from dualalign_core import __version__
from dualalign_core.components import (
    Annotator,
    Filter,
    Generator,
    NoteBundle,
    PersonaSource,
    TrajectorySampler,
    Verdict,
)
from dualalign_core.config import ComponentSpec, RunConfig, parse_config
from dualalign_core.context import RunContext
from dualalign_core.disease import DiseasePack
from dualalign_core.errors import BadInput, ComponentError, RunFailed
from dualalign_core.executor import Executor, LocalExecutor, WorkUnit
from dualalign_core.plugins import Registry, get_registry, plugin_call
from dualalign_core.records import Note, NotePlan, Persona, Rejection, Sentence, Usage, canonical_json
from dualalign_core.schemas import SCHEMA_VERSION
from dualalign_core.seeds import derive_seed, short_hash
from dualalign_core.store import MANIFEST, RunStore, UnitResult, write_json_atomic
from dualalign_core.text.segment import segment
from dualalign_core.textio import read_json


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_id_for(config: RunConfig) -> str:
    """Deterministic: the same effective config (seed included) gives the same run id; limits (the cost
    budget) are not part of it, so a run stopped by its budget continues under a raised one."""
    return "run-" + short_hash(canonical_json(config.identity()), 12)


def _flat(doc: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(doc, dict) or not doc:
        return {prefix: doc}
    out: dict[str, Any] = {}
    for key, value in doc.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_diff(mine: dict[str, Any], theirs: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, given, stored)`` for every key where two config documents differ."""
    a, b = _flat(mine), _flat(theirs)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


@define
class Components:
    """The instantiated components of a run."""

    disease: DiseasePack
    personas: PersonaSource
    sampler: TrajectorySampler
    generator: Generator
    annotator: Annotator
    filters: list[Filter]


def resolve_disease(config: RunConfig, registry: Registry) -> DiseasePack:
    if config.disease_path:
        path = Path(config.disease_path)
        if not (path / "disease.json").is_file():
            raise BadInput(f"no disease.json in {path}", file=config.path, field="disease.path")
        return DiseasePack.from_directory(path).with_plugin("path", "local")
    return registry.get("disease", config.disease_name or "", file=config.path, field_path="disease.name")


def build(registry: Registry, kind: str, spec: ComponentSpec, config: RunConfig, field_path: str, *,
          name_field: str = "name", options_field: str | None = None) -> Any:
    """Instantiate a registered component, validating its options against its ``options_schema``.

    Errors name the key as written in the TOML: ``name_field`` is the key holding the component's name
    (``personas.source``, ``trajectory.sampler``), ``options_field`` where its options are.
    """
    options_field = options_field or f"{field_path}.options"
    try:
        component = registry.create(kind, spec.name, spec.constructor_options(), file=config.path,
                                    field_path=field_path, name_field=f"{field_path}.{name_field}"
                                    if name_field else field_path, options_field=options_field)
    except BadInput as exc:
        if spec.model is not None and exc.field == f"{options_field}.model" and "model" not in spec.options:
            raise BadInput(str(exc).rsplit(f"{exc.field}: ", 1)[-1], file=exc.file,
                           field=f"{field_path}.model") from None
        raise
    if spec.concurrency is not None:
        component.concurrency = spec.concurrency
    return component


def build_components(config: RunConfig, registry: Registry) -> Components:
    disease = resolve_disease(config, registry)
    filters_names = config.filters if config.filters is not None else registry.names("filter")
    filters = []
    for i, name in enumerate(filters_names):
        spec = ComponentSpec(name, config.filter_options.get(name, {}))
        where = f"filters.use[{i}]" if config.filters is not None else "filters"
        filters.append(build(registry, "filter", spec, config, where, name_field="",
                             options_field=f"filters.options.{name}"))
    for i, name in enumerate(config.warn_filters):
        if name not in filters_names:
            raise BadInput(f"warn-only filter {name!r} is not among the filters used",
                           file=config.path, field=f"filters.warn[{i}]")
    unknown_opts = set(config.filter_options) - set(filters_names)
    if unknown_opts:
        raise BadInput(f"options for a filter that is not used: {sorted(unknown_opts)[0]!r}",
                       file=config.path, field="filters.options")
    return Components(
        disease=disease,
        personas=build(registry, "persona_source", config.personas, config, "personas", name_field="source"),
        sampler=build(registry, "trajectory_sampler", config.trajectory, config, "trajectory",
                      name_field="sampler"),
        generator=build(registry, "generator", config.generator, config, "generator"),
        annotator=build(registry, "annotator", config.annotator, config, "annotator"),
        filters=filters,
    )


def preflight(components: Components, config: RunConfig) -> None:
    """Before any work: each component checks what it needs (a vendor backend its API key) and raises
    :class:`BadInput`; reported against the config key that chose the component."""
    c = components
    named = [("personas.source", c.personas), ("trajectory.sampler", c.sampler), ("generator.name", c.generator),
             ("annotator.name", c.annotator), *((f"filters.options.{f.name}", f) for f in c.filters)]
    for where, component in named:
        check = getattr(component, "preflight", None)
        if callable(check):
            try:
                check()
            except BadInput as exc:
                raise BadInput(str(exc), file=config.path, field=where) from None


def check_config(config: RunConfig, registry: Registry | None = None) -> Components:
    """Every check a run makes before its first unit, writing nothing: the disease pack, components and
    their options, and each component's preflight."""
    components = build_components(config, registry or get_registry())
    preflight(components, config)
    return components


@define
class Stats:
    """Running totals for the progress display and the manifest."""

    total: int = 0
    done: int = 0
    accepted: int = 0
    rejected: int = 0
    failed: int = 0
    usage: Usage = field(factory=Usage)


class Pipeline:
    """One run in one run directory."""

    def __init__(self, config: RunConfig, run_dir: str | Path, *, registry: Registry | None = None,
                 resume: bool = False, executor: Executor | None = None,
                 progress: Callable[[Stats], None] | None = None):
        self.registry = registry or get_registry()
        self.run_dir = Path(run_dir)
        self.resume = resume
        self.progress = progress
        self.store: RunStore | None = None
        self.stored_run_id: str | None = None
        self.config = self._reconcile(config)
        self.components = build_components(self.config, self.registry)
        self.run_id = self.stored_run_id or run_id_for(self.config)
        self.executor = executor
        self.stats = Stats()
        self.ctx: RunContext | None = None
        self._cohort_pending = False

    # -- setup --------------------------------------------------------------------------------------
    def _reconcile(self, config: RunConfig) -> RunConfig:
        manifest = self.run_dir / MANIFEST
        exists = manifest.exists() or (self.run_dir / "run.sqlite").exists()
        if exists and not self.resume:
            raise BadInput("run directory already holds a run; pass --resume to continue it",
                           file=str(self.run_dir))
        if not exists:
            return config
        with RunStore(self.run_dir) as store:
            stored = store.get_meta("config")
            self.stored_run_id = store.get_meta("run_id")
        if stored is None:
            return config
        stored_cfg = parse_config(stored, config.path)
        if not config.raw:  # built in code, not from a document: the stored run as it is
            return stored_cfg
        diff = config_diff(config.identity(), stored_cfg.identity())
        if diff:
            key, given, was = diff[0]
            more = f" (and {len(diff) - 1} more)" if len(diff) > 1 else ""
            raise BadInput(f"config differs from the run being resumed: {key} is {given!r} here, {was!r} in the "
                           f"run{more}; resume with the same config or without one",
                           file=config.path or str(self.run_dir), field=key)
        # the limits are the invocation's (a raised budget continues a stopped run), the rest is the run's
        return attrs.evolve(stored_cfg, max_cost_usd=config.max_cost_usd)

    def _open(self) -> RunStore:
        if self.store is None:
            self.store = RunStore(self.run_dir)
            self.ctx = RunContext(run_id=self.run_id, seed=self.config.seed, disease=self.components.disease,
                                  store=self.store)
            from dualalign_core.llm.estimate import budget_options

            spent = self.store.spent_usd()  # paid calls of units that never committed included
            stored = self.store.get_meta("config")
            limits = self.config.to_dict().get("limits")
            if stored is not None and stored.get("limits") != limits:  # keep the latest limit for a bare --resume
                self.store.set_meta("config", {k: v for k, v in stored.items() if k != "limits"}
                                    | ({"limits": limits} if limits else {}))
            self.ctx.options.update(budget_options(self.config.max_cost_usd, spent_usd=spent))
        return self.store

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    # -- plan phase ---------------------------------------------------------------------------------
    def sample(self) -> tuple[list[Persona], list[NotePlan]]:
        """Personas and note plans for the whole cohort (pure: no store, no LLM)."""
        ctx = self.ctx or RunContext(run_id=self.run_id, seed=self.config.seed, disease=self.components.disease)
        c = self.components
        ctx.options["multiplier"] = self.config.multiplier
        with plugin_call(c.personas, "sample", "persona_source"):
            personas = c.personas.sample(c.disease, self.config.patients, derive_seed(self.config.seed, "personas"),
                                         ctx)
        plans: list[NotePlan] = []
        for persona in personas:
            with plugin_call(c.sampler, "plan", "trajectory_sampler"):
                history = c.sampler.plan(persona, c.disease, derive_seed(self.config.seed, "plan", persona.id), ctx)
            if self.config.max_notes_per_patient:
                history = history[-self.config.max_notes_per_patient:]
            plans.extend(history)
        return personas, plans

    def plan(self, *, fidelity: Callable[[list[Persona], list[NotePlan]], dict[str, Any]] | None = None
             ) -> dict[str, Any]:
        """Sample and store personas and plans unless the store has them; returns the manifest."""
        fresh = self.store is None and not (self.run_dir / "run.sqlite").exists()
        sampled, meta = None, {}
        if fresh:  # sample (and measure) before the store exists: a failure here leaves nothing behind
            sampled = self.sample()
            meta = {"fidelity": fidelity(*sampled)} if fidelity is not None else {}
        store = self._open()
        if not store.has_plans():
            personas, plans = sampled or self.sample()
            if fidelity is not None and "fidelity" not in meta:
                meta["fidelity"] = fidelity(personas, plans)
            store.put_plans(personas, plans, {"config": self.config.to_dict(), "run_id": self.run_id, **meta})
        return self.write_manifest(status="planned" if not store.finished_units() else "running")

    # -- manifest -----------------------------------------------------------------------------------
    def write_manifest(self, **fields: Any) -> dict[str, Any]:
        store = self._open()
        path = self.run_dir / MANIFEST
        old: dict[str, Any] = {}
        if path.exists():
            old = read_json(path, what="run manifest")
        d = self.components.disease
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "dualalign_core_version": __version__,
            "run_id": self.run_id,
            "name": self.config.name,
            "seed": self.config.seed,
            "config": self.config.to_dict(),
            "config_path": self.config.path,
            "disease": {"name": d.name, "version": d.version, "plugin": d.plugin, "plugin_version": d.plugin_version,
                        "prompt_version": d.prompt.version, "prompt_hash": d.prompt.hash},
            "components": {
                kind: {"name": comp.name, "plugin": comp.plugin, "plugin_version": comp.plugin_version,
                       "model": comp.model}
                for kind, comp in (("personas", self.components.personas), ("trajectory", self.components.sampler),
                                   ("generator", self.components.generator),
                                   ("annotator", self.components.annotator))
            },
            "filters": [{"name": f.name, "stage": f.stage, "plugin": f.plugin, "plugin_version": f.plugin_version}
                        for f in self.components.filters],
            "plugins": [p.as_dict() for p in self.registry.plugins.values()],
            "started_at": old.get("started_at", now()),
            "finished_at": None,
            "status": "running",
            "counts": store.counts(),
            "fidelity": store.get_meta("fidelity"),
            "resumes": old.get("resumes", 0),
        }
        manifest.update(fields)
        write_json_atomic(path, manifest)
        return manifest

    # -- note phase ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Plan if needed, make every unfinished note, run cohort filters, finish the manifest."""
        try:
            return asyncio.run(self.run_async())
        except ComponentError as exc:  # a plugin raised outside a unit (cohort filter, sampler): mark it failed
            self._mark(status="failed", stop_reason=str(exc))
            raise
        except KeyboardInterrupt:  # Ctrl-C: units in flight are dropped, committed ones kept; resumable
            self._mark(status="interrupted", stop_reason="interrupted by the user")
            raise
        finally:
            self.close()

    def _mark(self, **fields: Any) -> None:
        """Record how the run ended in the manifest, if there is a manifest to record it in."""
        if self.store is not None and (self.run_dir / MANIFEST).exists():
            self.write_manifest(finished_at=now(), **fields)

    async def run_async(self) -> dict[str, Any]:
        from dualalign_core.fidelity import fidelity_report
        from dualalign_core.llm.pricing import usd
        from dualalign_core.llm.runtime import BudgetReached

        preflight(self.components, self.config)  # e.g. a missing API key: exit 2 before any work
        resumed = (self.run_dir / "run.sqlite").exists() and self._open().has_plans()
        self.plan(fidelity=lambda p, n: fidelity_report(self.components.disease, p, n, self.config.multiplier))
        store = self._open()
        manifest = self.write_manifest(resumes=_resumes(self.run_dir) + (1 if resumed and self.resume else 0))
        personas = {p.id: p for p in store.personas()}
        finished = store.finished_units()
        plans = store.plans()
        units = (WorkUnit(seq, plan, personas[plan.persona_id]) for seq, plan in enumerate(plans)
                 if plan.id not in finished)
        st = self.stats
        st.total, st.done = len(plans), len(finished)
        counts = store.counts()["units"]
        st.accepted, st.rejected = counts.get("accepted", 0), counts.get("rejected", 0)
        st.usage = Usage(**{k: v for k, v in store.counts()["usage"].items()})
        budget = self.config.max_cost_usd

        def should_stop() -> bool:
            # a budget of 0 allows no LLM spend; work that costs nothing (template, lexicon) goes on
            return budget is not None and st.usage.cost_usd > 0 and st.usage.cost_usd >= budget

        def on_result(results: list[UnitResult]) -> None:
            store.commit_units(results)
            for result in results:
                st.done += 1
                st.usage = st.usage + result.usage
                setattr(st, result.status, getattr(st, result.status) + 1)
            if self.progress:
                self.progress(st)

        gen, ann = self.components.generator, self.components.annotator
        executor = self.executor or LocalExecutor(max_in_flight=2 * max(gen.concurrency, ann.concurrency))
        self._gen_sem = asyncio.Semaphore(max(1, gen.concurrency))
        self._ann_sem = asyncio.Semaphore(max(1, ann.concurrency))
        if self.progress:
            self.progress(st)
        self._cohort_pending = False
        reason: str | None = None
        try:
            await executor.run(units, self.process, on_result, should_stop)
            await self.cohort_phase(executor, on_result, should_stop)
        except BudgetReached as exc:  # the next call would cross the budget: stopped before it, resumable
            reason = str(exc)
        except RunFailed as exc:  # error-rate breaker: stop cleanly, resumable
            self.write_manifest(status="stopped", finished_at=now(), stop_reason=str(exc),
                                resumes=manifest["resumes"])
            raise
        unfinished = len(plans) - len(store.finished_units())  # failed units included: resume retries them
        held_back = len(plans) - len(store.unit_status())  # never started
        if reason is None and should_stop() and (held_back or self._cohort_pending):  # the budget held them back
            reason = f"cost budget of {usd(budget or 0.0)} reached (spent {usd(st.usage.cost_usd)})"
        status = "stopped" if reason else "finished"
        if reason:
            left = (f"{unfinished} of {len(plans)} notes unfinished" if unfinished
                    else "notes rejected by cohort filters wait for regeneration")
            reason = f"stopped by budget: {reason}; {left}, resume with a higher --max-cost"
        elif store.counts()["units"].get("failed", 0):
            status = "finished_with_failures"
        manifest = self.write_manifest(status=status, finished_at=now(), stop_reason=reason,
                                       resumes=manifest["resumes"], throughput=self.throughput())
        return manifest

    def throughput(self) -> dict[str, Any] | None:
        """Generation speed reported by the generator's backend, if it measures one (local models do)."""
        backend = getattr(self.components.generator, "backend", None)
        measure = getattr(backend, "throughput", None)
        return measure() if callable(measure) else None

    async def process(self, unit: WorkUnit) -> UnitResult:
        """Make one note; on rejection regenerate (quota refill) up to ``run.max_attempts``. Never raises.

        Earlier attempts stay in the rejection ledger as ``<note id>@<attempt>``.
        """
        assert self.ctx is not None
        ledger = list(unit.prior_rejections)
        attempt = unit.attempt
        # Every attempt is paid for and the unit carries the sum, including what the stored unit it replaces
        # (a failed one retried on resume, or a cohort refill) recorded: the units' costs are the spend.
        spent = self._open().unit_usage(unit.plan.id)
        with self.ctx.unit_scope(unit.plan.id) as scope:  # the unit owns, and records, the replies it fetches
            while True:
                result = await self._attempt(unit, attempt)
                spent = spent + result.usage
                if result.status != "rejected" or attempt + 1 >= self.config.max_attempts:
                    return attrs.evolve(result, rejections=(*ledger, *result.rejections), usage=spent,
                                        billed=sorted(scope.billed))
                ledger.extend((stage, attrs.evolve(r, record_id=f"{r.record_id}@{attempt}"))
                              for stage, r in result.rejections)
                attempt += 1

    async def _attempt(self, unit: WorkUnit, attempt: int) -> UnitResult:
        plan, persona = unit.plan, unit.persona
        assert self.ctx is not None
        ctx = self.ctx
        c = self.components
        usage = Usage()
        try:
            seed = derive_seed(self.config.seed, "note", plan.id, *((attempt,) if attempt else ()))
            async with self._gen_sem:
                with plugin_call(c.generator, "generate", "generator"):
                    generation = await c.generator.generate(plan, persona, seed, ctx)
            usage = usage + generation.usage
            note = Note(id=plan.id, plan_id=plan.id, persona_id=persona.id, text=generation.text,
                        usage=generation.usage,
                        provenance=ctx.provenance(c.generator, seed, model=generation.model,
                                                  prompt_hash=generation.prompt_hash))
            bundle = NoteBundle(persona=persona, plan=plan, note=note)
            rejections = self._apply_filters("generated", bundle)
            if any(r.enforced for _, r in rejections):
                return UnitResult(plan.id, unit.seq, "rejected", note=note, rejections=rejections, usage=usage,
                                  attempt=attempt)
            sentences = tuple(
                Sentence(id=f"{note.id}-s{i:03d}", note_id=note.id, index=i, start=s.start, end=s.end,
                         text=s.text, section=s.section)
                for i, s in enumerate(segment(note.text))
            )
            async with self._ann_sem:
                with plugin_call(c.annotator, "annotate", "annotator"):
                    annotation = await _annotate(c.annotator, note, sentences, generation, ctx)
            usage = usage + annotation.usage
            bundle = NoteBundle(persona=persona, plan=plan, note=note, sentences=sentences,
                                labels=annotation.labels)
            rejections = [*rejections, *self._apply_filters("annotated", bundle)]
            rejected = any(r.enforced for _, r in rejections)
            return UnitResult(plan.id, unit.seq, "rejected" if rejected else "accepted", note=note,
                              sentences=sentences, labels=annotation.labels, rejections=rejections, usage=usage,
                              attempt=attempt)
        except RunFailed:
            raise
        except Exception as exc:  # a failed unit is recorded with its reason and retried on resume
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            wasted = getattr(exc, "usage", None)  # replies paid for and then refused (invalid, cut off)
            if isinstance(wasted, Usage):
                usage = usage + wasted
            return UnitResult(plan.id, unit.seq, "failed", error=error, usage=usage, attempt=attempt)

    def _apply_filters(self, stage: str, bundle: NoteBundle) -> list[tuple[str, Rejection]]:
        assert self.ctx is not None
        out = []
        for f in self.components.filters:
            if f.stage != stage:
                continue
            with plugin_call(f, "check", "filter"):
                verdict = f.check(bundle, self.ctx)
            if verdict is not None:
                out.append((stage, self._rejection(f, bundle.note.id, verdict)))
        return out

    def _rejection(self, f: Filter, note_id: str, verdict: Verdict) -> Rejection:
        assert self.ctx is not None
        return Rejection(record_id=note_id, record_kind="note", filter=f.name, reason=verdict.reason,
                         value=verdict.value, threshold=verdict.threshold,
                         provenance=self.ctx.provenance(f, self.config.seed),
                         enforced=f.name not in self.config.warn_filters)

    async def cohort_phase(self, executor: Executor, on_result: Callable[[list[UnitResult]], None],
                           should_stop: Callable[[], bool]) -> None:
        """Run cohort filters; regenerate what they reject (next attempt) and run them again, bounded."""
        store = self._open()
        for _ in range(self.config.max_attempts):
            rejected = self.run_cohort_filters()
            attempts = store.unit_attempts()
            personas = {p.id: p for p in store.personas()} if rejected else {}
            plans = {p.id: p for p in store.plans()} if rejected else {}
            refill = []
            for note_id in sorted(rejected):
                seq, attempt = attempts[note_id]
                if attempt + 1 < self.config.max_attempts:
                    prior = tuple((stage, attrs.evolve(r, record_id=f"{r.record_id}@{attempt}")
                                   if r.record_id == note_id else r) for stage, r in store.rejections_of(note_id))
                    refill.append(WorkUnit(seq, plans[note_id], personas[plans[note_id].persona_id],
                                           attempt=attempt + 1, prior_rejections=prior))
            if not refill:
                return
            if should_stop():
                self._cohort_pending = True  # rejected notes wait for their refill: the budget stopped it
                return
            self.stats.done -= len(refill)
            self.stats.accepted -= len(refill)
            await executor.run(refill, self.process, on_result, should_stop)
        self.run_cohort_filters()

    def run_cohort_filters(self) -> set[str]:
        """Run cohort-stage filters over accepted notes in plan order; replaces earlier cohort verdicts."""
        cohort = [f for f in self.components.filters if f.stage == "cohort"]
        store = self._open()
        if not cohort:
            store.replace_cohort_rejections([])
            return set()
        assert self.ctx is not None
        bundles = list(self.bundles(accepted_only=True, include_cohort=False))
        rejections: list[Rejection] = []
        for f in cohort:
            with plugin_call(f, "check_cohort", "filter"):
                verdicts = f.check_cohort(bundles, self.ctx)
            rejections.extend(self._rejection(f, nid, v) for nid, v in sorted(verdicts.items()))
        store.replace_cohort_rejections(rejections)
        return {r.record_id for r in rejections if r.enforced}

    def bundles(self, *, accepted_only: bool = True, include_cohort: bool = True) -> list[NoteBundle]:
        """Every stored note with its persona, plan, sentences and labels, in plan order."""
        store = self._open()
        return list(load_bundles(store, accepted_only=accepted_only, include_cohort=include_cohort))


def load_bundles(store: RunStore, *, accepted_only: bool = True, include_cohort: bool = True
                 ) -> list[NoteBundle]:
    personas = {p.id: p for p in store.personas()}
    plans = {p.id: p for p in store.plans()}
    statuses = store.unit_status()
    cohort_rejected = {r[0] for r in store.db.execute(
        "SELECT record_id FROM rejections WHERE stage='cohort' AND enforced=1")}
    sentences: dict[str, list[Sentence]] = {}
    for s in store.iter_records("sentences"):
        sentences.setdefault(s.note_id, []).append(s)
    labels: dict[str, list[Any]] = {}
    for lb in store.iter_records("labels"):
        labels.setdefault(lb.note_id, []).append(lb)
    out = []
    for note in store.iter_records("notes"):
        if accepted_only and (statuses.get(note.plan_id) != "accepted"
                              or (include_cohort and note.id in cohort_rejected)):
            continue
        out.append(NoteBundle(persona=personas[note.persona_id], plan=plans[note.plan_id], note=note,
                              sentences=tuple(sentences.get(note.id, ())), labels=tuple(labels.get(note.id, ()))))
    return out


async def _annotate(annotator: Annotator, note: Note, sentences: tuple[Sentence, ...], generation: Any,
                    ctx: RunContext) -> Any:
    """The annotator's labels; those that know generations (the ``plan`` annotator) also see the generation."""
    if hasattr(annotator, "annotate_generation"):
        return await annotator.annotate_generation(note, sentences, generation, ctx)
    return await annotator.annotate(note, sentences, ctx)


def _resumes(run_dir: Path) -> int:
    import json

    path = run_dir / MANIFEST
    if not path.exists():
        return 0
    try:
        return int(json.loads(path.read_text()).get("resumes", 0))
    except (ValueError, OSError):
        return 0


__all__ = ["Pipeline", "Stats", "build_components", "load_bundles", "run_id_for"]
