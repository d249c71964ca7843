"""Deterministic lexicon annotator: disease-lexicon matching with NegEx/ConText assertion handling.

Matching: every term, variant and abbreviation of the disease lexicon goes into one token trie per
lexicon (cached), longest phrase first, at word boundaries. Terms and variants match case-insensitively,
with any run of spaces/hyphens between words and an optional plural ``s``/``es`` on the last word;
abbreviations that contain a capital letter (``MCI``, ``ADL``) match case-sensitively so they cannot hit
ordinary words, lower-case abbreviations case-insensitively.

Labelling: a sentence's label is the highest-precedence label (the pack's ``label_precedence``) among its
*affirmed* mentions; negated, family, hypothetical, historical and other-cause mentions do not count. An
optional *reporter* rule labels a sentence where a third party (daughter, wife, caregiver...) reports or
worries about a change with ``reporter_label`` (default: the pack's ``third_party_label``; none, no rule).
The disease's own words come from the pack's lexicon: ``reporter_cues`` (what counts as a change beside the
generic change words) and ``self_cause_terms`` (what names the disease in "due to ..."). No affirmed
mention: the negative label. Evidence is the text of the winning mention.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from attrs import field, frozen

from dualalign_core.components import Annotation, Annotator
from dualalign_core.records import Label, Note, Sentence
from dualalign_core.text.assertion import Assertion, ContextDetector, TriggerHit

_WHO = (
    r"(?:daughters?(?:-in-law)?|sons?(?:-in-law)?|wife|husband|spouse|partner|family(?: members?)?|caregivers?|"
    r"children|kids|sister|brother|friends?|neighbou?rs?|niece|nephew|grandchildren|granddaughter|grandson|"
    r"informant|roommate|co-?workers?|boss|employer|aide|companion|girlfriend|boyfriend|pastor)"
)
_REPORTER = re.compile(
    r"(?<!\w)(?:(?:his|her|their|the|pt's|patient's)\s+)?"
    rf"(?P<who>{_WHO})(?:'s)?"
    r"(?:\s+\w+){0,5}?\s+(?P<cue>reports?|reported|noticed|notices|notes|noted|observed|observes|states|stated|"
    r"says|said|describes|described|commented|comments|feels|felt|concerned|worried|concerns?|worries|complains?|"
    r"tells|told|mentions|mentioned|thinks|thought|called|calls|brought|brings|points out|pointed out|adds|added|"
    r"has seen|has watched|is frustrated|frustrated|fears|wonders|explains|explained|relates|related|"
    r"confirms|confirmed|corroborates|describe|report|notice|observe|note)(?!\w)"
    r"|(?<!\w)(?P<per>per|according to|collateral from|collateral history from|history from|as reported by)\s+"
    rf"(?:(?:his|her|the|pt's|patient's)\s+)?{_WHO}(?!\w)"
    rf"|(?<!\w)(?:his|her|the)\s+{_WHO}(?:'s)?\s+(?:main\s+)?(?:concern|worry|observation|impression)(?!\w)",
    re.IGNORECASE,
)
# every _REPORTER match names a third party at a word start: sentences without one skip the big pattern
_ANY_WHO = re.compile(rf"(?<!\w){_WHO}", re.IGNORECASE)
# words that signal a change in any disease; a pack adds its own (``reporter_cues`` in its lexicon)
GENERIC_CHANGE_CUES = (
    r"behaviou?r\w*",
    r"personality",
    r"mood",
    r"changes?",
    r"chang\w+",
    r"decline\w*",
    r"safety",
    r"safe",
    r"function\w*",
    r"different",
    r"no longer",
    r"anymore",
    r"stopped",
    r"keeps",
    r"again",
    r"lately",
    r"recently",
    r"used to",
    r"not (?:him|her)self",
    r"himself",
    r"herself",
    r"struggl\w*",
    r"trouble",
    r"difficult\w*",
    r"can't",
    r"cannot",
    r"couldn't",
    r"could not",
    r"won't",
    r"unable",
    r"angry",
    r"upset",
    r"getting worse",
    r"worse",
    r"slipping",
    r"slower",
    r"quiet\w*",
    r"off",
)


def _any_of(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern matching any of ``patterns`` as whole words (None when there are none)."""
    return re.compile("|".join(f"(?<!\\w)(?:{p})(?!\\w)" for p in patterns), re.IGNORECASE) if patterns else None


