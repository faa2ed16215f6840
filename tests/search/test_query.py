"""Reading questions as readers type them: fillers, misspellings, the ask of a long question, intent."""

from rsiqa.search.query import (QueryReader, ask_part, asks_for_the_whole, defined_term, holds_quantity, term_words,
                                without_summary_request)

CORPUS = [
    "Recursive self-improvement and alignment: an AI improving itself until it reaches diminishing returns.",
    "Ted Chiang argues that AIs are like compilers. Deception by an AGI could be detected with interpretability.",
]


def test_fillers_are_dropped_and_misspellings_corrected_into_corpus_words():
    read = QueryReader(CORPUS).read("lol so does recursiv self improvment even work tbh")
    assert read.cleaned == "so does recursive self improvement even work"
    assert ("improvment", "improvement") in read.corrections


def test_a_misspelling_one_edit_from_an_english_word_is_not_turned_into_another_corpus_word():
    reader = QueryReader(["An agent seeking power could upgrade itself by tweaks to its code."])
    # "tweaking" is one edit away; the corpus's "seeking" is two: the reader meant a word the corpus lacks.
    assert reader.correct("tweeking") is None
    # "upgrading" is one edit away too, but it is a form of the corpus's "upgrade": corrected.
    assert reader.correct("upgradng") == "upgrade"


def test_a_correct_word_the_corpus_lacks_is_never_turned_into_a_corpus_word():
    reader = QueryReader(CORPUS)
    assert reader.correct("recipe") is None  # English, not in the corpus: stays, and counts as unknown
    assert reader.correct("deceive") is None  # English; the corpus only has "deception"
    assert reader.correct("compilrs") == "compilers"
    assert reader.correct("alingment") == "alignment"  # two letters swapped: distance 2 is allowed from 8 letters
    assert reader.correct("xqzvbnm") is None  # nothing close in the corpus
    assert reader.correct("aix") is None  # short words are left alone
    assert reader.read("How do I make a recipe for bread?").cleaned == "How do I make a recipe for bread?"
    # A possessive of a corpus word or an English word is that word, never a misspelling of another.
    assert reader.correct("Chiang's") is None and reader.correct("Chiang’s") is None  # not "changes"
    assert reader.read("How do Chollet's and Chiang's views differ?").corrections == ()


def test_the_ask_of_a_long_question_is_found_only_when_there_is_background():
    long = ("My friend who writes software thinks neural networks are such an opaque tangle that no AI could ever "
            "rework one, so the whole worry is overblown. What is the usual counterargument?")
    assert ask_part(long) == "What is the usual counterargument?"
    assert ask_part("What is KANSI?") is None  # short
    only_asks = "Why " + "would it " * 12 + "matter? And how would it " + "go on " * 5 + "?"
    assert ask_part(only_asks) is None  # nothing but asking


def test_an_ask_that_points_back_keeps_the_sentence_it_points_at():
    background = "I'm writing a thesis on principal-agent problems in economics and read a lot about incentives."
    said = "It made me wonder whether an AI that builds a stronger AI runs into the same issues we do."
    assert ask_part(f"{background} {said} Does anyone in the material make that argument?") == (
        f"{said} Does anyone in the material make that argument?")
    assert ask_part(f"{background} {said} What's the claim, exactly?") == f"{said} What's the claim, exactly?"
    # an ask that does not point back to something said stays alone (a pronoun is in most questions); a referent that
    # is all the background is left out
    assert ask_part(f"{background} {said} Does anyone in the material discuss incentives?") == (
        "Does anyone in the material discuss incentives?")
    assert ask_part(f"{background} {said} Is it different from the weights?") == "Is it different from the weights?"
    assert ask_part(f"{background[:-1]}, and {said[0].lower()}{said[1:]} Is that idea discussed?") == (
        "Is that idea discussed?")


