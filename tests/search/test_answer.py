"""Answer composition: abstention evidence, answer sentences with markers, follow-ups."""

import numpy as np

from rsiqa.ingest.documents import Source
from rsiqa.search.answer import DECLINE_MESSAGE, answer_unit, attribution, coverage_probability
from rsiqa.search.retrieval import Evidence, Gaps
from rsiqa.search.schema import SourceOut
from rsiqa.settings import Settings


def evidence(sentence: float, passage: float, coverage: float, together: float | None = None) -> Evidence:
    return Evidence(top_sentence=sentence, top_passage=passage, coverage=coverage,
                    passage_coverage=coverage if together is None else together, content_terms=3)


def test_coverage_probability_grows_with_each_kind_of_evidence():
    base = coverage_probability(evidence(0.40, 0.30, 0.5))
    assert abs(base - 0.5) < 1e-9
    assert coverage_probability(evidence(0.50, 0.30, 0.5)) > base
    assert coverage_probability(evidence(0.40, 0.40, 0.5)) > base
    assert coverage_probability(evidence(0.40, 0.30, 1.0)) > base


def test_off_topic_evidence_is_declined_and_on_topic_accepted():
    assert coverage_probability(evidence(0.15, 0.08, 0.0)) < 0.01
    assert coverage_probability(evidence(0.75, 0.70, 1.0)) > 0.99


def test_a_neighbouring_topic_in_words_the_corpus_never_uses_is_declined():
    # "Will AI automation cause mass unemployment?": close in meaning, but almost none of its words occur.
    assert coverage_probability(evidence(0.54, 0.52, 0.04)) < 0.5
    assert coverage_probability(evidence(0.54, 0.52, 0.5)) > 0.5


def test_rare_words_found_together_outweigh_a_weak_cosine():
    name_question = evidence(0.35, 0.16, 1.0, together=1.0)  # "What did Chollet argue?"
    scattered = evidence(0.35, 0.16, 1.0, together=0.4)
    assert coverage_probability(name_question) > 0.5 > coverage_probability(scattered)


def test_a_first_person_request_for_advice_needs_more_evidence():
    e = evidence(0.42, 0.31, 0.6)
    assert coverage_probability(e, "How do I train a model on my laptop?") < 0.5 < coverage_probability(e, "How do models train?")
    assert coverage_probability(e, "Walk me through RLHF", advice=True) < 0.5


def test_a_manual_takes_requests_for_instructions_and_first_person_questions():
    e = evidence(0.42, 0.31, 0.6)
    e.manual = True  # the material shows how things are done: its readers ask how, about their own code
    assert coverage_probability(e, "How do I train a model on my laptop?") == coverage_probability(e, "How do models train?")
    assert coverage_probability(e, "Walk me through RLHF", advice=True) > 0.5


def test_a_question_for_a_figure_the_best_sentence_lacks_is_declined():
    # "How many parameters does GPT-4 have?": the material names GPT-4, its best sentence holds no number.
    strong = evidence(0.55, 0.45, 0.6)  # its words and a sentence close in meaning: answered
    missing = evidence(0.55, 0.45, 0.6)
    missing.gaps = Gaps(quantity=True)
    assert coverage_probability(missing) < 0.5 < coverage_probability(strong)
    # "how do protein folding models actually work under the hood?": named, but never taken apart.
    untold = evidence(0.55, 0.45, 0.6)
    untold.gaps = Gaps(workings=True)
    assert coverage_probability(untold) < 0.5
    unpublished = evidence(0.55, 0.45, 0.6)  # "What's the title of Chollet's essay?": mentioned, never named
    unpublished.gaps = Gaps(work=True)
    assert coverage_probability(unpublished) < 0.5
    stranger = evidence(0.55, 0.45, 0.6)  # "What does the EU AI Act say about ...?"
    stranger.unknown_speaker = True
    assert coverage_probability(stranger) < 0.5


