"""Passages, sentences and sources read by row from an index folder, on demand (format 5).

A served index does not hold one Python object per passage. The build writes, beside
``passages.jsonl`` and ``sentences.jsonl`` (one JSON line per passage, as before):

* ``sources.jsonl`` - each distinct :class:`Source` once (the passages of a section share one),
  and ``source_offsets.npy``, where each of its lines starts;
* ``rows.npy`` - an int64 table, one row per passage (:data:`ROW_COLUMNS`): where its line starts
  in ``passages.jsonl`` and in ``sentences.jsonl``, its source, its number of sentences, its
  kind (an index into ``catalog.json``'s ``kinds``) and its chunk id as a 64-bit number;
* ``catalog.json`` - the kind names, the questions the passages' sentences ask (for follow-ups)
  and the (URL, kind) pairs of the URLs whose passages are of more than one kind (a post and its
  comments; for follow-ups).

The files are memory-mapped; :class:`PassageRows` and :class:`SentenceRows` parse one line when a
row is asked for (``data.passages[row]``, ``data.sentences[row]``), so start-up parses nothing
and memory holds only what was read recently (file-backed pages the kernel can drop).
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rsiqa.ingest.documents import Passage, Source
from rsiqa.search.acronyms import find_acronyms
from rsiqa.search.query import shows_workings

try:
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover - installed with gradio
    _loads = json.loads

#: The columns of ``rows.npy``.
ROW_COLUMNS = ("passage_offset", "sentence_offset", "source", "sentences", "kind", "key")
PASSAGE_OFFSET, SENTENCE_OFFSET, SOURCE, SENTENCES, KIND, KEY = range(len(ROW_COLUMNS))
#: The files of the row tables (format 5), besides passages.jsonl and sentences.jsonl.
ROW_FILES = ("sources.jsonl", "source_offsets.npy", "rows.npy", "catalog.json")


def advise_random(target: Any) -> None:
    """Tell the kernel that a memory mapping (an ``mmap``, a ``np.memmap`` or a NumPy view of mapped memory) is
    read at random places: a page fault then reads that page only, not the pages around it, so the resident
    memory is what was read, not whole stretches of the file (see :func:`rsiqa.index.integrity.drop_cached`)."""
    try:
        if isinstance(target, mmap.mmap):
            target.madvise(mmap.MADV_RANDOM)
            return
        mapped = getattr(target, "_mmap", None)
        if isinstance(mapped, mmap.mmap):
            mapped.madvise(mmap.MADV_RANDOM)
            return
        array = np.asarray(target)
        if array.nbytes == 0:
            return
        import ctypes

        page = mmap.PAGESIZE
        start = array.ctypes.data // page * page
        length = array.ctypes.data + array.nbytes - start
        ctypes.CDLL(None, use_errno=True).madvise(ctypes.c_void_p(start), ctypes.c_size_t(length), mmap.MADV_RANDOM)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not Linux: only an advice
        return


def run_starts(lengths: np.ndarray) -> np.ndarray:
    """Where each run starts when runs of ``lengths`` items are laid end to end (the sentences of passages)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return starts


