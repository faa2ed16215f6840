"""The corpus's acronyms, learnt from its own text and spelt out in questions."""

from rsiqa.search.acronyms import find_acronyms, spell_out

TEXTS = [
    "Recursive self-improvement (RSI) is the push behind takeoff. Critics doubt recursive self-improvement works.",
    "RSI may stall: recursively self-improving systems hit limits, yet recursive self-improvement stays possible.",
    "The GIL is held by one thread. Generated code runs fast.\n```\nGC = generated_code()\n```",
    "Garbage collection (GC) frees memory; the DL of deep learning and deep learning again.",
]


def test_an_acronym_is_spelt_out_by_the_words_beside_it_in_the_same_passage():
    found = find_acronyms(TEXTS)
    assert found == {"rsi": "recursive self improvement"}  # hyphens split, lower case, counted twice beside "RSI"
    # "GIL" never stands beside "global interpreter lock"; "GC" only in a code block; "DL" has two letters.
    assert "gil" not in found and "gc" not in found and "dl" not in found
    assert find_acronyms(["RSI is hard.", "Recursive self-improvement twice: recursive self-improvement."]) == {}


def test_a_spelling_needs_a_clear_lead_over_chance_initials():
    tied = ["ABC: apple banana cherry, apple banana cherry; also alpha beta charlie, alpha beta charlie."]
    assert find_acronyms(tied) == {}
    assert find_acronyms(tied + ["ABC means apple banana cherry, apple banana cherry."]) == {"abc": "apple banana cherry"}


def test_a_question_keeps_its_words_and_gains_the_spelling():
    acronyms = {"rsi": "recursive self improvement", "arc": "abstraction reasoning corpus"}
    assert spell_out("is rsi possible?", acronyms) == "is rsi (recursive self improvement) possible?"
    assert spell_out("Do RSIs stall?", acronyms) == "Do RSIs (recursive self improvement) stall?"
    english = {"arc"}  # an acronym that is also a word is one only in capitals
    assert spell_out("the arc of history", acronyms, english) == "the arc of history"
    assert spell_out("the ARC benchmark", acronyms, english) == "the ARC (abstraction reasoning corpus) benchmark"
    assert spell_out("nothing to spell", {}) == "nothing to spell"
