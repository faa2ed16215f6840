"""Run the app under uvicorn for `rsiqa serve`: the port bound first (a clear error when taken), then
uvicorn with header and keep-alive timeouts and a connection cap (:mod:`rsiqa.serve.connections`), answering
only to the hosts it is bound to (:class:`rsiqa.serve.middleware.HostCheck`)."""

from __future__ import annotations

import errno
import socket

from rsiqa.settings import Settings


class ServeError(RuntimeError):
    """The server cannot start; the message says what to do."""


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` (not yet listening), or :class:`ServeError` saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ServeError(f"cannot resolve the host '{host}' ({exc.strerror}): pass --host with an address "
                         "such as 127.0.0.1 or set RSIQA_HOST") from exc
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is already in use (another server is running there): "
                             "stop it, or choose another port with --port N or RSIQA_PORT=N") from exc
        if exc.errno == errno.EACCES:
            raise ServeError(f"no permission to listen on port {port}: choose a port above 1023 with --port N "
                             "or RSIQA_PORT=N") from exc
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ServeError(f"'{host}' is not an address of this machine: pass --host 127.0.0.1 (or another "
                             "of its addresses) or set RSIQA_HOST") from exc
        raise
    return sock


def run(app: object, sock: socket.socket, settings: Settings) -> None:
    """Serve ``app`` on the bound ``sock`` until stopped (Ctrl+C)."""
    import uvicorn

    from rsiqa.serve.connections import connection_cap, guarded_protocol
    from rsiqa.serve.middleware import HostCheck, allowed_hosts

    protocol = guarded_protocol(settings.header_timeout_seconds, connection_cap(settings.max_connections))
    guarded = HostCheck(app, allowed_hosts(settings.host, settings.allowed_hosts))  # type: ignore[arg-type]
    config = uvicorn.Config(guarded, http=protocol, log_level="warning", access_log=False,
                            timeout_keep_alive=settings.keep_alive_seconds,
                            timeout_graceful_shutdown=3)  # open chat pages must not keep the server from stopping
    uvicorn.Server(config).run(sockets=[sock])
