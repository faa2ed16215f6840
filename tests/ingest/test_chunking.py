"""Chunking never cuts a sentence and keeps passages within their word bounds."""

import random
import re

from rsiqa.ingest.chunking import chunk_block, split_sentences
from rsiqa.ingest.documents import Block, Source

SOURCE = Source(title="T", path="t.txt")


def test_sentences_split_at_ends_but_not_at_abbreviations():
    text = "AIs can (e.g.) crack nanotech. Is that so? Yes, i.e. it is! Dr. Smith agrees. See No. 4 here."
    assert split_sentences(text) == ["AIs can (e.g.) crack nanotech.", "Is that so?", "Yes, i.e. it is!", "Dr. Smith agrees.",
                                     "See No. 4 here."]
    assert split_sentences("The answer is no. It hits diminishing returns.") == [
        "The answer is no.", "It hits diminishing returns."]


def test_the_number_of_a_numbered_list_item_stays_with_its_sentence():
    assert split_sentences("1. Make itself faster and more energy efficient. It works.") == [
        "1. Make itself faster and more energy efficient.", "It works."]
    assert split_sentences("It rose by 3. Then 12. It fell.") == ["It rose by 3.", "Then 12.", "It fell."]  # not mid-line


def test_closing_quotes_and_brackets_stay_with_their_sentence():
    assert split_sentences('He said "yes." Then he left. (Really so.) Next one.') == [
        'He said "yes."', "Then he left.", "(Really so.)", "Next one."]


def test_a_footnote_stays_with_the_sentence_before_it():
    text = ("- Chollet argued it fails in practice. (Footnote: See also a rebuttal. It (mostly) disagrees.) "
            "Next sentence here. (Footnote: Smith 2020) Last one.")
    assert split_sentences(text) == [
        "- Chollet argued it fails in practice. (Footnote: See also a rebuttal. It (mostly) disagrees.)",
        "Next sentence here. (Footnote: Smith 2020)",
        "Last one.",
    ]


def _random_paragraphs(rng: random.Random) -> list[str]:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    paragraphs = []
    for _ in range(rng.randint(1, 8)):
        sentences = []
        for _ in range(rng.randint(1, 6)):
            body = " ".join(rng.choice(words) for _ in range(rng.randint(3, 45)))
            sentences.append(body[0].upper() + body[1:] + rng.choice([".", "?", "!"]))
        paragraphs.append(" ".join(sentences))
    return paragraphs


def test_no_sentence_is_ever_cut_and_bounds_hold():
    rng = random.Random(7)
    for _ in range(200):
        paragraphs = _random_paragraphs(rng)
        passages = chunk_block(Block(SOURCE, paragraphs), min_words=40, max_words=120, hard_max=250)
        chunk_sentences = [s for p in passages for s in split_sentences(p.text.replace("\n", " "))]
        original = [s for para in paragraphs for s in split_sentences(para)]
        assert chunk_sentences == original  # every sentence whole, in order, exactly once
        for p in passages:
            assert len(p.text.split()) <= 120


def test_a_list_stays_with_its_lead_in():
    block = Block(SOURCE, [
        "Some context sentence that is long enough to matter here.",
        "Prominent skeptics include:",
        "- Chollet, who argued in 2017 that it cannot work.",
        "- Chiang, who argues that AIs are like compilers.",
    ])
    passages = chunk_block(block, min_words=5, max_words=120)
    holder = next(p for p in passages if "include:" in p.text)
    assert "Chollet" in holder.text and "Chiang" in holder.text
    assert "include:\n- Chollet" in holder.text


def test_a_paragraph_that_fits_whole_is_not_split_across_passages():
    first = " ".join(["word"] * 50) + "."
    second = "Ultimately, " + " ".join(["danger"] * 80) + ". Second sentence of it."
    passages = chunk_block(Block(SOURCE, [first, second]), min_words=60, max_words=120)
    assert [p.text for p in passages] == [first, second]


def test_only_a_single_overlong_sentence_is_cut():
    run_on = " ".join(f"w{i}" for i in range(600))
    passages = chunk_block(Block(SOURCE, [run_on]), min_words=40, max_words=120, hard_max=250)
    assert [len(p.text.split()) for p in passages] == [250, 250, 100]


def test_chunk_ids_are_stable_and_depend_on_place_and_text():
    a = chunk_block(Block(SOURCE, ["One sentence here."]))[0]
    b = chunk_block(Block(SOURCE, ["One sentence here."]))[0]
    c = chunk_block(Block(Source(title="T", path="other.txt"), ["One sentence here."]))[0]
    assert a.chunk_id == b.chunk_id != c.chunk_id
    assert re.fullmatch(r"[0-9a-f]{16}", a.chunk_id)
