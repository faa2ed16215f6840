"""The index on disk: a FAISS inner-product index, passages as JSON lines and a manifest.

Layout of an index folder::

    manifest.json      model, dimension, passage count, corpus hashes, build time, version
    passages.jsonl     one passage (text + source) per line, in FAISS row order
    sentences.jsonl    sentence spans per passage (for sentence-level scoring)
    vectors.npy        passage embeddings (float32), reused by the next build as a cache
    sentence_vectors.npy
    index.faiss        the FAISS index over the passage vectors

A build writes everything into a sibling temporary folder and swaps it in with renames only
when complete, so a failed or killed build never damages the index being served.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rsiqa.documents import Passage

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class IndexError_(RuntimeError):
    """The index is missing, incomplete or incompatible; the message says what to do."""


@dataclass
class IndexData:
    """Everything a retriever needs, loaded from (or about to be written to) an index folder."""

    manifest: dict[str, Any]
    passages: list[Passage]
    vectors: np.ndarray  # (n, d) float32, unit rows
    sentences: list[list[str]]  # per passage, its sentences
    sentence_vectors: np.ndarray  # (total sentences, d) float32
    sentence_owner: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    faiss_index: Any = None

    def __post_init__(self) -> None:
        if self.sentence_owner.size == 0 and self.sentences:
            self.sentence_owner = np.repeat(np.arange(len(self.sentences)), [len(s) for s in self.sentences])
        if self.faiss_index is None:
            self.faiss_index = make_faiss_index(self.vectors)


def make_faiss_index(vectors: np.ndarray) -> Any:
    """An exact inner-product index over unit vectors (= cosine similarity)."""
    index = faiss.IndexFlatIP(int(vectors.shape[1]) if vectors.ndim == 2 and vectors.shape[1] else 1)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _write_jsonl(path: Path, rows: list[Any]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_index(index_dir: Path, data: IndexData) -> None:
    """Write ``data`` to ``index_dir`` atomically: temp folder first, then a rename swap."""
    index_dir = index_dir.resolve()
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.building-", dir=index_dir.parent))
    try:
        _write_jsonl(tmp / "passages.jsonl", [p.to_dict() for p in data.passages])
        _write_jsonl(tmp / "sentences.jsonl", data.sentences)
        np.save(tmp / "vectors.npy", data.vectors)
        np.save(tmp / "sentence_vectors.npy", data.sentence_vectors)
        faiss.write_index(data.faiss_index, str(tmp / "index.faiss"))
        for name in os.listdir(tmp):
            with open(tmp / name, "rb") as handle:
                os.fsync(handle.fileno())
        # The manifest is written last: a folder without one is never loaded.
        manifest_tmp = tmp / (MANIFEST + ".tmp")
        manifest_tmp.write_text(json.dumps(data.manifest, indent=2), encoding="utf-8")
        with open(manifest_tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(manifest_tmp, tmp / MANIFEST)
        _fsync_dir(tmp)
        _swap_in(tmp, index_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(new: Path, target: Path) -> None:
    """Replace ``target`` with the complete folder ``new``, keeping files a user put there (e.g. .gitkeep)."""
    old = target.parent / f".{target.name}.old-{os.getpid()}-{int(time.time() * 1000)}"
    if target.exists():
        for keep in (".gitkeep", ".gitignore"):
            if (target / keep).exists():
                shutil.copy2(target / keep, new / keep)
        os.replace(target, old)
    os.replace(new, target)
    _fsync_dir(target.parent)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The manifest of a built index, or :class:`IndexError_` explaining how to build one."""
    path = index_dir / MANIFEST
    if not path.is_file():
        raise IndexError_(f"no index found in '{index_dir}': run `rsiqa build --index {index_dir}` first")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexError_(f"the index manifest in '{index_dir}' is unreadable ({exc}): rebuild with `rsiqa build`") from exc


def load_index(index_dir: Path, model: str | None = None, dimension: int | None = None) -> IndexData:
    """Load an index folder, checking it was built with ``model``/``dimension`` when given."""
    manifest = read_manifest(index_dir)
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexError_(f"the index in '{index_dir}' has an old format: rebuild with `rsiqa build`")
    if model is not None and manifest.get("model") != model:
        raise IndexError_(
            f"the index in '{index_dir}' was built with model '{manifest.get('model')}', but rsiqa is set to "
            f"'{model}': rebuild with `rsiqa build` or set RSIQA_MODEL={manifest.get('model')}"
        )
    if dimension is not None and manifest.get("dimension") != dimension:
        raise IndexError_(
            f"the index in '{index_dir}' has dimension {manifest.get('dimension')}, the model gives {dimension}: "
            "rebuild with `rsiqa build`"
        )
    try:
        passages = [Passage.from_dict(row) for row in _read_jsonl(index_dir / "passages.jsonl")]
        sentences = _read_jsonl(index_dir / "sentences.jsonl")
        vectors = np.load(index_dir / "vectors.npy", allow_pickle=False)
        sentence_vectors = np.load(index_dir / "sentence_vectors.npy", allow_pickle=False)
        faiss_index = faiss.read_index(str(index_dir / "index.faiss"))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise IndexError_(f"the index in '{index_dir}' is incomplete or damaged ({exc}): rebuild with `rsiqa build`") from exc
    if not (len(passages) == len(sentences) == len(vectors) == faiss_index.ntotal == manifest.get("passages")):
        raise IndexError_(f"the index in '{index_dir}' is inconsistent: rebuild with `rsiqa build`")
    return IndexData(manifest=manifest, passages=passages, vectors=vectors, sentences=sentences,
                     sentence_vectors=sentence_vectors, faiss_index=faiss_index)
