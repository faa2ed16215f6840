"""Main content of an HTML page as sections of paragraphs and verbatim code.

What is left out (page furniture, whatever the site's theme calls it):

* ``<script>``, ``<style>``, ``<nav>``, ``<footer>``, forms, ``<svg>`` and the like;
* elements marked as furniture by their role (``role="navigation"``, ``search``, ``banner``,
  ``contentinfo``, ``complementary``) or their class (``footer``, ``sphinxsidebar``,
  ``related``, ``breadcrumb``, ``headerlink``, a local table of contents...);
* permalink anchors whose text is only a mark ("¶", "#", "§", "🔗");
* lists and tables made almost only of links (a menu or an index, not prose).

What is kept, read from ``role="main"``, ``<main>``, ``<article>`` or Sphinx's ``div.body``
when the page has one (else ``<body>``):

* each heading (h1-h6) starts a section named after it; the section's anchor is the
  heading's ``id``, its enclosing ``<section id>``, or an empty anchor (``<span id>``) just
  before it;
* text of a block element as one paragraph, its inline parts joined as the page shows them
  (``operator.lt(a, b)``, not ``operator. lt ( a , b )``); list items start with "- ";
  table rows join their cells with " | ";
* ``<pre>`` as a fenced code paragraph, character for character (see :func:`rsiqa.ingest.documents.fence_code`).

Small sections are merged with the ones that follow until they reach a passage's size
(:func:`merge_small_sections`): a heading is then a line of the merged text, and the merged
block remembers where each section starts, so that a passage cut from it is named and linked
after the section that gives it most words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rsiqa.ingest.documents import Block, Source, fence_code
from rsiqa.ingest.structure import single_line

_DROP_TAGS = ["script", "style", "noscript", "template", "nav", "footer", "svg", "iframe", "object", "form",
              "button", "input", "select", "textarea", "head", "canvas", "audio", "video", "map"]
_DROP_ROLES = {"navigation", "search", "banner", "contentinfo", "complementary", "menu", "menubar", "toolbar"}
_DROP_CLASSES = {
    "footer", "sphinxsidebar", "sphinxsidebarwrapper", "related", "headerlink", "breadcrumb",
    "breadcrumbs", "mobile-nav", "menu-wrapper", "toctree-wrapper", "navbar", "nav", "navigation", "skip-link",
    "copybutton", "edit-this-page", "prev-next-area", "site-footer", "site-header", "toc", "contents",
}
_PERMALINK_MARKS = {"¶", "#", "§", "🔗", "link", "permalink"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
#: Elements that start a new paragraph; anything else is inline.
_BLOCKS = set(_HEADINGS) | {
    "p", "li", "blockquote", "pre", "div", "td", "th", "dd", "dt", "dl", "section", "article", "main", "body",
    "figcaption", "caption", "address", "header", "aside", "table", "thead", "tbody", "tfoot", "tr", "ul", "ol",
    "details", "summary", "figure", "hr", "br_block", "center", "fieldset", "legend",
}
#: Title suffix separators: "Page — Site", "Page | Site", "Page - Site".
_TITLE_SEPARATORS = (" — ", " – ", " | ", " · ", " - ")


@dataclass
class Section:
    """One heading's text: its level, name, anchor and paragraphs (code paragraphs fenced)."""

    level: int
    name: str | None
    anchor: str | None
    paragraphs: list[str] = field(default_factory=list)
    #: False for a name the reader did not write ("page 3"): it is not added to merged text.
    written: bool = True
    #: For a merged section, the sections merged in after the first: (index of the paragraph it starts at, section).
    parts: list[tuple[int, Section]] = field(default_factory=list)


def fence(code: str) -> str:
    """``code`` as a fenced paragraph (its lines unchanged; blank lines at either end dropped)."""
    lines = code.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return fence_code(lines)


def _classes(tag) -> set[str]:
    value = tag.get("class") or []
    return {value} if isinstance(value, str) else set(value)


def _is_furniture(tag) -> bool:
    if tag.name in _DROP_TAGS:
        return True
    attrs = getattr(tag, "attrs", None) or {}
    role = str(attrs.get("role") or "").strip().lower()
    if role in _DROP_ROLES:
        return True
    if "hidden" in attrs or str(attrs.get("aria-hidden") or "").lower() == "true":
        return True
    if re.search(r"display\s*:\s*none", str(attrs.get("style") or "")):
        return True
    if _classes(tag) & _DROP_CLASSES:
        return True
    if tag.name == "a" and tag.get_text(strip=True).lower() in _PERMALINK_MARKS:
        return True
    return False


