"""The index on disk: a FAISS inner-product index, passages as JSON lines and a manifest.

Layout of an index folder::

    manifest.json      model, dimension, passage count, corpus hashes, build time, version
    passages.jsonl     one passage (text + source) per line, in FAISS row order; read by row when served
    sentences.jsonl    sentence spans per passage (for sentence-level scoring); read by row when served
    sources.jsonl, source_offsets.npy, rows.npy, catalog.json
                       the row tables (format 5, rsiqa.index.rows): each distinct source once, per passage
                       where its lines start, its source, kind, sentence count and chunk id, memory-mapped
    sentence_vectors.npy  sentence embeddings (float32), memory-mapped when served
    words.json         the word table for query expansion (one spelling per BM25 token)
    word_vectors.npy
    index.faiss        the FAISS index over the passage vectors: the only copy of them (format 4;
                       formats 1-3 also had vectors.npy), reused by the next build as a cache;
                       memory-mapped when served (format 5)
    spelling.json      word counts for spelling correction of questions (format 4)
    bm25.*             the BM25 index (bm25s's score matrix, vocabulary and parameters), loaded
                       memory-mapped instead of tokenising every passage at start

A build writes everything into a sibling temporary folder (``.index.building-<pid>-*``) and
swaps it in only when complete, so a failed or killed build never damages the index being
served. On Linux the swap is one atomic exchange of the two folders (``renameat2``); the index
folder is never missing or partly written, whenever the build is killed. Writers hold a lock
on the parent folder, and each one first removes what a killed build left behind there.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rsiqa.ingest.documents import Passage, Source
from rsiqa.index.onnx_export import INT8_SCHEME
from rsiqa.index.integrity import check_arrays, fd_sha256, folder_checksums, validate_manifest, verify_checksums
from rsiqa.index.vocabulary import Vocabulary
from rsiqa.index.rows import (
    KIND,
    KEY,
    SENTENCES,
    SOURCE,
    PassageRows,
    RowOf,
    SentenceRows,
    SourceRows,
    advise_random,
    check_rows,
    chunk_key,
    run_starts,
    write_rows,
)
from rsiqa.index.target import (
    KEPT_FILES,
    MANIFEST,
    IndexTargetError,
    check_free_space,
    check_replaceable,
    is_disk_full,
    no_space_message,
    swap_error_message,
)
FORMAT_VERSION = 5  # 2: the word table; 3: a checksum per file in the manifest; 4: vectors once, BM25 saved;
# 5: row tables, passages and sentences read by row on demand (rsiqa.index.rows)
#: The formats a build can read as its embedding cache (an upgrade does not embed again); only the current one is served.
READABLE_FORMATS = (1, 2, 3, 4, FORMAT_VERSION)


class IndexError_(RuntimeError):
    """The index is missing, incomplete or incompatible; the message says what to do."""


@dataclass
class IndexData:
    """Everything a retriever needs, loaded from (or about to be written to) an index folder.

    ``passages`` and ``sentences`` are lists in memory (a build, tests) or, for a served index of
    format 5, lazy sequences that parse a row when it is asked for (:mod:`rsiqa.index.rows`);
    then the per-row figures (sentence counts, kinds, chunk ids) come from the build's row table
    instead of a pass over every passage.
    """

    manifest: dict[str, Any]
    passages: Sequence[Passage]
    vectors: np.ndarray  # (n, d) float32, unit rows
    sentences: Sequence[list[str]]  # per passage, its sentences
    sentence_vectors: np.ndarray  # (total sentences, d) float32
    words: list[str] = field(default_factory=list)  # the word table (see rsiqa.search.expansion)
    word_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    faiss_index: Any = None
    sentence_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # first sentence row of each passage
    bm25: Any = None  # the bm25s index of the passages (see rsiqa.search.lexical.build_bm25); None: built when needed
    spelling: dict[str, int] | None = None  # word counts for spelling correction (rsiqa.search.query.word_counts)
    sentence_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # sentences per passage
    #: The build's row table (rsiqa.index.rows.ROW_COLUMNS) and catalog; None: computed from the passages in memory.
    rows: np.ndarray | None = None
    catalog: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if len(self.word_vectors) == 0 and self.vectors.ndim == 2:
            self.word_vectors = np.zeros((0, self.vectors.shape[1]), dtype=np.float32)
        if self.faiss_index is None:
            self.faiss_index = make_faiss_index(self.vectors)
            self.vectors = faiss_vectors(self.faiss_index)  # one copy of the vectors: the FAISS index's
        if self.sentence_counts.size == 0 and len(self.sentences):
            if self.rows is not None:
                self.sentence_counts = np.ascontiguousarray(self.rows[:, SENTENCES])
            else:
                self.sentence_counts = np.array([len(s) for s in self.sentences], dtype=np.int64)
        if self.sentence_starts.size == 0 and len(self.sentences):
            self.sentence_starts = run_starts(self.sentence_counts)
        self._derived: dict[str, Any] = {}
        #: A served index's checksums still being verified (rsiqa.index.store.DeferredCheck), None: all verified.
        self.pending_check: Any = None

    def _once(self, name: str, make: Any) -> Any:
        value = self._derived.get(name)
        if value is None:
            value = self._derived[name] = make()
        return value

    @property
    def sentence_owner(self) -> np.ndarray:
        """The passage row of each sentence row (made when first needed: only a corpus scored whole uses it)."""
        return self._once("owner", lambda: np.repeat(np.arange(len(self.sentence_counts)), self.sentence_counts))

    @property
    def kinds(self) -> np.ndarray:
        """Each passage's source kind, as an object array (one shared string per kind)."""
        if self.rows is not None and self.catalog is not None:
            return self._once("kinds", lambda: np.array(self.catalog["kinds"] or [""], dtype=object)[self.rows[:, KIND]])
        return self._once("kinds", lambda: np.array([p.source.kind for p in self.passages], dtype=object))

    @property
    def row_of(self) -> Any:
        """Chunk id -> row (``in`` and ``[]``); with identical passages, the last of their rows."""
        if self.rows is not None:
            return self._once("row_of", lambda: RowOf(self.rows[:, KEY]))
        return self._once("row_of", lambda: {p.chunk_id: row for row, p in enumerate(self.passages)})

    @property
    def chunk_numbers(self) -> np.ndarray:
        """Each passage's chunk id as a signed 64-bit number (rsiqa.index.rows.chunk_key)."""
        if self.rows is not None:
            return self.rows[:, KEY]
        return self._once("keys", lambda: np.array([chunk_key(p.chunk_id) for p in self.passages], dtype=np.int64))

    @property
    def url_kinds(self) -> Any:
        """The (URL, kind) pairs of the URLs whose passages are of more than one kind (a post and its comments):
        ``(url, kind) in data.url_kinds`` tells whether a URL also has passages of another kind than its own."""
        if self.catalog is not None:
            return self._once("url_kinds", lambda: {(u, k) for u, k in self.catalog["shared_urls"]})

        def pairs() -> set[tuple[str, str]]:
            found: dict[str, set[str]] = {}
            for p in self.passages:
                if p.source.url:
                    found.setdefault(p.source.url, set()).add(p.source.kind)
            return {(u, k) for u, kinds in found.items() if len(kinds) > 1 for k in kinds}

        return self._once("url_kinds", pairs)

    def distinct_sources(self) -> tuple[list[Source], np.ndarray]:
        """The distinct sources, in corpus order, and each passage's index into them."""
        if self.rows is not None:
            sources = self.passages.sources  # type: ignore[attr-defined]
            return list(sources), self.rows[:, SOURCE]
        ids: dict[Source, int] = {}
        per_row = np.array([ids.setdefault(p.source, len(ids)) for p in self.passages], dtype=np.int64)
        return list(ids), per_row

    def source_of(self, row: int) -> Source:
        """The source of passage ``row`` (a served index: from its sources table, without reading the passage)."""
        if self.rows is not None:
            return self.passages.sources[int(self.rows[row, SOURCE])]  # type: ignore[attr-defined]
        return self.passages[row].source

    @property
    def acronyms(self) -> dict[str, str]:
        """The corpus's acronyms and what they stand for (rsiqa.search.acronyms): found by the build (an index
        built before it recorded them: none), else from the passages in memory."""
        if self.catalog is not None:
            return {str(k): str(v) for k, v in (self.catalog.get("acronyms") or {}).items()}
        from rsiqa.search.acronyms import find_acronyms

        return self._once("acronyms", lambda: find_acronyms(p.text for p in self.passages))

    @property
    def shows_workings(self) -> bool:
        """Whether the material shows how things are done (rsiqa.search.query.shows_workings): recorded by the
        build; an index built before it did measures it once, reading a sample of its passages."""
        if self.catalog is not None and "shows_workings" in self.catalog:
            return bool(self.catalog["shows_workings"])
        from rsiqa.search.query import shows_workings

        return self._once("shows_workings", lambda: shows_workings(len(self.passages), lambda i: self.passages[i].text))

    def found_questions(self) -> list[tuple[str, int | None]] | None:
        """The questions the build found in the passages' sentences (for follow-ups), None: not recorded."""
        if self.catalog is None:
            return None
        return [(str(text), None if row is None else int(row)) for text, row in self.catalog["questions"]]

    def sentence_cosines(self, row: int, vector: np.ndarray) -> np.ndarray:
        """Cosine of each sentence of passage ``row`` to ``vector`` (a unit query vector)."""
        start = int(self.sentence_starts[row])
        return self.sentence_vectors[start : start + int(self.sentence_counts[row])] @ vector


