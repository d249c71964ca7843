"""``dualalign new KIND NAME``: write a complete plugin package from the templates shipped here.

Templates are plain files under ``templates/<kind>/`` with a ``.tmpl`` suffix (so neither pytest nor ruff
mistakes them for code); ``{{token}}`` placeholders are replaced by :func:`names`, and a ``__module__`` path
part becomes the package's import name.
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from dualalign_core.errors import BadInput

KINDS = ("disease", "backend", "filter", "sampler", "persona")
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*$")
MAX_NAME = 40
API_RANGE = ">=1.0,<2"
CORE_REQUIREMENT = "dualalign-core>=0.1"
# distributions this repository ships: a scaffold of the same name would replace one on `pip install -e .`
BUNDLED = frozenset(
    f"dualalign-{n}" for n in ("core", "alzheimers", "anthropic", "bedrock", "gemini", "llama", "local", "openai")
)


def names(name: str) -> dict[str, str]:
    """The placeholders for plugin ``name``: distribution, module, class, pack name, title, API range."""
    if len(name) > MAX_NAME or not NAME_RE.match(name):
        raise BadInput(
            f"{name!r} is not a plugin name: lowercase letters and digits, words joined by '-' or '_', "
            f"starting with a letter, at most {MAX_NAME} characters (e.g. parkinsons, my-vendor)",
            field="NAME",
        )
    words = re.split(r"[-_]", name)
    if "dualalign-" + "-".join(words) in BUNDLED:
        raise BadInput(
            f"{name!r} would write dualalign-{'-'.join(words)}, a distribution DualAlign ships (installing it "
            "would replace that one): choose another name",
            field="NAME",
        )
    module = "dualalign_" + "_".join(words)
    return {
        "name": name,
        "dist": "dualalign-" + "-".join(words),
        "module": module,
        "pack": "_".join(words),
        "class": "".join(w.capitalize() for w in words),
        "title": " ".join(words).capitalize(),
        "env": "_".join(words).upper() + "_API_KEY",
        "api": API_RANGE,
        "core": CORE_REQUIREMENT,
    }


def render(kind: str, name: str, out: Path) -> list[Path]:
    """Write the ``kind`` template for ``name`` into directory ``out`` (absent or empty); returns the files."""
    if kind not in KINDS:
        raise BadInput(f"unknown kind {kind!r} (choose one of: {', '.join(KINDS)})", field="KIND")
    values = names(name)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput("target exists and is not an empty directory; choose another --out or remove it", file=str(out))
    written: list[Path] = []
    root = files("dualalign_core.scaffold") / "templates" / kind
    for source, rel in _walk(root, ()):
        target = out.joinpath(*(part.replace("__module__", values["module"]) for part in rel))
        target = target.with_name(target.name.removesuffix(".tmpl"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fill(source.read_text(encoding="utf-8"), values), encoding="utf-8")
        written.append(target)
    return sorted(written)


def fill(text: str, values: dict[str, str]) -> str:
    """Replace every ``{{key}}`` of ``values`` in ``text``."""
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _walk(node, rel: tuple[str, ...]):  # noqa: ANN001, ANN202 - importlib.resources Traversable
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        if child.is_dir():
            yield from _walk(child, (*rel, child.name))
        elif child.name.endswith(".tmpl"):
            yield child, (*rel, child.name)
