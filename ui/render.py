"""Answers and questions as chat-message HTML, with every piece of corpus or user text escaped.

The chat shows each message as HTML, never as Markdown (``render_markdown=False`` in
:mod:`rsiqa.ui.chat`), so characters such as ``*``, ``_`` or ``![x](...)`` in the corpus are shown
as they are. Each message is also one line of HTML (titles made one line, line breaks in text
as ``<br>``). Text is escaped with :func:`html.escape`; links are made only from http(s) URLs.
"""

from __future__ import annotations

import html
import re

from rsiqa.schema import Answer, Citation
from rsiqa.structure import single_line
from rsiqa.urls import safe_url

#: Sections that only repeat the kind of a passage ("excerpt of a linked post", "comment ...").
_PLAIN_SECTIONS = {"Excerpt", "Comments"}
_MARKER = re.compile(r"\[(\d{1,2})\]")

NOT_COVERED_TITLE = "Not covered by the material"


def text_html(text: str) -> str:
    """``text`` as HTML text: escaped, line breaks kept as ``<br>``."""
    return html.escape(text.replace("\r\n", "\n").replace("\r", "\n"), quote=True).replace("\n", "<br>")


def link_html(label: str, url: str | None) -> str:
    """An escaped link to ``url`` opening in a new tab, or the escaped label alone when the URL is unsafe."""
    href = safe_url(url)
    label = single_line(label)
    if href is None:
        return f'<span class="rsiqa-title">{html.escape(label)}</span>'
    return (f'<a class="rsiqa-title" href="{html.escape(href, quote=True)}" target="_blank" '
            f'rel="noopener noreferrer nofollow">{html.escape(label)}</a>')


def marked_passage_html(text: str, highlight: str) -> str:
    """The passage as HTML text with its ``highlight`` sentence wrapped in ``<mark>``."""
    start = text.find(highlight) if highlight else -1
    if start < 0 and highlight:
        start = text.lower().find(highlight.lower())
    if start < 0:
        return text_html(text)
    end = start + len(highlight)
    return f"{text_html(text[:start])}<mark>{text_html(text[start:end])}</mark>{text_html(text[end:])}"


def answer_text_html(text: str) -> str:
    """The answer text escaped, its ``[n]`` citation markers as superscripts."""
    return _MARKER.sub(r'<sup class="rsiqa-ref">[\1]</sup>', text_html(text))


def citation_html(citation: Citation) -> str:
    """One footnote: number, linked title, kind (and section), and the passage in a ``<details>`` panel."""
    source = citation.source
    where = html.escape(single_line(source.kind_label))
    if source.section and source.section not in _PLAIN_SECTIONS:
        where += f", {html.escape(single_line(source.section))}"
    return (
        f'<li class="rsiqa-citation" data-n="{citation.n}">'
        f'<span class="rsiqa-n">[{citation.n}]</span> {link_html(source.title, source.url)} '
        f'<span class="rsiqa-kind">({where})</span>'
        f'<details class="rsiqa-passage"><summary>Passage</summary>'
        f"<blockquote>{marked_passage_html(citation.text, citation.highlight)}</blockquote></details></li>"
    )


def answer_html(answer: Answer) -> str:
    """The assistant message for ``answer``: the text and its numbered footnotes, or a clear decline."""
    if answer.abstained:
        return (f'<div class="rsiqa-answer rsiqa-abstained"><p><strong>{NOT_COVERED_TITLE}.</strong> '
                f"{text_html(answer.answer)}</p></div>")
    notes = "".join(citation_html(c) for c in answer.citations)
    return (f'<div class="rsiqa-answer"><p>{answer_text_html(answer.answer)}</p>{checked_html(answer)}'
            f'<p class="rsiqa-sources-label">Sources</p><ol class="rsiqa-citations">{notes}</ol></div>')


def checked_html(answer: Answer) -> str:
    """What the check of a written answer did: its notice, and the sentences left out under a collapsed note."""
    parts = []
    if answer.notice:
        parts.append(f'<p class="rsiqa-notice rsiqa-model-notice">Note: {text_html(answer.notice)}</p>')
    if answer.unsupported:
        items = "".join(f"<li>{text_html(s)}</li>" for s in answer.unsupported)
        parts.append(f'<details class="rsiqa-unsupported"><summary>Not supported by the sources '
                     f"({len(answer.unsupported)})</summary><ul>{items}</ul></details>")
    return "".join(parts)


def streaming_html(text: str) -> str:
    """The answer as the model writes it, before the check."""
    return f'<div class="rsiqa-answer rsiqa-streaming"><p>{answer_text_html(text) or "…"}</p></div>'


def question_html(question: str) -> str:
    """The user message: the question as text."""
    return f'<div class="rsiqa-question">{text_html(question)}</div>'


def notice_html(message: str) -> str:
    """A short notice from the page itself (e.g. a question that is too long)."""
    return f'<div class="rsiqa-notice">{text_html(message)}</div>'
