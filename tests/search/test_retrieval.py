"""Hybrid ranking: z-score fusion, expansion in BM25, conversation context and candidates."""

import numpy as np
import pytest

from rsiqa.index.build import build_index
from rsiqa.index.store import load_index
from rsiqa.search.lexical import query_tokens
from rsiqa.search.conversation import Conversation
from rsiqa.search.query import QueryReader, ReadQuestion
from rsiqa.search import retrieval
from rsiqa.search.retrieval import Retriever, _zscore


def test_zscore_standardises_and_handles_constant_scores():
    z = _zscore(np.array([1.0, 2.0, 3.0]))
    assert np.isclose(z.mean(), 0) and np.isclose(z.std(), 1)
    assert not _zscore(np.array([2.0, 2.0])).any()


@pytest.fixture
def retriever(fake_retriever):
    return fake_retriever({
        "kansi.md": "KANSI names pivotal AI that does not engage in extensive self-modification at all.",
        "go.md": "Go play went from amateur to superhuman in two years after the architecture was simplified.",
        "chiang.md": "Ted Chiang argues that AIs are like compilers: bootstrapping helps, but only up to a point.",
        "chollet.md": "Francois Chollet argued in 2017 that recursively self-improving systems cannot go exponential.",
    })


def test_the_passage_that_matches_ranks_first_and_scores_are_explained(retriever):
    hits, evidence = retriever.search("What is KANSI?", k=4)
    data = retriever.data
    assert data.passages[hits[0].row].source.path == "kansi.md"
    assert [h.fused for h in hits] == sorted([h.fused for h in hits], reverse=True)
    assert len({h.row for h in hits}) == len(hits)
    assert hits[0].lexical == pytest.approx(1.0)
    assert evidence.coverage == 1.0 and evidence.content_terms == 1


def test_a_question_for_a_figure_is_checked_against_the_best_sentence(retriever):
    read = QueryReader([]).read
    _, dated = retriever.search(read("What year did Chollet argue that self-improving systems cannot go exponential?"), k=2)
    assert not dated.gaps.quantity  # "... in 2017 ..."
    _, undated = retriever.search(read("How many people does KANSI pivotal AI need?"), k=2)
    assert undated.gaps.quantity  # the KANSI sentence holds no number
    _, plain = retriever.search(read("What is KANSI?"), k=2)
    assert not plain.gaps.quantity  # asks for no figure


def test_a_question_for_a_works_title_is_checked_against_the_best_sentence(retriever):
    read = QueryReader([]).read
    _, untitled = retriever.search(read("What is the title of Chollet's essay on self-improving systems?"), k=2)
    assert untitled.gaps.work and untitled.lacks_a_fact  # the Chollet sentence names no title, link or venue
    _, plain = retriever.search(read("What did Chollet argue about self-improving systems?"), k=2)
    assert not plain.gaps.work and not plain.lacks_a_fact


def test_how_something_works_inside_is_checked_where_the_material_rarely_takes_things_apart(retriever, settings,
                                                                                             tmp_path, fake_embedder):
    read = QueryReader([]).read
    question = read("how does bootstrapping a compiler actually work under the hood?")
    _, debate = retriever.search(question, k=2)
    assert debate.gaps.workings  # the Chiang sentence names bootstrapping but does not say how it works
    assert not retriever.search(read("Does bootstrapping help a compiler?"), k=2)[1].gaps.workings
    # Material whose passages show how things work (code, procedures), as a manual does, is not checked.
    manual = settings.model_copy(update={"corpus_dir": tmp_path / "manual", "index_dir": tmp_path / "manual_index"})
    manual.corpus_dir.mkdir()
    (manual.corpus_dir / "bootstrap.md").write_text(
        "# Bootstrapping\n\nA compiler is bootstrapped in stages: the old compiler builds the new one.\n\n"
        "```\nmake stage1 && make stage2\n```\n", encoding="utf-8")
    build_index(manual, fake_embedder, progress=False)
    _, shown = Retriever(load_index(manual.index_dir), fake_embedder, manual).search(question, k=1)
    assert not shown.gaps.workings
    assert shown.manual and not debate.manual  # and asking how is its subject (rsiqa.search.answer.coverage_logit)


