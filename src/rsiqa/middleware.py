"""ASGI middleware around the whole app (API and chat page): unexpected errors, Host headers, Gradio's uploads."""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class ServerErrors:
    """An unexpected exception becomes a JSON 500 with ``Connection: close``, and goes no further.

    Starlette's own handler sends its 500 and then re-raises, so that uvicorn closes a keep-alive
    connection under the client without warning, and the client's next request on it fails.
    Here the client is told the connection ends (``Connection: close``), so it opens a new one.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            log.error("error answering %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            if started:  # too late for a clean answer: uvicorn closes the connection
                raise
            response = JSONResponse({"detail": "internal error: the server could not handle this request"},
                                    status_code=500, headers={"Connection": "close"})
            await response(scope, receive, send)


class NoUploads:
    """Gradio's upload routes answer 404 before any body is read: the chat page takes no files.

    Left open, ``/gradio_api/upload`` accepts files from anyone, keeps them on disk and replies
    with their absolute paths on the server.
    """

    PREFIXES = ("/gradio_api/upload", "/upload")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.PREFIXES):
            response = JSONResponse({"detail": "uploads are turned off: the chat page takes no files"},
                                    status_code=404, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