def faiss_vectors(index: Any) -> np.ndarray:
    """The vectors stored in a flat or HNSW-flat FAISS index, as a read-only (n, d) float32 view (no copy).

    The view keeps ``index`` alive, so it stays valid however long it is kept.
    """
    flat = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
    n, d = int(flat.ntotal), int(flat.d)
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    raw = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)
    view = np.asarray(_KeepsAlive(raw, index))  # the array's base holds the index: its memory outlives no user
    view.flags.writeable = False
    return view


class _KeepsAlive:
    """Exposes ``array``'s memory to NumPy while holding ``owner`` (the FAISS index that owns it)."""

    def __init__(self, array: np.ndarray, owner: Any) -> None:
        self.__array_interface__ = array.__array_interface__
        self._owner = owner


def make_faiss_index(vectors: np.ndarray, ann_threshold: int | None = None, hnsw_m: int = 16,
                     ef_construction: int = 80, ef_search: int = 128) -> Any:
    """An inner-product index over unit vectors (= cosine similarity).

    Exact (``IndexFlatIP``) by default and below ``ann_threshold`` vectors; from ``ann_threshold``
    on, approximate (``IndexHNSWFlat``, inner product) with ``hnsw_m`` links per vector and the
    given build/search beams: flat search time grows with the number of vectors (about 55 ms per
    query at a million 384-d vectors on 2 cores), HNSW's only with its logarithm.
    """
    dimension = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.shape[1] else 1
    if ann_threshold is not None and len(vectors) >= ann_threshold:
        index = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    else:
        index = faiss.IndexFlatIP(dimension)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


