"""Reading questions as readers type them: fillers, misspellings, the ask of a long question, intent."""

from rsiqa.search.query import QueryReader, ask_part

CORPUS = [
    "Recursive self-improvement and alignment: an AI improving itself until it reaches diminishing returns.",
    "Ted Chiang argues that AIs are like compilers. Deception by an AGI could be detected with interpretability.",
]


def test_fillers_are_dropped_and_misspellings_corrected_into_corpus_words():
    read = QueryReader(CORPUS).read("lol so does recursiv self improvment even work tbh")
    assert read.cleaned == "so does recursive self improvement even work"
    assert ("improvment", "improvement") in read.corrections


def test_a_correct_word_the_corpus_lacks_is_never_turned_into_a_corpus_word():
    reader = QueryReader(CORPUS)
    assert reader.correct("recipe") is None  # English, not in the corpus: stays, and counts as unknown
    assert reader.correct("deceive") is None  # English; the corpus only has "deception"
    assert reader.correct("compilrs") == "compilers"
    assert reader.correct("alingment") == "alignment"  # two letters swapped: distance 2 is allowed from 8 letters
    assert reader.correct("xqzvbnm") is None  # nothing close in the corpus
    assert reader.correct("aix") is None  # short words are left alone
    assert reader.read("How do I make a recipe for bread?").cleaned == "How do I make a recipe for bread?"


def test_the_ask_of_a_long_question_is_found_only_when_there_is_background():
    long = ("My friend who writes software thinks neural networks are such an opaque tangle that no AI could ever "
            "rework one, so the whole worry is overblown. What is the usual counterargument?")
    assert ask_part(long) == "What is the usual counterargument?"
    assert ask_part("What is KANSI?") is None  # short
    only_asks = "Why " + "would it " * 12 + "matter? And how would it " + "go on " * 5 + "?"
    assert ask_part(only_asks) is None  # nothing but asking


def test_contrast_and_advice_intents():
    reader = QueryReader(CORPUS)
    assert reader.read("How does Chiang's view differ from Chollet's?").contrast
    assert reader.read("what do both sides say").contrast
    assert not reader.read("What is KANSI?").contrast
    assert reader.read("Can you walk me through RLHF step by step?").advice
    assert reader.read("What GPU should I buy?").advice
    assert not reader.read("Would an AI figure out how to upgrade itself by buying more GPUs?").advice