def _link_dense(tag) -> bool:
    """A list or table of at least three items whose text is almost all link text: a menu or an index."""
    items = tag.find_all(["li", "tr", "dt"], recursive=True)
    if len(items) < 3:
        return False
    text = len(" ".join(tag.get_text(" ").split()))
    links = sum(len(" ".join(a.get_text(" ").split())) for a in tag.find_all("a"))
    return text > 0 and links / text >= 0.8


def strip_furniture(soup) -> None:
    """Remove page furniture from ``soup`` in place (see the module docstring); each element is visited once."""
    from bs4 import Comment, Tag

    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()

    def prune(tag) -> None:
        for child in list(tag.children):
            if not isinstance(child, Tag):
                continue
            if _is_furniture(child) or (child.name in ("ul", "ol", "table", "dl") and _link_dense(child)):
                child.decompose()
            else:
                prune(child)

    prune(soup)


def main_element(soup):
    """The element holding the page's main content: role=main, <main>, <article>, Sphinx's div.body, or <body>."""
    for finder in (
        lambda: soup.find(attrs={"role": "main"}),
        lambda: soup.find("main"),
        lambda: soup.find("article") if len(soup.find_all("article")) == 1 else None,
        lambda: soup.find("div", class_="body"),
        lambda: soup.find(id="content"),
        lambda: soup.body,
    ):
        found = finder()
        if found is not None:
            return found
    return soup


def _inline_text(tag) -> str:
    """The text of an inline run as shown: pieces joined without added spaces, white space folded."""
    from bs4 import NavigableString

    if isinstance(tag, NavigableString):
        return str(tag)
    parts: list[str] = []
    for node in tag.descendants:
        if isinstance(node, NavigableString):
            parts.append(str(node))
        elif node.name == "br":
            parts.append(" ")
    return "".join(parts)


def _anchor(heading) -> str | None:
    """The fragment a link to this heading uses: its id, its section's, or an empty anchor's before it."""
    if heading.get("id"):
        return str(heading["id"])
    parent = heading.parent
    if parent is not None and parent.name in ("section", "div", "article") and parent.get("id"):
        first = parent.find(list(_HEADINGS))
        if first is heading:
            return str(parent["id"])
    previous = heading.find_previous_sibling()
    if previous is not None and previous.name in ("span", "a") and previous.get("id") and not previous.get_text(strip=True):
        return str(previous["id"])
    return None


class _Walker:
    """Walks the main element in page order, collecting sections."""

    def __init__(self) -> None:
        self.sections: list[Section] = [Section(level=0, name=None, anchor=None)]
        self._pending_item = False  # the next paragraph starts a list item

    def _add(self, text: str) -> None:
        text = single_line(text)
        if not text:
            return
        if self._pending_item:
            text = f"- {text}"
            self._pending_item = False
        self.sections[-1].paragraphs.append(text)

    def walk(self, tag) -> None:
        from bs4 import NavigableString

        buffer: list[str] = []

        def flush() -> None:
            if buffer:
                self._add("".join(buffer))
                buffer.clear()

        for child in tag.children:
            if isinstance(child, NavigableString):
                buffer.append(str(child))
                continue
            name = child.name
            if name == "br":
                buffer.append(" ")
            elif name in _HEADINGS:
                flush()
                self._pending_item = False
                text = single_line(_inline_text(child))
                if text:
                    self.sections.append(Section(level=_HEADINGS[name], name=text, anchor=_anchor(child)))
            elif name == "pre":
                flush()
                code = child.get_text()
                if code.strip():
                    self._pending_item = False
                    self.sections[-1].paragraphs.append(fence(code))
            elif name == "tr":
                flush()
                cells = [single_line(_inline_text(cell)) for cell in child.find_all(["td", "th"], recursive=False)]
                self._add(" | ".join(c for c in cells if c))
            elif name == "li":
                flush()
                self._pending_item = True
                self.walk(child)
                self._pending_item = False
            elif name in _BLOCKS or child.find(list(_BLOCKS)) is not None:
                flush()
                self.walk(child)
            else:
                buffer.append(_inline_text(child))
        flush()


