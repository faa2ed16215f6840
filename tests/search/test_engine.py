"""The engine over the real default corpus, real model and real FAISS index on disk."""

import re

import pytest

from rsiqa.search.conversation import new_sentences

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


def test_a_follow_up_pointing_back_with_the_other_side_is_answered_in_context(real_engine):
    question = "How do the two sides disagree about deep learning?"
    first = real_engine.ask(question)
    follow_up = "And what does the other side reply?"  # "side" and "reply" are words the corpus never uses
    assert real_engine.ask(follow_up).abstained is True
    answer = real_engine.ask(follow_up, history=_turns(question, first))
    assert answer.abstained is False
    assert any("A common response to this objection" in c.text for c in answer.citations[:3])
    short = "and the other side?"  # its one word is the corpus's "side" of a debate, not a topic it lacks
    assert real_engine.ask(short).abstained is True
    for question in ("How do the two sides disagree about deep learning?", "Is RSI relevant for deep learning systems?"):
        assert real_engine.ask(short, history=_turns(question, real_engine.ask(question))).abstained is False, question


def test_a_follow_up_in_another_form_of_a_corpus_word_is_answered_in_context(real_engine):
    question = "Would an AGI need its full codebase to self-improve?"
    follow_up = "Who disagrees?"  # the corpus has "disagreement", never "disagrees"
    answer = real_engine.ask(follow_up, history=_turns(question, real_engine.ask(question)))
    assert answer.abstained is False
    assert "Points of disagreement include" in answer.citations[0].text


def test_a_request_for_a_summary_of_the_material_is_answered_from_its_opening(real_engine):
    for question in ("give me an overview", "tldr of the debate", "whats the gist"):  # no topic word: all of it
        answer = real_engine.ask(question)
        assert answer.abstained is False, question
        assert answer.answer.startswith("The FAQ answer says: There is a debate within the field of AI"), question
        assert answer.answer.count("[") == 1  # the opening alone
    assert real_engine.ask("Give me a summary of the debate in 3 bullet points").answer.startswith(
        "The FAQ answer says: There is a debate")
    part = real_engine.ask("summarize the FAQ answer pls")  # a summary of one kind of its parts
    assert part.abstained is False and part.citations[0].source.kind == "faq_answer"
    assert real_engine.ask("summarize the plot of Hamlet").abstained  # a summary of something it lacks
    question = "Does deep learning make RSI harder?"
    first = real_engine.ask(question)
    in_chat = real_engine.ask("tldr?", history=_turns(question, first))  # in a conversation: the exchange's
    assert in_chat.abstained is False
    assert in_chat.citations[0].chunk_id == first.citations[0].chunk_id


def test_an_acronym_finds_the_passages_that_spell_it_out(real_engine):
    # The FAQ never writes "RSI"; the comments that do also write "recursive self-improvement" beside it.
    answer = real_engine.ask("Is RSI possible, and is it likely to happen?")
    assert answer.citations[0].text.startswith("There is a debate within the field of AI regarding whether "
                                               "recursive self-improvement by an AI is possible")


def test_an_answer_starting_on_a_dangling_opener_quotes_and_cites_what_it_leans_on(real_engine):
    answer = real_engine.ask("How were seed AIs imagined to come about?", top_k=3)
    text = answer.answer
    lean = text.index("If this is true, then such AIs wouldn't satisfy the criteria for being seed AI")
    before = text.rindex("some have argued that self-improvement may be infeasible", 0, lean)  # the sentence it leans on
    cited = {c.n: c for c in answer.cited()}
    assert set(cited) == {int(n) for n in re.findall(r"\[(\d+)\]", text)}  # every marker has its citation
    marker = int(re.search(r"\[(\d+)\]", text[before:lean]).group(1))
    assert "some have argued that self-improvement may be infeasible" in cited[marker].text
    assert cited[marker].highlight.startswith("For example, when it comes to AIs built using modern deep learning")


