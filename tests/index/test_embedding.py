"""The ONNX embedding backend: same vectors as sentence-transformers (fp32), close ones (int8), no torch (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rsiqa.index.embedding import LazyEmbedder, embedding_precision, get_embedder, onnx_cache_folder
from rsiqa.index.onnx_export import UnsupportedModel, read_pipeline

REPO = Path(__file__).resolve().parents[2]
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
    from rsiqa.index.embedding import resolve_model_path

    assert read_pipeline(Path(resolve_model_path("all-MiniLM-L6-v2"))) == {"pooling": "mean", "max_seq_length": 256}


def test_lazy_embedder_reports_requested_precision_without_loading() -> None:
    lazy = LazyEmbedder("m", "onnx", "int8", lambda: (_ for _ in ()).throw(AssertionError("loaded")))
    assert (lazy.backend, lazy.precision, embedding_precision(lazy), lazy.loaded) == ("onnx", "int8", "int8-w7", False)


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
        # Near-ties may swap (for the codebase question torch puts four paragraphs within 0.013) ...
        assert ref_row[best] >= ref_row[order[0]] - 0.015
        if ref_row[order[0]] - ref_row[order[1]] > 0.015:
            assert best == order[0]  # ... a clear winner may not
        assert abs(got_row[best] - ref_row[order[0]]) < 0.03


@pytest.mark.slow
def test_onnx_backend_keeps_torch_out_of_the_process() -> None:
    code = (
        "import sys; from rsiqa.index.embedding import get_embedder;"
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


# --- the same vectors on every CPU (int8 without saturation), and a damaged export made again --------------


def _int8_model() -> Path:
    from rsiqa.index.embedding import ensure_onnx_model

    return ensure_onnx_model("all-MiniLM-L6-v2", REPO / ".cache" / "models", "int8")


@pytest.mark.slow
def test_int8_weights_fit_in_seven_bits() -> None:
    """|w| <= 64: a pair of uint8 x int8 products stays within int16, so AVX2's vpmaddubsw never saturates."""
    import onnx
    from onnx import numpy_helper

    from rsiqa.index.onnx_export import INT8_WEIGHT_LIMIT

    model = onnx.load(str(_int8_model()))
    initializers = {t.name: t for t in model.graph.initializer}
    weights = [numpy_helper.to_array(initializers[n.input[1]]) for n in model.graph.node if n.op_type == "MatMulInteger"]
    assert len(weights) == 36  # q, k, v, attention output, FFN up and down in each of the 6 layers
    assert all(w.dtype == np.int8 for w in weights)
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= INT8_WEIGHT_LIMIT
    assert 2 * 255 * INT8_WEIGHT_LIMIT <= 32767


QEMU_CPU = "EPYC-Rome"  # AMD Zen 2: AVX2, no AVX-512, no VNNI
_EMULATED_EMBED = """
import json, sys
import numpy as np
from numpy._core._multiarray_umath import __cpu_features__ as cpu
from rsiqa.index.embedding import OnnxEmbedder
vectors = OnnxEmbedder("all-MiniLM-L6-v2", cache_dir=sys.argv[1], precision="int8", threads=1).encode(json.loads(sys.argv[2]))
np.save(sys.argv[3], vectors)
print(json.dumps({"avx2": cpu["AVX2"], "avx512f": cpu["AVX512F"], "vnni": cpu["AVX512VNNI"]}))
"""


@pytest.mark.slow
def test_int8_vectors_are_the_same_on_a_cpu_without_vnni(tmp_path: Path) -> None:
    """The int8 embedder run on an emulated AVX2-only CPU (qemu) gives this machine's vectors.

    With 8-bit weights (before) the vectors differed by cosine 0.985-0.995 there; with 7-bit
    weights they agree to rounding, whichever CPU this test runs on.
    """
    import platform
    import shutil

    qemu = shutil.which("qemu-x86_64")
    if platform.machine() != "x86_64" or qemu is None:
        pytest.skip("needs qemu-x86_64 on an x86_64 machine (make test installs Debian's qemu-user)")
    texts = ["Would an AGI need its full codebase to self-improve?",
             "Ted Chiang, who argues that AIs are like compilers, where bootstrapping allows self-improvement, "
             "but only up to a point.",
             "Prominent skeptics of recursive self-improvement include:"]
    cache = REPO / ".cache" / "models"
    _int8_model()
    out = tmp_path / "emulated.npy"
    done = subprocess.run([qemu, "-cpu", QEMU_CPU, sys.executable, "-c", _EMULATED_EMBED, str(cache), json.dumps(texts),
                           str(out)], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    features = json.loads(done.stdout.strip().splitlines()[-1])
    assert features == {"avx2": True, "avx512f": False, "vnni": False}  # the emulated CPU really lacks them
    native = get_embedder("all-MiniLM-L6-v2", backend="onnx", precision="int8", cache_dir=cache).encode(texts)
    emulated = np.load(out)
    cosines = np.sum(native * emulated, axis=1)
    assert cosines.min() >= 0.999, cosines


def test_verify_model_file_names_what_is_wrong(tmp_path: Path) -> None:
    from rsiqa.index.onnx_export import EXPORT_VERSION, INT8_FILE, META_FILE, file_record, verify_model_file

    model = tmp_path / INT8_FILE
    assert verify_model_file(tmp_path, INT8_FILE) == "not exported yet"
    model.write_bytes(b"\x08\x01" * 1000)
    meta = {"export_version": EXPORT_VERSION, "files": {INT8_FILE: file_record(model)}}
    (tmp_path / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    assert verify_model_file(tmp_path, INT8_FILE) is None
    model.write_bytes(b"\x08\x01" * 500)  # truncated
    assert "1000 bytes" in verify_model_file(tmp_path, INT8_FILE)
    model.write_bytes(b"\x09\x01" * 1000)  # same size, other bytes
    assert "hash" in verify_model_file(tmp_path, INT8_FILE)
    (tmp_path / META_FILE).write_text(json.dumps({**meta, "export_version": EXPORT_VERSION - 1}), encoding="utf-8")
    assert "older" in verify_model_file(tmp_path, INT8_FILE)
    (tmp_path / META_FILE).write_text("{not json", encoding="utf-8")
    assert "unreadable" in verify_model_file(tmp_path, INT8_FILE)


@pytest.mark.slow
def test_a_truncated_cached_model_is_exported_again(tmp_path: Path) -> None:
    """A cut-short model-int8.onnx (full disk, killed copy) used to fail every command with INVALID_PROTOBUF."""
    import shutil

    from rsiqa.index.embedding import OnnxEmbedder, ensure_onnx_model
    from rsiqa.index.onnx_export import INT8_FILE, verify_model_file

    source = onnx_cache_folder("all-MiniLM-L6-v2", REPO / ".cache" / "models")
    _int8_model()
    folder = onnx_cache_folder("all-MiniLM-L6-v2", tmp_path)
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns(".export-*"))
    damaged = folder / INT8_FILE
    with damaged.open("r+b") as handle:
        handle.truncate(damaged.stat().st_size // 3)
    assert verify_model_file(folder, INT8_FILE) is not None
    assert ensure_onnx_model("all-MiniLM-L6-v2", tmp_path, "int8") == damaged
    assert verify_model_file(folder, INT8_FILE) is None
    vectors = OnnxEmbedder("all-MiniLM-L6-v2", cache_dir=tmp_path, precision="int8", threads=1).encode(["still works"])
    assert vectors.shape == (1, 384)