def test_contrast_and_advice_intents():
    reader = QueryReader(CORPUS)
    assert reader.read("How does Chiang's view differ from Chollet's?").contrast
    assert reader.read("what do both sides say").contrast
    assert not reader.read("What is KANSI?").contrast
    assert reader.read("Can you walk me through RLHF step by step?").advice
    assert reader.read("What GPU should I buy?").advice
    assert reader.read("can you write me a quicksort in rust?").advice  # a request to produce something
    assert reader.read("show me how steering vectors are computed").advice
    assert not reader.read("Would an AI figure out how to upgrade itself by buying more GPUs?").advice
    # What is best is a recommendation, unless it is something a debate says.
    for question in ("what's the best open source SAT solver these days?", "best way to get rust off a pan?",
                     "which distillation method gives the best accuracy for small models?"):
        assert reader.read(question).advice, question
    for question in ("What's the best argument for foom?", "what is the best case against RSI?",
                     "Which commenter gives the best counterargument?", "What's his best-known argument?",
                     "is that at best a weak case?"):
        assert not reader.read(question).advice, question
    # Asking to see or hear more of the material politely is no request for advice; asking whether one can do is.
    for question in ("can i see what the other side says?", "could I hear more about his reasoning?"):
        assert not reader.read(question).advice, question
    assert reader.read("can i run it on a single gpu?").advice and reader.read("could i build one myself?").advice


def test_a_demand_is_advice_the_readers_own_case_or_a_figure():
    reader = QueryReader(CORPUS)
    assert reader.read("can I run that on my laptop?").personal
    for question in ("can I run that on my laptop?", "How do I fine-tune a model?", "what year was it published?"):
        assert reader.read(question).demands, question
    for question in ("Why does he think that?", "What did Chollet argue?", "Could it improve its own weights?"):
        assert not reader.read(question).demands, question


def test_the_kind_of_thing_a_which_question_asks_for():
    from rsiqa.search.query import asked_kind

    assert asked_kind("which lab does he work at these days") == "lab"
    assert asked_kind("In which publication did Chiang make his argument?") == "publication"
    assert asked_kind("what other books has he written?") == "books"
    assert asked_kind("which software library is he known for") == "library"
    assert asked_kind("whats the name of the deep learning library he made?") == "library"  # "the name of" an N
    assert asked_kind("what is the name of the post?") is None  # a part of the material
    # Things the material says, its parts and its speakers, and questions that name no kind, are not asked kinds.
    for question in ("what analogy does he use?", "What image is used for an AI building tools?",
                     "which commenter says so?", "what else does it count?", "what does he think?", "What is KANSI?"):
        assert asked_kind(question) is None, question


def test_a_question_about_who_originated_something():
    from rsiqa.search.query import holds_origin

    reader = QueryReader(CORPUS)
    for question in ("Who coined the term seed AI?", "who first came up with the paperclip maximizer?",
                     "What is the origin of the treacherous turn idea?", "where does the shoggoth meme come from?",
                     "Who founded MIRI, and in what year?", "who invented it?", "who coined that term?"):
        assert reader.read(question).origin and reader.read(question).demands, question
    # Pointing back, it asks who said what was just said; "come up with" inside a claim asks no origin.
    for question in ("who came up with that", "Who claimed an agent can come up with improvements?",
                     "What did the people who founded MIRI picture about seed AI?"):  # names them, asks no origin
        assert not reader.read(question).origin, question
    assert holds_origin("The term was coined by Eliezer Yudkowsky.") and not holds_origin("Chollet argued in 2017.")
    assert holds_origin("MIRI was co-founded in 2000.") and not holds_origin("MIRI in the 2000s pictured seed AI.")


def test_names_and_years_the_corpus_never_mentions():
    reader = QueryReader(["Chollet argued in 2017 that it cannot go exponential. MIRI in the 2000s pictured seed AI."])
    assert reader.unknown_names("Did Hinton answer Chollet in 2016?") == ("2016", "Hinton")
    assert reader.unknown_names("What did Chollet argue in 2017 and MIRI in the 2000s?") == ()
    # A served index tells its keyword tokens instead (its spelling vocabulary has no numbers).
    served = QueryReader([], counts={"chollet": 1}, knows_token={"2016"}.__contains__)
    assert served.unknown_names("what did Chollet say in 2016 or the 1990s?") == ("1990s",)
    # A decade however written, and no number that is not a year ("2048 GPUs").
    assert reader.unknown_names("What did MIRI picture in the 2000's?") == ()
    assert "2048" not in reader.unknown_names("Could 2048 GPUs run a seed AI?")


