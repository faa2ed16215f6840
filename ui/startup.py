"""Mount the chat page on a server that is already answering, so that start-up does not wait for Gradio."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.routing import Mount

from rsiqa.settings import Settings

log = logging.getLogger(__name__)


class BackgroundChatPage:
    """Mount the chat page at ``/`` of a running app, from a thread, so that the API answers meanwhile.

    Importing Gradio and building the page take seconds; ``/api`` and ``/docs`` should not wait
    for them. Until the page is mounted, ``/`` answers a small page (503, ``Retry-After``) that
    reloads itself every second. The import and the building run in a thread started by the app's
    lifespan; mounting, Gradio's startup events (its queue, its state and file clean-up tasks) and
    the removal of the stand-in then happen on the server's event loop, in one step as far as
    requests are concerned: ``/`` is always answered, first by the stand-in, then by Gradio.
    Gradio's lifespan is left when the server stops.

    A failed start (say, no file descriptor left while the server is flooded) is tried again
    after each of ``RETRY_DELAYS`` seconds; only then is the page marked failed, which
    ``/api/health`` reports (:attr:`state`).
    """

    RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0)

    STARTING = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>rsiqa</title>"
                "<meta http-equiv=\"refresh\" content=\"1\"></head><body><p>The chat page is starting&hellip;</p>"
                "<p>The <a href=\"/docs\">REST API</a> already answers.</p></body></html>")
    FAILED = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>rsiqa</title></head><body>"
              "<p>The chat page could not be started; the server log says why.</p>"
              "<p>The <a href=\"/docs\">REST API</a> answers.</p></body></html>")

    def __init__(self, app: FastAPI, ask_fn: Any, settings: Settings) -> None:
        self.app = app
        self.ask_fn = ask_fn
        self.settings = settings
        self.ready = threading.Event()  # the page is served at /
        self.failed = False
        self._stopping = False
        self._stack: AsyncExitStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        app.add_api_route("/", self._stand_in, methods=["GET", "HEAD"], include_in_schema=False)
        self._stand_in_route = app.router.routes[-1]
        outer = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
            async with outer(app) as state, self._running():
                yield state

        app.router.lifespan_context = lifespan

    @property
    def state(self) -> str:
        """``ok`` (served), ``starting`` (being built, or waiting to try again) or ``failed``."""
        return "ok" if self.ready.is_set() else "failed" if self.failed else "starting"

    async def _stand_in(self) -> HTMLResponse:
        if self.failed:
            return HTMLResponse(self.FAILED, status_code=503)
        return HTMLResponse(self.STARTING, status_code=503, headers={"Retry-After": "1", "Cache-Control": "no-store"})

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """Part of the app's lifespan: starts the thread; on shutdown, leaves Gradio's lifespan."""
        async with AsyncExitStack() as stack:
            self._stack = stack
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._build, name="rsiqa-chat-page", daemon=True)
            self._thread.start()
            try:
                yield
            finally:
                self._stopping = True

    def _build(self) -> None:
        """In the thread: import Gradio, build the page, then mount it on the event loop; retry on failure."""
        for attempt, delay in enumerate((*self.RETRY_DELAYS, None), start=1):
            try:
                self._build_once()
                return
            except Exception:
                if self._stopping:
                    log.debug("the server stopped while the chat page was starting", exc_info=True)
                    return
                if delay is None:
                    self.failed = True
                    log.exception("the chat page could not be started; the REST API still answers")
                    return
                log.warning("the chat page could not be started (attempt %d), trying again in %g s", attempt, delay,
                            exc_info=True)
                time.sleep(delay)

    def _build_once(self) -> None:
        from rsiqa.ui.chat import build_chat, page_examples

        blocks = build_chat(self.ask_fn, page_examples(self.ask_fn, self.settings), self.settings.max_question_chars,
                            self.settings.max_history_turns, self.settings)
        if self._stopping:
            return
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._mount(blocks), self._loop).result()

    async def _mount(self, blocks: Any) -> None:
        """On the event loop: mount ``blocks`` at ``/``, run Gradio's startup, then drop the stand-in."""
        from rsiqa.ui.chat import mount_blocks

        if self._stopping or self._stack is None:
            return
        routes = self.app.router.routes
        before = set(map(id, routes))
        mount_blocks(self.app, blocks)  # appended after the stand-in, which still answers "/"
        gradio_app = next(r.app for r in routes if id(r) not in before and isinstance(r, Mount))
        # What gr.mount_gradio_app's own lifespan does at startup; this app's lifespan has already run.
        await self._stack.enter_async_context(gradio_app.router.lifespan_context(gradio_app))
        blocks.run_startup_events()
        await blocks.run_extra_startup_events()
        routes.remove(self._stand_in_route)
        self.ready.set()
        log.info("the chat page is served at /")
