"""The Milvus store (``RSIQA_STORE=milvus``): passages, sentences and their vectors in Milvus collections.

What a build writes (``RSIQA_MILVUS_URI``, ``RSIQA_MILVUS_TOKEN``, prefix ``RSIQA_MILVUS_COLLECTION_PREFIX``,
``rsiqa_`` by default):

* ``<prefix>passages_<build>``: one entity per passage - ``id`` (the passage key,
  :func:`rsiqa.index.stores.passage_key`), ``file``, ``chunk_id``, ``text``, ``source`` (JSON),
  ``vector`` (HNSW, inner product) and ``sparse`` (its BM25 term-frequency part, sparse
  inverted index, inner product; see :mod:`rsiqa.index.stores`);
* ``<prefix>sentences_<build>``: one entity per sentence - ``id``, ``passage``, ``position``,
  ``file``, ``vector`` (no vector index: sentences are only fetched by key, for candidates);
* the aliases ``<prefix>passages`` and ``<prefix>sentences``, switched to a new build's
  collections only once they are complete (a failed build leaves them untouched), then the
  collections older than the previous build are dropped.

A rebuild of an unchanged-settings corpus (``RSIQA_MILVUS_INCREMENTAL``, on by default) writes
into the served collections instead: it deletes the passages and sentences of changed and removed
files (by their ``file`` field) and inserts those of changed and new files; nothing else is
written. It checks the passage count afterwards and writes a new collection when it differs
(an interrupted incremental build is repaired by the next one).

The index folder is still written as with FAISS: it is the next build's embedding cache and
holds what the server needs besides the vectors (passage texts and sources, sentence texts,
the word table for query expansion). A server with this store reads those, not the vectors
(``vectors.npy``, ``sentence_vectors.npy``, ``index.faiss`` stay on disk): it asks Milvus for
the candidates of each search and fetches the vectors of those candidates only.

Where an engine has no aliases (Milvus Lite 2.5.1: ``list_aliases`` is UNIMPLEMENTED), the manifest's
collection names are the switch: the index folder, swapped atomically, names the collections to serve,
and the aliases are skipped (recorded as ``null``; a server then has no alias to follow). Where it has
no HNSW (Lite 2.5.1's local mode: FLAT, IVF_FLAT, AUTOINDEX), the passage vectors get FLAT, exact
search (recorded as ``dense_index``).

With ``RSIQA_MILVUS_SEARCH=native`` (or ``native-weighted``) Milvus does the keyword side itself: the
passages collection has no ``sparse`` field but ``tokens`` (rsiqa's BM25 tokens of the passage - stemmed,
stop words out - as space-separated text, under the ``standard`` analyzer) and ``bm25``, the output of
Milvus's built-in BM25 function on it (``SPARSE_INVERTED_INDEX``, metric ``BM25``, rsiqa's ``k1``/``b``).
A search is one ``hybrid_search`` per question: a dense request with every query vector and a BM25
request with each reading's own tokens (the query expansion's weighted tokens cannot be passed: Milvus
weighs a query token by its count), fused by ``RRFRanker`` (``native``) or ``WeightedRanker``
(``native-weighted``) into the top ``RSIQA_CANDIDATES`` of each reading. rsiqa's fusion and abstention
then score those candidates as always. Tokens rather than raw text go to the analyzer so that the
words match rsiqa's on every engine: Milvus Lite 3.x has only the ``standard`` (no stemming) and
``jieba`` analyzers. The manifest's record says which schema a build wrote (``search``); a change of
schema writes new collections, and a server serves what its collections hold.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rsiqa.index.store import (
    LARGE_FILES,
    IndexData,
    IndexError_,
    check_manifest,
    index_precision,
    read_row_files,
)
from rsiqa.index.stores import (
    BM25_B,
    BM25_K1,
    average_length,
    passage_key,
    passage_keys,
    passage_sparse,
    sentence_keys,
)
from rsiqa.index.rows import run_starts
from rsiqa.ingest.documents import Passage, passage_context
from rsiqa.settings import Settings

log = logging.getLogger(__name__)

BATCH = 500  # entities per insert or get call (well under gRPC's 64 MB messages at 384-d vectors)
MAX_TEXT = 60_000  # VARCHAR bytes kept of a passage's text (rsiqa's passages are far shorter)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


#: The collection schema of each RSIQA_MILVUS_SEARCH value: rsiqa's sparse vectors, or Milvus's BM25 function.
SCHEMAS = {"rsiqa": "rsiqa", "native": "native", "native-weighted": "native"}


def schema_of(settings: Settings) -> str:
    """The passages schema a build with ``settings`` writes: ``rsiqa`` (field ``sparse``) or ``native`` (``bm25``)."""
    return SCHEMAS[settings.milvus_search]


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="milvus")
        return _POOL


def connect(settings: Settings) -> Any:
    """A ``pymilvus.MilvusClient`` for ``settings.milvus_uri`` (and token)."""
    from pymilvus import MilvusClient

    # pymilvus pings every 10 s, even between calls; a gRPC server with default settings (`milvus-lite server`)
    # answers that with GOAWAY "too_many_pings" and the shared connection's recovery can fail. Ping only during
    # calls, at most once a minute (Milvus standalone and cluster accept either).
    kwargs: dict[str, Any] = {"uri": settings.milvus_uri, "grpc_options": {
        "grpc.keepalive_time_ms": 60_000, "grpc.keepalive_permit_without_calls": False}}
    if settings.milvus_token:
        kwargs["token"] = settings.milvus_token
    return MilvusClient(**kwargs)


def alias_names(settings: Settings) -> tuple[str, str]:
    """The aliases of the served passages and sentences collections."""
    prefix = settings.milvus_collection_prefix
    return f"{prefix}passages", f"{prefix}sentences"


def collections_present(manifest: dict[str, Any], settings: Settings, client: Any = None) -> bool:
    """True when ``manifest`` was built for this Milvus and prefix and its collections exist there (False when
    Milvus is unreachable: a build then says why). ``client``: an open one (else one is connected)."""
    record = manifest.get("milvus") or {}
    if record.get("uri") != settings.milvus_uri or record.get("prefix") != settings.milvus_collection_prefix:
        return False
    if record.get("search", "rsiqa") != schema_of(settings):  # RSIQA_MILVUS_SEARCH changed the schema
        return False
    try:
        names = set((client or connect(settings)).list_collections())
    except Exception:  # noqa: BLE001
        return False
    return record.get("passages") in names and record.get("sentences") in names


def has_aliases(client: Any) -> bool:
    """Whether the engine has aliases (Milvus Lite 2.5 answers ``list_aliases`` with UNIMPLEMENTED)."""
    try:
        client.list_aliases()
    except Exception:  # noqa: BLE001
        return False
    return True


def alias_target(client: Any, alias: str) -> str | None:
    """The collection ``alias`` points at, None when there is no such alias (asked without an error logged)."""
    listed = client.list_aliases()
    names = listed.get("aliases", []) if isinstance(listed, dict) else list(listed or [])
    if alias not in names:
        return None
    return client.describe_alias(alias=alias).get("collection_name")


#: Dense index types in order of preference: HNSW, else FLAT (exact) where the engine has no HNSW (Milvus Lite 2.5's
#: local mode: "only support FLAT IVF_FLAT AUTOINDEX").
DENSE_INDEXES = ("HNSW", "FLAT")


def _dense_search_params(index_type: str, ef: int) -> dict[str, Any]:
    return {"metric_type": "IP", "params": {"ef": ef}} if index_type == "HNSW" else {"metric_type": "IP"}


def _create_collections(client: Any, passages: str, sentences: str, dimension: int, settings: Settings) -> str:
    """Create a build's two collections; returns the passages' dense index type (:data:`DENSE_INDEXES`)."""
    for index_type in DENSE_INDEXES:
        try:
            _create_passages(client, passages, dimension, settings, index_type)
            break
        except Exception as exc:  # noqa: BLE001 - the engine's message names the index types it has
            if index_type == DENSE_INDEXES[-1] or "index type" not in str(exc).lower():
                raise
            log.warning("Milvus has no %s index (%s): the passage vectors get the next one, %s", index_type, exc,
                        DENSE_INDEXES[DENSE_INDEXES.index(index_type) + 1])
            if client.has_collection(passages):  # created before its index failed
                client.drop_collection(passages)
    _create_sentences(client, sentences, dimension)
    return index_type


def _create_passages(client: Any, passages: str, dimension: int, settings: Settings, index_type: str) -> None:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    native = schema_of(settings) == "native"
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("file", DataType.VARCHAR, max_length=4096)
    schema.add_field("chunk_id", DataType.VARCHAR, max_length=32)
    schema.add_field("text", DataType.VARCHAR, max_length=65535)
    schema.add_field("source", DataType.VARCHAR, max_length=65535)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    if native:  # Milvus's BM25 function over rsiqa's tokens (see the module docstring)
        schema.add_field("tokens", DataType.VARCHAR, max_length=65535, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["tokens"],
                                     output_field_names=["bm25"]))
    else:
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type=index_type, metric_type="IP",
                    params={"M": settings.hnsw_m, "efConstruction": settings.hnsw_ef_construction}
                    if index_type == "HNSW" else {})
    if native:
        index.add_index(field_name="bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
    else:
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    index.add_index(field_name="file", index_type="INVERTED")
    client.create_collection(passages, schema=schema, index_params=index, consistency_level="Strong")


def _create_sentences(client: Any, sentences: str, dimension: int) -> None:
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("passage", DataType.INT64)
    schema.add_field("position", DataType.INT32)
    schema.add_field("file", DataType.VARCHAR, max_length=4096)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    index = client.prepare_index_params()
    # Sentences are only read by key; Milvus wants an index on every vector field to load a collection.
    index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    index.add_index(field_name="file", index_type="INVERTED")
    client.create_collection(sentences, schema=schema, index_params=index, consistency_level="Strong")


def _text_bytes(text: str, limit: int = MAX_TEXT) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def _passage_rows(passages: list[Passage], rows: list[int], vectors: np.ndarray, sparse: dict[int, dict[int, float]] | None,
                  keys: np.ndarray, tokens: list[list[str]]) -> list[dict[str, Any]]:
    """Passage entities: with ``sparse`` (rsiqa's weights per row), else ``tokens`` for Milvus's BM25 function."""
    out = []
    for row in rows:
        p = passages[row]
        entity = {"id": int(keys[row]), "file": p.source.path, "chunk_id": p.chunk_id, "text": _text_bytes(p.text),
                  "source": _text_bytes(json.dumps(p.source.to_dict(), ensure_ascii=False)), "vector": vectors[row].tolist()}
        if sparse is not None:
            entity["sparse"] = sparse[row] or {0: 1e-9}
        else:
            entity["tokens"] = _text_bytes(" ".join(tokens[row]))
        out.append(entity)
    return out


def _rows_of(passages: list[Passage], sentences: list[list[str]], tokens: list[list[str]] | None = None
             ) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """The passages' keys, sentence counts and BM25 tokens (``tokens``: when the caller has them already)."""
    from rsiqa.search.lexical import tokenize

    keys = np.array([passage_key(p.chunk_id) for p in passages], dtype=np.int64)
    lengths = np.array([len(s) for s in sentences], dtype=np.int64)
    return keys, lengths, tokenize([passage_context(p) for p in passages]) if tokens is None else tokens


class MilvusBuild:
    """Writes one build's passages and sentences to Milvus, then (``publish``) switches the aliases.

    ``write`` takes the whole corpus (and writes in place when incremental). A corpus too large to hold at once is
    written in parts into new collections: ``start`` (with the whole corpus's average BM25 length), ``add`` per part,
    ``finish`` (``abort`` on failure); the same entities and record as ``write`` (tested).
    """

    def __init__(self, settings: Settings, index_dir: Path, client: Any = None) -> None:
        self.settings = settings
        self.index_dir = Path(index_dir)
        self.client = client or connect(settings)
        self.record: dict[str, Any] = {}
        self._previous: dict[str, Any] = {}

    def _previous_record(self, settings_key: str, dimension: int, precision: str) -> dict[str, Any]:
        """The Milvus record of the index folder's build when this build may update its collections in place."""
        try:
            manifest = check_manifest(self.index_dir, model=self.settings.model, dimension=dimension)
        except IndexError_:
            return {}
        record = manifest.get("milvus") or {}
        if not record or index_precision(manifest) != precision:
            return {}
        self._previous = record
        if not self.settings.milvus_incremental or record.get("settings_key") != settings_key:
            return {}
        if record.get("search", "rsiqa") != schema_of(self.settings):  # another schema: new collections
            return {}
        if not collections_present(manifest, self.settings, self.client):
            return {}
        return {**record, "corpus_hashes": manifest.get("corpus_hashes") or {}}

    def write(self, passages: list[Passage], sentences: list[list[str]], vectors: np.ndarray,
              sentence_vectors: np.ndarray, corpus_hashes: dict[str, str | None], settings_key: str,
              precision: str = "fp32", tokens: list[list[str]] | None = None) -> dict[str, Any]:
        """Write the build (in place when incremental, else new collections); returns the manifest's ``milvus`` record.

        ``tokens``: the passages' BM25 tokens (:func:`rsiqa.search.lexical.tokenize` of their context), when the
        caller has them already (a build tokenizes once for the BM25 index and Milvus's sparse vectors)."""
        started = time.perf_counter()
        dimension = int(vectors.shape[1])
        keys, lengths, tokens = _rows_of(passages, sentences, tokens)
        previous = self._previous_record(settings_key, dimension, precision)
        if previous:
            old = previous["corpus_hashes"]
            changed = sorted(f for f, h in corpus_hashes.items() if old.get(f) != h or f not in old)
            removed = sorted(set(old) - set(corpus_hashes))
            avg = float(previous["avg_length"])
            written = self._write_files(previous, passages, sentences, vectors, sentence_vectors, keys, lengths, tokens,
                                        avg, set(changed), sorted(set(changed) | set(removed)))
            if written is not None:
                self.record = {**{k: v for k, v in previous.items() if k != "corpus_hashes"},
                               "write": {"mode": "incremental", "changed_files": len(changed),
                                         "removed_files": len(removed), **written,
                                         "seconds": round(time.perf_counter() - started, 2)}}
                return self.record
            log.warning("the Milvus collections did not hold this index after an incremental write: writing new ones")
        self.start(dimension, average_length(tokens), settings_key)
        try:
            self._add(passages, sentences, vectors, sentence_vectors, keys, lengths, tokens)
            return self.finish(started)
        except BaseException:
            self.abort()
            raise

    # A full write in parts (a corpus too large to hold at once): start, add each part, finish (abort on failure).
    def start(self, dimension: int, avg_length: float, settings_key: str) -> None:
        """Create a new build's collections; ``avg_length``: the whole corpus's average passage length in BM25 tokens
        (:func:`rsiqa.index.stores.average_length`), which every passage's sparse vector is computed with."""
        build = time.strftime("%Y%m%d%H%M%S", time.gmtime()) + f"_{int(time.time() * 1000) % 1000:03d}"
        prefix = self.settings.milvus_collection_prefix
        names = {"passages": f"{prefix}passages_{build}", "sentences": f"{prefix}sentences_{build}"}
        dense_index = _create_collections(self.client, names["passages"], names["sentences"], dimension, self.settings)
        self._names, self._avg, self._settings_key, self._dense_index = names, float(avg_length), settings_key, dense_index
        self._seen: set[int] = set()
        self._written = {"passages_written": 0, "sentences_written": 0}
        self._started = time.perf_counter()

    def add(self, passages: list[Passage], sentences: list[list[str]], vectors: np.ndarray,
            sentence_vectors: np.ndarray) -> None:
        """Insert a part of the corpus (after :meth:`start`): passages, their sentences and both vectors, in order; a
        passage whose key an earlier part held already is not written again."""
        self._add(passages, sentences, vectors, sentence_vectors, *_rows_of(passages, sentences))

    def _add(self, passages: list[Passage], sentences: list[list[str]], vectors: np.ndarray,
             sentence_vectors: np.ndarray, keys: np.ndarray, lengths: np.ndarray, tokens: list[list[str]]) -> None:
        written = self._insert(self._names, passages, sentences, vectors, sentence_vectors, keys, lengths, tokens,
                               self._avg, range(len(passages)), self._seen, flush=False)
        for name, count in written.items():
            self._written[name] += count

    def finish(self, started: float | None = None) -> dict[str, Any]:
        """Flush the collections, check their passage count; returns the manifest's ``milvus`` record."""
        names = self._names
        self.client.flush(names["passages"])
        self.client.flush(names["sentences"])
        self._check_count(names, len(self._seen))
        self.record = {"uri": self.settings.milvus_uri, "prefix": self.settings.milvus_collection_prefix, **names,
                       "settings_key": self._settings_key, "avg_length": self._avg,
                       "bm25": {"k1": BM25_K1, "b": BM25_B}, "search": schema_of(self.settings),
                       "dense_index": self._dense_index,
                       "aliases": dict(zip(("passages", "sentences"), alias_names(self.settings)))
                       if has_aliases(self.client) else None,  # none: the index folder's manifest is the switch
                       "write": {"mode": "full", **self._written,
                                 "seconds": round(time.perf_counter() - (started or self._started), 2)}}
        return self.record

    def abort(self) -> None:
        """Drop the collections of a build started and not finished (a failed build leaves none half-written)."""
        for name in getattr(self, "_names", {}).values():
            try:
                self.client.drop_collection(name)
            except Exception:  # noqa: BLE001 - the original error matters
                pass

    def _insert(self, names: dict[str, str], passages: list[Passage], sentences: list[list[str]], vectors: np.ndarray,
                sentence_vectors: np.ndarray, keys: np.ndarray, lengths: np.ndarray, tokens: list[list[str]],
                avg: float, rows: Any, seen: set[int] | None = None, flush: bool = True) -> dict[str, int]:
        """Insert ``rows`` of the given arrays; ``seen``: keys written already (updated), ``flush``: flush afterwards."""
        rows = [r for r in rows]
        seen = set() if seen is None else seen
        unique = []
        for r in rows:  # identical passages (same file, section, text) share a key: written once
            if int(keys[r]) not in seen:
                seen.add(int(keys[r]))
                unique.append(r)
        starts = run_starts(lengths)
        n_passages = n_sentences = 0
        native = schema_of(self.settings) == "native"
        for at in range(0, len(unique), BATCH):
            batch = unique[at : at + BATCH]
            sparse = None if native else {r: passage_sparse(tokens[r], avg) for r in batch}
            entities = _passage_rows(passages, batch, vectors, sparse, keys, tokens)
            self.client.insert(names["passages"], entities)
            n_passages += len(entities)
            skeys = sentence_keys(keys[batch], lengths[batch])
            srows = np.concatenate([np.arange(starts[r], starts[r] + lengths[r]) for r in batch]).astype(np.int64)
            owners = np.repeat(keys[batch], lengths[batch])
            positions = np.concatenate([np.arange(lengths[r]) for r in batch]).astype(np.int64)
            files = [passages[r].source.path for r in batch for _ in range(int(lengths[r]))]
            entities = [{"id": int(k), "passage": int(o), "position": int(p), "file": f, "vector": sentence_vectors[s].tolist()}
                        for k, o, p, f, s in zip(skeys, owners, positions, files, srows)]
            for s_at in range(0, len(entities), BATCH * 4):
                self.client.insert(names["sentences"], entities[s_at : s_at + BATCH * 4])
            n_sentences += len(entities)
        if flush:
            self.client.flush(names["passages"])
            self.client.flush(names["sentences"])
        return {"passages_written": n_passages, "sentences_written": n_sentences}

    def _check_count(self, names: dict[str, str], expected: int) -> None:
        """RuntimeError unless the passages collection holds ``expected`` rows."""
        got = self.client.query(names["passages"], filter="", output_fields=["count(*)"], consistency_level="Strong")
        count = int(got[0]["count(*)"])
        if count != expected:
            raise RuntimeError(f"Milvus collection {names['passages']} holds {count} passages, the build wrote {expected}")

    def _write_files(self, previous: dict[str, Any], passages: list[Passage], sentences: list[list[str]],
                     vectors: np.ndarray, sentence_vectors: np.ndarray, keys: np.ndarray, lengths: np.ndarray,
                     tokens: list[list[str]], avg: float, changed: set[str], touched: list[str]) -> dict[str, int] | None:
        """Incremental: delete ``touched`` files' entities, insert ``changed`` files' passages; None when the count is off."""
        names = {"passages": previous["passages"], "sentences": previous["sentences"]}
        deleted = 0
        for at in range(0, len(touched), 100):
            files = json.dumps(touched[at : at + 100], ensure_ascii=False)
            result = self.client.delete(names["passages"], filter=f"file in {files}")
            deleted += len(result) if isinstance(result, list) else int((result or {}).get("delete_count", 0))
            self.client.delete(names["sentences"], filter=f"file in {files}")
        rows = [r for r, p in enumerate(passages) if p.source.path in changed]
        written = self._insert(names, passages, sentences, vectors, sentence_vectors, keys, lengths, tokens, avg, rows) \
            if rows else {"passages_written": 0, "sentences_written": 0}
        try:
            self._check_count(names, len(set(keys.tolist())))
        except RuntimeError as exc:
            log.warning("%s", exc)
            return None
        return {**written, "passages_deleted": deleted}

    def publish(self) -> None:
        """Point the aliases at this build's collections (atomically, each), then drop collections older than the previous build."""
        record = self.record
        if not record:
            return
        replaced: set[str] = set()
        if not record.get("aliases"):  # an engine without aliases: the index folder (already swapped) is the switch
            log.info("Milvus has no aliases: serving follows the index folder's manifest")
            self._drop_old(replaced)
            return
        aliases = dict(zip(("passages", "sentences"), alias_names(self.settings)))
        for kind, alias in aliases.items():
            try:
                current = alias_target(self.client, alias)
                replaced.add(current or "")
                if current is None:
                    self.client.create_alias(collection_name=record[kind], alias=alias)
                elif current != record[kind]:
                    self.client.alter_alias(collection_name=record[kind], alias=alias)
            except Exception as exc:  # noqa: BLE001 - Milvus Lite 2.5 has no aliases: the manifest is the switch
                log.warning("Milvus aliases unavailable (%s): serving follows the index folder's manifest", exc)
                break
        self._drop_old(replaced)

    def _drop_old(self, replaced: set[str]) -> None:
        """Drop this prefix's collections other than this build's, the previous build's of this index folder and the
        ones the aliases pointed at until now (servers may still use them until they reload)."""
        keep = {self.record.get("passages"), self.record.get("sentences"),
                self._previous.get("passages"), self._previous.get("sentences")} | replaced
        prefix = self.settings.milvus_collection_prefix
        for name in self.client.list_collections():
            if name.startswith((f"{prefix}passages_", f"{prefix}sentences_")) and name not in keep:
                try:
                    self.client.drop_collection(name)
                except Exception as exc:  # noqa: BLE001 - an alias on it (someone else's), or gone
                    log.warning("old Milvus collection %s not dropped: %s", name, exc)


def native_query_text(query: dict[int, float]) -> str:
    """The text sent to Milvus's BM25 for a query: its own tokens (weight 1; the expansion's lower weights cannot be
    expressed), space-separated; empty for a plain sparse vector without its tokens."""
    tokens = getattr(query, "tokens", None) or {}
    return " ".join(token for token, weight in tokens.items() if weight >= 1.0)


class MilvusStore:
    """:class:`rsiqa.index.stores.VectorStore` over a build's Milvus collections; keeps no vectors but a few recent fetches."""

    name = "milvus"
    searches_sparse = True
    holds_vectors = False

    def __init__(self, client: Any, record: dict[str, Any], keys: np.ndarray, lengths: np.ndarray,
                 settings: Settings) -> None:
        self.client = client
        self.record = record
        self.passages, self.sentences = record["passages"], record["sentences"]
        self.keys = keys  # passage key of each row
        self.lengths = lengths  # sentences of each row
        self.settings = settings
        self._order = np.argsort(keys, kind="stable")
        self._sorted = keys[self._order]
        self.dimension = int(record.get("dimension") or 384)
        #: Rows whose vectors are kept after a search (its readings and the answer reuse them); a few searches' worth.
        self.cache_rows = 2048
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = _pool()  # concurrent Milvus calls (one pool per process: a reload opens a new store)
        #: How candidates are found: what the collections hold decides (``search`` of the build's record).
        self.search = record.get("search", "rsiqa")
        self.dense_index = record.get("dense_index", "HNSW")
        if self.search != schema_of(settings):
            log.warning("RSIQA_MILVUS_SEARCH=%s but the collections were built for %s candidates: serving those "
                        "(rebuild to change)", settings.milvus_search, self.search)
        #: The ranker of ``hybrid_search`` (native only): weighted when asked for, else reciprocal rank fusion.
        self.ranker = "weighted" if settings.milvus_search == "native-weighted" else "rrf"
        for name in (self.passages, self.sentences):
            client.load_collection(name)  # again after a restart of Milvus (Lite) or of this process
        self.alias_at_load = self.alias_target()
        if self.alias_at_load not in (None, self.passages):
            log.warning("the Milvus alias points at %s, the index folder names %s: serving the index folder's "
                        "(rebuild or update the index folder to serve the alias)", self.alias_at_load, self.passages)

    def alias_moved(self) -> bool:
        """True when the passages alias points elsewhere than when this store was opened (a build elsewhere switched it)."""
        return self.alias_target() != self.alias_at_load

    def alias_target(self) -> str | None:
        """The collection the passages alias points at now (None: no alias, or Milvus unreachable)."""
        aliases = self.record.get("aliases") or {}
        if "passages" not in aliases:
            return None
        try:  # an engine without aliases (Lite 2.5) fails here: nothing to follow
            return alias_target(self.client, aliases["passages"])
        except Exception:  # noqa: BLE001
            return None

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Rows of passage ``keys``; keys this index does not hold (written by a newer build) are left out."""
        keys = np.asarray(keys, dtype=np.int64)
        at = np.searchsorted(self._sorted, keys).clip(0, max(len(self._sorted) - 1, 0))
        known = self._sorted[at] == keys if len(self._sorted) else np.zeros(len(keys), bool)
        return self._order[at[known]]

    def candidates(self, vectors: np.ndarray, sparse_queries: list[dict[int, float]], k: int,
                   lexical_top: list[np.ndarray] | None = None) -> np.ndarray:
        if self.search == "native":
            return self._native_candidates(vectors, sparse_queries, k)
        ef = max(self.settings.hnsw_ef_search, k)
        dense = self._pool.submit(self.client.search, self.passages, data=[v.tolist() for v in np.asarray(vectors, np.float32)],
                                  anns_field="vector", limit=k, output_fields=["id"],
                                  search_params=_dense_search_params(self.dense_index, ef))
        queries = [q for q in sparse_queries if q]
        sparse = self._pool.submit(self.client.search, self.passages, data=queries, anns_field="sparse", limit=k,
                                   output_fields=["id"], search_params={"metric_type": "IP"}) if queries else None
        found = [int(hit["id"]) for hits in dense.result() for hit in hits]
        if sparse is not None:
            found += [int(hit["id"]) for hits in sparse.result() for hit in hits]
        return np.unique(self.rows_of(np.array(found, dtype=np.int64))).astype(np.int64)

    def _native_candidates(self, vectors: np.ndarray, sparse_queries: list[dict[int, float]], k: int) -> np.ndarray:
        """One ``hybrid_search``: per reading, the top ``k`` of its dense ANN and Milvus's BM25 over its own tokens
        (the weight-1 tokens of its :class:`rsiqa.index.stores.SparseQuery`), fused by the ranker."""
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        vectors = np.asarray(vectors, np.float32)
        if not len(vectors):
            return np.zeros(0, dtype=np.int64)
        texts = [native_query_text(q) for q in sparse_queries][: len(vectors)]
        texts += [""] * (len(vectors) - len(texts))
        ef = max(self.settings.hnsw_ef_search, k)
        requests = [AnnSearchRequest(data=[v.tolist() for v in vectors], anns_field="vector", limit=k,
                                     param=_dense_search_params(self.dense_index, ef))]
        if any(texts):
            requests.append(AnnSearchRequest(data=texts, anns_field="bm25", limit=k, param={"metric_type": "BM25"}))
        ranker = WeightedRanker(0.5, 0.5) if self.ranker == "weighted" and len(requests) == 2 else RRFRanker(60)
        found = self.client.hybrid_search(self.passages, requests, ranker, limit=k, output_fields=["id"])
        keys = np.array([int(hit["id"]) for hits in found for hit in hits], dtype=np.int64)
        return np.unique(self.rows_of(keys)).astype(np.int64)

    def _get(self, collection: str, keys: list[int]) -> dict[int, np.ndarray]:
        got: dict[int, np.ndarray] = {}
        for at in range(0, len(keys), BATCH * 4):
            for entity in self.client.get(collection, ids=keys[at : at + BATCH * 4], output_fields=["vector"]):
                got[int(entity["id"])] = np.asarray(entity["vector"], dtype=np.float32)
        return got

    def _vectors(self, rows: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """(passage vector, its sentences' vectors) of each row: recent rows from the cache, the rest from Milvus
        (passages and sentences fetched concurrently); a vector Milvus lacks (a newer build deleted it) is zeros."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        with self._lock:
            for row in rows.tolist():
                if row in self._cache:
                    self._cache.move_to_end(row)
                    out[row] = self._cache[row]
        missing = np.array([r for r in rows.tolist() if r not in out], dtype=np.int64)
        if len(missing):
            skeys = sentence_keys(self.keys[missing], self.lengths[missing])
            passages = self._pool.submit(self._get, self.passages, np.unique(self.keys[missing]).tolist())
            sentences = self._get(self.sentences, np.unique(skeys).tolist())
            passages = passages.result()
            zero = np.zeros(self.dimension, dtype=np.float32)
            at = 0
            for row in missing.tolist():
                n = int(self.lengths[row])
                block = np.stack([sentences.get(int(key), zero) for key in skeys[at : at + n]]) if n else \
                    np.zeros((0, self.dimension), np.float32)
                at += n
                out[row] = (passages.get(int(self.keys[row]), zero), block)
            with self._lock:
                for row in missing.tolist():
                    self._cache[row] = out[row]
                while len(self._cache) > self.cache_rows:  # the candidates of the last few searches, no more
                    self._cache.popitem(last=False)
        return out

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return np.zeros((0, self.dimension), np.float32)
        found = self._vectors(rows)
        return np.stack([found[r][0] for r in rows.tolist()])

    def sentence_vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        found = self._vectors(rows)
        blocks = [found[r][1] for r in rows.tolist()]
        return np.concatenate(blocks) if blocks else np.zeros((0, self.dimension), np.float32)


class MilvusIndexData(IndexData):
    """An index folder's passages, sentences and word table without its vectors (they stay in Milvus)."""

    store: MilvusStore | None = None

    def sentence_cosines(self, row: int, vector: np.ndarray) -> np.ndarray:
        assert self.store is not None
        return self.store.sentence_vectors(np.array([row], dtype=np.int64)) @ vector


def load_milvus_index(index_dir: Path, settings: Settings, model: str | None = None,
                      dimension: int | None = None, client: Any = None,
                      defer_checksums: bool = False) -> tuple[MilvusIndexData, MilvusStore]:
    """The index folder's data without vectors, and the store over the Milvus collections its manifest names.

    As with FAISS (format 5), passages and sentences are read by row on demand and the per-row
    figures come from the build's row table: besides those fixed-width arrays this process holds
    nothing per passage. The vector files (``index.faiss``, ``sentence_vectors.npy``) are not
    read; their sizes are checked, the other files' checksums verified (the large ones in the
    background with ``defer_checksums``, see :func:`rsiqa.index.store.load_index`).
    """
    index_dir = Path(index_dir)
    manifest = check_manifest(index_dir, model, dimension)
    record = dict(manifest.get("milvus") or {})
    if not record:
        raise IndexError_(f"the index in '{index_dir}' was built without Milvus: rebuild with RSIQA_STORE=milvus `rsiqa build`")
    vector_files = ("index.faiss", "sentence_vectors.npy")  # in Milvus; the build checked them
    large = tuple(name for name in LARGE_FILES if name not in vector_files)
    try:
        files = read_row_files(index_dir, manifest, skip=vector_files, deferred=large if defer_checksums else ())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexError_(f"the index in '{index_dir}' is incomplete or damaged ({exc}): rebuild with `rsiqa build`") from exc
    if len(files.passages) != manifest["passages"] or len(files.sentences) != len(files.passages):
        raise IndexError_(f"the index in '{index_dir}' is inconsistent: rebuild with `rsiqa build`")
    d = int(manifest["dimension"])
    record["dimension"] = d
    empty = np.zeros((0, d), dtype=np.float32)
    data = MilvusIndexData(manifest=manifest, passages=files.passages, vectors=empty, sentences=files.sentences,
                           sentence_vectors=empty, words=files.words, word_vectors=files.word_vectors,
                           faiss_index=faiss.IndexFlatIP(d), bm25=files.bm25, spelling=files.spelling,
                           rows=files.table, catalog=files.catalog)
    data.pending_check = files.check
    keys = passage_keys(data.chunk_numbers)
    try:
        store = MilvusStore(client or connect(settings), record, keys, data.sentence_counts, settings)
    except Exception as exc:  # noqa: BLE001 - unreachable Milvus, dropped collection: say what to do
        raise IndexError_(f"the Milvus collections of the index in '{index_dir}' cannot be used ({exc}): "
                          f"check RSIQA_MILVUS_URI ({settings.milvus_uri}) or rebuild with `rsiqa build`") from exc
    data.store = store
    return data, store
