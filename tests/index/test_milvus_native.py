"""RSIQA_MILVUS_SEARCH=native: Milvus's built-in BM25 function and hybrid_search supply the candidates (against a
`milvus-lite server`, or RSIQA_MILVUS_URI); rsiqa's fusion and abstention still score them."""

from __future__ import annotations

import math
import os
import uuid

import numpy as np
import pytest
from milvus_server import TOPICS, milvus, milvus_client, milvus_settings, small, write_topics  # noqa: F401
from pymilvus import DataType, Function, FunctionType, MilvusClient

from rsiqa.index.build import build_index, index_is_current
from rsiqa.index.store import load_index, read_manifest
from rsiqa.index.stores import query_sparse
from rsiqa.index.stores.milvus import has_aliases, load_milvus_index, native_query_text
from rsiqa.ingest.documents import passage_context
from rsiqa.search.lexical import tokenize
from rsiqa.search.retrieval import Retriever


def _query(retriever: Retriever, text: str):
    weights = retriever._lexical_weights(text)
    idf = {t: float(retriever._idf[retriever._vocab[t]]) for t in weights}
    return query_sparse(weights, idf)


def test_the_native_query_text_is_the_readings_own_tokens():
    query = query_sparse({"compil": 1.0, "bootstrap": 1.0, "compiler": 0.4}, {"compil": 2.0, "bootstrap": 1.5})
    assert dict(query) and query.tokens == {"compil": 1.0, "bootstrap": 1.0, "compiler": 0.4}
    assert native_query_text(query) == "compil bootstrap"  # the expansion's weighted token cannot be passed
    assert native_query_text({1: 0.5}) == ""  # a bare sparse vector carries no tokens


@pytest.mark.slow  # starts a milvus-lite server
def test_a_native_build_writes_the_bm25_function_and_hybrid_search_finds_the_keyword_match(small, fake_embedder):
    native = small.model_copy(update={"milvus_search": "native"})
    write_topics(native.corpus_dir)
    build_index(native, fake_embedder, progress=False)
    record = read_manifest(native.index_dir)["milvus"]
    assert record["search"] == "native"
    described = milvus_client(native).describe_collection(record["passages"])
    fields = {f["name"]: f for f in described["fields"]}
    assert "sparse" not in fields and fields["bm25"]["type"] == DataType.SPARSE_FLOAT_VECTOR
    assert fields["bm25"].get("is_function_output") and fields["tokens"]["params"]["enable_analyzer"] in (True, "true")
    # (Milvus Lite 2.5.1 does not list the functions in describe_collection; 3.x and Milvus do.)
    assert [(f["name"], f["input_field_names"], f["output_field_names"]) for f in described["functions"]] in (
        [("bm25", ["tokens"], ["bm25"])], [])
    faiss_data = load_index(native.index_dir)
    stored = {e["chunk_id"]: e["tokens"] for e in milvus_client(native).query(record["passages"], filter="",
                                                                        output_fields=["chunk_id", "tokens"], limit=100)}
    assert stored == {p.chunk_id: " ".join(tokenize([passage_context(p)])[0]) for p in faiss_data.passages}

    data, store = load_milvus_index(native.index_dir, native)
    assert store.search == "native" and store.ranker == "rrf"
    retriever = Retriever(faiss_data, fake_embedder, native)
    for text, path in (("compiler bootstrapping", "chiang.md"), ("AlphaGo Zero self-play", "go.md"),
                       ("environment bottlenecks", "chollet.md")):
        best = int(np.argmax(retriever._bm25_scores(text)))
        assert faiss_data.passages[best].source.path == path
        far = -faiss_data.vectors[best]  # the dense side points away from it: only BM25 can bring it in
        found = store.candidates(far[None, :], [_query(retriever, text)], 2)
        assert best in found and len(found) <= 2  # hybrid_search keeps the fused top k of each reading
        weighted = load_milvus_index(native.index_dir, native.model_copy(update={"milvus_search": "native-weighted"}))[1]
        assert weighted.ranker == "weighted"
        if has_aliases(store.client):  # Milvus Lite 2.5.1 (no aliases) normalises BM25 as a distance: inverted
            assert best in weighted.candidates(far[None, :], [_query(retriever, text)], 2)
    # Two readings at once: one hybrid_search, the candidates of both.
    both = store.candidates(np.stack([faiss_data.vectors[0], faiss_data.vectors[5]]), [], 1)
    assert {0, 5} <= set(both.tolist())


@pytest.mark.slow  # starts a milvus-lite server
def test_candidate_mode_retrieval_on_native_candidates_finds_what_faiss_finds(small, fake_embedder):
    native = small.model_copy(update={"milvus_search": "native", "ann_threshold": 1, "candidates": 3})
    write_topics(native.corpus_dir)
    build_index(native, fake_embedder, progress=False)
    faiss_retriever = Retriever(load_index(native.index_dir), fake_embedder, native)
    data, store = load_milvus_index(native.index_dir, native)
    milvus_retriever = Retriever(data, fake_embedder, native, store)
    for question, path in (("What is KANSI?", "kansi.md"), ("Can a compiler bootstrap itself to be smarter?", "chiang.md"),
                           ("self-play Go", "go.md")):
        rows = milvus_retriever._candidates(fake_embedder.encode([question]), [], [faiss_retriever._lexical_weights(question)])
        assert rows is not None and 0 < len(rows) <= 3
        hits, _ = milvus_retriever.search(question, k=2)
        assert set(h.row for h in hits) <= set(rows.tolist())
        assert data.passages[hits[0].row].source.path == path
        assert faiss_retriever.search(question, k=2)[0][0].row == hits[0].row


