"""The REST API: in-process over a small fake-embedder index, and over HTTP against a real `rsiqa serve`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from live_server import rsiqa_server, server_env
from rsiqa.serve.api import create_app
from rsiqa.index.build import build_index
from rsiqa.search.engine import Engine
from rsiqa.settings import Settings

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "corpus"

NOTES = """# Notes on self-improvement

A seed AI is a system designed to understand and rewrite its own source code, improving itself recursively.

Skeptics argue that recursive self-improvement runs into diminishing returns, because each improvement is harder to find than the last one.

https://www.lesswrong.com/posts/abc123/a-linked-post-on-takeoff

The linked post says a fast takeoff needs returns on cognitive reinvestment that stay large for a long time.
"""

VALIDATION_CASES = [
    pytest.param({}, "Field required", id="missing-question"),
    pytest.param({"question": ""}, "at least 1 character", id="empty"),
    pytest.param({"question": "  \n\t "}, "the question is empty", id="white-space"),
    pytest.param({"question": "x" * 2001}, "at most 2000 characters", id="too-long"),
    pytest.param({"question": "seed AI?", "top_k": 0}, "greater than or equal to 1", id="top-k-0"),
    pytest.param({"question": "seed AI?", "top_k": 21}, "less than or equal to 20", id="top-k-21"),
    pytest.param({"question": "seed AI?", "top_k": "many"}, "valid integer", id="top-k-text"),
    pytest.param({"question": "seed AI?", "top_k": "5"}, "valid integer", id="top-k-numeric-string"),
    pytest.param({"question": "seed AI?", "top_k": True}, "valid integer", id="top-k-true"),
    pytest.param({"question": "seed AI?", "top_k": 5.0}, "valid integer", id="top-k-float"),
    pytest.param({"question": "seed AI?", "history": [{"role": "user", "content": "hi"}] * 21}, "at most 20 items",
                 id="history-too-long"),
    pytest.param({"question": "seed AI?", "history": [{"role": "system", "content": "hi"}]}, "'user' or 'assistant'",
                 id="history-bad-role"),
    pytest.param({"question": "seed AI?", "history": "not a list"}, "valid list", id="history-not-list"),
    pytest.param({"question": 42}, "valid string", id="question-number"),
]


def _messages(response: httpx.Response) -> str:
    return " | ".join(error["msg"] for error in response.json()["detail"])


# --- in process, fake embedder -------------------------------------------------------------


@pytest.fixture
def small_settings(settings: Settings) -> Settings:
    """Settings over a small corpus with the fake embedder's model name; never declines, checks reloads always."""
    (settings.corpus_dir / "notes.md").write_text(NOTES, encoding="utf-8")
    return settings.model_copy(update={"abstain_threshold": 0.0, "reload_check_seconds": 0.0})


@pytest.fixture
def small_engine(small_settings: Settings, fake_embedder) -> Engine:
    build_index(small_settings, fake_embedder, progress=False)
    return Engine(small_settings, embedder=fake_embedder)


@pytest.fixture
def client(small_settings: Settings, small_engine: Engine) -> TestClient:
    return TestClient(create_app(small_settings, small_engine, chat_page=False))


def test_query_returns_the_answer_object(client: TestClient) -> None:
    response = client.post("/api/query", json={"question": "What is a seed AI?", "top_k": 2})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"question", "answer", "abstained", "citations", "followups", "mode", "unsupported", "notice"}
    assert body["question"] == "What is a seed AI?" and body["abstained"] is False
    assert 1 <= len(body["citations"]) <= 2
    assert [c["n"] for c in body["citations"]] == list(range(1, len(body["citations"]) + 1))
    assert set(body["citations"][0]["source"]) == {"title", "url", "section", "kind", "kind_label", "path", "author",
                                                   "date"}


