"""Abstention and its message for any corpus: the corpus's everyday-question level and a decline that names it."""

from __future__ import annotations

import numpy as np
import pytest

from rsiqa.index.build import build_index
from rsiqa.search.answer import coverage_logit, coverage_probability
from rsiqa.search.calibration import PROBES, Calibration, corpus_calibration, corpus_shift
from rsiqa.search.engine import Engine
from rsiqa.search.retrieval import Evidence
from rsiqa.settings import DECLINED, DEFAULT_DECLINE, Settings


def test_the_shift_is_how_far_the_probes_stand_above_the_level() -> None:
    low = np.array([-12.0, -9.0, -8.0, -4.0])  # a corpus on one subject: everyday questions score low
    assert corpus_shift(low, level=-2.0, quantile=0.75) == 0.0
    high = np.array([-3.0, 0.0, 2.0, 4.0])  # a broad corpus: they score as if it covered them
    assert corpus_shift(high, level=-2.0, quantile=0.75) == pytest.approx(float(np.quantile(high, 0.75)) + 2.0)
    assert corpus_shift(np.array([]), level=-2.0, quantile=0.75) == 0.0


def test_a_shift_lowers_the_coverage_probability_by_that_many_logit_units() -> None:
    evidence = Evidence(top_sentence=0.55, top_passage=0.35, coverage=1.0, passage_coverage=0.6, content_terms=4)
    logit = coverage_logit(evidence)
    assert coverage_probability(evidence) == pytest.approx(1 / (1 + np.exp(-logit)))
    assert coverage_probability(evidence, calibration=Calibration(shift=logit)) == pytest.approx(0.5)
    assert coverage_probability(evidence, calibration=Calibration(shift=logit + 1)) < 0.5 < coverage_probability(evidence)


def test_a_corpus_where_everyday_questions_score_low_keeps_the_fixed_reading() -> None:
    """The debate's probes: weak cosines, hardly a rare word, low logits: the calibration is the identity."""
    cal = corpus_calibration([0.16, 0.19, 0.23, 0.2], [0.06, 0.07, 0.1, 0.08], [False] * 4,
                             lambda c: [-12.0, -9.0, -8.0, -6.0], level=-2.0)
    assert cal == Calibration()


def test_a_broad_corpus_raises_the_centres_fades_the_rare_bonus_and_shifts() -> None:
    """A broad corpus's probes find sentences at 0.45 and a rare word half the time."""
    sentences, passages = [0.32, 0.38, 0.45, 0.45], [0.19, 0.22, 0.29, 0.29]
    seen: list[Calibration] = []

    def logits(cal: Calibration) -> list[float]:
        seen.append(cal)
        return [-6.0, -3.0, 0.0, 1.0]

    cal = corpus_calibration(sentences, passages, [True, False, True, False], logits, level=-2.0)
    assert cal.sentence_centre == pytest.approx(0.55) and cal.passage_centre == pytest.approx(0.39)
    assert cal.rare_bonus == 0.0  # half the probes get it: no evidence on this corpus
    assert seen == [Calibration(cal.sentence_centre, cal.passage_centre, 0.0)]  # the shift is measured after re-centring
    assert cal.shift == pytest.approx(float(np.quantile([-6.0, -3.0, 0.0, 1.0], 0.9)) + 2.0)
    assert corpus_calibration(sentences, passages, [False] * 4, logits, level=None).shift == 0.0


def test_the_probes_are_everyday_questions_not_the_evaluation_ones() -> None:
    from pathlib import Path

    evals = Path(__file__).resolve().parents[2]
    asked = set()
    for path in [*evals.glob("eval/*.jsonl"), *(evals.parent / "shared" / "eval").glob("*.jsonl")]:
        asked |= {line.split('"question": "', 1)[-1].split('"', 1)[0] for line in path.read_text().splitlines()}
    assert len(PROBES) >= 20 and not set(PROBES) & asked


