"""Is an index folder what its build wrote? Per-file checksums, the manifest's shape, the arrays' shapes.

A build records the size and SHA-256 of every data file in the manifest (``files``). Loading
checks them, so a file damaged or edited after the build (a truncated or rotated
``passages.jsonl``, a replaced ``sentence_vectors.npy``) is refused rather than served with
wrong citations. The manifest itself is validated field by field, and each array against the
manifest's dimension and counts. Every check raises ``ValueError`` saying what is wrong; the
loader (:mod:`rsiqa.index.store`) turns it into a refusal with a rebuild hint.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

from rsiqa.index.rows import ROW_FILES

#: The data files of a format-4 index (read only by a build, to reuse its vectors): the passage vectors
#: only in index.faiss, and the BM25 index.
DATA_FILES_V4 = ("passages.jsonl", "sentences.jsonl", "sentence_vectors.npy", "words.json", "word_vectors.npy",
                 "index.faiss", "bm25.data.npy", "bm25.indices.npy", "bm25.indptr.npy", "bm25.vocab.json",
                 "bm25.params.json", "spelling.json")
#: The data files of an index, each listed with its checksum in the manifest (format 5: the row tables of
#: rsiqa.index.rows besides).
DATA_FILES = DATA_FILES_V4 + ROW_FILES
#: The data files of a format-3 index (read only by a build, to reuse its vectors).
DATA_FILES_V3 = ("passages.jsonl", "sentences.jsonl", "vectors.npy", "sentence_vectors.npy", "words.json",
                 "word_vectors.npy", "index.faiss")


class _DocumentEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    title: StrictStr
    sha256: StrictStr | None = None


class _FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: StrictStr
    bytes: StrictInt


class ManifestModel(BaseModel):
    """The fields of ``manifest.json`` that loading and serving read, with their types."""

    model_config = ConfigDict(extra="allow")

    format: StrictInt
    model: StrictStr
    dimension: StrictInt
    passages: StrictInt
    documents: dict[StrictStr, _DocumentEntry] = {}
    corpus_hashes: dict[StrictStr, StrictStr | None] = {}
    skipped: dict[StrictStr, StrictStr] = {}
    questions: list[StrictStr] = []
    built_at: StrictStr | None = None
    embedding: dict[StrictStr, Any] = {}
    faiss: dict[StrictStr, Any] = {}
    files: dict[StrictStr, _FileEntry] | None = None


def validate_manifest(manifest: dict[str, Any]) -> None:
    """``ValueError`` naming the first field of ``manifest`` that is missing or of the wrong type."""
    try:
        ManifestModel.model_validate(manifest)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValueError(f"manifest field '{where}': {error['msg']}") from None
    if manifest["dimension"] < 1 or manifest["passages"] < 0:
        raise ValueError("manifest field 'dimension' or 'passages' out of range")


def drop_cached(fd: int) -> None:
    """Drop the file's pages from the page cache (clean pages only; an advice, nothing is lost).

    A checksum pass reads every page of a file; the kernel keeps them in large blocks, and a server
    that memory-maps the file would then map a whole block around each page it touches, which makes
    reading a few rows at random count most of the file in its resident memory. Dropped, each page
    is read when first touched (see :func:`rsiqa.index.rows.advise_random`).
    """
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        pass


def file_digest(path: Path, drop: bool = False) -> dict[str, Any]:
    """The size and SHA-256 of a file, read in 1 MB chunks; ``drop``: then drop its pages from the page cache."""
    with path.open("rb") as handle:
        sha256, size = fd_sha256(handle.fileno(), drop)
    return {"sha256": sha256, "bytes": size}


def fd_sha256(fd: int, drop: bool) -> tuple[str, int]:
    """The SHA-256 and size of the file open as ``fd``, read from its start in 1 MB chunks (the fd's position is not
    used; ``drop``: then its pages are dropped from the page cache, :func:`drop_cached`)."""
    digest = hashlib.sha256()
    at = 0
    while chunk := os.pread(fd, 1 << 20, at):
        digest.update(chunk)
        at += len(chunk)
    if drop:
        drop_cached(fd)
    return digest.hexdigest(), at


def folder_checksums(folder: Path) -> dict[str, dict[str, Any]]:
    """The ``files`` entry of a manifest: every data file of the index in ``folder`` with its digest."""
    return {name: file_digest(folder / name, drop=True) for name in DATA_FILES}


def data_files(version: int) -> tuple[str, ...]:
    """The data files of an index of format ``version``."""
    return DATA_FILES if version >= 5 else DATA_FILES_V4 if version == 4 else DATA_FILES_V3


def verify_checksums(folder: Path, manifest: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    """``ValueError`` when a data file of ``folder`` differs from what the manifest recorded at build time.

    ``skip``: files whose size alone is checked here (their checksum is verified later, see
    :class:`rsiqa.index.store.DeferredCheck`).
    """
    if manifest["format"] < 3:
        return  # formats 1 and 2 had no checksums; only the build's embedding cache reads them
    files = manifest.get("files")
    if files is None:
        raise ValueError("the manifest lists no file checksums")
    if set(files) != set(data_files(manifest["format"])):
        raise ValueError("the manifest's file list is not the index's")
    for name, expected in files.items():
        try:
            size = (folder / name).stat().st_size
        except OSError as exc:
            raise ValueError(f"{name}: {exc.strerror or exc}") from exc
        if size != expected["bytes"]:
            raise ValueError(f"{name} has {size} bytes, the build wrote {expected['bytes']}")
        if name not in skip and file_digest(folder / name, drop=True)["sha256"] != expected["sha256"]:
            raise ValueError(f"{name} is not the file the build wrote (checksum differs)")


def _check_matrix(name: str, array: np.ndarray, rows: int, dimension: int, finite: bool = True) -> None:
    if array.ndim != 2 or array.dtype != np.float32:
        raise ValueError(f"{name} is a {array.ndim}-D {array.dtype} array, not a float32 matrix")
    if array.shape != (rows, dimension) and not (rows == 0 and array.shape[0] == 0):
        raise ValueError(f"{name} has shape {array.shape}, the manifest says {(rows, dimension)}")
    if finite and not np.isfinite(array).all():
        raise ValueError(f"{name} holds values that are not finite numbers")


def check_arrays(manifest: dict[str, Any], passages: int, sentences: Any, vectors: np.ndarray,
                 sentence_vectors: np.ndarray, words: list[str], word_vectors: np.ndarray, faiss_index: Any,
                 finite: bool = True, bm25: Any = None, spelling: Any = None, sentence_rows: int | None = None) -> None:
    """``ValueError`` unless every array and count agrees with the manifest and with the others.

    ``finite``: also check every value is a finite number (format 4 leaves that to the build,
    which checks before writing; the checksums prove the files are what it wrote, and a full
    pass would read every page of the memory-mapped sentence vectors at start).
    ``bm25``: the loaded BM25 index, whose passage count and vocabulary must fit.
    ``sentence_rows``: the number of sentences (format 5: from the row table; else counted from ``sentences``).
    """
    dimension = int(manifest["dimension"])
    if passages != manifest["passages"] or len(sentences) != passages:
        raise ValueError(f"{passages} passages and {len(sentences)} sentence lists, the manifest says "
                         f"{manifest['passages']}")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ValueError("words.json is not a list of words")
    _check_matrix("passage vectors", vectors, passages, dimension, finite)
    if sentence_rows is None:
        sentence_rows = sum(len(s) for s in sentences)
    _check_matrix("sentence_vectors.npy", sentence_vectors, sentence_rows, dimension, finite)
    _check_matrix("word_vectors.npy", word_vectors, len(words), dimension, finite)
    if spelling is not None and not (isinstance(spelling, dict) and all(
            isinstance(w, str) and isinstance(c, int) and not isinstance(c, bool) and c > 0 for w, c in spelling.items())):
        raise ValueError("spelling.json is not a table of words and their counts")
    if bm25 is not None:
        scores = bm25.scores
        indptr, indices = scores["indptr"], scores["indices"]
        if int(scores.get("num_docs", -1)) != passages:
            raise ValueError(f"the BM25 index holds {scores.get('num_docs')} passages, the manifest says {passages}")
        if len(indptr) > len(bm25.vocab_dict) + 1 or (len(indptr) and int(indptr[-1]) != len(indices)) \
                or len(scores["data"]) != len(indices):
            raise ValueError("the BM25 arrays do not fit together")
        # The rows it points at: a pass over every page of the memory-mapped matrix, so only where values are
        # checked (``finite``); formats 4-5 rely on the checksums, verified before any answer.
        if finite and len(indices) and (int(indices.max()) >= passages or int(indices.min()) < 0):
            raise ValueError("the BM25 index points at passages that do not exist")
    if faiss_index.ntotal != passages or faiss_index.d != dimension:
        raise ValueError(f"index.faiss holds {faiss_index.ntotal} vectors of dimension {faiss_index.d}, "
                         f"the manifest says {passages} of {dimension}")
