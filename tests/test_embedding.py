"""The ONNX embedding backend: same vectors as sentence-transformers (fp32), close ones (int8), no torch (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsiqa.embedding import LazyEmbedder, embedding_precision, get_embedder, onnx_cache_folder
from rsiqa.onnx_export import UnsupportedModel, read_pipeline

REPO = Path(__file__).resolve().parents[1]
TEXTS = [
    "What is KANSI?",
    "Would an AGI need its full codebase to self-improve?",
    "",
    "A much longer passage. " * 120,  # longer than max_seq_length: truncated the same way
    "Ted Chiang compares AIs to compilers: a compiler that compiles itself gets faster once, then stops.",
    "Ünïcödé, emoji 🤖 and [brackets] are tokenised like the reference does.",
]


def test_read_pipeline_rejects_what_the_graph_cannot_reproduce(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]), encoding="utf-8")
    with pytest.raises(UnsupportedModel, match="Dense"):
        read_pipeline(tmp_path)
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]), encoding="utf-8")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True}), encoding="utf-8")
    with pytest.raises(UnsupportedModel, match="pooling"):
        read_pipeline(tmp_path)
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}), encoding="utf-8")
    (tmp_path / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}), encoding="utf-8")
    assert read_pipeline(tmp_path) == {"pooling": "cls", "max_seq_length": 128}


def test_packaged_model_pipeline() -> None:
    from rsiqa.embedding import resolve_model_path

    assert read_pipeline(Path(resolve_model_path("all-MiniLM-L6-v2"))) == {"pooling": "mean", "max_seq_length": 256}


def test_lazy_embedder_reports_requested_precision_without_loading() -> None:
    lazy = LazyEmbedder("m", "onnx", "int8", lambda: (_ for _ in ()).throw(AssertionError("loaded")))
    assert (lazy.backend, lazy.precision, embedding_precision(lazy), lazy.loaded) == ("onnx", "int8", "int8", False)


@pytest.fixture(scope="module")
def torch_embedder():
    return get_embedder("all-MiniLM-L6-v2", backend="torch")


@pytest.mark.slow
@pytest.mark.parametrize("precision, floor, mean_floor", [("fp32", 0.9999, 0.99999), ("int8", 0.95, 0.985)])
def test_onnx_matches_sentence_transformers(torch_embedder, precision: str, floor: float, mean_floor: float) -> None:
    cache = REPO / ".cache" / "models"  # shared with the product: the export is done once
    onnx = get_embedder("all-MiniLM-L6-v2", backend="onnx", precision=precision, cache_dir=cache)
    assert (onnx.backend, onnx.precision, onnx.dimension) == ("onnx", precision, torch_embedder.dimension)
    assert onnx_cache_folder("all-MiniLM-L6-v2", cache).is_dir()
    reference = torch_embedder.encode(TEXTS)
    for batch_size in (1, 4, 32):  # padding and length-sorted batches must not change a vector
        got = onnx.encode(TEXTS, batch_size=batch_size)
        assert got.shape == reference.shape and got.dtype == np.float32
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = np.sum(got * reference, axis=1)
        assert cosines.min() >= floor, cosines
        assert cosines.mean() >= mean_floor, cosines
    assert onnx.encode([]).shape == (0, onnx.dimension)


@pytest.mark.slow
def test_onnx_ranking_agrees_with_torch(torch_embedder) -> None:
    """The nearest paragraph for a question is the same with the ONNX int8 default as with torch."""
    corpus = (REPO / "corpus").glob("*.txt")
    paragraphs = [p.strip() for path in corpus for p in path.read_text(encoding="utf-8").split("\n\n") if len(p.split()) > 12]
    questions = ["What is KANSI?", "Would an AGI need its full codebase to self-improve?",
                 "Who are the prominent skeptics of recursive self-improvement?"]
    onnx = get_embedder("all-MiniLM-L6-v2", backend="onnx", precision="int8", cache_dir=REPO / ".cache" / "models")
    reference = torch_embedder.encode(questions) @ torch_embedder.encode(paragraphs).T
    got = onnx.encode(questions) @ onnx.encode(paragraphs).T
    for ref_row, got_row in zip(reference, got):
        order = np.argsort(-ref_row)
        best = int(np.argmax(got_row))
        assert best in order[:3]  # near-ties may swap ...
        if ref_row[order[0]] - ref_row[order[1]] > 0.01:
            assert best == order[0]  # ... a clear winner may not
        assert abs(got_row[best] - ref_row[order[0]]) < 0.03


@pytest.mark.slow
def test_onnx_backend_keeps_torch_out_of_the_process() -> None:
    code = (
        "import sys; from rsiqa.embedding import get_embedder;"
        "e = get_embedder('all-MiniLM-L6-v2', backend='onnx', precision='int8', cache_dir=sys.argv[1]);"
        "e.encode(['hello']);"
        "print(e.backend, 'torch' in sys.modules, 'sentence_transformers' in sys.modules, 'transformers' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(REPO / ".cache" / "models")], capture_output=True, text=True,
                          check=True, cwd=REPO)
    assert done.stdout.split() == ["onnx", "False", "False", "False"]


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_text_vector_does_not_depend_on_the_other_texts(precision: str) -> None:
    """Texts run one by one (int8 quantises activations per run): same vector alone or in a crowd."""
    onnx = get_embedder("all-MiniLM-L6-v2", backend="onnx", precision=precision, cache_dir=REPO / ".cache" / "models")
    texts = [f"Passage {i}: " + "recursive self-improvement and its bounds " * (2 + 5 * i) for i in range(8)] + TEXTS
    together = onnx.encode(texts)  # several threads, longest first
    alone = np.concatenate([onnx.encode([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-6)
    assert np.allclose(onnx.encode(list(reversed(texts))), together[::-1], atol=1e-6)
