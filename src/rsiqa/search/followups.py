"""Follow-up suggestions tied to the answer: where the cited passages lead, never a question already asked.

Two sources, both from the material itself:

* **its own questions**: full questions in its text that stand on their own; a question cut
  short ("... creati...") is never suggested. They are ranked by closeness to the question
  asked, and a question in or next to a cited passage (the same post, the next paragraph) comes
  first: that is where the answer leads. One that is neither close (cosine 0.35) nor near the
  answer, or one from its list of related questions (which it names but does not answer: "Might
  an intelligence explosion never occur?"), is suggested only when nothing else is;
* **its structure**: after an answer from a linked post, its comments ("What do the comments on
  “…” reply?"); after a comment, the post it answers; after the FAQ answer, the linked post
  ranked best for the question.

A suggestion equal or very close to a question of the conversation is left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rsiqa.index.store import IndexData
from rsiqa.search.lexical import POINTING_BACK, normal_words
from rsiqa.ingest.structure import strip_list_marker

_INTERROGATIVE = re.compile(
    r"^(what|why|how|when|where|who|which|is|are|was|were|will|would|can|could|should|might|may|does|do|did)\b", re.I
)
#: Words that make a question lean on the text around it ("Will this be ...?"): no good alone.
_DEICTIC = re.compile(rf"\b({'|'.join(POINTING_BACK + ('you', 'your'))})\b", re.IGNORECASE)
_CUT = re.compile(r"(\.\.\.|…)\s*$")
#: Closeness to a question already asked above which a suggestion repeats it.
_REPEATS = 0.9
#: Bonus in cosine for a question in a cited passage (half for one next to it).
_NEAR_ANSWER = 0.25
#: Below this score (cosine plus bonus) a corpus question is not about the answer: not suggested.
_RELATED = 0.35


@dataclass(frozen=True)
class CorpusQuestion:
    """A question the material asks, and the passage it stands in (None: the related-questions list)."""

    text: str
    row: int | None


def corpus_questions(data: IndexData) -> list[CorpusQuestion]:
    """Full questions the material asks: its related questions, then questions in its text (no cut-off ones)."""
    found_by_build = data.found_questions()  # a served index: found by its build, not at every start
    if found_by_build is not None:
        return [CorpusQuestion(text, row) for text, row in found_by_build]
    found: dict[str, CorpusQuestion] = {}
    for question in data.manifest.get("questions", []):
        text = str(question).strip()
        if text and not _CUT.search(text):
            found.setdefault(text, CorpusQuestion(text, None))
    for row, sentences in enumerate(data.sentences):
        for sentence in sentences:
            s = strip_list_marker(sentence)
            if s.endswith("?") and _INTERROGATIVE.match(s) and 4 <= len(s.split()) <= 25 and not _DEICTIC.search(s):
                text = s[0].upper() + s[1:]
                found.setdefault(text, CorpusQuestion(text, row))
    return list(found.values())


def _near(row: int | None, cited: list[int], data: IndexData) -> float:
    """1 for a question in a cited passage, 0.5 in a passage next to one from the same source, else 0."""
    if row is None:
        return 0.0
    if row in cited:
        return 1.0
    source = data.source_of(row)
    neighbours = (data.source_of(c) for c in cited if abs(row - c) == 1)
    return 0.5 if any(s.path == source.path and s.url == source.url for s in neighbours) else 0.0


def structure_followups(cited: list[int], data: IndexData, ranked: list[int] | None = None) -> list[str]:
    """Questions the material's structure suggests after passages ``cited``: a post's comments, a comment's post,
    and after the FAQ answer the linked post best placed among the ``ranked`` passages."""
    found: list[str] = []
    kinds = data.url_kinds  # the URLs with passages of two kinds (a post and its comments), found by the build
    for row in cited[:2]:
        source = data.source_of(row)
        if source.kind == "linked_post" and (source.url, "comment") in kinds:
            found.append(f"What do the comments on “{source.title}” reply?")
        elif source.kind == "comment" and (source.url, "linked_post") in kinds:
            found.append(f"What does the post “{source.title}” argue?")
        elif source.kind == "faq_answer":
            post = next((data.source_of(r) for r in ranked or [] if data.source_of(r).kind == "linked_post"), None)
            if post is not None:
                found.append(f"What does the post “{post.title}” argue?")
    return list(dict.fromkeys(found))


def suggest_followups(question_vector: np.ndarray, cited: list[int], data: IndexData,
                      candidates: list[CorpusQuestion], candidate_vectors: np.ndarray, asked: list[str],
                      limit: int, ranked: list[int] | None = None) -> list[str]:
    """Up to ``limit`` follow-up questions for an answer that cited the passages ``cited`` (rows, best first),
    of the ``ranked`` passages (rows, best first).

    ``asked`` are the conversation's questions, this one included: none is suggested again, nor
    a corpus question closer than 0.9 in cosine to the one just asked.
    """
    if limit <= 0:
        return []
    seen = {normal_words(q) for q in asked}
    chosen: list[str] = []
    structure = structure_followups(cited, data, ranked)
    if len(candidates):
        sims = candidate_vectors @ question_vector
        scores = sims + _NEAR_ANSWER * np.array([_near(c.row, cited, data) for c in candidates])
        order = [int(i) for i in np.argsort(-scores, kind="stable")
                 if normal_words(candidates[int(i)].text) not in seen and sims[int(i)] <= _REPEATS]
        # A related question (named by the material, not answered: no row) or an unrelated one is a last resort.
        good = [i for i in order if scores[i] >= _RELATED and candidates[i].row is not None]
        for i in good if good or structure else order[:1]:
            chosen.append(candidates[i].text)
            seen.add(normal_words(candidates[i].text))
            if len(chosen) == max(limit - 1, 1):
                break
    for text in structure:
        if len(chosen) < limit and normal_words(text) not in seen:
            chosen.append(text)
    return chosen[:limit]
