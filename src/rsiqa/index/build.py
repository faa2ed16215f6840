"""The ingest pipeline: corpus folder -> passages -> embeddings -> index folder."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from rsiqa import __version__
from rsiqa.ingest.chunking import chunk_blocks, split_sentences
from rsiqa.ingest.documents import Passage, passage_context
from rsiqa.index.buildcache import EmbeddingJournal, ParseCache, build_cache_dir, code_version
from rsiqa.index.embedding import Embedder, embedding_precision, expected_precision, pool_spans, token_encoder
from rsiqa.search.expansion import corpus_words
from rsiqa.search.lexical import STOPWORDS
from rsiqa.index.integrity import verify_checksums
from rsiqa.index.store import (
    FORMAT_VERSION,
    READABLE_FORMATS,
    IndexData,
    IndexError_,
    check_manifest,
    faiss_index_info,
    index_precision,
    load_index,
    make_faiss_index,
    read_rows,
    remove_leftovers,
    write_index,
)
from rsiqa.index.target import check_build_target
from rsiqa.ingest.loaders import ExtractionLimits, entry_digest, iter_corpus_files, load_corpus
from rsiqa.index.onnx_export import INT8_SCHEME
from rsiqa.settings import Settings, index_settings

log = logging.getLogger(__name__)


def passage_sentences(passage: Passage) -> list[str]:
    """A passage's sentences, as used for sentence-level scoring and highlights.

    A section heading kept at the top of a passage is a label, not a statement: it is left
    out when the passage has sentences of its own (the passage embedding still carries it).
    """
    sentences = [s for line in passage.text.split("\n") for s in split_sentences(line)] or [passage.text]
    if len(sentences) > 1 and passage.source.section and sentences[0] == passage.source.section:
        sentences = sentences[1:]
    return sentences


def _text_key(model: str, text: str) -> bytes:
    return hashlib.sha1(f"{model}\x1f{text}".encode("utf-8", "surrogateescape")).digest()


def corpus_fingerprint(settings: Settings, corpus_dir: Path, files: list[tuple[str, str]] | None = None) -> str:
    """A hash of every corpus file's path and bytes plus the settings that shape the index (and the keyword
    index's stop words: a word that stops being one changes the BM25 index).

    ``files`` are (relative path, fingerprint) pairs as a build read them
    (:attr:`rsiqa.ingest.loaders.CorpusLoad.fingerprints`); without them, each file is hashed now.
    """
    digest = hashlib.sha256()
    for key in (settings.model, settings.chunk_min_words, settings.chunk_max_words, settings.chunk_hard_max_words,
                settings.max_file_mb, settings.max_pdf_pages, settings.max_extracted_chars, settings.max_file_seconds,
                settings.expansion_vocabulary, __version__, " ".join(STOPWORDS)):
        digest.update(f"{key}\x1f".encode())
    if files is None:
        files = [(path.relative_to(corpus_dir).as_posix(), entry_digest(path)) for path in iter_corpus_files(corpus_dir)]
    for rel, content in files:
        digest.update(f"{rel}\x1f{content}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def index_is_current(settings: Settings, corpus_dir: Path | None = None, index_dir: Path | None = None) -> bool:
    """True when the index exists, loads, and was built from exactly this corpus and these settings, by an rsiqa
    that records what this one reads from an index (an index without the corpus's acronyms is older)."""
    corpus_dir = corpus_dir or settings.corpus_dir
    index_dir = index_dir or settings.index_dir
    try:
        data = load_index(index_dir, model=settings.model)
    except IndexError_:
        return False
    manifest = data.manifest
    if data.catalog is not None and "acronyms" not in data.catalog:
        return False
    if index_precision(manifest) != settings_precision(settings):
        return False
    if settings.store == "milvus":  # rsiqa.index.stores.milvus: and its collections are in this Milvus
        from rsiqa.index.stores.milvus import collections_present

        if not collections_present(manifest, settings):
            return False
    return manifest.get("corpus_fingerprint") == corpus_fingerprint(settings, corpus_dir)


def settings_precision(settings: Settings) -> str:
    """The precision of the vectors a build with ``settings`` stores (:attr:`Settings.index_precision`;
    int8 only with the ONNX backend and a model it runs)."""
    return expected_precision(index_settings(settings))


def embedding_record(embedder: Embedder) -> dict[str, str]:
    """What the manifest says about the vectors: backend, precision and, for int8, the quantisation."""
    record = {"backend": str(getattr(embedder, "backend", type(embedder).__name__)),
              "precision": embedding_precision(embedder)}
    if record["precision"] == INT8_SCHEME:
        record["quantization"] = ("dynamic: MatMul weights int8 per output channel in 7 bits (|w| <= 64), "
                                  "activations uint8; exact on CPUs with and without VNNI")
    return record


@dataclass
class BuildReport:
    """What a build did, for the CLI summary and the manifest."""

    passages: int = 0
    documents: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    embedded: int = 0
    reused: int = 0
    resumed: int = 0  # of ``reused``: vectors a stopped build had written to the embedding journal
    parsed: int = 0  # files parsed (the others came from the parse cache)
    unchanged: bool = False  # the index in place was already this build's: left as it is
    seconds: float = 0.0


class EmbeddingCache:
    """Vectors of the previous index, keyed by (model, text) hash, so unchanged text is not re-embedded.

    Only an index built with the same model and the same vector precision (fp32, or int8 with the
    same quantisation) is reused: int8 vectors differ from fp32 ones, and one index never mixes them.
    """

    def __init__(self, index_dir: Path, model: str, precision: str = "fp32", journal: EmbeddingJournal | None = None) -> None:
        self.model = model
        self.journal = journal
        self._vectors: dict[bytes, np.ndarray] = {}
        self._journaled: set[bytes] = set()
        if journal is not None:
            self._vectors.update(journal.read())
            self._journaled = set(self._vectors)
        try:
            old = load_index(index_dir, model=model, formats=READABLE_FORMATS)  # older ones too: their vectors are reused
        except IndexError_:
            return
        if index_precision(old.manifest) != precision:
            log.info("previous index has %s vectors, this build %s: embedding everything", index_precision(old.manifest), precision)
            return
        vectors = np.array(old.vectors)  # a copy: the loaded rows may live in the FAISS index, freed with it
        for passage, vector in zip(old.passages, vectors):
            self._vectors[_text_key(model, passage_context(passage))] = vector
        for sentence, vector in zip((s for ss in old.sentences for s in ss), np.asarray(old.sentence_vectors)):
            self._vectors[_text_key(model, sentence)] = vector
        for word, vector in zip(old.words, np.asarray(old.word_vectors)):
            self._vectors[_text_key(model, word)] = vector

    def write_journal(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Append to the embedding journal; a journal that cannot be written (a full disk) is given up
        (logged, not an error: it only saves work, and the index's own disk check says what to do)."""
        if self.journal is None:
            return
        try:
            self.journal.append(keys, vectors)
        except OSError as exc:
            log.info("cannot write the embedding journal %s (%s): a stopped build would embed again",
                        self.journal.path, exc.strerror or exc)
            try:
                self.journal.clear()
            except OSError:
                pass
            self.journal = None

    def embed(self, texts: list[str], embedder: Embedder, batch_size: int, label: str,
              report: BuildReport, progress: bool) -> np.ndarray:
        """Vectors for ``texts``: cached ones reused, the rest embedded in batches with a progress bar."""
        keys = [_text_key(self.model, t) for t in texts]
        # Longest first: each batch holds texts of similar length, so little padding is computed.
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in self._vectors}.items(), key=lambda kv: -len(kv[1]))
        if missing:
            from tqdm import tqdm  # imported only when there is work: a no-op rebuild starts faster

            bar = tqdm(total=len(missing), desc=f"embedding {label}", unit="text", disable=not progress)
            step = batch_size * 8  # several batches per call: fewer calls, and the embedder spreads them over the cores
            for start in range(0, len(missing), step):
                batch = missing[start : start + step]
                vectors = embedder.encode([t for _, t in batch], batch_size=batch_size)
                self.write_journal([key for key, _ in batch], vectors)  # a killed build resumes from here
                for (key, _), vector in zip(batch, vectors):
                    self._vectors[key] = vector
                bar.update(len(batch))
            bar.close()
        report.embedded += len(missing)
        report.reused += len(texts) - len(missing)
        report.resumed += len(self._journaled.intersection(keys))
        self._journaled.difference_update(keys)
        if not texts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)


