"""The Milvus store (rsiqa.index.stores.milvus) against a `milvus-lite server` (or RSIQA_MILVUS_URI): builds write
collections and switch aliases, incremental rebuilds write only changed files, retrieval equals FAISS's."""

from __future__ import annotations

import numpy as np
import pytest
from milvus_server import TOPICS, milvus, milvus_client, milvus_settings, small, write_topics  # noqa: F401
from pymilvus import MilvusClient

from rsiqa.index.build import build_index, index_is_current
from rsiqa.index.store import load_index, read_manifest
from rsiqa.index.stores import VectorStore, passage_sparse, query_sparse, sentence_key, sentence_keys, average_length
from rsiqa.index.stores.faiss import FaissStore
from rsiqa.index.stores.milvus import MilvusBuild, MilvusStore, has_aliases, load_milvus_index
from rsiqa.ingest.documents import passage_context
from rsiqa.search.lexical import tokenize
from rsiqa.search.retrieval import Retriever


def _served(client: MilvusClient, settings, record: dict) -> str:
    """The passages collection served: the alias's target, or (an engine without aliases, Milvus Lite 2.5) the one
    the index folder names, its record saying there are no aliases."""
    if has_aliases(client):
        return client.describe_alias(alias=f"{settings.milvus_collection_prefix}passages")["collection_name"]
    assert record["aliases"] is None
    return read_manifest(settings.index_dir)["milvus"]["passages"]


def test_keys_and_bm25_split_give_the_retrievers_scores(settings, fake_embedder):
    assert sentence_keys(np.array([2**62 + 5, 7]), np.array([2, 1])).tolist() == [
        sentence_key(2**62 + 5, 0), sentence_key(2**62 + 5, 1), sentence_key(7, 0)]
    write_topics(settings.corpus_dir)
    build_index(settings.model_copy(update={"chunk_min_words": 5, "chunk_max_words": 20}), fake_embedder, progress=False)
    data = load_index(settings.index_dir)
    retriever = Retriever(data, fake_embedder, settings)
    tokens = tokenize([passage_context(p) for p in data.passages])
    avg = average_length(tokens)
    docs = [passage_sparse(t, avg) for t in tokens]
    for question in ("Is a compiler that compiles itself smarter?", "self-play without human games"):
        weights = retriever._lexical_weights(question)
        idf = {t: float(retriever._idf[retriever._vocab[t]]) for t in weights}
        query = query_sparse(weights, idf)
        inner = np.array([sum(v * doc.get(d, 0.0) for d, v in query.items()) for doc in docs])
        assert inner.max() > 0
        np.testing.assert_allclose(inner, retriever._bm25_scores(question), rtol=1e-5, atol=1e-6)



def _built(settings, embedder) -> dict:
    """Write the small corpus, build it into Milvus and return the manifest's Milvus record."""
    write_topics(settings.corpus_dir)
    build_index(settings, embedder, progress=False)
    return read_manifest(settings.index_dir)["milvus"]

@pytest.mark.slow  # starts a milvus-lite server
def test_a_build_writes_collections_and_the_alias_and_the_store_serves_the_same_vectors(small, fake_embedder):
    record = _built(small, fake_embedder)
    client = milvus_client(small)
    assert _served(client, small, record) == record["passages"]
    faiss_data = load_index(small.index_dir)
    data, store = load_milvus_index(small.index_dir, small)
    assert isinstance(store, VectorStore) and isinstance(FaissStore(faiss_data), VectorStore)
    assert data.vectors.size == 0 and data.sentence_vectors.size == 0  # no copy of the vectors in this process
    n = len(faiss_data.passages)
    assert n >= 8 and record["write"] == {**record["write"], "mode": "full", "passages_written": n}
    rows = np.arange(n)
    np.testing.assert_allclose(store.passage_vectors(rows), faiss_data.vectors, atol=1e-6)
    np.testing.assert_allclose(store.sentence_vectors(rows[::-1]), FaissStore(faiss_data).sentence_vectors(rows[::-1]),
                               atol=1e-6)
    # Candidates: the k nearest by the dense vector, and the best by the sparse BM25 query.
    question = faiss_data.vectors[3]
    found = store.candidates(question[None, :], [], 3)
    assert 3 in found and len(found) == 3
    retriever = Retriever(faiss_data, fake_embedder, small)
    weights = retriever._lexical_weights("compiler bootstrapping")
    idf = {t: float(retriever._idf[retriever._vocab[t]]) for t in weights}
    best = int(np.argmax(retriever._bm25_scores("compiler bootstrapping")))
    assert best in store.candidates(question[None, :], [query_sparse(weights, idf)], 1)
    # What the store keeps is a bounded number of rows' vectors, not a copy of the corpus.
    store.cache_rows = 4
    store._cache.clear()
    np.testing.assert_allclose(store.passage_vectors(rows), faiss_data.vectors, atol=1e-6)
    assert len(store._cache) == 4


