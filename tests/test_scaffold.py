"""``dualalign new``: each kind writes a package that pip installs and whose own tests pass out of the box."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support import cli_env, dualalign, pip_install_target


def scaffold_and_test(kind: str, name: str, tmp_path: Path) -> None:
    """Generate with the real CLI, pip-install into a target dir, run the package's pytest against it."""
    pkg, site = tmp_path / "pkg", tmp_path / "site"
    made = dualalign("new", kind, name, "--out", str(pkg))
    assert made.returncode == 0, made.stderr
    assert (pkg / "pyproject.toml").is_file() and (pkg / "README.md").is_file()
    pyproject = (pkg / "pyproject.toml").read_text()
    assert "[project.entry-points.dualalign]" in pyproject
    module = "dualalign_" + name.replace("-", "_")
    assert 'DUALALIGN_API = ">=1.0,<2"' in (pkg / module / "__init__.py").read_text()
    pip_install_target(site, pkg)
    assert (site / module / "__init__.py").is_file()
    # run from a neutral directory so the package is imported from the install, not from its source tree
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(pkg / "tests")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=cli_env(site),
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    listed = dualalign("plugins", "--json", site=site)
    assert name in listed.stdout and '"status": "ok"' in listed.stdout


def test_filter_package_installs_and_its_tests_pass(tmp_path: Path) -> None:
    scaffold_and_test("filter", "repeat-guard", tmp_path)


def test_persona_package_installs_and_its_tests_pass(tmp_path: Path) -> None:
    """A persona source from ``dualalign new persona``: its table's extra columns are attributes, not
    demographics, and its own tests (options through ``testing.sample_personas``, a real run) pass."""
    scaffold_and_test("persona", "clinic-roster", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "name"), [("disease", "toy_ms"), ("backend", "acme-llm"), ("sampler", "even")])
def test_every_kind_installs_and_its_tests_pass(kind: str, name: str, tmp_path: Path) -> None:
    scaffold_and_test(kind, name, tmp_path)


def test_refuses_a_non_empty_target_and_a_bad_name(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    taken = dualalign("new", "filter", "guard", "--out", str(target))
    assert taken.returncode == 2 and str(target) in taken.stderr and "not an empty directory" in taken.stderr
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    bad = dualalign("new", "filter", "Guard!", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "NAME" in bad.stderr and not (tmp_path / "x").exists()
    kind = dualalign("new", "widget", "guard", "--out", str(tmp_path / "y"))
    assert kind.returncode == 2 and "KIND" in kind.stderr and "disease, backend, filter, sampler" in kind.stderr


@pytest.mark.parametrize("name", ["core", "openai", "alzheimers", "local", "llama", "anthropic"])
def test_refuses_the_name_of_a_bundled_distribution(name: str, tmp_path: Path) -> None:
    """Issue 21 item 16: `pip install -e .` of the scaffold would have replaced the bundled distribution."""
    result = dualalign("new", "backend", name, "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and f"dualalign-{name}" in result.stderr
    assert "NAME" in result.stderr and not (tmp_path / "x").exists()