@frozen
class Mention:
    """One lexicon match in a sentence, with the assertion its context gives it."""

    term_id: str
    label: str
    start: int
    end: int
    text: str
    earliest_stage: str | None
    assertion: Assertion

    @property
    def affirmed(self) -> bool:
        return self.assertion.affirmed


@frozen
class _Term:
    id: str
    label: str
    earliest_stage: str | None


_TOKEN = re.compile(r"\w+")
_SPACE = re.compile(r"[\s\-]+")


def _norm(token: str) -> str:
    """Case-folded token with a plural ``s`` dropped ("hallucinations" ~ "hallucination")."""
    return _depluralize(token.lower())


def _depluralize(t: str) -> str:
    if len(t) > 3 and t[-1] == "s" and not t.endswith(("ss", "us", "is")):
        return t[:-1]
    return t


def _gap(text: str) -> str:
    """Normalised separator between two tokens: any run of spaces/hyphens is one kind of gap."""
    return " " if _SPACE.fullmatch(text) else text.strip().lower()


def _steps(phrase: str, case_sensitive: bool) -> list[tuple[str, str, str]]:
    """A phrase as trie keys: (gap before the token, how the token is compared, token).

    Case-sensitive phrases compare tokens exactly; others case-fold, and the last word also drops a plural.
    """
    tokens = list(_TOKEN.finditer(phrase))
    out, prev = [], None
    for n, m in enumerate(tokens):
        gap = "" if prev is None else _gap(phrase[prev : m.start()])
        if case_sensitive:
            out.append((gap, "exact", m.group()))
        elif n == len(tokens) - 1:
            out.append((gap, "last", _norm(m.group())))
        else:
            out.append((gap, "fold", m.group().lower()))
        prev = m.end()
    return out


