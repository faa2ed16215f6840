"""Query expansion: a question's words widened to the corpus words nearest in meaning.

BM25 matches spellings, so a paraphrase misses its passage: "risk" never finds "danger",
"forever" never finds "indefinitely", and "builds" never finds "built" (the stemmer keeps
irregular forms apart). So the corpus's words (alphabetic, three letters or more; the
``Settings.expansion_vocabulary`` BM25 tokens found in the most passages) are embedded alone at
build time, each token in its most frequent spelling: the index's word table. At query time
each content word of the question is embedded the same way (looked up when the table has it),
and its closest table tokens (at most ``Settings.expansion_neighbours``) whose cosine reaches
``Settings.expansion_similarity`` join the BM25 query with weight
``Settings.expansion_weight * cosine``; the question's own tokens weigh 1. MiniLM's word
vectors also put some antonyms close ("slowly"/"quickly"); the lower weight and the cap keep
such neighbours from outweighing the words actually asked.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np

from rsiqa.index.embedding import Embedder
from rsiqa.search.lexical import content_words, stem


def _expandable(words: Iterable[str]) -> list[str]:
    """Words worth a vector of their own: alphabetic, three letters or more."""
    return [w for w in words if len(w) > 2 and w.isalpha()]


def corpus_words(texts: Sequence[str], limit: int) -> list[str]:
    """The word table: one spelling (the most frequent) per BM25 token of ``texts``, for the
    ``limit`` tokens found in the most texts, sorted.

    Two passes over ``texts``, so that spellings are counted only for the tokens kept.
    """
    doc_freq: Counter[str] = Counter()
    for text in texts:
        doc_freq.update(set(stem(_expandable(content_words(text)))))
    kept = set(sorted(doc_freq, key=lambda token: (-doc_freq[token], token))[:limit])
    spellings: Counter[tuple[str, str]] = Counter()
    for text in texts:
        words = _expandable(content_words(text))
        spellings.update((token, word) for token, word in zip(stem(words), words) if token in kept)
    best: dict[str, tuple[int, str]] = {}
    for (token, word), count in spellings.items():  # in order of first appearance
        if token not in best or count > best[token][0]:  # the most frequent spelling; ties: the first seen
            best[token] = (count, word)
    return sorted(word for _, word in best.values())


class WordExpander:
    """Finds the corpus tokens near a question's words, from the index's word table.

    Each word's neighbours are found once (one row of cosines against the table) and cached,
    so a question whose words were seen before costs only dictionary lookups.
    """

    def __init__(self, words: list[str], vectors: np.ndarray, embedder: Embedder, similarity: float,
                 weight: float, neighbours: int = 3, cache_size: int = 20_000, max_words: int = 24) -> None:
        self.similarity = similarity
        self.weight = weight
        self.neighbours = neighbours
        self.max_words = max_words  # words of one text expanded: bounds what a request can cost
        self._embedder = embedder
        self._tokens = stem(words)
        self._rows = {token: row for row, token in enumerate(self._tokens)}
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._cache: OrderedDict[str, list[tuple[str, float]]] = OrderedDict()  # word -> its neighbours
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def _find(self, words: list[str], tokens: list[str]) -> list[list[tuple[str, float]]]:
        """Each word's closest table tokens (at most ``neighbours``, cosine >= ``similarity``, its own left out).

        A word in the table uses the table's vector; any other word is embedded.
        """
        vectors = np.zeros((len(words), self._vectors.shape[1]), dtype=np.float32)
        unknown = [i for i, token in enumerate(tokens) if token not in self._rows]
        for i, token in enumerate(tokens):
            if token in self._rows:
                vectors[i] = self._vectors[self._rows[token]]
        if unknown:
            vectors[unknown] = self._embedder.encode([words[i] for i in unknown])
        similarities = vectors @ self._vectors.T
        found = []
        for own, row_similarities in zip(tokens, similarities):
            close = np.flatnonzero(row_similarities >= self.similarity)
            best = close[np.argsort(-row_similarities[close], kind="stable")][: self.neighbours]
            found.append([(self._tokens[r], float(row_similarities[r])) for r in best if self._tokens[r] != own])
        return found

    def _neighbours(self, words: list[str]) -> list[list[tuple[str, float]]]:
        """The cached neighbours of each word, finding those not cached yet (outside the lock)."""
        with self._lock:
            cached = {w: self._cache[w] for w in words if w in self._cache}
            for word in cached:
                self._cache.move_to_end(word)
        missing = [w for w in words if w not in cached]
        if missing:
            cached.update(zip(missing, self._find(missing, stem(missing))))
            with self._lock:
                for word in missing:
                    self._cache[word] = cached[word]
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return [cached[w] for w in words]

    def neighbours_of(self, word: str) -> list[tuple[str, float]]:
        """The corpus tokens close in meaning to ``word`` (its own token left out), closest first."""
        return self._neighbours([word])[0] if len(self._vectors) else []

    def expand(self, text: str, exclude: Iterable[str] = ()) -> dict[str, float]:
        """Corpus tokens near ``text``'s words in meaning, each with its BM25 query weight.

        Each word brings at most ``neighbours`` tokens (its closest), so that a common word
        cannot flood the query. Tokens in ``exclude`` (the query's own) and each word's own
        token are left out. Only the first ``max_words`` distinct words are expanded: a text of
        thousands of unknown words would otherwise embed each of them.
        """
        words = list(dict.fromkeys(_expandable(content_words(text))))[: self.max_words]
        if not words or not len(self._vectors) or self.weight <= 0:
            return {}
        skip = set(exclude) | set(stem(words))
        found: dict[str, float] = {}
        for neighbours in self._neighbours(words):
            for token, similarity in neighbours:
                if token not in skip:
                    found[token] = max(found.get(token, 0.0), self.weight * similarity)
        return found
