"""Abstention for any corpus: the evidence score measured against the corpus's own off-topic level.

The evidence score of :func:`rsiqa.search.answer.coverage_logit` has fixed centres (cosines,
the share of the question's words the corpus knows). They hold for a corpus on one subject,
but a large corpus on a broad one knows almost every word and has a sentence near almost any
question: on the Python documentation "What is the capital of France?" finds
``str.capitalize()``, and everyday questions score as if the material covered them.

So each loaded index is asked :data:`PROBES`, everyday questions no technical or scholarly
corpus is about (cooking, sport, travel, health, celebrities...), through the same path as a
real question, and the evidence score is read against what they get
(:func:`corpus_calibration`): the cosine centres rise above the probes' cosines, the bonus
for a rare word fades when most probes find one, and when the probes' logits still stand
above ``Settings.abstain_probe_level`` (a logit; -2 is a coverage probability of 0.12) at
:data:`PROBE_QUANTILE`, every question's logit is lowered by the difference. On a corpus
where everyday questions score low (the default debate) all of this is the identity and
nothing changes.

The probes are not the evaluation's out-of-scope questions; none is about a subject any of
rsiqa's question sets covers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

log = logging.getLogger(__name__)

#: The evidence score's fixed centres and rare-word bonus (set on the debate; see rsiqa.search.answer.coverage_logit).
SENTENCE_CENTRE = 0.40
PASSAGE_CENTRE = 0.30
RARE_MATCH = 2.0
#: A centre stands at least this far above the probes' upper quartile of the same cosine.
CENTRE_MARGIN = 0.10
#: The rare-word bonus holds while at most this share of probes gets it, and is gone at twice that plus 0.1.
RARE_RATE = 0.10


@dataclass(frozen=True)
class Calibration:
    """How one corpus's evidence is read: cosine centres, the rare-word bonus and a shift of the logit.

    The defaults are the fixed ones, which the debate keeps.
    """

    sentence_centre: float = SENTENCE_CENTRE
    passage_centre: float = PASSAGE_CENTRE
    rare_bonus: float = RARE_MATCH
    shift: float = 0.0

#: The probes' quantile taken as the corpus's off-topic level.
PROBE_QUANTILE = 0.9

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
    "What is the deepest lake in the world?",
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


def corpus_calibration(top_sentences: Sequence[float], top_passages: Sequence[float], rare_matches: Sequence[bool],
                       logits: Callable[[Calibration], Sequence[float]], level: float | None) -> Calibration:
    """The calibration of a corpus from its probes' evidence (their best sentence and passage cosines, whether a
    rare word matched) and ``logits(calibration)``, the probes' logits read with a calibration.

    1. Each cosine's centre rises to :data:`CENTRE_MARGIN` above the probes' upper quartile of that
       cosine when that is higher than the fixed centre: on a broad corpus, an everyday question
       already finds a sentence at 0.45.
    2. The rare-word bonus fades when many probes get it (a corpus of thousands of passages has
       some word of most questions in one or two of them): whole up to :data:`RARE_RATE` of
       probes, none from ``2 * RARE_RATE + 0.1``.
    3. The shift: how far the probes' logits, read so, stand above ``level`` at
       :data:`PROBE_QUANTILE` (:func:`corpus_shift`). ``level`` None: no shift.
    """
    if not len(top_sentences):
        return Calibration()
    sentence = max(SENTENCE_CENTRE, float(np.quantile(top_sentences, 0.75)) + CENTRE_MARGIN)
    passage = max(PASSAGE_CENTRE, float(np.quantile(top_passages, 0.75)) + CENTRE_MARGIN)
    rate = float(np.mean(rare_matches))
    fade = 0.0 if rate <= RARE_RATE else min(1.0, (rate - RARE_RATE) / (RARE_RATE + 0.1))
    calibration = Calibration(sentence, passage, RARE_MATCH * (1.0 - fade))
    if level is None:
        return calibration
    return replace(calibration, shift=corpus_shift(np.asarray(logits(calibration), dtype=np.float64), level,
                                                   PROBE_QUANTILE))


def corpus_shift(logits: np.ndarray, level: float, quantile: float) -> float:
    """How much to lower every question's logit: how far the probes' ``quantile`` stands above ``level`` (else 0)."""
    if logits.size == 0:
        return 0.0
    return max(0.0, float(np.quantile(logits, quantile)) - level)
