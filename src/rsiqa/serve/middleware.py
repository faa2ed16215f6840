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


def host_of(header: str) -> str:
    """The host name of a ``Host`` header, lower-case, without its port (``[::1]:8000`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheck:
    """Answer only requests whose ``Host`` header names this server (400 otherwise): a page on another site
    that rebinds its DNS name to 127.0.0.1 must not reach the API. ``*`` in ``allowed`` accepts any host.

    Starlette's TrustedHostMiddleware does the same but cuts IPv6 hosts (``[::1]``) at the first colon.
    """

    def __init__(self, app: ASGIApp, allowed: set[str]) -> None:
        self.app = app
        self.allowed = {host_of(h) for h in allowed}
        self.any = "*" in allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self.any:
            header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if header and host_of(header) not in self.allowed:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                response = JSONResponse({"detail": f"unknown host {header[:100]!r}: this server answers to "
                                                   f"{', '.join(sorted(self.allowed))} (set RSIQA_ALLOWED_HOSTS to add names)"},
                                        status_code=400, headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def allowed_hosts(bind_host: str, configured: list[str]) -> set[str]:
    """The hosts a server bound to ``bind_host`` answers to: ``configured`` when given, else the bound address
    (with the loopback names when it is loopback; this machine's names and addresses when it is a wildcard)."""
    import socket

    if configured:
        return set(configured)
    loopback = {"127.0.0.1", "localhost", "::1"}
    host = host_of(bind_host)
    if host in loopback or host.startswith("127."):
        return loopback | {host}
    if host not in ("0.0.0.0", "::", ""):
        return {host}
    names = {socket.gethostname(), socket.getfqdn()}
    addresses: set[str] = set()
    for name in names:
        try:
            addresses |= {info[4][0] for info in socket.getaddrinfo(name, None)}
        except OSError:
            pass
    return {n.lower() for n in names | addresses} | loopback
