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


def test_one_class_registered_by_two_plugins_keeps_each_plugins_name_and_version():
    from dualalign_core import hookspecs
    from dualalign_core.builtin.template_generator import TemplateGenerator
    from dualalign_core.plugins import PluginInfo, Registry, add_plugin, new_manager

    class Gen(TemplateGenerator):
        """One class object that two plugins register."""

    class A:
        @staticmethod
        @hookspecs.hookimpl
        def register_generators(register):
            register("same", Gen)

    class B(A):
        pass

    pm, registry = new_manager(), Registry()
    for name, plugin in (("a", A), ("b", B)):
        info = PluginInfo(name=name, distribution=f"dist-{name}", version=name * 3)
        add_plugin(pm, registry, info, lambda p=plugin: p)
    registry.settle()
    assert [registry.plugins[n].status for n in "ab"] == ["ok", "ok"]
    assert registry.get("generator", "a:same") is registry.get("generator", "b:same") is Gen  # no subclass made
    a, b = (registry.create("generator", f"{n}:same") for n in "ab")  # identity on each built instance
    assert (a.name, a.plugin, a.plugin_version) == ("a:same", "dist-a", "aaa")
    assert (b.name, b.plugin, b.plugin_version) == ("b:same", "dist-b", "bbb")
    assert Gen.name == TemplateGenerator.name  # the class is not written to
    assert registry.names("generator") == ["a:same", "b:same"]
