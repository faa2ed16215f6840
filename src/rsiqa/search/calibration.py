"""Abstention for any corpus: the evidence score measured against the corpus's own off-topic level.

The evidence score of :func:`rsiqa.search.answer.coverage_logit` has fixed centres (cosines,
the share of the question's words the corpus knows). They hold for a corpus on one subject,
but a large corpus on a broad one knows almost every word and has a sentence near almost any
question: on the Python documentation "What is the capital of France?" finds
``str.capitalize()``, and everyday questions score as if the material covered them.

So each loaded index is asked :data:`PROBES`, everyday questions no technical or scholarly
corpus is about (cooking, sport, travel, health, celebrities...), through the same path as a
real question. Their scores are the corpus's off-topic level: the given quantile of their
logits (:data:`PROBE_QUANTILE`). When that level stands above
``Settings.abstain_probe_level`` (a logit; -2 is a coverage probability of 0.12), every
question's logit is lowered by the difference, so a question must beat what an everyday
question already gets from this corpus. On a corpus where everyday questions score low (the
default debate) the shift is 0 and nothing changes.

The probes are not the evaluation's out-of-scope questions; none is about a subject any of
rsiqa's question sets covers.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

#: The probes' quantile taken as the corpus's off-topic level.
PROBE_QUANTILE = 0.75

#: Everyday questions that no technical or scholarly corpus covers; their scores are a corpus's off-topic level.
PROBES: tuple[str, ...] = (
    "How long should I boil an egg for a runny yolk?",
    "Which country has won the most Olympic gold medals in swimming?",
    "What is a good name for a golden retriever puppy?",
    "How do I remove a red wine stain from a carpet?",
    "Who sang the song Bohemian Rhapsody?",
    "What should I pack for a week of hiking in the Alps?",
    "How many calories are in a banana?",
    "When is the best season to plant tulip bulbs?",
    "Who was the first woman to fly solo across the Atlantic?",
    "How do I fold a fitted sheet?",
    "What is the plot of the novel Pride and Prejudice?",
    "Which wine goes well with grilled salmon?",
    "How do I treat a bee sting?",
    "What is the tallest mountain in Africa?",
    "How often should I water a cactus?",
    "Who directed the film Jaws?",
    "What are the rules of cricket?",
    "How do I knit a scarf for beginners?",
    "Which planet has the most rings?",
    "What is the best way to learn to swim as an adult?",
    "How do I make pancakes without eggs?",
    "What language is spoken in Brazil?",
    "How should I prepare for a job interview at a bank?",
    "What is the history of the Eiffel Tower?",
)


def probe_logits(ask_logit, probes: tuple[str, ...] = PROBES) -> np.ndarray:
    """The evidence logit of each probe question; ``ask_logit(question)`` scores one as a real question is scored."""
    return np.array([float(ask_logit(question)) for question in probes], dtype=np.float64)


def corpus_shift(logits: np.ndarray, level: float, quantile: float) -> float:
    """How much to lower every question's logit: how far the probes' ``quantile`` stands above ``level`` (else 0)."""
    if logits.size == 0:
        return 0.0
    return max(0.0, float(np.quantile(logits, quantile)) - level)
