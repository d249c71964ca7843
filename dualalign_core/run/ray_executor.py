"""The Ray executor: notes made by a pool of worker actors, committed by the driver.

Each actor is one replica (:class:`~dualalign_core.run.worker.NoteWorker`): it builds the run's components
once, so a local model loads once per replica, and makes many notes concurrently on its own event loop. The
driver keeps a bounded window of units in flight (the same window as the local executor), sends them in
batches to the least-loaded replica, and commits each batch of results in one transaction as it returns
(rows encoded by the replica): it stays the store's only writer, its work per note is small, and memory stays
flat at any cohort size. Records' seeds derive from the run seed and their ids, so a Ray run
stores, and exports, exactly what a local run of the same config and seed does.

Faults: a replica that dies (node lost, OOM, SIGKILL) is restarted by Ray and its calls in flight are
retried (``max_restarts``/``max_task_retries``); the driver commits each unit once, so nothing is lost or
duplicated. A replica that cannot be restarted turns its units into failed units, retried on ``--resume``.

The run's concurrency (and ``rpm``/``tpm``) are run-wide totals, split across the replicas. A cost budget
is checked by the driver between units (replicas have no store), so a run may overshoot it by the units in
flight. Replies reach the store when their unit commits: a replica lost mid-batch re-pays its batch's calls (Ray
retries the batch whole).

Keys: the variables ``[ray] forward_env`` names (and ``DUALALIGN_*``) reach each replica as an argument of its
constructor (:class:`ForwardedEnv`, whose repr shows names only), which sets them in the replica's environment
before it builds anything. Never as a ``runtime_env``: Ray's runtime-env agent writes those variables, values
included, to its log under the system temp directory.

Ray is optional: ``pip install 'dualalign-core[ray]'``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import attrs

from dualalign_core.config import RunConfig
from dualalign_core.errors import BadInput, RunFailed
from dualalign_core.records import Usage
from dualalign_core.redact import install_log_redaction
from dualalign_core.run.executor import WorkUnit, run_window
from dualalign_core.run.manifest import add_llm_stats
from dualalign_core.run.store import RunStore, UnitResult
from dualalign_core.run.worker import NoteWorker, worker_config
from dualalign_core.signals import reclaim as reclaim_sigterm

MAX_RESTARTS = 4  # per replica
MAX_TASK_RETRIES = 4  # per call, when its replica dies
MAX_BATCH = 64  # units per call to a replica


@attrs.frozen
class ForwardedEnv:
    """Environment variables for the replicas: names in its repr, never values (Ray may print an argument)."""

    values: dict[str, str] = attrs.field(repr=False)

    @classmethod
    def of(cls, names: Iterable[str]) -> ForwardedEnv:
        """``DUALALIGN_*`` and ``names``, as set in this process."""
        wanted = set(names)
        return cls({k: v for k, v in os.environ.items() if k.startswith("DUALALIGN_") or k in wanted})

    def __repr__(self) -> str:
        return f"ForwardedEnv({sorted(self.values)})"


class Replica:
    """The actor class (wrapped by ``ray.remote`` at start): one :class:`NoteWorker`, built once the forwarded
    variables are set (a backend may read its key when it is built)."""

    def __init__(self, config: RunConfig, run_id: str, env: ForwardedEnv | None = None):
        if env is not None:
            os.environ.update(env.values)
        install_log_redaction()  # a replica's log lands in Ray's session directory
        self.worker = NoteWorker(config, run_id)

    async def ready(self) -> int:
        await self.worker.open()
        return os.getpid()

    async def process(self, unit: WorkUnit) -> UnitResult:
        return await self.worker.process(unit)

    async def process_many(self, units: list[WorkUnit]) -> list[UnitResult | BaseException]:
        return await self.worker.process_many(units)

    async def finish(self) -> dict[str, Any]:
        """Close the components; the replica's LLM stats and throughput."""
        stats = {"llm": self.worker.llm_stats(), "throughput": self.worker.throughput()}
        await self.worker.close()
        return stats


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BadInput("the Ray executor needs Ray: pip install 'dualalign-core[ray]'", field="run.executor") from None
    return ray