VECTOR_SCHEMES = ("fp32", INT8_SCHEME)  # what a build of this version stores


def index_precision(manifest: dict[str, Any]) -> str:
    """``fp32`` or ``int8-w7``: the vectors an index was built with (older indexes: fp32, or ``int8``
    for the 8-bit quantisation of earlier versions)."""
    return str((manifest.get("embedding") or {}).get("precision", "fp32"))


def check_precision(manifest: dict[str, Any], index_dir: Path) -> None:
    """:class:`IndexError_` when the index's vectors are of a scheme this version no longer searches.

    Questions may be embedded at another precision than the stored vectors (int8 questions against
    fp32 passages is the default): one model, one vector space. Only the 8-bit int8 vectors of
    earlier versions (``int8``), which AVX2-only CPUs computed differently, need a rebuild.
    """
    built = index_precision(manifest)
    if built not in VECTOR_SCHEMES:
        raise IndexError_(
            f"the index in '{index_dir}' holds {built} vectors, which this version no longer searches: "
            f"rebuild with `rsiqa build`"
        )


def faiss_index_type(index: Any) -> str:
    """``hnsw`` or ``flat`` (or FAISS's class name for anything else)."""
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexFlat):
        return "flat"
    return type(index).__name__


def measure_recall(index: Any, vectors: np.ndarray, k: int = 10, sample: int = 200, seed: int = 0) -> float:
    """recall@k of ``index`` against exact search, with ``sample`` of its own vectors as queries.

    1.0 for an exact index. The exact neighbours come from a brute-force pass over ``vectors``
    (no second index in memory).
    """
    n = len(vectors)
    if n == 0 or faiss_index_type(index) == "flat":
        return 1.0
    k = min(k, n)
    rows = np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False)
    queries = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    _, exact = faiss.knn(queries, np.ascontiguousarray(vectors, dtype=np.float32), k, metric=faiss.METRIC_INNER_PRODUCT)
    _, found = index.search(queries, k)
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(found, exact)]))