def test_a_question_for_the_view_of_someone_the_corpus_never_names():
    from rsiqa.search.query import whose_view

    assert whose_view("What does the EU AI Act say about self-modifying AI?") == "the EU AI Act"
    assert whose_view("how would Hinton respond to that?") == "Hinton"
    assert whose_view("Why does recursion matter?") is None
    reader = QueryReader(CORPUS)
    assert reader.read("What does the EU AI Act say about self-modifying AI?").unknown_speaker
    assert not reader.read("What does Ted Chiang think about self-modifying AI?").unknown_speaker  # names it uses
    misspelt = reader.read("What does Ted Chaing think?")  # corrected: no name the corpus lacks
    assert not misspelt.unknown_speaker and misspelt.unknown_names == ()
    assert not reader.read("Did Hinton say it?").unknown_speaker  # an unknown name, not whose view is asked


def test_verbs_for_saying_or_writing():
    from rsiqa.search.query import names_a_saying

    assert all(names_a_saying(word) for word in ("wrote", "written", "says", "argued", "claims", "mentioned"))
    assert not any(names_a_saying(word) for word in ("writer", "sayings", "statement", "argument", "wrought"))


def test_a_follow_up_asking_for_more_than_was_said():
    reader = QueryReader(CORPUS)
    for question in ("what else?", "any other overhang they mention?", "so what could it do instead?", "tell me more"):
        assert reader.read(question).more, question
    assert not reader.read("why does he think that?").more


def test_a_question_for_how_something_works_inside():
    from rsiqa.search.query import holds_workings

    reader = QueryReader(CORPUS)
    for question in ("how do protein folding models like alphafold actually work under the hood?",
                     "How exactly is the top-right vector computed?", "can u explain step by step how steering works",
                     "so how does a compiler actually turn code into machine instructions?",
                     "How does a Gödel machine's proof searcher actually decide when to rewrite itself?"):
        read = reader.read(question)
        assert read.workings and read.demands_a_fact, question
    # What an argument says, what actually happened, a casual "how does that even work": the debate's own questions.
    for question in ("How does a Gödel machine improve itself?", "ted chiang thinks ai is like a compiler?? how does "
                     "that even work lol", "How does MIRI's early picture differ from how AI was actually developed?",
                     "Can you work out how a weight should be updated without actually computing the gradient?",
                     "how exactly does Yudkowsky argue that recursion leads to foom?",
                     "how does the compiler argument actually work?"):  # how an argument works: the debate's own
        assert not reader.read(question).workings, question
    assert holds_workings("The vector is computed by averaging the activations over many mazes.")
    assert holds_workings("First it searches for a proof, then it rewrites itself.")
    assert not holds_workings("A superintelligence could solve protein folding quickly.")
    assert not holds_workings("AIs are like compilers: bootstrapping helps only up to a point.")


def test_a_question_for_a_works_title_or_where_it_appeared():
    from rsiqa.search.query import holds_work

    reader = QueryReader(CORPUS)
    for question in ("What is the title of François Chollet's 2017 essay, and where was it published?",
                     "has he published a paper on that? whats it called",
                     "which economist wrote that, and what's their book called?",
                     "Who came up with instrumental convergence, and in which paper or book?"):
        read = reader.read(question)
        assert read.work and read.demands_a_fact, question
    # A work of the material itself (a post, an argument in it) is named by its citation; a claim is no work.
    for question in ("where was the skeptical post published?", "Where was the argument about AGIs published?",
                     "What is the title of the essay on the feasibility of recursive self-improvement?",
                     "Which essay argues you don't have to self-modify to self-improve?",
                     "What's the name of the paper about whether RSI is relevant in deep learning?",
                     "Has anyone published a paper on recursive self-improvement in deep learning?", "What did Chollet argue in 2017?",
                     "Which post argues that RSI does not apply to deep learning?", "what's the faq answer called?"):
        assert not reader.read(question).work, question
    assert holds_work('From "Hard Takeoff" (emphasis mine):')
    assert holds_work("See https://www.lesswrong.com/posts/abc for the whole essay.")
    assert holds_work("The essay was published in Wired.")
    assert not holds_work("François Chollet, who argued in 2017 that self-improving systems cannot go far.")


