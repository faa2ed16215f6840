"""The question-answering engine: a loaded index, its retriever and answer composition, hot-reloadable."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsiqa.search.answer import compose_answer, coverage_logit
from rsiqa.search.calibration import PROBE_QUANTILE, corpus_shift, probe_logits
from rsiqa.search.conversation import read_history
from rsiqa.ingest.documents import KIND_LABELS, passage_context
from rsiqa.index.embedding import Embedder, embedder_for, embedding_precision
from rsiqa.search.followups import CorpusQuestion, corpus_questions, suggest_followups
from rsiqa.index.store import MANIFEST, IndexData, check_precision, load_index
from rsiqa.search.query import QueryReader
from rsiqa.search.retrieval import Retriever
from rsiqa.search.schema import Answer
from rsiqa.settings import Settings

log = logging.getLogger(__name__)

@dataclass
class _Loaded:
    data: IndexData
    retriever: Retriever
    questions: list[CorpusQuestion]
    question_vectors: np.ndarray
    manifest_mtime: float
    reader: QueryReader
    #: Lowers every question's evidence logit: this corpus's off-topic level (rsiqa.search.calibration).
    abstain_shift: float = 0.0
    #: The answer to a question the material does not cover (names this index's corpus, see Settings.decline_for_index).
    decline: str = ""


class Engine:
    """Answers questions from the index in ``index_dir``; swaps to a rebuilt index when it appears."""

    def __init__(self, settings: Settings, index_dir: Path | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.index_dir = Path(index_dir or settings.index_dir)
        self.embedder = embedder or embedder_for(settings)
        self._lock = threading.Lock()
        self._state = self._load()

    def _load(self) -> _Loaded:
        mtime = (self.index_dir / MANIFEST).stat().st_mtime if (self.index_dir / MANIFEST).exists() else 0.0
        data = load_index(self.index_dir, model=self.settings.model, dimension=self.embedder.dimension)
        check_precision(data.manifest, embedding_precision(self.embedder), self.index_dir)
        questions = corpus_questions(data)
        texts = [q.text for q in questions]
        vectors = self.embedder.encode(texts) if texts else np.zeros((0, self.embedder.dimension), np.float32)
        log.info("loaded index %s: %d passages built %s", self.index_dir, len(data.passages), data.manifest.get("built_at"))
        reader = QueryReader([passage_context(p) for p in data.passages] + list(KIND_LABELS.values()))
        state = _Loaded(data, Retriever(data, self.embedder, self.settings), questions, vectors, mtime, reader)
        state.abstain_shift = self._abstain_shift(state)
        state.decline = self.settings.decline_for_index(data.manifest.get("documents"))
        return state

    def evidence_logit(self, question: str, state: _Loaded | None = None) -> float:
        """The evidence logit of ``question`` asked alone, before any corpus shift (see :func:`coverage_logit`)."""
        state = state or self._state
        read = state.reader.read(question.strip())
        vectors = self.embedder.encode(state.retriever.query_texts(read, None))
        _, evidence = state.retriever.search(read, self.settings.top_k, None, vectors)
        return coverage_logit(evidence, question, read.advice, len(read.unknown_names))

    def _abstain_shift(self, state: _Loaded) -> float:
        """How far this corpus's everyday-question level stands above ``Settings.abstain_probe_level``."""
        if self.settings.abstain_probe_level is None:
            return 0.0
        logits = probe_logits(lambda question: self.evidence_logit(question, state))
        shift = corpus_shift(logits, self.settings.abstain_probe_level, PROBE_QUANTILE)
        log.info("abstention: probe logits median %.2f, q%.0f %.2f: shift %.2f", float(np.median(logits)),
                 PROBE_QUANTILE * 100, float(np.quantile(logits, PROBE_QUANTILE)), shift)
        return shift

    @property
    def abstain_shift(self) -> float:
        """How much this index's corpus lowers every question's evidence logit (see rsiqa.search.calibration)."""
        return self._state.abstain_shift

    @property
    def data(self) -> IndexData:
        """The index currently served."""
        return self._state.data

    def reload(self) -> bool:
        """Load the index again; the old one keeps serving if the new one fails to load."""
        with self._lock:
            state = self._load()
            self._state = state
        return True

    def reload_if_changed(self) -> bool:
        """Reload when the manifest on disk is newer than the one served (a rebuild finished)."""
        path = self.index_dir / MANIFEST
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return False
        if mtime == self._state.manifest_mtime:
            return False
        try:
            return self.reload()
        except Exception as exc:  # keep serving the old index, say why
            log.warning("new index in %s not loaded, still serving the previous one: %s", self.index_dir, exc)
            self._state.manifest_mtime = mtime
            return False

    def ask(self, question: str, top_k: int | None = None, history: list[dict[str, Any]] | None = None) -> Answer:
        """Answer ``question`` with up to ``top_k`` citations, using ``history`` for follow-ups."""
        state = self._state
        k = top_k or self.settings.top_k
        question = question.strip()
        read = state.reader.read(question)
        conversation = read_history(history or [], state.data.passages, self.settings.max_context_words)
        vectors = self.embedder.encode(state.retriever.query_texts(read, conversation))
        hits, evidence = state.retriever.search(read, k, conversation, vectors)
        chosen_by = vectors[state.retriever.answer_text_index(read, conversation)]
        answer = compose_answer(question, hits, evidence, state.data, self.settings, [], read, chosen_by,
                                shift=state.abstain_shift)
        if answer.abstained:
            answer.answer = state.decline or answer.answer
        cited = [c.n - 1 for c in answer.citations if f"[{c.n}]" in answer.answer]
        asked = [str(t.get("content", "")) for t in history or [] if t.get("role") == "user"] + [question]
        answer.followups = suggest_followups(vectors[0], [hits[i].row for i in cited], state.data, state.questions,
                                             state.question_vectors, asked, self.settings.max_followups)
        return answer
