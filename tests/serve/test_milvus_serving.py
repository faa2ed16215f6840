"""End to end with RSIQA_STORE=milvus (a `milvus-lite server`, or RSIQA_MILVUS_URI): build, query through the REST
API, rebuild (incremental, then a new collection), hot reload after both and when the alias moves."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from milvus_server import milvus, milvus_settings  # noqa: F401 - fixtures

from rsiqa.index.build import build_index
from rsiqa.index.store import read_manifest
from rsiqa.index.stores.milvus import MilvusStore, has_aliases
from rsiqa.search.engine import Engine
from rsiqa.serve.api import create_app

FILES = {
    "seed.md": "# Seed AI\n\nA seed AI is a program that improves its own source code, each version better at it.\n\n"
               "Skeptics say such a seed AI would stall when the easy improvements run out.\n",
    "compilers.md": "# Compilers\n\nTed Chiang compares AI to a compiler: a compiler compiling itself is not smarter.\n",
}


def _ask(client: TestClient, question: str) -> dict:
    response = client.post("/api/query", json={"question": question, "top_k": 2})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow  # starts a milvus-lite server
def test_build_query_rebuild_and_hot_reload_against_milvus(milvus_settings, fake_embedder, tmp_path):
    settings = milvus_settings.model_copy(update={"abstain_threshold": 0.0, "reload_check_seconds": 0.0,
                                                  "chunk_min_words": 5, "chunk_max_words": 30})
    for name, text in FILES.items():
        (settings.corpus_dir / name).write_text(text, encoding="utf-8")
    build_index(settings, fake_embedder, progress=False)
    engine = Engine(settings, embedder=fake_embedder)
    store = engine._state.retriever.store
    assert isinstance(store, MilvusStore) and engine.data.vectors.size == 0  # the vectors stay in Milvus
    client = TestClient(create_app(settings, engine, chat_page=False))
    body = _ask(client, "Is a compiler that compiles itself smarter?")
    assert body["citations"][0]["source"]["path"] == "compilers.md"
    assert "compiler" in body["citations"][0]["highlight"]

    # An incremental rebuild: one file changed, written in place; the server picks it up on the next request.
    (settings.corpus_dir / "compilers.md").write_text(
        "# Compilers\n\nTed Chiang compares AI to a compiler: bootstrapping a compiler makes it faster, never wiser.\n",
        encoding="utf-8")
    build_index(settings, fake_embedder, progress=False)
    record = read_manifest(settings.index_dir)["milvus"]
    assert record["write"]["mode"] == "incremental" and record["write"]["passages_written"] == 1
    body = _ask(client, "Does bootstrapping make a compiler wiser?")
    assert "never wiser" in body["citations"][0]["text"]
    assert engine._state.retriever.store is not store

    # A full rebuild (new collection, alias switched): served after the reload, the old collection kept one build.
    full = settings.model_copy(update={"milvus_incremental": False})
    build_index(full, fake_embedder, progress=False)
    second = read_manifest(settings.index_dir)["milvus"]
    assert second["passages"] != record["passages"]
    body = _ask(client, "What is a seed AI?")
    assert body["citations"][0]["source"]["path"] == "seed.md"
    assert engine._state.retriever.store.passages == second["passages"]

    # Another build elsewhere moves the alias: the server reloads once (its index folder still names its collection).
    other = full.model_copy(update={"index_dir": tmp_path / "other-index"})
    build_index(other, fake_embedder, progress=False)
    served = engine._state.retriever.store
    if not has_aliases(served.client):  # Milvus Lite 2.5: no alias to follow, the index folder alone decides
        assert not served.alias_moved() and engine.reload_if_changed() is False
        return
    assert served.alias_moved()
    assert engine.reload_if_changed() is True
    assert engine.reload_if_changed() is False  # no reload loop
    assert engine._state.retriever.store.passages == second["passages"]
    hits, _ = engine._state.retriever.search("seed AI stall", k=1)
    assert engine.data.passages[hits[0].row].source.path == "seed.md"
    vectors = engine._state.retriever.store.passage_vectors(np.arange(len(engine.data.passages)))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