def test_a_question_after_a_declined_one_is_read_as_a_new_question_unless_it_points_back(real_engine):
    declined = [{"role": "user", "content": "whats the weather in berlin"},
                {"role": "assistant", "content": real_engine.ask("whats the weather in berlin").answer}]
    assert declined[1]["content"].startswith("The material does not cover that")
    answer = real_engine.ask("ok fine. what does the FAQ say about sub-agents?", history=declined)
    assert answer.abstained is False  # the weather is no context for it
    assert real_engine.ask("and will it rain there tomorrow?", history=declined).abstained  # it points back: still out


def test_words_for_who_speaks_are_no_topic_the_material_lacks(real_engine):
    # The material never writes "commenters"; the question is about quantization, which a comment discusses.
    answer = real_engine.ask("what did the commenters say about quantization?")
    assert answer.abstained is False
    assert "quantization" in answer.citations[0].text


def test_the_suggested_follow_ups_that_name_a_post_are_answered_from_it(real_engine):
    post = "Why all the fuss about recursive self-improvement"
    answer = real_engine.ask(f"What does the post “{post}” argue?")
    assert answer.citations[0].source.kind == "linked_post" and answer.citations[0].source.title == post
    comments = real_engine.ask(f"What do the comments on “{post}” reply?")
    assert comments.citations[0].source.kind == "comment" and comments.citations[0].source.title == post
    # the same for every post with comments, even where the post's own thesis repeats its title's words
    # ("It does not seem to me like recursive self-improvement is relevant in the deep learning paradigm")
    commented = {p.source.title for p in real_engine.data.passages if p.source.kind == "comment"}
    assert "Is recursive self-improvement relevant in the deep learning paradigm" in commented
    for title in commented:
        first = real_engine.ask(f"What do the comments on “{title}” reply?").citations[0].source
        assert (first.kind, first.title) == ("comment", title)
        first = real_engine.ask(f"What does the post “{title}” argue?").citations[0].source
        assert (first.kind, first.title) == ("linked_post", title)
    faq = real_engine.ask("Would an AGI need its full codebase to self-improve?")
    assert any(f.startswith("What does the post “") for f in faq.followups)  # after the FAQ answer: a post
    assert 'Might an "intelligence explosion" never occur?' not in faq.followups  # named by the FAQ, not answered


def test_a_request_phrased_tell_me_is_answered(real_engine):
    answer = real_engine.ask("Tell me about KANSI.")
    assert not answer.abstained and "KANSI" in answer.citations[0].text


# --- answers that answer (issue 11): the conversation of the examples, answered in context ----------


def _turns(question: str, answer) -> list[dict]:
    cited = [c.chunk_id for c in answer.citations if f"[{c.n}]" in answer.answer]
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer.answer, "citations": cited}]


def test_a_reply_comes_first_when_the_reader_has_read_what_it_answers_to_its_end(real_engine):
    question = "Who thinks AIs could learn to predict the effects of editing model weights?"
    first = real_engine.ask(question)
    replied = first.citations[0]
    sentences = real_engine.data.sentences[real_engine.data.row_of[replied.chunk_id]]
    assert not new_sentences(sentences, first.answer)[-1]  # the answer quoted the comment to its end
    follow_up = real_engine.ask("How did the author respond?", history=_turns(question, first))
    # The author's reply is the next comment of the thread.
    assert follow_up.citations[0].text.startswith("I don't actually share this intuition")
    assert follow_up.citations[0].chunk_id != replied.chunk_id


def test_what_skeptics_say_is_answered(real_engine):
    answer = real_engine.ask("What do skeptics say?")
    assert not answer.abstained
    assert any("Prominent skeptics of recursive self-improvement include" in c.text for c in answer.citations[:3])


def test_a_follow_up_why_is_answered_from_the_passage_it_leans_on(real_engine):
    question = "Would an AGI need its full codebase to self-improve?"
    first = real_engine.ask(question)
    assert "Stuart Armstrong posits" in first.answer and first.answer.startswith("The FAQ answer says:")
    why = real_engine.ask("Why does he think that?", history=_turns(question, first))
    assert not why.abstained
    assert "many pathways to self-improvement do not rely on this ability" in why.answer
    assert "Epistemic status" not in why.answer