def test_a_definition_of_a_term_the_corpus_never_uses_is_declined():
    # "What are the Asilomar AI principles?": close in meaning to the material's AI sentences, but it never names them.
    named = evidence(0.54, 0.48, 0.6)
    unnamed = evidence(0.54, 0.48, 0.6)
    unnamed.unknown_term = True
    assert coverage_probability(unnamed) < 0.5 < coverage_probability(named)


def test_answer_unit_widens_lead_ins_questions_and_conclusions():
    sentences = ["Skeptics include:", "- Chollet, who argued in 2017.", "- Chiang, who compares AIs to compilers."]
    assert answer_unit(sentences, 0) == "Skeptics include: Chollet, who argued in 2017. Chiang, who compares AIs to compilers."
    asks = ["- Whether an AI would need its entire codebase for self-improvement.", "Armstrong posits that it would not."]
    assert answer_unit(asks, 0, target=5).endswith("Armstrong posits that it would not.")
    concl = ["Nets cannot merge utility functions because they have none.", "Thus multipolar world is more likely."]
    assert answer_unit(concl, 1, target=5) == " ".join(concl)
    plain = ["A full sentence that makes a claim about recursive self-improvement on its own.",
             "The next sentence goes on about something else for long enough that it is not a short closing remark."]
    assert answer_unit(plain, 0, target=5) == plain[0]


def test_a_quote_takes_the_lead_in_that_says_whose_words_it_is():
    sentences = ["Recursively self-improving AI is considered to be the push behind the intelligence explosion.",
                 'From "Hard Takeoff" (emphasis mine):',
                 "RSI is the biggest, most interesting, hardest-to-analyze, sharpest break-with-the-past factor."]
    cosines = np.array([0.1, 0.2, 0.9])
    assert answer_unit(sentences, 2, cosines, target=5) == " ".join(sentences[1:])  # never the post's own claim
    listed = ["Prominent skeptics include:", "- François Chollet, who argued in 2017 that it cannot go exponential.",
              "- Ted Chiang, who argues that AIs are like compilers, but only up to a point."]
    assert answer_unit(listed, 2, np.array([0.1, 0.2, 0.9]), target=5) == listed[2][2:]  # an item stands alone


def test_answer_unit_without_scores_grows_forwards():
    sentences = ["Contact: someone at example dot org.", "Descriptors let objects customize attribute lookup.",
                 "This guide has four major sections and many examples of each.", "The primer comes first."]
    assert answer_unit(sentences, 1, target=12, cap=20) == " ".join(sentences[1:])  # never the contact line before


def test_answer_unit_reaches_a_short_closing_sentence():
    sentences = ["Complexity bounds hold in the limit.", "The agent builds special purpose tools to solve problems.",
                 "Not to infinity, but likely far beyond humans."]
    # The window stops at its target one short sentence before the passage ends: that sentence (the point) comes too.
    assert answer_unit(sentences, 1, np.array([0.2, 0.9, 0.1]), target=8) == " ".join(sentences[1:])
    longer = sentences[:2] + ["Not to infinity, but likely far beyond humans, which is a claim that needs far more words."]
    assert answer_unit(longer, 1, np.array([0.2, 0.9, 0.1]), target=8) == sentences[1]


def test_answer_unit_leaves_a_short_trailing_list_item_or_question_out():
    item = ["- Whether an AI would need its full codebase to improve.", "Armstrong posits that it would not.",
            "- Whether AGI will have incentives to self-improve."]
    assert answer_unit(item, 1, np.array([0.2, 0.9, 0.1]), target=5) == item[1]  # the next item is another point
    note = ["Resource accumulation cannot grow exponentially.", "acquire more resources, stack more layers count?"]
    assert answer_unit(note, 0, np.array([0.9, 0.1]), target=5) == note[0]


