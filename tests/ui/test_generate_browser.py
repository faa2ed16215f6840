"""The chat page with a model, in headless Chromium: the answer streams, then the checked version replaces it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fake_llm import FakeLLM, fake_llm_server
from live_server import rsiqa_server
from test_ui_browser import (  # noqa: F401 (fixture)
    CHROMEDRIVER,
    CHROMIUM,
    bot_messages,
    browser,
    open_chat,
    pytestmark,  # noqa: F401 (slow; skipped without Debian's chromium and chromium-driver)
)

if CHROMIUM and CHROMEDRIVER:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import WebDriverWait

SKEPTICS = "Who are the prominent skeptics of recursive self-improvement?"
CHIANG = "Ted Chiang compares AIs to compilers, which can bootstrap themselves only up to a point"
CHOLLET = ("François Chollet argued in 2017 that recursively self-improving systems cannot achieve exponential "
           "progress in practice")


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with fake_llm_server() as server:
        yield server


@pytest.fixture(scope="module")
def model_server(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> Iterator[str]:
    with rsiqa_server(real_index_dir, tmp_path_factory.mktemp("model-server"), llm_base_url=llm.base_url,
                      llm_model="fake", llm_timeout="3") as url:
        yield url


def submit(driver: WebDriver, question: str) -> int:
    before = len(bot_messages(driver))
    box = driver.find_element(By.CSS_SELECTOR, "#rsiqa-question textarea")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    return before


def final_message(driver: WebDriver, before: int):
    WebDriverWait(driver, 90).until(lambda d: len(bot_messages(d)) > before and not d.find_elements(
        By.CSS_SELECTOR, "#rsiqa-chat .rsiqa-streaming") and ("Sources" in bot_messages(d)[-1].text
                                                              or "Not covered" in bot_messages(d)[-1].text))
    return bot_messages(driver)[-1]


def test_chat_page_streams_then_shows_the_checked_answer(browser: WebDriver, model_server: str,  # noqa: F811
                                                         llm: FakeLLM) -> None:
    extractive = httpx.post(f"{model_server}/api/query", json={"question": SKEPTICS, "generate": False}).json()
    n = next(c["n"] for c in extractive["citations"] if "Ted Chiang" in c["text"])
    # Chunks slow enough that a loaded machine still sees the text grow (0.03 s was flaky in a full run),
    # and the whole reply well within the 3 s model timeout.
    llm.script({"reply": f"{CHIANG} [{n}]. {CHOLLET} [{n}]. Nobody disagrees with them [9].", "chunk_delay": 0.05})
    open_chat(browser, model_server)
    time.sleep(1.0)  # the page restores its saved conversation on load; let that finish before asking
    before = submit(browser, SKEPTICS)
    seen: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat .rsiqa-streaming"):
        time.sleep(0.05)
    for _ in range(40):  # the text grows while the model writes
        streaming = browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat .rsiqa-streaming")
        if not streaming:
            break
        try:
            seen.append(streaming[-1].text)
        except StaleElementReferenceException:  # replaced by the next update between find and read: look again
            continue
        time.sleep(0.1)
    assert len({s for s in seen if s}) >= 2, seen  # streamed: at least two different partial texts
    message = final_message(browser, before)
    assert f"{CHIANG} [1]." in message.text and "Nobody disagrees" not in message.text.split("Not supported")[0]
    note = message.find_element(By.CSS_SELECTOR, "details.rsiqa-unsupported")
    assert note.get_attribute("open") is None and "Not supported by the sources (1)" in note.text
    browser.execute_script("arguments[0].open = true;", note)
    assert "Nobody disagrees with them." in note.text
    assert llm.calls() == 1


def test_model_timeout_and_passages_only(browser: WebDriver, model_server: str, llm: FakeLLM) -> None:  # noqa: F811
    llm.script({"sleep": 4, "reply": "late"})
    open_chat(browser, model_server)
    message = final_message(browser, submit(browser, SKEPTICS))
    assert "the model did not answer in 3 s; showing passages instead" in message.text
    llm.script({"reply": "should not be asked"})
    browser.find_element(By.CSS_SELECTOR, "#rsiqa-passages-only input").click()
    message = final_message(browser, submit(browser, "What is KANSI?"))
    assert "KANSI" in message.text and "Note:" not in message.text
    assert llm.calls() == 0