def test_the_same_follow_up_is_answered_when_the_client_sends_no_citations(real_engine):
    question = "Would an AGI need its full codebase to self-improve?"
    first = real_engine.ask(question)
    history = [{"role": "user", "content": question}, {"role": "assistant", "content": first.answer}]  # text only
    why = real_engine.ask("Why does he think that?", history=history)
    assert "many pathways to self-improvement do not rely on this ability" in why.answer


def test_and_why_after_chollet_stays_with_chollet(real_engine):
    question = "What did Chollet argue?"
    first = real_engine.ask(question)
    assert "Chollet" in first.answer
    why = real_engine.ask("And why?", history=_turns(question, first))
    assert not why.abstained and "Chollet" in why.answer


def test_a_follow_up_answer_moves_past_what_the_previous_answer_quoted(real_engine):
    question = "Can an agent improve itself without editing its own weights?"
    first = real_engine.ask(question)
    assert "tons of opportunities for an agent to improve its own reasoning capacity otherwise" in first.answer
    assert "Make itself faster" not in first.answer
    more = real_engine.ask("what else could it do then?", history=_turns(question, first))
    assert "Make itself faster and more energy efficient" in more.answer  # the list the first answer stopped before
    assert not more.answer.split(": ", 1)[1].startswith(first.answer.split(": ", 1)[1][:60])


def test_the_footnote_travels_with_chollets_sentence(real_engine):
    answer = real_engine.ask("What did François Chollet argue in 2017?")
    assert "cannot achieve exponential progress in practice" in answer.answer
    assert "See also Eliezer Yudkowsky's rebuttal" in answer.answer  # the footnote of his line


def test_answers_are_attributed_and_sized(real_engine):
    for question in ("What is KANSI?", "godel machine agi spec", "How does Ted Chiang's view differ from the deep learning skeptic's?"):
        answer = real_engine.ask(question)
        assert not answer.abstained, question
        words = len(answer.answer.split())
        assert 15 <= words <= 130, (question, words)
        assert answer.answer.startswith(("The FAQ answer says:", "The FAQ's scratchpad notes say:", "The post “",
                                         "A comment on “")), answer.answer
        assert "*" not in answer.answer and "•••" not in answer.answer


def test_a_contrast_question_quotes_two_sources(real_engine):
    answer = real_engine.ask("What do both sides say about deep learning?")
    assert "[1]" in answer.answer and "[2]" in answer.answer or "[3]" in answer.answer
    cited = {(c.source.kind, c.source.url) for c in answer.citations if f"[{c.n}]" in answer.answer}
    assert len(cited) >= 2


def test_a_drifting_follow_up_is_declined(real_engine):
    history = [{"role": "user", "content": "Who is skeptical of AI improving itself?"},
               {"role": "assistant", "content": "The FAQ names François Chollet and Ted Chiang."}]
    assert real_engine.ask("cool, what other books has ted chiang written?", history=history).abstained


def test_a_follow_up_that_brings_several_words_foreign_to_the_corpus_is_judged_alone(real_engine):
    history = [{"role": "user", "content": "Who is skeptical of AI improving itself?"},
               {"role": "assistant", "content": "The FAQ names François Chollet and Ted Chiang."}]
    # Most of their words are common ones the corpus knows, and one points back ("that", "these"); the rest
    # ("colonize", "rockets"; "chess", "tournaments") is a new topic that the previous exchange must not carry.
    for question in ("nice, and do people still plan to colonize mars with rockets these days?",
                     "so is that why people say chess engines beat humans at tournaments?"):
        assert real_engine.ask(question, history=history).abstained, question
    assert not real_engine.ask("What are their main arguments?", history=history).abstained  # a real follow-up is not


def test_a_follow_up_demanding_a_figure_or_advice_is_judged_alone(real_engine):
    godel = [{"role": "user", "content": "What is a Gödel machine?"},
             {"role": "assistant", "content": "A rigorous specification for an AGI that improves itself within its "
                                              "own theoretical limits."}]
    successors = [{"role": "user", "content": "Who argues self-improvement would be slower in deep learning?"},
                  {"role": "assistant", "content": "The post's author: each attempt at training a successor is too "
                                                   "expensive."}]
    # On the previous exchange's topic, but asking for a figure or for the reader's own case: the material
    # holds neither, however close the conversation is to it.
    assert real_engine.ask("how many years until one gets built?", history=godel).abstained
    assert real_engine.ask("can I run that on my laptop?", history=successors).abstained
    assert not real_engine.ask("why is each attempt so expensive?", history=successors).abstained