def test_answer_unit_never_ends_on_a_lead_in_it_cannot_complete():
    sentences = ["Editing weights directly is hard.", "But the agent can do at least two other things:",
                 "1. Make itself faster and more energy efficient with quantization, distillation and pruning, "
                 "which keep improving when humans use them, so it is likely an AGI would improve them further."]
    # Grown forwards to the lead-in, the quote cannot take the item under its cap: it stops before the lead-in.
    assert answer_unit(sentences, 0, np.array([0.9, 0.5, 0.1]), target=10, cap=20) == sentences[0]
    # Two lead-ins in a row, the second's item too long: the quote steps back before both (and stops).
    chained = [sentences[0], "It has options:", "The first is this:", sentences[2]]
    assert answer_unit(chained, 0, np.array([0.9, 0.5, 0.4, 0.1]), target=10, cap=20) == sentences[0]
    # Under a larger cap the lead-in takes what it introduces.
    whole = answer_unit(sentences, 0, np.array([0.9, 0.5, 0.1]), target=10, cap=60)
    assert whole.startswith(sentences[0]) and whole.endswith("improve them further.")


def test_answer_unit_never_stops_inside_a_list_it_opened():
    passage = ["The weights are more like compiled code.", "The source code consists of:",
               "- The code defining the architecture", "- The code for collecting data",
               "- The code for training", "- The code utilizing the network for sampling and quantization"]
    cosines = np.array([0.9, 0.6, 0.5, 0.4, 0.1, 0.1])
    # Its cap reached after two items, the quote takes the other two (within 30 words past the cap) ...
    whole = answer_unit(passage, 0, cosines, target=18, cap=20)
    assert whole.endswith("The code utilizing the network for sampling and quantization")
    assert "The code for training" in whole
    # ... but not a rest longer than that: the quote stays where its cap cut it.
    long_item = passage[:5] + ["- The code utilizing the network: " + "prompts, sampling, quantization " * 10]
    cut = answer_unit(long_item, 0, cosines, target=18, cap=20)
    assert cut.endswith("The code defining the architecture") and "training" not in cut


def test_answer_unit_does_not_reach_back_past_the_lead_in_of_its_list():
    passage = ["There is a debate within the field about recursive self-improvement.",
               "Prominent skeptics of recursive self-improvement include:",
               "- François Chollet, who argued that such systems cannot achieve exponential progress.",
               "- Ted Chiang, who argues that AIs are like compilers."]
    quote = answer_unit(passage, 3, np.array([0.5, 0.4, 0.3, 0.9]), target=60, cap=90)
    assert quote.startswith("Prominent skeptics") and quote.endswith("AIs are like compilers.")
    # Not a list: the window grows back as before.
    prose = [passage[0], "Skeptics include Chollet.", "Ted Chiang argues that AIs are like compilers."]
    assert answer_unit(prose, 2, np.array([0.5, 0.4, 0.9]), target=60, cap=90).startswith("There is a debate")


def test_answer_unit_completes_dangling_openers_and_references():
    said = ["Other avenues exist for hard takeoff.", "That said, my broader scepticism of foom deserves its own post."]
    assert answer_unit(said, 1, target=5) == " ".join(said)
    such = ["This combination would allow an AGI to improve itself by becoming smarter.",
            "A Gödel machine rigorously defines a specification for such an AGI."]
    assert answer_unit(such, 1, target=5) == " ".join(such)


def test_answer_unit_grows_towards_the_sentences_closer_to_the_question():
    sentences = ["Unrelated opening words here.", "The best sentence about compilers.", "Another unrelated line.",
                 "More about compilers and bootstrapping."]
    forwards = answer_unit(sentences, 1, np.array([0.1, 0.9, 0.2, 0.3]), target=10)
    backwards = answer_unit(sentences, 1, np.array([0.5, 0.9, 0.2, 0.3]), target=10)
    assert forwards.startswith("The best") and "Another" in forwards
    assert backwards.startswith("Unrelated")


def test_emphasis_marks_and_list_markers_are_dropped():
    assert answer_unit(["- it should update people *significantly downwards* on **foom**."], 0) == (
        "it should update people significantly downwards on foom.")


