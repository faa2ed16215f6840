"""What a build keeps between runs besides the index: embeddings as they are made, and parsed files.

Both live in a folder beside the index folder, ``.<index name>-cache/`` (the index folder itself
is replaced whole by every build, so nothing there survives a killed build):

* ``embeddings-<model key>.f32`` - an append-only journal of (text key, vector) records written
  after every embedding call. A build stopped by ``kill -9`` resumes from it: only the texts of
  the call that was running are embedded again. A complete build empties it (its vectors are
  then in the index, which the next build reads as its cache).
* ``parsed/<key>.json`` - the blocks a loader made of one file, keyed by the file's SHA-256, its
  path in the corpus, the loader code and the extraction limits. An unchanged file is not
  parsed again; entries of files no longer in the corpus are removed after each build.

A damaged or truncated cache entry is ignored (and a journal cut mid-record is read up to its
last whole record): the cache can only save work, never change what is built.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rsiqa.ingest.documents import Block, LoadedDocument, Source

log = logging.getLogger(__name__)

_KEY_BYTES = 20  # sha1 digest of (model, text), as rsiqa.index.build keys its embedding cache
_MAGIC = b"RSIQAEJ1"


def build_cache_dir(index_dir: Path) -> Path:
    """The cache folder of the index in ``index_dir``: ``.<name>-cache`` beside it."""
    index_dir = Path(index_dir).resolve()
    return index_dir.parent / f".{index_dir.name}-cache"


class EmbeddingJournal:
    """Vectors appended to a file as they are made, read back by the next build of the same index.

    One file per model and vector precision, so a journal is never read by a build whose vectors
    would differ. Records are ``key (20 bytes) + dimension float32``; the header holds the dimension.
    """

    def __init__(self, folder: Path, model: str, precision: str) -> None:
        tag = hashlib.sha1(f"{model}\x1f{precision}".encode()).hexdigest()[:16]
        self.path = Path(folder) / f"embeddings-{tag}.f32"
        self._handle: Any = None
        self._dimension: int | None = None

    def read(self) -> dict[bytes, np.ndarray]:
        """Every whole record of the journal (empty when there is none or it is unreadable)."""
        try:
            raw = self.path.read_bytes()
        except OSError:
            return {}
        if len(raw) < 12 or raw[:8] != _MAGIC:
            return {}
        dimension = int.from_bytes(raw[8:12], "little")
        if dimension < 1:
            return {}
        size = _KEY_BYTES + 4 * dimension
        count = (len(raw) - 12) // size
        body = np.frombuffer(raw, dtype=np.uint8, count=count * size, offset=12).reshape(count, size)
        vectors = body[:, _KEY_BYTES:].copy().view(np.float32)
        self._dimension = dimension
        found = {}
        for row in range(count):
            vector = vectors[row]
            if np.isfinite(vector).all():
                found[body[row, :_KEY_BYTES].tobytes()] = vector
        return found

    def append(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Append records and flush them to the file (a process killed afterwards keeps them)."""
        if not keys:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            dimension = int(vectors.shape[1])
            fresh = not self.path.exists() or self._dimension != dimension
            if fresh:
                self._handle = self.path.open("wb")
                self._handle.write(_MAGIC + dimension.to_bytes(4, "little"))
            else:
                self._handle = self.path.open("r+b")
                size = _KEY_BYTES + 4 * dimension
                whole = 12 + (os.fstat(self._handle.fileno()).st_size - 12) // size * size
                self._handle.truncate(whole)  # drop a record cut short by a kill
                self._handle.seek(whole)
            self._dimension = dimension
        records = np.empty((len(keys), _KEY_BYTES + 4 * vectors.shape[1]), dtype=np.uint8)
        records[:, :_KEY_BYTES] = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), _KEY_BYTES)
        records[:, _KEY_BYTES:] = vectors.view(np.uint8)
        self._handle.write(records.tobytes())
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def clear(self) -> None:
        """Remove the journal (after a complete build: its vectors are in the index now)."""
        self.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


@lru_cache(maxsize=2)
def _source_hash(folder: Path) -> str:
    """A hash of the Python source below ``folder`` (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\x00" + path.read_bytes() + b"\x00")
    return digest.hexdigest()[:16]


def ingest_code_version() -> str:
    """A hash of the source of :mod:`rsiqa.ingest`: parsed files are cached per version of the loaders."""
    import rsiqa.ingest as ingest

    return _source_hash(Path(ingest.__file__).parent)


def code_version() -> str:
    """A hash of rsiqa's own source (every module of the package): an index is only left in place by a
    build of the same code (see :func:`rsiqa.index.build.unchanged_index`)."""
    import rsiqa

    return _source_hash(Path(rsiqa.__file__).parent)


def _document_to_dict(doc: LoadedDocument) -> dict[str, Any]:
    return {"path": doc.path, "title": doc.title, "questions": doc.questions,
            "blocks": [{"source": b.source.to_dict(), "paragraphs": b.paragraphs,
                        "parts": [[start, source.to_dict(), heading] for start, source, heading in b.parts]}
                       for b in doc.blocks]}


def _document_from_dict(row: dict[str, Any]) -> LoadedDocument:
    return LoadedDocument(path=row["path"], title=row["title"], questions=list(row["questions"]),
                          blocks=[Block(source=Source(**b["source"]), paragraphs=list(b["paragraphs"]),
                                        parts=[(start, Source(**source), heading) for start, source, heading in b["parts"]])
                                  for b in row["blocks"]])


class ParseCache:
    """Parsed files (:class:`LoadedDocument`) by file content, path, loader code and limits."""

    def __init__(self, folder: Path, limits: object) -> None:
        self.folder = Path(folder) / "parsed"
        self._salt = f"{ingest_code_version()}\x1f{limits!r}"
        self.used: set[str] = set()
        self.misses = 0

    def key(self, digest: str, rel: str) -> str:
        return hashlib.sha256(f"{self._salt}\x1f{rel}\x1f{digest}".encode("utf-8", "surrogateescape")).hexdigest()[:32]

    def get(self, digest: str, rel: str) -> LoadedDocument | None:
        """The cached document for these bytes at this path, or None."""
        key = self.key(digest, rel)
        self.used.add(key)
        try:
            doc = _document_from_dict(json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        return doc

    def put(self, digest: str, rel: str, doc: LoadedDocument) -> None:
        """Store ``doc`` (written to a temporary name first, so a kill never leaves half an entry)."""
        key = self.key(digest, rel)
        self.used.add(key)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{key}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(_document_to_dict(doc), ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.folder / f"{key}.json")
        except OSError as exc:  # a cache that cannot be written only costs time
            log.info("cannot cache parsed %s: %s", rel, exc)

    def prune(self) -> int:
        """Remove the entries this build did not use (files changed or gone); returns how many."""
        removed = 0
        try:
            names = os.listdir(self.folder)
        except OSError:
            return 0
        for name in names:
            if name.endswith(".json") and name[:-5] in self.used:
                continue
            try:
                os.unlink(self.folder / name)
                removed += 1
            except OSError:
                pass
        return removed