@pytest.mark.slow  # starts a milvus-lite server
def test_changing_the_search_writes_new_collections_and_native_rebuilds_are_incremental(small, fake_embedder):
    first = (write_topics(small.corpus_dir), build_index(small, fake_embedder, progress=False),
             read_manifest(small.index_dir)["milvus"])[2]
    assert first["search"] == "rsiqa" and index_is_current(small)
    native = small.model_copy(update={"milvus_search": "native"})
    assert not index_is_current(native)  # `rsiqa build --if-stale` rebuilds for the other schema
    # A server asked for native candidates on rsiqa's collections serves what they hold.
    assert load_milvus_index(small.index_dir, native)[1].search == "rsiqa"
    build_index(native, fake_embedder, progress=False)
    second = read_manifest(native.index_dir)["milvus"]
    assert second["search"] == "native" and second["write"]["mode"] == "full" and second["passages"] != first["passages"]
    assert index_is_current(native) and index_is_current(native.model_copy(update={"milvus_search": "native-weighted"}))
    # One file changed: written in place, and Milvus's BM25 function indexes the new words.
    write_topics(native.corpus_dir, {"go.md": ["MuZero learned the rules of chess and shogi without being told them.",
                                         "Go play went from amateur to superhuman after a simpler architecture."]})
    build_index(native, fake_embedder, progress=False)
    third = read_manifest(native.index_dir)["milvus"]
    assert third["passages"] == second["passages"] and third["write"]["mode"] == "incremental"
    assert third["write"]["changed_files"] == 1
    data, store = load_milvus_index(native.index_dir, native)
    faiss_data = load_index(native.index_dir)
    retriever = Retriever(faiss_data, fake_embedder, native)
    shogi = [r for r, p in enumerate(data.passages) if "shogi" in p.text]
    assert len(shogi) == 1
    found = store.candidates(-faiss_data.vectors[shogi], [_query(retriever, "shogi chess")], 2)
    assert shogi[0] in found and len(found) == 2  # the dense top 1 and the BM25 top 1 (tied in RRF)


@pytest.mark.slow  # starts a milvus-lite server
@pytest.mark.skipif(bool(os.environ.get("RSIQA_MILVUS_URI")), reason="documents Milvus Lite 3.x, not a real Milvus")
def test_milvus_lite_bm25_scores_are_negated_and_use_per_segment_idf(milvus):
    """What the issue reported of Lite 3.2.2's BM25, verified: the distances are minus the BM25 score, and IDF and
    average length come from each segment (a flushed one, the one still in memory), not from the collection."""
    uri, token = milvus
    client = MilvusClient(uri=uri, token=token or "")
    name = f"t{uuid.uuid4().hex[:10]}_bm25"
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tokens", DataType.VARCHAR, max_length=1000, enable_analyzer=True, analyzer_params={"tokenizer": "standard"})
    schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["tokens"],
                                 output_field_names=["bm25"]))
    index = client.prepare_index_params()
    index.add_index(field_name="bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params={"bm25_k1": 1.5, "bm25_b": 0.75})
    docs = ["improv ai recurs self", "chiang compil ai", "foom takeoff fast", "ai ai ai compil", "self improv improv seed"]
    try:
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        client.insert(name, [{"id": i, "tokens": t} for i, t in enumerate(docs[:3])])
        client.flush(name)  # one sealed segment of three documents, two more in memory
        client.insert(name, [{"id": i + 3, "tokens": t} for i, t in enumerate(docs[3:])])
        hits = client.search(name, data=["improv ai"], anns_field="bm25", limit=5, output_fields=["id"],
                             search_params={"metric_type": "BM25"})[0]
    finally:
        client.drop_collection(name)

    def bm25(group: list[str], doc: str) -> float:
        tokens = [d.split() for d in group]
        avg = sum(map(len, tokens)) / len(group)
        words = doc.split()
        score = 0.0
        for term in ("improv", "ai"):
            df = sum(term in t for t in tokens)
            tf = words.count(term)
            score += math.log((len(group) - df + 0.5) / (df + 0.5) + 1) * tf * 2.5 / (
                tf + 1.5 * (0.25 + 0.75 * len(words) / avg))
        return score

    got = {int(h["id"]): h["distance"] for h in hits}
    assert all(d < 0 for d in got.values())
    per_segment = {i: bm25(docs[:3] if i < 3 else docs[3:], docs[i]) for i in got}
    collection_wide = {i: bm25(docs, docs[i]) for i in got}
    assert {i: -d for i, d in got.items()} == pytest.approx(per_segment, abs=1e-3)
    assert {i: -d for i, d in got.items()} != pytest.approx(collection_wide, abs=1e-3)