def chunk_key(chunk_id: str) -> int:
    """A chunk id (16 hex digits) as the signed 64-bit number ``rows.npy`` stores."""
    value = int(chunk_id, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def chunk_id_of(key: int) -> str:
    """Inverse of :func:`chunk_key`."""
    return f"{int(key) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def _json_line(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False) + "\n").encode("utf-8")


def write_rows(folder: Path, passages: Sequence[Passage], sentences: Sequence[list[str]],
               questions: list[tuple[str, int | None]]) -> None:
    """Write passages.jsonl, sentences.jsonl and the row tables (see the module docstring) into ``folder``."""
    n = len(passages)
    table = np.zeros((n, len(ROW_COLUMNS)), dtype=np.int64)
    source_ids: dict[Source, int] = {}
    source_offsets: list[int] = []
    kinds: dict[str, int] = {}
    url_kinds: dict[str, list[str]] = {}
    with (folder / "passages.jsonl").open("wb") as pf, (folder / "sentences.jsonl").open("wb") as sf, \
            (folder / "sources.jsonl").open("wb") as srcf:
        p_at = s_at = src_at = 0
        for row, (passage, spans) in enumerate(zip(passages, sentences)):
            source = passage.source
            if source not in source_ids:
                source_ids[source] = len(source_ids)
                source_offsets.append(src_at)
                src_at += srcf.write(_json_line(source.to_dict()))
            if source.url:
                seen = url_kinds.setdefault(source.url, [])
                if source.kind not in seen:
                    seen.append(source.kind)
            table[row] = (p_at, s_at, source_ids[source], len(spans), kinds.setdefault(source.kind, len(kinds)),
                          chunk_key(passage.chunk_id))
            p_at += pf.write(_json_line(passage.to_dict()))
            s_at += sf.write(_json_line(list(spans)))
    np.save(folder / "rows.npy", table)
    np.save(folder / "source_offsets.npy", np.array(source_offsets, dtype=np.int64))
    catalog = {"columns": list(ROW_COLUMNS), "kinds": list(kinds),
               "shared_urls": [[url, kind] for url, found in url_kinds.items() if len(found) > 1 for kind in found],
               "questions": [[text, row] for text, row in questions],
               "acronyms": find_acronyms(passage.text for passage in passages),
               "shows_workings": shows_workings(len(passages), lambda i: passages[i].text)}
    (folder / "catalog.json").write_text(json.dumps(catalog, ensure_ascii=False), encoding="utf-8")


class _Lines:
    """The lines of a JSON-lines file, memory-mapped, addressed by their start offsets."""

    def __init__(self, path: Path, starts: np.ndarray) -> None:
        self.path = path
        self._starts = starts
        self.size = os.path.getsize(path)
        with path.open("rb") as handle:
            self._map: mmap.mmap | bytes = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if self.size else b""
        if isinstance(self._map, mmap.mmap):
            advise_random(self._map)
        self.reads = 0  # lines parsed so far (tests: a start reads none)

    def __len__(self) -> int:
        return len(self._starts)

    def end(self, i: int) -> int:
        return int(self._starts[i + 1]) if i + 1 < len(self._starts) else self.size

    def raw(self, i: int) -> bytes:
        return self._map[int(self._starts[i]) : self.end(i)]

    def parse(self, i: int) -> Any:
        self.reads += 1
        return _loads(self.raw(i))

    def find(self, needle: bytes, start: int = 0) -> int:
        """The byte offset of ``needle`` at or after ``start`` (-1: none)."""
        return self._map.find(needle, start)

    def line_at(self, offset: int) -> int:
        """The line holding byte ``offset``."""
        return int(np.searchsorted(self._starts, offset, side="right")) - 1


class _Rows(Sequence):
    """Common indexing of the lazy row sequences: an int (negative counts from the end) or a slice."""

    def __len__(self) -> int:
        return len(self._lines)  # type: ignore[attr-defined]

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(len(self)))]
        i = int(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"row {index} out of range (0-{len(self) - 1})")
        return self._row(i)

    def _row(self, i: int) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


class SourceRows(_Rows):
    """The distinct sources of an index (``sources.jsonl``), each parsed once when first asked for."""

    def __init__(self, folder: Path, offsets: np.ndarray) -> None:
        self._lines = _Lines(folder / "sources.jsonl", offsets)
        self._row = lru_cache(maxsize=4096)(self._parse)  # type: ignore[method-assign]

    def _parse(self, i: int) -> Source:
        return Source(**self._lines.parse(i))


class PassageRows(_Rows):
    """``data.passages`` of a served index: passage ``row`` parsed from its line of ``passages.jsonl`` when asked for.

    Its text comes from the line, its source from the index's distinct sources (one object per source).
    """

    def __init__(self, folder: Path, table: np.ndarray, sources: SourceRows) -> None:
        self._lines = _Lines(folder / "passages.jsonl", table[:, PASSAGE_OFFSET])
        self._table = table
        self.sources = sources

    @property
    def reads(self) -> int:
        """How many passage lines were parsed so far."""
        return self._lines.reads

    def _row(self, i: int) -> Passage:
        return Passage(text=self._lines.parse(i)["text"], source=self.sources[int(self._table[i, SOURCE])])

    def __iter__(self) -> Iterator[Passage]:
        for i in range(len(self)):
            yield self._row(i)

    def quoting(self, quote: str) -> Iterator[int]:
        """Rows whose text holds ``quote``, in row order, found by a byte search of the file (no full parse).

        The file holds each text as JSON (``ensure_ascii=False``), where a character's escape does
        not depend on its neighbours, so the escaped quote is a substring of the escaped text exactly
        when the quote is one of the text; a hit in another field of the line is checked and skipped.
        """
        needle = json.dumps(quote, ensure_ascii=False)[1:-1].encode("utf-8")
        if not needle:
            yield from range(len(self))
            return
        at = self._lines.find(needle)
        while at >= 0:
            row = self._lines.line_at(at)
            if quote in self._row(row).text:
                yield row
            at = self._lines.find(needle, self._lines.end(row))


class JsonLineRows(_Rows):
    """The rows of a JSON-lines file addressed by their start offsets, each parsed when asked for (and turned into
    the row's object by ``make``), never kept: a file larger than memory reads as a sequence."""

    def __init__(self, path: Path, starts: np.ndarray, make: Callable[[Any], Any] | None = None) -> None:
        self._lines = _Lines(path, starts)
        self._make = make

    @property
    def reads(self) -> int:
        """How many lines were parsed so far."""
        return self._lines.reads

    def _row(self, i: int) -> Any:
        row = self._lines.parse(i)
        return row if self._make is None else self._make(row)