def test_a_follow_up_naming_what_the_material_never_mentions_is_judged_alone(real_engine):
    history = [{"role": "user", "content": "What did Chollet argue about intelligence explosions?"},
               {"role": "assistant", "content": "That a recursively self-improving system cannot achieve exponential "
                                                "progress in practice."}]
    # "Anthropic" is a name the corpus never uses: the exchange's topic does not make the material cover it.
    assert real_engine.ask("did Anthropic reply to that argument?", history=history).abstained
    assert not real_engine.ask("so does his argument apply to deep learning systems too?", history=history).abstained


def test_how_many_is_answered_by_a_list_as_well_as_by_a_number(real_engine):
    # The commenter's list ("the source code consists of: - The code defining the architecture ...") holds no
    # number, but its items are the count the reader asks for.
    answer = real_engine.ask("how many parts of a DL model's source code does the commenter list?")
    assert not answer.abstained
    assert "The code defining the architecture" in answer.answer
    assert real_engine.ask("How many parameters does GPT-4 have?").abstained  # a figure the material lacks


def test_a_question_for_a_kind_of_thing_the_material_never_names_is_declined(real_engine):
    history = [{"role": "user", "content": "What does Stuart Armstrong say about self-improvement?"},
               {"role": "assistant", "content": "That an AI would not need its whole codebase: it could build "
                                                "sub-agents instead."}]
    # The material names no university and no book: it cannot say which one.
    assert real_engine.ask("which university does he teach at now?", history=history).abstained
    assert real_engine.ask("Which book did Ted Chiang publish his compiler argument in?").abstained
    assert not real_engine.ask("which pathways does he mean?", history=history).abstained  # a kind it names
    assert not real_engine.ask("What image is used for an AI building extra tools to empower itself?").abstained


def test_a_follow_up_quotes_the_sentence_on_what_it_asks_in_the_passage_the_conversation_found(real_engine):
    history = [{"role": "user", "content": "What does the commenter think is still missing for AGI?"},
               {"role": "assistant", "content": "Conceptually tricky things like strange loops, continual learning "
                                                "with updateable memory, and agentic interactions with an environment."}]
    answer = real_engine.ask("would those missing pieces take massive amounts of training data?", history=history)
    assert "require massive data and training resources" in answer.answer  # not only the sentences on what is missing


def test_who_originated_something_is_declined_when_the_material_never_says(real_engine):
    # The material uses "seed AI" and "Gödel machine" but never says who coined or invented them.
    assert real_engine.ask("Who coined the term seed AI?").abstained
    assert real_engine.ask("who first came up with the idea of a Godel machine").abstained
    assert real_engine.ask("Who founded MIRI and in what year?").abstained  # it names MIRI, not its founders
    history = [{"role": "user", "content": "Who is skeptical of recursive self-improvement?"},
               {"role": "assistant", "content": "François Chollet, who argued in 2017 that it cannot be exponential."}]
    assert not real_engine.ask("who came up with that", history=history).abstained  # who said what was said
    history = [{"role": "user", "content": "What is a Gödel machine, according to the deep learning post?"},
               {"role": "assistant", "content": "A rigorous specification of an AGI that improves itself."}]
    assert real_engine.ask("who invented it?", history=history).abstained  # a thing's maker: the material never says