def faiss_index_info(index: Any, vectors: np.ndarray, recall_sample: int = 200) -> dict[str, Any]:
    """What the manifest records about the FAISS index: type, size, HNSW parameters, measured recall@10."""
    info: dict[str, Any] = {"type": faiss_index_type(index), "vectors": int(index.ntotal)}
    if info["type"] == "hnsw":
        started = time.perf_counter()
        info.update(
            m=int(index.hnsw.nb_neighbors(1)), ef_construction=int(index.hnsw.efConstruction),
            ef_search=int(index.hnsw.efSearch), recall_at_10=round(measure_recall(index, vectors, 10, recall_sample), 4),
            recall_queries=min(recall_sample, len(vectors)),
        )
        info["recall_seconds"] = round(time.perf_counter() - started, 2)
    else:
        info["recall_at_10"] = 1.0
    return info


def _read_jsonl(path: Path) -> list[Any]:
    from rsiqa.index.rows import _loads  # orjson when installed: several times faster at 100k+ passages

    with path.open("rb") as handle:
        return [_loads(line) for line in handle if line.strip()]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _writer_lock(parent: Path) -> Iterator[None]:
    """An exclusive lock on ``parent`` (flock on the folder itself) so index writers take turns."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock; so does the death of the process


def _leftovers(index_dir: Path) -> list[Path]:
    """Temporary folders of earlier builds of ``index_dir`` (``.index.building-*``, ``.index.old-*``)."""
    prefixes = (f".{index_dir.name}.building-", f".{index_dir.name}.old-")
    try:
        names = os.listdir(index_dir.parent)
    except OSError:
        return []
    return sorted(index_dir.parent / name for name in names if name.startswith(prefixes))


def clean_leftovers(index_dir: Path) -> list[Path]:
    """Remove what killed builds left beside ``index_dir``; call with the writer lock held.

    If a killed build of the two-rename fallback left no index but a complete old one, that one
    is put back first. Returns the folders removed.
    """
    index_dir = index_dir.resolve()
    leftovers = _leftovers(index_dir)
    if not index_dir.exists():
        for old in sorted((p for p in leftovers if ".old-" in p.name and (p / MANIFEST).is_file()), reverse=True):
            os.replace(old, index_dir)
            leftovers.remove(old)
            break
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers


def remove_leftovers(index_dir: Path) -> list[Path]:
    """:func:`clean_leftovers` with the writer lock held: for a build that leaves the index as it is."""
    index_dir = index_dir.resolve()
    if not index_dir.parent.is_dir():
        return []
    with _writer_lock(index_dir.parent):
        return clean_leftovers(index_dir)


def _estimated_bytes(data: IndexData) -> int:
    """About how many bytes the files of ``data`` take on disk (the FAISS index holds the vectors again)."""
    text = sum(len(p.text) + len(p.source.title) + 200 for p in data.passages)
    bm25 = sum(a.nbytes for a in data.bm25.scores.values() if hasattr(a, "nbytes")) if data.bm25 is not None else 0
    arrays = data.vectors.nbytes + data.sentence_vectors.nbytes + data.word_vectors.nbytes + bm25
    return int(arrays + text + sum(len(s) for ss in data.sentences for s in ss) + 16 * len(data.words))


def _new_building_folder(index_dir: Path) -> Path:
    """A new, empty ``.<name>.building-<pid>-*`` folder beside ``index_dir``, with the mode any new folder gets
    (``mkdir`` applies the umask; ``tempfile.mkdtemp`` would make it 0700)."""
    while True:
        path = index_dir.parent / f".{index_dir.name}.building-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def write_index(index_dir: Path, data: IndexData) -> None:
    """Write ``data`` to ``index_dir`` atomically: temp folder first, then a swap.

    Only a missing or empty folder, or one holding an rsiqa index and nothing else, is replaced
    (:func:`rsiqa.index.target.check_replaceable`); anything else raises :class:`IndexTargetError`
    with nothing touched, as does a disk without room for the new index.
    """
    index_dir = index_dir.resolve()
    check_replaceable(index_dir)
    if data.bm25 is None or data.spelling is None:  # saved so that a server loads them instead of counting
        from rsiqa.ingest.documents import passage_context
        from rsiqa.search.lexical import build_bm25
        from rsiqa.search.query import spelling_texts, word_counts

        contexts = [passage_context(p) for p in data.passages]
        if data.bm25 is None:
            data.bm25 = build_bm25(contexts)
        if data.spelling is None:
            data.spelling = dict(word_counts(spelling_texts(contexts)))
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    with _writer_lock(index_dir.parent):
        check_replaceable(index_dir)  # again, now that no other build can change it
        clean_leftovers(index_dir)
        needed = _estimated_bytes(data)
        check_free_space(index_dir.parent, needed)
        tmp = _new_building_folder(index_dir)
        try:
            _write_files(tmp, data)
            _swap_in(tmp, index_dir)
        except (OSError, RuntimeError) as exc:  # FAISS reports a failed write as a RuntimeError
            if is_disk_full(exc, index_dir.parent):
                raise IndexTargetError(no_space_message(index_dir.parent, needed)) from exc
            message = swap_error_message(index_dir, exc) if isinstance(exc, OSError) else None
            if message:
                raise IndexTargetError(message) from exc
            raise
        finally:
            if tmp.exists():  # the unfinished new index, or the old one after an exchange
                shutil.rmtree(tmp, ignore_errors=True)


def _write_files(tmp: Path, data: IndexData) -> None:
    """Every file of the index into the folder ``tmp``, each synced; the manifest last."""
    from rsiqa.search.followups import corpus_questions  # found once here, not at every start

    write_rows(tmp, data.passages, data.sentences, [(q.text, q.row) for q in corpus_questions(data)])
    for name, array in (("sentence_vectors.npy", data.sentence_vectors), ("word_vectors.npy", data.word_vectors),
                        ("passage vectors", data.vectors)):
        if not np.isfinite(array).all():  # checked here once: loading checks the files' checksums instead
            raise ValueError(f"{name} hold values that are not finite numbers")
    np.save(tmp / "sentence_vectors.npy", data.sentence_vectors)
    (tmp / "words.json").write_text(json.dumps(data.words, ensure_ascii=False), encoding="utf-8")
    np.save(tmp / "word_vectors.npy", data.word_vectors)
    faiss.write_index(data.faiss_index, str(tmp / "index.faiss"))  # the only copy of the passage vectors
    _save_bm25(data.bm25, tmp)
    (tmp / "spelling.json").write_text(json.dumps(data.spelling, ensure_ascii=False), encoding="utf-8")
    for name in os.listdir(tmp):
        with open(tmp / name, "rb") as handle:
            os.fsync(handle.fileno())
    data.manifest["files"] = folder_checksums(tmp)  # what loading checks every file against
    # The manifest is written last: a folder without one is never loaded.
    manifest_tmp = tmp / (MANIFEST + ".tmp")
    manifest_tmp.write_text(json.dumps(data.manifest, indent=2), encoding="utf-8")
    with open(manifest_tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(manifest_tmp, tmp / MANIFEST)
    _fsync_dir(tmp)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap the folders ``a`` and ``b`` (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this file system or kernel cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap_in(new: Path, target: Path) -> None:
    """Replace ``target`` with the complete folder ``new``, keeping files a user put there (e.g. .gitkeep).

    Afterwards ``new`` is gone or holds the previous index, for the caller to delete.
    """
    if target.exists():
        for keep in KEPT_FILES:
            if (target / keep).exists():
                shutil.copy2(target / keep, new / keep)
        if not _exchange(new, target):
            # Two renames: a build killed between them leaves no index but a complete .old-* folder,
            # which the next build (clean_leftovers) puts back.
            old = target.parent / f".{target.name}.old-{os.getpid()}-{int(time.time() * 1000)}"
            os.replace(target, old)
            os.replace(new, target)
            shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)
    _fsync_dir(target.parent)


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The manifest of a built index, or :class:`IndexError_` explaining how to build one."""
    path = index_dir / MANIFEST
    if not path.is_file():
        raise IndexError_(f"no index found in '{index_dir}': run `rsiqa build --index {index_dir}` first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexError_(f"the index manifest in '{index_dir}' is unreadable ({exc}): rebuild with `rsiqa build`") from exc
    if not isinstance(manifest, dict):
        raise IndexError_(f"the index manifest in '{index_dir}' is damaged: rebuild with `rsiqa build`")
    if manifest.get("format") in READABLE_FORMATS:
        try:
            validate_manifest(manifest)
        except ValueError as exc:
            raise IndexError_(f"the index manifest in '{index_dir}' is damaged ({exc}): rebuild with `rsiqa build`") from exc
    return manifest


def check_manifest(index_dir: Path, model: str | None = None, dimension: int | None = None,
                   formats: tuple[int, ...] = (FORMAT_VERSION,)) -> dict[str, Any]:
    """The manifest of ``index_dir`` when it can be served with ``model``/``dimension``, else :class:`IndexError_`.

    Cheap (reads one small file): a command can call it before loading the embedding model.
    """
    manifest = read_manifest(index_dir)
    if manifest.get("format") not in formats:
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
    return manifest


def _read_index_files(index_dir: Path, manifest: dict[str, Any], deferred: bool = False) -> IndexData:
    """The data files of ``index_dir``, checked against the checksums, counts and dimension of ``manifest``.

    Format 4: the passage vectors are read from ``index.faiss`` (a view into the FAISS index, no
    second copy), the sentence vectors and the BM25 arrays are memory-mapped (the checksums
    verified that they are the files the build wrote, and the build checked their values).
    Format 5 (:func:`_read_rows_index`): nothing is parsed per passage and the FAISS index is
    memory-mapped too. ``deferred``: see :func:`load_index`.
    """
    version = manifest.get("format")
    if version == FORMAT_VERSION:
        return _read_rows_index(index_dir, manifest, deferred)
    try:
        verify_checksums(index_dir, manifest)
        passages = [Passage.from_dict(row) for row in _read_jsonl(index_dir / "passages.jsonl")]
        sentences = _read_jsonl(index_dir / "sentences.jsonl")
        faiss_index = faiss.read_index(str(index_dir / "index.faiss"))
        bm25 = spelling = None
        if version == 4:
            spelling = json.loads((index_dir / "spelling.json").read_text(encoding="utf-8"))
            vectors = faiss_vectors(faiss_index)
            sentence_vectors = load_mapped(index_dir / "sentence_vectors.npy")
            bm25 = load_bm25(index_dir)
        else:
            vectors = np.load(index_dir / "vectors.npy", allow_pickle=False)
            sentence_vectors = np.load(index_dir / "sentence_vectors.npy", allow_pickle=False)
        if version == 1:  # before the word table: read only to reuse its vectors
            words, word_vectors = [], np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float32)
        else:
            words = json.loads((index_dir / "words.json").read_text(encoding="utf-8"))
            word_vectors = np.load(index_dir / "word_vectors.npy", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexError_(f"the index in '{index_dir}' is incomplete or damaged ({exc}): rebuild with `rsiqa build`") from exc
    try:
        if not all(isinstance(s, list) and all(isinstance(t, str) for t in s) for s in sentences):
            raise ValueError("sentences.jsonl holds something other than lists of sentences")
        check_arrays(manifest, len(passages), sentences, vectors, sentence_vectors, words, word_vectors, faiss_index,
                     finite=version != 4, bm25=bm25, spelling=spelling)
    except ValueError as exc:
        raise IndexError_(f"the index in '{index_dir}' is inconsistent ({exc}): rebuild with `rsiqa build`") from exc
    return IndexData(manifest=manifest, passages=passages, vectors=vectors, sentences=sentences,
                     sentence_vectors=sentence_vectors, words=words, word_vectors=word_vectors, faiss_index=faiss_index,
                     bm25=bm25, spelling=spelling)


#: Files whose full checksum a server may verify after it started (:func:`load_index`'s ``deferred``):
#: the large ones, read by row or memory-mapped. Every other file is verified before loading.
LARGE_FILES = ("passages.jsonl", "sentences.jsonl", "sentence_vectors.npy", "index.faiss", "bm25.data.npy",
               "bm25.indices.npy")


def load_mapped(path: Path) -> np.ndarray:
    """The array saved at ``path``, memory-mapped read-only, as a plain ndarray over the mapping.

    ``np.memmap`` indexes through Python-level ``__getitem__`` and ``__array_finalize__`` (about 2 us a
    lookup, some 80 lookups a question); the plain view reads the same mapped pages without them.
    """
    return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False))


