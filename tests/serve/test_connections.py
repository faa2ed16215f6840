"""Slow clients cannot take the server down: a deadline for request headers, an idle keep-alive timeout,
and a cap on open connections that makes room for new clients; all against a real `rsiqa serve`."""

from __future__ import annotations

import resource
import socket
import time
from pathlib import Path

import httpx
import pytest
from processes import open_slow_connections, query_statuses  # benchmarks/processes.py (pytest's pythonpath)

from live_server import rsiqa_server

pytestmark = pytest.mark.slow

PARTIAL = b"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed ``sock`` within ``seconds``, and what it sent before."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
        return True, received
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        return True, received


def test_headers_must_arrive_in_time(real_index_dir: Path, tmp_path: Path) -> None:
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False, header_timeout_seconds="1") as url:
        silent = socket.create_connection(("127.0.0.1", _port(url)))
        slow = socket.create_connection(("127.0.0.1", _port(url)))
        slow.sendall(PARTIAL)
        started = time.monotonic()
        for sock in (silent, slow):
            closed, received = _closed_within(sock, 5)
            assert closed, "a connection without complete headers is kept open"
            assert received.startswith(b"HTTP/1.1 408 ") or received == b""
            sock.close()
        assert time.monotonic() - started < 4
        assert httpx.get(f"{url}/api/health", timeout=10).status_code == 200


def test_idle_keep_alive_connections_are_closed(real_index_dir: Path, tmp_path: Path) -> None:
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False, keep_alive_seconds="1") as url:
        sock = socket.create_connection(("127.0.0.1", _port(url)))
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        closed, received = _closed_within(sock, 4)
        assert received.startswith(b"HTTP/1.1 200 ") and closed


def _limit_descriptors() -> None:
    """In the server: 512 file descriptors, as on a machine with a low `ulimit -n`."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))


def test_a_flood_of_slow_clients_does_not_lock_out_real_ones(real_index_dir: Path, tmp_path: Path) -> None:
    """600 slow-header connections against a server with 512 descriptors; real queries still get answers."""
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False, preexec_fn=_limit_descriptors,
                      header_timeout_seconds="120") as url:
        slow = open_slow_connections(_port(url), 600, PARTIAL, timeout=5)
        time.sleep(1)
        statuses = query_statuses(url, 60, timeout=20)
        for sock in slow:
            sock.close()
        assert statuses.count(200) == 60, statuses
        assert httpx.get(f"{url}/api/health", timeout=10).json()["status"] == "ok"
