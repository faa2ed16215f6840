"""The chat page in headless Chromium against a real `rsiqa serve`: answers, citation links, markup shown as text."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from live_server import free_port, rsiqa_server
from rsiqa.index.build import build_index
from rsiqa.settings import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="needs Debian's chromium and chromium-driver (`make test-tools` installs them)"),
]

if CHROMIUM and CHROMEDRIVER:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.keys import Keys
    from conftest import run_rsiqa
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import WebDriverWait

PAYLOAD = "<img src=x onerror=alert(1)>"
MARKUP_NOTES = f"""# Notes on markup in the seed AI debate

A seed AI that rewrites its own source code could improve itself recursively, until returns diminish.

The payload {PAYLOAD} is what a careless chat page would run as markup instead of showing it as text. Recursive self-improvement notes may quote such markup.

What does <img src=y onerror=alert(2)> do to a recursively improving seed AI?

https://example.org/posts/quoted-markup-post

The linked post <script>alert(3)</script> argues that a self-improving AI needs full access to its own codebase.
"""
#: Run before any page script: records alert() calls instead of blocking on a dialog.
RECORD_ALERTS = "window.__alerts = []; window.alert = function (m) { window.__alerts.push(String(m)); };"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Chromium (Debian's, through chromedriver) that records alert() calls."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1200,1400"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path_factory.mktemp('chromium'))}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_ALERTS})
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with rsiqa_server(real_index_dir, tmp_path_factory.mktemp("browser-server")) as url:
        yield url


@pytest.fixture(scope="module")
def markup_server(real_embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server over a tiny corpus whose text is full of HTML."""
    work = tmp_path_factory.mktemp("markup-server")
    (work / "corpus").mkdir()
    (work / "corpus" / "markup-notes.md").write_text(MARKUP_NOTES, encoding="utf-8")
    build_index(Settings(corpus_dir=work / "corpus", index_dir=work / "index"), real_embedder, progress=False)
    with rsiqa_server(work / "index", work / "run") as url:
        yield url


def open_chat(driver: WebDriver, url: str) -> None:
    """Load the chat page with no saved conversation and wait until the question box is there."""
    driver.get(url + "/")
    driver.execute_script("localStorage.clear();")  # the page keeps the conversation across reloads
    driver.get(url + "/")
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#rsiqa-question textarea"))