def test_a_definition_question_is_checked_for_a_term_the_corpus_never_uses(retriever):
    read = QueryReader([]).read
    retriever._expander.weight = 0.0
    retriever._expander.neighbours_of = lambda word: []  # the fake embedder's word neighbours are meaningless
    _, unknown = retriever.search(read("What is constitutional AI and who came up with it?"), k=2)
    assert unknown.unknown_term  # "constitutional": in no passage
    _, known = retriever.search(read("What is KANSI pivotal AI?"), k=2)
    assert not known.unknown_term
    _, claim = retriever.search(read("Who argues about sourdough compilers?"), k=2)
    assert not claim.unknown_term  # not a definition question: the coverage evidence judges its words


def test_a_compound_written_as_one_word_is_known_when_the_corpus_has_its_parts(retriever):
    retriever._expander.neighbours_of = lambda word: []  # the fake embedder's word neighbours are meaningless
    # The corpus writes "self-modification" and "pivotal": "selfmodification" is two of its words written together.
    assert retriever.known_words("selfmodification") == (1, 1, 1)
    assert retriever.known_words("extensivemodification") == (1, 1, 1)  # "extensive" is stemmed "extens" alone
    assert retriever.known_words("sourdough") == (0, 1, 1)  # "sour" and "dough" are not corpus words
    assert retriever.known_words("compilerskansi") == (0, 1, 1)  # corpus words, but no passage holds both
    _, evidence = retriever.search(QueryReader([]).read("What is selfmodification?"), k=2)
    assert not evidence.unknown_term


def test_unknown_words_lower_coverage(retriever):
    _, evidence = retriever.search("How do I bake sourdough bread?", k=2)
    assert evidence.coverage == 0.0


def test_bm25_scores_read_from_the_postings_equal_bm25s_own(retriever):
    retriever._expander.weight = 0.0  # the fake embedder's word vectors are meaningless
    for question in ("What is KANSI?", "Did Chollet argue that compilers go exponential?", "sourdough"):
        tokens = list(dict.fromkeys(query_tokens(question, retriever._vocab)))
        expected = retriever._bm25.get_scores(tokens) if tokens else np.zeros(len(retriever.data.passages))
        assert np.allclose(retriever._bm25_scores(question), expected, atol=1e-6)


def test_conversation_context_steers_a_vague_follow_up(retriever):
    def rank_of(hits, path):
        return [retriever.data.passages[h.row].source.path for h in hits].index(path)

    alone, _ = retriever.search("Who else thinks so?", k=4)
    convo = Conversation(question="What did Ted Chiang say about compilers?")
    with_context, _ = retriever.search("Who else thinks so?", k=4, conversation=convo)
    assert rank_of(with_context, "chiang.md") == 0
    assert rank_of(alone, "chiang.md") > 0


def test_a_follow_ups_answer_sentences_are_chosen_by_the_question_alone_and_in_context(retriever):
    """The answer vector mixes the question alone and in its context as the ranking does: a question that says
    nothing by itself ("And why?") is the context's; one with words of its own mostly its own."""
    convo = Conversation(question="What did Ted Chiang say about compilers?")
    reader = QueryReader([p.text for p in retriever.data.passages])
    for text in ("And why?", "Did Chollet argue that recursively self-improving systems cannot go exponential?"):
        question = reader.read(text)
        vectors = retriever.embedder.encode(retriever.query_texts(question, convo))
        assert np.array_equal(retriever.answer_vector(question, None, vectors), vectors[0])
        h = retriever.context_weight(question)
        mixed = (1 - h) * vectors[0] + h * vectors[1]
        assert np.allclose(retriever.answer_vector(question, convo, vectors), mixed / np.linalg.norm(mixed))
    assert retriever.context_weight(reader.read("And why?")) == 1.0
    assert retriever.context_weight(question) == retriever.settings.history_weight  # its words are all the corpus's
    hits, _ = retriever.search(question, k=4, conversation=convo)
    chosen_by = retriever.answer_vector(question, convo, vectors)
    for hit in hits:  # each passage's best sentence is the best for that mixed vector
        assert hit.best_sentence == int(np.argmax(retriever.data.sentence_cosines(hit.row, chosen_by)))


