"""Starting and stopping child servers: shared by the benchmarks and the tests' live servers (pytest puts
benchmarks/ on the path)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_kb(pid: int, keys: tuple[str, ...]) -> dict[str, int]:
    """Fields of ``/proc/PID/status`` given in kB (``VmRSS``, ``VmHWM``, ``RssAnon`` ...), those of ``keys`` present."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {key: int(fields[key].split()[0]) for key in keys if key in fields}


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Ask a child to stop (SIGTERM), and kill it if it has not stopped within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def wait_until_ready(process: subprocess.Popen, ready: Callable[[], bool], timeout: float, what: str,
                     detail: Callable[[], str] = str, pause: float = 0.1) -> None:
    """Poll ``ready()`` (which returns False while the server cannot answer yet) until it is true; RuntimeError
    naming ``what`` (and ``detail()``, e.g. its log) when the process exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{detail()}")
        if ready():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer within {timeout}s:\n{detail()}")
        time.sleep(pause)


def answers_health(url: str, timeout: float = 1.0) -> bool:
    """Whether the ``rsiqa serve`` at ``url`` answers ``/api/health`` with 200 now."""
    import httpx

    try:
        return httpx.get(f"{url}/api/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_health(process: subprocess.Popen, url: str, timeout: float = 600.0, pause: float = 0.02) -> None:
    """Wait until the ``rsiqa serve`` at ``url`` answers ``/api/health`` with 200; SystemExit with the end of its
    standard error (read once it has exited) when it exits first or ``timeout`` seconds pass."""

    def log() -> str:
        return process.stderr.read().decode()[-2000:] if process.poll() is not None and process.stderr else ""

    try:
        wait_until_ready(process, lambda: answers_health(url), timeout, "rsiqa serve", log, pause)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from exc


def milvus_answers(uri: str, token: str | None = None) -> bool:
    """Whether the Milvus at ``uri`` lists its collections now."""
    from pymilvus import MilvusClient

    try:
        # Closed after: pymilvus shares a connection per URI, and this one's default 10 s keepalive pings make
        # `milvus-lite server` answer GOAWAY "too_many_pings" a minute later, failing later calls on it.
        client = MilvusClient(uri=uri, token=token or "", timeout=2)
        client.list_collections()
        client.close()
        return True
    except Exception:  # noqa: BLE001 - not listening yet
        return False


def wait_for_milvus(uri: str, token: str | None = None, process: subprocess.Popen | None = None,
                    timeout: float = 60.0) -> None:
    """Wait until the Milvus at ``uri`` answers; RuntimeError when ``process`` (the server, if started here) exits
    first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not milvus_answers(uri, token):
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the Milvus server exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Milvus at {uri} did not answer within {timeout}s")
        time.sleep(0.3)


def start_milvus_lite(data: Path, log: IO[bytes], binary: Path | None = None,
                      timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """A ``milvus-lite server`` on a free 127.0.0.1 port, its data in ``data`` and its output to ``log``, once it
    answers: the process and its URI. ``binary``: Milvus Lite 2.5's ``milvus`` binary instead (a DB file and an
    address as arguments; see docs/performance.md)."""
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    if binary is not None:
        env = dict(os.environ, LD_LIBRARY_PATH=str(binary.parent))
        command = [str(binary), str(data / "rsiqa.db"), f"127.0.0.1:{port}", "ERROR"]
    else:
        env = None
        command = [str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir", str(data), "--host",
                   "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_for_milvus(uri, None, process, timeout)
    except BaseException:
        if process.poll() is None:
            stop_process(process, timeout=10)
        raise
    return process, uri


def open_slow_connections(port: int, count: int, partial: bytes, timeout: float) -> list[socket.socket]:
    """Open up to ``count`` connections to 127.0.0.1:``port`` that send ``partial`` (headers never finished)
    and stay open; the ones the server refuses are left out. The caller closes them."""
    opened = []
    for _ in range(count):
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            sock.sendall(partial)
            opened.append(sock)
        except OSError:
            pass
    return opened


def query_statuses(url: str, count: int, timeout: float, workers: int = 8) -> list[int]:
    """HTTP status of ``count`` ordinary ``POST /api/query`` requests, ``workers`` at a time (0: no answer)."""
    import httpx

    def query(n: int) -> int:
        try:
            return httpx.post(f"{url}/api/query", json={"question": f"What is KANSI? ({n})"}, timeout=timeout).status_code
        except httpx.HTTPError:
            return 0

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(query, range(count)))
