"""Property-based fuzzing of the CLI (issue 14, item 5): configs, pack tables and JSONL inputs, valid and hostile.

Every case runs the real typer app in-process and asserts: exit 0 or 2 (never a crash), no traceback, an
exit-2 message naming the file or field, nothing half-written (no run store, output file absent or unchanged)
and nothing outside the target touched (the sandbox tree is snapshotted before and after). Consistency
properties tie commands together: ``validate`` ok means ``plan`` ok means a template ``run`` ok.

Example counts: ``DUALALIGN_FUZZ_EXAMPLES`` overrides the default suite's small, derandomised counts; the ``slow``
tests run ``DUALALIGN_FUZZ_SLOW_EXAMPLES`` (default 400) randomised examples per property. Failing examples are
printed with their labelled draws, unshrunk (``DUALALIGN_FUZZ_SHRINK=1`` shrinks them: minutes per property).
``DUALALIGN_FUZZ_SURVEY=FILE`` records every failed check as a JSON line in FILE instead of stopping at the first
(to list every distinct defect at once); ``DUALALIGN_FUZZ_TRACE=FILE`` logs every case (command, input kind, exit
code); ``DUALALIGN_FUZZ_SUMMARY=FILE`` writes the outcome counts there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dualalign_core.cli import app
from fuzz_strategies import (
    PACK_TABLES,
    PROMPT_EDITS,
    SENTENCES,
    TOY_LABELS,
    coin,
    corrupt_config,
    corrupt_lines,
    corrupt_table,
    dump_json,
    encoded,
    pick,
    toml_document,
    utf8,
    valid_config,
    valid_texts,
)
from support import TOY_PACK

try:  # click < 8.2 mixes stderr into output unless told not to; 8.2 keeps them apart and dropped the flag
    RUNNER = CliRunner(mix_stderr=False)
except TypeError:
    RUNNER = CliRunner()

ENV = {"COLUMNS": "200", "DUALALIGN_DEBUG": None, "DUALALIGN_STRICT_PLUGINS": None, "PYTHONIOENCODING": None}
PACK_FILES = ("disease.json", *PACK_TABLES, "prompt.toml", "protocol.md")


def _examples(var: str, default: int) -> int:
    return int(os.environ.get(var, default))


def fast(default: int) -> settings:
    """The default suite: few examples, derandomised and database-less so CI is deterministic."""
    # no shrinking unless asked for: it can take minutes per failing property; the draws are printed labelled
    shrink = os.environ.get("DUALALIGN_FUZZ_SHRINK") == "1" and not os.environ.get("DUALALIGN_FUZZ_SURVEY")
    phases = list(Phase) if shrink else [Phase.explicit, Phase.reuse, Phase.generate]
    return settings(
        max_examples=_examples("DUALALIGN_FUZZ_EXAMPLES", default),
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        phases=phases,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.large_base_example,
        ],
    )


SLOW = settings(fast(1), max_examples=_examples("DUALALIGN_FUZZ_SLOW_EXAMPLES", 400), derandomize=False)

# ---------------------------------------------------------------- bookkeeping

STATS: Counter[str] = Counter()
SURVEY = os.environ.get("DUALALIGN_FUZZ_SURVEY")
TRACE = os.environ.get("DUALALIGN_FUZZ_TRACE")  # every case as a JSON line: command, input kind, exit code


def summary_line() -> str:
    return (
        f"fuzz: {STATS['cases']} cases, exit0={STATS['exit0']} exit1={STATS['exit1']} exit2={STATS['exit2']} "
        f"crash={STATS['crash']} failed_checks={STATS['failed_checks']}"
    )


@pytest.fixture(scope="module", autouse=True)
def _write_summary() -> Iterator[None]:
    """After the module (default or slow selection): write the counts to ``DUALALIGN_FUZZ_SUMMARY``."""
    yield
    target = os.environ.get("DUALALIGN_FUZZ_SUMMARY")
    if target and STATS["cases"]:
        Path(target).write_text(json.dumps({"summary": summary_line(), **STATS}, indent=1) + "\n", encoding="utf-8")


class FuzzFailure(AssertionError):
    """A fuzz check failed: the command, the input kind and what happened."""


def fail(check: str, command: str, kind: str, detail: str, cause: BaseException | None = None) -> None:
    """Record a failed check (survey mode) or raise it (hypothesis shrinks and reports it)."""
    STATS["failed_checks"] += 1
    if SURVEY:
        where = ""
        tb = cause.__traceback__ if cause is not None else None
        while tb is not None:  # the innermost frame in our code (product or plugin), not the stdlib's
            name = tb.tb_frame.f_code.co_filename
            if "dualalign" in name and "/tests/" not in name:
                where = f"{name.split('/dualalign_core/')[-1]}:{tb.tb_lineno} {tb.tb_frame.f_code.co_name}"
            tb = tb.tb_next
        with open(SURVEY, "a", encoding="utf-8") as f:
            f.write(
                json.dumps(
                    {
                        "check": check,
                        "command": command,
                        "kind": kind,
                        "detail": detail[:600],
                        "exception": type(cause).__name__ if cause else None,
                        "where": where,
                    },
                    ensure_ascii=True,
                )
                + "\n"
            )
        return
    raise FuzzFailure(f"[{check}] {command} ({kind}): {detail}") from cause


# ---------------------------------------------------------------- sandbox and snapshots


@contextlib.contextmanager
def sandbox() -> Iterator[Path]:
    """A fresh directory with a copy of the toy pack; the CLI runs with it as the working directory."""
    with tempfile.TemporaryDirectory(prefix="dafuzz-") as tmp:
        root = Path(tmp)
        shutil.copytree(TOY_PACK, root / "pack")
        with contextlib.chdir(root):
            yield root


def snapshot(root: Path, exclude: Sequence[Path] = ()) -> dict[str, str]:
    """Relative path -> content hash (``dir`` for directories) of everything under ``root`` but ``exclude``."""
    skip = {p.resolve() for p in exclude}
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if (here / d).resolve() not in skip]
        for d in dirnames:
            out[str((here / d).relative_to(root))] = "dir"
        for name in filenames:
            path = here / name
            if path.resolve() in skip:
                continue
            try:
                out[str(path.relative_to(root))] = hashlib.sha1(path.read_bytes()).hexdigest()
            except OSError as exc:
                out[str(path.relative_to(root))] = f"unreadable: {exc}"
    return out


def files_under(path: Path) -> list[str]:
    """Files (not directories) under ``path``, relative; empty when it does not exist."""
    if not path.exists():
        return []
    if path.is_file():
        return [path.name]
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if not p.is_dir())


# ---------------------------------------------------------------- running the CLI


class Outcome:
    """What one CLI invocation did."""

    def __init__(self, code: int | None, output: str, crashed: bool):
        self.code = code
        self.output = output
        self.crashed = crashed

    @property
    def flat(self) -> str:
        """The output with line breaks removed (rich may wrap long paths)."""
        return self.output.replace("\n", "")


def cli(
    args: Sequence[str],
    *,
    root: Path,
    command: str,
    kind: str,
    names: Sequence[str],
    targets: Sequence[Path] = (),
    allowed: Sequence[int] = (0, 2),
    input_bytes: bytes | None = None,
) -> Outcome:
    """Invoke the app in-process and check: no crash, an allowed exit code, no traceback, exit 2 names a file or
    field from ``names``, and nothing under ``root`` outside ``targets`` changed."""
    before = snapshot(root, targets)
    result = RUNNER.invoke(app, list(args), env=ENV, catch_exceptions=True, input=input_bytes)
    after = snapshot(root, targets)
    try:
        stderr = result.stderr
    except ValueError:  # mixed into output
        stderr = ""
    output = result.stdout + stderr
    exc = result.exception
    crashed = exc is not None and not isinstance(exc, SystemExit)
    code = None if crashed else result.exit_code
    STATS["cases"] += 1
    STATS[f"{command}:{'crash' if crashed else f'exit{code}'}"] += 1
    STATS["crash" if crashed else f"exit{code}"] += 1
    if TRACE:
        with open(TRACE, "a", encoding="utf-8") as f:
            f.write(json.dumps({"command": command, "kind": kind, "code": code}, ensure_ascii=True) + "\n")
    if crashed:
        fail("crash", command, kind, f"{type(exc).__name__}: {str(exc)[:300]}", exc)
    elif code not in allowed:
        fail("exit-code", command, kind, f"exit {code} (allowed {list(allowed)}): {output[-400:]}")
    if "Traceback" in output:
        fail("traceback", command, kind, output[-800:])
    if code == 2 and not any(n in result.stdout.replace("\n", "") + stderr.replace("\n", "") for n in names):
        fail("message", command, kind, f"exit 2 without naming any of {list(names)}: {output[-400:]!r}")
    if before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))
        fail("outside-target", command, kind, f"touched outside the target: {changed[:6]}")
    return Outcome(code, output, crashed)


def check_no_store(outcome: Outcome, out_dir: Path, command: str, kind: str) -> None:
    """A run or plan that did not succeed leaves no run store behind (nothing half-written)."""
    if outcome.code == 2 or outcome.crashed:
        left = [f for f in files_under(out_dir) if f != "foreign.txt"]
        if left:
            fail("half-written", command, kind, f"exit {outcome.code} left {left[:6]} in the run directory")
    elif outcome.code == 0 and not (out_dir / "run.sqlite").is_file():
        fail("no-output", command, kind, "exit 0 but no run.sqlite")


def foreign_file(out_dir: Path, present: bool) -> bytes | None:
    """Optionally place a user's file in the target directory beforehand; it must survive every command."""
    if not present:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    content = b"user data, not ours\n"
    (out_dir / "foreign.txt").write_bytes(content)
    return content