def test_a_question_about_where_someone_stands_in_the_world():
    from rsiqa.search.query import holds_profile

    reader = QueryReader(CORPUS)
    for question in ("where does he work now?", "what's he working on these days?",
                     "where is it based and who funds it?",
                     "what's shoshannah's research background?", "which lab is Stuart Armstrong at?",
                     "How is MIRI funded?", "what university did she go to?", "robin hanson's day job?",
                     "who does yudkowsky work for?", "tell me where MIRI is based", "what does she work on?",
                     "is she on twitter? whats her handle", "what's her last name and what does she do?",
                     "what did he do after that?"):
        read = reader.read(question)
        assert read.profile and read.demands, question
    # Whether an idea works, a kind of system, the reader's own work, a long question's background: no profile.
    for question in ("and why doesn't that work for DL?", "would that work for a deep learning agi?",
                     "Who claimed a GPT-based agent can study itself?", "so how fast would an ML-based AGI settle?",
                     "I work on interpretability. Does the skeptical post think good tools would help?",
                     "My background is in economics. Did anyone apply principal-agent problems to AI?",
                     "Do an agent's values have to be stable for it to work at keeping them?",
                     # the debate's own questions that share a word with a profile question
                     "what's the author's background assumption about takeoff speed?",
                     "does he work through an example?",
                     "does the post assume the AGI is based in a single datacenter?", "what's the debate's background?",
                     "could an ai get funded by selling its services and then buy compute?",
                     "what jobs would a self-improving ai automate first?", "where does this idea work?",
                     "how was the idea of an intelligence explosion born?", "which lab's systems does he mean?",
                     "what does he do about goal drift?", "what did they do to the maze agent's weights?"):
        assert not reader.read(question).profile, question
    assert holds_profile("He is a professor at the University of Oxford.")
    assert holds_profile("MIRI is funded by donations.") and not holds_profile("MIRI pictured modular code.")


def test_a_question_for_a_reply():
    reader = QueryReader(CORPUS)
    for question in ("how did the author respond?", "what did the other guy say to that", "did anyone push back?",
                     "Was there a reply?", "who disagreed with him?"):
        assert reader.read(question).reply, question
    for question in ("what does the author argue?", "what else is on the list?", "Why does he think that?"):
        assert not reader.read(question).reply, question


def test_what_a_part_of_the_material_is_about_is_a_summary_request_of_that_part():
    reader = QueryReader(CORPUS)
    read = reader.read("What is the FAQ about?")
    assert read.overview and read.whole and read.kinds == ("faq_answer",)
    assert reader.read("what are the comments about").kinds == ("comment",)
    assert not reader.read("What is the bitter lesson about?").overview  # a topic, not a part of the material