def read_rows(index_dir: Path, manifest: dict[str, Any], sentence_rows: int | None = None
              ) -> tuple[np.ndarray, dict[str, Any], PassageRows, SentenceRows]:
    """The row table, catalog and lazy passages and sentences of a format-5 index folder (checksums not verified).

    ``sentence_rows``: the rows of ``sentence_vectors.npy`` when the caller has mapped it (else read here),
    which the table's sentence counts must add up to.
    """
    table = load_mapped(index_dir / "rows.npy")
    source_offsets = np.load(index_dir / "source_offsets.npy", allow_pickle=False)
    catalog = json.loads((index_dir / "catalog.json").read_text(encoding="utf-8"))
    if sentence_rows is None:
        sentence_rows = int(np.load(index_dir / "sentence_vectors.npy", mmap_mode="r", allow_pickle=False).shape[0])
    check_rows(index_dir, table, source_offsets, catalog, int(manifest["passages"]), sentence_rows)
    sources = SourceRows(index_dir, source_offsets)
    return table, catalog, PassageRows(index_dir, table, sources), SentenceRows(index_dir, table)


@dataclass
class RowFiles:
    """What every format-5 load reads, whatever store holds the vectors (:func:`read_row_files`)."""

    table: np.ndarray
    catalog: dict[str, Any]
    passages: PassageRows
    sentences: SentenceRows
    words: list[str]
    word_vectors: np.ndarray
    spelling: dict[str, int]
    bm25: Any
    check: DeferredCheck | None  #: the large files' checksums verified in the background, None: verified already


