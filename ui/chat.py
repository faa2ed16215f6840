"""The chat page: ask questions, read answers with numbered, linked and expandable citations.

``build_chat(ask_fn)`` makes the Gradio page; ``mount_chat(app, ask_fn, settings)`` serves it at
``/`` of a FastAPI app. ``ask_fn(question, history) -> Answer`` is all the page knows of the
engine. The conversation is kept twice per browser session: as plain turns (what the engine
gets as history) and as escaped HTML messages (what the chat shows).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import gradio as gr
from fastapi import FastAPI

from rsiqa.search.schema import Answer, check_question
from rsiqa.settings import Settings
from rsiqa.ui.render import answer_html, notice_html, question_html, streaming_html, text_html

log = logging.getLogger(__name__)

AskFn = Callable[[str, list[dict[str, str]]], Answer]
#: An ``ask_fn`` may also have ``stream(question, history, generate)`` yielding text deltas, then the
#: final Answer, and ``generates`` (a model is set): the page then streams and offers "Passages only".
StreamFn = Callable[[str, list[dict[str, str]], bool], Iterator["str | Answer"]]
Message = dict[str, str]

ERROR_MESSAGE = "Sorry, something went wrong while answering. Please try again."

CSS = """
#rsiqa-chat .rsiqa-answer p { margin: 0 0 .5em 0; }
#rsiqa-chat .rsiqa-answer-text { margin: 0 0 .5em 0; }
#rsiqa-chat .rsiqa-code { margin: .4em 0; padding: .4em .6em; overflow-x: auto; font-size: .9em; }
#rsiqa-chat .rsiqa-sources-label { font-weight: 600; margin-top: .75em; }
#rsiqa-chat .rsiqa-citations { list-style: none; padding-left: 0; margin: 0; }
#rsiqa-chat .rsiqa-citation { margin: .35em 0; }
#rsiqa-chat .rsiqa-n { font-weight: 600; margin-right: .25em; }
#rsiqa-chat .rsiqa-kind { opacity: .75; font-size: .9em; }
#rsiqa-chat .rsiqa-ref { font-size: .75em; }
#rsiqa-chat details.rsiqa-passage summary { cursor: pointer; font-size: .9em; opacity: .8; }
#rsiqa-chat details.rsiqa-passage blockquote { margin: .35em 0 .5em 0 !important; padding-left: .75em;
  border-left: 3px solid var(--border-color-primary); white-space: normal; }
#rsiqa-chat .rsiqa-abstained strong, #rsiqa-chat .rsiqa-notice { color: var(--body-text-color-subdued); }
#rsiqa-chat details.rsiqa-unsupported summary { cursor: pointer; font-size: .9em; opacity: .8; }
#rsiqa-chat details.rsiqa-more > summary { cursor: pointer; font-weight: 600; margin-top: .5em; }
#rsiqa-chat a.rsiqa-ref-link { text-decoration: none; font-weight: 600; }
#rsiqa-chat .rsiqa-byline { font-size: .9em; }
/* The highlighted sentence: WCAG AA contrast (>= 4.5:1) in both themes (11.8:1 light, 6.6:1 dark). */
#rsiqa-chat mark { background: #fde68a; color: #1f2937; padding: 0 .1em; border-radius: 2px; }
.dark #rsiqa-chat mark { background: #854d0e; color: #fefce8; }
/* The question box stays in view below a conversation of any length (no inner scroll box); sticky needs
   Gradio's container to clip rather than hide its overflow. */
