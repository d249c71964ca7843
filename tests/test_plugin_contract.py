"""The plugin contract (API 1.0): public face, API ranges, checked registration, namespaced names, opt-in filters.

The fixture plugins are real distributions under tests/fixtures/, pip-installed together once; the CLI finds
them through their entry points like a user's installation would.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dualalign_core import API_VERSION, hookspecs
from dualalign_core.errors import BadInput
from dualalign_core.plugins import GROUP, PluginInfo, Registry, add_plugin, load_registry, new_manager
from support import FIXTURES, ROOT, TOY_PACK, cli_env, dualalign, pip_install_target

CONTRACT_FIXTURES = [
    "dualalign_testkit",
    "dualalign_misspelt",
    "dualalign_clash_a",
    "dualalign_clash_b",
    "dualalign_optin",
    "dualalign_twin",
    "dualalign_incompatible",
    "dualalign_wrongbase",
]
CORE_FILTERS = [
    "consistency",
    "copy_forward",
    "identifiers",
    "length_form",
    "near_duplicate",
    "plan_adherence",
    "temporal_coherence",
    "temporal_regression",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every contract fixture plugin, pip-installed into one target directory."""
    target = tmp_path_factory.mktemp("contract-site")
    pip_install_target(target, *(str(FIXTURES / name) for name in CONTRACT_FIXTURES))
    return target


@pytest.fixture(scope="module")
def everything(site: Path) -> dict[str, dict]:
    """``dualalign plugins --json`` with every fixture plugin installed."""
    return listed(site)


def listed(site: Path, **env: str) -> dict[str, dict]:
    """``dualalign plugins --json`` rows by plugin name (a duplicate entry point under ``name:distribution``)."""
    result = dualalign("plugins", "--json", env=cli_env(site, **env))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    return {p["name"] if p["status"] != "duplicate" else f"{p['name']}:{p['distribution']}": p for p in rows}


def config(path: Path, use: list[str]) -> Path:
    """A toy-pack run with the core's generator and annotator and the given filters."""
    path.write_text(
        f"[run]\nseed = 3\npatients = 2\nmax_notes_per_patient = 2\n\n[disease]\n"
        f'path = "{TOY_PACK.as_posix()}"\n\n[trajectory]\nmultiplier = 2\n\n'
        f"[filters]\nuse = {json.dumps(use)}\n"
    )
    return path


# -- through the CLI ------------------------------------------------------------------------------------
def test_plugins_lists_each_contract_breach_with_its_reason(everything):
    p = everything
    assert p["misspelt"]["status"] == "broken"
    assert "unknown hook 'register_filter'" in p["misspelt"]["error"]
    assert "did you mean 'register_filters'" in p["misspelt"]["error"]
    assert p["misspelt"]["components"] == {}

    assert p["wrongbase"]["status"] == "broken" and p["wrongbase"]["components"] == {}  # its valid filter too
    assert "'fake': NotABackend is not a subclass of dualalign_core.llm.backend.LLMBackend" in p["wrongbase"]["error"]

    assert p["incompatible"]["status"] == "incompatible" and p["incompatible"]["components"] == {}
    assert p["incompatible"]["api"] == ">=2"
    assert ">=2" in p["incompatible"]["error"] and f"API {API_VERSION}" in p["incompatible"]["error"]

    twin = p["optin:dualalign-twin"]
    assert twin["status"] == "duplicate" and twin["components"] == {}
    assert "dualalign-optin" in twin["error"] and "dualalign-twin" in twin["error"]
    assert p["optin"]["status"] == "ok" and p["optin"]["components"] == {"filter": ["shout"]}

    assert p["testkit"]["status"] == "ok" and p["testkit"]["api"] is None
    assert any("declares no DUALALIGN_API" in note for note in p["testkit"]["notes"])
    assert p["core"]["api"] == f"=={API_VERSION}" and p["core"]["notes"] == p["core"]["problems"] == []


def test_a_name_clash_rejects_only_the_bare_name_and_names_both_plugins(everything):
    p = everything
    assert p["clash_a"]["status"] == p["clash_b"]["status"] == "ok"
    assert p["clash_a"]["components"] == {"filter": ["clash_a:dedupe", "only_a"]}
    assert p["clash_b"]["components"] == {"filter": ["clash_b:dedupe", "only_b"]}
    (problem,) = p["clash_b"]["problems"]
    assert "'dedupe'" in problem and "'clash_a'" in problem
    assert "'clash_a:dedupe'" in problem and "'clash_b:dedupe'" in problem
    assert p["clash_a"]["problems"] == []


def test_plugins_table_shows_api_versions_and_status(site):
    result = dualalign("plugins", env=cli_env(site, DUALALIGN_PLUGINS="incompatible,misspelt"))
    assert result.returncode == 0, result.stderr
    assert f"API {API_VERSION}" in result.stdout
    assert "incompatible" in result.stdout and ">=2" in result.stdout
    assert "register_filter" in result.stdout


