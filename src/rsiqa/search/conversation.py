"""What a follow-up leans on: the previous question, the previous answer and the passages it cited.

A chat sends its earlier turns with each question. :func:`read_history` keeps what a follow-up
("Why does he think that?", "What else do people disagree about?") needs:

* the previous user question and the previous answer's text (citation markers dropped), also
  whole as what the reader has read already (a follow-up's answer quotes what comes next);
* the chunk ids the previous answer cited: sent by the client with the assistant turn
  (``citations``), or, when it does not send them, found by matching the answer's sentences
  to passages (an rsiqa answer quotes its passages verbatim);
* the person the previous turn was about, for "he", "she" or "they" (a capitalised name in the
  previous question or answer that the corpus also names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rsiqa.ingest.documents import Passage
from rsiqa.ingest.structure import strip_list_marker
from rsiqa.settings import DECLINED  # how every decline starts: nothing a follow-up leans on

_MARKER = re.compile(r"\s*\[\d{1,2}\]")
_SENTENCES = re.compile(r"(?<=[.!?])\s+")
#: Words of the previous answer kept as what was said (an rsiqa answer has at most 120 words and its attributions).
_SAID_WORDS = 400
#: Quoted sentences shorter than this are too common to identify a passage.
_MIN_QUOTE_CHARS = 30
#: The attribution before a quote (rsiqa.search.answer.attribution): "A comment on “…” replies: ", "As quoted before,
#: the FAQ answer says: ", however long the title.
_ATTRIBUTION = re.compile(r"^.{0,300}?\b(?:says|say|argues|replies):\s+")


_EMPHASIS = re.compile(r"(?<![\w*])(\*{1,2}|_{1,2})(?=\S)(.+?)(?<=\S)\1(?![\w*])")


def plain(text: str) -> str:
    """Text without Markdown emphasis marks (``*word*``, ``**word**``): as an answer quotes it."""
    return _EMPHASIS.sub(r"\2", text)


def new_sentences(sentences: list[str], said: str) -> np.ndarray:
    """Which of a passage's ``sentences`` the text ``said`` (a previous answer) does not quote, as a boolean array."""
    quoted = " ".join(said.split())
    return np.array([" ".join(plain(strip_list_marker(s)).split()) not in quoted for s in sentences], dtype=bool)


def read_in_paraphrase(sentences: list[str], cosines: np.ndarray, said: str) -> str:
    """What the reader has read of a passage after a previous answer that paraphrased it (quoting none of its
    ``sentences``): ``said`` and the sentence closest to the previous exchange (``cosines``), which the paraphrase
    told. A follow-up asking for more ("so what could it do instead?", "did anyone disagree?") then leads with what
    comes after it. ``said`` alone when the answer quoted the passage (what it quoted is known) or it has one
    sentence."""
    if len(sentences) < 2 or not new_sentences(sentences, said).all():
        return said
    return f"{said} {sentences[int(np.argmax(cosines))]}".strip()


@dataclass
class Conversation:
    """The part of the history a follow-up is read with."""

    question: str  # the previous user question
    answer: str = ""  # the previous answer, without [n] markers
    cited: list[str] = field(default_factory=list)  # chunk ids the previous answer cited, best first
    said: str = ""  # the previous answer whole (up to _SAID_WORDS): what the reader has read already
    declined: bool = False  # the previous answer declined the previous question

    def context(self, words: int = 40) -> str:
        """The previous question and the start of the previous answer: the text a follow-up is read in."""
        head = " ".join(self.answer.split()[:words])
        return f"{self.question} {head}".strip()


def read_history(history: list[dict[str, Any]], passages: list[Passage] | None = None,
                 max_words: int | None = None) -> Conversation | None:
    """The last exchange of ``history`` (oldest turn first), or None when there is no earlier question.

    ``max_words`` bounds what a request can cost: the previous question and answer are cut to
    that many words each, whatever the client sends.
    """
    users = [i for i, t in enumerate(history) if t.get("role") == "user" and str(t.get("content", "")).strip()]
    if not users:
        return None
    last_user = users[-1]
    answer_turn = next((t for t in history[last_user + 1:] if t.get("role") == "assistant"), None)
    cut = (lambda text: " ".join(text.split()[:max_words])) if max_words else (lambda text: text)  # noqa: E731
    convo = Conversation(question=cut(str(history[last_user]["content"]).strip()))
    convo.declined = answer_turn is not None and str(answer_turn.get("content", "")).startswith(DECLINED)
    if answer_turn is not None and not convo.declined:
        answer = _MARKER.sub("", str(answer_turn.get("content", ""))).strip()
        convo.answer = cut(answer)
        convo.said = " ".join(answer.split()[:_SAID_WORDS])
        cited = answer_turn.get("citations") or []
        convo.cited = [str(c.get("chunk_id") if isinstance(c, dict) else c) for c in cited if c]
        if not convo.cited and passages is not None:
            convo.cited = quoted_passages(convo.answer, passages)
    return convo


def quoted_passages(answer: str, passages: list[Passage]) -> list[str]:
    """Chunk ids of the passages ``answer`` quotes sentences from, in the order it quotes them."""
    found: list[str] = []
    for sentence in _SENTENCES.split(answer):
        quote = sentence.strip().strip('"“”')
        quote = _ATTRIBUTION.sub("", quote, count=1).strip()
        if len(quote) < _MIN_QUOTE_CHARS:
            continue
        quoting = getattr(passages, "quoting", None)  # a served index: a byte search of its passages file
        for passage in (passages[row] for row in quoting(quote)) if quoting else passages:
            if quote in passage.text and passage.chunk_id not in found:
                found.append(passage.chunk_id)
                break
    return found
