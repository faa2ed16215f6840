"""`rsiqa serve` answers the REST API before the chat page is ready, and serves the page once it is.

The chat page (Gradio) is imported and mounted in the background after the server starts. One
test holds Gradio's import back (a stand-in `gradio` package on PYTHONPATH that waits for a file,
then loads the real one) so that the order is certain rather than a matter of timing.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from live_server import rsiqa_server

pytestmark = pytest.mark.slow

HELD_GRADIO = '''"""Stand-in for gradio in a test: waits for a release file, then puts the real gradio in its place."""
import importlib
import os
import sys
import time
from pathlib import Path

_release = Path(os.environ["HELD_GRADIO_RELEASE_FILE"])
while not _release.exists():
    time.sleep(0.05)
if _release.read_text() == "fail":
    raise ImportError("gradio is broken on purpose")
if _release.read_text() == "fail-once":  # as when the server has no file descriptor left for a moment
    _release.write_text("go")
    raise OSError(24, "Too many open files")
_here = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if not p or Path(p).resolve() != _here]
del sys.modules["gradio"]
sys.modules["gradio"] = importlib.import_module("gradio")  # a module may replace itself while imported
'''


def _held_gradio(tmp_path: Path, release_text: str | None) -> tuple[Path, dict[str, str]]:
    """The stand-in gradio package on a PYTHONPATH, and its release file (written now when ``release_text``)."""
    (tmp_path / "held" / "gradio").mkdir(parents=True)
    (tmp_path / "held" / "gradio" / "__init__.py").write_text(HELD_GRADIO)
    release = tmp_path / "release"
    if release_text is not None:
        release.write_text(release_text)
    return release, {"PYTHONPATH": str(tmp_path / "held"), "HELD_GRADIO_RELEASE_FILE": str(release)}


def _page_served(url: str, timeout: float = 120) -> httpx.Response:
    """Poll ``/`` until it is the chat page; every answer meanwhile must be the 503 stand-in."""
    deadline = time.monotonic() + timeout
    while True:
        page = httpx.get(f"{url}/", timeout=10)
        if page.status_code == 200:
            return page
        assert page.status_code == 503 and "The chat page is starting" in page.text, (page.status_code, page.text)
        assert time.monotonic() < deadline, "the chat page was not served in time"
        time.sleep(0.2)


def _api_works(url: str, health: str = "ok") -> None:
    assert httpx.get(f"{url}/api/health", timeout=10).json()["status"] == health
    assert httpx.get(f"{url}/docs", timeout=10).status_code == 200
    assert "/" not in httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]
    answer = httpx.post(f"{url}/api/query", json={"question": "What is KANSI?", "top_k": 2}, timeout=60)
    assert answer.status_code == 200 and answer.json()["answer"]


def test_serve_answers_the_api_first_then_serves_the_chat_page(real_index_dir: Path, tmp_path: Path) -> None:
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False) as url:  # yields at health 200
        _api_works(url)
        page = _page_served(url)
        assert "gradio" in page.text.lower()
        _api_works(url)
    assert "Traceback" not in (tmp_path / "run" / "server.log").read_text()


def test_api_answers_while_the_chat_page_is_held_back(real_index_dir: Path, tmp_path: Path) -> None:
    release, env = _held_gradio(tmp_path, None)
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False, env=env) as url:
        _api_works(url)
        starting = httpx.get(f"{url}/", timeout=10)
        assert starting.status_code == 503 and starting.headers["retry-after"] == "1"
        assert 'http-equiv="refresh"' in starting.text and "The chat page is starting" in starting.text
        release.write_text("go")
        page = _page_served(url)
        assert "gradio" in page.text.lower()
        _api_works(url)


def test_api_keeps_serving_when_the_chat_page_cannot_start(real_index_dir: Path, tmp_path: Path) -> None:
    release, env = _held_gradio(tmp_path, "fail")
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False, env=env) as url:
        deadline = time.monotonic() + 60
        while "could not be started" not in (page := httpx.get(f"{url}/", timeout=10)).text:
            assert page.status_code == 503 and time.monotonic() < deadline, (page.status_code, page.text)
            time.sleep(0.2)
        assert page.status_code == 503 and "refresh" not in page.text
        _api_works(url, health="degraded")  # the API answers, and its health check says the page is down
        health = httpx.get(f"{url}/api/health", timeout=10)
        assert health.status_code == 503 and health.json()["chat_page"] == "failed"
    log = (tmp_path / "run" / "server.log").read_text()
    assert "gradio is broken on purpose" in log and "trying again" in log


def test_the_chat_page_start_is_tried_again(real_index_dir: Path, tmp_path: Path) -> None:
    """A start that fails once (no file descriptor left, say) is retried: the page is served, health says so."""
    release, env = _held_gradio(tmp_path, "fail-once")
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False, env=env) as url:
        assert httpx.get(f"{url}/api/health", timeout=10).json()["chat_page"] in ("starting", "ok")
        page = _page_served(url)
        assert "gradio" in page.text.lower()
        health = httpx.get(f"{url}/api/health", timeout=10)
        assert health.status_code == 200 and health.json()["chat_page"] == "ok" and health.json()["status"] == "ok"
    assert "Too many open files" in (tmp_path / "run" / "server.log").read_text()
