"""The run store: a run directory with ``manifest.json`` and ``run.sqlite`` (WAL). The only module with SQL.

Every unit of work (one note) commits in one transaction, so a run killed at any moment resumes with
nothing lost and nothing written twice. The LLM response cache lives in the same database.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
from attrs import field, frozen

from dualalign_core.atomic import atomic_write_json
from dualalign_core.errors import BadInput
from dualalign_core.history.timeline import Timeline
from dualalign_core.records import (
    Label,
    Note,
    NotePlan,
    Persona,
    Rejection,
    Sentence,
    Usage,
    as_tuple,
    canonical_json,
    from_dict,
    to_dict,
)
from dualalign_core.redact import redact_optional

DB_NAME = "run.sqlite"
MANIFEST = "manifest.json"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS personas (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plans (id TEXT PRIMARY KEY, persona_id TEXT NOT NULL, seq INTEGER NOT NULL,
                                  data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL,
                                  error TEXT, input_tokens INTEGER NOT NULL DEFAULT 0,
                                  output_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
                                  attempt INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS notes (id TEXT PRIMARY KEY, plan_id TEXT NOT NULL, persona_id TEXT NOT NULL,
                                  seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sentences (id TEXT PRIMARY KEY, note_id TEXT NOT NULL, seq INTEGER NOT NULL,
                                      data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS labels (id TEXT PRIMARY KEY, sentence_id TEXT NOT NULL, note_id TEXT NOT NULL,
                                   annotator TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejections (id TEXT PRIMARY KEY, record_id TEXT NOT NULL, filter TEXT NOT NULL,
                                       stage TEXT NOT NULL, data TEXT NOT NULL,
                                       enforced INTEGER NOT NULL DEFAULT 1, attempt INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS llm_cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL,
                                      owner TEXT, billed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS llm_spend (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT, unit TEXT,
                                      input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
                                      cost_usd REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS timelines (persona_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS plans_persona ON plans (persona_id);
CREATE INDEX IF NOT EXISTS plans_seq ON plans (seq);
CREATE INDEX IF NOT EXISTS notes_plan ON notes (plan_id);
CREATE INDEX IF NOT EXISTS rejections_record ON rejections (record_id);
CREATE INDEX IF NOT EXISTS sentences_note ON sentences (note_id);
CREATE INDEX IF NOT EXISTS labels_note ON labels (note_id);
"""

TABLES: dict[str, tuple[str, type]] = {
    "personas": ("seq", Persona),
    "plans": ("seq", NotePlan),
    "timelines": ("seq", Timeline),
    "notes": ("seq", Note),
    "sentences": ("note_id, seq", Sentence),
    "labels": ("note_id, sentence_id, annotator", Label),
    "rejections": ("record_id, attempt, filter", Rejection),
}


@frozen
class StoredPlan:
    """A plan as the store holds it (its ids and canonical JSON): what a unit carries to where it is made,
    decoded there, so the driver never parses or pickles the plan's timeline context."""

    id: str
    persona_id: str
    data: str

    def decode(self) -> NotePlan:
        return from_dict(NotePlan, json.loads(self.data))


@frozen
class UnitRows:
    """A unit's rows exactly as :meth:`RunStore.commit_units` writes them (see :func:`encode_unit`): made where
    the unit was made (a replica), so the driver's commit is inserts only."""

    unit: tuple[Any, ...]  # (id, seq, status, error, input_tokens, output_tokens, cost_usd, attempt)
    note: tuple[Any, ...] | None  # (id, plan_id, persona_id, seq, data)
    sentences: tuple[tuple[Any, ...], ...]
    labels: tuple[tuple[Any, ...], ...]
    rejections: tuple[tuple[Any, ...], ...]