def check_foreign(out_dir: Path, content: bytes | None, command: str, kind: str) -> None:
    if content is not None:
        path = out_dir / "foreign.txt"
        if not path.is_file() or path.read_bytes() != content:
            fail("foreign-file", command, kind, f"{path.name} in the target was deleted or changed")


def run_config_commands(
    data: st.DataObject,
    root: Path,
    cfg: Path,
    kind: str,
    *,
    valid: bool,
    names: Sequence[str],
    run_probability: float = 0.3,
) -> tuple[Outcome, Outcome]:
    """``validate`` then ``plan`` then (sometimes) a template ``run`` of one config, with consistency checks;
    returns the outcomes of ``validate`` and ``plan``."""
    v = cli(["validate", str(cfg)], root=root, command="validate", kind=kind, names=names)
    plan_dir = root / "plan"
    mine = foreign_file(plan_dir, data.draw(coin(), label="foreign file in plan dir"))
    p = cli(
        ["plan", str(cfg), "--out", str(plan_dir), "--json"],
        root=root,
        command="plan",
        kind=kind,
        names=names,
        targets=[plan_dir],
    )
    check_no_store(p, plan_dir, "plan", kind)
    check_foreign(plan_dir, mine, "plan", kind)
    if valid and (v.code != 0 or p.code != 0):
        fail(
            "valid-refused", "validate/plan", kind, f"valid input: validate {v.code}, plan {p.code}: {p.output[-300:]}"
        )
    if v.code == 0 and p.code not in (0, None) and not p.crashed:
        fail("validate-missed", "validate", kind, f"validate said ok, plan exited {p.code}: {p.output[-300:]}")
    if p.code != 0 or not data.draw(coin(run_probability), label="run?"):
        return v, p
    run_dir = root / "run"
    r = cli(
        ["run", str(cfg), "--out", str(run_dir), "--quiet"],
        root=root,
        command="run",
        kind=kind,
        names=names,
        targets=[run_dir],
    )
    check_no_store(r, run_dir, "run", kind)
    if r.code != 0 and not r.crashed:
        fail("plan-ok-run-failed", "run", kind, f"plan ok but run exited {r.code}: {r.output[-300:]}")
    return v, p