class RayExecutor:
    """Runs units on Ray replicas; see the module doc. ``concurrency`` is the run's total per role."""

    remote = True  # the replicas make the notes: the driver does not open its generator and annotator

    def __init__(
        self,
        config: RunConfig,
        run_id: str,
        store: RunStore,
        *,
        concurrency: dict[str, int],
        max_in_flight: int,
        gpus_per_worker: float = 0.0,
    ):
        self.config, self.run_id, self.store = config, run_id, store
        self.spec = config.executor
        self.concurrency = concurrency
        self.max_in_flight = max_in_flight
        self.num_gpus = self.spec.num_gpus if self.spec.num_gpus is not None else gpus_per_worker
        self.actors: list[Any] = []
        self.workers = 0  # replicas started (kept after they are released, for the manifest)
        self.load: list[int] = []
        self.stats: dict[str, Any] = {}
        self.replica_throughput: list[dict[str, Any]] = []
        self._owns_runtime = False
        self._ray: Any = None

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.actors:
            return
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            address = self.spec.address
            try:
                ray.init(
                    address=address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                    configure_logging=False,
                )
            except (ConnectionError, ValueError, RuntimeError) as exc:  # unreachable, refused, wrong kind of address
                raise BadInput(f"cannot join the Ray cluster at {address}: {exc}", field="ray.address") from None
            finally:
                reclaim_sigterm()  # ray.init installs a SIGTERM handler that exits at once
            self._owns_runtime = True
        workers = self.spec.workers or self._default_workers(ray.cluster_resources())
        env = ForwardedEnv.of(self.spec.forward_env)  # an argument, never a runtime_env (see the module doc)
        per_actor = -(-self.max_in_flight // workers)
        actor = ray.remote(Replica).options(
            num_cpus=self.spec.num_cpus,
            num_gpus=self.num_gpus,
            max_restarts=MAX_RESTARTS,
            max_task_retries=MAX_TASK_RETRIES,
            max_concurrency=max(16, 2 * per_actor),
        )
        self.actors = [
            actor.remote(worker_config(self.config, i, workers, self.concurrency), self.run_id, env)
            for i in range(workers)
        ]
        self.load, self.workers = [0] * workers, workers
        self.max_in_flight = max(self.max_in_flight, workers)
        try:
            await asyncio.gather(*(a.ready.remote() for a in self.actors))
        except Exception as exc:
            await self.aclose()
            raise RunFailed(f"a Ray worker could not start: {_cause(exc)}") from None

    def _default_workers(self, resources: dict[str, float]) -> int:
        """As many replicas as the cluster holds: GPUs per replica if it needs them, else CPUs."""
        if self.num_gpus:
            return max(1, int(resources.get("GPU", 0) // self.num_gpus))
        cpus = resources.get("CPU", 1)
        return max(1, int(cpus // self.spec.num_cpus) if self.spec.num_cpus else int(cpus))

    async def aclose(self) -> None:
        """Close every replica (collecting its stats), then the Ray runtime if this executor started it."""
        ray, actors, self.actors = self._ray, self.actors, []
        if actors:
            finished = await asyncio.gather(*(a.finish.remote() for a in actors), return_exceptions=True)
            for stats in finished:
                if isinstance(stats, dict):
                    self.stats = add_llm_stats(self.stats, stats["llm"])
                    if stats["throughput"]:
                        self.replica_throughput.append(stats["throughput"])
            for a in actors:
                ray.kill(a)
        if self._owns_runtime and ray is not None:
            ray.shutdown()
            self._owns_runtime = False

    def llm_stats(self) -> dict[str, Any]:
        return self.stats

    def describe(self) -> dict[str, Any]:
        """How notes were made, for the manifest: the replicas and what each reserved."""
        return {
            "name": "ray",
            "address": self.spec.address or "local runtime",
            "workers": self.workers,
            "num_cpus": self.spec.num_cpus,
            "num_gpus": self.num_gpus,
            "max_in_flight": self.max_in_flight,
        }

    # -- units --------------------------------------------------------------------------------------
    async def run(
        self,
        units: Iterable[WorkUnit],
        work: Callable[[WorkUnit], Awaitable[UnitResult]],
        on_results: Callable[[list[UnitResult]], None],
        should_stop: Callable[[], bool],
    ) -> None:
        """Like :class:`LocalExecutor`, with the units sent to the replicas in batches (one call each way per
        batch: see :meth:`batch_size`) instead of made by ``work``."""
        await self.start()
        await run_window(units, self._remote, on_results, should_stop, self.max_in_flight, take=self.batch_size())

    def batch_size(self) -> int:
        """Units per call to a replica: a quarter of each replica's share of the window (at most 64), so each
        has several batches in flight and a slow note holds back few others."""
        return max(1, min(MAX_BATCH, self.max_in_flight // (4 * max(1, len(self.actors)))))

    async def _remote(self, units: list[WorkUnit]) -> list[UnitResult | BaseException]:
        ray = self._ray
        units = _with_store_state(units, self.store)
        i = min(range(len(self.actors)), key=self.load.__getitem__)
        self.load[i] += len(units)
        try:
            return await self.actors[i].process_many.remote(units)
        except ray.exceptions.RayTaskError as exc:  # raised inside the replica, outside any note
            raise _cause(exc) from None
        except ray.exceptions.RayError as exc:  # the replica is gone for good: failed units, resumable
            return [
                UnitResult(
                    u.plan.id,
                    u.seq,
                    "failed",
                    error=f"Ray worker lost: {type(exc).__name__}",
                    usage=u.spent or Usage(),
                    attempt=u.attempt,
                )
                for u in units
            ]
        finally:
            self.load[i] -= len(units)


def _with_store_state(units: list[WorkUnit], store: RunStore) -> list[WorkUnit]:
    """The units with what a replica cannot read: each one's predecessor's usage and its own cached replies
    (one query each for the batch; a unit with neither goes as it is)."""
    states = store.unit_states([u.plan.id for u in units])
    return [
        attrs.evolve(u, spent=state[0], owned_replies=state[1]) if (state := states.get(u.plan.id)) else u
        for u in units
    ]


def _cause(exc: BaseException) -> BaseException:
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


__all__ = ["ForwardedEnv", "RayExecutor", "Replica", "import_ray"]