def test_the_passages_the_previous_answer_cited_are_favoured(retriever):
    """A follow-up leans on what the previous answer cited: those passages gain ``conversation_prior``."""
    data = retriever.data
    go = next(p.chunk_id for p in data.passages if p.source.path == "go.md")
    question, convo = "And how long did that take?", Conversation(question="Tell me more.", cited=[go])
    cited, _ = retriever.search(question, k=4, conversation=convo)
    prior = retriever.settings.conversation_prior
    retriever.settings = retriever.settings.model_copy(update={"conversation_prior": 0.0})
    plain, _ = retriever.search(question, k=4, conversation=convo)
    score = lambda hits, path: next(h.fused for h in hits if data.passages[h.row].source.path == path)  # noqa: E731
    assert prior > 0 and score(cited, "go.md") - score(plain, "go.md") == pytest.approx(prior)
    assert score(cited, "chiang.md") == pytest.approx(score(plain, "chiang.md"))  # other files gain nothing


def test_the_first_passage_of_the_previous_answer_is_favoured_most(retriever):
    from rsiqa.search.retrieval import _LATER_PREVIOUS

    data = retriever.data
    rows = {p.source.path: row for row, p in enumerate(data.passages)}
    prior = retriever._prior([rows["go.md"], rows["chiang.md"]], None)
    assert prior[rows["go.md"]] == 1.0 and prior[rows["chiang.md"]] == _LATER_PREVIOUS < 1.0
    assert prior[rows["kansi.md"]] == 0.0  # another file: neither cited nor a neighbour in the same document


def test_a_follow_up_asking_for_a_reply_favours_the_passages_after_a_post_or_comment(retriever, monkeypatch):
    from rsiqa.ingest.documents import Source

    def thread_of(kind):
        source = Source(title="Thread", path="thread.md", url="https://example.org/post", kind=kind)
        monkeypatch.setattr(retriever.data, "source_of", lambda row: source)

    thread_of("comment")  # four passages of one thread: the previous answer cited the second
    assert retriever._prior([1], None).tolist() == [0.5, 1.0, 0.5, 0.0]
    assert retriever._prior([1], None, reply=True).tolist() == [0.5, 1.0, 2.0, 1.0]  # the reply follows it
    thread_of("faq_answer")  # nobody replies to the FAQ answer in the material
    assert retriever._prior([1], None, reply=True).tolist() == [0.5, 1.0, 0.5, 0.0]


def test_a_long_question_is_also_scored_by_what_it_asks(retriever):
    background = "My friend says compilers and bootstrapping are the key to everything in computing, always. "
    question = background + "What is KANSI?"
    whole, _ = retriever.search(question, k=4)
    asked, _ = retriever.search(ReadQuestion(text=question, cleaned=question, ask="What is KANSI?", contrast=False,
                                             advice=False), k=4)
    rank = lambda hits: [retriever.data.passages[h.row].source.path for h in hits].index("kansi.md")  # noqa: E731
    assert rank(asked) < rank(whole)


def test_a_long_questions_ask_counts_half_in_meaning_and_less_in_keywords(retriever):
    from rsiqa.search.retrieval import _ASK_LEXICAL, _zscore

    question = "My friend says compilers and bootstrapping are the key to everything, always. What is KANSI?"
    read = ReadQuestion(text=question, cleaned=question, ask="What is KANSI?", contrast=False, advice=False)
    hits, _ = retriever.search(read, k=4)
    texts = retriever.query_texts(read)
    vectors = retriever.embedder.encode(texts)
    whole = retriever._fused(texts[0], vectors[0], retriever._bm25_scores(texts[0]), None)
    ask = retriever._fused(texts[1], vectors[1], retriever._bm25_scores(texts[1]), None)
    dense = (whole[1] + ask[1]) / 2
    lexical = (1 - _ASK_LEXICAL) * whole[2] + _ASK_LEXICAL * ask[2]
    lw = retriever.lexical_weight(whole[5].top_passage)
    expected = (1 - lw) * dense + lw * _zscore(lexical)
    assert 0 < _ASK_LEXICAL < 0.5
    for hit in hits:
        assert hit.fused == pytest.approx(expected[hit.row]) and hit.dense == pytest.approx(dense[hit.row])