.gradio-container { overflow: clip !important; }
#rsiqa-input { position: sticky; bottom: 0; z-index: 5; background: var(--body-background-fill); padding: .4em 0; }
/* On a phone the conversation and the question box come first, the introduction after them. */
@media (max-width: 640px) {
  #rsiqa-intro { order: 10; }
  #rsiqa-heading h2 { font-size: 1.1em; margin: 0; }
}
#rsiqa-chat .rsiqa-citation.rsiqa-flash { outline: 2px solid var(--color-accent); outline-offset: 2px; }
#rsiqa-chat .rsiqa-copy-text { display: none; }
#rsiqa-chat .rsiqa-actions { margin: .5em 0 0 0; }
#rsiqa-chat button.rsiqa-copy { font-size: .85em; padding: .1em .6em; border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-sm); background: var(--button-secondary-background-fill); cursor: pointer; }
"""

#: In the page's <head>: a click on an answer's [n] opens passage n of that answer (and the collapsed
#: "More passages" around it, if any) and scrolls to it. Without the script the link's fragment
#: does the same in Chromium (a fragment inside a closed <details> opens it).
PAGE_JS = """<script>
function rsiqaCopy(text, button) {
  window.__rsiqaCopied = text;  // what was copied (read by the tests: headless clipboards vary)
  var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
  var fallback = function () {
    var area = document.createElement("textarea");
    area.value = text; area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); done(); } catch (e) {}
    area.remove();
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
  else fallback();
}
document.addEventListener("click", function (event) {
  var copy = event.target.closest ? event.target.closest("button.rsiqa-copy") : null;
  var payload = copy && copy.closest(".rsiqa-answer") && copy.closest(".rsiqa-answer").querySelector(".rsiqa-copy-text");
  if (payload) {
    event.preventDefault();
    event.stopPropagation();
    rsiqaCopy(payload.textContent, copy);
    return;
  }
  var link = event.target.closest ? event.target.closest("a.rsiqa-ref-link") : null;
  var target = link && document.getElementById((link.getAttribute("href") || "").slice(1));
  var item = target && target.closest("li.rsiqa-citation");
  if (!item) return;
  event.preventDefault();
  event.stopPropagation();
  for (var d = item.querySelector("details"); d; d = d.parentElement && d.parentElement.closest("details")) d.open = true;
  item.scrollIntoView({block: "center"});
  item.classList.add("rsiqa-flash");
  setTimeout(function () { item.classList.remove("rsiqa-flash"); }, 1600);
}, true);
</script>"""

#: Lock (LOCKED: true) or unlock the question box and the Ask button, in the browser.
LOCK_JS = """(...args) => {
  var box = document.querySelector("#rsiqa-question textarea"), button = document.querySelector("#rsiqa-ask");
  if (box) box.disabled = LOCKED;
  if (button) button.disabled = LOCKED;
  if (box && !LOCKED) box.focus();
  return args;
}"""

#: The "Export as Markdown" button: the conversation shown, each answer with its sources as footnotes
#: (numbered per answer: [^2.1] is source 1 of answer 2), downloaded as conversation.md.
EXPORT_JS = """() => {
  var parts = [], answers = 0;
  document.querySelectorAll("#rsiqa-chat [data-testid='user'], #rsiqa-chat [data-testid='bot']").forEach(function (m) {
    if (m.getAttribute("data-testid") === "user") { parts.push("**Question:** " + m.innerText.trim()); return; }
    var payload = m.querySelector(".rsiqa-copy-text");
    if (!payload) { parts.push(m.innerText.trim()); return; }
    answers += 1;
    parts.push(payload.textContent.replace(/\\[\\^(\\d+)\\]/g, "[^" + answers + ".$1]"));
  });
  var text = "# " + document.title + "\\n\\n" + parts.join("\\n\\n") + "\\n";
  window.__rsiqaExport = text;
  var link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], {type: "text/markdown"}));
  link.download = "conversation.md";
  document.body.appendChild(link); link.click(); link.remove();
}"""


class ChatSession:
    """What one question does to a conversation: turns sent to the engine, messages shown, follow-ups.

    The REST API's limits apply: the same question checks (length, control characters), at most
    ``max_history_turns`` turns kept, and at most ``max_messages`` messages shown per session.
    """

    def __init__(self, ask_fn: AskFn, max_question_chars: int, max_history_turns: int, max_messages: int = 40) -> None:
        self.ask_fn = ask_fn
        self.max_question_chars = max_question_chars
        self.max_history_turns = max_history_turns
        self.max_messages = max_messages

    def problem(self, question: str) -> str | None:
        """What keeps ``question`` from being asked (too long, empty, control characters), said for the reader;
        None when it can be asked."""
        question = (question or "").strip()
        if len(question) > self.max_question_chars:
            return f"Your question has {len(question)} characters; please keep it under {self.max_question_chars}."
        try:
            check_question(question)
        except ValueError as exc:
            return f"Sorry, {exc}."
        return None

    def respond(self, question: str, shown: list[Message], turns: list[Message]
                ) -> tuple[list[Message], list[Message], list[str]]:
        """Ask ``question`` with the earlier ``turns``; returns the new messages, turns and follow-ups."""
        question = (question or "").strip()
        shown_text = question[: self.max_question_chars] + ("…" if len(question) > self.max_question_chars else "")
        shown = [*shown, {"role": "user", "content": question_html(shown_text)}]
        notice = self.problem(question)
        if notice:
            return self._bounded([*shown, {"role": "assistant", "content": notice_html(notice)}]), turns, []
        try:
            answer = self.ask_fn(question, turns[-self.max_history_turns:])
        except Exception:
            log.exception("the chat page could not answer %r", question[:200])
            return self._bounded([*shown, {"role": "assistant", "content": notice_html(ERROR_MESSAGE)}]), turns, []
        return self._answered(question, answer, shown, turns)

    def _answered(self, question: str, answer: Answer, shown: list[Message], turns: list[Message]
                  ) -> tuple[list[Message], list[Message], list[str]]:
        shown = [*shown, {"role": "assistant", "content": answer_html(answer)}]
        turns = [*turns, {"role": "user", "content": question},
                 {"role": "assistant", "content": answer.answer, "citations": [c.chunk_id for c in answer.cited()]}]
        return self._bounded(shown), turns[-self.max_history_turns:], list(answer.followups)

    def _bounded(self, shown: list[Message]) -> list[Message]:
        """The last ``max_messages`` messages: a session's state never grows without bound."""
        return shown[-self.max_messages:]

    def respond_stream(self, question: str, shown: list[Message], turns: list[Message], generate: bool = True
                       ) -> Iterator[tuple[list[Message], list[Message] | None, list[str] | None]]:
        """Like :meth:`respond`, as the model writes: yields the messages with the text so far (turns and
        follow-ups None), then, last, the checked answer with the new turns and follow-ups."""
        stream = getattr(self.ask_fn, "stream", None)
        question = (question or "").strip()
        if stream is None or self.problem(question):  # respond() says what is wrong with the question
            yield self.respond(question, shown, turns)
            return
        shown = [*shown, {"role": "user", "content": question_html(question)}]
        written = ""
        try:
            for item in stream(question, turns[-self.max_history_turns:], generate):
                if isinstance(item, Answer):
                    yield self._answered(question, item, shown, turns)
                    return
                written += item
                yield self._bounded([*shown, {"role": "assistant", "content": streaming_html(written)}]), None, None
        except Exception:
            log.exception("the chat page could not answer %r", question[:200])
        yield self._bounded([*shown, {"role": "assistant", "content": notice_html(ERROR_MESSAGE)}]), turns, []