def test_a_question_that_asks_for_a_number_or_a_date():
    reader = QueryReader(CORPUS)
    assert reader.read("How many parameters does GPT-4 have?").quantity
    assert reader.read("What year do forecasters expect AGI to arrive?").quantity
    assert reader.read("who founded MIRI and when was it started").quantity  # the second clause asks
    assert not reader.read("Who noticed how many people mind having their goals changed?").quantity  # not its ask
    assert not reader.read("When will an AGI want to solve alignment?").quantity  # a when about the future: not a date
    assert not reader.read("How much can an AI gain by improving itself?").quantity  # a degree, not a figure
    assert reader.read("how much electricity does a data center for AI training use per year").quantity
    assert reader.read("how much total compute exists in the world right now, in flops?").quantity
    assert reader.read("how much did gpt-4 cost exactly?").quantity  # a price
    for degree in ("how much smarter would things need to get for that?", "how much does it matter?",
                   "how much of the code would it need to read?", "How much would a human-level AI improve itself?",
                   "how much evidence is there for a hard takeoff?", "how much self-improvement is possible?",
                   "how much do we pay attention to compute?"):
        assert not reader.read(degree).quantity, degree
    assert holds_quantity("Chollet argued in 2017 that it cannot go exponential.")
    assert holds_quantity("Trillions to quadrillions of parameter models")
    assert not holds_quantity("The model was selected by search, not designed.")


def test_the_term_a_definition_question_asks_about():
    assert defined_term("What is KANSI?") == "KANSI"
    assert defined_term("KANSI meaning") == "KANSI"
    assert defined_term("what's a Godel machine") == "Godel machine"
    assert defined_term("What is constitutional AI and who came up with it?") == "constitutional AI"
    assert defined_term("What is dropout in neural networks?") == "dropout"
    assert defined_term("What are the Asilomar AI principles?") == "Asilomar AI principles"
    assert defined_term("define recursive self-empowerment") == "recursive self-empowerment"
    assert defined_term("What does foom mean?") == "foom"
    # A claim, a contrast or another kind of question is no term to define.
    assert defined_term("What is the big lesson we learned over the past ten years about AGI?") is None
    assert defined_term("What's the difference between a list and a tuple?") is None
    assert defined_term("Who argued that GOFAI is not dead?") is None
    assert defined_term("what's the usual counter to that?") is None  # points back: about what was said
    assert defined_term("what is his main point") is None
    assert QueryReader(CORPUS).read("so what is KANSI?").term == "KANSI"


def test_the_words_of_a_term_leave_out_common_words_and_the_material_s_parts():
    assert term_words("Asilomar AI principles") == ["Asilomar", "AI", "principles"]
    assert term_words("deal with foom") == ["foom"]  # "what's the deal with foom?": "deal" frames the question
    assert term_words("FAQ's conclusion") == ["conclusion"]  # "the FAQ" points at the material
    assert term_words("commenter's idea") == []
    assert term_words("multi-polar scenario") == ["multi-polar", "scenario"]  # "multi" alone would be left out


def test_a_request_for_a_summary_and_for_a_summary_of_the_whole_material():
    reader = QueryReader(CORPUS)
    for whole in ("tldr of the debate", "give me an overview", "whats the gist", "summary of both sides",
                  "can you sum it up for me?", "what is this all about", "summarize the FAQ answer pls",
                  "Give me a summary of the debate in 3 bullet points", "tldr of the comments",
                  "what's the FAQ's main point"):
        assert reader.read(whole).overview and asks_for_the_whole(whole), whole
    for topic in ("rsi debate summary", "summarize the argument about compilers", "main points of the deep learning objection"):
        assert reader.read(topic).overview and not reader.read(topic).whole, topic  # a summary of something in it
    for plain in ("What is recursive self-improvement?", "What did Chollet argue?", "Is the sum of the parts bigger?"):
        assert not reader.read(plain).overview and not asks_for_the_whole(plain), plain
    assert without_summary_request("can you sum it up for me?").split() == ["can", "you", "for", "me?"]


def test_why_questions_and_texts_that_explain_are_recognised():
    from rsiqa.search.query import asks_why, explains

    assert asks_why("Why are default arguments shared?") and asks_why("how come my list changes everywhere lol")
    assert asks_why("what's the reason tuples are immutable?")
    assert not asks_why("How do I sort a list?") and not asks_why("What did Chollet argue?")
    assert explains("This happens because x is not local.") and explains("The reason is that floats are binary.")
    assert explains("It is because the name is bound late.")
    assert not explains("Because of this, we use None.") and not explains("x is local to the lambda.")
