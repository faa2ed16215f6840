"""The BM25 vocabulary: stop words, stems, accents and compounds."""

from rsiqa.search.lexical import content_words, fold_accents, query_tokens, tokenize


def test_tokens_drop_stop_words_stem_and_fold_accents():
    assert tokenize(["What could the Gödel machines do for them?"])[0] == ["godel", "machin"]
    assert fold_accents("Gödel, François") == "Godel, Francois"
    assert content_words("Please tell me: could the Machines improve?") == ["machines", "improve"]
    # Chat writes contractions without their apostrophe, and "us" and "whose" are pronouns like "we" and "who".
    assert content_words("why is that bad news for us, isnt it? whose idea, theyre asking") == ["bad", "news", "idea",
                                                                                                  "asking"]


def test_compounds_written_apart_in_a_question_are_joined_when_the_corpus_knows_them():
    vocabulary = {"takeoff": 0, "quick": 1}
    assert query_tokens("Could AI take off quickly?", vocabulary) == ["quick", "takeoff"]
    assert query_tokens("Could AI take off quickly?", {"quick": 0}) == ["quick"]


def test_a_hyphenated_word_with_a_one_letter_part_is_also_a_token_of_its_own():
    assert tokenize(["How do f-strings work?"])[0] == ["string", "work", "fstring"]
    assert "xrisk" in tokenize(["x-risk"])[0] and "email" in tokenize(["E-mail"])[0]
    assert tokenize(["self-improvement"])[0] == ["self", "improv"]  # parts of two letters or more: as before
    assert query_tokens("how do f strings work", {"fstring": 0, "string": 1}) == ["string", "fstring"]


def test_the_f_string_passage_is_found_by_its_name(fake_retriever):
    retriever = fake_retriever({
        "strings.md": "Strings can be concatenated with + and repeated with * in many string methods.",
        "format.md": "Formatted string literals (also called f-strings for short) let you include values.",
        "methods.md": "String methods such as upper and strip return new strings, strings are immutable."})
    retriever._expander.weight = 0.0  # the fake embedder's word vectors are meaningless
    hits, _ = retriever.search("f-strings", k=3)
    assert max(hits, key=lambda h: h.lexical).row == next(
        i for i, p in enumerate(retriever.data.passages) if p.source.path == "format.md")


def test_indefinite_pronouns_are_not_content():
    assert tokenize(["Did anyone respond to Chollet?"])[0] == ["respond", "chollet"]
    assert content_words("Has somebody said something about everything?") == ["said"]


def test_build_bm25_from_tokens_the_caller_has_is_the_same_index():
    from rsiqa.search.lexical import build_bm25, tokenize

    texts = ["Recursive self-improvement of an AI.", "Compilers bootstrap themselves, up to a point."]
    made, given = build_bm25(texts), build_bm25(texts, tokenize(texts))
    assert made.vocab_dict == given.vocab_dict
    assert (made.scores["data"] == given.scores["data"]).all() and (made.scores["indices"] == given.scores["indices"]).all()