def question_samples(questions: Sequence[str]) -> list[list[str]]:
    """Questions as the samples of a Dataset of HTML: escaped, so that a question is shown whole and as text."""
    return [[text_html(q)] for q in questions]


def build_chat(ask_fn: AskFn, examples: Sequence[str] = (), max_question_chars: int = 2000,
               max_history_turns: int = 20, settings: Settings | None = None) -> gr.Blocks:
    """The chat page as Gradio Blocks: chat, question box, example and follow-up questions to click.

    Any client can call the page's functions through Gradio's queue (by ``fn_index``), so the
    page has the REST API's limits: the same question checks, and from ``settings`` a queue of
    ``chat_queue_size`` events, at most ``chat_concurrency`` answers computed at once (one limit
    shared by every way to ask), ``chat_max_messages`` messages and ``chat_sessions`` sessions kept.
    """
    settings = settings or Settings()
    session = ChatSession(ask_fn, max_question_chars, max_history_turns, settings.chat_max_messages)
    examples = list(examples)
    votes = callable(getattr(ask_fn, "feedback", None))  # the server stores votes (rsiqa.serve.feedback)

    with gr.Blocks(title=settings.title, analytics_enabled=False) as blocks:
        gr.Markdown(f"## {settings.title}", elem_id="rsiqa-heading")
        gr.Markdown(settings.intro, elem_id="rsiqa-intro")
        chatbot = gr.Chatbot(
            label="Conversation", elem_id="rsiqa-chat", height="auto", min_height=240, sanitize_html=True, render_markdown=False,
            latex_delimiters=[], allow_tags=False, buttons=[],
            feedback_options=("Like", "Dislike") if votes else None,
            placeholder="Ask a question below, or click an example.",
        )
        shown = gr.State([])
        turns = gr.State([])
        followup_list = gr.State([])
        example_list = gr.State(list(examples))  # the examples shown: the page's, less those asked or suggested
        rated = gr.State([])  # per shown message: what a vote on it rates (question, answer, cited ids), or None
        vote_id = gr.State(None)
        with gr.Row(visible=False, elem_id="rsiqa-feedback") as comment_row:
            comment = gr.Textbox(show_label=False, placeholder="Thanks! Anything to add? (optional)", max_lines=4,
                                 scale=8, elem_id="rsiqa-feedback-comment")
            send_comment = gr.Button("Send", size="sm", scale=1, min_width=80, elem_id="rsiqa-feedback-send")
        with gr.Row(elem_id="rsiqa-input"):
            question = gr.Textbox(show_label=False, placeholder="Ask a question about the material",
                                  max_lines=6, scale=8, elem_id="rsiqa-question", autofocus=True)
            ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="rsiqa-ask")
        passages_only = gr.Checkbox(False, label="Passages only (answer with quotes, without the model)",
                                    visible=bool(getattr(ask_fn, "generates", False)), elem_id="rsiqa-passages-only")
        # The questions to click show as escaped HTML: Gradio cuts a text example at 60 characters ("... relev...").
        whole = gr.HTML(visible=False)
        followups = gr.Dataset(components=[whole], samples=[], label="Follow-up questions", type="index",
                               visible=False, elem_id="rsiqa-followups")
        example_set = gr.Dataset(components=[whole], samples=question_samples(examples), label="Example questions",
                                 type="index", visible=bool(examples), elem_id="rsiqa-examples")
        with gr.Row():
            new_chat = gr.Button("New conversation", size="sm", variant="secondary", elem_id="rsiqa-new")
            export = gr.Button("Export as Markdown", size="sm", variant="secondary", elem_id="rsiqa-export")
        # The conversation, kept in the browser (localStorage, encrypted by the server) across reloads.
        saved = gr.BrowserState({}, storage_key="rsiqa-conversation")

        outputs = [question, chatbot, shown, turns, followups, followup_list, rated, example_set, example_list]

        def example_update(kept_turns: list[Message], suggested: Sequence[str]) -> tuple[Any, list[str]]:
            left = unasked(examples, kept_turns, suggested)
            return gr.Dataset(samples=question_samples(left), visible=bool(left)), left

        def answer(text: str, shown_now: list[Message], turns_now: list[Message], rated_now: list[Any],
                   quotes_only: bool = False) -> Iterator[tuple[Any, ...]]:
            if not (text or "").strip():
                yield (gr.skip(),) * len(outputs)
                return
            notice = session.problem(text)
            if notice:  # said in a toast; the box keeps the question to shorten, the conversation is as it was
                gr.Warning(notice, duration=20, title="Question not sent")
                yield (gr.skip(),) * len(outputs)
                return
            for messages, new_turns, next_questions in session.respond_stream(text, shown_now, turns_now,
                                                                              not quotes_only):
                if new_turns is None or next_questions is None:  # the model is still writing
                    yield "", messages, *(gr.skip(),) * (len(outputs) - 2)
                    continue
                dataset = gr.Dataset(samples=question_samples(next_questions), visible=bool(next_questions))
                yield ("", messages, messages, new_turns, dataset, next_questions,
                       rated_messages(rated_now, messages, new_turns if new_turns is not turns_now else None),
                       *example_update(new_turns, next_questions))

        def ask_choice(index: int | None, shown_now: list[Message], turns_now: list[Message], rated_now: list[Any],
                       choices: list[str], quotes_only: bool = False) -> Iterator[tuple[Any, ...]]:
            """Ask the clicked example or follow-up question."""
            if index is None or not 0 <= index < len(choices):
                yield (gr.skip(),) * len(outputs)
                return
            yield from answer(choices[index], shown_now, turns_now, rated_now, quotes_only)

        def reset() -> tuple[Any, ...]:
            return "", [], [], [], gr.Dataset(samples=[], visible=False), [], [], *example_update([], [])

        def vote(rated_now: list[Any], data: gr.LikeData) -> tuple[Any, ...]:
            """Store a thumbs up or down on an answer, then offer a comment box."""
            index = data.index if isinstance(data.index, int) else None
            target = rated_now[index] if index is not None and 0 <= index < len(rated_now) else None
            if not target or not isinstance(data.liked, bool):  # a notice, or a vote taken back
                return gr.skip(), gr.skip(), gr.skip()
            stored = ask_fn.feedback("up" if data.liked else "down", target["question"], target["answer"],  # type: ignore[attr-defined]
                                     target["citations"])
            return stored, gr.Row(visible=True), ""

        def add_comment(text: str, stored: int | None) -> tuple[Any, ...]:
            if stored is not None and (text or "").strip():
                ask_fn.comment(stored, text.strip())  # type: ignore[attr-defined]
            return None, gr.Row(visible=False), ""

        def keep(shown_now: list[Message], turns_now: list[Message], rated_now: list[Any]) -> dict[str, Any]:
            return {"shown": shown_now, "turns": turns_now, "rated": rated_now}

        def restore(data: Any) -> tuple[Any, ...]:
            messages, kept_turns, kept_rated = restored(data, settings.chat_max_messages, max_history_turns)
            return messages, messages, kept_turns, kept_rated, *example_update(kept_turns, [])

        private = {"api_visibility": "private", "show_progress": "minimal", "concurrency_id": "rsiqa-answer",
                   "concurrency_limit": settings.chat_concurrency}
        quick = {"api_visibility": "private", "show_progress": "hidden"}
        # The question box is locked (in the browser) while an answer is pending; then the conversation is saved.
        locking = {**private, "js": LOCK_JS.replace("LOCKED", "true")}
        asked = [
            question.submit(answer, [question, shown, turns, rated, passages_only], outputs, **locking),
            ask.click(answer, [question, shown, turns, rated, passages_only], outputs, **locking),
            followups.click(ask_choice, [followups, shown, turns, rated, followup_list, passages_only], outputs,
                            **locking),
            example_set.click(ask_choice, [example_set, shown, turns, rated, example_list, passages_only],
                              outputs, **locking),
        ]
        for event in asked:
            event.then(keep, [shown, turns, rated], [saved], js=LOCK_JS.replace("LOCKED", "false"), **quick)
        if votes:
            chatbot.like(vote, [rated], [vote_id, comment_row, comment], **quick)
            send_comment.click(add_comment, [comment, vote_id], [vote_id, comment_row, comment], **quick)
            comment.submit(add_comment, [comment, vote_id], [vote_id, comment_row, comment], **quick)
        new_chat.click(reset, None, outputs, **private).then(keep, [shown, turns, rated], [saved], **quick)
        chatbot.clear(reset, None, outputs, **private).then(keep, [shown, turns, rated], [saved], **quick)
        export.click(None, None, None, js=EXPORT_JS, **quick)
        blocks.load(restore, [saved], [chatbot, shown, turns, rated, example_set, example_list], **quick)
    blocks.queue(max_size=settings.chat_queue_size)
    blocks.state_session_capacity = settings.chat_sessions  # the oldest sessions' state is dropped past this
    return blocks


