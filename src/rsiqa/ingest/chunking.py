"""Sentence-aware chunking: passages of whole sentences, about ``min_words``..``max_words`` long."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rsiqa.ingest.documents import Block, Passage, fence_code, is_code
from rsiqa.ingest.structure import LIST_ITEM

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets/emphasis, which stay
# with it) before white space and an opening character. Common abbreviations are protected first.
_ABBREVIATIONS = re.compile(r"\b((?i:e\.g|i\.e|etc|vs|cf|al)|Mr|Mrs|Ms|Dr|Prof|St|Fig|No(?=\.\s*\d))\.")
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"'”’)\]*]*(\s+)(?=[\"'“‘(\[*]?[A-Z0-9])")
_PLACEHOLDER = "\u2063"  # invisible separator, never present in real text
#: The number of a numbered list item at the start of a line ("1. Make itself faster ..."): part of its sentence.
_ENUMERATOR = re.compile(r"^\s*\d{1,3}\.(?=\s)")
#: A footnote attached at ingest (see :func:`rsiqa.ingest.structure.attach_footnotes`), one level of brackets inside.
_FOOTNOTE = re.compile(r"\s+\(Footnote: (?:[^()]|\([^()]*\))*\)")


def sentence_spans(line: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` offsets of the sentences of one line of text, white space excluded."""
    protect = lambda m: m.group(0).replace(".", _PLACEHOLDER)  # noqa: E731
    protected = _ENUMERATOR.sub(protect, _ABBREVIATIONS.sub(protect, line))
    cuts = [0] + [i for m in _BOUNDARY.finditer(protected) for i in m.span(1)] + [len(line)]
    spans = []
    for start, end in zip(cuts[::2], cuts[1::2]):
        piece = line[start:end]
        if piece.strip():
            start += len(piece) - len(piece.lstrip())
            spans.append((start, start + len(piece.strip())))
    return spans


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences without breaking abbreviations like "e.g." or "i.e.".

    A `` (Footnote: ...)`` stays with the sentence before it, as one sentence.
    """
    sentences: list[str] = []
    for line in paragraph.strip().split("\n"):
        line = line.strip()
        notes: list[tuple[int, str]] = []  # (offset in the text without footnotes, footnote)
        text, last = "", 0
        for match in _FOOTNOTE.finditer(line):
            text += line[last : match.start()]
            notes.append((len(text), match.group(0).strip()))
            last = match.end()
        text += line[last:]
        spans = sentence_spans(text)
        pieces = [text[start:end] for start, end in spans]
        for offset, note in notes:
            at = max([i for i, (start, _) in enumerate(spans) if start < offset] or [0])
            if pieces:
                pieces[at] = f"{pieces[at]} {note}"
            else:
                pieces = [note]
        sentences += pieces
    return sentences


def _word_count(text: str) -> int:
    return len(text.split())


def _split_overlong(sentence: str, hard_max: int) -> list[str]:
    """Cut a single sentence longer than ``hard_max`` words at word boundaries (run-on text only)."""
    words = sentence.split()
    if len(words) <= hard_max:
        return [sentence]
    return [" ".join(words[i : i + hard_max]) for i in range(0, len(words), hard_max)]


#: A passage shorter than this is never closed early just to keep the next paragraph whole.
_ORPHAN_WORDS = 20


def _group_lists(paragraphs: list[str]) -> list[str]:
    """Join a lead-in paragraph ending in ':' with the list items that follow it, so they stay together."""
    grouped: list[str] = []
    for paragraph in paragraphs:
        if grouped and LIST_ITEM.match(paragraph) and (grouped[-1].endswith(":") or LIST_ITEM.match(grouped[-1].split("\n")[-1])):
            grouped[-1] = f"{grouped[-1]}\n{paragraph}"
        else:
            grouped.append(paragraph)
    return grouped


def chunk_block(block: Block, min_words: int = 40, max_words: int = 120, hard_max: int = 250) -> list[Passage]:
    """Pack a block's sentences into passages.

    A passage closes at a paragraph end once it has ``min_words``, before a paragraph that
    would not fit whole, or before a sentence that would take it past ``max_words``. A sentence is never cut, unless it alone exceeds
    ``hard_max`` words. A short tail joins the previous passage when that stays within
    ``max_words``.
    """
    chunks: list[list[str]] = []
    current: list[str] = []
    count = 0
    for paragraph in _group_lists(block.paragraphs):
        if current and count >= _ORPHAN_WORDS and count + _word_count(paragraph) > max_words:
            chunks.append(current)  # start the paragraph afresh rather than cut it
            current, count = [], 0
        if is_code(paragraph):  # verbatim, never split into sentences; cut only at line ends
            lines = paragraph.split("\n")[1:-1]
            total = count + sum(_word_count(line) for line in lines)
            parts = -(-total // max_words)  # passages it needs; they share the code evenly
            target = max(total / max(parts, 1), 1)
            held: list[str] = []
            rest = total - count  # words of code from this line on
            for line in lines:
                n = _word_count(line)
                # cut before a line past the share, unless all that is left fits in this passage
                if (held or current) and count + n > (target if parts > 1 else max_words) and count + rest > max_words:
                    if held:
                        current.append(fence_code(held) + "\n")
                    chunks.append(current)
                    current, count, held = [], 0, []
                held.append(line)
                count += n
                rest -= n
            if held:
                current.append(fence_code(held) + "\n")
            if count >= min_words:
                chunks.append(current)
                current, count = [], 0
            continue
        lines = paragraph.split("\n")
        for number, line in enumerate(lines):
            for sentence in split_sentences(line):
                for piece in _split_overlong(sentence, hard_max):
                    n = _word_count(piece)
                    if current and count + n > max_words:
                        chunks.append(current)
                        current, count = [], 0
                    current.append(piece)
                    count += n
            if current and number < len(lines) - 1:
                current[-1] = current[-1] + "\n"  # keep list items on their own lines
        if count >= min_words:
            chunks.append(current)
            current, count = [], 0
        elif current:
            current[-1] = current[-1] + "\n"  # remember the paragraph break inside a passage
    if current:
        if chunks and count < min_words and _word_count(" ".join(chunks[-1])) + count <= max_words:
            chunks[-1].extend(current)
        else:
            chunks.append(current)
    passages = []
    for sentences in chunks:
        code: list[str] = []

        def hold(piece: str) -> str:
            if is_code(piece.strip()):
                code.append(piece.strip())
                return f"\ue010{len(code) - 1}\ue011\n"
            return piece

        text = " ".join(hold(piece) for piece in sentences)
        text = re.sub(r"[ \t]*\n[ \t]*", "\n", text).strip()
        text = re.sub("\ue010(\\d+)\ue011", lambda m: code[int(m.group(1))], text)
        passages.append(Passage(text=text, source=block.source))
    return passages


def chunk_blocks(blocks: Iterable[Block], min_words: int = 40, max_words: int = 120, hard_max: int = 250) -> list[Passage]:
    """Chunk every block, dropping exact duplicates (same place, same text)."""
    seen: set[str] = set()
    passages: list[Passage] = []
    for block in blocks:
        for passage in chunk_block(block, min_words, max_words, hard_max):
            if passage.chunk_id not in seen:
                seen.add(passage.chunk_id)
                passages.append(passage)
    return passages
