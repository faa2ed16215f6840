"""The default store: the vectors and FAISS index of a loaded index folder (:mod:`rsiqa.index.store`), in memory."""

from __future__ import annotations

import numpy as np

from rsiqa.index.rows import run_starts
from rsiqa.index.store import IndexData


class FaissStore:
    """:class:`rsiqa.index.stores.VectorStore` over an :class:`IndexData`: what retrieval did before stores existed.

    Its sparse side is the retriever's own BM25 (scored in memory); ``candidates`` here takes the
    BM25 score arrays' top rows from the caller through ``lexical_top``.
    """

    name = "faiss"
    searches_sparse = False
    holds_vectors = True

    def __init__(self, data: IndexData) -> None:
        self.data = data

    def candidates(self, vectors: np.ndarray, sparse_queries: list[dict[int, float]], k: int,
                   lexical_top: list[np.ndarray] | None = None) -> np.ndarray:
        _, ids = self.data.faiss_index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        found = [ids[ids >= 0].ravel()] + list(lexical_top or [])
        return np.unique(np.concatenate(found)).astype(np.int64)

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.data.vectors[rows]

    def sentence_vectors(self, rows: np.ndarray) -> np.ndarray:
        lengths = self.data.sentence_counts[rows]
        starts = run_starts(lengths)
        sentence_rows = np.repeat(self.data.sentence_starts[rows] - starts, lengths) + np.arange(int(lengths.sum()))
        return self.data.sentence_vectors[sentence_rows]
