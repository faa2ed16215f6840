"""The FAISS index type switch: exact below ``ann_threshold``, HNSW above, recorded in the manifest (issue 5)."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from rsiqa.index.build import build_index
from rsiqa.index.store import (
    FORMAT_VERSION,
    IndexData,
    faiss_index_info,
    faiss_index_type,
    load_index,
    make_faiss_index,
    measure_recall,
    write_index,
)
from rsiqa.settings import Settings


def clustered(n: int, dim: int = 32, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit vectors in clusters (structured, like embeddings; not uniform noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.4 * rng.standard_normal((n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]


def test_default_and_below_threshold_are_exact() -> None:
    x = clustered(500)
    assert faiss_index_type(make_faiss_index(x)) == "flat"
    assert faiss_index_type(make_faiss_index(x, ann_threshold=501)) == "flat"
    assert faiss_index_type(make_faiss_index(x, ann_threshold=500)) == "hnsw"


def test_hnsw_agrees_with_exact_search() -> None:
    data = clustered(3100)
    x, queries = data[:3000], data[3000:]  # held-out queries from the same distribution
    index = make_faiss_index(x, ann_threshold=1000, hnsw_m=16, ef_construction=64, ef_search=64)
    assert isinstance(index, faiss.IndexHNSWFlat)
    assert index.metric_type == faiss.METRIC_INNER_PRODUCT
    assert index.hnsw.efSearch == 64
    scores, found = index.search(queries, 10)
    truth = exact_top(x, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), truth.tolist())])
    assert recall >= 0.95
    # Scores are cosine similarities (inner products of unit vectors), best first.
    assert np.allclose(scores[:, 0], np.sum(queries * x[found[:, 0]], axis=1), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_measure_recall_and_info() -> None:
    x = clustered(2000)
    flat = make_faiss_index(x)
    assert measure_recall(flat, x) == 1.0
    assert faiss_index_info(flat, x) == {"type": "flat", "vectors": 2000, "recall_at_10": 1.0}
    hnsw = make_faiss_index(x, ann_threshold=100, hnsw_m=8, ef_construction=32, ef_search=32)
    info = faiss_index_info(hnsw, x, recall_sample=100)
    assert info["type"] == "hnsw" and info["vectors"] == 2000
    assert (info["m"], info["ef_construction"], info["ef_search"]) == (8, 32, 32)
    assert 0.9 <= info["recall_at_10"] <= 1.0 and info["recall_queries"] == 100
    # A starved search (efSearch 1, 2 links) is measurably worse: the figure is measured, not assumed.
    poor = make_faiss_index(x, ann_threshold=100, hnsw_m=2, ef_construction=8, ef_search=1)
    assert measure_recall(poor, x, sample=200) < info["recall_at_10"]


def test_hnsw_roundtrip_keeps_type_and_parameters(tmp_path: Path) -> None:
    x = clustered(1500)
    index = make_faiss_index(x, ann_threshold=1000, hnsw_m=12, ef_construction=40, ef_search=48)
    path = tmp_path / "index.faiss"
    faiss.write_index(index, str(path))
    again = faiss.read_index(str(path))
    assert faiss_index_type(again) == "hnsw" and again.ntotal == 1500
    assert again.hnsw.efSearch == 48
    queries = x[:20] + 0.01
    assert (again.search(queries, 5)[1] == index.search(queries, 5)[1]).all()


@pytest.mark.parametrize("threshold, kind", [(10_000, "flat"), (2, "hnsw")])
def test_build_switches_and_records_in_manifest(settings: Settings, fake_embedder, threshold: int, kind: str) -> None:
    (settings.corpus_dir / "notes.md").write_text(
        "# Notes\n\n" + "\n\n".join(
            f"Paragraph {i} is about topic {i % 5}: recursive improvement, compilers, bounds, skeptics and KANSI "
            f"appear in varying amounts, number {i}." for i in range(40)), encoding="utf-8")
    configured = settings.model_copy(update={"ann_threshold": threshold, "hnsw_m": 8, "hnsw_ef_construction": 32,
                                             "hnsw_ef_search": 32})
    build_index(configured, fake_embedder, progress=False)
    data = load_index(settings.index_dir)
    assert faiss_index_type(data.faiss_index) == kind
    info = data.manifest["faiss"]
    assert info["type"] == kind and info["vectors"] == len(data.passages)
    assert 0.0 < info["recall_at_10"] <= 1.0
    if kind == "hnsw":
        assert (info["m"], info["ef_search"]) == (8, 32)
        # Top hit of each passage's own vector is itself, as with exact search.
        found = data.faiss_index.search(data.vectors, 1)[1][:, 0]
        assert (found == np.arange(len(data.passages))).mean() >= 0.95


def test_write_load_roundtrip_keeps_hnsw(tmp_path: Path, fake_embedder) -> None:
    from rsiqa.ingest.documents import Passage, Source

    texts = [f"passage number {i} about subject {i % 7}" for i in range(300)]
    vectors = fake_embedder.encode(texts)
    index = make_faiss_index(vectors, ann_threshold=100, hnsw_m=8)
    passages = [Passage(text=t, source=Source(title="X", path="x.md")) for t in texts]
    manifest = {"format": FORMAT_VERSION, "model": fake_embedder.name, "dimension": fake_embedder.dimension,
                "passages": len(texts), "faiss": faiss_index_info(index, vectors)}
    data = IndexData(manifest=manifest,
                     passages=passages, vectors=vectors, sentences=[[t] for t in texts], sentence_vectors=vectors,
                     words=["passage", "subject"], word_vectors=fake_embedder.encode(["passage", "subject"]),
                     faiss_index=index)
    write_index(tmp_path / "index", data)
    loaded = load_index(tmp_path / "index")
    assert faiss_index_type(loaded.faiss_index) == "hnsw"
    assert loaded.manifest["faiss"]["type"] == "hnsw"
    assert (loaded.faiss_index.search(vectors[:10], 3)[1] == index.search(vectors[:10], 3)[1]).all()
    assert loaded.words == data.words and (loaded.word_vectors == data.word_vectors).all()
