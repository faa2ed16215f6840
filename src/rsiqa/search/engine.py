"""The question-answering engine: a loaded index, its retriever and answer composition, hot-reloadable."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rsiqa.search.answer import compose_answer, coverage_logit
from rsiqa.search.calibration import PROBES, Calibration, corpus_calibration
from rsiqa.search.conversation import read_history
from rsiqa.search.lexical import REFERS_BACK
from rsiqa.ingest.documents import passage_context
from rsiqa.index.embedding import Embedder, embedder_for
from rsiqa.search.followups import CorpusQuestion, corpus_questions, suggest_followups
from rsiqa.index.store import MANIFEST, IndexData, check_precision, load_index
from rsiqa.search.query import QueryReader, spelling_texts
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
    #: How this corpus's evidence is read (rsiqa.search.calibration); measured at the first question, not at load.
    calibration: Calibration | None = None
    #: The answer to a question the material does not cover (names this index's corpus, see Settings.decline_for_index).
    decline: str = ""


class Engine:
    """Answers questions from the index in ``index_dir``; swaps to a rebuilt index when it appears."""

    def __init__(self, settings: Settings, index_dir: Path | None = None, embedder: Embedder | None = None,
                 defer_checksums: bool = False) -> None:
        """``defer_checksums`` (``rsiqa serve``): the large index files' checksums are verified in the background
        after the first load (rsiqa.index.store.DeferredCheck); every answer waits for them. Reloads verify first."""
        self.settings = settings
        self.index_dir = Path(index_dir or settings.index_dir)
        self.embedder = embedder or embedder_for(settings)
        self._lock = threading.Lock()
        self._calibration_lock = threading.Lock()
        self._state = self._load(defer_checksums)

    def _load(self, defer_checksums: bool = False) -> _Loaded:
        mtime = (self.index_dir / MANIFEST).stat().st_mtime if (self.index_dir / MANIFEST).exists() else 0.0
        store = None
        if self.settings.store == "milvus":  # rsiqa.index.stores.milvus: the vectors stay in Milvus
            from rsiqa.index.stores.milvus import load_milvus_index

            data, store = load_milvus_index(self.index_dir, self.settings, self.settings.model, self.embedder.dimension,
                                            defer_checksums=defer_checksums)
        else:
            data = load_index(self.index_dir, model=self.settings.model, dimension=self.embedder.dimension,
                              defer_checksums=defer_checksums)
        check_precision(data.manifest, self.index_dir)
        questions = corpus_questions(data)  # a served index: the list its build found
        texts = [q.text for q in questions]
        vectors = self.embedder.encode(texts) if texts else np.zeros((0, self.embedder.dimension), np.float32)
        log.info("loaded index %s: %d passages built %s", self.index_dir, len(data.passages), data.manifest.get("built_at"))
        retriever = Retriever(data, self.embedder, self.settings, store)
        if data.spelling is not None:  # counted by the build
            reader = QueryReader([], counts=data.spelling, acronyms=data.acronyms, knows_token=retriever.knows_token)
        else:
            reader = QueryReader(spelling_texts([passage_context(p) for p in data.passages]), acronyms=data.acronyms,
                                 knows_token=retriever.knows_token)
        state = _Loaded(data, retriever, questions, vectors, mtime, reader)
        state.decline = self.settings.decline_for_index(data.manifest.get("documents"))
        return state

    def _evidence(self, question: str, state: _Loaded) -> tuple[Any, Any]:
        """The evidence for ``question`` asked alone, and how it was read."""
        read = state.reader.read(question.strip())
        vectors = self.embedder.encode(state.retriever.query_texts(read, None))
        _, evidence = state.retriever.search(read, self.settings.top_k, None, vectors)
        return evidence, read

    def evidence_logit(self, question: str, state: _Loaded | None = None, calibration: Calibration | None = None) -> float:
        """The evidence logit of ``question`` asked alone, read with ``calibration`` (default: the fixed one), unshifted."""
        state = state or self._state
        evidence, read = self._evidence(question, state)
        return coverage_logit(evidence, question, read.advice, len(read.unknown_names), calibration)

    def _calibrate(self, state: _Loaded) -> Calibration:
        """How this corpus's evidence is read, from the everyday probe questions (rsiqa.search.calibration)."""
        if self.settings.abstain_probe_level is None:
            return Calibration()
        probes = [(question, *self._evidence(question, state)) for question in PROBES]
        for _, evidence, _ in probes:
            # The probes measure how close everyday questions come in meaning and words; a probe that asks
            # for a figure ("How many calories ...") would lower that level by the answer-type term.
            evidence.clear_answer_type()

        def logits(cal: Calibration) -> list[float]:
            return [coverage_logit(evidence, question, read.advice, len(read.unknown_names), cal)
                    for question, evidence, read in probes]

        calibration = corpus_calibration([e.top_sentence for _, e, _ in probes], [e.top_passage for _, e, _ in probes],
                                         [e.rare_match for _, e, _ in probes], logits, self.settings.abstain_probe_level)
        log.info("abstention calibrated on %d probes: %s", len(probes), calibration)
        return calibration

    @property
    def calibration(self) -> Calibration:
        """How this index's corpus's evidence is read (see rsiqa.search.calibration)."""
        return self._calibration(self._state)

    def _calibration(self, state: _Loaded) -> Calibration:
        """The state's calibration, measured once (24 probe queries) at its first question: start-up does not wait."""
        if state.calibration is None:
            with self._calibration_lock:
                if state.calibration is None:
                    state.calibration = self._calibrate(state)
        return state.calibration

    @property
    def data(self) -> IndexData:
        """The index currently served."""
        return self._state.data

    @property
    def questions(self) -> list[str]:
        """The full questions the served material asks (found once per loaded index)."""
        return [q.text for q in self._state.questions]

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
        alias_moved = getattr(self._state.retriever.store, "alias_moved", None)  # Milvus: served through an alias
        if mtime == self._state.manifest_mtime and not (alias_moved is not None and alias_moved()):
            return False  # neither a new index folder nor (Milvus) the alias moved to another build's collection
        try:
            return self.reload()
        except Exception as exc:  # keep serving the old index, say why
            log.warning("new index in %s not loaded, still serving the previous one: %s", self.index_dir, exc)
            self._state.manifest_mtime = mtime
            return False

    def verified(self, state: _Loaded | None = None) -> _Loaded:
        """The served state once its index's checksums are all verified (a first load may verify its large
        files in the background); :class:`rsiqa.index.store.IndexError_` when a file is damaged."""
        state = state or self._state
        check = state.data.pending_check
        if check is not None:
            check.wait()  # raises for a damaged index, at every answer: it is never served
            state.data.pending_check = None
        return state

    def ask(self, question: str, top_k: int | None = None, history: list[dict[str, Any]] | None = None) -> Answer:
        """Answer ``question`` with up to ``top_k`` citations, using ``history`` for follow-ups."""
        state = self.verified()
        k = top_k or self.settings.top_k
        question = question.strip()
        read = state.reader.read(question)
        conversation = read_history(history or [], state.data.passages, self.settings.max_context_words)
        if conversation is not None and conversation.declined and not REFERS_BACK.search(question):
            # After a declined question ("whats the weather in berlin"), one that does not point back at it
            # ("ok fine. what does the FAQ say about sub-agents?") is a new question, not read in its context.
            conversation = None
        vectors = self.embedder.encode(state.retriever.query_texts(read, conversation))
        weight = state.retriever.context_weight(read) if conversation is not None else None
        hits, evidence = state.retriever.search(read, k, conversation, vectors, weight)
        chosen_by = state.retriever.answer_vector(read, conversation, vectors, weight)
        said = state.retriever.read_before(read, conversation, hits, vectors) if conversation is not None else ""
        answer = compose_answer(question, hits, evidence, state.data, self.settings, [], read, chosen_by,
                                calibration=self._calibration(state), decline=state.decline, said=said)
        asked = [str(t.get("content", "")) for t in history or [] if t.get("role") == "user"] + [question]
        cited_rows = [state.data.row_of[c.chunk_id] for c in answer.cited()]
        answer.followups = suggest_followups(vectors[0], cited_rows, state.data, state.questions, state.question_vectors,
                                             asked, self.settings.max_followups, [hit.row for hit in hits])
        return answer
