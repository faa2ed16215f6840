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
from rsiqa.structure import strip_list_marker

DECLINE_MESSAGE = (
    "The material does not cover that. rsiqa answers from the debate on whether an AI can "
    "recursively improve itself (an FAQ answer, its notes and linked LessWrong posts with comments); "
    "try asking about self-improvement, takeoff, alignment or the arguments of its skeptics."
)


#: First-person requests for advice or instructions ("How do I ...", "... should I buy", "my ...").
_PERSONAL_REQUEST = re.compile(r"\b(I|I'm|my|mine)\b")


def coverage_probability(evidence: Evidence, question: str = "") -> float:
    """Confidence, in 0..1, that the material covers the question; below the threshold rsiqa declines.

    A logistic score over independent kinds of evidence, each scaled so that one unit means
    "clearly more/less evidence" for the packaged MiniLM:

    * semantic, sentence level: the best sentence cosine, centred at 0.40 (MiniLM cosines of a
      question and a sentence that answers it are mostly 0.5-0.9; of unrelated text 0.0-0.35);
    * semantic, passage level: the best passage cosine, centred at 0.30 (the same, one step
      coarser: a passage's extra text pulls its cosine down). Each semantic term counts at
      most 3 either way: a low cosine is weak evidence of absence, because short questions
      about names ("What did Chollet argue?") embed poorly even when the material discusses
      them; a high one is weak evidence of presence, because a question on a neighbouring
      topic ("Will AI automation cause mass unemployment?") shares the material's subject;
    * lexical: the IDF-weighted share of the question's content words found anywhere in the
      corpus, centred at 0.5 (off-topic questions rest on words the corpus never uses), with a
      steep penalty below 0.25 (the material names almost nothing the question asks about),
      plus a bonus when one passage holds more than half of that weight together (the
      material discusses those very things in one place);
    * intent: a first-person request for advice ("How do I ...", "... should I buy") needs
      more evidence, since a debate holds positions and arguments, not instructions.

    Centres and scales were set on the development questions, on the validation set
    (``eval/validation_questions.jsonl``) and on probe questions of each out-of-scope kind (and
    short in-scope questions about names); ``Settings.abstain_threshold`` (default 0.5) is the
    cut-off.
    """
    logit = (
        min(max((evidence.top_sentence - 0.40) / 0.05, -3.0), 3.0)
        + min(max((evidence.top_passage - 0.30) / 0.05, -3.0), 3.0)
        + 4.0 * (evidence.coverage - 0.5)
        - 20.0 * max(0.0, 0.25 - evidence.coverage)
        + 6.0 * max(0.0, evidence.passage_coverage - 0.5)
        - (3.0 if _PERSONAL_REQUEST.search(question) else 0.0)
    )
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))


def compose_answer(question: str, hits: list[Hit], evidence: Evidence, data: IndexData, settings: Settings,
                   followups: list[str]) -> Answer:
    """Turn ranked hits into the answer object (or a polite decline)."""
    if not hits or coverage_probability(evidence, question) < settings.abstain_threshold:
        return Answer(question=question, answer=DECLINE_MESSAGE, abstained=True, citations=[], followups=followups)
    citations: list[Citation] = []
    for n, hit in enumerate(hits, start=1):
        passage = data.passages[hit.row]
        source = passage.source
        sentences = data.sentences[hit.row]
        citations.append(Citation(
            n=n, text=passage.text, score=round(hit.fused, 4), chunk_id=passage.chunk_id,
            highlight=strip_list_marker(sentences[hit.best_sentence]) if sentences else "",
            source=SourceOut(title=source.title, url=source.url, section=source.section, kind=source.kind,
                             kind_label=KIND_LABELS.get(source.kind, source.kind), path=source.path),
        ))
    return Answer(question=question, answer=extractive_answer(hits, data, settings), abstained=False,
                  citations=citations, followups=followups)


#: A sentence that asks rather than tells: a question, or an indirect one ("Whether ...").
_QUESTION_LIKE = re.compile(r"^(?:[-*•+]\s+|\d+\.\s+)?(whether|what|why|how|who|when|where|which)\b", re.IGNORECASE)


def _asks(sentence: str) -> bool:
    return sentence.rstrip().endswith("?") or bool(_QUESTION_LIKE.match(sentence.strip()))


#: Openers of a sentence that concludes from the one before it.
_CONCLUDING = re.compile(r"^(thus|so|therefore|hence|this|that|which)\b", re.IGNORECASE)


def answer_unit(sentences: list[str], index: int, cosine: float) -> str:
    """The best sentence, widened so that it answers rather than merely matches.

    * a lead-in ending in ':' takes the lines it introduces (up to about 60 words);
    * a sentence that asks ("Whether ...", "...?"), restates the question (cosine >= 0.75)
      or is very short takes the sentence after it, or, when it concludes ("Thus ..."), the
      one before it.
    """
    unit = [sentences[index]]
    if sentences[index].rstrip().endswith(":"):
        for following in sentences[index + 1 :]:
            if sum(len(s.split()) for s in unit) + len(following.split()) > 60:
                break
            unit.append(following)
    elif _asks(sentences[index]) or cosine >= 0.75 or len(sentences[index].split()) < 10:
        if _CONCLUDING.match(sentences[index]) and index > 0:
            unit.insert(0, sentences[index - 1])
        elif index + 1 < len(sentences):
            unit.append(sentences[index + 1])
    return " ".join(strip_list_marker(s).rstrip(":") + (":" if s.rstrip().endswith(":") else "") for s in unit)


def extractive_answer(hits: list[Hit], data: IndexData, settings: Settings) -> str:
    """1-3 sentences from the top passages that best answer the question, each followed by ``[n]``.

    The best sentence of the first passage always leads; the best sentences of the next two
    passages follow only when they match almost as well (within 0.08 cosine of the lead, and
    at least 0.5), so that the answer stays on the question.
    """
    lead = hits[0].sentence_cosine
    parts: list[str] = []
    seen: set[int] = set()
    for n, hit in enumerate(hits[:3], start=1):
        if len(parts) >= settings.answer_sentences:
            break
        if parts and (hit.sentence_cosine < lead - 0.08 or hit.sentence_cosine < 0.5):
            continue
        sentences = data.sentences[hit.row]
        if not sentences or hit.row in seen or (parts and _asks(sentences[hit.best_sentence])):
            continue
        seen.add(hit.row)
        parts.append(f"{answer_unit(sentences, hit.best_sentence, hit.sentence_cosine)} [{n}]")
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