def restored(data: Any, max_messages: int, max_turns: int) -> tuple[list[Message], list[Message], list[Any]]:
    """The conversation kept in the browser, checked: (messages, turns, rated), or all empty when it is not
    one this page saved (the shapes and limits of :class:`ChatSession`)."""
    empty: tuple[list[Message], list[Message], list[Any]] = ([], [], [])
    if not isinstance(data, dict):
        return empty
    messages, turns, rated = data.get("shown"), data.get("turns"), data.get("rated")
    if not (isinstance(messages, list) and isinstance(turns, list) and isinstance(rated, list)):
        return empty
    def valid(item: Any) -> bool:
        return (isinstance(item, dict) and item.get("role") in ("user", "assistant")
                and isinstance(item.get("content"), str))
    if not all(map(valid, messages)) or not all(map(valid, turns)) or len(rated) != len(messages):
        return empty
    return messages[-max_messages:], turns[-max_turns:], rated[-max_messages:]


def unasked(examples: Sequence[str], turns: list[Message], suggested: Sequence[str]) -> list[str]:
    """The example questions still worth showing: neither asked in ``turns`` nor among the ``suggested``
    follow-ups (compared without case and spacing)."""
    def key(text: str) -> str:
        return " ".join(text.lower().split())
    seen = {key(q) for q in suggested} | {key(t["content"]) for t in turns if t.get("role") == "user"}
    return [q for q in examples if key(q) not in seen]


