"""The engine as the servers use it: built on first use, swapped for a rebuilt index without a restart."""

from __future__ import annotations

import logging
import threading
import time

from rsiqa.engine import Engine
from rsiqa.index import check_manifest
from rsiqa.schema import Answer
from rsiqa.settings import Settings

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

    def ask(self, question: str, history: list[dict[str, str]] | None = None, top_k: int | None = None) -> Answer:
        """Answer ``question`` from the current index."""
        return self.current().ask(question, top_k, history or [])
