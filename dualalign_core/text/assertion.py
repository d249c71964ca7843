"""NegEx/ConText-style assertion detection for a target mention inside one sentence.

A *trigger* phrase modifies the mentions inside its *scope*. Forward triggers (``denies``, ``family history
of``, ``monitor for``) scope over the words after them, backward triggers (``... denied``, ``... resolved``,
``... due to arthritis``) over the words before them. A scope ends at the sentence's end, at ``;``, at a
*terminator* (``but``, ``however``, ``except``; per category also presence verbs such as ``reports`` for
negation or ``now``/``currently`` for historical), or after ``max_scope_words`` words. *Pseudo-triggers*
(``no change in``, ``no longer able to``, ``previously noted``) mask the triggers they overlap, so
"no longer able to drive" stays an affirmed loss of function.

Categories: ``negated``, ``family`` (a relative's condition), ``hypothetical`` (``if``, ``watch for``,
``rule out``), ``historical`` (resolved or remote: ``no longer``, ``resolved``, ``years ago``) and
``other_cause`` (``falls due to knee arthritis``). An ``other_cause`` trigger applies only when its cause
phrase is not the disease itself: the caller passes ``self_cause(text) -> bool`` (the lexicon annotator says
yes for the disease's names, its pack's ``self_cause_terms`` and any lexicon symptom, so "needs help with
bills due to <a symptom of the disease>" stays affirmed).

Deliberate choices for notes about progressive conditions: plain "history of" is *not* historical ("a
2-year history of tremor" describes the current course) and bare "not" is *not* a negation trigger
("could not recall 3 words", "not able to manage finances" are positive findings); negation uses explicit
forms ("does not have", "has not had", "not noted").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from attrs import field, frozen

from dualalign_core.text.alternation import Alternation
from dualalign_core.values import as_frozenset

NEGATED = "negated"
FAMILY = "family"
HYPOTHETICAL = "hypothetical"
HISTORICAL = "historical"
OTHER_CAUSE = "other_cause"
CATEGORIES = (NEGATED, FAMILY, HYPOTHETICAL, HISTORICAL, OTHER_CAUSE)

FORWARD, BACKWARD, BOTH, PSEUDO, TERMINATE = "forward", "backward", "both", "pseudo", "terminate"


@frozen
class Rule:
    """A trigger: a regex (matched case-insensitively at word boundaries), its category and direction.

    For ``terminate`` rules ``category`` names the category whose scopes the phrase ends (``"*"``: all).
    """

    pattern: str
    category: str
    direction: str


_RELATIVE = (
    r"(?:mother|father|mom|dad|brother|sister|siblings?|parents?|grandmother|grandfather|"
    r"grandparents?|aunt|uncle|cousin|twin|maternal\s+\w+|paternal\s+\w+)"
)
_KIN = r"(?:son|daughter|wife|husband|spouse|partner|child|children)"
_ABILITY = (
    r"(?:able|drives?|driving|manages?|managing|handles?|handling|cooks?|cooking|pays?|paying|works?|"
    r"working|independent|safe|recognizes?|recognizing|remembers?|follows?|uses?|operates?|does|goes|"
    r"can|capable|plays?|reads?|shops?|shopping|bathes|dresses|walks?)"
)


def _rules(category: str, direction: str, *patterns: str) -> list[Rule]:
    return [Rule(p, category, direction) for p in patterns]


DEFAULT_RULES: tuple[Rule, ...] = tuple(
    _rules(
        NEGATED,
        FORWARD,
        r"no",
        r"not any",
        r"denies",
        r"deny",
        r"denying",
        r"without",
        r"w/o",
        r"negative for",
        r"neg for",
        r"free of",
        r"absence of",
        r"no evidence of",
        r"no signs? of",
        r"no signs or symptoms of",
        r"no complaints? of",
        r"no c/o",
        r"no (?:history|hx|h/o) of",
        r"no h/o",
        r"never",
        r"never had",
        r"(?:has|have|had)\s?n[o']t (?:had|been|experienced|noticed|reported)",
        r"hasn't had",
        r"haven't had",
        r"(?:does|did|do)\s?n[o']t (?:have|report|endorse|complain of|exhibit|show|demonstrate|display|"
        r"experience|need|require|use)",
        r"not (?:experiencing|exhibiting|endorsing|reporting|complaining of)",
        r"nor",
        r"neither",
        r"unremarkable for",
        r"no (?:new|further|recent|significant|obvious|apparent|"
        r"reported|acute|current|active)",
        r"resolution of",
    )
    + _rules(NEGATED, BOTH, r"denied")
    + _rules(
        NEGATED,
        BACKWARD,
        r"not (?:noted|seen|observed|present|appreciated|evident|elicited|reported|endorsed|found)",
        r"absent",
        r"ruled out",
        r"(?:is|was|were|are) negative",
        r"negative",
        r"none",
        r"unlikely",
    )
    + _rules(
        FAMILY,
        FORWARD,
        r"family (?:history|hx) (?:of|(?:is )?(?:positive|significant) for)",
        r"family (?:history|hx)",
        r"fhx?(?: of|:)",
        r"fh",
        r"strong family history",
        rf"{_RELATIVE}(?:'s)? (?:had|has had|with|died (?:of|from)|was diagnosed with|diagnosed with|"
        rf"developed|suffered from|suffers from|has a history of|history of)",
        rf"{_KIN}(?:'s)? (?:was diagnosed with|has been diagnosed with|suffers from|died of|"
        rf"has a history of|with a history of)",
    )
    + _rules(
        FAMILY,
        BACKWARD,
        rf"in (?:his|her|their|the patient's|pt's|a) {_RELATIVE}",
        r"runs in the family",
        rf"in (?:his|her|the patient's) {_KIN}",
    )
    + _rules(
        HYPOTHETICAL,
        FORWARD,
        r"if",
        r"in case of",
        r"in the event of",
        r"unless",
        r"whether",
        r"should (?:he|she|they|the patient|pt) (?:develop|experience|have|become|notice|start|show)",
        r"(?:return|call|come back|seek care|go to the ed) if",
        r"watch(?:ing)? for",
        r"monitor(?:ing)? for",
        r"observe for",
        r"look(?:ing)? out for",
        r"warning signs of",
        r"signs to watch",
        r"risks? (?:of|for)",
        r"at (?:increased |high )?risk (?:of|for)",
        r"to prevent",
        r"prevention of",
        r"preventing",
        r"rule out",
        r"r/o",
        r"screen(?:ing|ed)? for",
        r"evaluat(?:e|ion|ed) for",
        r"assess(?:ed|ment)? for",
        r"work-?up for",
        r"(?:educated|counseled|counselled|discussed|reviewed|explained) "
        r"(?:on|about|regarding|with family about)?\s?(?:the )?(?:signs|risks?|symptoms) of",
        r"(?:educated|counseled|counselled|instructed|taught)(?: \w+){0,2} (?:on|about|regarding)",
        r"(?:may|might|could|can|would) (?:develop|cause|lead to|result in|worsen|precipitate)",
        r"side effects? (?:of|include|including|such as)",
        r"in order to",
    )
    + _rules(
        HISTORICAL,
        FORWARD,
        r"(?:past|remote|prior|previous|distant|old) (?:history|hx|h/o) of",
        r"previously",
        r"formerly",
        r"used to (?:have|be|experience|get|suffer)",
        r"(?:prior|previous|remote|past) episodes? of",
        r"no longer",
    )
    + _rules(HISTORICAL, BOTH, r"resolved", r"as a (?:child|teenager|young adult)")
    + _rules(
        HISTORICAL,
        BACKWARD,
        r"(?:has|had|have|now|since|which|that) resolved",
        r"in remission",
        r"in the past",
        r"(?:\d+|many|several|two|three|four|five|ten) (?:years|decades) ago",
        r"in (?:his|her) (?:youth|twenties|thirties|forties|20s|30s|40s)",
        r"no longer present",
    )
    + _rules(
        OTHER_CAUSE,
        BOTH,
        r"(?:likely |probably |possibly |most likely |thought to be |felt to be )?(?:due|secondary|related|"
        r"attributed|attributable|owing) to",
        r"caused by",
        r"because of",
        r"in the setting of",
        r"(?:likely |probably )?(?:resulting|stemming) from",
        r"2/2",
        r"(?:likely|probably) from",
        r"(?:side effect|adverse effect) of",
        r"(?:explained|accounted for) by",
    )
    + _rules(
        "*",
        PSEUDO,
        r"no (?:significant )?change(?:s)? in",
        r"no (?:improvement|better|worse|doubt|difference)",
        r"not (?:improved|better|worse|only|certain|sure|necessarily)",
        r"without (?:improvement|relief)",
        r"no increase in",
        r"no decrease in",
        rf"no longer {_ABILITY}",
        rf"(?:is|was) no longer {_ABILITY}",
        r"(?:previously|as previously|prior) (?:noted|reported|described|documented|mentioned|discussed)",
        r"gram[- ]negative",
        r"if needed",
        r"if necessary",
        r"as needed",
        r"if any",
        r"even if",
        r"history of present illness",
        r"(?:in|over|for|during) the (?:past|last) (?:few |several |\d+ |one |two |three |four |six )?"
        r"(?:days?|weeks?|months?|years?)",
        r"family (?:is|was|are|has|have|members?) "
        r"(?:concerned|worried|noticed|noted|reports?|reported)",
    )
    + _rules(
        "*",
        TERMINATE,
        r"but",
        r"however",
        r"although",
        r"though",
        r"yet",
        r"except",
        r"apart from",
        r"aside from",
        r"other than",
        r"whereas",
        r"which",
        r"who",
    )
    + _rules(
        NEGATED,
        TERMINATE,
        r"reports?",
        r"reported",
        r"endorses?",
        r"endorsed",
        r"complains?",
        r"complained",
        r"c/o",
        r"notes",
        r"noted",
        r"admits?",
        r"describes",
        r"states",
        r"says",
        r"presents?",
        r"positive for",
        r"is having",
        r"has been",
        r"has had",
        r"has developed",
        r"has noticed",
        r"experiences",
        r"continues",
        r"now",
        r"currently",
    )
    + _rules(
        FAMILY,
        TERMINATE,
        r"patient",
        r"pt",
        r"he",
        r"she",
        r"himself",
        r"herself",
        r"his own",
        r"her own",
        r"now",
        r"currently",
        r"reports?",
        r"presents?",
    )
    + _rules(
        HYPOTHETICAL,
        TERMINATE,
        r"already",
        r"currently",
        r"now",
        r"reports?",
        r"has had",
        r"has been",
        r"is having",
        r"since",
    )
    + _rules(
        HISTORICAL,
        TERMINATE,
        r"now",
        r"currently",
        r"presently",
        r"today",
        r"recently",
        r"recent",
        r"since",
        r"this (?:year|month|week|visit)",
        r"but",
    )
)

# After a historical trigger, these words near the target mean the problem is current after all.
_CURRENT = re.compile(
    r"(?<!\w)(?:continues?|continuing|persists?|persistent|persisting|ongoing|worsening|"
    r"worse|still|progressed|progressing|progressive|now|currently)(?!\w)",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[;.!?](?:\s|$)|;")
_WORD = re.compile(r"\w+")

SECTION_CATEGORIES = {"family_history": FAMILY, "past_medical_history": HISTORICAL}


@frozen
class TriggerHit:
    """A trigger found in a sentence: character offsets, text, category and direction."""

    start: int
    end: int
    text: str
    category: str
    direction: str


@frozen
class Assertion:
    """What context says about one mention: the categories that apply and the triggers behind them."""

    categories: frozenset[str] = field(converter=as_frozenset, factory=frozenset)
    triggers: tuple[TriggerHit, ...] = ()
    section: str | None = None

    @property
    def affirmed(self) -> bool:
        return not self.categories

    @property
    def status(self) -> str:
        """``affirmed`` or the first applying category in :data:`CATEGORIES` order."""
        for cat in CATEGORIES:
            if cat in self.categories:
                return cat
        return "affirmed"


class ContextDetector:
    """Compiled trigger rules; :meth:`assess` tells whether a target span is negated, familial, etc."""

    def __init__(
        self,
        rules: Iterable[Rule] = DEFAULT_RULES,
        *,
        max_scope_words: int = 8,
        max_backward_words: int = 6,
        self_cause: Callable[[str], bool] | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.max_scope_words = max_scope_words
        self.max_backward_words = max_backward_words
        self.self_cause = self_cause
        # longest pattern first; one alternation whose shared left boundary is tested once per position,
        # dispatched on the first character so each word start tries only the rules that can begin there
        self._order = sorted(range(len(self.rules)), key=lambda i: -len(self.rules[i].pattern))
        self._alternation = Alternation(
            [rf"(?:{self.rules[i].pattern})(?![\w/])" for i in self._order], lead=r"(?<![\w/])", flags=re.IGNORECASE
        )

    def triggers(self, text: str) -> list[TriggerHit]:
        """Triggers, pseudo-triggers and terminators in ``text`` (leftmost-longest, no overlaps)."""
        hits = []
        for k, m in self._alternation.matches(text):
            rule = self.rules[self._order[k]]
            hits.append(TriggerHit(m.start(), m.end(), m.group(0), rule.category, rule.direction))
        return hits

    def assess(
        self, text: str, start: int, end: int, *, section: str | None = None, hits: Sequence[TriggerHit] | None = None
    ) -> Assertion:
        """The assertion for the mention ``text[start:end]`` (offsets into the sentence ``text``)."""
        hits = self.triggers(text) if hits is None else hits
        categories: set[str] = set()
        used: list[TriggerHit] = []
        if section in SECTION_CATEGORIES:
            categories.add(SECTION_CATEGORIES[section])
        for hit in hits:
            if hit.direction in (PSEUDO, TERMINATE) or (hit.start < end and start < hit.end):
                continue
            if hit.end <= start and hit.direction in (FORWARD, BOTH):
                ok = self._in_scope(text, hits, hit, hit.end, start, self.max_scope_words)
            elif hit.start >= end and hit.direction in (BACKWARD, BOTH):
                ok = self._in_scope(text, hits, hit, end, hit.start, self.max_backward_words)
            else:
                ok = False
            if not ok:
                continue
            if hit.category == OTHER_CAUSE and not self._other_cause(text, hit, start, end):
                continue
            if hit.category == HISTORICAL and self._current_after(text, hits, end):
                continue
            categories.add(hit.category)
            used.append(hit)
        return Assertion(frozenset(categories), tuple(used), section)

    def _in_scope(
        self, text: str, hits: Sequence[TriggerHit], trigger: TriggerHit, a: int, b: int, max_words: int
    ) -> bool:
        between = text[a:b]
        if _CLAUSE_END.search(between) or len(_WORD.findall(between)) > max_words:
            return False
        return not any(
            h.direction == TERMINATE and a <= h.start and h.end <= b and h.category in ("*", trigger.category)
            for h in hits
        )

    def _other_cause(self, text: str, hit: TriggerHit, start: int, end: int) -> bool:
        """Whether the cause named after ``hit`` is something other than the disease itself."""
        if hit.start >= end:  # "falls due to arthritis": the cause follows the trigger
            cause = re.split(r"[,;.]", text[hit.end :], maxsplit=1)[0]
        else:  # "Due to arthritis, he falls": the cause runs up to the comma before the target
            head = text[hit.end : start]
            if "," not in head:
                return False  # the target is (part of) the cause itself
            cause = head.split(",", 1)[0]
        if not cause.strip():
            return False
        return not (self.self_cause and self.self_cause(cause))

    @staticmethod
    def _current_after(text: str, hits: Sequence[TriggerHit], end: int) -> bool:
        """Whether the clause after the mention calls it current ("... continues", "still ...")."""
        clause = list(re.split(r"[;.!?]", text[end:], maxsplit=1)[0])
        for h in hits:  # "now resolved" is a historical trigger, not a sign of a current problem
            if h.category == HISTORICAL and h.start >= end:
                for i in range(h.start - end, min(h.end - end, len(clause))):
                    clause[i] = " "
        return bool(_CURRENT.search("".join(clause)))
