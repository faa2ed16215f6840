"""Turn plain text or Markdown into source-tagged blocks.

The default corpus is an FAQ export whose layout carries meaning, and the same rules apply to
any text a user adds:

* The text before any marker is the main text: the *FAQ answer* when the file has FAQ
  sections (``Related``, ``Alternative phrasings``, ``Scratchpad``), else a *document*.
* ``Related`` and ``Alternative phrasings`` hold questions (kept for follow-up suggestions,
  not indexed); other paragraphs and list items there (e.g. a footnote) stay with the main text.
* ``Scratchpad`` starts *notes*.
* A line that is only a URL opens the excerpt of that linked post (title from its slug), and
  a line ``comments:`` starts the comments on it, and a Markdown heading ends it. A URL line
  that continues a paragraph ending in ``:`` is a link quoted inside the text, not a new post.
  (Text and Markdown only: in HTML and PDF a bare URL is text.)
* Markdown ``#`` headings, and short unpunctuated lines, name the section that follows; a
  short line is also kept as text, so nothing is dropped.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

from rsiqa.documents import Block, LoadedDocument, Source

_URL_LINE = re.compile(r"^\s*<?(https?://\S+?)>?\s*$")
#: A list item's marker: "- ", "* ", "• ", "+ " or "3. ".
LIST_ITEM = re.compile(r"^\s*([-*•+]|\d+\.)\s+")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_QUESTION_SECTIONS = {"related", "alternative phrasings"}
_NOTE_SECTIONS = {"scratchpad"}
_FAQ_MARKERS = _QUESTION_SECTIONS | _NOTE_SECTIONS
_LIST_ICON = re.compile(r"^[-*•]\s+(?:[^\w\s\"'“(]+\s+|[A-Z]\s+(?=[A-Z]))?")


def strip_list_marker(text: str) -> str:
    """The text of a list item without its marker ("- Chollet ..." -> "Chollet ...")."""
    return LIST_ITEM.sub("", text).strip()


def title_from_slug(url: str) -> str:
    """A readable title from a URL's last path segment: ``.../why-all-the-fuss`` -> ``Why all the fuss``."""
    segments = [s for s in urlparse(url).path.split("/") if s]
    slug = segments[-1] if segments else urlparse(url).netloc
    words = re.sub(r"[-_]+", " ", re.sub(r"\.\w+$", "", slug)).strip()
    return (words[:1].upper() + words[1:]) if words else url


def single_line(text: str) -> str:
    """``text`` with every run of white space (line breaks included) made one space: titles are one line."""
    return " ".join(text.split())


def title_from_filename(name: str) -> str:
    """A readable title from a file name: ``my-notes_v2.md`` -> ``My notes v2``."""
    stem = re.sub(r"\.[^.]+$", "", name)
    words = single_line(re.sub(r"[-_]+", " ", stem))
    return (words[:1].upper() + words[1:]) if words else single_line(name) or name


def _paragraphs(text: str) -> list[str]:
    """Split on blank lines; keep list items and headings as their own paragraphs."""
    paras: list[str] = []
    for raw in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [ln.rstrip() for ln in raw.split("\n") if ln.strip()]
        current: list[str] = []
        for line in lines:
            if LIST_ITEM.match(line) or _MD_HEADING.match(line) or _URL_LINE.match(line):
                if current:
                    paras.append(" ".join(current))
                current = [line.strip()]
                if _MD_HEADING.match(line) or _URL_LINE.match(line):
                    paras.append(current[0])
                    current = []
            else:
                current.append(line.strip())
        if current:
            paras.append(" ".join(current))
    return [p for p in paras if p]


def _is_short_heading(para: str) -> bool:
    """A short line with no closing punctuation that reads like a heading."""
    words = para.split()
    return (
        0 < len(words) <= 12
        and not re.search(r"[.!?:;,\"'”)…]$", para)
        and not LIST_ITEM.match(para)
        and not _URL_LINE.match(para)
    )


def _is_question(item: str) -> bool:
    """A list item that reads as a question (possibly cut short: "... creati...")."""
    return item.rstrip().endswith(("?", "...", "…"))


def parse_text(text: str, path: str, title: str, linked_posts: bool = True) -> LoadedDocument:
    """Parse text or Markdown into blocks with sources, following the rules in the module docstring.

    ``linked_posts=False`` (HTML, PDF) treats a URL on its own line as text, not as a new post.
    """
    paras = _paragraphs(text)
    lowered = {p.strip().lower().rstrip(":") for p in paras}
    main_kind = "faq_answer" if lowered & _FAQ_MARKERS else "document"

    blocks: list[Block] = []
    questions: list[str] = []
    main = Source(title=title, path=path, kind=main_kind)
    current = Block(source=main)
    post: Source | None = None
    in_questions = False

    def start(source: Source) -> None:
        nonlocal current
        if current.paragraphs:
            blocks.append(current)
        current = Block(source=source)

    for para in paras:
        key = para.strip().lower().rstrip(":")
        url = _URL_LINE.match(para) if linked_posts else None
        heading = _MD_HEADING.match(para)
        if url:
            previous = current.paragraphs[-1] if current.paragraphs else ""
            if previous.endswith(":"):
                current.paragraphs[-1] = f"{previous} {url.group(1)}"
                continue
            post = Source(title=title_from_slug(url.group(1)), path=path, kind="linked_post",
                          url=url.group(1), section="Excerpt")
            in_questions = False
            start(post)
        elif para.strip().lower() == "comments:" and post is not None:
            post = Source(title=post.title, path=path, kind="comment", url=post.url, section="Comments")
            start(post)
        elif post is None and key in _QUESTION_SECTIONS:
            in_questions = True
        elif post is None and key in _NOTE_SECTIONS:
            in_questions = False
            start(Source(title=title, path=path, kind="note", section=para.strip()))
        elif in_questions and re.match(r"^[-*•]\s", para) and _is_question(para):
            questions.append(_LIST_ICON.sub("", para).strip())
        elif heading or (_is_short_heading(para) and current.source.kind != "comment"):
            name = heading.group(2) if heading else para.strip()
            if heading:
                post = None  # a Markdown heading ends a linked post's excerpt
            base = current.source if not (in_questions or heading) else main
            start(Source(title=base.title, path=path, kind=base.kind, url=base.url, section=name))
            if not heading:
                current.paragraphs.append(para.strip())
        else:
            if in_questions and current.source.kind not in (main_kind,):
                start(main)
            current.paragraphs.append(para.strip())
    if current.paragraphs:
        blocks.append(current)
    if main_kind == "faq_answer" and not questions and not any(b.source.kind == "note" for b in blocks):
        for block in blocks:  # a lone "Related" line does not make a file an FAQ
            if block.source.kind == "faq_answer":
                block.source = Source(**{**block.source.to_dict(), "kind": "document"})
    return LoadedDocument(path=path, title=title, blocks=blocks, questions=questions)