def read_row_files(index_dir: Path, manifest: dict[str, Any], skip: tuple[str, ...] = (),
                   deferred: tuple[str, ...] = (), sentence_rows: int | None = None) -> RowFiles:
    """The row tables, lazy passages and sentences, word table, spelling counts and memory-mapped BM25 of a
    format-5 index folder, after verifying the checksums of its files but ``skip`` (not read) and ``deferred``
    (verified in the background: :class:`DeferredCheck`). ``sentence_rows``: see :func:`read_rows`.

    Raises OSError, ValueError, KeyError or TypeError for a missing or damaged file (the caller says what to do).
    """
    verify_checksums(index_dir, manifest, skip=skip + deferred)
    check = DeferredCheck(index_dir, manifest, deferred) if deferred else None
    table, catalog, passages, sentences = read_rows(index_dir, manifest, sentence_rows)
    words = json.loads((index_dir / "words.json").read_text(encoding="utf-8"))
    word_vectors = np.load(index_dir / "word_vectors.npy", allow_pickle=False)
    spelling = json.loads((index_dir / "spelling.json").read_text(encoding="utf-8"))
    bm25 = load_bm25(index_dir)
    for mapped in (bm25.scores["data"], bm25.scores["indices"]):
        advise_random(mapped)  # postings read per query token: only those become resident
    return RowFiles(table, catalog, passages, sentences, words, word_vectors, spelling, bm25, check)