def test_query_answers_in_one_worker_thread_hop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer is computed in a worker thread and not validated again in a second one (about 0.2 ms each)."""
    import fastapi.routing

    hops: list[str] = []
    original = fastapi.routing.run_in_threadpool

    async def counted(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        hops.append(getattr(func, "__name__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "run_in_threadpool", counted)
    response = client.post("/api/query", json={"question": "What is a seed AI?", "top_k": 2})
    assert response.status_code == 200 and response.json()["citations"]
    assert len(hops) == 1, hops
    assert response.headers["content-type"] == "application/json"
    schema = client.get("/openapi.json").json()["paths"]["/api/query"]["post"]["responses"]["200"]  # still documented
    assert schema["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Answer"}


def test_query_accepts_history(client: TestClient) -> None:
    history = [{"role": "user", "content": "What is a seed AI?"}, {"role": "assistant", "content": "A system. [1]"}]
    response = client.post("/api/query", json={"question": "And why would it stop?", "history": history})
    assert response.status_code == 200
    assert response.json()["question"] == "And why would it stop?"


@pytest.mark.parametrize(("body", "message"), VALIDATION_CASES)
def test_bad_queries_are_422_with_a_message(client: TestClient, body: dict, message: str) -> None:
    response = client.post("/api/query", json=body)
    assert response.status_code == 422
    assert message in _messages(response)


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/api/query", content=b'{"question": ', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "JSON" in _messages(response)


def test_limits_come_from_settings(small_settings: Settings, small_engine: Engine) -> None:
    strict = small_settings.model_copy(update={"max_question_chars": 10, "max_history_turns": 1})
    client = TestClient(create_app(strict, small_engine, chat_page=False))
    assert "at most 10 characters" in _messages(client.post("/api/query", json={"question": "x" * 11}))
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    assert "at most 1 item" in _messages(client.post("/api/query", json={"question": "seed?", "history": turns}))


def test_health_and_sources(client: TestClient, small_engine: Engine) -> None:
    health = client.get("/api/health").json()
    assert health["status"] == "ok"
    assert health["passages"] == len(small_engine.data.passages) > 0
    assert health["model"] == "fake-hash" and health["built_at"] == small_engine.data.manifest["built_at"]
    sources = client.get("/api/sources").json()
    assert sources["count"] == len(sources["sources"]) == 2
    by_url = {s["url"]: s for s in sources["sources"]}
    post = by_url["https://www.lesswrong.com/posts/abc123/a-linked-post-on-takeoff"]
    assert post["title"] == "A linked post on takeoff" and post["kinds"] == ["linked_post"]
    assert post["kind_labels"] == ["excerpt of a linked post"] and post["path"] == "notes.md"
    assert by_url[None]["title"] and by_url[None]["kinds"] == ["document"]
    assert sum(s["passages"] for s in sources["sources"]) == health["passages"]


def test_docs_and_openapi(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)=["\']([^"\']+)', page.text)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets  # no CDN
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/query", "/api/health", "/api/sources", "/api/reload"} <= set(paths)


def test_reload_is_refused_without_a_configured_token(client: TestClient) -> None:
    response = client.post("/api/reload", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 403
    assert "RSIQA_RELOAD_TOKEN" in response.json()["detail"]


def test_reload_needs_the_right_bearer_token(small_settings: Settings, small_engine: Engine) -> None:
    app = create_app(small_settings.model_copy(update={"reload_token": "s3cret"}), small_engine, chat_page=False)
    client = TestClient(app)
    missing = client.post("/api/reload")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert client.post("/api/reload", headers={"Authorization": "Basic s3cret"}).status_code == 401
    assert client.post("/api/reload", headers={"Authorization": "Bearer wrong"}).status_code == 403
    ok = client.post("/api/reload", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert ok.json() == {"reloaded": True, "passages": len(small_engine.data.passages),
                         "built_at": small_engine.data.manifest["built_at"]}


def test_a_rebuilt_index_is_served_without_restart(client: TestClient, small_settings: Settings, fake_embedder) -> None:
    question = {"question": "Who proposed the zorblax protocol?", "top_k": 1}
    assert client.post("/api/query", json=question).json()["citations"][0]["source"]["path"] == "notes.md"
    (small_settings.corpus_dir / "zorblax.md").write_text(
        "The zorblax protocol was proposed by Quentin Marsh as a brake on recursive self-improvement.\n")
    time.sleep(0.01)  # a distinct manifest mtime even on coarse clocks
    build_index(small_settings, fake_embedder, progress=False)
    cited = client.post("/api/query", json=question).json()["citations"][0]["source"]["path"]
    assert cited == "zorblax.md"
    assert "zorblax.md" in {s["path"] for s in client.get("/api/sources").json()["sources"]}


def test_missing_index_is_503_with_a_build_hint(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "no-index", model="fake-hash")
    client = TestClient(create_app(settings, chat_page=False))
    for response in (client.get("/api/health"), client.post("/api/query", json={"question": "seed AI?"})):
        assert response.status_code == 503
        assert "rsiqa build" in response.json()["detail"]


def test_unexpected_errors_are_json_without_traceback(small_settings: Settings, small_engine: Engine) -> None:
    class BrokenEngine(Engine):
        def ask(self, *args, **kwargs):
            raise RuntimeError("secret internals /etc/passwd")

    broken = BrokenEngine.__new__(BrokenEngine)
    broken.__dict__.update(small_engine.__dict__)
    client = TestClient(create_app(small_settings, broken, chat_page=False), raise_server_exceptions=False)
    response = client.post("/api/query", json={"question": "seed AI?"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "internal error: the server could not handle this request"}


def test_oversized_body_is_refused(client: TestClient) -> None:
    response = client.post("/api/query", json={"question": "x" * (5 * 1024 * 1024)})
    assert response.status_code == 413


def test_serve_without_index_fails_with_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "rsiqa.serve.cli", "serve", "--index", str(tmp_path / "none")],
                            cwd=tmp_path, env=server_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: no index found") and "rsiqa build" in first
    assert "Traceback" not in result.stderr


# --- over HTTP, real model, real server process -------------------------------------------


@pytest.fixture(scope="module")
def server(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    with rsiqa_server(real_index_dir, tmp_path_factory.mktemp("api-server")) as url:
        yield url


@pytest.mark.slow
def test_http_query_cites_the_corpus(server: str) -> None:
    response = httpx.post(f"{server}/api/query", json={"question": "What is KANSI?", "top_k": 3}, timeout=60)
    assert response.status_code == 200
    body = response.json()
    assert body["abstained"] is False and "KANSI" in body["answer"] and "[1]" in body["answer"]
    assert 1 <= len(body["citations"]) <= 3
    assert "KANSI" in body["citations"][0]["text"]
    assert body["citations"][0]["source"]["kind_label"]


@pytest.mark.slow
def test_http_follow_up_uses_history(server: str) -> None:
    def ask(question: str, history: list[dict[str, str]]) -> dict:
        response = httpx.post(f"{server}/api/query", json={"question": question, "history": history}, timeout=60)
        assert response.status_code == 200
        return response.json()

    history = [{"role": "user", "content": "What does Ted Chiang think about self-improving AI?"},
               {"role": "assistant", "content": "He argues that AIs are like compilers."}]
    in_context = ask("Who else is skeptical?", history)
    alone = ask("Who else is skeptical?", [])
    assert "Chollet" in in_context["citations"][0]["text"]
    assert [c["chunk_id"] for c in in_context["citations"]] != [c["chunk_id"] for c in alone["citations"]]
    off_topic = ask("What is the capital of France?", history)  # a new topic is not carried by the old one
    assert off_topic["abstained"] is True and off_topic["citations"] == []


@pytest.mark.slow
def test_http_off_topic_question_is_declined(server: str) -> None:
    body = httpx.post(f"{server}/api/query", json={"question": "What is the best pizza in Naples?"}, timeout=60).json()
    assert body["abstained"] is True and body["citations"] == []
    assert "does not cover" in body["answer"]


@pytest.mark.slow
@pytest.mark.parametrize(("body", "message"), VALIDATION_CASES)
def test_http_bad_queries_are_422(server: str, body: dict, message: str) -> None:
    response = httpx.post(f"{server}/api/query", json=body, timeout=60)
    assert response.status_code == 422
    assert message in _messages(response)


@pytest.mark.slow
def test_http_non_json_body_is_422(server: str) -> None:
    response = httpx.post(f"{server}/api/query", content=b"question=hi",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=60)
    assert response.status_code == 422


@pytest.mark.slow
def test_http_health_sources_docs_and_chat_page(server: str, real_index_dir: Path) -> None:
    manifest = json.loads((real_index_dir / "manifest.json").read_text())
    health = httpx.get(f"{server}/api/health").json()
    assert health == {**health, "status": "ok", "passages": manifest["passages"], "model": "all-MiniLM-L6-v2",
                      "built_at": manifest["built_at"]}
    sources = httpx.get(f"{server}/api/sources").json()["sources"]
    urls = {s["url"] for s in sources}
    assert "https://www.lesswrong.com/posts/8NKu9WES7KeKRWEKK/why-all-the-fuss-about-recursive-self-improvement" in urls
    assert all(s["title"] and s["kinds"] and s["kind_labels"] for s in sources)
    assert httpx.get(f"{server}/docs").status_code == 200
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and "gradio" in page.text.lower()


@pytest.fixture(scope="module")
def reload_server(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """A server with a reload token over its own copy of the index and corpus (the test rebuilds them)."""
    work = tmp_path_factory.mktemp("reload-server")
    index_dir, corpus_dir = work / "index", work / "corpus"
    shutil.copytree(real_index_dir, index_dir)
    shutil.copytree(DEFAULT_CORPUS, corpus_dir)
    with rsiqa_server(index_dir, work / "run", reload_token="test-token-123") as url:
        yield url, index_dir, corpus_dir


@pytest.mark.slow
def test_http_reload_requires_the_token(reload_server: tuple[str, Path, Path]) -> None:
    url = reload_server[0]
    assert httpx.post(f"{url}/api/reload").status_code == 401
    wrong = httpx.post(f"{url}/api/reload", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["detail"] == "wrong reload token"
    ok = httpx.post(f"{url}/api/reload", headers={"Authorization": "Bearer test-token-123"}, timeout=60)
    assert ok.status_code == 200 and ok.json()["reloaded"] is True


@pytest.mark.slow
def test_http_serves_a_rebuilt_index_without_restart(reload_server: tuple[str, Path, Path], real_embedder) -> None:
    url, index_dir, corpus_dir = reload_server
    question = {"question": "Who proposed the Zorblax protocol?", "top_k": 3}
    before = httpx.post(f"{url}/api/query", json=question, timeout=60).json()
    assert all(c["source"]["path"] != "zorblax.md" for c in before["citations"])
    built_before = httpx.get(f"{url}/api/health").json()["built_at"]

    (corpus_dir / "zorblax.md").write_text(
        "# The Zorblax protocol\n\nThe Zorblax protocol was proposed by Quentin Marsh in 2031 as a brake on "
        "recursive self-improvement: a self-improving AI must pause after every rewrite of its own code.\n")
    build_index(Settings(corpus_dir=corpus_dir, index_dir=index_dir), real_embedder, progress=False)

    deadline = time.monotonic() + 20
    while True:
        after = httpx.post(f"{url}/api/query", json=question, timeout=60).json()
        if after["citations"] and after["citations"][0]["source"]["path"] == "zorblax.md":
            break
        assert time.monotonic() < deadline, f"the server still answers from the old index: {after}"
        time.sleep(0.5)
    assert "Quentin Marsh" in after["answer"]
    assert httpx.get(f"{url}/api/health").json()["built_at"] != built_before
    assert "zorblax.md" in {s["path"] for s in httpx.get(f"{url}/api/sources").json()["sources"]}


def test_feedback_is_stored_with_the_index_build_and_exported(client: TestClient, small_settings: Settings,
                                                              tmp_path: Path) -> None:
    from conftest import run_rsiqa

    vote = {"rating": "down", "comment": "cites the wrong post", "question": "What is a seed AI?",
            "answer": "A seed AI improves itself. [1]", "citations": ["0123456789abcdef"]}
    response = client.post("/api/feedback", json=vote)
    assert response.status_code == 201, response.text
    built_at = client.get("/api/health").json()["built_at"]
    assert response.json() == {"id": 1, "index_build": built_at}
    assert client.post("/api/feedback", json={**vote, "rating": "meh"}).status_code == 422
    assert client.post("/api/feedback", json={**vote, "comment": "x" * 2001}).status_code == 422
    lone_surrogate = json.dumps({**vote, "comment": "\ud800"}).encode()
    assert client.post("/api/feedback", content=lone_surrogate,
                       headers={"Content-Type": "application/json"}).status_code == 422
    result = run_rsiqa("feedback", "export", "--db", str(small_settings.feedback_path))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 1 and rows[0] | {"created_at": ""} == {**vote, "id": 1, "created_at": "",
                                                               "index_build": built_at}
