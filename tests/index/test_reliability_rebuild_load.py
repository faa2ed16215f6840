"""Issue 6.3, rebuild under load: while clients send queries without pause, the real `rsiqa build`
rebuilds the served index, and the server switches to the new index with zero failed requests and
no restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from conftest import DEFAULT_CORPUS
from live_server import rsiqa_server, server_env

UNIQUE_FILE = "quillfeather.md"
UNIQUE_TEXT = (
    "# The Quillfeather doctrine\n\n"
    "The Quillfeather doctrine was formulated by Ottoline Brackwater in 2029. It holds that a self-improving "
    "AI must publish a signed changelog of every rewrite of its own code before running the new version.\n"
)
UNIQUE_QUESTION = {"question": "Who formulated the Quillfeather doctrine?", "top_k": 3}
CLIENTS = 4
#: Each client cycles through these while the index is rebuilt (the last one is the new material).
QUESTIONS = [
    {"question": "What is KANSI?"},
    {"question": "Would an AGI need its full codebase to self-improve?", "top_k": 3},
    {"question": "What is the best pizza in Naples?"},
    {"question": "What did they argue?",
     "history": [{"role": "user", "content": "Who are the prominent skeptics of recursive self-improvement?"}]},
    UNIQUE_QUESTION,
]


class QueryLoad:
    """``clients`` threads posting QUESTIONS back to back until stopped; every outcome is recorded."""

    def __init__(self, url: str, clients: int = CLIENTS, max_seconds: float = 300, max_queries: int = 100_000):
        self.url = url
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.results: list[tuple[float, int, str]] = []  # (time sent, status or 0, problem or "")
        self.deadline = time.monotonic() + max_seconds
        self.max_queries = max_queries
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _run(self, offset: int) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            n = offset
            while not self.stop_event.is_set() and time.monotonic() < self.deadline:
                with self.lock:
                    if len(self.results) >= self.max_queries:
                        return
                body = QUESTIONS[n % len(QUESTIONS)]
                n += 1
                sent = time.monotonic()
                try:
                    response = client.post("/api/query", json=body)
                    status = response.status_code
                    problem = "" if status == 200 and "answer" in response.json() else response.text[:300]
                except (httpx.HTTPError, ValueError) as exc:
                    status, problem = 0, f"{type(exc).__name__}: {exc}"
                with self.lock:
                    self.results.append((sent, status, problem))

    def __enter__(self) -> QueryLoad:  # noqa: PYI034
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=90)

    def between(self, start: float, end: float) -> list[tuple[float, int, str]]:
        with self.lock:
            return [r for r in self.results if start <= r[0] <= end]

    def failures(self) -> list[tuple[float, int, str]]:
        with self.lock:
            return [r for r in self.results if r[1] != 200 or r[2]]


def _cites_unique_file(url: str) -> dict:
    answer = httpx.post(f"{url}/api/query", json=UNIQUE_QUESTION, timeout=60).json()
    return answer if answer["citations"] and answer["citations"][0]["source"]["path"] == UNIQUE_FILE else {}


@pytest.mark.slow
def test_rebuild_under_load_switches_index_with_zero_failed_requests(real_index_dir: Path, tmp_path: Path) -> None:
    index_dir, corpus_dir = tmp_path / "index", tmp_path / "corpus"
    shutil.copytree(real_index_dir, index_dir)
    shutil.copytree(DEFAULT_CORPUS, corpus_dir)
    with rsiqa_server(index_dir, tmp_path / "run") as url:
        before = httpx.get(f"{url}/api/health").json()
        assert not _cites_unique_file(url), "the new material is already served before the rebuild"

        with QueryLoad(url) as load:
            time.sleep(2)  # load running before the build starts
            (corpus_dir / UNIQUE_FILE).write_text(UNIQUE_TEXT, encoding="utf-8")
            build_started = time.monotonic()
            build = subprocess.run(
                [sys.executable, "-m", "rsiqa.serve.cli", "build", "--corpus", str(corpus_dir), "--index", str(index_dir),
                 "--quiet"],
                cwd=tmp_path, env=server_env(tmp_path), capture_output=True, text=True, check=False, timeout=600,
            )
            build_ended = time.monotonic()
            assert build.returncode == 0, build.stdout + build.stderr
            assert "Indexed" in build.stdout

            deadline = time.monotonic() + 30
            while not (answer := _cites_unique_file(url)):  # picked up within reload_check_seconds (1 s)
                assert time.monotonic() < deadline, "the server still answers from the old index 30 s after the build"
                time.sleep(0.2)
            switched = time.monotonic()
            time.sleep(2)  # and keeps answering from the new index under load

        during_build = load.between(build_started, build_ended)
        after_switch = load.between(switched, switched + 2)
        failures = load.failures()
        assert failures == [], f"{len(failures)} of {len(load.results)} queries failed: {failures[:5]}"
        assert len(during_build) >= 10, f"only {len(during_build)} queries while the build ran"
        assert after_switch, "no queries after the switch"
        assert "Ottoline Brackwater" in answer["answer"]
        after = httpx.get(f"{url}/api/health").json()
        assert after["built_at"] != before["built_at"]
        assert after["passages"] > before["passages"]
        assert UNIQUE_FILE in {s["path"] for s in httpx.get(f"{url}/api/sources").json()["sources"]}
        print(f"\n{len(load.results)} queries, {len(during_build)} during the {build_ended - build_started:.1f} s "
              f"build, 0 failed")
