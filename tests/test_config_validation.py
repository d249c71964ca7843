"""`validate` runs every check `run` makes before its first unit, and bad input is refused before anything is
written: packs and values that used to validate and then crash, CLI overrides validated like the file, resume
overrides honoured or refused, and every error naming the key as written in the TOML (exit 2, no traceback)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dualalign_core import cli
from support import TOY_PACK

BASE = {
    "run": "seed = 3\npatients = 2\nmax_notes_per_patient = 2",
    "disease": f'path = "{TOY_PACK.as_posix()}"',
    "trajectory": "multiplier = 2",
    "generator": 'name = "template"',
    "annotator": 'name = "lexicon"',
    "filters": 'use = ["length_form"]',
}


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    """Messages are asserted whole: no wrapping by the console."""
    monkeypatch.setattr(cli.console, "width", 10_000)
    monkeypatch.setattr(cli.out, "width", 10_000)


def config(path: Path, **sections: str | None) -> Path:
    doc = {**BASE, **sections}
    path.write_text("".join(f"[{k}]\n{v}\n\n" for k, v in doc.items() if v is not None))
    return path


def invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def bad(args: list[str | Path], *expected: str) -> str:
    code, text = invoke(*args)
    assert code == 2, text
    for part in expected:
        assert part in text, (part, text)
    return text


def pack_copy(tmp_path: Path) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(TOY_PACK, pack)
    return pack


def edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def refused_everywhere(tmp_path: Path, pack: Path, *expected: str) -> None:
    """`validate` on the pack and on a config using it, and `run`/`plan` with it: exit 2, nothing written."""
    bad(["validate", pack], *expected)
    cfg = config(tmp_path / "c.toml", disease=f'path = "{pack.as_posix()}"')
    bad(["validate", cfg], *expected)
    for command in ("run", "plan"):
        bad([command, cfg, "--out", tmp_path / "out"], *expected)
        assert not (tmp_path / "out").exists()


# -- item 11: packs and values that validated and then crashed -------------------------------------------------
@pytest.mark.parametrize(
    "template", ["{sex:%}", "{age:%Y}", "{sex", "a } b", "{sex!z}", "{}", "{sex.upper}", "{age:{nope}}"]
)
def test_prompt_that_cannot_render_is_refused(tmp_path, template):
    pack = pack_copy(tmp_path)
    prompt = pack / "prompt.toml"
    prompt.write_text(prompt.read_text().replace("{sex}", template))
    refused_everywhere(tmp_path, pack, str(prompt), ": user: ")


def test_prompt_with_literal_braces_and_format_specs_is_fine(tmp_path):
    pack = pack_copy(tmp_path)
    prompt = pack / "prompt.toml"
    prompt.write_text(prompt.read_text().replace("{sex}", "{sex:>8} {{json}} {age:d} {n_mentions:02d}"))
    assert invoke("validate", pack)[0] == 0
    assert invoke("validate", prompt) == (0, f"ok {prompt} (prompt template)\n")


def test_lexicon_without_a_term_for_the_first_stage(tmp_path):
    pack = pack_copy(tmp_path)

    def late(doc):
        for term in doc["terms"]:
            term["earliest_stage"] = "early"

    edit_json(pack / "lexicon.json", late)
    refused_everywhere(tmp_path, pack, "lexicon.json", "terms", "'prodromal'")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_multiplier(tmp_path, value):
    cfg = config(tmp_path / "c.toml", trajectory=f"multiplier = {value}")
    for command in ("validate", "run", "plan"):
        args = [command, cfg] + ([] if command == "validate" else ["--out", tmp_path / "out"])
        bad(args, str(cfg), "trajectory.multiplier", "not a finite number")
    assert not (tmp_path / "out").exists()
    bad(["validate", config(tmp_path / "l.toml", limits=f"max_cost_usd = {value}")], "limits.max_cost_usd")
    bad(
        [
            "validate",
            config(
                tmp_path / "o.toml",
                filters=f"use = ['length_form']\noptions = {{length_form = {{min_words = {value}}}}}",
            ),
        ],
        "filters.options.length_form.min_words",
    )


@pytest.mark.parametrize(
    ("option", "value", "key"),
    [
        ("--multiplier", "nan", "trajectory.multiplier"),
        ("--multiplier", "inf", "trajectory.multiplier"),
        ("--multiplier", "0", "trajectory.multiplier"),
        ("--multiplier", "101", "trajectory.multiplier"),
        ("--patients", "0", "run.patients"),
        ("--seed", "-1", "run.seed"),
    ],
)
def test_cli_overrides_are_validated_like_the_file(tmp_path, option, value, key):
    cfg = config(tmp_path / "c.toml")
    bad(["plan", cfg, "--out", tmp_path / "out", option, value], option, key)
    if option != "--multiplier":
        bad(["run", cfg, "--out", tmp_path / "out", option, value], option, key)
    assert not (tmp_path / "out").exists()


def test_run_overrides_validated(tmp_path):
    cfg = config(tmp_path / "c.toml")
    bad(["run", cfg, "--out", tmp_path / "out", "--max-cost", "-1"], "--max-cost", "limits.max_cost_usd")
    bad(["run", cfg, "--out", tmp_path / "out", "--max-cost", "nan"], "limits.max_cost_usd", "not a finite")
    bad(["run", cfg, "--out", tmp_path / "out", "--generator", "no-such"], "generator.name", "template")
    assert not (tmp_path / "out").exists()


# -- item 15: a zero budget allows no LLM spend; free work completes -------------------------------------------
def test_zero_budget_with_free_components_finishes(tmp_path):
    code, text = invoke("run", config(tmp_path / "c.toml"), "--out", tmp_path / "run", "-q", "--max-cost", "0")
    assert code == 0, text
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["counts"]["notes"] == 4


# -- item 16: resume overrides honoured or refused --------------------------------------------------------------
def test_resume_with_config_and_identity_override_shows_the_difference(tmp_path):
    cfg = config(tmp_path / "c.toml")
    assert invoke("run", cfg, "--out", tmp_path / "run", "-q")[0] == 0
    bad(
        ["run", cfg, "--resume", "--out", tmp_path / "run", "-q", "--patients", "3"],
        "config differs",
        "run.patients is 3 here, 2 in the run",
    )
    bad(
        ["run", "--resume", "--out", tmp_path / "run", "-q", "--seed", "4"],
        "run.seed",
        "--seed 4 would change the run being resumed",
    )
    code, text = invoke("run", "--resume", "--out", tmp_path / "run", "-q", "--max-cost", "1", "--seed", "3")
    assert code == 0, text


def test_limits_are_not_part_of_the_run_id(tmp_path):
    a = config(tmp_path / "a.toml")
    b = config(tmp_path / "b.toml", limits="max_cost_usd = 0.5")
    ids = []
    for cfg, out in ((a, "ra"), (b, "rb")):
        code, text = invoke("plan", cfg, "--out", tmp_path / out, "--json")
        assert code == 0, text
        ids.append(json.loads(text)["run_id"])
    assert ids[0] == ids[1]


# -- item 17: validate runs every check run would ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"generator": 'name = "no-such"'}, ["generator.name", "unknown generator", "template", "openai"]),
        ({"annotator": 'name = "nope"'}, ["annotator.name", "lexicon"]),
        ({"filters": 'use = ["nope"]'}, ["filters.use[0]", "length_form"]),
        ({"filters": 'use = ["length_form"]\nwarn = ["identifiers"]'}, ["filters.warn[0]"]),
        ({"disease": 'path = "/no/such/pack"'}, ["disease.path"]),
        ({"disease": 'name = "nope"'}, ["disease.name"]),
        ({"generator": 'name = "template"\noptions = {vitals = "yes"}'}, ["generator.options.vitals"]),
        ({"generator": 'name = "template"\noptions = {colour = 1}'}, ["generator.options.colour"]),
        ({"personas": 'options = {method = "nope"}'}, ["personas.options.method"]),
        (
            {"filters": 'use = ["length_form"]\noptions = {length_form = {min_words = "x"}}'},
            ["filters.options.length_form.min_words"],
        ),
        ({"filters": 'use = ["length_form"]\noptions = {identifiers = {}}'}, ["filters.options"]),
        ({"trajectory": "multiplier = nan"}, ["trajectory.multiplier"]),
        # item 19: the key as written in the TOML
        ({"personas": 'source = "nope"'}, ["personas.source", "prevalence"]),
        ({"trajectory": 'sampler = "nope"'}, ["trajectory.sampler", "stage-schedule"]),
        ({"generator": 'name = "template"\nmodel = "gpt-4o"'}, ["generator.model"]),
    ],
)
def test_validate_config_runs_every_check(tmp_path, sections, expected):
    cfg = config(tmp_path / "c.toml", **sections)
    text = bad(["validate", cfg], *expected)
    assert text.count("\n") == 1  # one line
    bad(["run", cfg, "--out", tmp_path / "out"], *expected)
    assert not (tmp_path / "out").exists()


def test_validate_tells_the_toml_kinds_apart(tmp_path):
    prompt = tmp_path / "prompt.toml"
    prompt.write_text('version = "1"\nsystem = "s"\nuser = "{sex:%}"\n')
    bad(["validate", prompt], str(prompt), "user", "{sex:%}")
    prompt.write_text('version = "1"\nsystem = "s"\n')
    bad(["validate", prompt], str(prompt), "user", "missing")
    other = tmp_path / "other.toml"
    other.write_text('title = "x"\n')
    bad(["validate", other], "not a run config", "prompt template")
    code, out = invoke("validate", config(tmp_path / "c.toml"))
    assert code == 0 and out.startswith(f"ok {tmp_path / 'c.toml'} (run config)\n")
    # then every resolved component: the key that chose it, its kind, plugin and version, its options
    assert "  generator.name: template [generator] from dualalign-core" in out
    assert "  annotator.name: lexicon [annotator] from dualalign-core" in out


def schedule_case(name: str):
    def overlap(d):
        d["stages"][1]["from_years"] = 2

    def sums(d):
        d["note_types"]["by_stage"]["early"]["neurology"] = 0.9

    def cats(d):
        d["category_proportions"]["by_stage"]["prodromal"]["motor_symptoms"] = 0.5

    def minmax(d):
        d["notes_per_patient"].update(min=30, max=10)

    def visits(d):
        d["visit_weights_by_year"][1]["from_years"] = 3

    def stage(d):
        d["mentions_per_note"]["by_stage"]["late"] = 1.0

    return {
        "overlap": (overlap, "stages[1]"),
        "sums": (sums, "note_types.by_stage.early"),
        "cats": (cats, "category_proportions.by_stage.prodromal"),
        "minmax": (minmax, "notes_per_patient.min"),
        "visits": (visits, "visit_weights_by_year[1]"),
        "stage": (stage, "mentions_per_note.by_stage.late"),
    }[name]


@pytest.mark.parametrize("case", ["overlap", "sums", "cats", "minmax", "visits", "stage"])
def test_lone_and_packed_schedule_checks(tmp_path, case):
    change, field = schedule_case(case)
    pack = pack_copy(tmp_path)
    edit_json(pack / "schedule.json", change)
    bad(["validate", pack / "schedule.json"], "schedule.json", field)
    refused_everywhere(tmp_path, pack, "schedule.json", field)


def test_lone_tables_of_the_toy_pack_are_valid():
    for name in ("demographics", "risk_factors", "lexicon", "schedule"):
        assert invoke("validate", TOY_PACK / f"{name}.json")[0] == 0


def test_lone_lexicon_and_risk_factor_checks(tmp_path):
    pack = pack_copy(tmp_path)
    edit_json(pack / "lexicon.json", lambda d: d["terms"].append(dict(d["terms"][0])))
    bad(["validate", pack / "lexicon.json"], "lexicon.json", "terms[6].id", "duplicate")
    edit_json(pack / "risk_factors.json", lambda d: d["factors"].append(dict(d["factors"][0])))
    bad(["validate", pack / "risk_factors.json"], "risk_factors.json", "duplicate factor")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(negative_label="motor_symptoms"), "negative_label"),
        (lambda d: d.update(label_precedence=["motor_symptoms"]), "label_precedence"),
        (lambda d: d.update(label_precedence=["motor_symptoms", "nonmotor_symptoms", "none"]), "label_precedence"),
        (lambda d: d["label_descriptions"].update(tremor="x"), "label_descriptions.tremor"),
    ],
)
def test_pack_manifest_checks(tmp_path, change, field):
    pack = pack_copy(tmp_path)
    edit_json(pack / "disease.json", change)
    refused_everywhere(tmp_path, pack, "disease.json", field)