def test_above_the_threshold_only_faiss_and_bm25_candidates_are_scored(retriever):
    exact, _ = retriever.search("What is KANSI?", k=2)
    retriever.settings = retriever.settings.model_copy(update={"ann_threshold": 2, "candidates": 1})
    vectors = retriever.embedder.encode(["What is KANSI?"])
    rows = retriever._candidates(vectors, [retriever._bm25_scores("What is KANSI?")])
    assert rows is not None and 1 <= len(rows) <= 2  # the FAISS best and the BM25 best
    approximate, _ = retriever.search("What is KANSI?", k=2)
    assert approximate[0].row == exact[0].row
    assert {h.row for h in approximate} <= set(rows.tolist())


def test_a_question_pointing_at_a_kind_of_source_favours_it(settings, fake_embedder):
    """"What does the commenter say ..." adds kind_cue_weight to comments, nothing to the rest."""
    from rsiqa.search.query import QueryReader

    (settings.corpus_dir / "thread.txt").write_text(
        "Compilers bootstrap themselves, says the answer, but only up to a point.\n\n"
        "https://www.lesswrong.com/posts/x/compilers-and-bootstrapping\n\n"
        "The post says compilers bootstrap themselves only up to a point.\n\ncomments:\n\n"
        "A comment says compilers bootstrap themselves further than that.\n", encoding="utf-8")
    build_index(settings, fake_embedder, progress=False)
    data = load_index(settings.index_dir)
    read = QueryReader([p.text for p in data.passages]).read("What does the commenter say about compilers?")
    assert read.kinds == ("comment",)
    scores = {}
    for weight in (0.0, 0.3):
        retriever = Retriever(data, fake_embedder, settings.model_copy(update={"kind_cue_weight": weight}))
        hits, _ = retriever.search(read, k=3)
        scores[weight] = {data.passages[h.row].source.kind: h.fused for h in hits}
    assert scores[0.3]["comment"] - scores[0.0]["comment"] == pytest.approx(0.3)
    assert scores[0.3]["linked_post"] == pytest.approx(scores[0.0]["linked_post"])


def test_keywords_count_more_for_a_question_that_embeds_poorly(retriever):
    usual, weak = retriever.settings.lexical_weight, retriever.settings.weak_lexical_weight
    low = retriever.settings.weak_dense_cosine
    assert weak > usual
    assert retriever.lexical_weight(0.8) == usual  # a passage close in meaning: the usual mix
    assert retriever.lexical_weight(low + 0.1) == pytest.approx(usual)
    assert retriever.lexical_weight(low + 0.05) == pytest.approx((usual + weak) / 2)  # linear in between
    assert retriever.lexical_weight(low) == pytest.approx(weak) == retriever.lexical_weight(0.05)


def test_a_word_the_corpus_has_in_another_form_counts_as_known(fake_retriever):
    retriever = fake_retriever(
        {"faq.md": "A common response to this objection is that compilers improve themselves only up to a point."})
    assert retriever._variant("respond") == "respons"  # Snowball: "respond" vs "response"
    assert retriever._variant("compil") is None  # the corpus has it as it is
    assert retriever._variant("complex") is None  # shares only "comp"
    assert retriever._variant("objectivist") is None  # "object" + 5 more letters: another word
    assert retriever._variant("improvis") is None  # "improvise" is not "improve" ("improv")
    assert retriever._coverage("respond")[0] == 1.0
    assert retriever._coverage("recipe")[0] == 0.0
    retriever._expander.neighbours_of = lambda word: []  # the fake word vectors: no neighbours
    assert retriever.known_words("Who responded?") == (1, 1, 1)  # a follow-up's words are known in any form too
    assert retriever.known_words("Who cooked?") == (0, 1, 1)
    retriever._expander.weight = 0.0  # the fake embedder's word vectors are meaningless
    assert retriever._lexical_weights("Did anyone respond?") == {"respons": 1.0}  # searched as the corpus writes it
    assert retriever._bm25_scores("Did anyone respond?").max() > 0