def bot_messages(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#rsiqa-chat [data-testid='bot']")


def wait_for_reply(driver: WebDriver, before: int) -> WebElement:
    """The new assistant message, once it is rendered."""
    WebDriverWait(driver, 90).until(lambda d: len(bot_messages(d)) > before and bot_messages(d)[-1].text.strip())
    return bot_messages(driver)[-1]


def ask(driver: WebDriver, question: str) -> WebElement:
    """Type ``question``, press Enter, return the answer's message element."""
    before = len(bot_messages(driver))
    box = driver.find_element(By.CSS_SELECTOR, "#rsiqa-question textarea")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    return wait_for_reply(driver, before)


def expand_passages(driver: WebDriver, message: WebElement) -> None:
    for summary in message.find_elements(By.CSS_SELECTOR, "details > summary"):
        driver.execute_script("arguments[0].parentElement.open = true;", summary)


def test_answer_shows_cited_linked_sources(browser: WebDriver, server: str, tmp_path: Path) -> None:
    source_urls = {s["url"] for s in httpx.get(f"{server}/api/sources").json()["sources"] if s["url"]}
    open_chat(browser, server)
    message = ask(browser, "Would an AGI need its full codebase to self-improve?")
    assert "codebase" in message.text and "[1]" in message.text
    links = message.find_elements(By.CSS_SELECTOR, "a.rsiqa-title")
    assert links, message.get_attribute("innerHTML")
    assert {a.get_attribute("href") for a in links} <= source_urls
    assert all(a.get_attribute("target") == "_blank" for a in links)
    assert message.find_elements(By.CSS_SELECTOR, ".rsiqa-kind")
    assert not message.find_element(By.CSS_SELECTOR, "details blockquote").is_displayed()
    expand_passages(browser, message)
    highlight = message.find_element(By.CSS_SELECTOR, "details mark")
    assert highlight.is_displayed() and highlight.text
    browser.save_screenshot(str(tmp_path / "answer.png"))
    assert (tmp_path / "answer.png").stat().st_size > 10_000
    # A screen reader hears that the page is done, in words (Gradio's own text is a missing key).
    def announced(driver: WebDriver) -> list[str]:
        said = [e.get_attribute("textContent") for e in driver.find_elements(By.CSS_SELECTOR, "[role='status'][aria-live]")]
        return said if any(text not in ("", "Loading") for text in said) else []
    said = WebDriverWait(browser, 20).until(announced)
    assert "Done." in said and not any("common." in text for text in said), said


def test_follow_ups_and_examples_are_clickable(browser: WebDriver, server: str, tmp_path: Path) -> None:
    open_chat(browser, server)
    def examples(driver: WebDriver) -> list[str]:
        return [b.text for b in driver.find_elements(By.CSS_SELECTOR, "#rsiqa-examples button") if b.is_displayed()]
    offered = examples(browser)
    assert len(offered) > 1
    example = browser.find_element(By.CSS_SELECTOR, "#rsiqa-examples button")
    shown = example.text
    example.click()
    first = wait_for_reply(browser, 0)
    user_messages = browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat [data-testid='user']")
    assert user_messages[-1].text.rstrip("?.").startswith(shown.rstrip(".…?"))  # the material's own question
    assert first.find_elements(By.CSS_SELECTOR, ".rsiqa-citation")
    followup = WebDriverWait(browser, 30).until(
        lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, "#rsiqa-followups button") if b.is_displayed()])[0]
    label = followup.text
    assert not label.endswith("...") and label.endswith("?")  # shown whole, however long
    # The examples left are the ones neither asked nor suggested now.
    suggested = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#rsiqa-followups button") if b.is_displayed()]
    left = WebDriverWait(browser, 10).until(lambda d: examples(d) if shown not in examples(d) else None)
    assert left == [q for q in offered if q != shown and q not in suggested]
    followup.click()
    wait_for_reply(browser, 1)
    user_messages = browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat [data-testid='user']")
    assert len(user_messages) == 2 and user_messages[-1].text == label  # the question asked is the one shown
    # A click on the first example still shown asks that one (the examples were filtered, their order kept).
    time.sleep(1)
    still = [b for b in browser.find_elements(By.CSS_SELECTOR, "#rsiqa-examples button") if b.is_displayed()]
    assert still, "every example was asked or suggested: the test needs one left"
    wanted = still[0].text
    still[0].click()
    wait_for_reply(browser, 2)
    user_messages = browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat [data-testid='user']")
    assert len(user_messages) == 3 and user_messages[-1].text.rstrip("?.") == wanted.rstrip("?.…")
    browser.save_screenshot(str(tmp_path / "follow-up.png"))
    browser.find_element(By.CSS_SELECTOR, "#rsiqa-new").click()
    WebDriverWait(browser, 30).until(lambda d: not bot_messages(d))
    assert not [b for b in browser.find_elements(By.CSS_SELECTOR, "#rsiqa-followups button") if b.is_displayed()]
    assert WebDriverWait(browser, 10).until(lambda d: examples(d) == offered)  # a new conversation offers them all


def test_off_topic_question_is_declined_clearly(browser: WebDriver, server: str) -> None:
    open_chat(browser, server)
    message = ask(browser, "What is the best pizza in Naples?")
    assert message.text.startswith("The material does not cover that.") and message.text.count("does not cover") == 1
    assert not message.find_elements(By.CSS_SELECTOR, ".rsiqa-citation")


def test_corpus_markup_is_shown_as_text(browser: WebDriver, markup_server: str, tmp_path: Path) -> None:
    open_chat(browser, markup_server)
    message = ask(browser, "What would a careless chat page do with the markup payload?")
    expand_passages(browser, message)
    assert PAYLOAD in message.text
    assert "<script>alert(3)</script>" in message.text or "<img src=y onerror=alert(2)>" in message.text
    browser.save_screenshot(str(tmp_path / "markup.png"))
    followups = browser.find_element(By.CSS_SELECTOR, "#rsiqa-followups").text
    assert "<img src=y onerror=alert(2)>" in followups
    assert browser.find_elements(By.CSS_SELECTOR, "img[src='x'], img[src='y'], #rsiqa-chat script") == []
    assert browser.execute_script("return window.__alerts") == []


