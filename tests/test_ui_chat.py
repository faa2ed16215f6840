"""The chat page's logic: history handed to the engine, notices, and the page mounted beside the API."""

from __future__ import annotations

import gradio as gr
import pytest
from fastapi.testclient import TestClient

from rsiqa.api import create_app
from rsiqa.build import build_index
from rsiqa.engine import Engine
from rsiqa.schema import Answer
from rsiqa.settings import Settings
from rsiqa.ui.chat import ERROR_MESSAGE, ChatSession, build_chat

NOTES = """# Notes on self-improvement

A seed AI is a system designed to understand and rewrite its own source code, improving itself recursively.

Skeptics argue that recursive self-improvement runs into diminishing returns, because each improvement is harder to find than the last one.
"""


@pytest.fixture
def engine(settings: Settings, fake_embedder) -> Engine:
    (settings.corpus_dir / "notes.md").write_text(NOTES, encoding="utf-8")
    settings = settings.model_copy(update={"abstain_threshold": 0.0})
    build_index(settings, fake_embedder, progress=False)
    return Engine(settings, embedder=fake_embedder)


class Recorder:
    """The engine's ask, remembering the history each question came with."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.histories: list[list[dict[str, str]]] = []

    def __call__(self, question: str, history: list[dict[str, str]]) -> Answer:
        self.histories.append(history)
        return self.engine.ask(question, None, history)


def test_earlier_turns_are_passed_as_history(engine: Engine) -> None:
    ask = Recorder(engine)
    session = ChatSession(ask, max_question_chars=2000, max_history_turns=20)
    shown, turns, followups = session.respond("What is a seed AI?", [], [])
    assert ask.histories == [[]]
    assert [m["role"] for m in shown] == ["user", "assistant"]
    assert 'class="rsiqa-answer"' in shown[1]["content"] and "rsiqa-citations" in shown[1]["content"]
    assert turns[0] == {"role": "user", "content": "What is a seed AI?"}
    assert turns[1]["role"] == "assistant" and "[1]" in turns[1]["content"] and "<" not in turns[1]["content"]

    session.respond("  And why would it stop?  ", shown, turns)
    assert ask.histories[1] == turns


def test_history_is_cut_to_the_limit(engine: Engine) -> None:
    ask = Recorder(engine)
    session = ChatSession(ask, max_question_chars=2000, max_history_turns=2)
    turns = [{"role": "user", "content": f"question {i}"} for i in range(5)]
    session.respond("What is a seed AI?", [], turns)
    assert ask.histories == [turns[-2:]]


def test_too_long_question_gets_a_notice_not_an_answer(engine: Engine) -> None:
    ask = Recorder(engine)
    shown, turns, followups = ChatSession(ask, 10, 20).respond("x" * 11, [], [])
    assert ask.histories == [] and turns == [] and followups == []
    assert "please keep it under 10" in shown[-1]["content"]


def test_engine_failure_gets_a_polite_notice(engine: Engine) -> None:
    def broken(question: str, history: list[dict[str, str]]) -> Answer:
        raise RuntimeError("boom")

    shown, turns, _ = ChatSession(broken, 2000, 20).respond("What is a seed AI?", [], [])
    assert ERROR_MESSAGE in shown[-1]["content"] and "boom" not in shown[-1]["content"] and turns == []


def test_build_chat_makes_blocks_with_the_examples(engine: Engine) -> None:
    blocks = build_chat(lambda q, h: engine.ask(q, None, h), examples=["What is a seed AI?"])
    assert isinstance(blocks, gr.Blocks)
    config = blocks.get_config_file()
    datasets = [c for c in config["components"] if c["type"] == "dataset"]
    assert [["What is a seed AI?"]] in [d["props"]["samples"] for d in datasets]


def test_chat_page_is_mounted_beside_the_api(engine: Engine) -> None:
    client = TestClient(create_app(engine.settings, engine))
    page = client.get("/")
    assert page.status_code == 200 and "gradio" in page.text.lower()
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    assert client.post("/api/query", json={"question": "What is a seed AI?"}).status_code == 200


def test_chat_page_mounted_in_the_background_replaces_the_stand_in(engine: Engine) -> None:
    app = create_app(engine.settings, engine, chat_page="background")
    starting = TestClient(app).get("/")  # no lifespan run: the server has not started, nor the page
    assert starting.status_code == 503 and starting.headers["retry-after"] == "1"
    assert "starting" in starting.text and 'http-equiv="refresh"' in starting.text
    with TestClient(app) as client:  # runs the lifespan: the page is built in a thread, then mounted
        assert client.get("/api/health").json()["status"] == "ok"
        assert client.get("/").status_code in (200, 503)  # never 404
        assert app.state.chat_page.ready.wait(120)
        page = client.get("/")
        assert page.status_code == 200 and "gradio" in page.text.lower()
        assert client.get("/gradio_api/info").status_code == 200
        assert client.get("/docs").status_code == 200
        assert "/" not in client.get("/openapi.json").json()["paths"]
        assert client.post("/api/query", json={"question": "What is a seed AI?"}).status_code == 200


def test_a_chat_page_that_cannot_start_leaves_the_api_serving(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no page today")

    monkeypatch.setattr("rsiqa.ui.chat.build_chat", broken)
    app = create_app(engine.settings, engine, chat_page="background")
    with TestClient(app) as client:
        app.state.chat_page._thread.join(60)
        page = client.get("/")
        assert page.status_code == 503 and "could not be started" in page.text and "refresh" not in page.text
        assert client.get("/api/health").json()["status"] == "ok"
        assert client.post("/api/query", json={"question": "What is a seed AI?"}).status_code == 200
