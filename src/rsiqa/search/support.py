"""Check a written answer sentence by sentence against the passages it cites, and number its citations.

:func:`check_answer` splits the model's text into sentences, drops markers for passages that
were not given, scores each sentence against the passages its markers cite
(:func:`support_score`), keeps the sentences at or above the threshold and renumbers their
markers ``1..k`` in order of first use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rsiqa.ingest.chunking import split_sentences
from rsiqa.search.lexical import content_words, stem

#: A citation marker: ``[3]``, ``[1, 2]`` or ``[1][2]`` (each bracket read separately).
MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_MARKERS_AT_START = re.compile(r"^(?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])+[.!?]?")
#: A sentence that ends on a marker without a full stop, then the next one: "... [1] Another ...".
_AFTER_MARKER = re.compile(r"(?<=\])\s+(?=[\"'“‘(]?[A-Z])")

#: Weight of the best sentence cosine in the support score (the rest is content-word overlap).
COSINE_WEIGHT = 0.35


@dataclass
class CheckedAnswer:
    """A written answer after the check."""

    text: str  #: the supported sentences, markers renumbered 1..k in order of first use
    order: list[int] = field(default_factory=list)  #: given passage numbers in the new order (new n = position + 1)
    unsupported: list[str] = field(default_factory=list)  #: the sentences left out, markers removed
    removed_markers: list[int] = field(default_factory=list)  #: markers for passages that were not given
    scores: list[float] = field(default_factory=list)  #: the support score of every sentence with a marker
    written_words: int = 0  #: words the model wrote (markers excluded)
    supported_words: int = 0  #: words of the kept sentences


def split_written(text: str) -> list[str]:
    """The sentences of a written answer, each with the markers that follow it.

    Uses the corpus's sentence splitter, then moves markers that open a piece ("... self. [2] Next")
    back to the sentence before, and splits after a marker that ends a sentence without a full stop.
    """
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+\.)\s)", text.strip()):
        for sentence in split_sentences(paragraph):
            pieces += [p for p in _AFTER_MARKER.split(sentence) if p.strip()]
    sentences: list[str] = []
    for piece in pieces:
        piece = piece.strip()
        lead = _MARKERS_AT_START.match(piece)
        if lead and sentences:
            sentences[-1] = f"{sentences[-1]} {lead.group(0).strip()}"
            piece = piece[lead.end():].strip()
        if piece:
            sentences.append(piece)
    return sentences


def markers(sentence: str) -> list[int]:
    """The passage numbers a sentence cites, in order, each once."""
    found: list[int] = []
    for match in MARKER.finditer(sentence):
        for number in match.group(1).split(","):
            n = int(number)
            if n not in found:
                found.append(n)
    return found


def strip_markers(sentence: str) -> str:
    """The sentence without its markers (and without the space before them)."""
    text = MARKER.sub("", sentence)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def word_overlap(sentence: str, passages: Sequence[str]) -> float:
    """Share of the sentence's content words (stemmed, stop words out) that occur in the passages; 1.0 without any."""
    words = set(stem(content_words(sentence)))
    if not words:
        return 1.0
    found: set[str] = set()
    for passage in passages:
        found |= set(stem(content_words(passage)))
    return len(words & found) / len(words)