def test_the_decline_names_the_corpus_when_it_is_named() -> None:
    named = Settings(corpus_name="the Python 3.11 documentation")
    assert named.decline_message == (f"{DECLINED} rsiqa answers only from the Python 3.11 documentation; try asking "
                                     "about something it covers.")
    assert named.title == "rsiqa: the Python 3.11 documentation"
    assert Settings(corpus_name="the docs", decline_message="Ask about the docs.").decline_message == (
        f"{DECLINED} Ask about the docs.")  # a decline that is set wins
    assert Settings().decline_message == DEFAULT_DECLINE


def test_an_index_of_other_material_does_not_decline_in_the_debates_words() -> None:
    settings = Settings()
    assert settings.decline_for_index({"recursive-self-improvement-debate.txt": {}}) == DEFAULT_DECLINE
    other = settings.decline_for_index({"tutorial/controlflow.html": {}, "faq/general.html": {}})
    assert other.startswith(DECLINED) and "debate" not in other and "self-improvement" not in other
    assert Settings(decline_message="Only stews.").decline_for_index({"stews.md": {}}) == f"{DECLINED} Only stews."


def test_an_engine_over_other_material_declines_with_a_neutral_message(settings, fake_embedder) -> None:
    (settings.corpus_dir / "stews.md").write_text(
        "# Stews\n\nA stew simmers meat and vegetables slowly in a covered pot with stock until tender. "
        "Brown the meat first, then add onions, carrots and stock, and keep the heat low for two hours.\n",
        encoding="utf-8")
    build_index(settings, fake_embedder, progress=False)
    engine = Engine(settings, embedder=fake_embedder)
    answer = engine.ask("Who won the 2018 FIFA World Cup?")
    assert answer.abstained
    assert answer.answer.startswith(DECLINED) and "debate" not in answer.answer


@pytest.mark.slow
def test_the_debate_keeps_its_abstention(real_engine) -> None:
    """Everyday questions score far below the level on the debate, so its evidence is read as before."""
    assert real_engine.calibration == Calibration()
    logits = [real_engine.evidence_logit(question) for question in PROBES]
    assert float(np.quantile(logits, 0.9)) < -4.0


def test_the_probes_are_asked_once_per_index_at_its_first_question(settings, fake_embedder) -> None:
    (settings.corpus_dir / "stews.md").write_text("# Stews\n\nA stew simmers meat and vegetables slowly in stock.\n",
                                                  encoding="utf-8")
    build_index(settings, fake_embedder, progress=False)
    engine = Engine(settings, embedder=fake_embedder)
    loaded = fake_embedder.calls
    engine.ask("How long does a stew simmer?")
    first = fake_embedder.calls - loaded
    engine.ask("How long does a stew simmer?")
    second = fake_embedder.calls - loaded - first
    assert first >= second + len(PROBES)  # start-up did not wait for them; the second question does not repeat them
    assert engine.calibration is engine.calibration


def test_the_probes_level_leaves_out_the_answer_type_term(settings, fake_embedder, monkeypatch) -> None:
    """A probe that asks for a figure ("How many calories are in a banana?") is read for its cosines and
    words only: the answer-type term (rsiqa.search.answer._MISSING_QUANTITY) must not lower the corpus's level."""
    import rsiqa.search.answer as answer
    import rsiqa.search.calibration as calibration

    assert any(question.startswith("How many") for question in PROBES)
    (settings.corpus_dir / "stews.md").write_text("# Stews\n\nA stew simmers meat and vegetables slowly in stock.\n",
                                                  encoding="utf-8")
    build_index(settings, fake_embedder, progress=False)
    settings.abstain_probe_level = -100.0  # every probe stands above it: the shift is their level
    monkeypatch.setattr(calibration, "PROBE_QUANTILE", 0.0)  # the level is the lowest probe's logit
    shifts = []
    for penalty in (0.0, 1000.0):
        monkeypatch.setattr(answer, "_MISSING_QUANTITY", penalty)
        shifts.append(Engine(settings, embedder=fake_embedder).calibration.shift)
    assert shifts[0] == pytest.approx(shifts[1])
