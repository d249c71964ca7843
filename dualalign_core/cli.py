"""The ``dualalign`` command and its one error boundary (:func:`handled`, applied to every command).

Exit codes: 0 success; 1 a run that failed (a plugin raised, units failed, the budget or breaker stopped it,
an internal error); 2 bad input (config, pack, input file, path, plugin that cannot load or start); 130
interrupted (Ctrl-C); 143 terminated (SIGTERM, handled as Ctrl-C is). Errors are one unwrapped line on stderr
naming the file (and field or plugin); ``DUALALIGN_DEBUG=1`` also prints the traceback.
"""

from __future__ import annotations

import errno
import functools
import io
import json
import logging
import os
import sqlite3
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dualalign_core.errors import (
    BadInput,
    ComponentError,
    DualAlignError,
    Interrupted,
    PluginError,
    RunFailed,
)
from dualalign_core.redact import install_log_redaction, redact
from dualalign_core.signals import interrupts
from dualalign_core.textio import check_output

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

F = TypeVar("F", bound=Callable[..., Any])
# OS errors that mean the machine, not the input, failed: a failed run (1) rather than bad input (2)
_RUN_ERRNOS = {errno.ENOSPC, errno.EIO, errno.ENOMEM, getattr(errno, "EDQUOT", errno.ENOSPC)}


def debug() -> bool:
    """``DUALALIGN_DEBUG=1``: print tracebacks under the one-line messages."""
    return os.environ.get("DUALALIGN_DEBUG", "") not in ("", "0", "false", "no")


def _reader_went_away(exc: SystemExit) -> bool:
    """Whether rich raised this exit because whoever read stdout closed it (a broken pipe), not a plugin."""
    tb = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    return bool(frames) and frames[-1].startswith("rich") and isinstance(exc.__context__, BrokenPipeError)


