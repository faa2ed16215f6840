"""Words as BM25 sees them: lower-cased, accent-folded, stop words dropped, Snowball-stemmed."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Sequence

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

_STEMMER = Stemmer.Stemmer("english")
# bm25s's NLTK-derived English list, plus the modal verbs it lacks (they open most questions),
# the words that only phrase a request to a chatbot ("Tell me about ...", "Please explain ...")
# and the indefinite pronouns it lacks ("Did anyone respond to ...?").
STOPWORDS = sorted(set(STOPWORDS_EN_PLUS) | {"could", "would", "might", "may", "must", "shall",
                                             "tell", "explain", "describe", "please",
                                             "anyone", "anybody", "someone", "somebody", "everyone", "everybody",
                                             "anything", "something", "everything", "nobody", "whoever", "whatever",
                                             "us", "whose",
                                             "isnt", "arent", "wasnt", "werent", "dont", "doesnt", "didnt", "cant",
                                             "couldnt", "wouldnt", "shouldnt", "wont", "hasnt", "havent", "hadnt",
                                             "thats", "theyre", "youre", "ive", "im", "hes", "shes", "theres"})
_STOPSET = frozenset(STOPWORDS)
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's token pattern: words of two or more characters

#: Pronouns that point back to something said before ("Would that be easier for it?").
POINTING_BACK = ("this", "that", "these", "those", "it", "its", "they", "them", "their", "he", "him", "his", "she", "her")
#: ... and phrases that do ("what does the other side reply?", "does the latter hold?").
_POINTING_BACK_PHRASES = (r"the\s+other", r"the\s+former", r"the\s+latter")
REFERS_BACK = re.compile(rf"\b({'|'.join(POINTING_BACK + _POINTING_BACK_PHRASES)})\b", re.IGNORECASE)


class _DropCombining(dict):
    """A ``str.translate`` table that drops combining characters and keeps every other one,
    filled as characters are met (a build meets a few hundred distinct ones in millions)."""

    def __missing__(self, code: int) -> str | None:
        value = None if unicodedata.combining(chr(code)) else chr(code)
        self[code] = value
        return value


_DROP_COMBINING = _DropCombining()


def normal_words(text: str) -> str:
    """``text`` as lower-case words, accents folded, single spaces: for comparing two texts word for word
    (a question already asked, a title written in a question)."""
    return " ".join(re.findall(r"\w+", fold_accents(text).lower()))


def fold_accents(text: str) -> str:
    """Strip accents so "Gödel" and "Godel" are one word."""
    if text.isascii():  # nothing to strip (most questions): skip the per-character pass
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed if decomposed.isascii() else decomposed.translate(_DROP_COMBINING)


def content_words(text: str) -> list[str]:
    """The text's words, lower-cased and accent-folded, without stop words (not yet stemmed)."""
    return [w for w in _TOKEN.findall(fold_accents(text).lower()) if w not in _STOPSET]


def stem(words: list[str]) -> list[str]:
    """Snowball English stems of ``words`` ("improvements" -> "improv")."""
    return _STEMMER.stemWords(words)


#: A hyphenated word with a one-letter part ("f-strings", "e-mail", "x-risk"): the token pattern drops that part.
_LETTER_COMPOUND = re.compile(r"(?<![\w-])(?:[^\W\d_]-[^\W_]{2,}|[^\W_]{2,}-[^\W\d_])(?![\w-])")


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased, accent-folded, stop-word-free, stemmed word tokens (the BM25 vocabulary).

    The same steps as ``bm25s.tokenize`` with these stop words and stemmer, done directly: it
    runs several times per question, and bm25s's version costs more than the rest of BM25.
    A hyphenated word with a one-letter part is also a token of its own, joined ("f-strings" ->
    "fstring" besides "string"): its letter is what tells it apart, and words of one letter are
    not tokens. A question that writes it apart ("f strings") joins it too (:func:`query_tokens`).
    """
    out = []
    for text in texts:
        words = content_words(text)
        if "-" in text:
            words += [w.replace("-", "") for w in _LETTER_COMPOUND.findall(fold_accents(text).lower())]
        out.append(stem(words))
    return out


def joined_words(text: str, vocabulary: Container[str]) -> list[tuple[str, str, str]]:
    """Neighbouring words of ``text`` that the corpus writes as one: (first, second, the joined token), as
    ("multi", "polar", "multipolar") for "multi-polar" or ("take", "off", "takeoff") for "take off"."""
    words = re.findall(r"[^\W_]+", fold_accents(text).lower())
    pairs = [(first, second, _STEMMER.stemWord(first + second)) for first, second in zip(words, words[1:])]
    return [pair for pair in pairs if pair[2] in vocabulary]


def query_tokens(text: str, vocabulary: dict[str, int],
                 joined: Sequence[tuple[str, str, str]] | None = None) -> list[str]:
    """A query's tokens that the corpus knows, plus joined neighbours ("take off" -> "takeoff").

    Joining adjacent words catches compounds written apart in a question but together in
    the text; a joined form counts only when the corpus contains it. ``joined``: the text's
    :func:`joined_words`, when the caller has them already.
    """
    tokens = [t for t in tokenize([text])[0] if t in vocabulary]
    for _, _, joined_token in joined_words(text, vocabulary) if joined is None else joined:
        if joined_token not in tokens:
            tokens.append(joined_token)
    return tokens


def build_bm25(texts: list[str], tokens: list[list[str]] | None = None):
    """A bm25s index (Lucene BM25, bm25s's defaults) of ``texts`` as :func:`tokenize` sees them
    (``tokens``: that tokenization, when the caller has it already).

    A build writes it into the index folder (:mod:`rsiqa.index.store`), so a server loads it
    instead of tokenising every passage again at start.
    """
    import logging

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import and logs every index build
    bm25 = bm25s.BM25()
    bm25.index(tokenize(texts) if tokens is None else tokens, show_progress=False)
    return bm25


def token_postings(bm25, token_id: int):
    """The rows (passages) that hold the token ``token_id``: its column of bm25s's score matrix.

    bm25s stores a score for every (passage, token) pair where the token occurs, and a BM25
    score of an occurring token is never zero (its IDF is positive), so the column is exactly
    the token's postings, in row order.
    """
    indptr = bm25.scores["indptr"]
    if token_id + 1 >= len(indptr):  # bm25s's empty token "" has no column
        return bm25.scores["indices"][:0]
    return bm25.scores["indices"][indptr[token_id]:indptr[token_id + 1]]