def write_config(root: Path, doc: dict[str, Any]) -> Path:
    cfg = root / "config.toml"
    cfg.write_bytes(utf8(toml_document(doc)))
    return cfg


# ---------------------------------------------------------------- properties


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def config_case(data: st.DataObject) -> None:
    """A run config, valid or corrupted (types, unknown keys, NaN/inf, huge/empty values, encodings)."""
    with sandbox() as root:
        doc = data.draw(valid_config(str(root / "pack")), label="valid config")
        corrupt = data.draw(pick(["none", "values", "values", "bytes", "both"]), label="corruption")
        kind = "valid config"
        fields: list[str] = []
        if corrupt in ("values", "both"):
            doc, kind, fields = data.draw(corrupt_config(doc), label="corrupted config")
        text = toml_document(doc)
        how = "utf-8"
        if corrupt in ("bytes", "both"):
            if data.draw(coin(), label="non-ASCII name"):
                text = text.replace('["run"]', '["run"]\n"name" = "Zoë Müller — ½"', 1)
            raw, how = data.draw(encoded(text), label="encoding")
            kind = f"{kind} [{how}]" if kind != "valid config" else f"config [{how}]"
        else:
            raw = utf8(text)
        cfg = root / "config.toml"
        cfg.write_bytes(raw)
        valid = corrupt == "none"
        outcomes = run_config_commands(data, root, cfg, kind, valid=valid, names=["config.toml"])
        for command, o in zip(("validate", "plan"), outcomes, strict=True):
            clean = _decodes(raw)  # a hostile value may be a lone surrogate: then the bytes are what is wrong
            if corrupt == "values" and clean and len(fields) == 1 and o.code == 2 and fields[0] not in o.flat:
                # one corruption, a clean encoding: the message must name the field that was changed
                fail("field-not-named", command, kind, f"expected {fields[0]!r} in: {o.output[-300:]!r}")


