"""The engine over the real default corpus, real model and real FAISS index on disk."""

import pytest

pytestmark = pytest.mark.slow


def test_full_codebase_question_cites_armstrong_from_the_faq_answer(real_engine):
    answer = real_engine.ask("Would an AGI need its full codebase to self-improve?")
    assert not answer.abstained
    hit = next(c for c in answer.citations if "Stuart Armstrong posits" in c.text)
    assert hit.source.kind == "faq_answer" and hit.source.kind_label == "FAQ answer"
    assert "Stuart Armstrong posits" in answer.answer


def test_citations_are_ranked_unique_and_marked_in_the_answer(real_engine):
    answer = real_engine.ask("What counts as source code for a deep learning model?", top_k=8)
    assert [c.n for c in answer.citations] == list(range(1, 9))
    assert [c.score for c in answer.citations] == sorted((c.score for c in answer.citations), reverse=True)
    assert len({c.chunk_id for c in answer.citations}) == 8
    assert "[1]" in answer.answer
    assert all(c.highlight and c.highlight.split()[0] in c.text for c in answer.citations)
    assert all(len(c.text.split()) <= 250 for c in answer.citations)


def test_linked_posts_carry_their_url(real_engine):
    answer = real_engine.ask("Is GOFAI dead?")
    top = answer.citations[0]
    assert "GOFAI is dead" in top.text and top.source.kind == "comment"
    assert top.source.url.startswith("https://www.lesswrong.com/posts/oyK6fYYnBi5Nx5pfE/")


def test_out_of_scope_questions_are_declined(real_engine):
    for question in ("How do I bake sourdough bread at home?", "Who won the 2018 FIFA World Cup?"):
        answer = real_engine.ask(question)
        assert answer.abstained and answer.citations == [] and answer.answer.startswith("The material does not cover")


def test_follow_up_is_answered_in_context(real_engine):
    history = [
        {"role": "user", "content": "What does Ted Chiang think about self-improving AI?"},
        {"role": "assistant", "content": "He argues that AIs are like compilers."},
    ]
    answer = real_engine.ask("Who else is skeptical?", history=history)
    assert "Chollet" in answer.citations[0].text


def test_followups_are_questions_from_the_corpus(real_engine):
    question = "Would an AGI need its full codebase to self-improve?"
    answer = real_engine.ask(question)
    assert 1 <= len(answer.followups) <= 3 and question not in answer.followups
    assert all(f.endswith(("?", "…")) for f in answer.followups)


def test_an_off_topic_follow_up_is_declined_but_a_dependent_one_is_answered(real_engine):
    history = [{"role": "user", "content": "Who are the prominent skeptics of recursive self-improvement?"},
               {"role": "assistant", "content": "Chollet and Chiang."}]
    assert real_engine.ask("What is the best pizza topping?", history=history).abstained
    assert not real_engine.ask("And why?", history=history).abstained


def test_a_follow_up_pointing_back_with_a_pronoun_is_answered_in_context(real_engine):
    history = [{"role": "user", "content": "What does Ted Chiang think about self-improving AI?"},
               {"role": "assistant", "content": "He compares AIs to compilers."}]
    for question in ("Do others agree with him?", "Was that idea criticised?"):  # words the corpus barely uses
        assert real_engine.ask(question, history=history).abstained is False
        assert real_engine.ask(question).abstained is True  # alone, they say too little
    for off_topic in ("What is the best pizza topping?", "Is it safe to freeze leftover cooked rice?", "How do I cook it?"):
        assert real_engine.ask(off_topic, history=history).abstained, off_topic  # a pronoun alone is not enough


def test_a_request_phrased_tell_me_is_answered(real_engine):
    answer = real_engine.ask("Tell me about KANSI.")
    assert not answer.abstained and "KANSI" in answer.citations[0].text