@pytest.mark.slow  # starts a milvus-lite server
def test_retrieval_with_milvus_equals_faiss(small, fake_embedder):
    """Below ann_threshold every passage is scored: the same ranks, scores and sentences as FAISS."""
    write_topics(small.corpus_dir)
    build_index(small, fake_embedder, progress=False)
    configured = small
    faiss_retriever = Retriever(load_index(small.index_dir), fake_embedder, configured)
    data, store = load_milvus_index(small.index_dir, configured)
    milvus_retriever = Retriever(data, fake_embedder, configured, store)
    for question in ("What is KANSI?", "Can a compiler bootstrap itself to be smarter?", "Why no exponential growth?",
                     "self-play Go"):
        expected, evidence = faiss_retriever.search(question, k=4)
        got, got_evidence = milvus_retriever.search(question, k=4)
        assert [h.row for h in got] == [h.row for h in expected]
        assert [h.fused for h in got] == pytest.approx([h.fused for h in expected], abs=1e-5)
        assert [h.best_sentence for h in got] == [h.best_sentence for h in expected]
        assert got_evidence.top_sentence == pytest.approx(evidence.top_sentence, abs=1e-5)


@pytest.mark.slow  # starts a milvus-lite server
def test_a_failed_build_leaves_the_served_alias_and_collections_untouched(small, fake_embedder, monkeypatch):
    write_topics(small.corpus_dir)
    build_index(small, fake_embedder, progress=False)
    before = read_manifest(small.index_dir)
    client = milvus_client(small)
    served = _served(client, small, before["milvus"])
    collections = sorted(client.list_collections())

    def broken(*args, **kwargs):
        raise RuntimeError("Milvus went away mid-build")

    monkeypatch.setattr(MilvusBuild, "_check_count", broken)
    (small.corpus_dir / "new.md").write_text("A brand new file about seed AI takeoff speeds.\n", encoding="utf-8")
    full = small.model_copy(update={"milvus_incremental": False})
    with pytest.raises(RuntimeError, match="went away"):
        build_index(full, fake_embedder, progress=False)
    assert _served(client, small, before["milvus"]) == served
    assert sorted(client.list_collections()) == collections  # the half-written collections were dropped
    assert read_manifest(small.index_dir) == before


@pytest.mark.slow  # starts a milvus-lite server
def test_an_incremental_rebuild_writes_only_the_changed_files_passages(small, fake_embedder):
    first = _built(small, fake_embedder)
    changed = dict(TOPICS, **{"go.md": ["Go play went from amateur to superhuman after a simpler architecture.",
                                        "MuZero then learned the rules of the game too."]})
    write_topics(small.corpus_dir, changed)
    (small.corpus_dir / "chollet.md").unlink()
    build_index(small, fake_embedder, progress=False)
    manifest = read_manifest(small.index_dir)
    record = manifest["milvus"]
    go = [p for p in load_index(small.index_dir).passages if p.source.path == "go.md"]
    assert record["passages"] == first["passages"]  # the same collection, updated in place
    assert record["write"]["mode"] == "incremental"
    assert record["write"]["passages_written"] == len(go) and record["write"]["changed_files"] == 1
    assert record["write"]["removed_files"] == 1 and record["write"]["passages_deleted"] >= 2
    client = milvus_client(small)
    count = client.query(record["passages"], filter="", output_fields=["count(*)"], consistency_level="Strong")
    assert count[0]["count(*)"] == manifest["passages"]
    data, store = load_milvus_index(small.index_dir, small)
    faiss_data = load_index(small.index_dir)
    np.testing.assert_allclose(store.passage_vectors(np.arange(len(data.passages))), faiss_data.vectors, atol=1e-6)
    # Settings that change every passage (chunking) write a new collection and switch the alias.
    rechunked = small.model_copy(update={"chunk_max_words": 30})
    build_index(rechunked, fake_embedder, progress=False)
    third = read_manifest(small.index_dir)["milvus"]
    assert third["passages"] != first["passages"] and third["write"]["mode"] == "full"
    assert _served(client, small, third) == third["passages"]


