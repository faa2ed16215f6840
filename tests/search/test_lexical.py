"""The BM25 vocabulary: stop words, stems, accents and compounds."""

from rsiqa.search.lexical import content_words, fold_accents, query_tokens, tokenize


def test_tokens_drop_stop_words_stem_and_fold_accents():
    assert tokenize(["What could the Gödel machines do for them?"])[0] == ["godel", "machin"]
    assert fold_accents("Gödel, François") == "Godel, Francois"
    assert content_words("Please tell me: could the Machines improve?") == ["machines", "improve"]


def test_compounds_written_apart_in_a_question_are_joined_when_the_corpus_knows_them():
    vocabulary = {"takeoff": 0, "quick": 1}
    assert query_tokens("Could AI take off quickly?", vocabulary) == ["quick", "takeoff"]
    assert query_tokens("Could AI take off quickly?", {"quick": 0}) == ["quick"]