@frozen
class UnitResult:
    """Everything one unit of work produced; committed atomically."""

    plan_id: str
    seq: int
    status: str  # accepted | rejected | failed
    note: Note | None = None
    sentences: tuple[Sentence, ...] = field(default=(), converter=as_tuple)
    labels: tuple[Label, ...] = field(default=(), converter=as_tuple)
    rejections: tuple[tuple[str, Rejection], ...] = field(default=(), converter=as_tuple)  # (stage, rejection)
    error: str | None = None
    usage: Usage = field(factory=Usage)
    attempt: int = 0
    billed: tuple[str, ...] = field(default=(), converter=as_tuple)  # cache keys whose cost ``usage`` holds
    # made by a worker without the store (Ray): its replies (key, value, owner) and paid calls (usage, key),
    # committed with the unit by the driver, the store's only writer
    replies: tuple[tuple[str, dict, str | None], ...] = field(default=(), converter=as_tuple)
    spend: tuple[tuple[Usage, str | None], ...] = field(default=(), converter=as_tuple)
    # the note's rows, encoded by the worker (:func:`packed`): then ``note``, ``sentences`` and ``labels`` are
    # left out of the result (see :func:`unit_records`)
    rows: UnitRows | None = None


def encode_unit(result: UnitResult) -> UnitRows:
    """The rows a unit writes (canonical JSON of each record; the error redacted: a server may echo a key)."""
    u, n = result.usage, result.note
    return UnitRows(
        unit=(
            result.plan_id,
            result.seq,
            result.status,
            redact_optional(result.error),
            u.input_tokens,
            u.output_tokens,
            u.cost_usd,
            result.attempt,
        ),
        note=None if n is None else (n.id, n.plan_id, n.persona_id, result.seq, canonical_json(to_dict(n))),
        sentences=tuple((s.id, s.note_id, s.index, canonical_json(to_dict(s))) for s in result.sentences),
        labels=tuple(
            (f"{lb.sentence_id}:{lb.annotator}", lb.sentence_id, lb.note_id, lb.annotator, canonical_json(to_dict(lb)))
            for lb in result.labels
        ),
        rejections=tuple(_rejection_row(stage, r) for stage, r in result.rejections),
    )


def packed(result: UnitResult) -> UnitResult:
    """The result as a worker ships it: its rows encoded, the records they encode left out (smaller to send,
    nothing to encode on the driver)."""
    if result.rows is not None:
        return result
    return attrs.evolve(result, rows=encode_unit(result), note=None, sentences=(), labels=())


def unit_records(result: UnitResult) -> tuple[Note | None, tuple[Sentence, ...], tuple[Label, ...]]:
    """The note, sentences and labels of a result, decoded from its rows if a worker packed it."""
    rows = result.rows
    if rows is None or result.note is not None:
        return result.note, result.sentences, result.labels
    note = from_dict(Note, json.loads(rows.note[-1])) if rows.note is not None else None
    return (
        note,
        tuple(from_dict(Sentence, json.loads(r[-1])) for r in rows.sentences),
        tuple(from_dict(Label, json.loads(r[-1])) for r in rows.labels),
    )


def _rejection_row(stage: str, r: Rejection) -> tuple[Any, ...]:
    return (
        f"{r.record_id}:{r.filter}:{r.attempt}",
        r.record_id,
        r.filter,
        stage,
        canonical_json(to_dict(r)),
        int(r.enforced),
        r.attempt,
    )


