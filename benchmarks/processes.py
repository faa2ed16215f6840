"""Stopping a child process: shared by the benchmarks and the tests' live servers (pytest puts benchmarks/ on the path)."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """Ask a child to stop (SIGTERM), and kill it if it has not stopped within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