def support_score(cosine: float, overlap: float) -> float:
    """How well the cited passages support a written sentence, in 0..1.

    ``0.35 · cosine + 0.65 · overlap``, where ``cosine`` is the best cosine between the sentence
    and one sentence of the cited passages (packaged all-MiniLM-L6-v2, unit vectors) and
    ``overlap`` the share of the sentence's content words (stemmed, stop words out) found in those
    passages.

    The two catch different failures. A sentence that adds a claim ("... by 2030 [1]") or names
    people the passage does not ("Hinton and LeCun are also skeptics [1]") loses overlap. A
    sentence built from the passage's words that says something else loses cosine. Cosine alone
    is weak here because the corpus is one topic: a true sentence of another passage cited with the
    wrong number still has a cosine of 0.4-0.8 with the cited one, so overlap weighs more.

    Calibration on 28 hand-written sentences over the top passages of four questions on the
    default corpus (faithful paraphrases and quotes; true sentences cited with another passage's
    number; invented claims on the topic): the 14 supported ones scored 0.66-0.98 (cosine
    0.40-0.94, overlap 0.70-1.0), the 14 unsupported 0.16-0.59 (the highest two: another
    passage's sentence on deep learning cited with the wrong number, cosine 0.77-0.80). The
    threshold ``Settings.support_threshold`` (default 0.6) sits in the gap, nearer the unsupported
    side: a heavy paraphrase (cosine 0.8, half of its words new) is dropped, which costs a
    sentence, not a wrong citation. ``tests/test_support.py`` keeps cases of each kind.
    """
    return COSINE_WEIGHT * max(0.0, cosine) + (1.0 - COSINE_WEIGHT) * overlap


def check_answer(text: str, passages: dict[int, str], encode: Callable[[list[str]], np.ndarray],
                 threshold: float = 0.6) -> CheckedAnswer:
    """Check ``text`` (the model's answer) against ``passages`` (the given ones, by their number ``n``).

    ``encode`` turns texts into unit vectors (the engine's embedder). A marker for a number that is
    not in ``passages`` is removed; a sentence left with no marker, or scoring below ``threshold``
    against the passages it cites (:func:`support_score`), is unsupported. The kept sentences'
    markers are renumbered 1..k in order of first use (``order`` maps back).
    """
    sentences = split_written(text)
    result = CheckedAnswer(text="")
    cited: list[tuple[str, list[int]]] = []
    for sentence in sentences:
        given = [n for n in markers(sentence) if n in passages]
        result.removed_markers += [n for n in markers(sentence) if n not in passages]
        cited.append((sentence, given))
        result.written_words += len(strip_markers(sentence).split())
    needed = sorted({n for _, given in cited for n in given})
    passage_sentences = {n: [s for s in split_sentences(passages[n]) if s.strip()] or [passages[n]] for n in needed}
    plain = [strip_markers(s) for s, _ in cited]
    flat = [s for n in needed for s in passage_sentences[n]]
    vectors = encode(plain + flat) if cited and flat else np.zeros((0, 1), np.float32)
    own, theirs = vectors[:len(plain)], vectors[len(plain):]
    starts, at = {}, 0
    for n in needed:
        starts[n] = (at, at + len(passage_sentences[n]))
        at += len(passage_sentences[n])
    kept: list[tuple[str, list[int]]] = []
    for i, (sentence, given) in enumerate(cited):
        if not given or not plain[i]:
            if plain[i] and re.search(r"\w", plain[i]):
                result.unsupported.append(plain[i])
            continue
        rows = np.concatenate([np.arange(*starts[n]) for n in given])
        cosine = float(np.max(theirs[rows] @ own[i])) if len(rows) else 0.0
        score = support_score(cosine, word_overlap(plain[i], [passages[n] for n in given]))
        result.scores.append(round(score, 3))
        if score < threshold:
            result.unsupported.append(plain[i])
        else:
            kept.append((plain[i], given))
            result.supported_words += len(plain[i].split())
    for _, given in kept:
        for n in given:
            if n not in result.order:
                result.order.append(n)
    result.text = " ".join(_with_markers(sentence, [result.order.index(n) + 1 for n in given])
                           for sentence, given in kept)
    return result


def _with_markers(sentence: str, numbers: list[int]) -> str:
    """The sentence with ``[n]`` markers placed before its closing punctuation."""
    tags = "".join(f"[{n}]" for n in numbers)
    match = re.search(r"([.!?…][\"'”’)]*)$", sentence)
    if match:
        return f"{sentence[:match.start()]} {tags}{match.group(1)}"
    return f"{sentence} {tags}"
