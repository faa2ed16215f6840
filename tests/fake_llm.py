"""Run tests/fake_llm_server.py as a real process on a free port, and script it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from processes import stop_process, wait_until_ready  # benchmarks/processes.py (pytest's pythonpath)

from live_server import free_port

SERVER = Path(__file__).resolve().parent / "fake_llm_server.py"


class FakeLLM:
    """A running fake OpenAI-compatible server: ``base_url`` ends in /v1."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.base_url = f"{url}/v1"

    def script(self, *replies: dict[str, Any]) -> None:
        """Replace the scripted behaviours (one per call, the last repeating) and reset the call count."""
        httpx.post(f"{self.url}/script", json={"replies": list(replies)}, timeout=5).raise_for_status()

    def calls(self) -> int:
        """How many chat completions were requested since the last :meth:`script`."""
        return int(httpx.get(f"{self.url}/calls", timeout=5).json()["count"])

    def requests(self) -> list[dict[str, Any]]:
        """The request bodies received since the last :meth:`script`."""
        return list(httpx.get(f"{self.url}/calls", timeout=5).json()["requests"])


@contextmanager
def fake_llm_server(timeout: float = 20) -> Iterator[FakeLLM]:
    """Start ``python tests/fake_llm_server.py --port N`` until the block ends."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    def ready() -> bool:
        try:
            httpx.get(f"{url}/calls", timeout=2)
            return True
        except httpx.HTTPError:
            return False

    try:
        wait_until_ready(process, ready, timeout, "fake LLM server", pause=0.05)
        yield FakeLLM(url)
    finally:
        stop_process(process)