def test_attribution_names_the_kind_and_title():
    assert attribution(SourceOut(title="FAQ", kind="faq_answer", kind_label="", path="f")) == "The FAQ answer says"
    post = SourceOut(title="Why all the fuss", kind="comment", kind_label="", path="f")
    assert attribution(post) == "A comment on “Why all the fuss” says"
    assert attribution(post, replying=True) == "A comment on “Why all the fuss” replies"
    assert attribution(SourceOut(title="T", kind="linked_post", kind_label="", path="f")) == "The post “T” argues"
    assert attribution(SourceOut(title="FAQ", kind="faq_answer", kind_label="", path="f"), again=True) == (
        "The FAQ answer also says")
    assert attribution(post, replying=True, again=True) == "A comment on “Why all the fuss” also replies"


def test_decline_message_says_the_material_does_not_cover_it():
    assert DECLINE_MESSAGE.startswith("The material does not cover that.")


def test_a_rare_word_found_in_the_first_hit_is_evidence():
    short = evidence(0.36, 0.20, 1.0, together=0.5)  # "KANSI meaning": weak cosines, "meaning" not in the passage
    assert coverage_probability(short) < 0.5
    assert coverage_probability(Evidence(**{**short.__dict__, "rare_match": True})) > 0.5


def test_a_window_grown_from_a_shorter_one_keeps_it():
    """Quoting more of a passage keeps what the shorter quote held: grown from scratch, the window would
    take the closer neighbour first and then have no room for the sentence the shorter quote began with."""
    from rsiqa.search.answer import unit_indices

    sentences = [" ".join(["opening"] * 30) + ".", " ".join(["best"] * 50) + ".", " ".join(["after"] * 25) + "."]
    cosines = np.array([0.3, 0.9, 0.5])
    assert unit_indices(sentences, 1, cosines, target=100, cap=100) == [1, 2]
    assert unit_indices(sentences, 1, cosines, target=100, cap=100, start=(0, 1)) == [0, 1]
    assert unit_indices(sentences, 1, cosines, target=100, cap=110, start=(0, 1)) == [0, 1, 2]


def test_a_longer_quote_of_the_lead_contains_the_shorter_one():
    # The shorter quote (60 words) takes the sentence the best one leans on ("Though ..."); the longer one
    # (100 words, at most 105) grows from it instead of starting over from the best sentence alone.
    sentences = ["Most of my argument was about what happens when an optimization loop is folded in on itself "
                 "again and again.",
                 "Though it was not needed, " + " ".join(["go"] * 59) + " says you need no self-improvement.",
                 "A difference is that Go was not a competitive industry, and competitive industries will have much "
                 "smaller capability jumps."]
    cosines = np.array([0.3, 0.9, 0.5])
    shorter = answer_unit(sentences, 1, cosines, target=60)
    assert shorter.startswith("Most of my argument")
    assert answer_unit(sentences, 1, cosines, 100, 105).startswith("Though")  # from scratch: the first is lost
    assert answer_unit(sentences, 1, cosines, 100, 105, grown_from=60).startswith(shorter)


def test_a_label_line_does_not_run_into_the_next_sentence():
    sentences = ["Epistemic status: pondering aloud a bit", "I'd speculate that strange loops are missing."]
    assert answer_unit(sentences, 1, target=20) == (
        "Epistemic status: pondering aloud a bit. I'd speculate that strange loops are missing.")


def _two_passage_index(first: list[str], second: list[str]):
    import numpy as np

    from rsiqa.ingest.documents import Passage, Source
    from rsiqa.index.store import IndexData

    passages = [Passage(" ".join(s), Source(title=t, path=f"{t}.md", kind="linked_post"))
                for s, t in ((first, "One"), (second, "Two"))]
    n = len(first) + len(second)
    vectors = np.eye(2, 8, dtype=np.float32)
    return IndexData(manifest={}, passages=passages, vectors=vectors, sentences=[first, second],
                     sentence_vectors=np.eye(n, 8, dtype=np.float32))


def _hit(row: int, cosine: float):
    from rsiqa.search.retrieval import Hit

    return Hit(row=row, fused=1.0 - row, dense=0.0, lexical=0.0, best_sentence=0, sentence_cosine=cosine)


