"""Compose an answer from ranked passages: abstain or cite, extract sentences, suggest follow-ups."""

from __future__ import annotations

import math
import re

import numpy as np

from rsiqa.documents import KIND_LABELS
from rsiqa.index import IndexData
from rsiqa.retrieval import Evidence, Hit
from rsiqa.schema import Answer, Citation, SourceOut
from rsiqa.settings import Settings

DECLINE_MESSAGE = (
    "The material does not cover that. rsiqa answers from the debate on whether an AI can "
    "recursively improve itself (an FAQ answer, its notes and linked LessWrong posts with comments); "
    "try asking about self-improvement, takeoff, alignment or the arguments of its skeptics."
)


def coverage_probability(evidence: Evidence) -> float:
    """Probability-like confidence that the corpus covers the question, in 0..1.

    Two independent signals are each mapped through a logistic curve and combined:

    * semantic: the best cosine between the question and any passage or sentence. MiniLM
      cosines for a question and a passage that answers it sit around 0.45-0.75; unrelated
      text around 0.0-0.3. The curve is centred at 0.35.
    * lexical: the IDF-weighted share of the question's content words that occur anywhere
      in the corpus. Off-topic questions use words the corpus never mentions (their rare
      words weigh most), on-topic paraphrases share at least some rare words.

    The two are combined by a geometric mean, so either signal being very weak declines the
    question; ``Settings.abstain_threshold`` is the cut-off on the result.
    """
    semantic = 1.0 / (1.0 + math.exp(-(evidence.top_cosine - 0.35) / 0.05))
    lexical = 1.0 / (1.0 + math.exp(-(evidence.coverage - 0.4) / 0.1))
    return math.sqrt(semantic * lexical)


def _clean_sentence(sentence: str) -> str:
    return re.sub(r"^\s*([-*•+]|\d+\.)\s+", "", sentence).strip()


def compose_answer(question: str, hits: list[Hit], evidence: Evidence, data: IndexData, settings: Settings,
                   followups: list[str]) -> Answer:
    """Turn ranked hits into the answer object (or a polite decline)."""
    if not hits or coverage_probability(evidence) < settings.abstain_threshold:
        return Answer(question=question, answer=DECLINE_MESSAGE, abstained=True, citations=[], followups=followups)
    citations: list[Citation] = []
    for n, hit in enumerate(hits, start=1):
        passage = data.passages[hit.row]
        source = passage.source
        sentences = data.sentences[hit.row]
        citations.append(Citation(
            n=n, text=passage.text, score=round(hit.fused, 4), chunk_id=passage.chunk_id,
            highlight=_clean_sentence(sentences[hit.best_sentence]) if sentences else "",
            source=SourceOut(title=source.title, url=source.url, section=source.section, kind=source.kind,
                             kind_label=KIND_LABELS.get(source.kind, source.kind), path=source.path),
        ))
    return Answer(question=question, answer=extractive_answer(hits, citations, settings), abstained=False,
                  citations=citations, followups=followups)


def extractive_answer(hits: list[Hit], citations: list[Citation], settings: Settings) -> str:
    """The best matching sentences of the top passages, each followed by its citation marker.

    The best sentence of the first passage always leads; highlights of the next passages
    follow when their sentence matches almost as well (within 0.1 cosine) as the lead.
    """
    lead = hits[0].sentence_cosine
    parts: list[str] = []
    seen: set[str] = set()
    for hit, citation in zip(hits[:3], citations[:3]):
        if len(parts) >= settings.answer_sentences:
            break
        if parts and hit.sentence_cosine < lead - 0.1:
            continue
        sentence = citation.highlight
        if not sentence or sentence.lower() in seen:
            continue
        seen.add(sentence.lower())
        parts.append(f"{sentence} [{citation.n}]")
    return " ".join(parts)


def _normal(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def suggest_followups(question: str, question_vector: np.ndarray, candidates: list[str],
                      candidate_vectors: np.ndarray, limit: int) -> list[str]:
    """Up to ``limit`` corpus questions closest to the one asked, never the question itself."""
    if limit <= 0 or not candidates:
        return []
    asked = _normal(question)
    sims = candidate_vectors @ question_vector
    chosen: list[str] = []
    for i in np.argsort(-sims):
        text = candidates[int(i)]
        if _normal(text) == asked or sims[int(i)] > 0.95:
            continue
        chosen.append(text)
        if len(chosen) == limit:
            break
    return chosen