def test_question_markup_is_shown_as_text(browser: WebDriver, markup_server: str) -> None:
    open_chat(browser, markup_server)
    question = f"<b>What</b> does the payload {PAYLOAD} do to a seed AI?"
    ask(browser, question)
    user = browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat [data-testid='user']")[-1]
    assert user.text.strip() == question
    assert user.find_elements(By.CSS_SELECTOR, "b, img") == []
    assert browser.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    assert browser.execute_script("return window.__alerts") == []


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with a 1x1 PNG and records its path (a tracking-image server)."""

    requests: list[str] = []
    PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(self.PNG)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def image_server() -> Iterator[tuple[str, list[str]]]:
    """A local image server; its list holds every path the browser asked it for."""
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Recorder.requests
    httpd.shutdown()


@pytest.fixture(scope="module")
def untidy_server(real_embedder, image_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server over a page whose <title> holds a blank line, and whose text is full of Markdown."""
    host, _ = image_server
    work = tmp_path_factory.mktemp("untidy-server")
    (work / "corpus").mkdir()
    (work / "corpus" / "untidy.html").write_text(
        "<html><head><title>\n  Tracking notes\n\n  on seed AI\n</title></head><body>"
        f"<p>The tracking notes on recursive self-improvement show ![x]({host}/p.png) and a **bold claim** "
        f"that a seed AI rewrites its own code, with details at {host}/bare for everyone.</p>"
        "<p>Another paragraph of the tracking notes says recursive self-improvement may stall.</p></body></html>",
        encoding="utf-8")
    (work / "corpus" / "other.md").write_text(
        f"# Other notes\n\nMore tracking notes: recursive self-improvement of a seed AI, see ![y]({host}/q.png) "
        "and _emphasis_ and `code`.\n", encoding="utf-8")
    build_index(Settings(corpus_dir=work / "corpus", index_dir=work / "index"), real_embedder, progress=False)
    with rsiqa_server(work / "index", work / "run") as url:
        yield url


def test_untidy_corpus_text_is_never_markdown(browser: WebDriver, untidy_server: str, image_server, tmp_path: Path
                                              ) -> None:
    """A blank line in a title must not end the message's HTML: Markdown in any passage stays text, and
    the tracking image it names is never requested."""
    host, requested = image_server
    open_chat(browser, untidy_server)
    message = ask(browser, "What do the tracking notes say about recursive self-improvement of a seed AI?")
    expand_passages(browser, message)
    time.sleep(1.5)  # time for any image request to arrive
    browser.save_screenshot(str(tmp_path / "untidy.png"))
    assert requested == [], requested
    # Image Markdown stays text; emphasis marks are dropped at ingest (issue 11), and nothing renders bold.
    assert f"![x]({host}/p.png)" in message.text and "bold claim" in message.text
    assert message.find_elements(By.CSS_SELECTOR, "img, strong, em, code") == []
    assert not [a for a in message.find_elements(By.CSS_SELECTOR, "a") if "/bare" in (a.get_attribute("href") or "")]
    assert "Tracking notes on seed AI" in message.text


SEED_NOTES = {
    "seed.md": "# What a seed AI is\n\nA seed AI is a program written to improve its own source code, so that each "
               "improved version is better at improving the next one.\n",
    "skeptics.md": "---\ntitle: Why seed AI stalls\nauthor: Jane Doe\ndate: 2024-05-01\n"
                   "url: https://example.org/seed-ai-stalls\n---\n# Skeptics of the seed AI\n\nSkeptics of the seed AI idea argue that returns diminish: every "
                   "improvement is harder to find than the last, so recursive self-improvement stalls.\n",
    "overhang.md": "# Hardware overhang\n\nHardware overhang is the worry that a seed AI could run on far more "
                   "computing power than its first version needed, speeding up its takeoff.\n",
    "alignment.md": "# Goals of a seed AI\n\nAlignment researchers ask whether a seed AI keeps its goals while it "
                    "rewrites its own code. Will a seed AI keep the goals of the first version?\n",
}


