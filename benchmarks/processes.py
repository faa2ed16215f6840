"""Starting and stopping child servers: shared by the benchmarks and the tests' live servers (pytest puts
benchmarks/ on the path)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


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
