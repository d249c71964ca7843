"""Hypothesis strategies for the CLI fuzz tests: run configs, pack tables and JSONL inputs, valid and hostile.

Every strategy returns plain data plus a short ``kind`` string describing the corruption, so failures can be
grouped by input kind. Byte-level corruptions (encodings, invalid UTF-8, lone surrogates, BOM, truncation)
are applied by :func:`encode_text` after the document is serialised.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

HUGE = int(os.environ.get("DUALALIGN_FUZZ_HUGE", "20000"))  # characters in a "huge" string value

FILTER_NAMES = [
    "plan_adherence",
    "near_duplicate",
    "temporal_coherence",
    "temporal_regression",
    "identifiers",
    "length_form",
]
TOY_LABELS = ["motor_symptoms", "nonmotor_symptoms", "none"]


def pick(options: Sequence[Any]) -> st.SearchStrategy[Any]:
    """Like ``sampled_from`` but uniform under derandomised generation too (which favours the first option)."""
    options = list(options)
    return st.integers(0, 2**20 - 1).map(lambda i: options[i % len(options)])


def coin(p_true: float = 0.5) -> st.SearchStrategy[bool]:
    """True with probability about ``p_true``."""
    return st.integers(0, 2**20 - 1).map(lambda i: (i % 100) < p_true * 100)


class Raw(str):
    """A TOML literal written verbatim (dates, bare ``nan``): ``Raw("1979-05-27")``."""


# ---------------------------------------------------------------- values

SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn")), min_size=1, max_size=12)
ODD_TEXT = pick(
    [
        st.text(max_size=20),  # any code point, control characters and lone surrogates included
        pick(
            [
                "",
                " ",
                "\x00",
                "\ud800",
                "\ufeff",
                "../../../etc",
                "{sex:%}",
                "{",
                "}",
                "<script>x</script>",
                "null",
                "NaN",
                "1e309",
                "\u202e",
                "é" * 3,
                "名前",
            ]
        ),
    ]
).flatmap(lambda s: s)
HUGE_TEXT = st.builds(lambda c, n: c * n, pick(["x", "é", "\u4e00", "a. "]), st.integers(HUGE // 2, HUGE))

HOSTILE: st.SearchStrategy[Any] = pick(
    [
        pick(
            [
                math.nan,
                math.inf,
                -math.inf,
                -0.0,
                0,
                -1,
                2**63 - 1,
                -(2**63),
                2**64,
                10**6,
                1e308,
                True,
                False,
                "",
                [],
                {},
            ]
        ),
        st.integers(),
        st.floats(),
        ODD_TEXT,
        HUGE_TEXT,
        st.lists(st.integers(), max_size=3),
        st.dictionaries(SAFE_TEXT, st.integers(), max_size=2),
        pick([Raw("1979-05-27"), Raw("07:32:00"), Raw("1979-05-27T07:32:00Z")]),
    ]
).flatmap(lambda s: s)
"""Values of the wrong type, non-finite, huge or empty: what a hostile user puts in a field."""


# ---------------------------------------------------------------- TOML


def toml_value(value: Any) -> str:
    """One TOML value (inline tables for dicts)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_string(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_string(text: str) -> str:
    """A TOML basic string; lone surrogates stay raw (they become bad bytes when encoded)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_document(doc: dict[str, Any]) -> str:
    """Top-level scalars first, then one ``[section]`` per dict value."""
    lines = [f"{toml_string(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for key, section in doc.items():
        if isinstance(section, dict):
            lines.append(f"\n[{toml_string(key)}]")
            lines.extend(f"{toml_string(str(k))} = {toml_value(v)}" for k, v in section.items())
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- encodings

ENCODINGS = [
    "utf-8",
    "utf-8",
    "utf-8",
    "utf-8-sig",
    "latin-1",
    "utf-16",
    "utf-16-le",
    "cp1252",
    "invalid-utf8",
    "surrogate",
    "nul",
    "truncate",
    "empty",
]


@st.composite
def encoded(draw: st.DrawFn, text: str, *, force: str | None = None) -> tuple[bytes, str]:
    """Encode ``text`` in a drawn (often wrong) encoding; returns the bytes and the encoding's name."""
    how = force or draw(pick(ENCODINGS))
    if how in ("latin-1", "cp1252", "utf-16", "utf-16-le"):
        return text.encode(how, errors="replace"), how
    raw = text.encode("utf-8", errors="surrogatepass")
    pos = draw(st.integers(0, len(raw)))
    if how == "utf-8-sig":
        return b"\xef\xbb\xbf" + raw, how
    if how == "invalid-utf8":
        return raw[:pos] + draw(pick([b"\xff", b"\xc3(", b"\xe9", b"\x80\x80", b"\xf4\x90\x80\x80"])) + raw[pos:], how
    if how == "surrogate":
        return raw[:pos] + "\ud800".encode("utf-8", errors="surrogatepass") + raw[pos:], how
    if how == "nul":
        return raw[:pos] + b"\x00" + raw[pos:], how
    if how == "truncate":
        return raw[:pos], how
    if how == "empty":
        return b"", how
    return raw, how


def utf8(text: str) -> bytes:
    """UTF-8 bytes, lone surrogates written as their (invalid) 3-byte form."""
    return text.encode("utf-8", errors="surrogatepass")


# ---------------------------------------------------------------- run configs


@st.composite
def valid_config(draw: st.DrawFn, pack_path: str) -> dict[str, Any]:
    """A schema-valid config for the toy pack with the core's template generator and lexicon annotator."""
    run: dict[str, Any] = {"seed": draw(st.integers(0, 2**31)), "patients": draw(st.integers(1, 2))}
    if draw(coin()):
        run["name"] = draw(SAFE_TEXT)
    if draw(coin()):
        run["max_notes_per_patient"] = draw(st.integers(1, 3))
    if draw(coin()):
        run["max_attempts"] = draw(st.integers(1, 3))
    doc: dict[str, Any] = {"run": run, "disease": {"path": pack_path}}
    traj: dict[str, Any] = {"multiplier": draw(st.one_of(st.integers(1, 10), st.floats(0.1, 10)))}
    if draw(coin()):
        traj["sampler"] = draw(pick(["stage-schedule", "uniform"]))
    doc["trajectory"] = traj
    if draw(coin()):
        doc["personas"] = {"source": draw(pick(["prevalence", "uniform"]))}
    doc["generator"] = {"name": "template"}
    if draw(coin()):
        doc["generator"]["options"] = {"vitals": draw(coin())}
    doc["annotator"] = {"name": "lexicon"}
    if draw(coin()):
        doc["filters"] = {"use": draw(st.lists(st.sampled_from(FILTER_NAMES), unique=True, max_size=3))}
    if draw(coin()):
        doc["limits"] = {"max_cost_usd": draw(st.floats(0.5, 100))}
    return doc


CONFIG_FIELDS = [
    ("run", "seed"),
    ("run", "patients"),
    ("run", "name"),
    ("run", "out"),
    ("run", "max_notes_per_patient"),
    ("run", "max_attempts"),
    ("disease", "path"),
    ("disease", "name"),
    ("trajectory", "multiplier"),
    ("trajectory", "sampler"),
    ("trajectory", "options"),
    ("personas", "source"),
    ("personas", "options"),
    ("generator", "name"),
    ("generator", "model"),
    ("generator", "concurrency"),
    ("generator", "options"),
    ("annotator", "name"),
    ("annotator", "options"),
    ("annotator", "concurrency"),
    ("filters", "use"),
    ("filters", "warn"),
    ("filters", "options"),
    ("limits", "max_cost_usd"),
]

# values that pass the schema's type but not the meaning (unknown components, bad component options, ...)
SEMANTIC = [
    (("generator", "name"), "no-such-generator"),
    (("annotator", "name"), "no-such-annotator"),
    (("personas", "source"), "nobody"),
    (("trajectory", "sampler"), "nothing"),
    (("generator", "options"), {"vitals": "yes"}),
    (("generator", "options"), {"colour": 1}),
    (("annotator", "options"), {"colour": 1}),
    (("filters", "use"), ["no-such-filter"]),
    (("filters", "warn"), ["no-such-filter"]),
    (("filters", "options"), {"length_form": {"colour": 1}}),
    (("filters", "options"), {"no-such-filter": {}}),
    (("disease", "path"), "/no/such/pack"),
    (("disease", "path"), "."),
    (("disease", "name"), "no_such_disease"),
    (("trajectory", "multiplier"), 1e-300),
    (("run", "out"), "/dev/null/x"),
    (("run", "out"), ""),
    (("run", "max_notes_per_patient"), 10**9),
    (("trajectory", "multiplier"), math.nan),
    (("trajectory", "multiplier"), math.inf),
    (("limits", "max_cost_usd"), math.nan),
    (("limits", "max_cost_usd"), math.inf),
    (("limits", "max_cost_usd"), 0),
    (("run", "seed"), 2**64),
    (("run", "seed"), 2**63),
    (("run", "name"), "\ud800"),
    (("generator", "concurrency"), 1024),
    (("generator", "model"), "\ud800"),
]


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """``doc[name]``, made a table first if an earlier corruption replaced it."""
    if not isinstance(doc.get(name), dict):
        doc[name] = {}
    return doc[name]


@st.composite
def corrupt_config(draw: st.DrawFn, doc: dict[str, Any]) -> tuple[dict[str, Any], str, list[str]]:
    """Apply one to three corruptions to a config document; returns it, a description and, per corruption, the
    field an error about it must name (``section.key``, or the section for whole-section edits)."""
    doc = json.loads(json.dumps(doc))  # deep copy (values are JSON-safe before corruption)
    kinds: list[str] = []
    fields: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(pick(["hostile", "hostile", "semantic", "unknown-key", "unknown-section", "delete", "section-type"]))
        if op == "hostile":
            section, key = draw(pick(CONFIG_FIELDS))
            _section(doc, section)[key] = draw(HOSTILE)
            kinds.append(f"hostile {section}.{key}")
            fields.append(f"{section}.{key}")
        elif op == "semantic":
            (section, key), value = draw(pick(SEMANTIC))
            if section == "disease":
                doc["disease"] = {}
            _section(doc, section)[key] = value
            kinds.append(f"semantic {section}.{key}")
            fields.append(f"{section}.{key}")
        elif not doc:
            continue
        elif op == "unknown-key":
            section = draw(pick(sorted(doc)))
            if isinstance(doc[section], dict):
                key = draw(pick(["colour", "Seed", "patients ", "é", "x" * 300]))
                doc[section][key] = 1
                fields.append(f"{section}.{key}")
            else:
                fields.append(section)
            kinds.append(f"unknown key in {section}")
        elif op == "unknown-section":
            section = draw(pick(["extra", "Run", "generators", "ü"]))
            doc[section] = {"a": 1}
            kinds.append("unknown section")
            fields.append(section)
        elif op == "delete":
            section = draw(pick(sorted(doc)))
            del doc[section]
            kinds.append(f"delete {section}")
            fields.append(section)
        else:
            section = draw(pick(["run", "disease", "trajectory", "generator", "filters"]))
            doc[section] = draw(pick([1, "run", [1, 2], True, math.nan]))
            kinds.append(f"{section} not a table")
            fields.append(section)
    return doc, "; ".join(kinds), fields


# ---------------------------------------------------------------- pack tables

PACK_TABLES = ["demographics.json", "risk_factors.json", "schedule.json", "lexicon.json"]


def json_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document (the root excluded)."""
    out: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        out.append((*prefix, key))
        out.extend(json_paths(child, (*prefix, key)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _scale_probabilities(doc: Any, factor: float) -> None:
    """Multiply every ``p``/``rate``/``weight`` number (probabilities no longer sum to 1)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("p", "rate", "weight") and isinstance(value, (int, float)):
                doc[key] = value * factor
            else:
                _scale_probabilities(value, factor)
    elif isinstance(doc, list):
        for value in doc:
            _scale_probabilities(value, factor)


SEMANTIC_TABLE_EDITS: dict[str, list[tuple[str, Callable[[Any], None]]]] = {
    "schedule.json": [
        ("notes min > max", lambda d: d["notes_per_patient"].update(min=30, max=3)),
        ("notes max 0", lambda d: d["notes_per_patient"].update(min=0, max=0)),
        ("overlapping stages", lambda d: d["stages"][1].update(from_years=3)),
        (
            "note-type probabilities not summing",
            lambda d: d["note_types"]["by_stage"]["early"].update(primary_care=0.9),
        ),
        (
            "category proportions negative",
            lambda d: d["category_proportions"]["by_stage"]["early"].update(motor_symptoms=-0.5, nonmotor_symptoms=1.5),
        ),
        ("unknown stage", lambda d: d["stages"][0].update(id="nope")),
        ("no stages", lambda d: d.update(stages=[])),
        ("years_before_diagnosis 0", lambda d: d.update(years_before_diagnosis=0)),
        ("sigma nan", lambda d: d["notes_per_patient"].update(sigma=math.nan)),
    ],
    "demographics.json": [
        ("probabilities x0.5", lambda d: _scale_probabilities(d, 0.5)),
        ("probabilities x2", lambda d: _scale_probabilities(d, 2.0)),
        ("negative p", lambda d: d["factors"][0]["rows"][0].update(p=-0.2)),
        ("no rows", lambda d: d["factors"][0].update(rows=[])),
        ("no factors", lambda d: d.update(factors=[])),
        ("unknown value", lambda d: d["factors"][0]["rows"][0]["values"].update(age_band="200+")),
        ("unknown source", lambda d: d["factors"][0]["rows"][0].update(source="nowhere")),
        ("duplicate row", lambda d: d["factors"][0]["rows"].append(d["factors"][0]["rows"][0])),
    ],
    "risk_factors.json": [
        ("rate > 1", lambda d: d["factors"][0].update(rate=1.5)),
        ("rate nan", lambda d: d["factors"][0].update(rate=math.nan)),
        ("unknown given", lambda d: d["factors"][1].update(given=["colour"])),
        ("unknown group", lambda d: d["factors"][0].update(group="nope")),
        ("no rates", lambda d: d["factors"][1].update(rates=[])),
    ],
    "lexicon.json": [
        ("no terms", lambda d: d.update(terms=[])),
        ("unknown label", lambda d: d["terms"][0].update(label="nope")),
        ("unknown stage", lambda d: d["terms"][0].update(earliest_stage="nope")),
        ("no term for first stage", lambda d: [t.update(earliest_stage="early") for t in d["terms"]]),
        ("duplicate ids", lambda d: d["terms"].append(dict(d["terms"][0]))),
        ("empty term", lambda d: d["terms"][0].update(term="")),
        ("unknown domain", lambda d: d["terms"][0].update(domain="nope")),
    ],
}


@st.composite
def corrupt_table(draw: st.DrawFn, name: str, doc: dict[str, Any]) -> tuple[Any, str]:
    """One or two corruptions of a pack table: a semantic edit, a deleted key, or a hostile value anywhere."""
    doc = json.loads(json.dumps(doc))
    kinds = []
    for _ in range(draw(st.integers(1, 2))):
        op = draw(pick(["semantic", "semantic", "delete", "hostile", "hostile", "root"]))
        if op == "root":
            doc = draw(pick([[], None, 1, "table", {}]))
            kinds.append("root replaced")
            break
        paths = json_paths(doc)
        if op == "semantic":
            label, edit = draw(pick(SEMANTIC_TABLE_EDITS[name]))
            try:
                edit(doc)
            except (KeyError, IndexError, TypeError, AttributeError):
                continue  # an earlier corruption removed what this edit changes
            kinds.append(label)
        elif not paths:
            continue
        else:
            path = draw(pick(paths))
            parent = _parent(doc, path)
            if op == "delete":
                del parent[path[-1]]
                kinds.append(f"delete {'.'.join(map(str, path))}")
            else:
                parent[path[-1]] = draw(HOSTILE.filter(lambda v: not isinstance(v, Raw)))
                kinds.append(f"hostile {'.'.join(map(str, path))}")
    return doc, "; ".join(kinds) or "unchanged"


def dump_json(doc: Any) -> str:
    """JSON with non-finite numbers written as Python's json does (``NaN``, ``Infinity``)."""
    return json.dumps(doc, ensure_ascii=False, indent=1)


PROMPT_EDITS = ["{sex:%}", "{age", "age}", "{0}", "{unknown_field}", "{required_terms!z}", "{}", "{{", "\x00"]


# ---------------------------------------------------------------- JSONL inputs

SENTENCES = pick(
    [
        "Patient reports memory loss.",
        "Wife notes he gets lost driving.",
        "No complaints today.",
        "S: seen for follow-up. O: BP 120/80. A: stable. P: return in 6 months.",
        "Pt is forgetful and repeats questions. Needs help with finances.",
        "Denies confusion.",
    ]
)


@st.composite
def valid_texts(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records with a unique ``id`` and a ``text`` (a sentence or a short note)."""
    n = draw(st.integers(1, 4))
    return [
        {"id": f"r{i}", "text": draw(st.one_of(SENTENCES, st.lists(SENTENCES, min_size=2, max_size=4).map(" ".join)))}
        for i in range(n)
    ]


BAD_LINES = pick(
    [
        pick(
            [
                "{",
                "not json",
                "[1, 2]",
                "null",
                "42",
                '"text"',
                "{'text': 'single quotes'}",
                "{}",
                '{"text": null}',
                '{"text": 5}',
                '{"text": ["a"]}',
                '{"text": {"a": 1}}',
                '{"id": 1}',
                '{"text": NaN}',
                '{"text": "x", "id": NaN}',
                '{"text": "x", "id": Infinity}',
                '{"text": "x", "id": null}',
                '{"text": "x", "note_id": null}',
                '{"text": "x", "id": [1]}',
                '{"text": "x", "id": {"a": 1}}',
                '{"text": "x", "label": null}',
                '{"text": "x", "label": 3}',
                '{"text": "\\ud800 lone surrogate"}',
                '{"text": ""}',
                '{"text": "   "}',
                '{"text": "x", "id": 1e999}',
                '\ufeff{"text": "bom"}',
                '{"text": "x"} trailing',
            ]
        ),
        st.builds(lambda t: json.dumps({"id": "huge", "text": t}), HUGE_TEXT),
    ]
).flatmap(lambda s: s)


@st.composite
def corrupt_lines(draw: st.DrawFn, lines: list[str]) -> tuple[list[str], str]:
    """Insert bad lines, duplicate or null ids, or empty the file."""
    lines = list(lines)
    kinds = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(pick(["bad-line", "bad-line", "duplicate", "empty", "blank"]))
        if op == "bad-line":
            lines.insert(draw(st.integers(0, len(lines))), draw(BAD_LINES))
            kinds.append("bad line")
        elif op == "duplicate" and lines:
            lines.append(lines[draw(st.integers(0, len(lines) - 1))])
            kinds.append("duplicate line")
        elif op == "empty":
            lines = []
            kinds.append("empty file")
        else:
            lines.insert(draw(st.integers(0, len(lines))), draw(pick(["", "   ", "\t"])))
            kinds.append("blank line")
    return lines, "; ".join(kinds)