def pack_case(data: st.DataObject) -> None:
    """A copy of the toy pack with one file corrupted: a table (JSON), the prompt, the protocol or disease.json."""
    with sandbox() as root:
        pack = root / "pack"
        target = data.draw(
            pick([*PACK_TABLES, *PACK_TABLES, "disease.json", "prompt.toml", "protocol.md"]), label="file"
        )
        path = pack / target
        corrupt = data.draw(pick(["none", "values", "values", "values", "bytes"]), label="corruption")
        kind = f"{target}: unchanged"
        if target.endswith(".json"):
            doc = json.loads(path.read_text(encoding="utf-8"))
            if corrupt in ("values",) and target != "disease.json":
                doc, what = data.draw(corrupt_table(target, doc), label="corrupted table")
                kind = f"{target}: {what}"
            elif corrupt == "values":
                key = data.draw(pick(sorted(doc)), label="disease key")
                doc[key] = data.draw(
                    pick(
                        [[], {}, None, "", 1, math.nan, ["motor_symptoms"] * 2, ["none", "motor_symptoms"], "../x.json"]
                    )
                )
                kind = f"{target}: {key} replaced"
            text = dump_json(doc)
        elif target == "prompt.toml" and corrupt == "values":
            text = path.read_text(encoding="utf-8")
            edit = data.draw(pick(PROMPT_EDITS), label="prompt edit")
            text = text.replace("Use SOAP headers.", f"Use SOAP headers {edit}.", 1)
            kind = f"{target}: template {edit!r}"
        else:
            text = path.read_text(encoding="utf-8")
        if corrupt == "bytes":
            raw, how = data.draw(encoded(text + "\nZoë ½ —\n" if target == "protocol.md" else text), label="encoding")
            kind = f"{target}: [{how}]"
        else:
            raw = utf8(text)
        path.write_bytes(raw)
        valid = corrupt == "none"
        cfg = write_config(root, data.draw(valid_config(str(pack)), label="config"))
        v = cli(["validate", str(pack)], root=root, command="validate-pack", kind=kind, names=PACK_FILES)
        if valid and v.code != 0:
            fail("valid-refused", "validate-pack", kind, v.output[-300:])
        if target in PACK_TABLES:
            t = cli(["validate", str(path)], root=root, command="validate-table", kind=kind, names=[target])
            if v.code == 0 and t.code == 2 and not t.crashed:
                fail("validate-inconsistent", "validate-table", kind, "pack ok but its table alone refused")
        run_config_commands(data, root, cfg, kind, valid=valid, names=PACK_FILES, run_probability=0.4)


