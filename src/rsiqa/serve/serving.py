"""The engine as the servers use it: built on first use, swapped for a rebuilt index without a restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from rsiqa.search.engine import Engine
from rsiqa.serve.feedback import FeedbackStore
from rsiqa.index.store import check_manifest
from rsiqa.search.schema import Answer
from rsiqa.settings import Settings
from rsiqa.search.written import Writer

log = logging.getLogger(__name__)


class EngineService:
    """Holds one :class:`Engine`; checks for a rebuilt index at most once per ``settings.reload_check_seconds``.

    The check is a ``stat`` of the index manifest, so it is cheap enough to run on requests. Only
    one request at a time performs it (and the reload it may trigger); the others keep answering
    from the index already loaded.
    """

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self._engine = engine
        self._build_lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._last_check = time.monotonic()
        self._writer: Writer | None = None
        self.feedback = FeedbackStore(settings.feedback_path)  # readers' votes (POST /api/feedback, the page)

    @property
    def engine(self) -> Engine:
        """The engine, built from ``settings`` on first use (raises ``IndexError_`` when there is no index)."""
        if self._engine is None:
            with self._build_lock:
                if self._engine is None:
                    check_manifest(self.settings.index_dir, model=self.settings.model)  # fail before the model load
                    self._engine = Engine(self.settings)
        return self._engine

    def current(self) -> Engine:
        """The engine, after picking up a rebuilt index if one appeared since the last check."""
        engine = self.engine
        now = time.monotonic()
        if now - self._last_check < self.settings.reload_check_seconds:
            return engine
        if self._check_lock.acquire(blocking=False):
            try:
                self._last_check = now
                if engine.reload_if_changed():
                    log.info("serving the rebuilt index in %s", engine.index_dir)
            finally:
                self._check_lock.release()
        return engine

    def reload(self) -> Engine:
        """Load the index again now; raises (and keeps the old index serving) when it cannot be loaded."""
        engine = self.engine
        with self._check_lock:
            engine.reload()
            self._last_check = time.monotonic()
        return engine

    @property
    def writer(self) -> Writer:
        """Writes answers with the configured model (if any), checked with the engine's embedder."""
        if self._writer is None:
            self._writer = Writer(self.settings, lambda texts: self.engine.embedder.encode(texts))
        return self._writer

    def ask(self, question: str, history: list[dict[str, Any]] | None = None, top_k: int | None = None,
            generate: bool | None = None) -> Answer:
        """Answer ``question`` from the current index; written by the model when ``generate`` (None: when one is set)."""
        return self.writer.write(self.current().ask(question, top_k, history or []), history, generate)

    def ask_stream(self, question: str, history: list[dict[str, Any]] | None = None, top_k: int | None = None,
                   generate: bool | None = None) -> Iterator[str | Answer]:
        """Retrieve now (errors such as a missing index raise here), then yield the model's text as it
        comes and, last, the checked :class:`Answer` (see :meth:`rsiqa.search.written.Writer.stream`)."""
        answer = self.current().ask(question, top_k, history or [])
        return self.writer.stream(answer, history, generate)
