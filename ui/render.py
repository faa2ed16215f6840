"""Answers and questions as chat-message HTML, with every piece of corpus or user text escaped.

The chat shows each message as HTML, never as Markdown (``render_markdown=False`` in
:mod:`rsiqa.ui.chat`), so characters such as ``*``, ``_`` or ``![x](...)`` in the corpus are shown
as they are. Each message is also one line of HTML (titles made one line, line breaks in text
as ``<br>``). Text is escaped with :func:`html.escape`; links are made only from http(s) URLs.
"""

from __future__ import annotations

import hashlib
import html
import re

from rsiqa.ingest.documents import CODE_BLOCK
from rsiqa.search.schema import Answer, Citation
from rsiqa.ingest.structure import single_line
from rsiqa.ingest.urls import safe_url
from rsiqa.settings import DECLINED

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


#: Longest preview of a passage shown when the pointer rests on its ``[n]`` marker.
PREVIEW_CHARS = 280


def message_key(answer: Answer) -> str:
    """A short key for the ids of one answer's sources (element ids must not repeat across messages)."""
    text = "\x1f".join([answer.question, answer.answer, *(c.chunk_id for c in answer.citations)])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def source_id(key: str, n: int) -> str:
    """The element id of passage ``n`` of the answer with ``key`` (the target of its ``[n]`` link)."""
    return f"rsiqa-{key}-{n}"


def preview(citation: Citation) -> str:
    """What the ``[n]`` marker shows on hover: the passage's best sentence (or its start), cut short."""
    text = single_line(citation.highlight or citation.text)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1].rstrip() + "…"


def answer_text_html(text: str, citations: list[Citation] | None = None, key: str = "") -> str:
    """The answer text escaped, its ``[n]`` citation markers as superscripts.

    A marker of one of ``citations`` is a link to that passage (``#`` + :func:`source_id`), with a
    preview of the passage as its title: following it opens the passage (a fragment inside a closed
    ``<details>`` opens it in Chromium; the page's script does the same in every browser).
    """
    by_n = {c.n: c for c in citations or []}

    def marker(match: re.Match[str]) -> str:
        citation = by_n.get(int(match.group(1)))
        if citation is None:
            return f'<sup class="rsiqa-ref">[{match.group(1)}]</sup>'
        return (f'<sup class="rsiqa-ref"><a class="rsiqa-ref-link" href="#{source_id(key, citation.n)}" '
                f'title="{html.escape(preview(citation), quote=True)}">[{citation.n}]</a></sup>')

    pieces = CODE_BLOCK.split(text)  # prose, code, prose, ...: a quoted code block is shown as code, its lines as they are
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            # Line breaks as character references: the chat component dedents a message's lines (inspect.cleandoc).
            code = html.escape(piece.rstrip("\n"), quote=True).replace("\n", "&#10;")
            out.append(f'<pre class="rsiqa-code"><code>{code}</code></pre>')
        elif piece.strip():
            out.append(_MARKER.sub(marker, text_html(piece.strip("\n"))))
    return "".join(out)


def source_line_html(citation: Citation) -> str:
    """Number, linked title, kind, section, and author and date when known."""
    source = citation.source
    where = html.escape(single_line(source.kind_label))
    if source.section and source.section not in _PLAIN_SECTIONS and source.section != source.title:
        where += f", {html.escape(single_line(source.section))}"
    by = ", ".join(html.escape(single_line(v)) for v in (source.author, source.date) if v)
    byline = f' <span class="rsiqa-byline">{by}</span>' if by else ""
    return (f'<span class="rsiqa-n">[{citation.n}]</span> {link_html(source.title, source.url)} '
            f'<span class="rsiqa-kind">({where})</span>{byline}')


def citation_html(citation: Citation, key: str = "") -> str:
    """One footnote: its source line and the passage in a ``<details>`` panel (the target of ``[n]``)."""
    target = f' id="{source_id(key, citation.n)}"' if key else ""
    return (
        f'<li class="rsiqa-citation">{source_line_html(citation)}'
        f'<details class="rsiqa-passage"><summary>Passage</summary>'
        f"<blockquote{target}>{marked_passage_html(citation.text, citation.highlight)}</blockquote></details></li>"
    )