def _strict_json(line: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(line, parse_constant=refuse)


def _write_lines(data: st.DataObject, lines: list[str], kind: str, force_utf8: bool = False) -> tuple[bytes, str]:
    text = "\n".join(lines) + ("\n" if lines else "")
    if force_utf8 or not data.draw(coin(0.3), label="re-encode?"):
        return utf8(text), kind
    raw, how = data.draw(encoded(text + '{"text": "Zoë café ½ — ok"}\n'), label="encoding")
    return raw, f"{kind} [{how}]"


def annotate_case(data: st.DataObject) -> None:
    """``annotate`` (lexicon annotator) on valid and corrupted JSONL."""
    with sandbox() as root:
        records = data.draw(valid_texts(), label="records")
        lines = [json.dumps(r) for r in records]
        corrupt = data.draw(coin(), label="corrupt?")
        kind = "valid jsonl"
        if corrupt:
            lines, kind = data.draw(corrupt_lines(lines), label="corrupted lines")
        raw, kind = _write_lines(data, lines, kind, force_utf8=not corrupt)
        src = root / "in.jsonl"
        src.write_bytes(raw)
        dest = root / "out.jsonl"
        previous = b'{"previous": "output"}\n' if data.draw(coin(), label="previous output?") else None
        if previous is not None:
            dest.write_bytes(previous)
        state = dest.with_name(dest.name + ".state")  # annotate keeps its resume state beside the output
        o = cli(
            ["annotate", str(src), "--annotator", "lexicon", "--out", str(dest)],
            root=root,
            command="annotate",
            kind=kind,
            names=["in.jsonl", "out.jsonl"],
            targets=[dest, state],
        )
        if previous is not None and o.code == 0:  # someone else's file: refused, never overwritten
            fail("overwrote", "annotate", kind, "exit 0 over a file annotate did not write")
        if not corrupt and previous is None and o.code != 0:
            fail("valid-refused", "annotate", kind, o.output[-300:])
        if o.code != 0:
            now = dest.read_bytes() if dest.exists() else None
            if now != previous:
                fail("half-written", "annotate", kind, f"exit {o.code} changed the output file")
            return
        if not dest.is_file():
            fail("no-output", "annotate", kind, "exit 0 but no output file")
            return
        out = dest.read_bytes()
        if len(out) > 50 * len(raw) + 20_000:
            fail("output-size", "annotate", kind, f"{len(raw)} input bytes -> {len(out)} output bytes")
        ids = []
        for n, line in enumerate(out.decode("utf-8", errors="replace").splitlines(), 1):
            try:
                row = _strict_json(line)
            except ValueError as exc:
                fail("bad-output", "annotate", kind, f"output line {n}: {exc}")
                return
            ids.append(row.get("sentence_id"))
        dup = [i for i, c in Counter(map(str, ids)).items() if c > 1]
        if dup:
            fail("duplicate-ids", "annotate", kind, f"output sentence ids repeat: {dup[:4]}")
        if any(i is None or str(i).startswith("None") or not str(i) for i in ids):
            fail("null-ids", "annotate", kind, f"output sentence ids null/None/empty: {ids[:6]}")


# agreement checks labels against the one installed pack (the AD pack here)
AD_LABELS = ["none", "cognitive_impairment", "notice_by_others", "requiring_assistance"]


def _label_rows(data: st.DataObject, ids: list[str], labels: list[str] = TOY_LABELS) -> list[str]:
    return [
        json.dumps({"sentence_id": i, "text": data.draw(SENTENCES), "label": data.draw(pick(labels), label="label")})
        for i in ids
    ]


def agreement_case(data: st.DataObject) -> None:
    """``agreement A B [--review OUT] --json`` on valid and corrupted annotated JSONL."""
    with sandbox() as root:
        n = data.draw(st.integers(1, 6), label="n")
        ids = [f"s{i}" for i in range(n)]
        a_lines, b_lines = _label_rows(data, ids, AD_LABELS), _label_rows(data, ids, AD_LABELS)
        which = data.draw(pick(["none", "a", "b", "both", "disjoint"]), label="corrupt which")
        kind = "valid pair"
        if which == "disjoint":
            b_lines = _label_rows(data, [f"t{i}" for i in range(n)], AD_LABELS)
            kind = "disjoint ids"
        kinds = []
        if which in ("a", "both"):
            a_lines, k = data.draw(corrupt_lines(a_lines), label="corrupt A")
            kinds.append(f"A: {k}")
        if which in ("b", "both"):
            b_lines, k = data.draw(corrupt_lines(b_lines), label="corrupt B")
            kinds.append(f"B: {k}")
        kind = "; ".join(kinds) or kind
        a_raw, kind = _write_lines(data, a_lines, kind, force_utf8=which == "none")
        a, b = root / "a.jsonl", root / "b.jsonl"
        a.write_bytes(a_raw)
        b.write_bytes(utf8("\n".join(b_lines) + "\n"))
        review = root / "review.jsonl"
        args = ["agreement", str(a), str(b), "--json"]
        if data.draw(coin(), label="--review?"):
            args += ["--review", str(review)]
        o = cli(args, root=root, command="agreement", kind=kind, names=["a.jsonl", "b.jsonl"], targets=[review])
        if which == "none" and o.code != 0:
            fail("valid-refused", "agreement", kind, o.output[-300:])
        if o.code != 0:
            if review.exists():
                fail("half-written", "agreement", kind, f"exit {o.code} wrote the review file")
            return
        try:
            report = _strict_json(o.output[o.output.index("{") : o.output.rindex("}") + 1])
        except ValueError as exc:
            fail("bad-output", "agreement", kind, f"--json output is not strict JSON: {exc}")
            return
        rows = {}
        for side, lines in (("A", a_lines), ("B", b_lines)):
            parsed = []
            for line in lines:
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
                    if isinstance(rec, dict):
                        parsed.append(rec)
            rows[side] = parsed
            keys = [r.get("sentence_id", r.get("id")) for r in parsed]
            if len(keys) != len(set(map(str, keys))):
                fail("silent-collapse", "agreement", kind, f"{side} repeats ids yet exit 0 (n={report.get('n')})")
            if any(not isinstance(r.get("label"), str) for r in parsed):
                fail("null-label", "agreement", kind, f"{side} has a null/non-string label yet exit 0")
        if report.get("n") == 0 and report.get("kappa") == 0.0:
            fail("empty-kappa", "agreement", kind, "no sentences in common, yet kappa reported as 0.0")


def evaluate_case(data: st.DataObject) -> None:
    """``evaluate`` reads gold before the model: corrupt gold is refused naming it; nothing is written."""
    with sandbox() as root:
        lines = [
            json.dumps(
                {
                    "id": i,
                    "text": data.draw(SENTENCES),
                    "label": data.draw(pick(TOY_LABELS)),
                    "sex": data.draw(pick(["female", "male"])),
                }
            )
            for i in range(3)
        ]
        corrupt = data.draw(coin(), label="corrupt?")
        kind = "valid gold"
        if corrupt:
            lines, kind = data.draw(corrupt_lines(lines), label="corrupted gold")
        raw, kind = _write_lines(data, lines, kind, force_utf8=not corrupt)
        gold = root / "gold.jsonl"
        gold.write_bytes(raw)
        model = root / "model"
        model.mkdir()
        o = cli(
            ["evaluate", str(model), "--gold", str(gold)],
            root=root,
            command="evaluate",
            kind=kind,
            names=["gold.jsonl", "model"],
            allowed=(2,),
        )
        if files_under(model):
            fail("half-written", "evaluate", kind, f"wrote {files_under(model)} into a directory that is no model")
        del o


# ---------------------------------------------------------------- seed corpus: the known cases, every run

BASE_CONFIG = {
    "run": {"seed": 1, "patients": 1},
    "trajectory": {"multiplier": 2},
    "generator": {"name": "template"},
    "annotator": {"name": "lexicon"},
}


def _pack_edit(name: str, edit: Any) -> Any:
    def apply(pack: Path) -> None:
        path = pack / name
        doc = json.loads(path.read_text(encoding="utf-8"))
        edit(doc)
        path.write_text(json.dumps(doc), encoding="utf-8")

    return apply


CONFIG_CORPUS = {
    "multiplier nan": (lambda d: d["trajectory"].update(multiplier=math.nan), "utf-8"),
    "seed 2**64": (lambda d: d["run"].update(seed=2**64), "utf-8"),
    "max_cost nan": (lambda d: d.update(limits={"max_cost_usd": math.nan}), "utf-8"),
    "unknown sampler": (lambda d: d["trajectory"].update(sampler="nothing"), "utf-8"),
    "generator.model for template": (lambda d: d["generator"].update(model="gpt-x"), "utf-8"),
    "latin-1 config": (lambda d: d["run"].update(name="Zoë ½"), "latin-1"),
    "utf-16 config": (lambda d: None, "utf-16"),
    "lone surrogate in config": (lambda d: d["run"].update(name="\ud800"), "utf-8"),
    "bom config": (lambda d: None, "utf-8-sig"),
}

PACK_CORPUS = {
    "lexicon: no term for the first stage": _pack_edit(
        "lexicon.json", lambda d: [t.update(earliest_stage="early") for t in d["terms"]]
    ),
    "schedule: sigma nan": _pack_edit("schedule.json", lambda d: d["notes_per_patient"].update(sigma=math.nan)),
    "schedule: notes min > max": _pack_edit("schedule.json", lambda d: d["notes_per_patient"].update(min=30, max=3)),
    "schedule: overlapping stages": _pack_edit("schedule.json", lambda d: d["stages"][1].update(from_years=3)),
    "disease: negative label among labels": _pack_edit(
        "disease.json", lambda d: d.update(labels=[*d["labels"], "none"], label_precedence=[*d["labels"], "none"])
    ),
    "disease: partial label_precedence": _pack_edit(
        "disease.json", lambda d: d.update(label_precedence=d["labels"][:1])
    ),
    "prompt: unbalanced brace": lambda pack: (pack / "prompt.toml").write_text(
        (pack / "prompt.toml").read_text().replace("Use SOAP", "Use {age SOAP"), encoding="utf-8"
    ),
    "lexicon: latin-1": lambda pack: (pack / "lexicon.json").write_bytes(
        (pack / "lexicon.json").read_text().replace("small handwriting", "écriture").encode("latin-1")
    ),
    "protocol: invalid utf-8": lambda pack: (pack / "protocol.md").write_bytes(b"# protocol \xff\xfe\n"),
}


class _Fixed:
    """A stand-in for hypothesis' data object: every draw answers ``False`` (no foreign file, no run)."""

    def draw(self, strategy: Any, label: str | None = None) -> Any:
        return False


@pytest.mark.parametrize("case", sorted(CONFIG_CORPUS))
def test_fuzz_corpus_config(case: str) -> None:
    edit, encoding = CONFIG_CORPUS[case]
    with sandbox() as root:
        doc = json.loads(json.dumps({**BASE_CONFIG, "disease": {"path": str(root / "pack")}}))
        edit(doc)
        cfg = root / "config.toml"
        cfg.write_bytes(
            toml_document(doc).encode(encoding, errors="surrogatepass" if encoding == "utf-8" else "strict")
        )
        run_config_commands(_Fixed(), root, cfg, f"corpus: {case}", valid=False, names=["config.toml"])  # type: ignore[arg-type]


@pytest.mark.parametrize("case", sorted(PACK_CORPUS))
def test_fuzz_corpus_pack(case: str) -> None:
    with sandbox() as root:
        PACK_CORPUS[case](root / "pack")
        cfg = write_config(root, {**BASE_CONFIG, "disease": {"path": str(root / "pack")}})
        v = cli(
            ["validate", str(root / "pack")],
            root=root,
            command="validate-pack",
            kind=f"corpus: {case}",
            names=PACK_FILES,
        )
        _, p = run_config_commands(_Fixed(), root, cfg, f"corpus: {case}", valid=False, names=PACK_FILES)  # type: ignore[arg-type]
        if v.code == 0 and p.code == 0:
            run_dir = root / "run"
            r = cli(
                ["run", str(cfg), "--out", str(run_dir), "-q"],
                root=root,
                command="run",
                kind=f"corpus: {case}",
                names=PACK_FILES,
                targets=[run_dir],
            )
            check_no_store(r, run_dir, "run", f"corpus: {case}")
            if r.code == 0:
                fail("validate-missed", "validate-pack", f"corpus: {case}", "a known-bad pack validated and ran")


JSONL_CORPUS = {
    "annotate: duplicate ids": ("annotate", ['{"id": "a", "text": "Forgetful."}', '{"id": "a", "text": "Lost."}']),
    "annotate: null id": ("annotate", ['{"id": null, "text": "Forgetful. Gets lost."}']),
    "annotate: NaN field": ("annotate", ['{"id": "a", "text": "Forgetful.", "score": NaN}']),
    "annotate: latin-1": ("annotate", ["latin-1", '{"id": "a", "text": "Oublie le café."}']),
    "agreement: duplicate ids": ("agreement", ['{"sentence_id": "s1", "label": "none"}'] * 2),
    "agreement: null label": ("agreement", ['{"sentence_id": "s1", "label": null}']),
    "agreement: empty": ("agreement", []),
    "evaluate: latin-1 gold": ("evaluate", ["latin-1", '{"text": "Oublie le café.", "label": "none"}']),
}


@pytest.mark.parametrize("case", sorted(JSONL_CORPUS))
def test_fuzz_corpus_jsonl(case: str) -> None:
    command, lines = JSONL_CORPUS[case]
    encoding = "utf-8"
    if lines and lines[0] == "latin-1":
        encoding, lines = "latin-1", lines[1:]
    with sandbox() as root:
        src = root / "in.jsonl"
        src.write_bytes("".join(line + "\n" for line in lines).encode(encoding))
        kind = f"corpus: {case}"
        if command == "annotate":
            dest = root / "out.jsonl"
            o = cli(
                ["annotate", str(src), "--out", str(dest)],
                root=root,
                command=command,
                kind=kind,
                names=["in.jsonl"],
                targets=[dest, dest.with_name(dest.name + ".state")],
            )
            if o.code == 0:
                try:
                    rows = [_strict_json(x) for x in dest.read_text(encoding="utf-8").splitlines()]
                except ValueError as exc:
                    fail("bad-output", command, kind, str(exc))
                    return
                ids = [str(r.get("sentence_id")) for r in rows]
                if len(ids) != len(set(ids)) or any(i.startswith("None") for i in ids):
                    fail("duplicate-ids", command, kind, f"sentence ids {ids}")
        elif command == "agreement":
            other = root / "b.jsonl"
            other.write_text(
                '{"sentence_id": "s1", "label": "none"}\n{"sentence_id": "s2", "label": "notice_by_others"}\n',
                encoding="utf-8",
            )
            o = cli(
                ["agreement", str(src), str(other), "--json"], root=root, command=command, kind=kind, names=["in.jsonl"]
            )
            if o.code == 0:
                fail("silent-stats", command, kind, f"statistics reported for a bad input: {o.output[-300:]}")
        else:
            model = root / "model"
            model.mkdir()
            cli(
                ["evaluate", str(model), "--gold", str(src)],
                root=root,
                command=command,
                kind=kind,
                names=["in.jsonl", "model"],
                allowed=(2,),
            )


# ---------------------------------------------------------------- tests (default suite)


@fast(25)
@given(st.data())
def test_fuzz_config(data: st.DataObject) -> None:
    config_case(data)


@fast(25)
@given(st.data())
def test_fuzz_pack_tables(data: st.DataObject) -> None:
    pack_case(data)


@fast(30)
@given(st.data())
def test_fuzz_annotate(data: st.DataObject) -> None:
    annotate_case(data)


@fast(30)
@given(st.data())
def test_fuzz_agreement(data: st.DataObject) -> None:
    agreement_case(data)


@fast(20)
@given(st.data())
def test_fuzz_evaluate_gold(data: st.DataObject) -> None:
    evaluate_case(data)


# ---------------------------------------------------------------- slow variants (many more, randomised)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_fuzz_config_slow(data: st.DataObject) -> None:
    config_case(data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_fuzz_pack_tables_slow(data: st.DataObject) -> None:
    pack_case(data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_fuzz_annotate_slow(data: st.DataObject) -> None:
    annotate_case(data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_fuzz_agreement_slow(data: st.DataObject) -> None:
    agreement_case(data)


@pytest.mark.slow
@SLOW
@given(st.data())
def test_fuzz_evaluate_gold_slow(data: st.DataObject) -> None:
    evaluate_case(data)


# ---------------------------------------------------------------- summary (last in the file: runs after the rest)


def test_fuzz_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Report how many cases ran and their outcomes (the issue's closing note quotes this line)."""
    by_command = {k: v for k, v in sorted(STATS.items()) if ":" in k}
    with capsys.disabled():
        print(f"\n{summary_line()}\n  by command: {by_command}")
