"""Component options are declared once: each default is the options schema's ``default``, ``self.options`` holds
it, ``plugins --options`` shows it, and a run config's value replaces it. Defaults computed from other options
or from the role stay in code, are listed here, and have no schema default (the schema's description says so)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dualalign_core.cli import app
from dualalign_core.components import COMPONENT_KINDS, schema_defaults
from dualalign_core.llm.backend import RUNTIME_OPTIONS
from dualalign_core.plugins import get_registry

ROOT = Path(__file__).resolve().parents[1]
LITERAL = re.compile(r"""\s*(?:-?\d|["'\[({]|True\b|False\b|None\b)""")
# options.get("x", DEFAULT) / .option("x", DEFAULT) / options.get("x") or DEFAULT (another option is no default)
READ = re.compile(
    r"""(?:\boptions\.get|\.option)\(\s*["'](\w+)["']\s*"""
    r"""(?:,(?P<default>[^)\n]*)\)|\)\s*or\s+(?!self\.option|options\.get)(?P<fallback>[^\n]*))"""
)


def _runtime() -> dict[str, Any]:
    return RUNTIME_OPTIONS


def _template(path: str):  # noqa: ANN202 - the options schema a scaffold template's class declares
    def props() -> dict[str, Any]:
        import ast
        import re

        tree = ast.parse(re.sub(r"\{\{\w+\}\}", "X", (ROOT / path).read_text()))
        node = next(
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "options_schema"
        )
        return ast.literal_eval(node.value)["properties"]

    return props


def _schema(module: str, cls: str):  # noqa: ANN202 - a lazy lookup of a component's schema properties
    def props() -> dict[str, Any]:
        import importlib

        return getattr(importlib.import_module(module), cls).options_schema["properties"]

    return props


# the dynamic defaults kept in code: (file, option) -> where the option's schema property is
DYNAMIC = {
    ("dualalign_core/llm/annotator.py", "temperature"): _runtime,  # by role: 0 annotating
    ("dualalign_core/llm/annotator.py", "max_tokens"): _runtime,  # 64 + 48 per sentence, or 128 per sentence
    ("dualalign_core/llm/generator.py", "temperature"): _runtime,  # by role: 0.7 generating
    ("dualalign_core/llm/generator.py", "max_tokens"): _runtime,  # by role: 1024 generating
    ("dualalign_core/llm/backend.py", "model"): _runtime,  # the backend's default_model
    ("dualalign_core/llm/backend.py", "api_key_env"): _runtime,  # the backend's api_key_env
    ("dualalign_core/llm/settings.py", "concurrency"): _runtime,  # the backend's concurrency attribute
    ("dualalign_core/sampling/trajectory.py", "notes"):  # drawn per patient from the pack's schedule
    _schema("dualalign_core.sampling.trajectory", "StageScheduleSampler"),
    ("dualalign_core/sampling/uniform.py", "notes"): _schema("dualalign_core.sampling.uniform", "UniformSampler"),
    ("dualalign_core/scaffold/templates/backend/__module__/backend.py.tmpl", "base_url"): _runtime,
    ("dualalign_core/scaffold/templates/persona/__module__/__init__.py.tmpl", "table"):  # the packaged CSV
    _template("dualalign_core/scaffold/templates/persona/__module__/__init__.py.tmpl"),
    ("plugins/dualalign-local/dualalign_local/backend.py", "concurrency"):  # the batch size
    _schema("dualalign_local.backend", "LocalBackend"),
    ("plugins/dualalign-openai/dualalign_openai/backend.py", "token_param"):  # max_tokens with a base_url
    _schema("dualalign_openai.backend", "OpenAIBackend"),
    ("plugins/dualalign-openai/dualalign_openai/backend.py", "azure_deployment"):  # the model
    _schema("dualalign_openai.backend", "OpenAIBackend"),
    ("plugins/dualalign-openai/dualalign_openai/backend.py", "api_version"):  # Azure's GA version when written
    _schema("dualalign_openai.backend", "OpenAIBackend"),
    ("plugins/dualalign-gemini/dualalign_gemini/backend.py", "project"):  # GOOGLE_CLOUD_PROJECT
    _schema("dualalign_gemini.backend", "GeminiBackend"),
}


def _sources() -> list[Path]:
    files = [*(ROOT / "dualalign_core").rglob("*.py"), *(ROOT / "dualalign_core").rglob("*.py.tmpl")]
    for plugin in sorted((ROOT / "plugins").iterdir()):
        files += [p for p in plugin.rglob("*.py") if "tests" not in p.relative_to(plugin).parts]
    return sorted(files)


def test_no_literal_option_default_in_code() -> None:
    literal, dynamic = [], set()
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for m in READ.finditer(path.read_text(encoding="utf-8")):
            default = m.group("default") if m.group("default") is not None else m.group("fallback")
            if LITERAL.match(default):
                literal.append(f"{rel}: {m.group(0).strip()}")
            else:
                dynamic.add((rel, m.group(1)))
    assert not literal, "put these defaults in the options schema:\n" + "\n".join(literal)
    assert dynamic == set(DYNAMIC), "a computed default not listed (or a listed one gone): " + str(
        sorted(dynamic ^ set(DYNAMIC))
    )


@pytest.mark.parametrize(("where", "option"), sorted(DYNAMIC))
def test_dynamic_defaults_have_no_schema_default_and_say_so(where: str, option: str) -> None:
    prop = DYNAMIC[(where, option)]()[option]
    assert "default" not in prop and prop.get("description"), (where, option, prop)


def _registered() -> list[tuple[str, str, type]]:
    registry = get_registry()
    return [
        (kind, name, cls)
        for kind in sorted(registry.components)
        if kind in COMPONENT_KINDS
        for name, cls in sorted(registry.components[kind].items())
    ]


def _minimal(kind: str, cls: type, tmp_path: Path) -> dict[str, Any]:
    """The required options, with values that need no external resource at construction."""
    required = cls.options_schema.get("required", [])  # type: ignore[attr-defined]
    given: dict[str, Any] = {}
    if "model_dir" in required:  # the classifier annotator checks the directory holds a trained model's meta
        (tmp_path / "dualalign-model.json").write_text("{}")
        given["model_dir"] = str(tmp_path)
    if "model" in required:  # trainers load the model when they train, not when they are built
        given["model"] = "some-checkpoint"
    assert set(required) <= set(given), f"{kind} {cls}: give a minimal value for {required}"
    return given


@pytest.mark.parametrize(("kind", "name", "cls"), _registered(), ids=lambda v: v if isinstance(v, str) else "")
def test_constructed_component_holds_every_schema_default(kind: str, name: str, cls: type, tmp_path: Path) -> None:
    given = _minimal(kind, cls, tmp_path)
    try:
        component = cls(**given)
    except (ImportError, FileNotFoundError) as exc:  # e.g. the local backend without its bundled model
        pytest.skip(f"{name}: {exc}")
    defaults = schema_defaults(cls.options_schema)  # type: ignore[attr-defined]
    assert component.options == defaults | given
    if kind == "llm_backend":  # its runtime's settings are the schema's
        from dualalign_core.llm.settings import RuntimeSettings

        settings = RuntimeSettings.from_options(component.options, component.concurrency)
        for key in ("max_attempts", "backoff_initial", "backoff_max", "batch", "batch_size", "batch_poll_s"):
            assert getattr(settings, key) == defaults[key]


def test_defaults_are_copies() -> None:
    from dualalign_core.filters.temporal import TemporalRegressionFilter

    first = TemporalRegressionFilter()
    first.options["regress_assertions"].append("negated")
    assert TemporalRegressionFilter().options["regress_assertions"] == ["historical"]


def test_plugins_options_prints_the_schema_defaults() -> None:
    shown = CliRunner().invoke(app, ["plugins", "--options", "near_duplicate"])
    assert shown.exit_code == 0, shown.output
    (doc,) = json.loads(shown.output)
    assert doc["defaults"] == {"threshold": 0.8, "shingle_size": 3, "num_perm": 128}
    assert doc["options_schema"]["properties"]["threshold"]["default"] == 0.8
    (lengths,) = json.loads(CliRunner().invoke(app, ["plugins", "--options", "length_form"]).output)
    assert lengths["defaults"]["min_words"] == 40 and lengths["defaults"]["max_words"] == 1000


CONFIG = """
[run]
seed = 5
patients = 2
max_notes_per_patient = 2
[disease]
name = "alzheimers"
[generator]
name = "template"
[annotator]
name = "plan"
[filters]
use = ["length_form"]
warn = ["length_form"]
"""


def _warnings(tmp_path: Path, name: str, filters_extra: str) -> list[dict[str, Any]]:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(CONFIG + filters_extra)
    runner = CliRunner()
    ran = runner.invoke(app, ["run", str(cfg), "--out", str(tmp_path / name), "-q"])
    assert ran.exit_code == 0, ran.output
    out = tmp_path / f"{name}-export"
    exported = runner.invoke(app, ["export", str(tmp_path / name), "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    notes = [json.loads(line) for line in (out / "notes.jsonl").read_text().splitlines()]
    assert notes and all(n["status"] == "accepted" for n in notes)  # warn only: recorded, never rejected
    return [json.loads(line) for line in (out / "rejections.jsonl").read_text().splitlines()]


def test_a_config_option_replaces_the_schema_default(tmp_path: Path) -> None:
    assert _warnings(tmp_path, "default", "") == []  # template notes are within 40..1000 words
    flagged = _warnings(tmp_path, "strict", "options = {length_form = {min_words = 5000}}\n")
    assert flagged and all(r["filter"] == "length_form" and r["threshold"] == 5000 for r in flagged)
