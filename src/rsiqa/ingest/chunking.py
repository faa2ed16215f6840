"""Sentence-aware chunking: passages of whole sentences, about ``min_words``..``max_words`` long."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rsiqa.ingest.documents import Block, Passage, Source, fence_code, is_code
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


def _group_lists(paragraphs: list[str]) -> list[tuple[int, str]]:
    """Join a lead-in paragraph ending in ':' with the list items that follow it, so they stay together;
    each group with the index of its first paragraph."""
    grouped: list[tuple[int, str]] = []
    for index, paragraph in enumerate(paragraphs):
        last = grouped[-1][1] if grouped else ""
        if grouped and LIST_ITEM.match(paragraph) and (last.endswith(":") or LIST_ITEM.match(last.split("\n")[-1])):
            grouped[-1] = (grouped[-1][0], f"{last}\n{paragraph}")
        else:
            grouped.append((index, paragraph))
    return grouped


def chunk_block(block: Block, min_words: int = 40, max_words: int = 120, hard_max: int = 250) -> list[Passage]:
    """Pack a block's sentences into passages.

    A passage closes at a paragraph end once it has ``min_words``, before a paragraph that
    would not fit whole, or before a sentence that would take it past ``max_words``. A sentence
    is never cut, unless it alone exceeds ``hard_max`` words. A short tail joins the previous
    passage when that stays within ``max_words``.

    In a block merged from several sections (:attr:`rsiqa.ingest.documents.Block.parts`) a
    section's heading line does not end a passage (it opens the next one, with the text it heads),
    and each passage takes the source (name, anchor) of the section that gives it most words.
    """
    chunks: list[tuple[list[str], list[int]]] = []  # each passage's pieces and the paragraph of each
    current: list[str] = []
    owners: list[int] = []
    count = 0
    headings = block.headings()

    def add(piece: str, owner: int) -> None:
        nonlocal count
        current.append(piece)
        owners.append(owner)
        count += _word_count(piece)

    def close() -> None:
        """Close the current passage; a heading line at its end (at most _ORPHAN_WORDS) opens the next instead."""
        nonlocal current, owners, count
        keep = len(current)
        while keep > 1 and owners[keep - 1] in headings and _word_count(" ".join(current[keep - 1:])) <= _ORPHAN_WORDS:
            keep -= 1
        chunks.append((current[:keep], owners[:keep]))
        current, owners = current[keep:], owners[keep:]
        count = sum(map(_word_count, current))

    for index, paragraph in _group_lists(block.paragraphs):
        if current and count >= _ORPHAN_WORDS and count + _word_count(paragraph) > max_words:
            close()  # start the paragraph afresh rather than cut it
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
                        owners.append(index)
                    close()
                    held = []
                held.append(line)
                count += n
                rest -= n
            if held:
                current.append(fence_code(held) + "\n")
                owners.append(index)
            if count >= min_words:
                close()
            continue
        lines = paragraph.split("\n")
        for number, line in enumerate(lines):
            for sentence in split_sentences(line):
                for piece in _split_overlong(sentence, hard_max):
                    if current and count + _word_count(piece) > max_words:
                        close()
                    add(piece, index)
            if current and number < len(lines) - 1:
                current[-1] = current[-1] + "\n"  # keep list items on their own lines
        if count >= min_words:
            close()
        elif current:
            current[-1] = current[-1] + "\n"  # remember the paragraph break inside a passage
    if current:
        if chunks and count < min_words and _word_count(" ".join(chunks[-1][0])) + count <= max_words:
            chunks[-1][0].extend(current)
            chunks[-1][1].extend(owners)
        else:
            chunks.append((current, owners))
    return [Passage(text=_joined(pieces), source=_main_source(block, pieces, owners)) for pieces, owners in chunks]


def _main_source(block: Block, pieces: list[str], owners: list[int]) -> Source:
    """The source of the section that gives a passage most words (the first of those, on a tie)."""
    if not block.parts:
        return block.source
    words: dict[int, int] = {}
    for piece, owner in zip(pieces, owners):
        part = block.part_of(owner)
        words[part] = words.get(part, 0) + _word_count(piece)
    return block.part_source(max(sorted(words), key=words.__getitem__))


def _joined(pieces: list[str]) -> str:
    """A passage's text from its pieces: sentences joined by spaces, line breaks kept, code verbatim."""
    code: list[str] = []

    def hold(piece: str) -> str:
        if is_code(piece.strip()):
            code.append(piece.strip())
            return f"\ue010{len(code) - 1}\ue011\n"
        return piece

    text = " ".join(hold(piece) for piece in pieces)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text).strip()
    return re.sub("\ue010(\\d+)\ue011", lambda m: code[int(m.group(1))], text)


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