def test_words_for_who_speaks_in_the_material_count_as_known_in_a_follow_up(retriever, monkeypatch):
    # The material never says "author" or "commenter", but a follow-up that asks what they said points back at it.
    monkeypatch.setattr(retriever._expander, "neighbours_of", lambda word: [])  # the fake word vectors: no neighbours
    assert "author" not in retriever._vocab and "comment" not in retriever._vocab
    assert retriever.known_words("What did the author say to that?", besides="say") == (1, 1, 2)
    assert retriever.known_words("What did the commenters reply?") == (1, 2, 2)  # "reply" is a word like any other
    assert retriever.known_words("What did the chef cook?") == (0, 2, 2)
    # Nor a verb for saying or writing: "who wrote ..." asks who said it.
    assert "wrote" not in retriever._vocab and retriever.known_words("Who wrote about KANSI?") == (2, 2, 2)
    assert retriever._coverage("Who wrote about KANSI?") == (1.0, 1.0)  # left out of the coverage evidence
    assert retriever.known_words("And the other side?") == (1, 1, 1)  # a side the material takes, not a topic
    assert retriever.known_words("What do the optimists reply?") == (1, 2, 2)
    # Nor "FAQ", "notes" or "post": a follow-up naming a part of the material points back at it ("does anyone in
    # the FAQ make that point?"), it is no name the material never mentions.
    assert "faq" not in retriever._vocab and retriever.known_words("and in the FAQ?") == (1, 1, 1)
    assert retriever.foreign_words("and in the FAQ?") == []


def test_foreign_words_are_unknown_to_the_corpus_and_to_english(retriever, monkeypatch):
    monkeypatch.setattr(retriever._expander, "neighbours_of", lambda word: [])  # the fake word vectors: no neighbours
    # "spacex" and "2016": a name and a figure; "chef": a word the corpus lacks but English has; "compiler": known.
    assert retriever.foreign_words("did the chef at spacex say that in 2016 about compilers?") == ["spacex", "2016"]
    assert retriever.foreign_words("what did spacex say?", besides="SpaceX builds rockets") == []  # said before


def test_a_summary_request_brings_the_documents_openings_forward(settings, fake_retriever):
    settings.chunk_min_words, settings.chunk_max_words = 30, 50
    retriever = fake_retriever({
        "guide.md": "Author: Someone\n\n" + "Descriptors let objects customize attribute lookup and storage. " * 4
                    + "\n\n# Details\n\n" + "The details of descriptor lookup come after the primer. " * 12,
        "faq.md": "There is a debate about whether an AI can improve itself, and whether it is likely. " * 3
                  + "\n\n# Points\n\n" + "Points of disagreement include access to the codebase. " * 12,
    })
    data = retriever.data
    openings = [row for row in range(len(data.passages)) if retriever._openings[row]]
    assert sorted(data.passages[row].source.path for row in openings) == ["faq.md", "guide.md"]  # one per file
    paths = [p.source.path for p in data.passages]
    assert openings == [paths.index(path) for path in sorted(set(paths), key=paths.index)]  # each file's first passage
    read = QueryReader([]).read
    hits, evidence = retriever.search(read("give me an overview"), k=3)
    assert evidence.whole and {h.row for h in hits[:2]} == set(openings)  # the material as a whole: its openings lead
    first = data.sentences[hits[0].row][hits[0].best_sentence]
    assert len(first.split()) >= 6 and not first.startswith("Author")  # quoted from what it says, past the byline
    plain, _ = retriever.search(read("details of descriptor lookup"), k=len(data.passages))
    summary, evidence = retriever.search(read("summary of the details of descriptor lookup"), k=len(data.passages))
    assert not evidence.whole
    gain = {h.row: h.fused for h in summary}
    for h in plain:  # openings gain overview_weight over the same question asked without the request
        lift = gain[h.row] - h.fused
        assert (lift > settings.overview_weight - 0.2) == bool(retriever._openings[h.row]), h.row


def test_a_question_that_writes_a_documents_title_favours_its_passages(fake_retriever):
    retriever = fake_retriever({
        "fuss.md": "# Why all the fuss about recursive self-improvement\n\nThe argument seems solid to me.",
        "other.md": "# Other notes\n\nThe argument seems weak to me.", "ai.md": "# AI\n\nThe argument."})
    paths = [p.source.path for p in retriever.data.passages]
    named = retriever._titled("What does the post “Why all the FUSS about recursive self-improvement” argue?")
    assert [paths[i] for i in np.flatnonzero(named)] == ["fuss.md"]
    assert retriever._titled("Why all the fuss?") is None  # part of a title is not the title
    assert retriever._titled("What is AI?") is None  # a title of fewer than three words is not looked for
    read = QueryReader([]).read
    plain, _ = retriever.search(read("What does the argument say?"), k=3)
    titled, _ = retriever.search(read("What does “Why all the fuss about recursive self-improvement” say?"), k=3)
    assert paths[titled[0].row] == "fuss.md"
    lift = {h.row: h.fused for h in titled}
    assert all((lift[h.row] - h.fused > 0.5) == (paths[h.row] == "fuss.md") for h in plain)