def _read_rows_index(index_dir: Path, manifest: dict[str, Any], deferred: bool) -> IndexData:
    """Format 5: passages and sentences read by row on demand, the arrays and the FAISS index memory-mapped.

    Start-up reads the small files and tables only; nothing is parsed per passage and no vector
    page is read (the checksums, when not ``deferred``, read each file once through the page cache).
    """
    try:
        sentence_vectors = load_mapped(index_dir / "sentence_vectors.npy")
        files = read_row_files(index_dir, manifest, deferred=LARGE_FILES if deferred else (),
                               sentence_rows=int(sentence_vectors.shape[0]))
        faiss_index = faiss.read_index(str(index_dir / "index.faiss"), faiss.IO_FLAG_MMAP_IFC)
        vectors = faiss_vectors(faiss_index)
        # Read by row: only the rows read become resident (an exact index scans every passage vector anyway).
        for mapped in ((vectors,) if faiss_index_type(faiss_index) == "hnsw" else ()) + (sentence_vectors,):
            advise_random(mapped)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexError_(f"the index in '{index_dir}' is incomplete or damaged ({exc}): rebuild with `rsiqa build`") from exc
    try:
        check_arrays(manifest, len(files.passages), files.sentences, vectors, sentence_vectors, files.words,
                     files.word_vectors, faiss_index, finite=False, bm25=files.bm25, spelling=files.spelling,
                     sentence_rows=int(files.table[:, SENTENCES].sum()))
    except ValueError as exc:
        raise IndexError_(f"the index in '{index_dir}' is inconsistent ({exc}): rebuild with `rsiqa build`") from exc
    data = IndexData(manifest=manifest, passages=files.passages, vectors=vectors, sentences=files.sentences,
                     sentence_vectors=sentence_vectors, words=files.words, word_vectors=files.word_vectors,
                     faiss_index=faiss_index, bm25=files.bm25, spelling=files.spelling, rows=files.table,
                     catalog=files.catalog)
    data.pending_check = files.check
    return data