def test_ambiguous_bare_name_in_a_run_is_exit_2_naming_the_candidates(site, tmp_path):
    result = dualalign(
        "run", str(config(tmp_path / "c.toml", ["dedupe"])), "--out", str(tmp_path / "run"), "--quiet", site=site
    )
    assert result.returncode == 2, result.stderr
    assert "filters.use[0]" in result.stderr and "ambiguous" in result.stderr
    assert "'clash_a:dedupe'" in result.stderr and "'clash_b:dedupe'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_qualified_names_and_the_clashing_plugins_other_components_run(site, tmp_path):
    run = tmp_path / "run"
    result = dualalign(
        "run", str(config(tmp_path / "c.toml", ["clash_b:dedupe", "only_a"])), "--out", str(run), "--quiet", site=site
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    used = {f["name"]: (f["plugin"], f["plugin_version"]) for f in manifest["filters"]}
    assert used == {"clash_b:dedupe": ("dualalign-clash-b", "2.3.0"), "only_a": ("dualalign-clash-a", "1.2.0")}
    assert manifest["counts"]["units"] == {"rejected": manifest["counts"]["plans"]}  # only_a rejects every note


def test_an_incompatible_plugins_components_are_not_available(site, tmp_path):
    result = dualalign(
        "run", str(config(tmp_path / "c.toml", ["future"])), "--out", str(tmp_path / "run"), "--quiet", site=site
    )
    assert result.returncode == 2, result.stderr
    assert "unknown filter 'future'" in result.stderr and "filters.use[0]" in result.stderr


def test_exclusion_with_a_minus_name(site):
    p = listed(site, DUALALIGN_PLUGINS="-clash_b,-dualalign-misspelt")
    assert "clash_b" not in p and "misspelt" not in p
    assert p["clash_a"]["components"] == {"filter": ["dedupe", "only_a"]}  # unique again: the bare name is back
    assert p["clash_a"]["problems"] == []
    only = listed(site, DUALALIGN_PLUGINS="clash_a,clash_b,-clash_b")  # allow-list and exclusion together
    assert set(only) == {"core", "clash_a"}


def test_the_core_cannot_be_excluded(site):
    result = dualalign("plugins", env=cli_env(site, DUALALIGN_PLUGINS="-core"))
    assert result.returncode == 2
    assert "DUALALIGN_PLUGINS" in result.stderr and "core" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("selection", "reason"),
    [
        ("misspelt", "unknown hook 'register_filter'"),
        ("wrongbase", "is not a subclass of"),
        ("incompatible", "supports DualAlign API >=2"),
        ("clash_a,clash_b", "the bare name is ambiguous"),
        ("optin", "entry point 'optin' of dualalign-twin"),
    ],
)
def test_strict_mode_fails_on_every_breach(site, selection, reason):
    result = dualalign("plugins", env=cli_env(site, DUALALIGN_PLUGINS=selection, DUALALIGN_STRICT_PLUGINS="1"))
    assert result.returncode == 2, result.stdout
    assert reason in result.stderr and "Traceback" not in result.stderr


# -- in process: the registry the CLI uses --------------------------------------------------------------
@pytest.fixture
def registry(site, monkeypatch) -> Registry:
    """The registry from the core's and the installed fixtures' entry points."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("DUALALIGN_PLUGINS", raising=False)
    monkeypatch.delenv("DUALALIGN_STRICT_PLUGINS", raising=False)
    core = [ep for ep in md.entry_points(group=GROUP) if ep.name == "core"]
    theirs = [ep for dist in md.distributions(path=[str(site)]) for ep in dist.entry_points if ep.group == GROUP]
    return load_registry(sorted(core + theirs, key=lambda ep: (ep.name != "core", ep.name, ep.dist.name)))


def test_broken_and_incompatible_plugins_register_nothing(registry):
    for plugin, name in (("incompatible", "future"), ("wrongbase", "wb-fine"), ("misspelt", "nothing")):
        assert registry.plugins[plugin].status in ("incompatible", "broken")
        assert registry.lookup("filter", name) is None and registry.lookup("filter", f"{plugin}:{name}") is None
    assert registry.lookup("llm_backend", "fake") is None


def test_third_party_filters_are_opt_in(registry):
    assert set(registry.names("filter")) >= {"shout", "only_a", "short-note", "clash_a:dedupe"}
    assert registry.default_filters() == CORE_FILTERS


def test_registry_resolves_names_and_reports_plugin_and_version(registry):
    ref = registry.ref("filter", "clash_a:dedupe")
    assert (ref.name, ref.plugin, ref.distribution, ref.version) == (
        "clash_a:dedupe",
        "clash_a",
        "dualalign-clash-a",
        "1.2.0",
    )
    assert registry.ref("filter", "only_b").qualified == "clash_b:only_b"
    core = registry.ref("filter", "core:near_duplicate")
    assert (core.name, core.plugin, core.distribution) == ("near_duplicate", "core", "dualalign-core")
    with pytest.raises(BadInput, match=r"filters\.use\[2\].*'clash_a:dedupe', 'clash_b:dedupe'"):
        registry.create("filter", "dedupe", field_path="filters.use[2]", name_field="filters.use[2]")
    built = registry.create("filter", "clash_b:dedupe")
    assert (built.name, built.plugin) == ("clash_b:dedupe", "dualalign-clash-b")


class _CoreNameSquatter:
    """A plugin object registering a filter under a core filter's name."""

    @staticmethod
    @hookspecs.hookimpl
    def register_filters(register):
        from dualalign_core.api import Filter

        class Squat(Filter):
            def check(self, bundle, ctx):
                return None

        register("near_duplicate", Squat)