def page_sections(main) -> list[Section]:
    """The sections of a page's main element, in page order (a first one without heading when text precedes any)."""
    walker = _Walker()
    walker.walk(main)
    return [s for s in walker.sections if s.paragraphs or s.name]


def clean_title(title: str, h1: str | None, site_name: str | None) -> str:
    """``title`` without its site-name suffix ("4. More Control Flow Tools — Python 3.11.2 documentation").

    The suffix goes when the part before it is the page's first heading, when it is the
    site's name (``og:site_name``), or when it names documentation.
    """
    title = single_line(title)
    for separator in _TITLE_SEPARATORS:
        if separator not in title:
            continue
        head, tail = title.rsplit(separator, 1)
        if not head.strip():
            continue
        if (h1 and single_line(h1).rstrip("¶ ").lower() == head.strip().lower()) \
                or (site_name and single_line(site_name).lower() == tail.strip().lower()) \
                or re.search(r"\b(documentation|docs|manual|wiki)\b", tail, re.I):
            return head.strip()
    return title


def section_words(section: Section) -> int:
    return sum(len(p.split()) for p in section.paragraphs)


def merge_small_sections(sections: list[Section], min_words: int) -> list[Section]:
    """Merge each section under ``min_words`` with those that follow until it has them.

    The headings of the sections merged in become lines of the text (so a heading is context,
    never a passage by itself), and ``parts`` records where each of them starts (the heading
    line, when it is one). Small sections followed by one that is not small join the section
    before them instead, when there is one, as does a small last section: a section long enough
    on its own starts its own passages at its heading, rather than after the end of another
    section ("Yes. The coding style ... is documented as PEP 8." before "Why am I getting an
    UnboundLocalError ...?").
    """
    merged: list[Section] = []

    def join(target: Section, section: Section) -> None:
        start = len(target.paragraphs)
        if section.name and section.written:
            target.paragraphs.append(section.name)
        target.paragraphs.extend(section.paragraphs)
        target.parts.append((start, section))

    def join_back() -> None:
        """The last merged section (small) joins the one before it, with the sections merged into it."""
        last = merged.pop()
        offset = len(merged[-1].paragraphs) + int(bool(last.name and last.written))  # where its paragraphs go
        join(merged[-1], last)
        merged[-1].parts += [(offset + start, part) for start, part in last.parts]

    for section in sections:
        if merged and section_words(merged[-1]) < min_words:
            if len(merged) == 1 or section_words(section) < min_words:
                join(merged[-1], section)
                continue
            join_back()  # a long section starts its own passages: the small ones before it join the one before
        merged.append(Section(section.level, section.name, section.anchor, list(section.paragraphs), section.written))
    if len(merged) > 1 and section_words(merged[-1]) < min_words:
        join_back()
    bare = {s.name for s in sections if s.name and s.written and not s.paragraphs}
    for section in merged:  # a heading with nothing after it, at the end of a section, is not text
        while len(section.paragraphs) > 1 and section.paragraphs[-1] in bare:
            section.paragraphs.pop()
        section.parts = [(start, part) for start, part in section.parts if start < len(section.paragraphs)]
    return [s for s in merged if s.paragraphs]


def section_block(section: Section, source: Callable[[Section], Source]) -> Block:
    """A section as a block: ``source(section)``, its paragraphs, and the sections merged into it, each with
    its own source (see :class:`rsiqa.ingest.documents.Block`)."""
    return Block(source=source(section), paragraphs=list(section.paragraphs),
                 parts=[(start, source(part), bool(part.name and part.written)) for start, part in section.parts])


def sections_to_blocks(sections: list[Section], title: str, path: str, url: str | None) -> list[Block]:
    """One block per section (:func:`section_block`); its URL is the page's (``url`` or ``path``) with ``#anchor``."""
    base = url or path

    def source(section: Section) -> Source:
        name = section.name
        if name is not None and section.level <= 1 and single_line(name).lower() == title.lower():
            name = None  # the page's own heading: the title says it already
        link = f"{base.split('#', 1)[0]}#{section.anchor}" if section.anchor else base
        return Source(title=title, path=path, kind="document", section=name, url=link if url or section.anchor else url)

    return [section_block(section, source) for section in sections]