def test_a_passage_that_answers_alone_is_quoted_at_more_length():
    """No second passage close enough: the lead quotes about 100 words of its passage instead of 60."""
    from rsiqa.search.answer import composed_answer

    sentence = "Recursive self-improvement needs a model to change parts of its own design in a useful way."
    first = [f"{sentence} Point {i}." for i in range(8)]  # 8 sentences of 18 words
    data = _two_passage_index(first, ["An unrelated remark about something else entirely, far from the question."])
    alone = composed_answer([_hit(0, 0.8), _hit(1, 0.2)], data, Settings())
    quoted = alone.split(": ", 1)[1].rsplit(" [1]", 1)[0]
    assert alone.startswith("The post “One” argues: ") and "[2]" not in alone
    assert 85 <= len(quoted.split()) <= 105  # 5 sentences; the lead alone was 60-ish words (4 sentences)
    assert quoted.startswith(first[0])

    data = _two_passage_index(first, [f"{sentence} Another view {i}." for i in range(3)])
    shared = composed_answer([_hit(0, 0.8), _hit(1, 0.78)], data, Settings())
    assert "[2]" in shared  # a second passage almost as close: two parts, the lead not lengthened
    assert len(shared.split(": ", 1)[1].split(" [1]")[0].split()) < 85


def test_a_lone_lead_quotes_about_100_words():
    """A lone lead stops at 100 words or the sentence before the 105-word cap: seven 15-word sentences here."""
    from rsiqa.search.answer import composed_answer

    first = [f"A model that improves itself must change parts of its own design, says point {i}." for i in range(9)]
    data = _two_passage_index(first, ["An unrelated remark about something else entirely, far from the question."])
    alone = composed_answer([_hit(0, 0.8), _hit(1, 0.2)], data, Settings())
    assert alone.split(": ", 1)[1].rsplit(" [1]", 1)[0] == " ".join(first[:7])


def test_a_second_part_from_the_same_source_says_also():
    from rsiqa.search.answer import composed_answer

    sentence = "Recursive self-improvement needs a model to change parts of its own design in a useful way."
    data = _two_passage_index([f"{sentence} Point {i}." for i in range(3)], [f"{sentence} View {i}." for i in range(3)])
    data.passages[1].source = data.passages[0].source  # both passages from the post "One"
    answer = composed_answer([_hit(0, 0.8), _hit(1, 0.78)], data, Settings())
    assert answer.startswith("The post “One” argues: ") and "[2]" in answer
    assert "The post “One” also argues: " in answer and answer.count("The post “One” argues") == 1


def test_a_follow_up_answer_quotes_what_the_previous_answer_did_not():
    """The reader has read the previous answer: the best sentence it quoted gives way to the best new one,
    and the quote grows into new sentences."""
    import numpy as np

    from rsiqa.search.answer import composed_answer
    from rsiqa.search.conversation import new_sentences

    tail = "so that it does more with the compute it already has, without new hardware or any more human help"
    first = ["The agent can do at least two other things:", f"Make itself faster and more energy efficient, {tail}.",
             f"Gather more data about its own failures, {tail}.", f"Write better tools for its own tasks, {tail}.",
             f"Spawn copies of itself for parallel work, {tail}."]
    data = _two_passage_index(first, ["An unrelated remark about something else entirely, far from the question."])
    question = np.array([0.9, 0.5, 0.4, 0.3, 0.2, 0, 0, 0], dtype=np.float32)  # closest to the lead-in
    said = "A comment says: The agent can do at least two other things: [1]"
    assert new_sentences(first, said).tolist() == [False, True, True, True, True]
    assert new_sentences(["*Make* itself   faster."], "It said: Make itself faster. [1]").tolist() == [False]

    hits = [_hit(0, 0.8), _hit(1, 0.2)]
    before = composed_answer(hits, data, Settings(), question_vector=question)
    after = composed_answer(hits, data, Settings(), question_vector=question, said=said)
    assert before.split(": ", 1)[1].startswith("The agent can do at least two other things:")
    assert after.split(": ", 1)[1].startswith("Make itself faster and more energy efficient")
    assert "at least two other things" not in after and "Write better tools" in after
    again = composed_answer(hits, data, Settings(), question_vector=question, said=" ".join(first))
    # All of it was quoted before: quoted as usual, and the answer says it was.
    assert again == before.replace("The post", "As quoted before, the post", 1)
    assert again.startswith("As quoted before, the post “")


