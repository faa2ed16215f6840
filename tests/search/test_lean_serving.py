"""Issue 14 section 3: the server loads BM25 from the index folder, keeps each vector once, and scores
sentences only for candidate passages at every corpus size."""

from __future__ import annotations

import numpy as np
import pytest

from rsiqa.index.build import build_index
from rsiqa.index.integrity import DATA_FILES
from rsiqa.index.store import IndexData, load_index
from rsiqa.ingest.documents import passage_context
from rsiqa.search.lexical import build_bm25, tokenize
from rsiqa.search.query import QueryReader, spelling_texts, word_counts
from rsiqa.search.retrieval import Retriever
from rsiqa.settings import Settings

NOTES = {
    "kansi.md": "# KANSI\n\nKANSI stands for a known algorithm non-self-improving agent. It is bounded on purpose.",
    "chiang.md": "# Chiang\n\nTed Chiang compares AIs to compilers: a compiler does not improve its own design.",
    "takeoff.md": "# Takeoff\n\nA fast takeoff needs returns on cognitive reinvestment that stay large. Hardware "
                  "overhang could make it abrupt.",
    "skeptics.md": "# Skeptics\n\nSkeptics argue that each improvement is harder to find than the last one. "
                   "Diminishing returns stop the explosion.",
    "goedel.md": "# Goedel machines\n\nA Goedel machine rewrites itself only after proving the rewrite is useful.",
}
QUERIES = ["What is KANSI?", "compilers improving their design", "takeoff hardware overhang", "diminishing returns",
           "proof of usefulness before a rewrite", "nothing the corpus knows zebra"]


@pytest.fixture
def built(settings: Settings, fake_embedder) -> Settings:
    for name, text in NOTES.items():
        (settings.corpus_dir / name).write_text(text * 3, encoding="utf-8")
    build_index(settings, fake_embedder, progress=False)
    return settings


def mapped_from_disk(array: np.ndarray) -> bool:
    """``array`` reads a memory-mapped file, as a plain ndarray (no np.memmap indexing in the query path)."""
    return type(array) is np.ndarray and not array.flags.owndata and isinstance(array.base, np.memmap)


def test_served_arrays_are_plain_views_of_the_mapped_files(built: Settings) -> None:
    data = load_index(built.index_dir)
    for array in (data.sentence_vectors, data.bm25.scores["data"], data.bm25.scores["indices"],
                  data.bm25.scores["indptr"], data.passages._table):
        assert mapped_from_disk(array)
    assert type(data.bm25.scores["num_docs"]) is int  # not an array: bm25s writes it to JSON when the index is saved


def test_the_loaded_bm25_equals_the_rebuilt_one(built: Settings, fake_embedder) -> None:
    data = load_index(built.index_dir)
    assert data.bm25 is not None and mapped_from_disk(data.bm25.scores["data"])
    rebuilt = IndexData(manifest=data.manifest, passages=data.passages, vectors=np.array(data.vectors),
                        sentences=data.sentences, sentence_vectors=np.array(data.sentence_vectors), words=data.words,
                        word_vectors=data.word_vectors)
    assert rebuilt.bm25 is None
    loaded, fresh = Retriever(data, fake_embedder, built), Retriever(rebuilt, fake_embedder, built)
    assert fresh._bm25 is not data.bm25 and loaded._vocab == fresh._vocab
    # The spelling vocabulary the build counted is the one a server would count at start.
    texts = spelling_texts([passage_context(p) for p in data.passages])
    assert list(data.spelling.items()) == list(word_counts(texts).items())
    assert QueryReader([], counts=data.spelling).read("kansy bounded") == QueryReader(texts).read("kansy bounded")
    assert np.array_equal(loaded._idf, fresh._idf)
    for query in QUERIES:
        assert np.array_equal(loaded._bm25_scores(query), fresh._bm25_scores(query))
        assert loaded._coverage(query) == fresh._coverage(query)
        hits_loaded, evidence_loaded = loaded.search(query, k=5)
        hits_fresh, evidence_fresh = fresh.search(query, k=5)
        assert hits_loaded == hits_fresh and evidence_loaded == evidence_fresh
    # Postings read from the saved matrix are the passages whose text holds the token.
    tokens = build_bm25([passage_context(p) for p in data.passages]).vocab_dict
    for token in ("kansi", "compil", "overhang"):
        holding = [row for row, p in enumerate(data.passages) if token in tokenize([passage_context(p)])[0]]
        assert loaded._postings(token).tolist() == holding and token in tokens


def test_each_passage_vector_is_stored_once(built: Settings) -> None:
    folder = built.index_dir
    assert not (folder / "vectors.npy").exists() and "vectors.npy" not in DATA_FILES
    data = load_index(folder)
    n, d = data.vectors.shape
    faiss_bytes = (folder / "index.faiss").stat().st_size
    on_disk = sum(p.stat().st_size for p in folder.iterdir())
    assert n * d * 4 <= faiss_bytes < 2 * n * d * 4  # the vectors, once, in the FAISS index
    assert on_disk - faiss_bytes < n * d * 4 + data.sentence_vectors.nbytes + data.word_vectors.nbytes + 200_000
    # In memory too: the passage vectors are a view of the FAISS index's own storage, not a copy.
    assert not data.vectors.flags.owndata and not data.vectors.flags.writeable
    _, ids = data.faiss_index.search(np.ascontiguousarray(data.vectors[:3]), 1)
    assert ids[:, 0].tolist() == [0, 1, 2]


def test_below_the_ann_threshold_only_candidates_have_their_sentences_scored(built: Settings, fake_embedder) -> None:
    data = load_index(built.index_dir)
    assert len(data.passages) > 2 and len(data.passages) < built.ann_threshold
    everything = Retriever(data, fake_embedder, built)  # candidates (50) >= passages: every passage is scored
    query = "What is KANSI?"
    vectors = fake_embedder.encode([query])
    assert everything._candidates(vectors, [everything._bm25_scores(query)]) is None
    few = Retriever(data, fake_embedder, built.model_copy(update={"candidates": 1}))
    rows = few._candidates(vectors, [few._bm25_scores(query)])
    assert rows is not None and 1 <= len(rows) <= 2 < len(data.passages)
    scored: list[int] = []
    original = data.sentence_vectors
    class Spy(np.ndarray):
        def __getitem__(self, item):
            scored.extend(np.atleast_1d(np.arange(len(original))[item]).tolist())
            return np.asarray(original)[item]
    data.sentence_vectors = np.asarray(original).view(Spy)
    hits, _ = few.search(query, k=2)
    owners = {int(data.sentence_owner[i]) for i in scored}
    assert owners and owners <= set(rows.tolist())  # no sentence of another passage was read
    assert {h.row for h in hits} <= set(rows.tolist())
    assert data.passages[hits[0].row].source.path == "kansi.md"
