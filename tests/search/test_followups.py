"""Follow-up suggestions: the material's own full questions near the answer, its structure, nothing asked twice."""

import numpy as np

from rsiqa.ingest.documents import Passage, Source
from rsiqa.search.followups import CorpusQuestion, corpus_questions, structure_followups, suggest_followups
from rsiqa.index.store import IndexData

URL = "https://www.lesswrong.com/posts/x/why-all-the-fuss"


def _data() -> IndexData:
    faq = Source(title="FAQ", path="faq.txt", kind="faq_answer")
    post = Source(title="Why all the fuss", path="faq.txt", kind="linked_post", url=URL, section="Excerpt")
    comment = Source(title="Why all the fuss", path="faq.txt", kind="comment", url=URL, section="Comments")
    passages = [Passage("Is GOFAI really dead? It waits to bloom.", faq), Passage("Will this be soon? Maybe.", post),
                Passage("What happens when an optimization loop folds in on itself?", comment)]
    sentences = [["Is GOFAI really dead?", "It waits to bloom."], ["Will this be soon?", "Maybe."],
                 ["What happens when an optimization loop folds in on itself?"]]
    vectors = np.eye(3, 4, dtype=np.float32)
    return IndexData(manifest={"questions": ["Might an intelligence explosion never occur?",
                                             "Why would the first AGI ever create or agree to the creati..."]},
                     passages=passages, vectors=vectors, sentences=sentences,
                     sentence_vectors=np.eye(5, 4, dtype=np.float32))


def test_corpus_questions_are_whole_and_stand_alone():
    found = corpus_questions(_data())
    texts = [q.text for q in found]
    assert "Might an intelligence explosion never occur?" in texts
    assert not any(t.endswith(("...", "…")) for t in texts)  # a cut-off related question is never suggested
    assert "Will this be soon?" not in texts  # leans on the text around it
    assert CorpusQuestion("Is GOFAI really dead?", 0) in found


def test_questions_near_the_cited_passages_come_first_and_nothing_is_asked_twice():
    data = _data()
    candidates = [CorpusQuestion("Is GOFAI really dead?", 0), CorpusQuestion("Might it never occur?", None),
                  CorpusQuestion("What happens when a loop folds in on itself?", 2)]
    vectors = np.array([[0.6, 0, 0.8, 0], [0.714, 0, 0.7, 0], [0.8, 0, 0.6, 0]], dtype=np.float32)
    question = np.array([0, 0, 1, 0], dtype=np.float32)  # closest to the first, least to the third
    plain = suggest_followups(question, [], data, candidates, vectors, ["q"], 2)
    near = suggest_followups(question, [2], data, candidates, vectors, ["q"], 2)
    assert near[0] == "What happens when a loop folds in on itself?" != plain[0]
    assert plain[0] == "Is GOFAI really dead?"
    again = suggest_followups(question, [], data, candidates, vectors, ["is GOFAI really dead"], 3)
    assert again == ["What happens when a loop folds in on itself?"]  # (the related question: only as a last resort)


def test_the_structure_leads_from_a_post_to_its_comments_and_back():
    data = _data()
    assert structure_followups([1], data) == ["What do the comments on “Why all the fuss” reply?"]
    assert structure_followups([2], data) == ["What does the post “Why all the fuss” argue?"]
    assert structure_followups([0], data) == []
    # After the FAQ answer: the linked post ranked best for the question.
    assert structure_followups([0], data, ranked=[0, 2, 1]) == ["What does the post “Why all the fuss” argue?"]


def test_an_unrelated_corpus_question_gives_way_to_the_structure():
    data = _data()
    candidates = [CorpusQuestion("Might an intelligence explosion never occur?", None)]
    vectors = np.array([[0, 1, 0, 0]], dtype=np.float32)
    question = np.array([0, 0, 1, 0], dtype=np.float32)  # cosine 0 with the candidate
    assert suggest_followups(question, [1], data, candidates, vectors, ["q"], 3) == [
        "What do the comments on “Why all the fuss” reply?"]
    # With nothing else to suggest, the closest corpus question still is.
    assert suggest_followups(question, [0], data, candidates, vectors, ["q"], 3) == [
        "Might an intelligence explosion never occur?"]


def test_a_related_question_the_material_only_names_is_suggested_last():
    data = _data()
    candidates = [CorpusQuestion("Might an intelligence explosion never occur?", None),
                  CorpusQuestion("Is GOFAI really dead?", 0)]
    vectors = np.array([[0, 0, 1, 0], [0, 1, 0, 0]], dtype=np.float32)
    question = np.array([0, 0.6, 0.8, 0], dtype=np.float32)  # closer to the related question (0.8) than the other (0.6)
    assert suggest_followups(question, [0], data, candidates, vectors, ["q"], 3) == ["Is GOFAI really dead?"]
    # Alone, with nothing else to suggest, it still is.
    assert suggest_followups(question, [0], data, candidates[:1], vectors[:1], ["q"], 3) == [
        "Might an intelligence explosion never occur?"]
