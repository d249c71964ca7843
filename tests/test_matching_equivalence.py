"""The fast matchers give exactly what the straightforward ones give (property-based, deterministic).

Trigger detection dispatches a ~200-rule alternation on each word's first character; the lexicon's
trie search skips tokens no phrase starts with; segmentation reads the token before a full stop from a
short window; annotate writes rows in chunks. Each is compared here with the plain version on generated
text built from the words that matter (triggers, lexicon terms, separators, case and Unicode oddities).
"""

from __future__ import annotations

import asyncio
import io
import re

from annotation_fixtures import ctx, disease
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dualalign_core.annotate.files import _write_rows, dumps
from dualalign_core.annotate.lexicon import LexiconAnnotator, LexiconMatcher, _gap, _norm
from dualalign_core.records import Note, Sentence, Usage
from dualalign_core.text.alternation import Alternation, first_chars
from dualalign_core.text.assertion import DEFAULT_RULES, ContextDetector
from dualalign_core.text.segment import _prev_token

# deterministic, no example database, no shrinking (a failure prints its example; shrinking one takes minutes)
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
D = disease()
DETECTOR = ContextDetector()

_WORDS = sorted(
    {w for r in DEFAULT_RULES for w in re.findall(r"[a-z]+(?:/[a-z0-9]+)?", r.pattern)}
    | {
        w
        for t in D.lexicon["terms"]
        for p in (t["term"], *t.get("variants", ()), *t.get("abbreviations", ()))
        for w in p.split()
    }
    | {"2/2", "w/o", "hasn't", "didn't", "years", "ago", "3", "memory", "loss", "daughter", "dementia"}
)
_ODD = ["\u017f", "\u212a", "\u0130", "\u0131", "\u0661", "\xe9", "\xa0", "\u2019", "/", "-", "'", "_", "\u00df"]
_SEPS = [" ", " ", " ", ", ", "; ", ". ", " - ", "-", "/", "  ", "\n", ": "]


_PHRASES = st.sampled_from([r.pattern for r in DEFAULT_RULES]).flatmap(
    lambda p: st.from_regex(re.compile(p, re.IGNORECASE), fullmatch=True)
)  # text that some trigger matches


@st.composite
def sentences(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 24))):
        word = draw(st.sampled_from(_WORDS) | _PHRASES | st.sampled_from(_ODD) | st.text(min_size=1, max_size=4))
        case = draw(st.sampled_from(["same", "same", "upper", "title"]))
        parts.append(word.upper() if case == "upper" else word.title() if case == "title" else word)
        parts.append(draw(st.sampled_from(_SEPS) | st.sampled_from(_ODD)))
    return "".join(parts)


def _hits(matches):
    return [(k, m.span(), m.group(0)) for k, m in matches]


@SETTINGS
@given(sentences())
def test_trigger_dispatch_matches_the_single_alternation(text):
    alt = DETECTOR._alternation
    assert alt._by_char is not None  # the default rules are all understood: the fast path is on
    reference = ((int(m.lastgroup[1:]), m) for m in alt.regex.finditer(text))
    assert _hits(alt.matches(text)) == _hits(reference)


@settings(SETTINGS, max_examples=25)
@given(st.data())
def test_every_trigger_rule_is_found_as_by_the_single_alternation(data):
    """Each example holds a phrase of every rule (in a random order, with random separators)."""
    alt = DETECTOR._alternation
    rules = data.draw(st.permutations([r.pattern for r in DEFAULT_RULES]))
    text = "".join(
        data.draw(st.from_regex(re.compile(p, re.IGNORECASE), fullmatch=True)) + data.draw(st.sampled_from(_SEPS))
        for p in rules
    )
    reference = ((int(m.lastgroup[1:]), m) for m in alt.regex.finditer(text))
    assert _hits(alt.matches(text)) == _hits(reference)


_PATTERNS = [
    r"no",
    r"not (?:seen|noted)",
    r"n[o']t",
    r"(?:has|had)\s?n't",
    r"\d+ years",
    r"[a-c]x",
    r"2/2",
    r"(?:likely )?due to",
    r"s",
    r"ſ",
    r"\w+",
    r"(?:x)?",
    r"[^a]b",
    r".",
    r"(?i:k)",
    r"(?=a)a",
    r"kk",
]