class RunStore:
    """One run's SQLite database. Use from one thread (the pipeline's event loop).

    ``readonly=True`` (readers: export, report, train) opens an existing database without writing to the
    run directory: no schema, no WAL switch; a corrupt or foreign file is :class:`BadInput` naming it.
    """

    def __init__(self, run_dir: str | Path, *, readonly: bool = False):
        self.dir = Path(run_dir)
        self.path = self.dir / DB_NAME
        self.readonly = readonly
        if readonly:
            self.db = _open_readonly(self.path)
            self._attempt = "attempt" if _has_column(self.db, "rejections", "attempt") else "0"
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            _migrate(self.db)
            self._attempt = "attempt"
        except sqlite3.DatabaseError as exc:  # not SQLite, truncated, a directory, read-only...
            self.db.close()
            if any(word in str(exc) for word in ("locked", "busy")):
                raise  # another process holds it: a failed run (exit 1), not bad input
            raise BadInput(f"cannot open the run database: {exc}", file=str(self.path)) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------------
    def _tx(self) -> _Transaction:
        return _Transaction(self.db)

    # -- meta ---------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        with self._tx():
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, canonical_json(value)))

    # -- plan phase ---------------------------------------------------------------------------------
    def has_plans(self) -> bool:
        return self.db.execute("SELECT 1 FROM meta WHERE key='planned'").fetchone() is not None

    def put_plans(
        self,
        personas: Sequence[Persona],
        plans: Sequence[NotePlan],
        meta: dict[str, Any],
        *,
        timelines: Sequence[Timeline] = (),
    ) -> None:
        """Store the whole cohort, its plans and timelines in one transaction (marks the plan phase done)."""
        with self._tx():
            self.db.executemany(
                "INSERT INTO timelines VALUES (?, ?, ?)",
                ((t.persona_id, i, canonical_json(to_dict(t))) for i, t in enumerate(timelines)),
            )
            self.db.executemany(
                "INSERT INTO personas VALUES (?, ?, ?)",
                ((p.id, i, canonical_json(to_dict(p))) for i, p in enumerate(personas)),
            )
            self.db.executemany(
                "INSERT INTO plans VALUES (?, ?, ?, ?)",
                ((p.id, p.persona_id, i, canonical_json(to_dict(p))) for i, p in enumerate(plans)),
            )
            for key, value in meta.items():
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, canonical_json(value)))
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('planned', 'true')")

    def clear_plans(self) -> None:
        """Forget a plan phase that never finished (a planning process killed part way)."""
        with self._tx():
            for table in ("personas", "plans", "timelines"):
                self.db.execute(f"DELETE FROM {table}")

    def append_plans(
        self, personas: Sequence[Persona], plans: Sequence[NotePlan], timelines: Sequence[Timeline] = ()
    ) -> None:
        """Store the next patients of the cohort, their plans and timelines, in one transaction (planning
        streams patients in batches; :meth:`finish_plans` marks the plan phase done)."""
        with self._tx():
            tables: tuple[tuple[str, Sequence[Any]], ...] = (
                ("timelines", timelines),
                ("personas", personas),
                ("plans", plans),
            )
            for table, rows in tables:
                start = self.db.execute(f"SELECT COALESCE(MAX(seq) + 1, 0) FROM {table}").fetchone()[0]
                if table == "plans":
                    self.db.executemany(
                        "INSERT INTO plans VALUES (?, ?, ?, ?)",
                        ((p.id, p.persona_id, start + i, canonical_json(to_dict(p))) for i, p in enumerate(plans)),
                    )
                    continue
                self.db.executemany(
                    f"INSERT INTO {table} VALUES (?, ?, ?)",
                    ((_record_key(r), start + i, canonical_json(to_dict(r))) for i, r in enumerate(rows)),
                )

    def finish_plans(self, meta: dict[str, Any]) -> None:
        """Record ``meta`` and mark the plan phase done, in one transaction."""
        with self._tx():
            for key, value in meta.items():
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, canonical_json(value)))
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('planned', 'true')")

    def personas(self) -> list[Persona]:
        return list(self.iter_records("personas"))

    def plans(self) -> list[NotePlan]:
        return list(self.iter_records("plans"))

    def timelines(self) -> Iterator[Timeline]:
        """Each patient's timeline in cohort order (none in a run planned before timelines existed)."""
        if self._has_table("timelines"):
            yield from self.iter_records("timelines")

    def _has_table(self, table: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone()
            is not None
        )

    def plan_count(self, personas: Collection[str] | None = None) -> int:
        """Plans stored (of ``personas`` only, if given: a shard's patients)."""
        where, params = _of_personas(personas)
        return self.db.execute(f"SELECT COUNT(*) FROM plans WHERE {where}", params).fetchone()[0]

    def iter_plans(self, personas: Collection[str] | None = None, page: int = 1000) -> Iterator[tuple[int, NotePlan]]:
        """(seq, plan) in plan order, read a page at a time: the note phase holds one page, not the cohort
        (each page is a finished query, so commits may interleave); of ``personas`` only, if given."""
        after = -1
        where, params = _of_personas(personas)
        while True:
            rows = self.db.execute(
                f"SELECT seq, data FROM plans WHERE seq > ? AND {where} ORDER BY seq LIMIT ?", (after, *params, page)
            ).fetchall()
            for seq, data in rows:
                yield seq, from_dict(NotePlan, json.loads(data))
            if len(rows) < page:
                return
            after = rows[-1][0]

    def iter_stored_plans(
        self, personas: Collection[str] | None = None, page: int = 1000
    ) -> Iterator[tuple[int, StoredPlan]]:
        """(seq, plan as stored) of every plan whose unit is not finished (none, or failed), in plan order, a
        page at a time (of ``personas`` only, if given): nothing decoded, nothing held beyond a page."""
        after = -1
        where, params = _of_personas(personas)
        while True:
            rows = self.db.execute(
                f"SELECT seq, id, persona_id, data FROM plans WHERE seq > ? AND {where} AND id NOT IN "
                "(SELECT id FROM units WHERE status != 'failed') ORDER BY seq LIMIT ?",
                (after, *params, page),
            ).fetchall()
            for seq, pid, persona_id, data in rows:
                yield seq, StoredPlan(pid, persona_id, data)
            if len(rows) < page:
                return
            after = rows[-1][0]

    def stored_plans(self, plan_ids: Collection[str]) -> dict[str, StoredPlan]:
        """The plans of ``plan_ids`` (those stored) as stored, undecoded, by id."""
        rows = self.db.execute(
            "SELECT id, persona_id, data FROM plans WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(plan_ids)),),
        )
        return {pid: StoredPlan(pid, persona_id, data) for pid, persona_id, data in rows}

    def plans_of(self, persona_id: str) -> list[tuple[int, NotePlan]]:
        """(seq, plan) of one patient's notes, in plan order."""
        rows = self.db.execute("SELECT seq, data FROM plans WHERE persona_id=? ORDER BY seq", (persona_id,))
        return [(seq, from_dict(NotePlan, json.loads(data))) for seq, data in rows]

    def accepted_of(self, persona_id: str) -> list[tuple[Note, list[Sentence], list[Label]]]:
        """One patient's accepted notes (by their units' status) with their sentences and labels, in plan
        order."""
        rows = self.db.execute(
            "SELECT n.id, n.data FROM notes n JOIN units u ON u.id = n.plan_id "
            "WHERE n.persona_id=? AND u.status='accepted' ORDER BY n.seq",
            (persona_id,),
        ).fetchall()
        return [
            (
                from_dict(Note, json.loads(data)),
                list(self.iter_records("sentences", "WHERE note_id=?", (nid,))),
                list(self.iter_records("labels", "WHERE note_id=?", (nid,))),
            )
            for nid, data in rows
        ]

    # -- units --------------------------------------------------------------------------------------
    def finished_units(self) -> set[str]:
        """Plan ids whose unit is accepted or rejected (failed units are retried on resume)."""
        return {r[0] for r in self.db.execute("SELECT id FROM units WHERE status != 'failed'")}

    def commit_unit(self, result: UnitResult) -> None:
        """Write a unit's records in one transaction, replacing any earlier (failed) attempt."""
        self.commit_units([result])

    def commit_units(self, results: Sequence[UnitResult], *, meta: dict[str, Any] | None = None) -> None:
        """Group commit: many whole units (each all-or-nothing: a crash loses whole units, never part of one),
        and ``meta`` keys, in one transaction; each replaces any earlier stored attempt at its note. The rows are
        the worker's (:func:`packed`) or encoded here; every table is written with one statement per batch."""
        rows = {r.plan_id: r.rows or encode_unit(r) for r in results}  # a note twice in a batch: its last result
        with self._tx():
            ids = json.dumps(list(rows))
            notes = "SELECT id FROM notes WHERE plan_id IN (SELECT value FROM json_each(?))"
            for table, column in (("sentences", "note_id"), ("labels", "note_id"), ("rejections", "record_id")):
                self.db.execute(f"DELETE FROM {table} WHERE {column} IN ({notes})", (ids,))
            for table in ("notes", "units"):
                column = "plan_id" if table == "notes" else "id"
                self.db.execute(f"DELETE FROM {table} WHERE {column} IN (SELECT value FROM json_each(?))", (ids,))
            batch = list(rows.values())
            self.db.executemany("INSERT INTO notes VALUES (?, ?, ?, ?, ?)", (r.note for r in batch if r.note))
            self.db.executemany("INSERT INTO sentences VALUES (?, ?, ?, ?)", (x for r in batch for x in r.sentences))
            self.db.executemany("INSERT INTO labels VALUES (?, ?, ?, ?, ?)", (x for r in batch for x in r.labels))
            self.db.executemany(
                "INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?, ?, ?, ?)",
                (x for r in batch for x in r.rejections),
            )
            self.db.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (r.unit for r in batch))
            for result in results:  # the reply cache in unit order, as one unit at a time would leave it
                if result.replies or result.spend or result.billed:
                    self._put_replies(result.replies)  # a store-less worker's replies and paid calls (Ray)
                    self._put_spend(result.spend, result.plan_id)
                    self.db.executemany("UPDATE llm_cache SET billed=1 WHERE key=?", ((k,) for k in result.billed))
            for key, value in (meta or {}).items():
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, canonical_json(value)))

    def unit_states(self, plan_ids: Collection[str]) -> dict[str, tuple[Usage, tuple[tuple[str, dict[str, Any]], ...]]]:
        """For units a worker without the store will make: what each stored unit recorded (its usage) and the
        cached replies it paid for and has not recorded yet (:meth:`replies_owned`); two queries for the batch.
        Units with neither are left out."""
        ids = json.dumps(sorted(plan_ids))
        out: dict[str, tuple[Usage, tuple[tuple[str, dict[str, Any]], ...]]] = {
            pid: (Usage(i, o, c), ())
            for pid, i, o, c in self.db.execute(
                "SELECT id, input_tokens, output_tokens, cost_usd FROM units "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (ids,),
            )
        }
        replies: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for owner, key, value in self.db.execute(
            "SELECT owner, key, value FROM llm_cache WHERE owner IN (SELECT value FROM json_each(?)) AND NOT billed "
            "ORDER BY owner, key",
            (ids,),
        ):
            replies.setdefault(owner, []).append((key, json.loads(value)))
        for pid, owned in replies.items():
            out[pid] = (out.get(pid, (Usage(), ()))[0], tuple(owned))
        return out

    def _put_rejections(self, rejections: Iterable[tuple[str, Rejection]]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_rejection_row(stage, r) for stage, r in rejections),
        )

    def replace_cohort_rejections(self, rejections: Sequence[Rejection]) -> None:
        """Cohort filters run once over the whole run; rerunning them replaces their earlier verdicts."""
        with self._tx():
            self.db.execute(f"DELETE FROM rejections WHERE stage='cohort' AND {_CURRENT}")
            self._put_rejections(("cohort", r) for r in rejections)

    def note_status(self) -> dict[str, str]:
        """note id -> accepted | rejected (by any filter, cohort filters included)."""
        rejected = {
            r[0]
            for r in self.db.execute(
                f"SELECT DISTINCT record_id FROM rejections WHERE enforced=1 AND {self._current()}"
            )
        }
        return {
            nid: ("rejected" if nid in rejected else "accepted") for (nid,) in self.db.execute("SELECT id FROM notes")
        }

    def unit_attempts(self, plan_ids: Collection[str] | None = None) -> dict[str, tuple[int, int]]:
        """plan id -> (seq, attempt) of its stored unit (of ``plan_ids`` only, if given)."""
        if plan_ids is None:
            return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT id, seq, attempt FROM units")}
        rows = self.db.execute(
            "SELECT id, seq, attempt FROM units WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(plan_ids)),),
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def accepted_among(self, note_ids: Collection[str]) -> set[str]:
        """The ids among ``note_ids`` of notes whose unit is accepted."""
        rows = self.db.execute(
            "SELECT n.id FROM notes n JOIN units u ON u.id = n.plan_id WHERE u.status='accepted' AND "
            "n.id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(note_ids)),),
        )
        return {r[0] for r in rows}

    def finished_count(self) -> int:
        """Units accepted or rejected (failed ones are retried on resume)."""
        return self.db.execute("SELECT COUNT(*) FROM units WHERE status != 'failed'").fetchone()[0]

    def note_text(self, note_id: str) -> str:
        """A stored note's text."""
        row = self.db.execute("SELECT json_extract(data, '$.text') FROM notes WHERE id=?", (note_id,)).fetchone()
        if row is None:
            raise KeyError(note_id)
        return row[0]

    def rejections_of(self, record_id: str) -> list[tuple[str, Rejection]]:
        """Ledger entries of a note, every attempt's, as (stage, rejection)."""
        rows = self.db.execute(
            "SELECT stage, data FROM rejections WHERE record_id=? ORDER BY attempt, filter", (record_id,)
        )
        return [(stage, from_dict(Rejection, json.loads(data))) for stage, data in rows]

    def first_error(self) -> str | None:
        """The error of the first failed unit (plan order), if any failed."""
        row = self.db.execute("SELECT error FROM units WHERE status='failed' ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None

    def unit_usage(self, plan_id: str) -> Usage:
        """Tokens and cost recorded by a stored unit (zero if none)."""
        row = self.db.execute(
            "SELECT input_tokens, output_tokens, cost_usd FROM units WHERE id=?", (plan_id,)
        ).fetchone()
        return Usage(row[0], row[1], row[2]) if row else Usage()

    def unit_status(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT id, status FROM units"))

    def stored_unit(self, plan_id: str) -> UnitResult | None:
        """A stored unit read back whole, as :meth:`commit_units` wrote it (``None`` if there is none)."""
        row = self.db.execute(
            "SELECT seq, status, error, input_tokens, output_tokens, cost_usd, attempt FROM units WHERE id=?",
            (plan_id,),
        ).fetchone()
        if row is None:
            return None
        note = next(self.iter_records("notes", "WHERE plan_id=?", (plan_id,)), None)
        nid = note.id if note is not None else plan_id
        return UnitResult(
            plan_id,
            row[0],
            row[1],
            note=note,
            sentences=self.iter_records("sentences", "WHERE note_id=?", (nid,)),
            labels=self.iter_records("labels", "WHERE note_id=?", (nid,)),
            rejections=self.rejections_of(nid),
            error=row[2],
            usage=Usage(row[3], row[4], row[5]),
            attempt=row[6],
        )

    def unit_outcomes(self) -> dict[str, tuple[str, Usage]]:
        """plan id -> (status, usage) of every stored unit."""
        return {
            r[0]: (r[1], Usage(r[2], r[3], r[4]))
            for r in self.db.execute("SELECT id, status, input_tokens, output_tokens, cost_usd FROM units")
        }

    def failed_units(self) -> list[tuple[str, str | None]]:
        """(unit id, error) of every failed unit, in plan order."""
        return list(self.db.execute("SELECT id, error FROM units WHERE status='failed' ORDER BY seq"))

    def unit_totals(self) -> dict[str, Any]:
        """Sums over the stored units: tokens, cost, regenerations (attempts beyond the first) and units."""
        tin, tout, cost, attempts, units = self.db.execute(
            "SELECT COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), COALESCE(SUM(cost_usd),0), "
            "COALESCE(SUM(attempt),0), COUNT(*) FROM units"
        ).fetchone()
        return {"input_tokens": tin, "output_tokens": tout, "cost_usd": cost, "regenerations": attempts, "units": units}

    def absorb(self, other: RunStore, *, plans: bool = False, skip_meta: Sequence[str] = ()) -> None:
        """Copy another store's work into this one in one transaction: units with their notes, sentences, labels
        and ledger entries, the reply cache and the spend ledger; with ``plans`` also its personas, plans and
        meta (but ``skip_meta``). Rows this store already has (a shared cache key) are kept."""
        tables = (("meta", "personas", "plans", "timelines") if plans else ()) + _WORK_TABLES
        with self._tx():
            for table in tables:
                cols = [r[1] for r in self.db.execute(f"PRAGMA table_info({table})")]
                cols = [c for c in cols if (table, c) != ("llm_spend", "id")]  # a ledger row gets a new id here
                names = ", ".join(cols)
                order = " ORDER BY id" if table == "llm_spend" else ""
                rows: Iterable[Any] = other.db.execute(f"SELECT {names} FROM {table}{order}")
                if table == "meta":
                    rows = (r for r in rows if r[cols.index("key")] not in skip_meta)
                self.db.executemany(
                    f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})", rows
                )

    def reset_job(self) -> None:
        """Forget every unit and meta key (a different job reuses the directory); the reply cache stays."""
        with self._tx():
            self.db.execute("DELETE FROM units")
            self.db.execute("DELETE FROM meta")

    # -- the rejection ledger -------------------------------------------------------------------------
    def cohort_rejected(self) -> set[str]:
        """Note ids an enforced cohort filter rejects."""
        return {
            r[0]
            for r in self.db.execute(
                f"SELECT record_id FROM rejections WHERE stage='cohort' AND enforced=1 AND {self._current()}"
            )
        }

    def rejection_rows(self) -> Iterator[dict[str, Any]]:
        """Every ledger entry as its record's dict plus ``stage``, ordered by record id, attempt and filter."""
        for stage, data in self.db.execute(
            f"SELECT stage, data FROM rejections ORDER BY record_id, {self._attempt}, filter"
        ):
            yield {**json.loads(data), "stage": stage}

    def _current(self) -> str:
        """SQL: the ledger entry judged its note's current attempt (the one its stored unit holds)."""
        return _CURRENT if self._attempt == "attempt" else "1"

    # -- reading ------------------------------------------------------------------------------------
    def iter_records(self, table: str, where: str = "", params: Sequence[Any] = ()) -> Iterator[Any]:
        order, cls = TABLES[table]
        sql = f"SELECT data FROM {table} {where} ORDER BY {order}"
        for (data,) in self.db.execute(sql, params):
            yield from_dict(cls, json.loads(data))

    def iter_rows(self, table: str) -> Iterator[dict[str, Any]]:
        order, _ = TABLES[table]
        for (data,) in self.db.execute(f"SELECT data FROM {table} ORDER BY {order}"):
            yield json.loads(data)

    def counts(self) -> dict[str, Any]:
        c = {t: self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES if self._has_table(t)}
        c["units"] = dict(self.db.execute("SELECT status, COUNT(*) FROM units GROUP BY status"))
        tokens = self.db.execute(
            "SELECT COALESCE(SUM(input_tokens),0), COALESCE(SUM(output_tokens),0), COALESCE(SUM(cost_usd),0) FROM units"
        ).fetchone()
        c["usage"] = {"input_tokens": tokens[0], "output_tokens": tokens[1], "cost_usd": round(tokens[2], 6)}
        if _has_column(self.db, "llm_spend", "cost_usd"):
            calls, paid = self.db.execute("SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM llm_spend").fetchone()
            c["spend"] = {"calls": calls, "cost_usd": round(paid, 6)}
        return c

    def label_counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT json_extract(data, '$.label'), COUNT(*) FROM labels GROUP BY 1")
        return dict(rows)

    def rejection_counts(self) -> dict[str, int]:
        return dict(
            self.db.execute(
                "SELECT filter || CASE WHEN enforced THEN '' ELSE ' (warn)' END, COUNT(*) "
                "FROM rejections GROUP BY 1 ORDER BY 1"
            )
        )

    # -- LLM cache ----------------------------------------------------------------------------------
    # A reply is committed the moment it arrives, with the unit that paid for it (``owner``); the unit
    # records the reply's cost in the transaction that commits it, which marks the entry ``billed``.
    # Until then a re-done owner records it again (see context.py).
    def cache_get(self, key: str) -> dict[str, Any] | None:
        found = self.cache_get_owned(key)
        return found[0] if found else None

    def cache_get_owned(self, key: str) -> tuple[dict[str, Any], str | None] | None:
        """(value, owning unit id) of a cache entry; the owner is None once a committed unit recorded it."""
        if _has_column(self.db, "llm_cache", "owner"):
            row = self.db.execute(
                "SELECT value, CASE WHEN billed THEN NULL ELSE owner END FROM llm_cache WHERE key=?", (key,)
            ).fetchone()
        else:  # a store from before owners, opened without migrating (read-only)
            row = self.db.execute("SELECT value, NULL FROM llm_cache WHERE key=?", (key,)).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def cache_put(self, key: str, value: dict[str, Any], *, owner: str | None = None) -> None:
        with self._tx():
            self._put_replies([(key, value, owner)])

    def record_spend(self, usage: Usage, *, key: str | None = None, unit: str | None = None) -> None:
        """Append one paid LLM call to the spend ledger, committed at once (before its unit commits)."""
        with self._tx():
            self._put_spend([(usage, key)], unit)

    def _put_replies(self, replies: Iterable[tuple[str, dict[str, Any], str | None]]) -> None:
        now_ = time.time()
        self.db.executemany(
            "INSERT OR REPLACE INTO llm_cache (key, value, created, owner) VALUES (?, ?, ?, ?)",
            ((key, canonical_json(value), now_, owner) for key, value, owner in replies),
        )

    def _put_spend(self, calls: Iterable[tuple[Usage, str | None]], unit: str | None) -> None:
        now_ = time.time()
        self.db.executemany(
            "INSERT INTO llm_spend (key, unit, input_tokens, output_tokens, cost_usd, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ((key, unit, u.input_tokens, u.output_tokens, u.cost_usd, now_) for u, key in calls),
        )

    def replies_owned(self, unit: str) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The cached replies ``unit`` paid for and has not recorded yet (shipped with it to a worker)."""
        rows = self.db.execute("SELECT key, value FROM llm_cache WHERE owner=? AND NOT billed ORDER BY key", (unit,))
        return tuple((key, json.loads(value)) for key, value in rows)

    def cache_size(self) -> int:
        """Entries in the LLM response cache."""
        return self.db.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0]

    def spend_ledger_usd(self) -> float:
        """The spend ledger's sum alone (every paid call, committed units or not)."""
        if not _has_column(self.db, "llm_spend", "cost_usd"):
            return 0.0
        return self.db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM llm_spend").fetchone()[0]

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file."""
        self.db.execute("PRAGMA wal_checkpoint(FULL)")

    def spent_usd(self) -> float:
        """Money paid for LLM calls so far: the spend ledger, or the units' costs if more (older stores)."""
        units = self.db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM units").fetchone()[0]
        ledger = (
            self.db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM llm_spend").fetchone()[0]
            if _has_column(self.db, "llm_spend", "cost_usd")
            else 0.0
        )
        return round(max(units, ledger), 10)


def _record_key(record: Persona | Timeline) -> str:
    return record.persona_id if isinstance(record, Timeline) else record.id


def _has_column(db: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))


