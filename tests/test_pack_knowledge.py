"""The pack is the only source of disease knowledge, and the core's pack checks are its one definition.

A data-only pack (``tests/data/toy_pack_no_symptom``) whose negative label is ``no_symptom``, with a third-party
label, a male-only and an age-band-only term, and a ``medications`` demographic variable the prompt uses, goes
through the real CLI: ``run`` (offline template generator, and an LLM generator on a loopback server), ``export``,
``validate``; the training data a run gives is read as ``train`` reads it.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dualalign_core import cli
from dualalign_core.disease import DiseasePack, installed_pack_name
from dualalign_core.errors import BadInput
from dualalign_core.llm.generator import prompt_fields
from dualalign_core.records import NotePlan, Persona, Provenance, RequiredTerm

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "tests" / "data" / "toy_pack_no_symptom"
AD_WORDS = re.compile(r"alzheimer|dementia|cognitive|cognition|memory|forget|donepezil|notice_by_others", re.I)


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    """Messages are asserted whole: no wrapping by the console."""
    monkeypatch.setattr(cli.console, "width", 10_000)
    monkeypatch.setattr(cli.out, "width", 10_000)


def invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def write_config(path: Path, pack: Path = PACK, **sections: str) -> Path:
    doc = {
        "run": "seed = 5\npatients = 12",
        "disease": f'path = "{pack.as_posix()}"',
        "trajectory": "multiplier = 3",
        "generator": 'name = "template"',
        "annotator": 'name = "plan"',
    }
    doc.update(sections)
    path.write_text("".join(f"[{k}]\n{v}\n\n" for k, v in doc.items()))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def template_run(tmp_path_factory) -> Path:
    """One offline run of the toy pack through ``dualalign run``, exported as JSONL."""
    tmp = tmp_path_factory.mktemp("pack-knowledge")
    runner = CliRunner()
    cfg = write_config(tmp / "run.toml")
    result = runner.invoke(cli.app, ["run", str(cfg), "--out", str(tmp / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli.app, ["export", str(tmp / "run"), "--format", "jsonl", "--out", str(tmp / "export")])
    assert result.exit_code == 0, result.output
    return tmp


def test_template_run_writes_and_labels_in_the_packs_terms_only(template_run):
    export = template_run / "export"
    sentences = read_jsonl(export / "sentences.jsonl")
    labels = read_jsonl(export / "labels.jsonl")
    assert len(sentences) > 100
    assert [s["text"] for s in sentences if AD_WORDS.search(s["text"])] == []
    found = {lab["label"] for lab in labels}
    assert found == {"no_symptom", "motor_symptoms", "nonmotor_symptoms", "reported_by_family"}
    assert all(lab["binary"] == (lab["label"] != "no_symptom") for lab in labels)
    # the note-type titles of the pack open the notes
    assert any(s["text"].startswith("General practice visit: ") for s in sentences)


def test_the_binary_task_of_a_run_has_both_classes_and_the_packs_negative_label(template_run):
    from dualalign_core.training import run_examples, task_view

    examples, labels = run_examples(template_run / "run")
    assert labels[0] == "no_symptom" and "none" not in labels
    binary, space = task_view(examples, labels, "binary")
    assert len(space) == 2 and space[0] == "no_symptom"
    counts = {name: sum(e.label == name for e in binary) for name in space}
    assert all(n > 20 for n in counts.values()), counts


def test_applies_to_keeps_terms_off_personas_they_do_not_fit(template_run):
    export = template_run / "export"
    personas = {p["id"]: p["demographics"] for p in read_jsonl(export / "personas.jsonl")}
    planned: dict[str, set[tuple[str, str]]] = {"erectile_dysfunction": set(), "tremor_at_work": set()}
    for plan in read_jsonl(export / "plans.jsonl"):
        demo = personas[plan["persona_id"]]
        for term in plan["required_terms"]:
            if term["term_id"] in planned:
                planned[term["term_id"]].add((demo["sex"], demo["age_band"]))
    assert {sex for sex, _ in planned["erectile_dysfunction"]} == {"male"}
    assert {band for _, band in planned["tremor_at_work"]} == {"50-64"}
    assert {sex for sex, _ in planned["tremor_at_work"]} == {"female", "male"}  # sex does not restrict it


def test_the_lexicon_annotator_uses_the_packs_third_party_label_and_negative_label(tmp_path):
    cfg = write_config(tmp_path / "lex.toml", run="seed = 5\npatients = 4", annotator='name = "lexicon"')
    assert invoke("run", cfg, "--out", tmp_path / "run", "--quiet")[0] == 0
    assert invoke("export", tmp_path / "run", "--format", "jsonl", "--out", tmp_path / "x")[0] == 0
    labels = {lab["label"] for lab in read_jsonl(tmp_path / "x" / "labels.jsonl")}
    assert "no_symptom" in labels and "none" not in labels
    assert labels <= {"no_symptom", "motor_symptoms", "nonmotor_symptoms", "reported_by_family"}
    assert "reported_by_family" in labels  # the reporter rule fires for the pack's third_party_label


def test_an_llm_prompt_renders_every_demographic_variable_with_its_title(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "tests" / "llm"))
    from fakeserver import FakeLLMServer

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-pack-knowledge")
    srv = FakeLLMServer().start()
    try:
        cfg = write_config(
            tmp_path / "llm.toml",
            run="seed = 2\npatients = 3\nmax_notes_per_patient = 2",
            generator=f'name = "openai"\nmodel = "gpt-4o"\noptions = {{ base_url = "{srv.url}/v1" }}',
            annotator='name = "lexicon"',
            filters="use = []",
        )
        code, text = invoke("run", cfg, "--out", tmp_path / "run", "--quiet")
        assert code == 0, text
        prompts = [m["content"] for _, body in srv.bodies for m in body["messages"] if m["role"] == "user"]
    finally:
        srv.stop()
    assert prompts
    for prompt in prompts:
        assert "{" not in prompt
        assert re.search(
            r"Current medications: (carbidopa-levodopa 25/100 mg three times daily|no regular "
            r"medications)\.",
            prompt,
        ), prompt
        assert re.search(r"\((motor sign|non-motor sign|family report)\)", prompt) or "- none" in prompt


def _pack_with(tmp_path: Path, prompt_line: str, persona_fields: list[str] | None) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    prompt = pack / "prompt.toml"
    prompt.write_text(prompt.read_text().replace("Use SOAP headers.", prompt_line + " Use SOAP headers."))
    if persona_fields is not None:
        doc = json.loads((pack / "disease.json").read_text())
        doc["persona_fields"] = persona_fields
        (pack / "disease.json").write_text(json.dumps(doc))
    return pack


def test_a_persona_extra_declared_by_the_pack_renders_and_a_missing_one_names_the_prompt(tmp_path):
    pack = _pack_with(tmp_path, "Dispensing pharmacy: {pharmacy}.", ["pharmacy"])
    assert invoke("validate", pack)[0] == 0
    disease = DiseasePack.from_directory(pack)
    prov = Provenance(run_id="r", seed=1, component="test", plugin="tests", plugin_version="0")
    plan = NotePlan(
        id="p0-n000",
        persona_id="p0",
        index=0,
        years_before_diagnosis=2.0,
        note_type="neurology",
        stage="early",
        n_mentions=1,
        required_terms=(RequiredTerm("motor_symptoms", "micrographia", "micrographia"),),
        provenance=prov,
    )
    demographics = {"age_band": "65-79", "sex": "male", "medications": "levodopa"}
    extra = Persona(
        id="p0",
        age=70,
        demographics={**demographics, "pharmacy": "the hospital outpatient pharmacy"},
        risk_factors=(),
        provenance=prov,
    )
    _, user = disease.prompt.render(prompt_fields(plan, extra, disease))
    assert "Dispensing pharmacy: the hospital outpatient pharmacy." in user
    assert "movement clinic consult" in user and "carbidopa-levodopa" in user and "(motor sign)" in user
    without = Persona(id="p0", age=70, demographics=demographics, risk_factors=(), provenance=prov)
    with pytest.raises(BadInput) as err:
        disease.prompt.render(prompt_fields(plan, without, disease))
    assert err.value.file == str(pack / "prompt.toml") and "pharmacy" in str(err.value)


def test_an_undeclared_prompt_field_is_refused_naming_the_prompt_file_and_the_field(tmp_path):
    pack = _pack_with(tmp_path, "Dispensing pharmacy: {pharmacy}.", None)
    code, text = invoke("validate", pack)
    assert code == 2
    assert str(pack / "prompt.toml") in text and "{pharmacy}" in text and "medications" in text  # allowed list


def _edit(pack: Path, name: str, change) -> None:
    doc = json.loads((pack / name).read_text())
    change(doc)
    (pack / name).write_text(json.dumps(doc))


def _first(doc: dict, term_id: str) -> dict:
    return next(t for t in doc["terms"] if t["id"] == term_id)


TYPOS = {
    "label_precedence": (
        "disease.json",
        lambda d: d["label_precedence"].__setitem__(0, "reported_by_famly"),
        "label_precedence",
    ),
    "stage_titles": ("disease.json", lambda d: d["stage_titles"].update(erly="early"), "stage_titles.erly"),
    "label_descriptions": (
        "disease.json",
        lambda d: d["label_descriptions"].update(motor="x"),
        "label_descriptions.motor",
    ),
    "label_titles": ("disease.json", lambda d: d["label_titles"].update(none="no finding"), "label_titles.none"),
    "third_party_label": ("disease.json", lambda d: d.update(third_party_label="family"), "third_party_label"),
    "note_type_titles": (
        "disease.json",
        lambda d: d["note_type_titles"].update(neurolgy="x"),
        "note_type_titles.neurolgy",
    ),
    "demographic_titles variable": (
        "disease.json",
        lambda d: d["demographic_titles"].update(drugs={}),
        "demographic_titles.drugs",
    ),
    "demographic_titles category": (
        "disease.json",
        lambda d: d["demographic_titles"]["medications"].update(ldopa="x"),
        "demographic_titles.medications.ldopa",
    ),
    "applies_to variable": (
        "lexicon.json",
        lambda d: _first(d, "erectile_dysfunction").update(applies_to={"gender": ["male"]}),
        "terms[5].applies_to.gender",
    ),
    "applies_to category": (
        "lexicon.json",
        lambda d: _first(d, "erectile_dysfunction").update(applies_to={"sex": ["men"]}),
        "terms[5].applies_to.sex",
    ),
    "reporter_cues": ("lexicon.json", lambda d: d.update(reporter_cues=["shak(\\w*"]), "reporter_cues[0]"),
    "persona_fields": ("disease.json", lambda d: d.update(persona_fields=["stage"]), "persona_fields[0]"),
    "unsourced number": ("schedule.json", lambda d: d.pop("years_before_diagnosis_source"), "years_before_diagnosis"),
    "duplicate phrase": (
        "lexicon.json",
        lambda d: _first(d, "constipation")["variants"].append("hyposmia"),
        "terms[4].variants[0]",
    ),
}


@pytest.mark.parametrize("case", sorted(TYPOS))
def test_pack_typos_are_refused_naming_the_file_and_the_field(tmp_path, case):
    name, change, field = TYPOS[case]
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    _edit(pack, name, change)
    code, text = invoke("validate", pack)
    assert code == 2, text
    assert f"{pack / name}: {field}" in text, text


def test_the_default_disease_is_the_one_installed_pack():
    assert installed_pack_name(None, ["only_pack"]) == "only_pack"
    assert installed_pack_name("named", ["a", "b"]) == "named"
    with pytest.raises(BadInput) as err:
        installed_pack_name(None, ["b_pack", "a_pack"])
    assert err.value.field == "--disease" and "a_pack, b_pack" in str(err.value)


def test_annotate_takes_the_one_installed_pack_and_exits_2_without_one(tmp_path, monkeypatch):
    from dualalign_core.plugins import get_registry

    texts = tmp_path / "in.jsonl"
    texts.write_text('{"text": "Pt reports resting tremor."}\n')
    installed = get_registry().names("disease")
    if len(installed) == 1:
        code, text = invoke("annotate", texts, "--out", tmp_path / "one.jsonl")
        assert code == 0, text
        pack = get_registry().get("disease", installed[0])
        assert read_jsonl(tmp_path / "one.jsonl")[0]["label"] in pack.all_labels
    monkeypatch.setenv("DUALALIGN_PLUGINS", "core")
    get_registry(reload=True)
    try:
        code, text = invoke("annotate", texts, "--out", tmp_path / "out.jsonl")
    finally:
        monkeypatch.delenv("DUALALIGN_PLUGINS")
        get_registry(reload=True)
    assert code == 2 and "--disease" in text and "no disease pack is installed" in text


PACK_SCHEMAS = ("disease-pack", "demographics", "risk-factors", "lexicon", "schedule", "grammar")


@pytest.mark.parametrize("name", PACK_SCHEMAS)
def test_pack_schemas_are_2020_12_and_close_every_object(name):
    """Each pack schema declares draft 2020-12 and its id, describes itself, and every object schema says what
    else it allows (``additionalProperties``), so a misspelt key is an error, never silently ignored."""
    from jsonschema import Draft202012Validator

    schema = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://dualalign.dev/schemas/{name}.schema.json"
    assert schema.get("description")
    open_objects: list[str] = []

    def visit(node, path):
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                open_objects.append("/".join(path))
            for k, v in node.items():
                visit(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                visit(v, (*path, str(i)))

    visit(schema, ())
    assert open_objects == []
