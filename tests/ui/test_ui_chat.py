"""The chat page's logic: history handed to the engine, notices, and the page mounted beside the API."""

from __future__ import annotations

import gradio as gr
import pytest
from fastapi.testclient import TestClient

from rsiqa.serve.api import create_app
from rsiqa.index.build import build_index
from rsiqa.search.engine import Engine
from rsiqa.search.schema import Answer
from rsiqa.settings import Settings
from rsiqa.ui.chat import ERROR_MESSAGE, ChatSession, build_chat, unasked

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


def test_problem_says_what_keeps_a_question_from_being_asked(engine: Engine) -> None:
    session = ChatSession(Recorder(engine), 10, 20)
    assert session.problem("  seed AI? ") is None
    assert session.problem("x" * 11) == "Your question has 11 characters; please keep it under 10."
    assert session.problem("seed\x00AI").startswith("Sorry, ")


def test_examples_left_are_neither_asked_nor_suggested() -> None:
    examples = ["What is KANSI?", "Why does the argument fail?", "Who are the skeptics?"]
    turns = [{"role": "user", "content": "what  is kansi?"}, {"role": "assistant", "content": "KANSI is ..."}]
    assert unasked(examples, turns, ["Why does the argument FAIL?"]) == ["Who are the skeptics?"]
    assert unasked(examples, [], []) == examples


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
    # a wrong method or path under /api is the API's answer, not the chat page's 404
    wrong = client.get("/api/query")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST" and "takes POST" in wrong.json()["detail"]
    assert "no such endpoint" in client.get("/api/nope").json()["detail"]


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
    monkeypatch.setattr("rsiqa.ui.startup.BackgroundChatPage.RETRY_DELAYS", (0.01, 0.01))
    app = create_app(engine.settings, engine, chat_page="background")
    with TestClient(app) as client:
        app.state.chat_page._thread.join(60)
        page = client.get("/")
        assert page.status_code == 503 and "could not be started" in page.text and "refresh" not in page.text
        health = client.get("/api/health")  # the health check tells the page is down
        assert health.status_code == 503 and health.json()["status"] == "degraded"
        assert health.json()["chat_page"] == "failed"
        assert client.post("/api/query", json={"question": "What is a seed AI?"}).status_code == 200


# --- the REST API's limits on the chat page -----------------------------------------------------------


def test_the_chat_refuses_what_rest_refuses(engine: Engine) -> None:
    ask = Recorder(engine)
    session = ChatSession(ask, max_question_chars=2000, max_history_turns=20)
    for question in ("seed\x00AI?", "seed \x1b[2J AI?", "seed AI\x7f?"):
        shown, turns, followups = session.respond(question, [], [])
        assert "control character" in shown[-1]["content"] and turns == [] and followups == []
    assert ask.histories == []  # the engine was never asked


def test_a_session_keeps_a_bounded_state(engine: Engine) -> None:
    session = ChatSession(Recorder(engine), max_question_chars=2000, max_history_turns=6, max_messages=10)
    shown, turns = [], []
    for n in range(30):
        shown, turns, _ = session.respond(f"What is a seed AI, take {n}?", shown, turns)
    assert len(shown) == 10 and len(turns) == 6
    assert "take 29" in shown[-2]["content"] and turns[-2]["content"] == "What is a seed AI, take 29?"


def test_the_page_has_a_bounded_queue_and_shared_concurrency(engine: Engine) -> None:
    settings = Settings(chat_queue_size=7, chat_concurrency=3, chat_sessions=11)
    blocks = build_chat(lambda q, h: engine.ask(q, None, h), settings=settings)
    assert blocks._queue.max_size == 7 and blocks.state_session_capacity == 11
    engine_fns = [fn for fn in blocks.fns.values() if getattr(fn.fn, "__name__", "") in ("answer", "ask_choice", "reset")]
    assert len(engine_fns) == 6  # Enter, Ask, a follow-up, an example; New conversation, the bin icon
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in engine_fns} == {("rsiqa-answer", 3)}
    cheap = {getattr(fn.fn, "__name__", None) for fn in blocks.fns.values()} - {"answer", "ask_choice", "reset"}
    assert cheap == {"keep", "restore", None}  # no engine call (None: in the browser: Export, the question box lock)


@pytest.mark.slow
def test_the_page_over_http_validates_bounds_and_takes_no_uploads(real_index_dir, tmp_path) -> None:
    """Through Gradio's queue, as any client can call the page: control characters refused, a flood of
    expensive questions does not make a real user wait, and the upload route is closed."""
    import random
    import string
    import threading
    import time

    import httpx

    from gradio_queue import call_page
    from live_server import rsiqa_server

    with rsiqa_server(real_index_dir, tmp_path / "run", env={"GRADIO_TEMP_DIR": str(tmp_path / "uploads")}) as url:
        ok, output = call_page(url, "seed\x00AI\x1b[2J?")
        assert ok and any(level == "warning" and "control character U+0000" in text for level, text in output["logs"])
        assert output["data"][1] == {"__type__": "update"}  # refused before the chat: Gradio's "skip", no message

        rng = random.Random(3)
        heavy = [" ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(400))[:2000]
                 for _ in range(15)]
        flood = [threading.Thread(target=call_page, args=(url, q)) for q in heavy]
        for thread in flood:
            thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        ok, output = call_page(url, "What is KANSI?")
        waited = time.monotonic() - started
        for thread in flood:
            thread.join()
        assert ok and "KANSI" in output["data"][1][-1]["content"][0]["text"]
        assert waited < 8, waited  # 20 s before the cost caps and the shared concurrency limit

        upload = httpx.post(f"{url}/gradio_api/upload", files={"files": ("a.txt", b"x" * 7_000_000)}, timeout=60)
        assert upload.status_code == 404 and "uploads are turned off" in upload.text
        assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").rglob("a.txt"))


def test_title_intro_and_examples_come_from_settings_or_the_material() -> None:
    from rsiqa.ui.chat import build_chat, page_examples

    class Ask:
        def __call__(self, question, history):
            raise AssertionError("not asked")

        def material_questions(self):
            return ["Q1?", "Q2?", "Q3?", "Q4?", "Q5?"]

    settings = Settings(title="Cooking notes", intro="Ask about *stews*.")
    blocks = build_chat(Ask(), page_examples(Ask(), settings), settings=settings)
    markdown = [b.value for b in blocks.blocks.values() if type(b).__name__ == "Markdown"]
    assert "## Cooking notes" in markdown and "Ask about *stews*." in markdown and blocks.title == "Cooking notes"
    assert page_examples(Ask(), settings) == ["Q1?", "Q2?", "Q3?", "Q4?"]
    assert page_examples(Ask(), Settings(example_questions=["Mine?"])) == ["Mine?"]
    assert page_examples(lambda q, h: None, settings) == []  # an engine that offers none: no examples


def test_the_decline_message_always_starts_plainly() -> None:
    assert Settings(decline_message="Ask about stews instead.").decline_message == (
        "The material does not cover that. Ask about stews instead.")
    assert Settings().decline_message.startswith("The material does not cover that. rsiqa answers from the debate")


def test_without_a_model_the_page_shows_passages_with_no_notice(engine: Engine) -> None:
    from rsiqa.serve.api import PageAsk
    from rsiqa.serve.serving import EngineService

    ask = PageAsk(EngineService(engine.settings, engine))
    assert engine.settings.llm_base_url is None and not ask.generates
    *_, answer = ask.stream("What is a seed AI?", [], True)  # the page asks to generate unless "Passages only"
    assert isinstance(answer, Answer) and not answer.abstained and answer.notice is None
