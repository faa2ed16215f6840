"""Connection limits for `rsiqa serve`: a deadline for request headers and a cap on open connections.

uvicorn closes a keep-alive connection after ``timeout_keep_alive`` seconds of silence, but it
has no deadline for a request's headers: a client that connects and then sends its headers a
byte at a time (or nothing) holds a connection, and a file descriptor, for as long as it likes.
A thousand of them exhaust the process's descriptors, and every real client is refused. So:

* a connection must deliver complete headers within ``header_timeout`` seconds of connecting
  (and of starting each later request); otherwise it gets a 408 and is closed;
* at most ``max_connections`` are open. A new connection over the cap makes room by closing the
  connection that has waited longest without a request in progress (slow headers, or idle
  keep-alive); when every connection is busy answering, the new one is closed at once.

This subclasses uvicorn's httptools protocol (uvicorn[standard]) and uses only its documented
parser callbacks (``on_message_begin``, ``on_headers_complete``) and ``connections`` set.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

#: File descriptors kept free for the process itself (index files, the model, Gradio's start-up).
RESERVED_DESCRIPTORS = 128
_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     b"content-length: 40\r\nconnection: close\r\n\r\nrequest headers not received in time...\n")


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a header deadline and a cap on open connections (see the module)."""

    header_timeout: float = 10.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self.waiting_since: float | None = None  # set while no request is in progress on this connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.waiting_since = time.monotonic()
        self._arm_header_timer()
        if len(self.connections) > self.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()  # a later request on a keep-alive connection gets its own deadline

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        self.waiting_since = None
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self.waiting_since = time.monotonic()  # idle keep-alive: uvicorn's keep-alive timeout runs

    # -- limits -----------------------------------------------------------------------------
    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()

    def _make_room(self) -> None:
        """Over the cap: close the connection waiting longest without a request, or this new one."""
        waiting = [c for c in self.connections
                   if c is not self and isinstance(c, GuardedProtocol) and c.waiting_since is not None
                   and not c.transport.is_closing()]
        if waiting:
            oldest = min(waiting, key=lambda c: c.waiting_since or 0.0)
            oldest._cancel_header_timer()
            oldest.transport.close()
        else:
            self._cancel_header_timer()
            self.transport.close()


def connection_cap(configured: int) -> int:
    """``configured``, lowered to fit the process's file-descriptor limit (less a reserve for the process).

    The soft limit is first raised as far as the hard limit allows (up to what the cap needs).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = configured + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            soft = new_soft
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - RESERVED_DESCRIPTORS))


def guarded_protocol(header_timeout: float, max_connections: int) -> type[GuardedProtocol]:
    """A :class:`GuardedProtocol` class with these limits, for ``uvicorn.Config(http=...)``."""
    return type("RsiqaHttpProtocol", (GuardedProtocol,),
                {"header_timeout": header_timeout, "max_connections": max_connections})