@SETTINGS
@given(st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=8), sentences(), st.booleans())
def test_alternation_equals_plain_finditer_for_any_patterns(patterns, text, ignorecase):
    flags = re.IGNORECASE if ignorecase else 0
    alt = Alternation(patterns, lead=r"(?<![\w/])", flags=flags)
    reference = ((int(m.lastgroup[1:]), m) for m in alt.regex.finditer(text))
    assert _hits(alt.matches(text)) == _hits(reference)


def test_first_chars():
    assert first_chars(r"(?:likely |probably )?due to") == frozenset("lpd")
    assert first_chars(r"\d+ years") == frozenset("0123456789")
    assert first_chars(r"[A-C]x") == frozenset("abc")
    for unknown in (r"\w+", r"(?:x)?", r".", r"[^a]", r"(?=a)a", r"ſ", r"(?i:k)", r"("):
        assert first_chars(unknown) is None, unknown


def _reference_find(matcher: LexiconMatcher, text: str):
    """The trie search as first written: every key of every token, every start position."""
    toks = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\w+", text)]
    keys = [(t, t.lower(), _norm(t)) for _, _, t in toks]
    gaps = [""] + [_gap(text[toks[i - 1][1] : toks[i][0]]) for i in range(1, len(toks))]
    out, i = [], 0
    while i < len(toks):
        best, stack = None, [(matcher._trie, i)]
        while stack:
            node, j = stack.pop()
            if j > i and None in node and (best is None or j - 1 > best[0]):
                best = (j - 1, node[None])
            if j >= len(toks):
                continue
            gap = gaps[j] if j > i else ""
            exact, folded, last = keys[j]
            for key in ((gap, "fold", folded), (gap, "last", last), (gap, "exact", exact)):
                child = node.get(key)
                if child is not None:
                    stack.append((child, j + 1))
        if best is None:
            i += 1
            continue
        out.append((matcher.terms[best[1]], toks[i][0], toks[best[0]][1]))
        i = best[0] + 1
    return out


@SETTINGS
@given(sentences())
def test_lexicon_find_matches_the_reference_search(text):
    matcher = LexiconAnnotator().matcher(D)
    assert matcher.find(text) == _reference_find(matcher, text)


@settings(SETTINGS, max_examples=60)
@given(st.lists(sentences(), min_size=1, max_size=6))
def test_annotate_labels_as_label_text_does(texts):
    ann, run = LexiconAnnotator(), ctx()
    sents = [Sentence(f"n:{i}", "n", i, 0, len(t), t, "plan" if i % 3 else None) for i, t in enumerate(texts)]
    note = Note(
        id="n", plan_id="", persona_id="", text=" ".join(texts), usage=Usage(), provenance=run.provenance(ann, 0)
    )
    labels = asyncio.run(ann.annotate(note, sents, run)).labels
    expected = [ann.label_text(s.text, run.disease, s.section) for s in sents]
    assert [(lab.label, lab.evidence) for lab in labels] == [(e.label, e.evidence) for e in expected]


def _reference_prev_token(line: str, end: int) -> str:
    i = end
    while i > 0 and line[i - 1].isspace():
        i -= 1
    j = i
    while j > 0 and not line[j - 1].isspace():
        j -= 1
    return line[j:i]


@SETTINGS
@given(
    st.text(st.sampled_from(["a", ".", " ", "\t", "\u2003", "\xa0", "\x1c", "\u200b", "x"]), max_size=200),
    st.integers(0, 200),
)
def test_prev_token_window_equals_the_scan(line, end):
    end = min(end, len(line))
    assert _prev_token(line, end) == _reference_prev_token(line, end)


def test_chunked_rows_are_the_same_bytes():
    rows = [{"id": i, "text": f"s\u00e9ntence {i}", "label": None} for i in range(2500)]
    fh = io.BytesIO()
    _write_rows(fh, iter(rows), chunk=1000)
    assert fh.getvalue() == "".join(dumps(r) + "\n" for r in rows).encode("utf-8")