def rated_messages(rated: list[Any], messages: list[Message], turns: list[Message] | None) -> list[Any]:
    """What a vote on each of ``messages`` rates, after a question added two of them (the question and the
    reply): the earlier entries, None for the question, and for the reply the answer in the new ``turns``
    (None when the reply is a notice: ``turns`` is then None)."""
    reply = None
    if turns and len(turns) >= 2 and turns[-1].get("role") == "assistant":
        reply = {"question": turns[-2]["content"], "answer": turns[-1]["content"],
                 "citations": list(turns[-1].get("citations") or [])}
    return [*rated, None, reply][-len(messages):] if messages else []


def page_examples(ask_fn: AskFn, settings: Settings, limit: int = 4) -> list[str]:
    """The example questions: ``RSIQA_EXAMPLE_QUESTIONS`` when set, else up to ``limit`` questions the
    material itself asks (``ask_fn.material_questions``, when the engine offers them)."""
    if settings.example_questions is not None:
        return list(settings.example_questions)
    questions = getattr(ask_fn, "material_questions", None)
    try:
        return list(questions())[:limit] if callable(questions) else []
    except Exception:  # no index yet: no examples rather than no page
        log.warning("the material's questions could not be read for the examples", exc_info=True)
        return []


def mount_chat(app: FastAPI, ask_fn: AskFn, settings: Settings) -> FastAPI:
    """Serve the chat page at ``/`` of ``app`` (register the app's other routes first)."""
    blocks = build_chat(ask_fn, page_examples(ask_fn, settings), settings.max_question_chars,
                        settings.max_history_turns, settings)
    return mount_blocks(app, blocks)


#: Texts Gradio's page lacks: its screen-reader notice read the key "common.complete" aloud when an event ended
#: (an answer, a refused question, a new conversation: so a word that fits them all).
PAGE_TEXTS = gr.I18n(en={"common.complete": "Done."})


def mount_blocks(app: FastAPI, blocks: gr.Blocks) -> FastAPI:
    """Serve ``blocks`` (from :func:`build_chat`) at ``/`` of ``app``.

    On an app that is already running, Gradio's startup events must then be run by the caller
    (see ``rsiqa.ui.startup.BackgroundChatPage``); on one not started yet, its lifespan runs them.
    """
    return gr.mount_gradio_app(app, blocks, path="/", css=CSS, head=PAGE_JS, footer_links=[], ssr_mode=False,
                               show_error=False, enable_monitoring=False, mcp_server=False,
                               max_file_size="1mb",  # the page takes no uploads: cap Gradio's upload route
                               i18n=PAGE_TEXTS)