def test_a_code_block_is_quoted_whole_and_verbatim_after_its_lead_in():
    """Code lines are sentences of their own in the index; an answer quotes the block whole, from the passage text."""
    from rsiqa.index.build import passage_sentences
    from rsiqa.ingest.documents import Passage, Source
    from rsiqa.search.answer import cited_part, code_groups

    text = ("It also allows disabling automatic exception chaining using the from None idiom:\n```\n>>> try:\n"
            "...     open('database.sqlite')\nTraceback (most recent call last):\n  File \"<stdin>\", line 4\n```\n"
            "For more information about chaining mechanics, see Built-in Exceptions.")
    sentences = passage_sentences(Passage(text, Source(title="t", path="t.md")))
    assert code_groups(sentences) == [[0], [1, 2, 3, 4, 5, 6], [7]]
    block = text[text.index("```"):text.rindex("```") + 3]
    lead_in = answer_unit(sentences, 0, None, target=12, text=text)  # the lead-in takes the code it introduces
    # ... and the short closing sentence after it (answer_unit reaches a passage's end a few words away)
    assert lead_in == f"{sentences[0]}\n{block}\n{sentences[7]}"
    code_first = answer_unit(sentences, 3, np.linspace(0, 1, len(sentences)), target=5, text=text)
    assert code_first.startswith(sentences[0]) and block in code_first  # code is preceded by its lead-in
    assert "  File" in code_first  # indentation kept: quoted from the passage text, not from stripped lines
    assert cited_part("It says", f"{sentences[0]}\n{block}", 1).endswith("```\n[1]")
    assert cited_part("It says", block, 2) == f"It says:\n{block}\n[2]"


def test_a_quote_that_starts_with_a_dangling_opener_takes_the_sentence_before_from_the_passage_before():
    """"If this is true, then such AIs ..." opens a passage: the sentence it leans on ends the passage before."""
    from rsiqa.search.answer import Citer, antecedent, composed_answer

    before = ["Points of disagreement include whether an AI needs its code.",
              "Some have argued that self-improvement may be infeasible for deep learning systems."]
    after = ["If this is true, then such AIs would not satisfy the criteria for being seed AI.",
             "Seed AI was imagined to be designed rather than found by search."]
    data = _two_passage_index(before, after)
    data.passages[1].source = data.passages[0].source  # one document, cut into two passages
    assert antecedent(1, data) == before[-1]
    alone = [_hit(1, 0.8)]
    citer = Citer(alone)  # the passage before is not among the ranked ones: numbered after them
    answer = composed_answer(alone, data, Settings(), citer=citer)
    assert answer == f"The post “One” argues: {before[-1]} [2] {' '.join(after)} [1]"
    assert citer.extra == [0]
    ranked = [_hit(1, 0.8), _hit(0, 0.2)]
    citer = Citer(ranked)  # among them: its own number
    assert composed_answer(ranked, data, Settings(), citer=citer).startswith(f"The post “One” argues: {before[-1]} [2] ")
    assert citer.extra == []
    plain = composed_answer(alone, data, Settings())  # without a citer: the quote as it was
    assert plain == f"The post “One” argues: {' '.join(after)} [1]"

    data.passages[1].source = Source(title="One", path="One.md", kind="comment")  # a comment: maybe someone else
    assert antecedent(1, data) is None
    data.passages[1].source = data.passages[0].source
    data.sentences[0][-1] = "Or will it be after AGI systems have blown past us?"  # a question leads to nothing
    assert antecedent(1, data) is None
    data.sentences[0][-1], data.sentences[1][0] = before[-1], "It seems possible that seed AI is far off."
    assert antecedent(1, data) is None  # an "it" that points at nothing before
