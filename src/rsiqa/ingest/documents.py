"""The records that flow through the pipeline: where text came from, blocks of text and passages."""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: What kind of text a passage is. Labels are shown to readers.
KIND_LABELS: dict[str, str] = {
    "faq_answer": "FAQ answer",
    "note": "scratchpad note",
    "linked_post": "excerpt of a linked post",
    "comment": "comment on a linked post",
    "document": "document",
}

#: How a Block holds code (HTML ``<pre>``, Markdown fences): one paragraph, "```" line, the code verbatim, "```" line.
CODE_FENCE = "```"


def fence_code(lines: list[str]) -> str:
    """Code lines as one fenced paragraph (each line's trailing white space dropped, nothing else changed)."""
    return f"{CODE_FENCE}\n" + "\n".join(line.rstrip() for line in lines) + f"\n{CODE_FENCE}"


#: A fenced code paragraph (:func:`fence_code`) inside a longer text (a passage, an answer); group 1 is the code
#: with its final line break.
CODE_BLOCK = re.compile(rf"(?m)^{CODE_FENCE}\n((?:.*\n)*?){CODE_FENCE}$")


def is_code(paragraph: str) -> bool:
    """True for a fenced code paragraph (:func:`fence_code`)."""
    return paragraph.startswith(f"{CODE_FENCE}\n") and paragraph.endswith(f"\n{CODE_FENCE}")


@dataclass(frozen=True)
class Source:
    """Where a passage came from: document path, readable title, URL, section and kind."""

    title: str
    path: str
    kind: str = "document"
    section: str | None = None
    url: str | None = None
    author: str | None = None  # from Markdown front matter, when given
    date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class Block:
    """Consecutive paragraphs that share one source; chunks never cross a block boundary.

    A block merged from several small sections (see :func:`rsiqa.ingest.html.merge_small_sections`)
    lists in ``parts`` where each later section starts: the index of its first paragraph, its
    source, and whether that paragraph is its heading line. ``source`` is the first section's.
    A passage takes the source of the section that gives it most words.
    """

    source: Source
    paragraphs: list[str] = field(default_factory=list)
    parts: list[tuple[int, Source, bool]] = field(default_factory=list)

    def part_of(self, paragraph: int) -> int:
        """The section paragraph number ``paragraph`` belongs to: 0 for the first, ``i + 1`` for ``parts[i]``."""
        return bisect.bisect_right([start for start, _, _ in self.parts], paragraph)

    def part_source(self, part: int) -> Source:
        """The source of section ``part`` (see :meth:`part_of`)."""
        return self.source if part == 0 else self.parts[part - 1][1]

    def headings(self) -> set[int]:
        """The indices of the paragraphs that are a merged section's heading line."""
        return {start for start, _, heading in self.parts if heading}


@dataclass
class LoadedDocument:
    """What a loader returns for one file: its blocks and any questions it poses (for follow-ups)."""

    path: str
    title: str
    blocks: list[Block]
    questions: list[str] = field(default_factory=list)


@dataclass
class Passage:
    """One citable chunk of text with its source."""

    text: str
    source: Source

    @property
    def chunk_id(self) -> str:
        """A stable id: the same text from the same place keeps its id across rebuilds."""
        key = "\x1f".join([self.source.path, self.source.section or "", self.text])
        return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"chunk_id": self.chunk_id, "text": self.text, "source": self.source.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Passage:
        """Inverse of :meth:`to_dict`."""
        return cls(text=data["text"], source=Source(**data["source"]))


def passage_context(passage: Passage) -> str:
    """The text a passage is embedded and keyword-indexed as: its title and section, then its text."""
    source = passage.source
    head = source.title if not source.section or source.section in ("Excerpt", "Comments") else f"{source.title} - {source.section}"
    return f"{head}.\n{passage.text}"