@pytest.fixture(scope="module")
def seed_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of ``seed_server``: corpus/, index/ and run/ (its working folder, with data/feedback.sqlite3)."""
    return tmp_path_factory.mktemp("seed-server")


@pytest.fixture(scope="module")
def seed_server(real_embedder, seed_work: Path) -> Iterator[str]:
    """A server over a small corpus whose answers quote one passage (RSIQA_ANSWER_SENTENCES=1)."""
    work = seed_work
    (work / "corpus").mkdir()
    for name, text in SEED_NOTES.items():
        (work / "corpus" / name).write_text(text, encoding="utf-8")
    build_index(Settings(corpus_dir=work / "corpus", index_dir=work / "index"), real_embedder, progress=False)
    with rsiqa_server(work / "index", work / "run", answer_sentences="1", title="Seed AI field notes",
                      intro="Questions about seed AI.", decline_message="Try asking about seed AI.") as url:
        yield url


def test_sources_are_the_cited_passages_and_markers_open_them(browser: WebDriver, seed_server: str,
                                                              tmp_path: Path) -> None:
    open_chat(browser, seed_server)
    message = ask(browser, "Why do skeptics think recursive self-improvement of a seed AI stalls?")
    assert "[1]" in message.text and "[2]" not in message.text.split("Sources")[0]
    sources = message.find_elements(By.CSS_SELECTOR, ":scope .rsiqa-answer > ol.rsiqa-citations > li")
    assert [li.find_element(By.CSS_SELECTOR, ".rsiqa-n").text for li in sources] == ["[1]"]
    more = message.find_element(By.CSS_SELECTOR, "details.rsiqa-more")
    assert more.text.startswith("More passages") and more.get_attribute("open") is None
    passage = sources[0].find_element(By.CSS_SELECTOR, "blockquote")
    assert not passage.is_displayed()
    marker = message.find_element(By.CSS_SELECTOR, "a.rsiqa-ref-link")
    assert "returns diminish" in marker.get_attribute("title")  # the preview shown on hover
    marker.click()
    WebDriverWait(browser, 5).until(lambda d: passage.is_displayed())
    assert "returns diminish" in passage.text
    assert browser.current_url.rstrip("/") == seed_server  # no navigation away from the chat
    browser.save_screenshot(str(tmp_path / "marker-opened.png"))
    # The front matter of skeptics.md: its title (linked to its url), author and date.
    title = sources[0].find_element(By.CSS_SELECTOR, "a.rsiqa-title")
    assert title.text == "Why seed AI stalls" and title.get_attribute("href") == "https://example.org/seed-ai-stalls"
    assert sources[0].find_element(By.CSS_SELECTOR, ".rsiqa-byline").text == "Jane Doe, 2024-05-01"


def test_title_intro_examples_and_decline_come_from_settings_and_the_material(browser: WebDriver,
                                                                              seed_server: str) -> None:
    open_chat(browser, seed_server)
    assert browser.title == "Seed AI field notes"
    assert "Seed AI field notes" in browser.find_element(By.TAG_NAME, "h2").text
    assert "Questions about seed AI." in browser.page_source
    examples = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#rsiqa-examples button")]
    assert examples == ["Will a seed AI keep the goals of the first version?"]  # the material asks it
    message = ask(browser, "What is the best pizza in Naples?")
    assert "The material does not cover that. Try asking about seed AI." in message.text


def test_api_docs_render_with_the_network_blocked(seed_server: str, tmp_path: Path) -> None:
    """/docs in a Chromium that can reach 127.0.0.1 only: Swagger UI comes from the server itself."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1200,1400",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9",
                 "--proxy-bypass-list=127.0.0.1"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        try:
            driver.get("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css")
            assert "swagger" not in driver.page_source.lower()  # the outside world is out of reach
        except WebDriverException as exc:
            assert "ERR_" in str(exc)
        driver.get(seed_server + "/docs")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
        paths = {e.text.replace("\u200b", "") for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/api/query", "/api/health", "/api/sources"} <= paths
        driver.save_screenshot(str(tmp_path / "docs-offline.png"))
    finally:
        driver.quit()


def test_thumbs_and_comment_are_stored_and_exported(browser: WebDriver, seed_server: str, seed_work: Path) -> None:
    open_chat(browser, seed_server)
    question = "What is hardware overhang for a seed AI?"
    ask(browser, question)
    browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat button[aria-label='Dislike']")[-1].click()
    box = WebDriverWait(browser, 20).until(
        lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "#rsiqa-feedback-comment textarea") if e.is_displayed()])[0]
    box.send_keys("The <b>second</b> source fits better")
    browser.find_element(By.CSS_SELECTOR, "#rsiqa-feedback-send").click()
    WebDriverWait(browser, 20).until(lambda d: d.execute_script(
        "var e = document.querySelector('#rsiqa-feedback-comment'); return !e || e.offsetParent === null;"))
    result = run_rsiqa("feedback", "export", "--db", str(seed_work / "run" / "data" / "feedback.sqlite3"))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    row = next(r for r in rows if r["question"] == question)
    assert row["rating"] == "down" and row["comment"] == "The <b>second</b> source fits better"
    assert "overhang" in row["answer"] and "[1]" in row["answer"] and len(row["citations"]) == 1
    assert row["index_build"] == httpx.get(f"{seed_server}/api/health").json()["built_at"]


