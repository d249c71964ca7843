"""The shape of the core, checked: one name per module, one writer and reader of the run database, a small
coordinator, no import cycles between modules, no disease knowledge, and a README map that matches the tree."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "dualalign_core"
MODULES = sorted(p for p in CORE.rglob("*.py") if "scaffold" not in p.parts)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_two_modules_share_a_name():
    names = Counter(p.name for p in MODULES if p.name != "__init__.py")
    assert [n for n, c in names.items() if c > 1] == []


def test_only_the_run_store_and_view_touch_the_run_database():
    allowed = {CORE / "run" / "store.py", CORE / "run" / "view.py"}
    offenders = [str(p.relative_to(ROOT)) for p in MODULES if p not in allowed and ".execute(" in p.read_text()]
    assert offenders == []


def test_the_coordinator_stays_small():
    assert len((CORE / "run" / "pipeline.py").read_text().splitlines()) <= 300


def _imports(path: Path) -> set[str]:
    """Modules of the core ``path`` imports anywhere: at the top, under TYPE_CHECKING, or lazily in a function
    (a lazy import still ties the two modules: hiding it does not remove the arrow)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    for sub in ast.walk(tree):
        if isinstance(sub, ast.ImportFrom):
            base = sub.module or ""
            if sub.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - sub.level + 1] + [base]).strip(".")
            if base.startswith("dualalign_core"):
                out.add(base)
                out.update(f"{base}.{a.name}" for a in sub.names)
        elif isinstance(sub, ast.Import):
            out.update(a.name for a in sub.names if a.name.startswith("dualalign_core"))
    return out


def test_no_import_cycles_between_modules():
    known = {_module(p): p for p in MODULES}
    graph = {m: {i for i in _imports(p) if i in known and i != m} for m, p in known.items()}

    def packages_of(m: str) -> set[str]:  # importing a.b.c imports a.b and a first: not a cycle of jobs
        parts = m.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))}

    cycles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node] - packages_of(node):
                if nxt == start and len(path) > 1 and not (set(path) & packages_of(start)):
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen and nxt not in packages_of(start):
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


@pytest.mark.parametrize(
    "word", ["alzheimer", "dementia", "cognitive", "donepezil", "notice_by_others", "forgetful", "memory loss"]
)
def test_the_core_knows_no_disease(word):
    hits = [str(p.relative_to(ROOT)) for p in MODULES if word in p.read_text().lower()]
    assert hits == []


def test_the_readme_map_lists_every_package_and_top_level_module():
    readme = (ROOT / "docs" / "architecture.md").read_text()
    section = readme.split("## The map", 1)[1].split("```", 2)[1]
    listed = set(re.findall(r"^ +([a-z_]+(?:\.py|/))(?:,\s*([a-z_]+\.py))?", section, re.M))
    listed_names = {n for pair in listed for n in pair if n}
    packages = {f"{p.name}/" for p in CORE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.name for p in CORE.glob("*.py") if p.name != "__init__.py"}
    assert packages | modules == listed_names
