"""Issue 6.5, malformed requests: every bad request gets a 4xx with a message that says what is wrong,
never a 5xx; schemathesis, fuzzing the API from its `/openapi.json`, finds no 5xx.

The same cases run in process (fake embedder, instant) and over HTTP against a real `rsiqa serve`.
Schemathesis runs three times: against an in-process uvicorn server with the fake embedder
(fast), and against a real `rsiqa serve` with a few cases (slow) and with hundreds (`load`).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from conftest import FakeEmbedder
from live_server import free_port, rsiqa_server, server_env
from rsiqa.serve.api import MAX_BODY_BYTES, create_app
from rsiqa.index.build import build_index
from rsiqa.search.engine import Engine
from rsiqa.settings import Settings

NOTES = ("# Notes\n\nA seed AI is a system designed to rewrite its own source code, improving itself "
         "recursively. Skeptics argue that each improvement is harder to find than the last.\n")
TOKEN = "fuzz-token-1"
JSON = {"Content-Type": "application/json"}
MIXED_UNICODE = "é中文🙂ب\u0301\u200dא"  # Latin, CJK, emoji, Arabic, combining accent, zero-width joiner, Hebrew

#: (name, request keyword arguments, expected status, words the message must contain)
BAD_REQUESTS = [
    ("body-over-1mb", {"content": b'{"question": "' + b"x" * MAX_BODY_BYTES + b'"}', "headers": JSON}, 413,
     "too large: the limit is 1 MB"),
    ("body-20mb", {"content": b"x" * (20 * 2**20), "headers": JSON}, 413, "the limit is 1 MB"),
    ("text-plain", {"content": b'{"question": "What is KANSI?"}', "headers": {"Content-Type": "text/plain"}},
     422, "Content-Type: application/json"),
    ("form-data", {"data": {"question": "What is KANSI?"}}, 422, "Content-Type: application/json"),
    ("multipart", {"files": {"question": ("q.txt", b"What is KANSI?")}}, 422, "Content-Type: application/json"),
    ("no-content-type", {"content": b'{"question": "What is KANSI?"}'}, 422, "Content-Type: application/json"),
    ("no-body", {"headers": JSON}, 422, "must be a JSON object"),
    ("truncated-json", {"content": b'{"question": ', "headers": JSON}, 422, "invalid JSON at character 13"),
    ("trailing-comma", {"content": b'{"question": "hi",}', "headers": JSON}, 422, "invalid JSON"),
    ("single-quotes", {"content": b"{'question': 'hi'}", "headers": JSON}, 422, "invalid JSON"),
    ("json-array", {"json": ["What is KANSI?"]}, 422, "must be a JSON object"),
    ("json-string", {"json": "What is KANSI?"}, 422, "must be a JSON object"),
    ("json-null", {"content": b"null", "headers": JSON}, 422, "must be a JSON object"),
    ("not-utf8", {"content": b'{"question": "caf\xe9"}', "headers": JSON}, 400, "encoded as UTF-8"),
    ("deeply-nested", {"content": b"[" * 100_000, "headers": JSON}, 400, "could not be parsed"),
    ("question-nested-600", {"content": b'{"question": ' + b"[" * 600 + b"1" + b"]" * 600 + b"}", "headers": JSON},
     422, "valid string"),
    ("top-k-nested-900", {"content": b'{"question": "seed AI?", "top_k": ' + b"[" * 900 + b"]" * 900 + b"}",
                          "headers": JSON}, 422, "valid integer"),
    ("history-nested-900", {"content": b'{"question": "seed AI?", "history": ' + b"[" * 900 + b"]" * 900 + b"}",
                            "headers": JSON}, 422, "valid dictionary"),
    ("lone-surrogate", {"content": b'{"question": "\\ud800 seed AI?"}', "headers": JSON}, 422, "valid string"),
    ("infinite-top-k", {"content": b'{"question": "seed AI?", "top_k": 1e999}', "headers": JSON}, 422,
     "valid integer"),  # top_k is a strict integer: no float is taken
    ("nan-top-k", {"content": b'{"question": "seed AI?", "top_k": NaN}', "headers": JSON}, 422, "valid integer"),
    ("nul-in-question", {"json": {"question": "seed\x00AI?"}}, 422, "control character U+0000 at position 4"),
    ("bell-in-question", {"json": {"question": "\x07seed AI?"}}, 422, "control character U+0007"),
    ("ansi-escape-in-question", {"json": {"question": "seed \x1b[31mAI?"}}, 422, "control character U+001B"),
    ("delete-in-question", {"json": {"question": "seed AI\x7f?"}}, 422, "control character U+007F"),
    ("c1-control-in-question", {"json": {"question": "seed AI\x85?"}}, 422, "control character U+0085"),
    ("10k-unicode-question", {"json": {"question": (MIXED_UNICODE * 1000)[:10_000]}}, 422,
     "at most 2000 characters"),
    ("extra-field", {"json": {"question": "seed AI?", "path": "/etc/passwd"}}, 422, "Extra inputs are not permitted"),
    ("misspelt-field", {"json": {"question": "seed AI?", "topk": 3}}, 422, "Extra inputs are not permitted"),
]
#: Odd but valid questions: answered (200), not refused.
GOOD_QUESTIONS = [
    pytest.param("seed AI?\tand\nrecursive\r\nself-improvement", id="tab-and-newlines"),
    pytest.param((MIXED_UNICODE * 300)[:2000], id="2000-unicode-characters"),
    pytest.param("🙂" * 2000, id="2000-emoji"),
    pytest.param("What is a seed AI? <script>alert(1)</script> ' OR 1=1 --", id="markup-and-sql"),
]


def messages(response: httpx.Response) -> str:
    """Every message of an error response, joined."""
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else " | ".join(error["msg"] for error in detail)


def check_bad(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    assert words in messages(response), response.text[:500]
    assert "Traceback" not in response.text
    assert len(response.content) < 20_000  # the input is not echoed back whole


def fake_settings(tmp_path: Path) -> Settings:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.md").write_text(NOTES, encoding="utf-8")
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model=FakeEmbedder.name,
                    abstain_threshold=0.0, reload_token=TOKEN, feedback_path=tmp_path / "feedback.sqlite3")


@pytest.fixture(scope="module")
def fake_app(tmp_path_factory: pytest.TempPathFactory):
    settings = fake_settings(tmp_path_factory.mktemp("requests"))
    embedder = FakeEmbedder()
    build_index(settings, embedder, progress=False)
    return create_app(settings, Engine(settings, embedder=embedder), chat_page=False)


@pytest.fixture(scope="module")
def client(fake_app) -> TestClient:
    return TestClient(fake_app, raise_server_exceptions=False)


@pytest.mark.parametrize(("kwargs", "status", "words"), [pytest.param(*case[1:], id=case[0]) for case in BAD_REQUESTS])
def test_bad_request_is_4xx_with_a_clear_message(client: TestClient, kwargs: dict, status: int, words: str) -> None:
    check_bad(client.post("/api/query", **kwargs), status, words)


def test_chunked_body_over_1mb_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(12):
            yield b"x" * 100_000
        yield b'"}'

    check_bad(client.post("/api/query", content=chunks(), headers=JSON), 413, "the limit is 1 MB")


def test_body_just_under_1mb_is_read(client: TestClient) -> None:
    """Under the limit the body is parsed: a too-long question is a 422 about the question, not a 413."""
    body = b'{"question": "' + b"x" * (MAX_BODY_BYTES - 100) + b'"}'
    check_bad(client.post("/api/query", content=body, headers=JSON), 422, "at most 2000 characters")


@pytest.mark.parametrize("question", GOOD_QUESTIONS)
def test_odd_but_valid_questions_are_answered(client: TestClient, question: str) -> None:
    response = client.post("/api/query", json={"question": question})
    assert response.status_code == 200, response.text[:500]
    assert response.json()["question"] == question.strip()


def test_other_endpoints_refuse_bodies_over_1mb_and_wrong_methods(client: TestClient) -> None:
    big = b"x" * (2 * MAX_BODY_BYTES)
    check_bad(client.post("/api/reload", content=big, headers={"Authorization": f"Bearer {TOKEN}"}), 413, "1 MB")
    for method, path, allowed in [("GET", "/api/query", "POST"), ("DELETE", "/api/query", "POST"),
                                  ("POST", "/api/health", "GET, HEAD"), ("PUT", "/api/sources", "GET"),
                                  ("GET", "/api/reload", "POST")]:
        response = client.request(method, path)
        assert response.status_code == 405 and response.headers["allow"] == allowed
        assert response.json() == {"detail": f"{path} takes {allowed.replace(', ', ' or ')}"}
    response = client.get("/api/answers")
    assert response.status_code == 404 and response.json() == {"detail": "no such endpoint: /api/answers (see /docs)"}


# --- over HTTP, against a real `rsiqa serve` --------------------------------------------------------


@pytest.fixture(scope="module")
def server(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    with rsiqa_server(real_index_dir, tmp_path_factory.mktemp("requests-server"), reload_token=TOKEN) as url:
        yield url


@pytest.mark.slow
def test_http_bad_requests_are_4xx_with_a_clear_message(server: str) -> None:
    with httpx.Client(base_url=server, timeout=60) as client:
        for name, kwargs, status, words in BAD_REQUESTS:
            response = client.post("/api/query", **kwargs)
            assert response.status_code == status, (name, response.text[:300])
            assert words in messages(response), (name, response.text[:300])
            assert response.headers["content-type"] == "application/json", name
        # The server is still fine after all that, on the same connection.
        assert client.post("/api/query", json={"question": "What is KANSI?"}).status_code == 200


# --- schemathesis: generated requests from /openapi.json, zero 5xx ---------------------------------------

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def run_schemathesis(url: str, work_dir: Path, max_examples: int, seed: int | None) -> str:
    """Run the schemathesis CLI against ``url``; its output (the test fails unless it found nothing).

    One worker: with two, the two operations that take a query body (/api/query and
    /api/query/stream) build their strategies in two threads at once, and hypothesis's
    ``ast.parse`` of its lambdas then fails in CPython 3.11 ("AST constructor recursion depth
    mismatch", a race in the interpreter, not a server error).
    """
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json", "--checks", CHECKS,
               "--max-examples", str(max_examples), "--workers", "1", "--request-timeout", "60",
               "--header", f"Authorization: Bearer {TOKEN}", "--no-color"]
    if seed is not None:
        command += ["--seed", str(seed)]
    result = subprocess.run(command, cwd=work_dir, env=server_env(work_dir), capture_output=True, text=True,
                            check=False, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "No issues found" in output, output[-6000:]
    return output


@pytest.fixture(scope="module")
def fake_server(fake_app) -> Iterator[str]:
    """The fake-embedder app served by uvicorn in a thread on a free 127.0.0.1 port."""
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(fake_app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=15)


def test_schemathesis_finds_no_5xx_in_process(fake_server: str, tmp_path: Path) -> None:
    run_schemathesis(fake_server, tmp_path, max_examples=50, seed=1)


@pytest.mark.slow
def test_schemathesis_finds_no_5xx_on_the_real_server(server: str, tmp_path: Path) -> None:
    run_schemathesis(server, tmp_path, max_examples=30, seed=2)


@pytest.mark.slow
@pytest.mark.load
def test_schemathesis_full_run_finds_no_5xx(server: str, tmp_path: Path) -> None:
    output = run_schemathesis(server, tmp_path, max_examples=300, seed=None)  # new cases each run; seed printed
    print(output[-1500:])


# --- an unexpected error: a 500 that says the connection closes ---------------------------------------

#: Put on a server's PYTHONPATH: a bug in answering one particular question.
INJECTED_BUG = """
from rsiqa.search.engine import Engine
_ask = Engine.ask
def ask(self, question, *args, **kwargs):
    if "trigger the injected bug" in question:
        raise RuntimeError("an injected bug")
    return _ask(self, question, *args, **kwargs)
Engine.ask = ask
"""


@pytest.mark.slow
def test_after_a_500_the_next_request_on_the_connection_succeeds(real_index_dir: Path, tmp_path: Path) -> None:
    import http.client
    import json

    (tmp_path / "inject").mkdir()
    (tmp_path / "inject" / "sitecustomize.py").write_text(INJECTED_BUG, encoding="utf-8")
    env = {"PYTHONPATH": str(tmp_path / "inject")}
    with rsiqa_server(real_index_dir, tmp_path / "run", wait_for_page=False, env=env) as url:
        connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=60)
        for question, status in [("What is KANSI?", 200), ("Please trigger the injected bug", 500),
                                 ("What is KANSI?", 200), ("Please trigger the injected bug", 500),
                                 ("Would an AGI need its full codebase to self-improve?", 200)]:
            connection.request("POST", "/api/query", body=json.dumps({"question": question}), headers=JSON)
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == status, (question, body)
            if status == 500:
                assert body == {"detail": "internal error: the server could not handle this request"}
                assert response.getheader("connection") == "close"
        connection.close()
    log = (tmp_path / "run" / "server.log").read_text()
    assert "an injected bug" in log and "Exception in ASGI application" not in log