class LexiconMatcher:
    """A lexicon compiled once: :meth:`find` returns raw matches, :meth:`mentions` adds context."""

    def __init__(
        self,
        lexicon: Mapping[str, Any],
        *,
        self_cause_terms: Sequence[str] | None = None,
        max_scope_words: int = 8,
        cues: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``self_cause_terms``: regexes naming the disease (``None``: the lexicon's ``self_cause_terms``)."""
        if self_cause_terms is None:
            self_cause_terms = tuple(lexicon.get("self_cause_terms", ()))
        self.terms: list[_Term] = []
        phrases: list[tuple[str, int, bool]] = []  # (phrase, term index, case-sensitive)
        for entry in lexicon.get("terms", []):
            idx = len(self.terms)
            self.terms.append(_Term(entry["id"], entry["label"], entry.get("earliest_stage")))
            for text in (entry["term"], *entry.get("variants", ())):
                phrases.append((text, idx, False))
            for abbr in entry.get("abbreviations", ()):
                phrases.append((abbr, idx, any(ch.isupper() for ch in abbr)))
            for cue in (cues or {}).get(entry["id"], ()):  # the pack grammar's specific realisation parts
                phrases.append((cue, idx, False))
        # a token trie: each text token is looked up once per start position, whatever the lexicon size
        self._trie: dict[Any, Any] = {}
        for text, idx, case in sorted(phrases, key=lambda p: (-len(p[0]), p[0])):
            steps = _steps(text, case)
            if not steps:
                continue
            node = self._trie
            for step in steps:
                node = node.setdefault(step, {})
            node.setdefault(None, idx)  # first registration wins (longest, then alphabetical)
        self._first_tokens = frozenset(token for _gap, _kind, token in self._trie)
        self._self_cause = _any_of(self_cause_terms)
        self._change = _any_of((*GENERIC_CHANGE_CUES, *lexicon.get("reporter_cues", ())))
        self.context = ContextDetector(max_scope_words=max_scope_words, self_cause=self.is_self_cause)

    def is_self_cause(self, cause: str) -> bool:
        """Whether a cause phrase names the disease itself (its names or any lexicon symptom)."""
        if self._self_cause is not None and self._self_cause.search(cause):
            return True
        return bool(self.find(cause))

    def find(self, text: str) -> list[tuple[_Term, int, int]]:
        """Non-overlapping matches at word boundaries, leftmost first, the longest phrase at each position."""
        trie, firsts = self._trie, self._first_tokens
        spans = [m.span() for m in _TOKEN.finditer(text)]
        if not spans or not trie:
            return []
        exact = [text[a:b] for a, b in spans]
        folded = [t.lower() for t in exact]
        last = [
            t[:-1] if len(t) > 3 and t[-1] == "s" and not t.endswith(("ss", "us", "is")) else t for t in folded
        ]  # _depluralize, inlined
        gaps: list[str | None] = [None] * len(spans)  # the gap before token j, worked out when first needed
        out = []
        i, n = 0, len(spans)
        while i < n:
            if folded[i] not in firsts and exact[i] not in firsts and last[i] not in firsts:
                i += 1  # no phrase starts with this token
                continue
            best: tuple[int, int] | None = None  # (last token index, term index)
            # depth-first from each start token (fold, last, exact pushed in that order; the first path
            # to reach a given length wins)
            stack = [
                (child, i + 1)
                for child in (
                    trie.get(("", "fold", folded[i])),
                    trie.get(("", "last", last[i])),
                    trie.get(("", "exact", exact[i])),
                )
                if child is not None
            ]
            while stack:
                node, j = stack.pop()
                if None in node and (best is None or j - 1 > best[0]):
                    best = (j - 1, node[None])
                if j >= n or len(node) == (None in node):
                    continue
                gap = gaps[j]
                if gap is None:
                    raw = text[spans[j - 1][1] : spans[j][0]]
                    gap = gaps[j] = " " if raw == " " else _gap(raw)
                for key in ((gap, "fold", folded[j]), (gap, "last", last[j]), (gap, "exact", exact[j])):
                    child = node.get(key)
                    if child is not None:
                        stack.append((child, j + 1))
            if best is None:
                i += 1
                continue
            out.append((self.terms[best[1]], spans[i][0], spans[best[0]][1]))
            i = best[0] + 1
        return out

    def mentions(self, text: str, section: str | None = None) -> list[Mention]:
        """Every match in ``text`` with its assertion (negated, family, hypothetical...)."""
        matches = self.find(text)
        if not matches:
            return []
        hits: list[TriggerHit] = self.context.triggers(text)
        return [
            Mention(
                term.id,
                term.label,
                a,
                b,
                text[a:b],
                term.earliest_stage,
                self.context.assess(text, a, b, section=section, hits=hits),
            )
            for term, a, b in matches
        ]

    def reporter(self, text: str, mentions: Sequence[Mention]) -> str | None:
        """Evidence of a third party reporting a change (``Daughter reports ...``), or None."""
        if not _ANY_WHO.search(text):
            return None
        hits = None
        for m in _REPORTER.finditer(text):
            if not (any(x.affirmed for x in mentions) or (self._change is not None and self._change.search(text))):
                return None
            hits = self.context.triggers(text) if hits is None else hits
            cue = m.span("cue") if m.group("cue") else m.span()
            if self.context.assess(text, *cue, hits=hits).affirmed:
                return m.group(0)
        return None


_CACHE: dict[tuple[int, tuple[str, ...], int, int], tuple[Mapping[str, Any], Any, LexiconMatcher]] = {}


def matcher_for(
    lexicon: Mapping[str, Any],
    self_cause_terms: Sequence[str] | None = None,
    max_scope_words: int = 8,
    grammar: Mapping[str, Any] | None = None,
) -> LexiconMatcher:
    """The compiled matcher for a lexicon object (and the pack grammar's cues; compiled once per settings)."""
    if self_cause_terms is None:
        self_cause_terms = tuple(lexicon.get("self_cause_terms", ()))
    key = (id(lexicon), tuple(self_cause_terms), max_scope_words, id(grammar))
    cached = _CACHE.get(key)
    if cached is not None and cached[0] is lexicon and cached[1] is grammar:
        return cached[2]
    cues = None
    if grammar:
        from dualalign_core.grammar.bank import PhraseBank

        cues = PhraseBank.from_dict(grammar).cue_phrases()
    matcher = LexiconMatcher(lexicon, self_cause_terms=self_cause_terms, max_scope_words=max_scope_words, cues=cues)
    _CACHE[key] = (lexicon, grammar, matcher)
    return matcher


def _disease_self_terms(disease: Any) -> tuple[str, ...]:
    names = [getattr(disease, "name", ""), getattr(disease, "title", "")]
    words = []
    for name in names:
        for w in re.split(r"[\s_'’]+", name or ""):
            w = w.lower()
            if len(w) > 3 and w not in ("disease", "disorder", "syndrome"):
                words.append(re.escape(w) + r"\w*")
    return tuple(words)


@frozen
class SentenceLabel:
    """The lexicon annotator's decision for one sentence."""

    label: str
    evidence: str | None
    mentions: tuple[Mention, ...]
    expressed: dict[str, str] = field(hash=False)  # every label with evidence (label is the top one)


class LexiconAnnotator(Annotator):
    """Labels sentences from the disease lexicon; offline, deterministic, with assertion context."""

    name = "lexicon"
    concurrency: ClassVar[int] = 1
    options_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "reporter_label": {
                "type": ["string", "null"],
                "default": "auto",
                "description": "Label for third-party reports ('auto': the pack's third_party_label; null: off).",
            },
            "self_cause_terms": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Regexes naming the disease itself in 'due to ...' phrases "
                "(no default here: unset means the pack lexicon's "
                "self_cause_terms).",
            },
            "max_scope_words": {"type": "integer", "minimum": 1, "maximum": 50, "default": 8},
            "use_cues": {
                "type": "boolean",
                "default": True,
                "description": "Also match the pack grammar's realisation cues.",
            },
        },
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.reporter_label: str | None = self.options["reporter_label"]
        given = self.options.get("self_cause_terms")  # dynamic: unset means the pack's own terms
        self.self_cause_terms: tuple[str, ...] | None = tuple(given) if given is not None else None
        self.max_scope_words = int(self.options["max_scope_words"])
        self.use_cues = bool(self.options["use_cues"])
        self._last_matcher: tuple[Any, Any, tuple[str, str], LexiconMatcher] | None = None

    def matcher(self, disease: Any) -> LexiconMatcher:
        """The compiled matcher for ``disease`` (remembered for the last disease: one lookup per sentence)."""
        lexicon = disease.lexicon
        grammar = getattr(disease, "grammar", None) if self.use_cues else None
        names = (getattr(disease, "name", ""), getattr(disease, "title", ""))
        last = self._last_matcher
        if last is not None and last[0] is lexicon and last[1] is grammar and last[2] == names:
            return last[3]
        own = self.self_cause_terms if self.self_cause_terms is not None else lexicon.get("self_cause_terms", ())
        terms = (*own, *_disease_self_terms(disease))
        matcher = matcher_for(lexicon, terms, self.max_scope_words, grammar)
        self._last_matcher = (lexicon, grammar, names, matcher)
        return matcher

    def _reporter_label(self, disease: Any) -> str | None:
        if self.reporter_label == "auto":
            return getattr(disease, "third_party_label", None)
        return self.reporter_label if self.reporter_label in disease.labels else None

    def label_text(self, text: str, disease: Any, section: str | None = None) -> SentenceLabel:
        """Label one sentence (synchronous; :meth:`annotate` uses it for every sentence of a note)."""
        return self._decide(
            text,
            section,
            self.matcher(disease),
            self._reporter_label(disease),
            _precedence(disease),
            disease.negative_label,
        )

    def _decide(
        self,
        text: str,
        section: str | None,
        matcher: LexiconMatcher,
        reporter_label: str | None,
        precedence: Sequence[str],
        negative: str,
    ) -> SentenceLabel:
        mentions = tuple(matcher.mentions(text, section))
        evidence: dict[str, str] = {}
        for m in mentions:
            if m.affirmed:
                evidence.setdefault(m.label, m.text)
        if reporter_label and reporter_label not in evidence:
            found = matcher.reporter(text, mentions)
            if found:
                evidence[reporter_label] = found
        for label in precedence:
            if label in evidence:
                return SentenceLabel(label, evidence[label], mentions, evidence)
        return SentenceLabel(negative, None, mentions, evidence)

    async def annotate(self, note: Note, sentences: Sequence[Sentence], ctx: Any) -> Annotation:
        disease = ctx.disease
        prov = ctx.provenance(self, ctx.seed)
        # what depends only on the disease is worked out once per note, not once per sentence
        matcher, reporter_label = self.matcher(disease), self._reporter_label(disease)
        precedence, negative, name = _precedence(disease), disease.negative_label, self.name or "lexicon"
        labels = []
        for s in sentences:
            decision = self._decide(s.text, s.section, matcher, reporter_label, precedence, negative)
            labels.append(
                Label(
                    sentence_id=s.id,
                    note_id=note.id,
                    label=decision.label,
                    binary=decision.label != negative,
                    annotator=name,
                    evidence=decision.evidence,
                    provenance=prov,
                )
            )
        return Annotation(labels=tuple(labels))


def _precedence(disease: Any) -> tuple[str, ...]:
    order = tuple(getattr(disease, "label_precedence", ()) or ())
    return order + tuple(lab for lab in disease.labels if lab not in order)