def answer_markdown(answer: Answer) -> str:
    """The answer as Markdown to copy: its text with ``[^n]`` footnote markers, then one footnote per cited
    source (linked title, kind, section, author, date, and the sentence that matched)."""
    if answer.abstained:
        return answer.answer
    cited = answer.cited()
    text = _MARKER.sub(lambda m: f"[^{m.group(1)}]" if int(m.group(1)) in {c.n for c in cited} else m.group(0),
                       answer.answer)
    notes = []
    for c in cited:
        source = c.source
        title = single_line(source.title).replace("[", "\\[").replace("]", "\\]")
        href = safe_url(source.url)
        about = [single_line(source.kind_label)]
        if source.section and source.section not in _PLAIN_SECTIONS and source.section != source.title:
            about.append(single_line(source.section))
        about += [single_line(v) for v in (source.author, source.date) if v]
        quote = f' "{single_line(c.highlight)}"' if c.highlight else ""
        notes.append(f"[^{c.n}]: {f'[{title}](<{href}>)' if href else title} ({', '.join(about)}).{quote}")
    return text + ("\n\n" + "\n".join(notes) if notes else "")


def copy_html(answer: Answer) -> str:
    """A Copy button and, hidden, what it copies (:func:`answer_markdown`; the page's script does the copying).

    The Markdown is escaped text; its line breaks are ``&#10;`` so that the message stays one line of HTML.
    """
    payload = html.escape(answer_markdown(answer), quote=True).replace("\r", "").replace("\n", "&#10;")
    return (f'<p class="rsiqa-actions"><button type="button" class="rsiqa-copy" '
            f'title="Copy the answer and its sources as Markdown">Copy</button></p>'
            f'<pre class="rsiqa-copy-text">{payload}</pre>')


def answer_html(answer: Answer) -> str:
    """The assistant message for ``answer``: the text, the sources it cites, the other passages, or a decline.

    "Sources" lists the passages whose ``[n]`` the answer uses, under those numbers; the other
    retrieved passages sit under a collapsed "More passages". An answer that uses no marker lists
    every passage as a source.
    """
    if answer.abstained:  # "The material does not cover that." in bold, once (every decline opens with it)
        head, rest = ((DECLINED, answer.answer[len(DECLINED):]) if answer.answer.startswith(DECLINED)
                      else (f"{NOT_COVERED_TITLE}.", f" {answer.answer}"))
        return (f'<div class="rsiqa-answer rsiqa-abstained"><p><strong>{text_html(head)}</strong>'
                f"{text_html(rest)}</p>{copy_html(answer)}</div>")
    key = message_key(answer)
    cited = answer.cited() or answer.citations
    others = [c for c in answer.citations if c not in cited]
    notes = "".join(citation_html(c, key) for c in cited)
    more = ""
    if others:
        items = "".join(citation_html(c, key) for c in others)
        more = (f'<details class="rsiqa-more"><summary>More passages ({len(others)})</summary>'
                f'<ol class="rsiqa-citations">{items}</ol></details>')
    return (f'<div class="rsiqa-answer"><div class="rsiqa-answer-text">{answer_text_html(answer.answer, cited, key)}</div>'
            f'{checked_html(answer)}'
            f'<p class="rsiqa-sources-label">Sources</p><ol class="rsiqa-citations">{notes}</ol>{more}'
            f"{copy_html(answer)}</div>")


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
    return f'<div class="rsiqa-answer rsiqa-streaming"><div class="rsiqa-answer-text">{answer_text_html(text) or "…"}</div></div>'


def question_html(question: str) -> str:
    """The user message: the question as text."""
    return f'<div class="rsiqa-question">{text_html(question)}</div>'


def notice_html(message: str) -> str:
    """A short notice from the page itself (e.g. a question that is too long)."""
    return f'<div class="rsiqa-notice">{text_html(message)}</div>'