class SentenceRows(JsonLineRows):
    """``data.sentences`` of a served index: the sentences of passage ``row`` parsed from its line when asked for."""

    def __init__(self, folder: Path, table: np.ndarray) -> None:
        super().__init__(folder / "sentences.jsonl", table[:, SENTENCE_OFFSET])


class RowOf:
    """Chunk id -> row, from the ``key`` column (sorted once: 16 bytes per passage instead of a dict entry).

    With identical passages (one chunk id on several rows) the last row is returned, as a dict
    built in row order would.
    """

    def __init__(self, keys: np.ndarray) -> None:
        self._order = np.argsort(keys, kind="stable")
        self._sorted = np.asarray(keys)[self._order]

    def _find(self, chunk_id: Any) -> int | None:
        try:
            key = chunk_key(str(chunk_id))
        except ValueError:
            return None
        at = int(np.searchsorted(self._sorted, key, side="right")) - 1
        if at < 0 or int(self._sorted[at]) != key:
            return None
        return int(self._order[at])

    def __contains__(self, chunk_id: object) -> bool:
        return self._find(chunk_id) is not None

    def __getitem__(self, chunk_id: str) -> int:
        row = self._find(chunk_id)
        if row is None:
            raise KeyError(chunk_id)
        return row

    def get(self, chunk_id: str, default: int | None = None) -> int | None:
        row = self._find(chunk_id)
        return default if row is None else row


def _spot_check_lines(path: Path, offsets: np.ndarray, size: int, samples: int = 64) -> None:
    """``ValueError`` unless each of ``samples`` rows spread over the file starts a line and ends one (the
    checksums cover every byte; this catches a table that does not belong to its file without reading it all)."""
    if not len(offsets):
        return
    rows = np.unique(np.linspace(0, len(offsets) - 1, min(samples, len(offsets))).astype(np.int64))
    with path.open("rb") as handle:
        for row in rows.tolist():
            start = int(offsets[row])
            end = int(offsets[row + 1]) if row + 1 < len(offsets) else size
            handle.seek(max(start - 1, 0))
            before = handle.read(1) if start else b"\n"
            handle.seek(end - 1)
            if before != b"\n" or handle.read(1) != b"\n":
                raise ValueError(f"rows.npy's offsets do not fit {path.name} (row {row})")


def check_rows(folder: Path, table: np.ndarray, source_offsets: np.ndarray, catalog: dict[str, Any],
               passages: int, sentence_rows: int) -> None:
    """``ValueError`` unless the row tables fit the files and counts (reads the small tables, not the texts)."""
    if table.ndim != 2 or table.dtype != np.int64 or table.shape != (passages, len(ROW_COLUMNS)):
        raise ValueError(f"rows.npy is a {table.dtype} array of shape {table.shape}, the manifest says "
                         f"{(passages, len(ROW_COLUMNS))} int64")
    if source_offsets.ndim != 1 or source_offsets.dtype != np.int64:
        raise ValueError("source_offsets.npy is not a list of offsets")
    if not isinstance(catalog, dict) or catalog.get("columns") != list(ROW_COLUMNS) \
            or not isinstance(catalog.get("kinds"), list) or not isinstance(catalog.get("questions"), list) \
            or not isinstance(catalog.get("shared_urls"), list) \
            or not isinstance(catalog.get("acronyms", {}), dict):
        raise ValueError("catalog.json is not this version's catalog")
    for name, offsets in (("passages.jsonl", table[:, PASSAGE_OFFSET]), ("sentences.jsonl", table[:, SENTENCE_OFFSET]),
                          ("sources.jsonl", source_offsets)):
        size = os.path.getsize(folder / name)
        if len(offsets) and (int(offsets[0]) != 0 or np.any(np.diff(offsets) <= 0) or int(offsets[-1]) >= size):
            raise ValueError(f"rows.npy's offsets do not fit {name}")
        _spot_check_lines(folder / name, offsets, size)
    if len(table):
        if int(table[:, SOURCE].min()) < 0 or int(table[:, SOURCE].max()) >= len(source_offsets):
            raise ValueError("rows.npy points at sources that do not exist")
        if int(table[:, KIND].min()) < 0 or int(table[:, KIND].max()) >= len(catalog["kinds"]):
            raise ValueError("rows.npy points at kinds that do not exist")
        if int(table[:, SENTENCES].min()) < 0:
            raise ValueError("rows.npy holds a negative sentence count")
    if int(table[:, SENTENCES].sum()) != sentence_rows:
        raise ValueError(f"rows.npy counts {int(table[:, SENTENCES].sum())} sentences, sentence_vectors.npy holds "
                         f"{sentence_rows}")