def test_the_cores_bare_names_stay_the_cores(registry):
    pm = new_manager()
    info = PluginInfo(name="squatter", distribution="squatter", version="6.6.6")
    add_plugin(pm, registry, info, lambda: _CoreNameSquatter)
    registry.settle()
    assert info.status == "ok" and info.components == {"filter": ["squatter:near_duplicate"]}
    assert "stays the core's" in info.problems[0]
    assert registry.ref("filter", "near_duplicate").plugin == "core"
    assert registry.ref("filter", "squatter:near_duplicate").version == "6.6.6"


class _DeprecatedSpecs:
    """A test-only hookspec, deprecated the way the core deprecates a hook."""

    @staticmethod
    @hookspecs.deprecated("register_widgets is deprecated since API 1.1; use register_filters")
    def register_widgets(register):
        """Register widgets."""


class _UsesDeprecatedHook:
    @staticmethod
    @hookspecs.hookimpl
    def register_widgets(register):
        pass


def test_a_deprecated_hook_still_loads_with_a_note():
    registry = Registry()
    info = PluginInfo(name="old", distribution="dualalign-old", version="1.0")
    add_plugin(new_manager(_DeprecatedSpecs), registry, info, lambda: _UsesDeprecatedHook)
    assert info.status == "ok"
    assert info.notes[-1] == ("DeprecationWarning: register_widgets is deprecated since API 1.1; use register_filters")


# -- the public face ------------------------------------------------------------------------------------
def test_public_face_exports_resolve_and_import_no_heavy_module():
    code = (
        "import sys, dualalign_core.api as api\n"
        "heavy = {'openai', 'anthropic', 'torch', 'transformers', 'datasketch', 'numpy', 'jsonschema'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
        "print(all(hasattr(api, n) for n in api.__all__), api.API_VERSION)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", f"True {API_VERSION}"]
    assert (ROOT / "dualalign_core" / "py.typed").is_file()


