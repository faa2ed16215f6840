"""Where the vectors live: the interface between retrieval and a vector store, and its implementations.

Retrieval (:class:`rsiqa.search.retrieval.Retriever`) asks a store for three things and does
everything else itself (fusion, abstention), whatever the store:

* ``candidates`` - the passages worth scoring for a search: the nearest passages to each query
  vector (dense) and the best passages for each query's BM25 token weights (sparse, inner
  product), both ``k`` deep;
* ``passage_vectors`` - the vectors of given passages;
* ``sentence_vectors`` - the vectors of the sentences of given passages, in passage order.

Two stores: :class:`rsiqa.index.stores.faiss.FaissStore` (the index folder, in memory; the
default, ``RSIQA_STORE=faiss``) and :class:`rsiqa.index.stores.milvus.MilvusStore` (a Milvus
collection; ``RSIQA_STORE=milvus``). Passages are addressed by their row in the index folder's
``passages.jsonl`` (the order every store and the retriever share).

The sparse vectors a store keeps are rsiqa's own BM25 (bm25s, Lucene variant: ``k1`` 1.5,
``b`` 0.75) split in two: each passage holds, per token, its term-frequency part
``tf / (tf + k1 * (1 - b + b * length / average length))``; a query holds, per token, its weight
(1 for its own tokens, less for the expansion's) times the token's IDF. Their inner product is
the BM25 score the retriever computes, and the passage side does not depend on the rest of the
corpus except through the average length, so an incremental rebuild rewrites only the passages
of changed files. A token's dimension is a stable hash of its text (:func:`token_dimension`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Protocol, runtime_checkable

import numpy as np

from rsiqa.index.rows import run_starts

#: bm25s's defaults (method "lucene"), which the retriever uses.
BM25_K1 = 1.5
BM25_B = 0.75
_DIMENSIONS = 2**32 - 1  # Milvus sparse vectors: indices in [0, 2**32 - 1)


@runtime_checkable
class VectorStore(Protocol):
    """What retrieval needs from where the vectors live (see the module docstring)."""

    name: str
    #: Whether the store searches the sparse (BM25) queries itself; else the caller's in-memory BM25
    #: top rows (``lexical_top``) join its dense ones.
    searches_sparse: bool
    #: Whether this process holds every passage's and sentence's vector (``IndexData.vectors``): then a search
    #: over every passage reads them there; else (Milvus) it fetches them by row like any candidates.
    holds_vectors: bool

    def candidates(self, vectors: np.ndarray, sparse_queries: list[dict[int, float]], k: int,
                   lexical_top: list[np.ndarray] | None = None) -> np.ndarray:
        """Sorted unique rows: the ``k`` nearest passages to each of ``vectors`` and the ``k`` best by each
        sparse query (or the given ``lexical_top`` rows)."""
        ...

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), d) float32: the passage vectors of ``rows`` (a missing passage: zeros)."""
        ...

    def sentence_vectors(self, rows: np.ndarray) -> np.ndarray:
        """(total sentences of ``rows``, d) float32: their sentence vectors, passage by passage, in order."""
        ...


def token_dimension(token: str) -> int:
    """The sparse dimension of a BM25 token: a stable 32-bit hash of its text."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "little") % _DIMENSIONS


def average_length(corpus_tokens: list[list[str]]) -> float:
    """The average passage length in tokens, as bm25s computes it."""
    return float(np.mean([len(t) for t in corpus_tokens])) if corpus_tokens else 1.0


def passage_sparse(tokens: list[str], avg_length: float, k1: float = BM25_K1, b: float = BM25_B) -> dict[int, float]:
    """The term-frequency part of BM25 per token of one passage, keyed by :func:`token_dimension`."""
    length = len(tokens)
    norm = k1 * ((1 - b) + b * length / max(avg_length, 1e-9))
    out: dict[int, float] = {}
    for token, tf in Counter(tokens).items():
        dim = token_dimension(token)
        out[dim] = out.get(dim, 0.0) + float(tf / (tf + norm))
    return out


class SparseQuery(dict[int, float]):
    """A query's sparse vector (dimension -> weight times IDF) that also keeps the token weights it was made from
    (``tokens``): a store whose engine weighs tokens itself (Milvus's built-in BM25) reads those."""

    tokens: dict[str, float]


def query_sparse(weights: dict[str, float], idf: dict[str, float]) -> SparseQuery:
    """A query's sparse vector: each token's weight times its IDF, keyed by :func:`token_dimension`."""
    out = SparseQuery()
    out.tokens = dict(weights)
    for token, weight in weights.items():
        value = float(weight) * float(idf.get(token, 0.0))
        if value > 0:
            dim = token_dimension(token)
            out[dim] = out.get(dim, 0.0) + value
    return out


#: Keys in a store are positive int64: the low 63 bits.
KEY_MASK = 0x7FFF_FFFF_FFFF_FFFF


def passage_key(chunk_id: str) -> int:
    """A passage's primary key in a store: its 64-bit chunk id (16 hex digits), as a positive int64."""
    return int(chunk_id, 16) & KEY_MASK


def passage_keys(chunk_numbers: np.ndarray) -> np.ndarray:
    """:func:`passage_key` of each row, from the row table's chunk ids as int64 (rsiqa.index.rows.chunk_key)."""
    return np.asarray(chunk_numbers, dtype=np.int64) & np.int64(KEY_MASK)


def sentence_key(passage: int, position: int) -> int:
    """The primary key of sentence ``position`` of the passage whose key is ``passage``."""
    return (passage * 1_000_003 + position + 1) & KEY_MASK


def sentence_keys(passage_keys: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The sentence keys of passages with keys ``passage_keys`` and ``lengths`` sentences, in order."""
    lengths = np.asarray(lengths, dtype=np.int64)
    owners = np.repeat(np.asarray(passage_keys, dtype=np.uint64), lengths)
    starts = run_starts(lengths)
    positions = (np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts, lengths)).astype(np.uint64)
    with np.errstate(over="ignore"):
        keys = owners * np.uint64(1_000_003) + positions + np.uint64(1)
    return (keys & np.uint64(KEY_MASK)).astype(np.int64)