def sentence_spans_in(context: str, sentences: list[str]) -> list[tuple[int, int] | None]:
    """Where each sentence lies in its passage's context text, in order (None: not found verbatim)."""
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for sentence in sentences:
        at = context.find(sentence, cursor)
        if at < 0:
            spans.append(None)
            continue
        spans.append((at, at + len(sentence)))
        cursor = at + len(sentence)
    return spans


def embed_pooled(cache: EmbeddingCache, contexts: list[str], sentences: list[list[str]], embedder: Embedder,
                 settings: Settings, report: BuildReport, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Passage vectors and sentence vectors with one model pass per passage (Settings.sentence_pooling).

    Each sentence's vector is the mean of its own tokens' vectors in the passage's pass; a sentence
    not found verbatim in the passage, or cut off by the model's length limit, is embedded alone.
    Pooled vectors are cached under their own keys (the passage, the sentence's place and text).
    """
    encode_tokens = token_encoder(embedder)
    model = cache.model
    pooled_keys = [[_text_key(model, f"\x1epooled\x1f{ctx}\x1f{i}\x1f{s}") for i, s in enumerate(ss)]
                   for ctx, ss in zip(contexts, sentences)]
    passage_keys = [_text_key(model, ctx) for ctx in contexts]
    todo = [row for row in range(len(contexts))
            if passage_keys[row] not in cache._vectors or any(k not in cache._vectors for k in pooled_keys[row])]
    if encode_tokens is None:
        todo = []
    alone: dict[int, list[int]] = {}  # row -> sentences to embed alone
    if todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="embedding passages and pooling sentences", unit="passage", disable=not progress)
        step = settings.batch_size * 8
        for start in range(0, len(todo), step):
            rows = todo[start : start + step]
            keys, vectors = [], []
            for row, (vector, tokens, offsets) in zip(rows, encode_tokens([contexts[r] for r in rows])):
                keys.append(passage_keys[row])
                vectors.append(vector)
                spans = sentence_spans_in(contexts[row], sentences[row])
                found = pool_spans(tokens, offsets, [span or (0, 0) for span in spans])
                for i, (span, pooled) in enumerate(zip(spans, found)):
                    if span is None or pooled is None:
                        alone.setdefault(row, []).append(i)
                    else:
                        keys.append(pooled_keys[row][i])
                        vectors.append(pooled)
            block = np.stack(vectors).astype(np.float32)
            cache.write_journal(keys, block)
            for key, vector in zip(keys, block):
                cache._vectors[key] = vector
            report.embedded += len(rows)
            bar.update(len(rows))
        bar.close()
    vectors = cache.embed(contexts, embedder, settings.batch_size, "passages", report, progress)
    # Sentences without a pooled vector (not verbatim in the passage, cut off, or no token encoder): alone.
    plain = [s for row, ss in enumerate(sentences) for i, s in enumerate(ss) if pooled_keys[row][i] not in cache._vectors]
    plain_vectors = dict(zip(plain, cache.embed(plain, embedder, settings.batch_size, "sentences", report, progress)))
    sentence_vectors = [cache._vectors[pooled_keys[row][i]] if pooled_keys[row][i] in cache._vectors else plain_vectors[s]
                        for row, ss in enumerate(sentences) for i, s in enumerate(ss)]
    dimension = vectors.shape[1] if vectors.ndim == 2 else embedder.dimension
    return vectors, (np.stack(sentence_vectors).astype(np.float32) if sentence_vectors
                     else np.zeros((0, dimension), dtype=np.float32))


def unchanged_index(settings: Settings, corpus_dir: Path, index_dir: Path, precision: str) -> dict | None:
    """The manifest of the index in ``index_dir`` when a build would write it again unchanged, else None.

    That is: the same corpus files and settings (the corpus fingerprint), the same vector
    precision, the current index format, the same rsiqa code (:func:`code_version`), every
    data file still the one its build wrote (the checksums), and the FAISS store both then and
    now (a Milvus build does its own incremental writes). Reads no file of the corpus twice
    and parses nothing.
    """
    if settings.store != "faiss":  # Milvus: its build writes only what changed in the collections (incremental)
        return None
    try:
        manifest = check_manifest(index_dir, model=settings.model)
        if index_precision(manifest) != precision or manifest.get("code") != code_version():
            return None
        if manifest.get("milvus"):  # built for the Milvus store: the FAISS files were not written
            return None
        if manifest.get("corpus_fingerprint") != corpus_fingerprint(settings, corpus_dir):
            return None
        verify_checksums(index_dir, manifest)
        read_rows(index_dir, manifest)  # the row tables fit their files (an edited manifest could list others)
    except (IndexError_, ValueError, OSError, KeyError, TypeError):
        return None
    return manifest


def build_index(settings: Settings, embedder: Embedder, corpus_dir: Path | None = None,
                index_dir: Path | None = None, progress: bool = True,
                on_documents: Callable[[int], None] | None = None, reuse_unchanged: bool = True) -> BuildReport:
    """Read the corpus, chunk, embed and atomically write the index; returns what happened.

    ``reuse_unchanged``: when the index in place is exactly what this build would write (same
    corpus, settings, precision, format and code, its files intact; :func:`unchanged_index`),
    leave it as it is (``report.unchanged``) instead of writing it again.
    """
    started = time.perf_counter()
    corpus_dir = corpus_dir or settings.corpus_dir
    index_dir = index_dir or settings.index_dir
    report = BuildReport()
    check_build_target(corpus_dir, index_dir)  # before any slow work; write_index checks again

    if reuse_unchanged:
        manifest = unchanged_index(settings, corpus_dir, index_dir, embedding_precision(embedder))
        if manifest is not None:  # nothing to do: the index there is exactly what this build would write
            remove_leftovers(index_dir)  # what killed builds left beside it
            counts = manifest.get("build", {})
            report.unchanged = True
            report.passages, report.documents = int(manifest["passages"]), len(manifest.get("documents", {}))
            report.skipped = dict(manifest.get("skipped", {}))
            report.reused = int(counts.get("embedded", 0)) + int(counts.get("reused", 0))
            if on_documents:
                on_documents(report.documents)
            report.seconds = time.perf_counter() - started
            log.info("index in %s is already built from this corpus, settings and code: left in place", index_dir)
            return report
    limits = ExtractionLimits(settings.max_pdf_pages, settings.max_extracted_chars, settings.max_file_seconds)
    cache_dir = build_cache_dir(index_dir)
    parse_cache = ParseCache(cache_dir, limits)
    workers = settings.parse_workers or (os.cpu_count() or 1)
    loaded = load_corpus(corpus_dir, settings.max_file_mb, limits, progress=progress, workers=workers, cache=parse_cache)
    report.parsed = parse_cache.misses
    fingerprint = corpus_fingerprint(settings, corpus_dir, loaded.fingerprints)
    report.skipped = loaded.skipped
    report.documents = len(loaded.documents)
    if on_documents:
        on_documents(report.documents)
    blocks = [block for doc in loaded.documents for block in doc.blocks]
    passages = chunk_blocks(blocks, settings.chunk_min_words, settings.chunk_max_words, settings.chunk_hard_max_words)
    if not passages:
        raise ValueError(f"no text to index in '{corpus_dir}' (skipped {len(loaded.skipped)} file(s))")
    sentences = [passage_sentences(p) for p in passages]
    questions = list(dict.fromkeys(q for doc in loaded.documents for q in doc.questions))

    precision = embedding_precision(embedder)
    journal = EmbeddingJournal(cache_dir, settings.model, precision)
    cache = EmbeddingCache(index_dir, settings.model, precision, journal)
    contexts = [passage_context(p) for p in passages]
    if settings.sentence_pooling:
        vectors, sentence_vectors = embed_pooled(cache, contexts, sentences, embedder, settings, report, progress)
    else:
        vectors = cache.embed(contexts, embedder, settings.batch_size, "passages", report, progress)
        sentence_vectors = cache.embed([s for ss in sentences for s in ss], embedder, settings.batch_size, "sentences",
                                       report, progress)
    words = corpus_words(contexts, settings.expansion_vocabulary)
    word_vectors = cache.embed(words, embedder, settings.batch_size, "words", report, progress)

    manifest = {
        "format": FORMAT_VERSION,
        "model": settings.model,
        "dimension": int(vectors.shape[1]) if vectors.ndim == 2 and len(vectors) else embedder.dimension,
        "passages": len(passages),
        "documents": {doc.path: {"title": doc.title, "sha256": loaded.hashes.get(doc.path)} for doc in loaded.documents},
        "corpus_hashes": loaded.hashes,
        "corpus_fingerprint": fingerprint,
        "skipped": loaded.skipped,
        "questions": questions,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rsiqa_version": __version__,
        "code": code_version(),  # the source this index was built by (see unchanged_index)
        "embedding": embedding_record(embedder),
        # What this build did (a resumed build shows the vectors it found in the embedding journal).
        "build": {"parsed_files": report.parsed, "embedded": report.embedded, "reused": report.reused,
                  "resumed": report.resumed},
    }
    faiss_index = make_faiss_index(vectors, settings.ann_threshold, settings.hnsw_m, settings.hnsw_ef_construction,
                                   settings.hnsw_ef_search)
    manifest["faiss"] = faiss_index_info(faiss_index, vectors)
    data = IndexData(manifest=manifest, passages=passages, vectors=vectors, sentences=sentences,
                     sentence_vectors=sentence_vectors, words=words, word_vectors=word_vectors,
                     faiss_index=faiss_index)  # write_index adds the BM25 index and spelling counts it saves
    milvus = None
    if settings.store == "milvus":  # rsiqa.index.stores.milvus: collections first, the index folder, the aliases last
        from rsiqa.index.stores.milvus import MilvusBuild
        from rsiqa.search.lexical import build_bm25, tokenize

        tokens = tokenize(contexts)  # once, for the BM25 index and Milvus's sparse vectors
        data.bm25 = build_bm25(contexts, tokens)
        milvus = MilvusBuild(settings, index_dir)
        manifest["milvus"] = milvus.write(passages, sentences, vectors, sentence_vectors, loaded.hashes,
                                          corpus_fingerprint(settings, corpus_dir, []), embedding_precision(embedder),
                                          tokens)
    write_index(index_dir, data)
    if milvus is not None:
        milvus.publish()
    try:
        journal.clear()  # its vectors are in the index now, which the next build reads as its cache
    except OSError as exc:
        log.info("cannot remove the embedding journal %s: %s", journal.path, exc)
    parse_cache.prune()
    report.passages = len(passages)
    report.seconds = time.perf_counter() - started
    log.info("built %d passages from %d documents in %.1fs", report.passages, report.documents, report.seconds)
    return report