class DeferredCheck:
    """The checksums of an index's large files, verified in a background thread after loading.

    The files are opened when it is made, so the check reads the files that were loaded even if a
    build swaps in a new index meanwhile. :meth:`wait` returns when all are verified, or raises
    :class:`IndexError_` (the same refusal as a check before loading) when one differs: a server
    waits for it before its first answer, so a damaged index never answers.
    """

    def __init__(self, index_dir: Path, manifest: dict[str, Any], names: tuple[str, ...]) -> None:
        import threading

        self.index_dir = index_dir
        self._expected = {name: manifest["files"][name]["sha256"] for name in names}
        self._fds = {name: os.open(index_dir / name, os.O_RDONLY) for name in names}
        self._error: IndexError_ | None = None
        self._thread = threading.Thread(target=self._run, name="rsiqa-index-checksums", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for name, fd in self._fds.items():
                if fd_sha256(fd, drop=True)[0] != self._expected[name]:
                    self._error = IndexError_(
                        f"the index in '{self.index_dir}' is incomplete or damaged ({name} is not the file the build "
                        f"wrote (checksum differs)): rebuild with `rsiqa build`")
                    break
        except OSError as exc:
            self._error = IndexError_(f"the index in '{self.index_dir}' is incomplete or damaged ({exc}): "
                                      "rebuild with `rsiqa build`")
        finally:
            for fd in self._fds.values():
                os.close(fd)

    def wait(self) -> None:
        """Block until verified; :class:`IndexError_` when a file is not the one the build wrote."""
        self._thread.join()
        if self._error is not None:
            raise self._error


#: bm25s's file names for the BM25 index inside an index folder (see :meth:`bm25s.BM25.save`).
BM25_FILES = {"data_name": "bm25.data.npy", "indices_name": "bm25.indices.npy", "indptr_name": "bm25.indptr.npy",
              "vocab_name": "bm25.vocab.json", "params_name": "bm25.params.json"}


#: From this many distinct tokens on, a loaded BM25 vocabulary is kept as arrays (rsiqa.index.vocabulary): 200 bytes
#: per token in bm25s's dict and set become 20 (20 MB saved at 100,000), for a lookup about 20 times slower (a binary
#: search in Python; a query makes a few dozen: +0.3 ms measured on the debate, so small corpora keep the dict).
COMPACT_VOCABULARY = 100_000


def load_bm25(index_dir: Path) -> Any:
    """The BM25 index a build saved in ``index_dir``, its arrays memory-mapped."""
    import logging

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    bm25 = bm25s.BM25.load(index_dir, mmap=True, show_progress=False, **BM25_FILES)
    bm25.scores = {name: np.asarray(value) if isinstance(value, np.ndarray) else value  # the arrays: see load_mapped
                   for name, value in bm25.scores.items()}  # ("num_docs" stays an int)
    if len(bm25.vocab_dict) < COMPACT_VOCABULARY:
        return bm25  # a dict answers a lookup faster; its memory does not matter yet
    # The vocabulary as arrays (rsiqa.index.vocabulary): about 20 bytes per token instead of 200 in a dict and a set.
    bm25.vocab_dict = Vocabulary(bm25.vocab_dict)
    ids = bm25.vocab_dict.ids()
    if np.array_equal(np.sort(ids), np.arange(len(ids))):  # bm25s numbers its tokens 0..n-1
        bm25.unique_token_ids_set = range(len(ids))  # the same membership as its set of ids
    return bm25


def _save_bm25(bm25: Any, folder: Path) -> None:
    """bm25s's ``save`` of ``bm25`` (its vocabulary as the dict bm25s writes, also for a loaded one)."""
    vocab = bm25.vocab_dict
    if isinstance(vocab, Vocabulary):
        bm25.vocab_dict = dict(zip(vocab, vocab.ids().tolist()))
    try:
        bm25.save(folder, show_progress=False, **BM25_FILES)
    finally:
        bm25.vocab_dict = vocab


def _same_manifest(index_dir: Path, manifest: dict[str, Any]) -> bool:
    try:
        return read_manifest(index_dir) == manifest
    except IndexError_:
        return False


def load_index(index_dir: Path, model: str | None = None, dimension: int | None = None,
               formats: tuple[int, ...] = (FORMAT_VERSION,), defer_checksums: bool = False) -> IndexData:
    """Load an index folder, checking it was built with ``model``/``dimension`` when given.

    Only the current format is served; the embedding cache of a build also reads older ones
    (``formats``), so that an upgrade does not embed the whole corpus again.

    When a build swaps in a new index while this reads, the files could come from both; the
    manifest is read again afterwards, and the load repeated if it changed.

    ``defer_checksums`` (a server's first load): the large files (:data:`LARGE_FILES`) are checked
    for their size now and for their checksum in a background thread, ``data.pending_check``
    (:class:`DeferredCheck`), which the caller must wait for before answering. Every other check
    (the small files' checksums, the tables, shapes and counts) runs before this returns.
    """
    for _attempt in range(3):
        manifest = check_manifest(index_dir, model, dimension, formats)
        try:
            data = _read_index_files(index_dir, manifest, defer_checksums)
        except IndexError_:
            if _same_manifest(index_dir, manifest):
                raise
            continue
        if _same_manifest(index_dir, manifest):
            return data
    raise IndexError_(f"the index in '{index_dir}' kept changing while it was read (builds running?): try again")
