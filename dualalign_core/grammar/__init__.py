"""The offline note grammar: pack phrase banks -> labelled SOAP notes (see :mod:`.compose`)."""

from dualalign_core.grammar.bank import FALLBACK, PhraseBank, Realisation, check_grammar
from dualalign_core.grammar.compose import ComposedNote, GrammarOptions, NoteGrammar, Written, bank_for

__all__ = [
    "FALLBACK",
    "ComposedNote",
    "GrammarOptions",
    "NoteGrammar",
    "PhraseBank",
    "Realisation",
    "Written",
    "bank_for",
    "check_grammar",
]