def classify(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an exception that reached the CLI."""
    from dualalign_core.plugins import describe_exception

    if isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return interrupted(str(exc))
    if isinstance(exc, BadInput):
        return 2, f"error: {exc}"
    if isinstance(exc, PluginError):
        return 2, f"plugin error: {exc}"
    if isinstance(exc, RunFailed):
        return 1, f"run failed: {exc} (continue it with --resume)"
    if isinstance(exc, ComponentError):
        return 1, f"plugin failed: {exc}"
    if isinstance(exc, DualAlignError):
        return 1, f"error: {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return 2, (
            f"error: input is not valid {exc.encoding} text: {exc.reason} at byte offset {exc.start}; save it as UTF-8"
        )
    if isinstance(exc, UnicodeEncodeError):
        return 2, (f"error: text cannot be written as {exc.encoding}: {exc.reason} (a lone surrogate in the input?)")
    if isinstance(exc, OSError):
        where = ": ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        reason = exc.strerror or describe_exception(exc)
        code = 1 if exc.errno in _RUN_ERRNOS else 2
        return code, f"error: {where}: {reason}" if where else f"error: {reason}"
    if isinstance(exc, sqlite3.DatabaseError):
        code = 1 if any(w in str(exc) for w in ("locked", "busy")) else 2
        return code, f"error: run database (run.sqlite): {exc}; is it a DualAlign run directory, and intact?"
    if isinstance(exc, json.JSONDecodeError):
        return 2, f"error: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    if isinstance(exc, tomllib.TOMLDecodeError):
        return 2, f"error: invalid TOML: {exc}"
    if isinstance(exc, SystemExit) and _reader_went_away(exc):  # `dualalign ... | head`: nothing to say
        return 141, ""
    if isinstance(exc, SystemExit):  # plugin or library code called sys.exit() inside a command
        return 1, f"error: plugin code called sys.exit({exc.code!r}) (DUALALIGN_DEBUG=1 shows where)"
    return 1, f"internal error: {describe_exception(exc)} (a bug; DUALALIGN_DEBUG=1 shows the traceback)"


def _framework_exits() -> tuple[type[BaseException], ...]:
    """Click's and Typer's own exits, aborts and usage errors: they pass the boundary untouched.

    Typer 0.29 and later carry their own copies of Click's (``typer.Exit`` is no longer ``click.exceptions.Exit``),
    so both sets are listed.
    """
    kinds: set[type[BaseException]] = {click.exceptions.Exit, click.exceptions.Abort, click.ClickException}
    kinds |= {typer.Exit, typer.Abort}
    kinds |= {k for k in typer.BadParameter.__mro__ if k.__name__ == "ClickException"}
    return tuple(kinds)


FRAMEWORK_EXITS = _framework_exits()


def interrupted(how_to_continue: str) -> tuple[int, str]:
    """130 after SIGINT, 143 after SIGTERM, and a line naming the signal and how to continue."""
    from dualalign_core import signals

    what = f"interrupted by {signals.signal_name()}"
    return signals.exit_code(), f"{what}: {how_to_continue}" if how_to_continue else what


def report_error(message: str) -> None:
    """One line on stderr, never wrapped, never markup (paths may hold ``[``), safe on any encoding."""
    line = " ".join(redact(message).split()) + "\n"
    stream = sys.stderr
    try:
        stream.write(line)
    except UnicodeEncodeError:
        stream.write(line.encode("ascii", "backslashreplace").decode("ascii"))
    stream.flush()


def handled(fn: F) -> F:
    """The error boundary: every exception a command raises becomes an exit code and one line on stderr.

    Our errors carry their message; OS, decoding, SQLite, JSON/TOML and plugin errors are mapped (see
    :func:`classify`); anything else is an internal error (exit 1). The traceback only under
    ``DUALALIGN_DEBUG=1``. Idempotent: every ``app.command()`` applies it, explicit use is harmless.
    """
    if getattr(fn, "_dualalign_handled", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        install_log_redaction()  # a warning may quote a server's error, and the server may echo a key
        try:
            with interrupts():  # SIGTERM (a scheduler's time limit) stops a command as Ctrl-C does
                return fn(*args, **kwargs)
        except FRAMEWORK_EXITS:  # an exit code the command chose, or a usage error Click/Typer reports
            raise
        except BaseException as exc:  # noqa: BLE001 - the boundary: nothing escapes as a traceback
            code, message = classify(exc)
            if debug():
                sys.stderr.write(redact("".join(traceback.format_exception(exc))))
            if message:
                report_error(message)
            raise typer.Exit(code) from None

    wrapper._dualalign_handled = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class _App(typer.Typer):
    """A Typer app whose every command goes through :func:`handled`."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        register = super().command(*args, **kwargs)
        return lambda fn: register(handled(fn))


app = _App(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="DualAlign: clinically grounded synthetic clinical notes.",
)
console = Console(stderr=True, soft_wrap=True)  # messages are never hard-wrapped (paths stay whole)
out = Console(soft_wrap=True)


def _load(config: Path | None, run_dir: Path | None, resume: bool, **overrides: Any):
    from dualalign_core.config import load_config
    from dualalign_core.run.resume import stored_run

    if config is not None:
        cfg = load_config(config).override(**overrides)  # validated like the file; resume compares identity
    elif resume and run_dir is not None and (run_dir / "run.sqlite").exists():
        stored, _ = stored_run(run_dir)
        if stored is None:
            raise BadInput("run directory has no stored config; pass CONFIG", file=str(run_dir))
        # the stored run: --max-cost applies, an option that would make it another run is refused
        cfg = stored.resume_with(str(run_dir), **overrides)
    else:
        raise BadInput("give a CONFIG file (or --resume --out RUN_DIR to continue a run)", field="CONFIG")
    if run_dir is None:
        if cfg.out is None:
            raise BadInput(
                "no run directory: pass --out RUN_DIR or set run.out in the config", file=cfg.path, field="run.out"
            )
        run_dir = Path(cfg.out)
    return cfg, run_dir


@app.command()
def run(
    config: Path | None = typer.Argument(None, help="Run config (TOML)."),
    out_dir: Path | None = typer.Option(None, "--out", "-o", help="Run directory."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out where it stopped."),
    patients: int | None = typer.Option(None, "--patients", help="Number of synthetic patients."),
    seed: int | None = typer.Option(None, "--seed", help="Run seed."),
    generator: str | None = typer.Option(None, "--generator", help="Generator (or LLM backend) name."),
    annotator: str | None = typer.Option(None, "--annotator", help="Annotator name."),
    memory: str | None = typer.Option(
        None,
        "--memory",
        help="What a note remembers: timeline (the default) or notes (also the patient's earlier notes, written "
        "in order).",
    ),
    max_cost: float | None = typer.Option(
        None,
        "--max-cost",
        help="Stop before LLM cost crosses USD (0: no LLM "
        "spend); a run it stops exits 1 and resumes with a higher one.",
    ),
    executor: str | None = typer.Option(
        None, "--executor", help="Where notes are made: local (default) or ray (pip install 'dualalign-core\\[ray]')."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray cluster to join (with --executor ray); unset: a local Ray runtime."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    shard: str | None = typer.Option(
        None, "--shard", help="K/N: plan the whole cohort, make shard K's patients only (see `merge`)."
    ),
) -> None:
    """Sample personas and plans, generate, filter, annotate and store notes."""
    from dualalign_core.progress import RunProgress
    from dualalign_core.run.pipeline import Pipeline
    from dualalign_core.run.shard import ShardSpec

    spec = ShardSpec.parse(shard) if shard is not None else None

    cfg, run_dir = _load(
        config,
        out_dir,
        resume,
        patients=patients,
        seed=seed,
        generator=generator,
        annotator=annotator,
        memory=memory,
        max_cost_usd=max_cost,
        executor=executor,
        ray_address=ray_address,
    )
    if spec is not None:
        spec.check_cohort(cfg.patients)
    check_output(run_dir, kind="directory", option="--out" if out_dir is not None else "run.out")
    pipeline = Pipeline(cfg, run_dir, resume=resume, shard=spec)
    try:
        with RunProgress(enabled=not quiet, console=console) as progress:
            pipeline.progress = progress.update
            manifest = pipeline.run()
    except KeyboardInterrupt:  # Pipeline.run marked the manifest "interrupted"
        raise Interrupted(f"the run is saved; continue it with: dualalign run --resume --out {run_dir}") from None
    except ComponentError as exc:  # Pipeline.run marked the manifest "failed"
        raise RunFailed(str(exc)) from exc
    _finish(run_dir, manifest)


def _finish(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Print the run's summary; exit 1 when the budget stopped it or notes failed (both resumable)."""
    failure = _summary(run_dir, manifest)
    if manifest["status"] == "stopped":  # the budget held back unfinished work (or a cohort refill)
        console.print(
            f"{manifest['stop_reason']} (dualalign run --resume --out {run_dir} --max-cost USD)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if manifest["status"] == "finished_with_failures":
        raise RunFailed(failure or "some notes failed")


def _summary(run_dir: Path, manifest: dict[str, Any]) -> str | None:
    """Print the run's summary table; returns what failed, if units did."""
    from dualalign_core.run.view import RunView

    counts = manifest["counts"]
    with RunView(run_dir) as view:
        labels = view.label_counts()
        rejections = view.rejection_counts()
        status = view.status
        first_error = view.first_error()
    accepted = sum(1 for s in status.values() if s == "accepted")
    table = Table(title=f"run {manifest['run_id']} — {manifest['status']}", show_header=False)
    table.add_row("run directory", str(run_dir))
    table.add_row("patients", str(counts["personas"]))
    table.add_row("notes planned / accepted", f"{counts['plans']} / {accepted}")
    table.add_row("sentences", str(counts["sentences"]))
    table.add_row("labels", ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-")
    table.add_row("rejections", ", ".join(f"{k}={v}" for k, v in rejections.items()) or "none")
    failed = counts["units"].get("failed", 0)
    if failed:
        table.add_row("failed (retried on --resume)", str(failed))
    usage = counts["usage"]
    table.add_row("tokens in / out", f"{usage['input_tokens']} / {usage['output_tokens']}")
    table.add_row("cost (USD)", f"{usage['cost_usd']:.4f}")
    if manifest.get("throughput"):
        table.add_row("generation tokens/s", f"{manifest['throughput'].get('tokens_per_s', 0):.1f}")
    out.print(table)
    out.print(f"run directory: {run_dir}")
    if failed:
        return f"{failed} note(s) failed (first: {first_error or 'unknown'})"
    return None


@app.command()
def plan(
    config: Path = typer.Argument(..., help="Run config (TOML)."),
    out_dir: Path | None = typer.Option(None, "--out", "-o", help="Run directory."),
    patients: int | None = typer.Option(None, "--patients"),
    multiplier: float | None = typer.Option(None, "--multiplier", help="Symptom density multiplier."),
    seed: int | None = typer.Option(None, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable fidelity table."),
) -> None:
    """Sample personas and note plans (no LLM calls), store them and print the fidelity table."""
    from dualalign_core.fidelity import fidelity_report
    from dualalign_core.run.pipeline import Pipeline

    cfg, run_dir = _load(config, out_dir, False, patients=patients, seed=seed, multiplier=multiplier)
    check_output(run_dir, kind="directory", option="--out" if out_dir is not None else "run.out")
    pipeline = Pipeline(cfg, run_dir)
    try:
        manifest = pipeline.plan(
            fidelity=lambda p, n: fidelity_report(pipeline.components.disease, p, n, cfg.multiplier)
        )
    finally:
        pipeline.close()
    fidelity = manifest["fidelity"]
    if as_json:
        out.print_json(json.dumps({"run_dir": str(run_dir), "run_id": manifest["run_id"], "fidelity": fidelity}))
        return
    print_fidelity(fidelity)
    out.print(f"planned {fidelity['patients']} patients, {fidelity['notes']} notes -> {run_dir}")


def print_fidelity(fidelity: dict[str, Any]) -> None:
    table = Table(title="fidelity (sampled vs target)")
    for col in ("metric", "key", "target", "measured", "distance"):
        table.add_column(col)
    for row in fidelity["rows"]:
        t, m = row["target"], row["measured"]
        if isinstance(t, dict):
            t = " ".join(f"{k}:{v:.3f}" for k, v in t.items())
            m = " ".join(f"{v:.3f}" for v in m.values())
        unit = f" {row['unit']}" if "unit" in row else ""
        table.add_row(row["metric"], row["key"], str(t), str(m), f"{row['distance']}{unit}")
    out.print(table)
    out.print(fidelity["summary"])


@app.command()
def merge(
    shards: list[Path] = typer.Argument(..., help="Shard run directories (dualalign run --shard K/N), all N."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="New run directory."),
    max_cost: float | None = typer.Option(
        None, "--max-cost", min=0, help="The merged run's budget, all shards' spend included (default: shard 1's)."
    ),
    executor: str | None = typer.Option(
        None, "--executor", help="Where the cohort refill makes notes: local (default) or ray."
    ),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster to join (with --executor ray)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Merge the shards of one run into one run directory and run its cohort filters (and their refill)."""
    from dualalign_core.progress import RunProgress
    from dualalign_core.run.merge import check_merge, merge_shards

    check_output(out_dir, kind="directory", option="--out")
    checked = check_merge(shards, out_dir)
    try:
        with RunProgress(enabled=not quiet, console=console) as progress:
            manifest = merge_shards(
                checked,
                out_dir,
                progress=progress.update,
                max_cost_usd=max_cost,
                executor=executor,
                ray_address=ray_address,
            )
    except KeyboardInterrupt:  # the merge is built aside: nothing of it is kept
        again = " ".join(["dualalign merge", *map(str, shards), "--out", str(out_dir)])
        raise Interrupted(f"nothing was written; merge again with: {again}") from None
    _finish(out_dir, manifest)


@app.command()
def plugins(
    as_json: bool = typer.Option(False, "--json"),
    options: str | None = typer.Option(None, "--options", help="Print NAME's options schema (JSON)."),
) -> None:
    """Every plugin, its version, status (ok, broken, incompatible, duplicate), the DualAlign API range it
    declares, and the components it registers by kind (as configs spell them: bare, or plugin:name)."""
    from dualalign_core import API_VERSION
    from dualalign_core.plugins import get_registry

    if options is not None:
        from dualalign_core.cli_authoring import print_options

        return print_options(options)

    registry = get_registry()
    rows = [p.as_dict() for p in registry.plugins.values()]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    if not out.is_terminal or out.width < 100:  # piped or narrow: one plain block a plugin, nothing cut short
        out.print(f"dualalign plugins (API {API_VERSION})", markup=False, highlight=False)
        for p in rows:
            head = f"{p['name']}  {p['distribution']} {p['version']}  API {p['api'] or '-'}  {p['status']}"
            lines = [head + (f": {p['error']}" if p["error"] else "")]
            lines += [f"  {k}: {', '.join(v)}" for k, v in sorted(p["components"].items())]
            lines += [f"  problem: {m}" for m in p["problems"]] + [f"  note: {m}" for m in p["notes"]]
            out.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title=f"dualalign plugins (API {API_VERSION})")
    for col in ("plugin", "distribution", "version", "API"):  # names are never cut short, whatever the width
        table.add_column(col, overflow="fold", min_width=len(col))
    for col in ("status", "components"):
        table.add_column(col, overflow="fold")
    colour = {"ok": "green", "incompatible": "yellow", "duplicate": "yellow"}
    for p in rows:
        comps = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(p["components"].items()))
        error = f": {escape(p['error'])}" if p["error"] else ""
        status = f"[{colour.get(p['status'], 'red')}]{p['status']}[/]" + error
        status += "".join(f"\n[yellow]{escape(m)}[/yellow]" for m in p["problems"])
        status += "".join(f"\n[dim]{escape(m)}[/dim]" for m in p["notes"])
        table.add_row(p["name"], p["distribution"], p["version"], p["api"] or "-", status, comps)
    out.print(table)


@app.command()
def validate(paths: list[Path] = typer.Argument(..., help="Configs (.toml), pack dirs, tables (.json).")) -> None:
    """Validate run configs, disease-pack directories and data tables against their schemas."""
    from dualalign_core.cli_validate import validate_path

    for path in paths:
        kind = validate_path(path)
        out.print(f"[green]ok[/green] {path} ({kind})")
        if kind == "run config":
            from dualalign_core.cli_authoring import print_resolved

            print_resolved(path)


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="Run directory."),
    fmt: str = typer.Option(
        "jsonl",
        "--format",
        "-f",
        help="jsonl | parquet (one file per table) | hf (datasets.load_from_disk) | "
        "fhir (R4 Bundles per patient) | review (labels to adjudicate)",
    ),
    out_path: Path = typer.Option(..., "--out", "-o", help="Output directory."),
    anchor_date: str | None = typer.Option(
        None,
        "--anchor-date",
        help="fhir: the fictitious diagnosis date notes are dated back from (YYYY-MM-DD; default 2025-01-01).",
    ),
) -> None:
    """Export a run (tables join on ids), with a DATASET_CARD.md."""
    from datetime import date

    if fmt == "review":
        from dualalign_core.annotate.files import export_review

        result = export_review(run_dir, out_path)
        out.print(f"review file -> {out_path}: {json.dumps(result, default=str)[:300]}")
        return
    from dualalign_core.exports.jsonl import export_run

    anchor = None
    if anchor_date:
        try:
            anchor = date.fromisoformat(anchor_date)
        except ValueError:
            raise BadInput(f"not a date (YYYY-MM-DD): {anchor_date!r}", field="--anchor-date") from None
    counts = export_run(run_dir, fmt, out_path, anchor_date=anchor)
    out.print(f"exported {', '.join(f'{k}={v}' for k, v in counts.items())} -> {out_path}")


@app.command()
def annotate(
    file: Path = typer.Argument(..., help="JSONL with a `text` field (sentences or whole notes)."),
    annotator: str = typer.Option("lexicon", "--annotator", "-a", help="Annotator or LLM backend name."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Output JSONL (input fields + label, binary, evidence)."),
    disease: str | None = typer.Option(
        None,
        "--disease",
        help="Disease pack whose labels and protocol apply (default: the installed pack, when only one is).",
    ),
    segment_mode: str = typer.Option("auto", "--segment", help="auto | always | never split texts into sentences."),
    model: str | None = typer.Option(None, "--model", help="Model for an LLM annotator."),
    option: list[str] = typer.Option(
        [], "--option", help="Annotator option KEY=VALUE (e.g. model_dir=DIR for the classifier annotator), repeatable."
    ),
) -> None:
    """Label users' own text with any annotator (pre-label real notes for review, compare annotators)."""
    from dualalign_core.annotate.files import annotate_file
    from dualalign_core.cli_training import _options

    options = {**_options(option), **({"model": model} if model else {})}
    check_output(out_path, kind="file", option="--out")
    stats = annotate_file(file, out_path, annotator, disease, segment_mode=segment_mode, options=options)
    out.print_json(json.dumps(stats.as_dict(), default=str))
    if stats.failed or stats.stopped:  # what is done is kept: rerun the same command to finish
        console.print(
            f"{len(stats.failed)} record(s) failed{'; stopped: ' + stats.stopped if stats.stopped else ''}"
            " — rerun the same command to retry them (done records are skipped)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


@app.command()
def agreement(
    a: Path = typer.Argument(..., help="Annotated JSONL (annotator A)."),
    b: Path = typer.Argument(..., help="Annotated JSONL (annotator B), same sentences."),
    review: Path | None = typer.Option(None, "--review", help="Write disagreements as a review JSONL."),
    disease: str | None = typer.Option(
        None, "--disease", help="Pack whose labels the files must use (default: the installed pack when only one is)."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Cohen's kappa per label and overall between two annotators; disagreements for adjudication."""
    from dualalign_core.annotate.agreement import counts_line, kappa_rows
    from dualalign_core.annotate.files import agreement_files

    if review is not None:
        check_output(review, kind="file", option="--review")
    report = agreement_files(a, b, review_out=review, disease=disease).as_dict()
    if as_json:
        out.print_json(json.dumps(report, default=str))
        return
    table = Table(title="annotator agreement (Cohen's kappa)")
    table.add_column("label")
    table.add_column("kappa")
    for row in kappa_rows(report):
        table.add_row(*row)
    out.print(table)
    out.print(counts_line(report))


@app.command()
def estimate(
    config: Path = typer.Argument(..., help="Run config (TOML)."),
    patients: int | None = typer.Option(None, "--patients", min=1),
    max_cost: float | None = typer.Option(None, "--max-cost", min=0),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Tokens and dollars a run would cost, before any request is sent."""
    from dualalign_core.config import load_config
    from dualalign_core.llm.estimate import estimate_run, over_budget

    cfg = load_config(config).override(patients=patients)
    result = estimate_run(cfg)
    if as_json:
        out.print_json(json.dumps(result.as_dict(), default=str))
    else:
        table = Table(title=f"estimate for {config}")
        table.add_column("role")
        table.add_column("requests")
        table.add_column("tokens")
        table.add_column("USD")
        for role in ("generator", "annotator"):
            r = getattr(result, role)
            table.add_row(
                role,
                str(r.requests),
                str(r.input_tokens + r.output_tokens),
                f"{r.cost_usd:.4f}" if r.priced else "unpriced",
            )
        table.add_row("total", "", str(result.tokens), f"{result.cost_usd:.4f}")
        out.print(table)
    warning = over_budget(result, max_cost if max_cost is not None else cfg.max_cost_usd)
    if warning:
        console.print(f"[yellow]warning:[/yellow] {warning}")


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="Run directory."),
    out_path: Path | None = typer.Option(None, "--out", "-o", help="HTML file (default RUN_DIR/report.html)."),
    embeddings: bool = typer.Option(
        True, "--embeddings/--no-embeddings", help="Mean pairwise MiniLM similarity (needs the [embeddings] extra)."
    ),
    as_json: Path | None = typer.Option(None, "--json", help="Also write the report's numbers as JSON here."),
    reference: Path | None = typer.Option(None, "--reference", help="Real text for the scorecard (see `score`)."),
    control: Path | None = typer.Option(None, "--control", help="Held-out real text for the scorecard's DCR."),
) -> None:
    """Write the alignment audit: one self-contained HTML file (plots embedded, no network needed), the
    scorecard at its top and scorecard.json beside it."""
    from dualalign_core.report import build_report

    path, _ = build_report(
        run_dir, out_path, embeddings=embeddings, json_out=as_json, reference=reference, control=control
    )
    out.print(f"report -> {path}")


from dualalign_core.cli_authoring import register as _register_authoring  # noqa: E402
from dualalign_core.cli_score import register as _register_score  # noqa: E402
from dualalign_core.cli_training import register as _register_training  # noqa: E402

_register_training(app, handled)  # train, evaluate, ablate
_register_authoring(app, handled)  # new
_register_score(app, handled)  # score


def _encoding_safe_streams() -> None:
    """Never crash on a character the terminal cannot show (``PYTHONIOENCODING=ascii`` and an em dash)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    _encoding_safe_streams()
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING)
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - outside any command (commands exit 130/143 themselves)
        code, message = interrupted("")
        report_error(message)
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