def test_a_question_that_describes_a_post_by_its_title_words_favours_its_passages(fake_retriever, monkeypatch):
    retriever = fake_retriever({
        "dl.md": "# Is recursive self-improvement relevant in the deep learning paradigm\n\nThe argument is weak.",
        "align.md": "# AGI systems and humans will both need to solve the alignment problem\n\nThe argument.",
        "fuss.md": "# Why all the fuss about recursive self-improvement\n\nThe argument seems solid to me."})
    paths = [p.source.path for p in retriever.data.passages]

    def described(question: str) -> list[str] | None:
        found = retriever._described(question)
        return None if found is None else [paths[i] for i in np.flatnonzero(found)]

    assert described("Did anyone push back on the skeptical deep learning post?") == ["dl.md"]
    assert described("the post about AGIs and humans both needing to solve alignment") == ["align.md"]
    assert described("Does the 'why all the fuss' post think so?") == ["fuss.md"]
    assert described("What does the skeptical post say?") is None  # a stance is in no title
    assert described("What does the recursive self-improvement post say?") is None  # words of two titles: a tie
    assert described("What does the post say about deep learning?") is None  # what the post says, not what it is about
    read = QueryReader([]).read
    question = read("What does the argument in the deep learning post say?")
    hinted, _ = retriever.search(question, k=3)
    monkeypatch.setattr(retrieval, "_DESCRIBED_WEIGHT", 0.0)
    unhinted = {h.row: h.fused for h in retriever.search(question, k=3)[0]}
    assert all(h.fused - unhinted[h.row] == pytest.approx(0.5 if paths[h.row] == "dl.md" else 0.0) for h in hinted)
    # in a conversation, the post the previous question described is what the previous answer rested on
    convo = Conversation(question="What did the deep learning post argue?", answer="It seems so.")
    texts = retriever.query_texts(read("why?"), convo)
    vectors = retriever.embedder.encode(texts)
    bm25 = [retriever._bm25_scores(text) for text in texts]
    assert paths[retriever._previous_rows(convo, vectors, bm25, None, len(texts) - 1)[0]] == "fuss.md"  # unhinted
    monkeypatch.setattr(retrieval, "_DESCRIBED_WEIGHT", 0.5)
    assert paths[retriever._previous_rows(convo, vectors, bm25, None, len(texts) - 1)[0]] == "dl.md"


def test_a_why_question_puts_the_passage_of_the_same_section_that_explains_first(fake_retriever):
    filler = " ".join(f"Line {n} of the listing prints a value." for n in range(12))
    retriever = fake_retriever({"faq.md": (
        "# Programming FAQ\n\n## Lambdas defined in a loop\n\n"
        f"Lambdas defined in a loop all return the same result. Lambdas defined in a loop: {filler}\n\n"
        f"This happens because x is not local to the functions but defined in the outer scope. {filler}\n\n"
        "## Closures\n\n"
        f"Lambdas defined in a loop return the same result there too, and this is because of closures. {filler}\n")})
    passages = retriever.data.passages
    read = QueryReader([]).read

    def first_texts(question: str) -> list[str]:
        return [passages[h.row].text.split(".")[0] for h in retriever.search(read(question), k=3)[0]]

    plain = first_texts("lambdas defined in a loop all return the same result")
    assert plain[0] == "Lambdas defined in a loop all return the same result"  # the example matches best
    assert plain[1].startswith("Lambdas defined in a loop return the same result there too")  # another section
    why = first_texts("Why do lambdas defined in a loop all return the same result?")
    assert why[0].startswith("This happens because")  # its own section's explanation, from third place
    assert why[1:] == plain[:2]  # the rest keep their order; the other section's explanation does not jump
    how_come = first_texts("how come lambdas defined in a loop all return the same result")
    assert how_come[0].startswith("This happens because")
