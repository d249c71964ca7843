"""Sentence annotators (lexicon, with assertion context), agreement and annotation quality figures."""
