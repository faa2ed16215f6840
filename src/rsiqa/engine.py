"""The question-answering engine: a loaded index, its retriever and answer composition, hot-reloadable."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsiqa.answer import compose_answer, suggest_followups
from rsiqa.embedding import Embedder, embedder_for, embedding_precision
from rsiqa.index import MANIFEST, IndexData, check_precision, load_index
from rsiqa.lexical import POINTING_BACK
from rsiqa.retrieval import Retriever, context_from_history
from rsiqa.schema import Answer
from rsiqa.settings import Settings
from rsiqa.structure import strip_list_marker

log = logging.getLogger(__name__)

_INTERROGATIVE = re.compile(
    r"^(what|why|how|when|where|who|which|is|are|was|were|will|would|can|could|should|might|may|does|do|did)\b", re.I
)


#: Words that make a question lean on the text around it ("Will this be ...?"): no good alone.
_DEICTIC = re.compile(rf"\b({'|'.join(POINTING_BACK + ('you', 'your'))})\b", re.IGNORECASE)


def corpus_questions(data: IndexData) -> list[str]:
    """Questions the material itself asks: its related questions and phrasings, then questions in its text."""
    found: list[str] = []
    for question in data.manifest.get("questions", []):
        found.append(re.sub(r"\s*\S*(\.\.\.|…)$", "…", question.strip()))
    for sentences in data.sentences:
        for sentence in sentences:
            s = strip_list_marker(sentence)
            if s.endswith("?") and _INTERROGATIVE.match(s) and 4 <= len(s.split()) <= 25 and not _DEICTIC.search(s):
                found.append(s[0].upper() + s[1:])
    return list(dict.fromkeys(found))


@dataclass
class _Loaded:
    data: IndexData
    retriever: Retriever
    questions: list[str]
    question_vectors: np.ndarray
    manifest_mtime: float


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
        vectors = self.embedder.encode(questions) if questions else np.zeros((0, self.embedder.dimension), np.float32)
        log.info("loaded index %s: %d passages built %s", self.index_dir, len(data.passages), data.manifest.get("built_at"))
        return _Loaded(data, Retriever(data, self.embedder, self.settings), questions, vectors, mtime)

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

    def ask(self, question: str, top_k: int | None = None, history: list[dict[str, str]] | None = None) -> Answer:
        """Answer ``question`` with up to ``top_k`` citations, using ``history`` for follow-ups."""
        state = self._state
        k = top_k or self.settings.top_k
        context = context_from_history(history or [], max_words=self.settings.max_context_words)
        question = question.strip()
        vectors = self.embedder.encode(state.retriever.query_texts(question, context))
        hits, evidence = state.retriever.search(question, k, context, vectors)
        followups = suggest_followups(question, vectors[0], state.questions, state.question_vectors, self.settings.max_followups)
        return compose_answer(question, hits, evidence, state.data, self.settings, followups)