def test_a_follow_up_for_more_after_a_paraphrase_quotes_what_comes_next(real_engine):
    # The history paraphrases the comment's first point (no quote, no citations): the answer goes on from it.
    history = [{"role": "user", "content": "What overhang does the commenter see in LLMs?"},
               {"role": "assistant", "content": "Nobody has worked out self-play for improving LLMs yet: maybe a large "
                                                "overhang."}]
    answer = real_engine.ask("any other overhang?", history=history)
    assert "overhang in prompt engineering" in answer.answer
    history = [{"role": "user", "content": "What did Yudkowsky say about Go?"},
               {"role": "assistant", "content": "That Go went from amateur to strongly superhuman in about two years."}]
    answer = real_engine.ask("did anyone disagree?", history=history)  # the reply later in the same passage
    assert "competitive industries will have smaller capability jumps" in answer.answer


def test_a_follow_up_asking_for_a_reply_is_read_in_its_context(real_engine):
    history = [{"role": "user", "content": "What did the first commenter on the deep learning RSI post object to?"},
               {"role": "assistant", "content": "That it is premature to conclude AGI progress will be large "
                                                "pre-trained transformers indefinitely."}]
    # "reply" and "author" are words the material never uses: alone the question names nothing it covers.
    assert not real_engine.ask("did the author reply?", history=history).abstained


def test_a_follow_up_asking_for_the_counter_to_a_point_is_answered(real_engine):
    history = [{"role": "user", "content": "Why might deep learning AIs not count as seed AI?"},
               {"role": "assistant", "content": "Seed AI was imagined as designed, while deep learning models are "
                                                "selected by search, so self-improvement may not be feasible for them."}]
    answer = real_engine.ask("what's the usual counter to that?", history=history)  # no term to define
    assert not answer.abstained
    assert any("self-improvement may be easier outside the deep learning paradigm" in c.text for c in answer.citations)


def test_how_something_the_material_names_works_inside_is_declined(real_engine):
    # The material names compilers, the Gödel machine and the maze vector; it argues about them, never takes them apart.
    assert real_engine.ask("How does a Gödel machine's proof searcher actually decide when to rewrite itself?").abstained
    assert real_engine.ask("so how does a compiler actually turn code into machine instructions?").abstained
    assert real_engine.ask("How exactly did the maze experiment find the top-right vector to add?").abstained
    history = [{"role": "user", "content": "What does Ted Chiang argue about AI?"},
               {"role": "assistant", "content": "That AIs are like compilers: bootstrapping helps, up to a point."}]
    assert real_engine.ask("how does compiler bootstrapping actually work for gcc?", history=history).abstained
    assert not real_engine.ask("how does that even work lol", history=history).abstained  # the argument itself
    assert not real_engine.ask("How does a Gödel machine improve itself?").abstained


_CHOLLET = ("What did François Chollet argue in 2017?",
            "That recursively self-improving systems can't achieve exponential progress in practice.")
_ARMSTRONG = ("Does an AI need its whole codebase to improve itself?",
              "Stuart Armstrong says no: many pathways do not rely on it.")


@pytest.mark.parametrize(("previous", "follow_up", "declined"), [
    # The material names MIRI, Paul and Chollet but says nothing of where they work or who funds them.
    (("How did MIRI in the 2000s picture a self-improving AI?",
      "As modular code with a hierarchical organization that might self-improve at every level."),
     "where is it based and who funds it?", True),
    (("Who said competitive industries will have smaller capability jumps than Go?",
      "A commenter attributes that point to Paul."), "what's he working on these days?", True),
    # In context the exchange lifts any follow-up's evidence; a figure or a job it asks for must still be there.
    (_CHOLLET, "where does he work now?", True),
    (("Who pointed out that humans vary in caring about their goals?", "Shoshannah, according to one commenter."),
     "is she on twitter? whats her handle", True),  # a person's life: not in a debate
    (("What was Yudkowsky's FOOM argument in the Hanson debate about?",
      "Mostly self-improvement and what happens when an optimization loop folds in on itself."),
     "what year was that debate and who won it?", True),
    (("What example did the commenter give about humans and 3SAT?",
      "Humans building constraint solvers for 3SAT instead of solving it by hand: an AI can build tools for itself."),
     "ok which solver should I use for that", True),  # advice
    # Whether an idea works is the debate's own question; a polite request is no advice; a fact the sentence
    # found in context holds (a list, for "how many") is answered in context.
    (("Is recursive self-improvement relevant in the deep learning paradigm?",
      "The post doubts it: today's models are selected, not designed."),
     "and why doesn't that work for deep learning?", False),
    (("What did the 3SAT example show?",
      "That humans, bad at 3SAT unaided, built constraint solvers; an AI could likewise build tools."),
     "what's the best open source SAT solver these days?", True),  # a recommendation
    (_ARMSTRONG, "can i see what the other side says?", False),
    (_ARMSTRONG, "how many pathways does he list?", False),
])
def test_a_follow_up_for_a_fact_the_material_lacks_is_declined(real_engine, previous, follow_up, declined):
    question, answer = previous
    history = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    assert real_engine.ask(follow_up, history=history).abstained is declined