def _rgb(css: str) -> tuple[float, float, float]:
    """``rgb(r, g, b)`` or ``rgba(r, g, b, a)`` as three numbers 0-255."""
    r, g, b = (float(v) for v in css[css.index("(") + 1:].rstrip(")").split(",")[:3])
    return r, g, b


def contrast_ratio(one: tuple[float, float, float], two: tuple[float, float, float]) -> float:
    """The WCAG 2 contrast ratio of two sRGB colours."""
    def luminance(rgb: tuple[float, float, float]) -> float:
        lin = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_ratio_matches_known_pairs() -> None:
    assert round(contrast_ratio((0, 0, 0), (255, 255, 255)), 1) == 21.0
    assert round(contrast_ratio((118, 118, 118), (255, 255, 255)), 2) == 4.54


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_highlight_has_aa_contrast_in_both_themes(browser: WebDriver, seed_server: str, theme: str,
                                                  tmp_path: Path) -> None:
    open_chat(browser, seed_server)
    browser.get(f"{seed_server}/?__theme={theme}")
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#rsiqa-question textarea"))
    message = ask(browser, "Why do skeptics think recursive self-improvement of a seed AI stalls?")
    expand_passages(browser, message)
    mark = message.find_element(By.CSS_SELECTOR, "details mark")
    color, background = browser.execute_script(
        "var s = getComputedStyle(arguments[0]); return [s.color, s.backgroundColor];", mark)
    ratio = contrast_ratio(_rgb(color), _rgb(background))
    assert ratio >= 4.5, (theme, color, background, ratio)
    browser.save_screenshot(str(tmp_path / f"desktop-{theme}.png"))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_phone_sees_the_question_box_without_scrolling(browser: WebDriver, seed_server: str, theme: str,
                                                         tmp_path: Path) -> None:
    browser.set_window_size(390, 844)
    try:
        open_chat(browser, seed_server)
        browser.get(f"{seed_server}/?__theme={theme}")
        WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#rsiqa-question textarea"))
        in_view = ("var r = document.querySelector('#rsiqa-question textarea').getBoundingClientRect();"
                   "return r.top >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth;")
        assert browser.execute_script("return window.scrollY") == 0 and browser.execute_script(in_view)
        box = browser.find_element(By.CSS_SELECTOR, "#rsiqa-question textarea")
        assert box.location["y"] < browser.find_element(By.CSS_SELECTOR, "#rsiqa-intro").location["y"]
        ask(browser, "What is hardware overhang for a seed AI?")
        ask(browser, "Why do skeptics think recursive self-improvement of a seed AI stalls?")
        assert browser.execute_script(in_view)  # still in view below a long conversation
        browser.save_screenshot(str(tmp_path / f"phone-{theme}.png"))
    finally:
        browser.set_window_size(1200, 1400)