@pytest.mark.slow  # starts a milvus-lite server
def test_the_store_reloads_collections_after_a_reopen(small, fake_embedder):
    record = _built(small, fake_embedder)
    client = milvus_client(small)
    client.release_collection(record["passages"])
    client.release_collection(record["sentences"])
    data, store = load_milvus_index(small.index_dir, small)  # calls load_collection again
    assert isinstance(store, MilvusStore)
    assert store.candidates(store.passage_vectors(np.array([0])), [], 2).size == 2


@pytest.mark.slow  # starts a milvus-lite server
def test_candidates_from_milvus_are_the_dense_top_k_and_the_bm25_top_k(small, fake_embedder):
    """Above ann_threshold the candidates are FAISS's: the k nearest passages, and BM25's k best among passages that
    share a token with the query (FAISS's argpartition also fills up with passages scoring 0; Milvus does not)."""
    write_topics(small.corpus_dir)
    build_index(small, fake_embedder, progress=False)
    configured = small.model_copy(update={"ann_threshold": 1, "candidates": 3})
    faiss_retriever = Retriever(load_index(small.index_dir), fake_embedder, configured)
    data, store = load_milvus_index(small.index_dir, configured)
    milvus_retriever = Retriever(data, fake_embedder, configured, store)
    for question in ("What is KANSI?", "Can a compiler bootstrap itself to be smarter?", "self-play Go"):
        vectors = fake_embedder.encode([question])
        weights = [faiss_retriever._lexical_weights(question)]
        bm25 = faiss_retriever._bm25_scores(question, weights[0])
        _, dense = faiss_retriever.data.faiss_index.search(vectors, 3)
        positive = np.flatnonzero(bm25 > 0)
        third = np.sort(bm25[positive])[::-1][:3].min()
        got = set(milvus_retriever._candidates(vectors, [bm25], weights).tolist())
        assert set(dense.ravel().tolist()) | set(np.flatnonzero(bm25 > third).tolist()) <= got  # ties at the 3rd: either
        assert got <= set(dense.ravel().tolist()) | set(np.flatnonzero(bm25 >= third).tolist())
        assert len(got - set(dense.ravel().tolist())) <= 3
        hits, _ = milvus_retriever.search(question, k=2)
        assert hits[0].row == faiss_retriever.search(question, k=2)[0][0].row


@pytest.mark.slow  # starts a milvus-lite server
def test_without_aliases_the_index_folder_names_the_collections_served(small, fake_embedder, monkeypatch):
    """Milvus Lite 2.5 has no aliases: builds still succeed, and the manifest (swapped atomically) is the switch."""
    from rsiqa.search.engine import Engine

    def no_aliases(*args, **kwargs):
        raise RuntimeError("aliases are not supported")

    for method in ("list_aliases", "describe_alias", "create_alias", "alter_alias"):
        monkeypatch.setattr(MilvusClient, method, no_aliases)
    first = _built(small, fake_embedder)
    engine = Engine(small.model_copy(update={"reload_check_seconds": 0.0}), embedder=fake_embedder)
    assert engine._state.retriever.store.passages == first["passages"] and engine._state.retriever.store.alias_target() is None
    build_index(small.model_copy(update={"milvus_incremental": False}), fake_embedder, progress=False)
    second = read_manifest(small.index_dir)["milvus"]
    assert second["passages"] != first["passages"]
    assert engine.reload_if_changed() is True
    assert engine._state.retriever.store.passages == second["passages"]
    hits, _ = engine._state.retriever.search("What is KANSI?", k=1)
    assert engine.data.passages[hits[0].row].source.path == "kansi.md"