def test_in_repo_plugins_import_only_the_public_face():
    offenders = []
    for path in sorted((ROOT / "plugins").glob("*/dualalign_*/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                # the API, and the public test kit (a vendor plugin's loopback stub extends its fake server)
                if n.split(".")[0] == "dualalign_core" and n not in ("dualalign_core.api", "dualalign_core.testing")
            ]
    assert offenders == []


# -- the resolved pipeline is part of the run ---------------------------------------------------------------
def _optin_site(tmp_path: Path, version: str) -> Path:
    """The opt-in filter fixture installed at ``version`` (as if upgraded in place)."""
    src = tmp_path / f"src-{version}"
    subprocess.run(["cp", "-r", str(FIXTURES / "dualalign_optin"), str(src)], check=True)
    for junk in ("build", "dualalign_optin.egg-info"):
        subprocess.run(["rm", "-rf", str(src / junk)], check=True)
    pyproject = src / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.4.0"', f'version = "{version}"'))
    target = tmp_path / f"site-{version}"
    pip_install_target(target, str(src))
    return target


def test_resume_across_a_plugin_upgrade_is_refused_with_the_difference(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[run]\nseed = 3\npatients = 1\nmax_notes_per_patient = 2\n\n"
        f'[disease]\npath = "{TOY_PACK.as_posix()}"\n\n[generator]\nname = "template"\n\n'
        '[annotator]\nname = "plan"\n\n[filters]\nuse = ["shout"]\n'
    )
    old, new = _optin_site(tmp_path, "0.4.0"), _optin_site(tmp_path, "0.5.0")
    run = tmp_path / "run"
    first = dualalign("run", str(cfg), "--out", str(run), "--quiet", site=old)
    assert first.returncode == 0, first.stderr
    manifest = json.loads((run / "manifest.json").read_text())
    res = dualalign("run", "--resume", "--out", str(run), "--quiet", site=new)
    assert res.returncode == 2, res.stderr
    err = " ".join(res.stderr.split())
    assert "resolved pipeline differs" in err and "filters.shout.version" in err
    assert "'0.5.0' now" in err and "'0.4.0' in the run" in err and "Traceback" not in err
    assert json.loads((run / "manifest.json").read_text()) == manifest  # nothing written
    again = dualalign("run", "--resume", "--out", str(run), "--quiet", site=old)  # the same pipeline resumes
    assert again.returncode == 0, again.stderr
    other = tmp_path / "other"
    assert dualalign("run", str(cfg), "--out", str(other), "--quiet", site=new).returncode == 0
    assert json.loads((other / "manifest.json").read_text())["run_id"] != manifest["run_id"]


def test_run_id_covers_each_components_plugin_version_and_options(tmp_path):
    from dualalign_core.config import load_config
    from dualalign_core.plugins import get_registry
    from dualalign_core.run.build import build_components, resolved_pipeline
    from dualalign_core.run.resume import run_id_for

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[run]\nseed = 3\npatients = 1\n\n[disease]\npath = "{TOY_PACK.as_posix()}"\n\n'
        '[generator]\nname = "template"\n\n[annotator]\nname = "plan"\n'
    )
    config = load_config(cfg)
    pipeline = resolved_pipeline(build_components(config, get_registry()))
    assert {"disease", "personas", "trajectory", "generator", "annotator", "filters"} <= set(pipeline)
    assert set(pipeline["filters"]) == set(CORE_FILTERS)  # the core's filters are on by default
    base = run_id_for(config, pipeline)
    assert run_id_for(config, pipeline) == base
    bumped = json.loads(json.dumps(pipeline))
    bumped["generator"]["version"] = "9.9"
    assert run_id_for(config, bumped) != base
    other_opts = json.loads(json.dumps(pipeline))
    other_opts["filters"]["identifiers"]["options"] = {"x": 1}
    assert run_id_for(config, other_opts) != base


def test_a_filter_spelled_plugin_colon_name_takes_its_options_and_warn_mode(tmp_path):
    """``[filters]`` may name a filter qualified (``core:length_form``) in ``use``, ``warn`` and ``options``."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[run]\nseed = 3\npatients = 1\nmax_notes_per_patient = 3\n\n[disease]\npath = "{TOY_PACK.as_posix()}"\n\n'
        '[generator]\nname = "template"\n\n[annotator]\nname = "plan"\n\n[filters]\nuse = ["core:length_form"]\n'
        'warn = ["core:length_form"]\noptions = { "core:length_form" = { min_words = 5000 } }\n'
    )
    run = tmp_path / "run"
    assert dualalign("run", str(cfg), "--out", str(run), "--quiet").returncode == 0
    assert dualalign("export", str(run), "--format", "jsonl", "--out", str(tmp_path / "ex")).returncode == 0
    rows = [json.loads(line) for line in (tmp_path / "ex" / "rejections.jsonl").read_text().splitlines()]
    assert rows and {r["filter"] for r in rows} == {"length_form"}
    assert any("< 5000" in r["reason"] for r in rows)  # the option given under the qualified name reached it
    assert not any(r["enforced"] for r in rows)  # warn-only: every note kept
    assert json.loads((run / "manifest.json").read_text())["counts"]["units"] == {"accepted": 3}


def test_identity_lives_beside_the_instance_never_on_the_class() -> None:
    """A frozen attrs filter class, registered twice under two names: the class is never written to (no dynamic
    subclass either), and each built instance knows its own name, plugin and version."""
    import attrs

    from dualalign_core.api import Filter

    @attrs.frozen
    class Frozen(Filter):
        limit: int = 1

        def check(self, bundle, ctx):  # noqa: ANN001, ANN201
            return None

    before = dict(vars(Frozen))
    registry, pm = Registry(), new_manager()

    class Module:
        @staticmethod
        @hookspecs.hookimpl
        def register_filters(register):  # noqa: ANN001, ANN205
            register("frozen", Frozen)
            register("frozen-too", Frozen)

    add_plugin(pm, registry, PluginInfo(name="icy", distribution="dualalign-icy", version="2.0"), lambda: Module)
    registry.settle()
    assert registry.components["filter"]["icy:frozen"] is Frozen is registry.components["filter"]["icy:frozen-too"]
    assert dict(vars(Frozen)) == before and Frozen.name == ""
    one, two = registry.create("filter", "frozen"), registry.create("filter", "frozen-too", {"limit": 3})
    assert (one.name, one.plugin, one.plugin_version) == ("frozen", "dualalign-icy", "2.0")
    assert (two.name, two.limit) == ("frozen-too", 3) and type(one) is type(two) is Frozen
