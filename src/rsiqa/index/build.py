"""The ingest pipeline: corpus folder -> passages -> embeddings -> index folder."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from rsiqa import __version__
from rsiqa.ingest.chunking import chunk_blocks, split_sentences
from rsiqa.ingest.documents import Passage, passage_context
from rsiqa.index.embedding import Embedder, embedding_precision, expected_precision
from rsiqa.search.expansion import corpus_words
from rsiqa.index.store import (
    FORMAT_VERSION,
    IndexData,
    IndexError_,
    faiss_index_info,
    index_precision,
    load_index,
    make_faiss_index,
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


def _text_key(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\x1f{text}".encode()).hexdigest()


def corpus_fingerprint(settings: Settings, corpus_dir: Path, files: list[tuple[str, str]] | None = None) -> str:
    """A hash of every corpus file's path and bytes plus the settings that shape the index.

    ``files`` are (relative path, fingerprint) pairs as a build read them
    (:attr:`rsiqa.ingest.loaders.CorpusLoad.fingerprints`); without them, each file is hashed now.
    """
    digest = hashlib.sha256()
    for key in (settings.model, settings.chunk_min_words, settings.chunk_max_words, settings.chunk_hard_max_words,
                settings.max_file_mb, settings.max_pdf_pages, settings.max_extracted_chars, settings.max_file_seconds,
                settings.expansion_vocabulary, __version__):
        digest.update(f"{key}\x1f".encode())
    if files is None:
        files = [(path.relative_to(corpus_dir).as_posix(), entry_digest(path)) for path in iter_corpus_files(corpus_dir)]
    for rel, content in files:
        digest.update(f"{rel}\x1f{content}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def index_is_current(settings: Settings, corpus_dir: Path | None = None, index_dir: Path | None = None) -> bool:
    """True when the index exists, loads, and was built from exactly this corpus and these settings."""
    corpus_dir = corpus_dir or settings.corpus_dir
    index_dir = index_dir or settings.index_dir
    try:
        manifest = load_index(index_dir, model=settings.model).manifest
    except IndexError_:
        return False
    if index_precision(manifest) != settings_precision(settings):
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
    seconds: float = 0.0


class EmbeddingCache:
    """Vectors of the previous index, keyed by (model, text) hash, so unchanged text is not re-embedded.

    Only an index built with the same model and the same vector precision (fp32, or int8 with the
    same quantisation) is reused: int8 vectors differ from fp32 ones, and one index never mixes them.
    """

    def __init__(self, index_dir: Path, model: str, precision: str = "fp32") -> None:
        self.model = model
        self._vectors: dict[str, np.ndarray] = {}
        try:
            old = load_index(index_dir, model=model, formats=(1, 2, FORMAT_VERSION))  # 1: no word table, 2: no checksums
        except IndexError_:
            return
        if index_precision(old.manifest) != precision:
            log.info("previous index has %s vectors, this build %s: embedding everything", index_precision(old.manifest), precision)
            return
        for passage, vector in zip(old.passages, old.vectors):
            self._vectors[_text_key(model, passage_context(passage))] = vector
        for sentence, vector in zip((s for ss in old.sentences for s in ss), old.sentence_vectors):
            self._vectors[_text_key(model, sentence)] = vector
        for word, vector in zip(old.words, old.word_vectors):
            self._vectors[_text_key(model, word)] = vector

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
                for (key, _), vector in zip(batch, vectors):
                    self._vectors[key] = vector
                bar.update(len(batch))
            bar.close()
        report.embedded += len(missing)
        report.reused += len(texts) - len(missing)
        if not texts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)


def build_index(settings: Settings, embedder: Embedder, corpus_dir: Path | None = None,
                index_dir: Path | None = None, progress: bool = True,
                on_documents: Callable[[int], None] | None = None) -> BuildReport:
    """Read the corpus, chunk, embed and atomically write the index; returns what happened."""
    started = time.perf_counter()
    corpus_dir = corpus_dir or settings.corpus_dir
    index_dir = index_dir or settings.index_dir
    report = BuildReport()
    check_build_target(corpus_dir, index_dir)  # before any slow work; write_index checks again

    limits = ExtractionLimits(settings.max_pdf_pages, settings.max_extracted_chars, settings.max_file_seconds)
    loaded = load_corpus(corpus_dir, settings.max_file_mb, limits, progress=progress)
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

    cache = EmbeddingCache(index_dir, settings.model, embedding_precision(embedder))
    vectors = cache.embed([passage_context(p) for p in passages], embedder, settings.batch_size, "passages", report, progress)
    sentence_vectors = cache.embed([s for ss in sentences for s in ss], embedder, settings.batch_size, "sentences", report, progress)
    words = corpus_words([passage_context(p) for p in passages], settings.expansion_vocabulary)
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
        "embedding": embedding_record(embedder),
    }
    faiss_index = make_faiss_index(vectors, settings.ann_threshold, settings.hnsw_m, settings.hnsw_ef_construction,
                                   settings.hnsw_ef_search)
    manifest["faiss"] = faiss_index_info(faiss_index, vectors)
    data = IndexData(manifest=manifest, passages=passages, vectors=vectors, sentences=sentences,
                     sentence_vectors=sentence_vectors, words=words, word_vectors=word_vectors, faiss_index=faiss_index)
    write_index(index_dir, data)
    report.passages = len(passages)
    report.seconds = time.perf_counter() - started
    log.info("built %d passages from %d documents in %.1fs", report.passages, report.documents, report.seconds)
    return report