@pytest.mark.slow  # starts a milvus-lite server
def test_an_index_is_current_for_milvus_only_with_its_collections(small, fake_embedder):
    """`rsiqa build --if-stale` (make run) rebuilds a FAISS-only index, or one whose collections are gone, for Milvus."""
    write_topics(small.corpus_dir)
    build_index(small.model_copy(update={"store": "faiss"}), fake_embedder, progress=False)
    assert index_is_current(small.model_copy(update={"store": "faiss"}))
    assert not index_is_current(small)
    build_index(small, fake_embedder, progress=False)
    assert index_is_current(small)
    assert not index_is_current(small.model_copy(update={"milvus_collection_prefix": "other_"}))
    milvus_client(small).drop_collection(read_manifest(small.index_dir)["milvus"]["sentences"])
    assert not index_is_current(small)


def _entities(client: MilvusClient, collection: str, fields: list[str]) -> dict[int, dict]:
    rows = client.query(collection, filter="id >= 0", output_fields=["id", *fields], consistency_level="Strong",
                        limit=1000)
    return {int(r["id"]): {f: r[f] for f in fields} for r in rows}


@pytest.mark.slow  # starts a milvus-lite server
def test_a_write_in_parts_stores_what_one_write_stores(small, fake_embedder):
    """start / add (a corpus too large to hold at once, in parts) / finish: the same entities and record as write()."""
    write_topics(small.corpus_dir)
    build_index(small.model_copy(update={"store": "faiss"}), fake_embedder, progress=False)
    data = load_index(small.index_dir)
    passages, sentences = list(data.passages), list(data.sentences)
    n = len(passages)
    assert n >= 8
    passages.append(passages[1])  # a passage twice (another part's key): written once, as write() does
    sentences.append(sentences[1])
    vectors = np.concatenate([data.vectors, data.vectors[1:2]])
    starts = data.sentence_starts
    sentence_vectors = np.concatenate([data.sentence_vectors, data.sentence_vectors[starts[1]:starts[1] + len(sentences[1])]])
    whole = MilvusBuild(small, small.index_dir).write(passages, sentences, vectors, sentence_vectors, {}, "key")
    parts = MilvusBuild(small, small.index_dir)
    avg = average_length(tokenize([passage_context(p) for p in passages]))
    parts.start(vectors.shape[1], avg, "key")
    cut = [0, 3, 7, n + 1]
    for a, b in zip(cut, cut[1:]):
        s0, s1 = int(sum(len(s) for s in sentences[:a])), int(sum(len(s) for s in sentences[:b]))
        parts.add(passages[a:b], sentences[a:b], vectors[a:b], sentence_vectors[s0:s1])
    record = parts.finish()
    assert record["passages"] != whole["passages"]
    same = ("avg_length", "settings_key", "search", "dense_index", "bm25")
    assert {k: record[k] for k in same} == {k: whole[k] for k in same}
    assert record["write"]["passages_written"] == whole["write"]["passages_written"] == n
    assert record["write"]["sentences_written"] == whole["write"]["sentences_written"] == len(data.sentence_vectors)
    client = milvus_client(small)
    for kind, fields in (("passages", ["file", "chunk_id", "text", "source", "vector", "sparse"]),
                         ("sentences", ["passage", "position", "file", "vector"])):
        got, expected = _entities(client, record[kind], fields), _entities(client, whole[kind], fields)
        assert sorted(got) == sorted(expected)
        for key, entity in expected.items():
            for field in fields:
                if field == "vector":
                    np.testing.assert_allclose(got[key][field], entity[field], atol=1e-6)
                elif field == "sparse":
                    assert got[key][field] == pytest.approx(entity[field], rel=1e-6)
                else:
                    assert got[key][field] == entity[field]