def test_a_follow_up_on_a_word_of_the_previous_exchange_stays_in_context(real_engine):
    history = [{"role": "user", "content": "Is RSI the only thing that could make takeoff sudden?"},
               {"role": "assistant", "content": "The post says no: the advent of human intelligence was a discontinuity "
                                                "with the past even without RSI."}]
    # "discontinuity" is the conversation's own word; "bring", its only other word, is one the corpus lacks.
    assert not real_engine.ask("does it bring up any other discontinuity?", history=history).abstained
    assert real_engine.ask("cool, what do sushi chefs think about that discontinuity?", history=history).abstained


def test_a_question_about_people_and_companies_the_material_never_names_is_declined(real_engine):
    assert real_engine.ask("Did Hinton warn about AI improving itself when he left Google?").abstained
    # The view of a law or an organisation it never names: however close the rest, it cannot say what they hold.
    assert real_engine.ask("What does the EU AI Act say about AI systems that can modify themselves?").abstained
    assert not real_engine.ask("What does Eliezer Yudkowsky think?").abstained
    # Nor a year it never mentions (it names 2017 and the 2000s only).
    assert real_engine.ask("Did Chollet change his mind about the intelligence explosion in 2023?").abstained
    assert real_engine.ask("what happened to MIRI in 2015?").abstained
    assert not real_engine.ask("What did Chollet argue in 2017?").abstained
    assert not real_engine.ask("Did Yudkowsky argue about FOOM with Hanson?").abstained  # names it does mention


def test_a_definition_of_a_term_the_material_never_uses_is_declined(real_engine):
    # Close in meaning to the material's sentences on training and optimisation, but it never names them.
    assert real_engine.ask("What is gradient clipping and why is it used?").abstained
    assert real_engine.ask("What is mesa-optimization?").abstained
    assert not real_engine.ask("What is a Godel machine?").abstained  # "Gödel machine": a term it uses
    assert not real_engine.ask("whats wireheading").abstained
    assert not real_engine.ask("What is superintelligence?").abstained  # the material writes "super-intelligent"
    assert not real_engine.ask("what's the deal with foom").abstained  # "deal" frames the question
    assert not real_engine.ask("What is the FAQ's conclusion?").abstained  # "the FAQ" points at the material
    about = real_engine.ask("What is the FAQ about?")  # a summary of that part (it was declined)
    assert not about.abstained and about.citations[0].source.kind == "faq_answer"


def test_followups_never_repeat_the_conversation(real_engine):
    question = "What is KANSI?"
    first = real_engine.ask(question)
    again = real_engine.ask("Is recursive self-improvement relevant in the deep learning era?", history=_turns(question, first))
    asked = {question.lower(), "is recursive self-improvement relevant in the deep learning era?"}
    assert not {f.lower() for f in again.followups} & asked
    assert all(not f.endswith(("...", "…")) for f in again.followups)


def test_did_anyone_respond_to_chollet_is_answered_with_his_footnote(real_engine):
    answer = real_engine.ask("Did anyone respond to Chollet?")
    assert not answer.abstained
    assert "See also Eliezer Yudkowsky's rebuttal" in answer.answer and "Chollet" in answer.answer
    # The material never says "wrote": asking who wrote a response is asking who responded.
    answer = real_engine.ask("Who wrote a response to Chollet's skepticism?")
    assert not answer.abstained and "See also Eliezer Yudkowsky's rebuttal" in answer.answer