def test_copy_reload_export_and_the_locked_question_box(browser: WebDriver, seed_server: str, tmp_path: Path) -> None:
    open_chat(browser, seed_server)
    browser.execute_script(
        "window.__sawLocked = false; new MutationObserver(function () {"
        "  var box = document.querySelector('#rsiqa-question textarea');"
        "  if (box && box.disabled) window.__sawLocked = true; }).observe(document.body,"
        "  {attributes: true, subtree: true, childList: true});")
    message = ask(browser, "Why do skeptics think recursive self-improvement of a seed AI stalls?")
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, "#rsiqa-question textarea").is_enabled())
    assert browser.execute_script("return window.__sawLocked")  # locked while the answer was pending
    # Copy: the answer and its cited source as a Markdown footnote.
    message.find_element(By.CSS_SELECTOR, "button.rsiqa-copy").click()
    copied = WebDriverWait(browser, 10).until(lambda d: d.execute_script("return window.__rsiqaCopied"))
    assert "returns diminish" in copied and "[^1]" in copied
    assert "[^1]: [Why seed AI stalls](<https://example.org/seed-ai-stalls>)" in copied and "Jane Doe" in copied
    # A reload keeps the conversation.
    browser.refresh()
    WebDriverWait(browser, 60).until(lambda d: bot_messages(d) and "returns diminish" in bot_messages(d)[-1].text)
    users = browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat [data-testid='user']")
    assert [u.text for u in users] == ["Why do skeptics think recursive self-improvement of a seed AI stalls?"]
    # ... and follow-ups still lean on it; then Export writes the whole conversation as Markdown.
    ask(browser, "What is hardware overhang for a seed AI?")
    browser.find_element(By.CSS_SELECTOR, "#rsiqa-export").click()
    exported = WebDriverWait(browser, 10).until(lambda d: d.execute_script("return window.__rsiqaExport"))
    assert exported.startswith("# Seed AI field notes\n")
    assert exported.count("**Question:**") == 2 and "[^1.1]:" in exported and "[^2.1]:" in exported
    browser.save_screenshot(str(tmp_path / "restored.png"))
    saved = browser.execute_script("return localStorage.getItem('rsiqa-conversation')")
    browser.find_element(By.CSS_SELECTOR, "#rsiqa-new").click()
    WebDriverWait(browser, 30).until(lambda d: not bot_messages(d))
    # The empty conversation is saved by a second step after the reset: reload only once it is stored.
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return localStorage.getItem('rsiqa-conversation')") != saved)
    browser.refresh()
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#rsiqa-question textarea"))
    time.sleep(1.5)
    assert not bot_messages(browser)  # a new conversation is what a reload shows


def test_an_over_long_question_stays_in_the_box_with_a_notice(browser: WebDriver, seed_server: str) -> None:
    open_chat(browser, seed_server)
    ask(browser, "What is hardware overhang for a seed AI?")
    users = [u.text for u in browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat [data-testid='user']")]
    replies = [m.text for m in bot_messages(browser)]
    long_question = "Why would a seed AI stall once the easy improvements to its own code are used up? " * 26
    box = browser.find_element(By.CSS_SELECTOR, "#rsiqa-question textarea")
    box.send_keys(long_question.strip())
    box.send_keys(Keys.ENTER)
    toast = WebDriverWait(browser, 30).until(lambda d: [t.text for t in d.find_elements(
        By.CSS_SELECTOR, "[data-testid='toast-body']") if "please keep it under 2000" in t.text])
    assert f"Your question has {len(long_question.strip())} characters" in toast[0]
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.CSS_SELECTOR, "#rsiqa-question textarea").is_enabled())
    time.sleep(1)
    # The question is still there to shorten, and the conversation is as it was: no bubble, no notice with thumbs.
    assert browser.find_element(By.CSS_SELECTOR, "#rsiqa-question textarea").get_attribute("value") == long_question.strip()
    assert [u.text for u in browser.find_elements(By.CSS_SELECTOR, "#rsiqa-chat [data-testid='user']")] == users
    assert [m.text for m in bot_messages(browser)] == replies


CODE_NOTES = """# Seed AI sketches

A seed AI improves its own source code in a loop, one change at a time, and keeps a change only when a test shows it is better:

```
def improve(agent):
    while True:
        candidate = agent.rewrite(agent.source)
        if candidate.score() > agent.score():
            agent = candidate
```

Skeptics reply that the returns of such a loop diminish quickly, because each improvement is harder to find than the last.
"""


def test_an_answer_quoting_code_shows_it_as_code(browser: WebDriver, real_embedder, tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "sketch.md").write_text(CODE_NOTES, encoding="utf-8")
    build_index(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"), real_embedder, progress=False)
    with rsiqa_server(tmp_path / "index", tmp_path / "run") as url:
        open_chat(browser, url)
        message = ask(browser, "How does a seed AI improve its own source code in a loop?")
        code = message.find_elements(By.CSS_SELECTOR, ".rsiqa-answer-text pre.rsiqa-code code")
        assert code, message.get_attribute("innerHTML")
        assert code[0].is_displayed()
        assert "        if candidate.score() > agent.score():" in code[0].text.split("\n")  # indentation kept
        assert "```" not in message.find_element(By.CSS_SELECTOR, ".rsiqa-answer-text").text
