"""Discovery: a third-party plugin distribution is found, listed and used; a broken one is contained."""

from __future__ import annotations

import json

from support import cli_env, dualalign, toy_config


def test_third_party_plugin_listed_and_broken_plugin_reported(plugin_site):
    result = dualalign("plugins", "--json", site=plugin_site)
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    kit = plugins["testkit"]
    assert kit["status"] == "ok" and kit["version"] == "0.0.7" and kit["distribution"] == "dualalign-testkit"
    assert kit["components"] == {"annotator": ["keyword"], "filter": ["short-note"], "generator": ["slow-echo"]}
    assert plugins["broken"]["status"] == "broken"
    assert "broken on purpose" in plugins["broken"]["error"]
    assert plugins["core"]["components"]["generator"] == ["template"]


def test_third_party_components_used_in_a_run(plugin_site, tmp_path):
    cfg = toy_config(tmp_path / "toy.toml")
    result = dualalign("run", str(cfg), "--out", str(tmp_path / "run"), "--quiet", site=plugin_site)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["components"]["generator"]["plugin"] == "dualalign-testkit"
    assert manifest["components"]["generator"]["plugin_version"] == "0.0.7"
    assert {p["name"] for p in manifest["plugins"]} >= {"core", "testkit", "broken"}
    assert manifest["counts"]["notes"] == manifest["counts"]["plans"] > 0
    assert "broken" in result.stderr  # warned, not fatal


def test_strict_mode_fails_on_broken_plugin(plugin_site):
    result = dualalign("plugins", env=cli_env(plugin_site, DUALALIGN_STRICT_PLUGINS="1"))
    assert result.returncode == 2
    assert "broken on purpose" in result.stderr
    assert "Traceback" not in result.stderr


def test_plugin_allow_list(plugin_site):
    result = dualalign("plugins", "--json", env=cli_env(plugin_site, DUALALIGN_PLUGINS="testkit"))
    assert result.returncode == 0, result.stderr
    names = {p["name"] for p in json.loads(result.stdout)}
    assert names == {"core", "testkit"}


def test_duplicate_component_name_marks_second_plugin_broken():
    import pluggy

    from dualalign_core import hookspecs
    from dualalign_core.builtin.template_generator import TemplateGenerator
    from dualalign_core.plugins import PluginInfo, Registry, _register_components

    class A:
        @staticmethod
        @hookspecs.hookimpl
        def register_generators(register):
            register("same", TemplateGenerator)

    class B(A):
        pass

    pm = pluggy.PluginManager("dualalign")
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    for name, mod in (("a", A), ("b", B)):
        registry.plugins[name] = PluginInfo(name=name, distribution=name, version="1")
        pm.register(mod, name=name)
    _register_components(pm, registry, "a", A)
    import pytest

    from dualalign_core.errors import PluginError

    with pytest.raises(PluginError, match="already registered"):
        _register_components(pm, registry, "b", B)