def _of_personas(personas: Collection[str] | None) -> tuple[str, tuple[str, ...]]:
    """SQL condition and parameters: a plan of one of ``personas`` (any plan for ``None``)."""
    if personas is None:
        return "1", ()
    return "persona_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(personas)),)


_WORK_TABLES = ("units", "notes", "sentences", "labels", "rejections", "llm_cache", "llm_spend")

_CURRENT = "attempt = COALESCE((SELECT u.attempt FROM units u WHERE u.id = rejections.record_id), 0)"


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a store written by an earlier version up to this schema."""
    if _has_column(db, "rejections", "id") and not _has_column(db, "rejections", "attempt"):
        # the attempt was a ``<note id>@<attempt>`` suffix of the record id: now a column (and a record field)
        db.execute("ALTER TABLE rejections ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0")
        current = dict(db.execute("SELECT id, attempt FROM units"))  # a plain record id judged the current one
        for key, record_id, data in list(db.execute("SELECT id, record_id, data FROM rejections")):
            note_id, _, attempt = record_id.partition("@")
            doc = {
                **json.loads(data),
                "record_id": note_id,
                "attempt": int(attempt) if attempt else current.get(note_id, 0),
            }
            db.execute(
                "UPDATE rejections SET id=?, record_id=?, data=?, attempt=? WHERE id=?",
                (f"{note_id}:{doc['filter']}:{doc['attempt']}", note_id, canonical_json(doc), doc["attempt"], key),
            )
    if not _has_column(db, "llm_cache", "owner"):
        db.execute("ALTER TABLE llm_cache ADD COLUMN owner TEXT")
        db.execute("ALTER TABLE llm_cache ADD COLUMN billed INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX IF NOT EXISTS llm_cache_owner ON llm_cache (owner)")  # replies shipped with units


def _open_readonly(path: Path) -> sqlite3.Connection:
    """``mode=ro``; a WAL database in a directory we cannot write falls back to ``immutable=1``."""
    if not path.is_file():
        raise BadInput("not a run directory (no run.sqlite)", file=str(path.parent))
    uri = path.resolve().as_uri()
    last: sqlite3.Error | None = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        db = sqlite3.connect(f"{uri}?{query}", uri=True, isolation_level=None, check_same_thread=False)
        try:
            have = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.Error as exc:
            db.close()
            last = exc
            continue
        missing = sorted({*TABLES, "meta", "units"} - have)
        if missing:
            db.close()
            raise BadInput(f"not a DualAlign run database (no table {missing[0]!r})", file=str(path))
        return db
    raise BadInput(f"cannot read the run database: {last}", file=str(path))


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON via a temporary file and rename, so readers never see half a file."""
    atomic_write_json(path, data, field=None, run_file=True)
