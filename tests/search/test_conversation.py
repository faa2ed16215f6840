"""What a follow-up leans on: the previous exchange and the passages its answer cited."""

import numpy as np

from rsiqa.search.conversation import quoted_passages, read_history, read_in_paraphrase
from rsiqa.ingest.documents import Passage, Source

PASSAGES = [
    Passage("Ted Chiang argues that AIs are like compilers, where bootstrapping helps only up to a point.",
            Source(title="FAQ", path="faq.txt", kind="faq_answer")),
    Passage("Stuart Armstrong posits that it would not, because many pathways to self-improvement exist.",
            Source(title="FAQ", path="faq.txt", kind="faq_answer")),
]


def test_the_last_exchange_is_read_with_markers_dropped():
    history = [
        {"role": "user", "content": "Old question?"}, {"role": "assistant", "content": "Old answer. [1]"},
        {"role": "user", "content": "What does Chiang think?"},
        {"role": "assistant", "content": "He compares AIs to compilers. [1] [2]", "citations": ["abc", "def"]},
    ]
    convo = read_history(history)
    assert convo.question == "What does Chiang think?"
    assert convo.answer == "He compares AIs to compilers."
    assert convo.said == "He compares AIs to compilers."  # the whole answer: what the reader has read
    assert convo.cited == ["abc", "def"]
    assert "compilers" in convo.context() and "Chiang" in convo.context()
    assert read_history([]) is None
    assert read_history([{"role": "assistant", "content": "Hello"}]) is None


def test_citations_may_be_objects_with_chunk_ids():
    history = [{"role": "user", "content": "Q?"},
               {"role": "assistant", "content": "A.", "citations": [{"chunk_id": "x1", "n": 1}]}]
    assert read_history(history).cited == ["x1"]


def test_an_extractive_answer_is_mapped_back_to_the_passages_it_quotes():
    answer = ("The FAQ answer says: Stuart Armstrong posits that it would not, because many pathways to "
              "self-improvement exist. [1] A comment says: Ted Chiang argues that AIs are like compilers, where "
              "bootstrapping helps only up to a point. [2]")
    history = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": answer}]
    assert read_history(history, PASSAGES).cited == [PASSAGES[1].chunk_id, PASSAGES[0].chunk_id]
    assert quoted_passages("A paraphrase that quotes nothing from any passage at all.", PASSAGES) == []
    # A long attribution, as a follow-up's answer gives a passage quoted before (rsiqa.search.answer.attribution).
    long = ("As quoted before, a comment on “Is recursive self-improvement relevant in the deep learning” says: "
            "Ted Chiang argues that AIs are like compilers, where bootstrapping helps only up to a point. [1]")
    assert quoted_passages(long, PASSAGES) == [PASSAGES[0].chunk_id]


def test_a_declined_answer_gives_no_context():
    from rsiqa.search.answer import DECLINE_MESSAGE

    history = [{"role": "user", "content": "What do skeptics say?"}, {"role": "assistant", "content": DECLINE_MESSAGE}]
    convo = read_history(history)
    assert convo.question == "What do skeptics say?" and convo.answer == "" and convo.declined
    unanswered = read_history(history[:1])  # a client that sends only the user's turns: nothing was declined
    assert unanswered.question == "What do skeptics say?" and not unanswered.declined


def test_the_whole_previous_answer_is_kept_as_said_while_its_context_is_cut():
    answer = " ".join(f"Sentence number {i} of a long answer." for i in range(30))  # 210 words
    history = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": answer + " [1]"}]
    convo = read_history(history, max_words=20)
    assert len(convo.answer.split()) == 20 and convo.said == answer


def test_what_a_paraphrasing_answer_told_is_the_sentence_closest_to_it():
    sentences = ["Editing weights is hard given our understanding.", "But the agent can do two other things:",
                 "Make itself faster and more energy efficient."]
    cosines = np.array([0.8, 0.4, 0.3])  # to the previous exchange
    told = read_in_paraphrase(sentences, cosines, "He says editing weights is hard.")
    assert told == "He says editing weights is hard. Editing weights is hard given our understanding."
    # An answer that quoted the passage says what was read; a passage of one sentence has nothing after it.
    quoted = "A comment says: But the agent can do two other things:"
    assert read_in_paraphrase(sentences, cosines, quoted) == quoted
    assert read_in_paraphrase(sentences[:1], cosines[:1], "He says so.") == "He says so."
