"""The answer object shared by `rsiqa ask --json`, the REST API and the chat page."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from rsiqa.ingest.urls import SafeUrl


class SourceOut(BaseModel):
    """Where a cited passage came from."""

    title: str
    url: SafeUrl = Field(None, description="The source's http(s) URL; null when it has none (or only another scheme)")
    section: str | None = None
    kind: str = Field(description="faq_answer, note, linked_post, comment or document")
    kind_label: str = Field(description="The kind, in words, for readers")
    path: str = Field(description="The corpus file, relative to the corpus folder")
    author: str | None = Field(None, description="Who wrote it, when the material says (e.g. Markdown front matter)")
    date: str | None = Field(None, description="When it was written, as the material gives it")


class Citation(BaseModel):
    """One numbered citation: the passage, its score and its source."""

    n: int = Field(description="Citation number, 1 = best")
    text: str
    score: float
    chunk_id: str
    highlight: str = Field("", description="The sentence of the passage that best matches the question")
    source: SourceOut


class Turn(BaseModel):
    """One earlier message of the conversation."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)
    citations: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=20,
        description="For an assistant turn: the chunk_id of each passage its answer cited, in order. Optional: "
                    "without them a follow-up maps an rsiqa answer back to its passages by its text.")


#: A citation marker in an answer's text: ``[1]`` .. ``[99]``.
_MARKER = re.compile(r"\[(\d{1,2})\]")


def markers_used(text: str) -> set[int]:
    """The citation numbers an answer text uses (its ``[n]`` markers)."""
    return {int(m) for m in _MARKER.findall(text)}


class Answer(BaseModel):
    """The answer to a question: text with [n] markers (quoted, or written and checked), and its citations."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    followups: list[str] = Field(default_factory=list)
    mode: Literal["generated", "extractive"] = Field(
        "extractive", description="generated: written by the model, every sentence checked against the passage it "
                                  "cites; extractive: quoted from the passages")
    unsupported: list[str] = Field(
        default_factory=list, description="Sentences the model wrote that its cited passages do not support (left out)")
    notice: str | None = Field(None, description="Why a written answer was not served, or what was changed, in words")

    def cited(self) -> list[Citation]:
        """The citations the answer text uses (its ``[n]`` markers), in citation order."""
        used = markers_used(self.answer)
        return [c for c in self.citations if c.n in used]


def check_question(value: str) -> str:
    """``value`` when it is a question of plain text, else ``ValueError`` saying what is wrong.

    Blank questions and control characters (NUL, ESC, DEL, C1...; tabs and line breaks are
    fine) are refused, by the REST API and the chat page alike.
    """
    if not value.strip():
        raise ValueError("the question is empty (only white space)")
    for position, char in enumerate(value):
        if char not in "\t\n\r" and unicodedata.category(char) == "Cc":
            raise ValueError(f"the question contains the control character U+{ord(char):04X} at position "
                             f"{position}: send plain text")
    return value
