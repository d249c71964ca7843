"""Plugins written against older contracts: internal imports are noted, a broken plugin is named where a config
needs its component, and the migration guide those messages point to exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import FIXTURES, ROOT, TOY_PACK, cli_env, dualalign, pip_install_target


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("old-site")
    pip_install_target(target, str(FIXTURES / "dualalign_oldstyle"), str(FIXTURES / "dualalign_mockvendor"))
    return target


def test_a_plugin_importing_internal_modules_loads_with_a_note(site: Path) -> None:
    import json

    listed = dualalign("plugins", "--json", env=cli_env(site))
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    old = rows["oldstyle"]
    assert old["status"] == "ok" and old["components"] == {"filter": ["oldguard"]}
    notes = " ".join(old["notes"])
    assert "imports dualalign_core.components (__init__.py:3): not part of the API" in notes
    assert "use dualalign_core.api" in notes and "docs/migration.md" in notes
    assert "hookspecs" not in notes  # a public module
    assert all(not rows[n]["notes"] or "imports" not in " ".join(rows[n]["notes"]) for n in ("core", "openai"))


def test_a_config_naming_a_broken_plugins_component_says_the_plugin_is_broken(site: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    pack = TOY_PACK.as_posix()
    cfg.write_text(f'[run]\npatients = 1\n[disease]\npath = "{pack}"\n[generator]\nname = "mockvendor"\n')
    done = dualalign("validate", str(cfg), env=cli_env(site))
    assert done.returncode == 2
    assert "unknown generator 'mockvendor'" in done.stderr
    assert "plugin 'mockvendor' (dualalign-mockvendor) is broken" in done.stderr
    assert "dualalign_core.llm.errors" in done.stderr and "docs/migration.md" in done.stderr


def test_the_migration_guide_covers_the_moves_the_messages_name() -> None:
    guide = (ROOT / "docs" / "migration.md").read_text(encoding="utf-8")
    for moved in ("dualalign_core.llm.errors", "dualalign_core.llm.faults", "dualalign_core.components", "1.0 → 1.1"):
        assert moved in guide


def test_a_plugin_filter_saying_default_on_runs_only_where_a_config_names_it(tmp_path: Path) -> None:
    """Installing a plugin never changes what an existing config runs: its ``default_on`` filter stays out of a
    config that lists no filters (same run id, nothing rejected) and runs where the config names it."""
    import json

    site = tmp_path / "site"
    pip_install_target(site, str(FIXTURES / "dualalign_eager"))
    cfg = tmp_path / "c.toml"
    pack = TOY_PACK.as_posix()
    cfg.write_text(f'[run]\nseed = 2\npatients = 2\n[disease]\npath = "{pack}"\n[generator]\nname = "template"\n')
    plain = dualalign("run", str(cfg), "--out", str(tmp_path / "plain"), "-q")
    eager = dualalign("run", str(cfg), "--out", str(tmp_path / "eager"), "-q", env=cli_env(site))
    assert plain.returncode == eager.returncode == 0, eager.stderr
    a, b = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("plain", "eager"))
    assert a["run_id"] == b["run_id"] and b["counts"]["units"] == a["counts"]["units"]
    listed = {r["name"]: r for r in json.loads(dualalign("plugins", "--json", env=cli_env(site)).stdout)}
    assert any("only the core's filters" in n for n in listed["eager"]["notes"])
    named = tmp_path / "named.toml"
    named.write_text(cfg.read_text() + '[filters]\nuse = ["reject-all"]\n')
    run = dualalign("run", str(named), "--out", str(tmp_path / "named"), "-q", env=cli_env(site))
    assert "reject-all" in (tmp_path / "named" / "manifest.json").read_text(), run.stderr
