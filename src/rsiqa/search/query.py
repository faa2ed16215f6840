"""Reading a question as a reader types it: fillers, misspellings, background before the ask, its intent.

Readers type "lol so does self improvment even work for deep learning stuff?" or put three
sentences of background before the question. :class:`QueryReader` turns that into what the
retriever and the abstention should look at:

* **fillers** of casual chat ("lol", "u", "tbh", "or nah") are dropped: they are not evidence;
* **misspellings** are corrected against the corpus's own vocabulary with SymSpell
  (symspellpy): a word is corrected only when it is neither a corpus word nor an English word
  (symspellpy's 82,765-word frequency list), and only into a corpus word within edit distance
  1 (2 for words of 8 letters or more). A correctly spelt word the corpus lacks ("recipe")
  is never turned into a corpus word, so it still counts against the question's coverage;
* **the ask** of a long question: the sentences that ask (a question mark, or an interrogative
  or imperative opening) when the question also holds background, with the sentence before
  an asking one that points back to something said in it ("Is that idea discussed?", "What's the claim?");
* **the source it points at**: "the commenter", "the author's post", "the FAQ", "the notes";
* **intent**: a contrast ("how do X and Y differ", "what do both sides say"), a request for
  instructions or advice ("step by step", "how do I", "should I buy"), which a debate does not hold,
  or a question whose answer is a number or a date ("How many parameters ...", "What year ...").
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rsiqa.search.acronyms import spell_out
from rsiqa.search.lexical import REFERS_BACK, content_words, fold_accents, stem

#: Words of casual chat that carry no content ("lol so does it work or nah").
FILLERS = frozenset("""
lol lmao rofl haha hahaha hmm hm huh uh um umm ok okay k kk yeah yea yep yup nah nope hey hi hello pls plz please
thx thanks ty tbh imo imho idk btw fwiw ngl afaik iirc irl rn u ur ya yall ye da dat dis gonna wanna gotta kinda
sorta lemme gimme dunno cuz cos coz bc tho thru alot stuff basically literally totally anyway anyways whats wats
wat im ive
""".split())

#: An interrogative or imperative opening: the part of a long question that asks.
_ASKS = re.compile(
    r"^(what|why|how|when|where|who|whom|whose|which|is|are|was|were|will|would|can|could|should|might|may|does|do|"
    r"did|has|have|had|explain|describe|tell|compare|summari[sz]e|give|list|name)\b", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
#: A possessive ending: a word with it is the word (a name the corpus has is not misspelt with "'s").
_POSSESSIVE = re.compile(r"['’]s$")

#: A question about how two things or two sides differ.
_CONTRAST = re.compile(
    r"\b(differ\w*|difference\w*|compare\w*|comparison|contrast\w*|versus|vs\.?|both sides|each side|other side|"
    r"disagree\w*|two views|agree with each other|opposite)\b", re.IGNORECASE)

#: A request to define a term: "What is X?", "what's X and who ...", "X meaning", "define X", "what does X mean?".
#: The term ends where the question goes on (", and", " in", " of", " that", ...).
_DEFINES = re.compile(
    r"^(?:(?:so|and|ok|okay|wait|hey|but)\s+)*(?:what(?:['’]s|\s+is|\s+are|\s+was|\s+were)|whats|define|explain)\s+"
    r"(?:(?:a|an|the)\s+)?(?P<term>.+?)\s*(?:[?,;:]|$|\s(?:and|or|in|of|on|that|which|who|for|from|when|why|how|if)\s)"
    r"|^(?P<before>.+?)\s+(?:meaning|definition)\s*\??$|^(?:meaning|definition)\s+of\s+(?P<after>.+?)\s*\??$"
    r"|^what\s+does\s+(?P<means>.+?)\s+mean\b", re.IGNORECASE)
#: A term to define has at most this many words: a longer "What is ..." asks about a claim, not a term.
_TERM_WORDS = 4
#: The most frequent English words (symspellpy's list is in order of frequency) frame a question rather than name
#: what it asks about: "deal" in "what's the deal with foom?", "story", "point", "idea".
_COMMON_WORDS = 2000


#: A request for instructions or advice ("walk me through", "step by step", "how do I", "should I buy"), or to produce
#: something ("write me a sorting function").
_ADVICE = re.compile(
    r"^\W*how to\b|\b(step[- ]by[- ]step|walk me through|show me how|(write|code|draw|build) me|"
    r"how (do|can|should) (i|we)|tutorial|"
    r"should i|(could|can) i(?!\s+(see|get|have|read|hear|ask|know)\b)|recommend\w*|"
    r"buy|purchase|install|set ?up|"
    r"my (laptop|computer|gpu|code|model|job|kid|career))\b", re.IGNORECASE)

#: A question that asks which thing of a kind ("which lab does he work at?", "what university ...", "in which
#: publication did ..."): the answer names something of that kind.
_ASKED_KIND = re.compile(
    r"\b(?:which|what)\s+(?:(?:kinds?|sorts?|types?)\s+of\s+)?(?:[a-z-]+\s+)?(?P<kind>[a-z-]+)\s+"
    r"(?:does|did|do|is|was|are|were|has|have|had|would|could|should|can|will)\b", re.IGNORECASE)
#: "What's the name of the library he made?": the words after "name of", up to the first function word.
_NAME_OF = re.compile(r"\bname of\s+(?:(?:the|a|an|his|her|their|its|that|this)\s+)?(?P<words>(?:[a-z-]+\s*){1,4})",
                      re.IGNORECASE)
#: Kinds that are things the material says rather than things of the world it talks about ("what image is used
#: for ...", "what analogy does he use?"): the material is their instance, whether or not it uses the word.
_DISCOURSE_KINDS = frozenset("""
image images picture pictures metaphor metaphors analogy analogies example examples word words term terms phrase
phrases quote quotes quotation name names label labels argument arguments point points claim claims objection
objections reason reasons view views idea ideas comparison comparisons
""".split())

#: What is best, unless it is something a debate says ("the best argument for foom"): a recommendation ("the best
#: open source SAT solver", "best way to get rust off a pan", "which distillation method gives the best accuracy").
_RECOMMENDATION = re.compile(
    rf"(?<!\bat )(?<!\bis )\bbest\b(?!(?:[-\s,]+[\w'’]+)?[-\s,]+(?:{'|'.join(sorted(_DISCOURSE_KINDS))}|"
    r"evidence|case|explanation|account|answer|response|reply|rebuttal|counter-?argument|objection|critique|criticism|defen[cs]e|"
    r"summary|version|interpretation|guess|estimate)s?\b)", re.IGNORECASE)


#: A question about the reader's own case ("how do I ...", "for my own agent"): advice, not a position of the debate.
PERSONAL_REQUEST = re.compile(r"\b(I|I'm|my|mine)\b")

#: A request for a summary ("tldr", "give me an overview", "what's the gist", "sum up the debate", "main points").
_OVERVIEW = re.compile(
    r"\b(tl;?\s?dr|summar(y|ies|ise|ize|ised|ized|ising|izing)|sum (it |this |that |(the|this) \w+ )?up|overview|gist|"
    r"nutshell|(main|key) (points?|ideas|arguments|takeaways)|big picture|"
    r"what(['’]?s| is| are) (this|it|the (faq( answer)?|posts?|comments|notes|thread|debate|discussion|material)) "
    r"(all )?about)\b",
    re.IGNORECASE)

#: Words that, beside a request for a summary, name the material itself or ask politely: "summary of both sides",
#: "give me a quick overview of the whole debate". A summary request with no other word is about all of it.
_MATERIAL_WORDS = frozenset("""
debate debates discussion discussions material topic subject side sides thread threads page text whole thing things
everything overall general give tell explain quick quickly short brief briefly simple simply want need get
bullet bullets point points list sentence sentences words paragraph answer
""".split())

#: "how much" asks for a figure when a measurable thing follows it ("how much electricity ...", "how much total
#: compute ...") or the question is about a price ("how much did it cost?"); not for a degree: "how much can an AI
#: gain ...?", "how much evidence is there ...?", "how much smarter ...", "how much of the code ...".
_HOW_MUCH_FIGURE = (r"how much(?=\s+(?:[\w'’-]+\s+){0,2}?(?:electricity|energy|power|compute|computing|money|time|data|"
                    r"memory|storage|flops|hardware|gpus?|chips?|funding|cash|revenue|budget|capital)\b)|"
                    r"how much(?=[^?.;]*\b(?:cost|costs|costed|spend|spent|price|priced|money)\b)")

#: A question whose answer is a number or a date: "How many ...", "What year ...", "When was ... founded?", "how much
#: electricity ..." (at the start of the question or of one of its clauses).
_ASKS_QUANTITY = re.compile(
    r"(?:^|[,;]\s*|\band\s+)(how many|what year|which year|in what year|when (?:was|were|did)|"
    rf"{_HOW_MUCH_FIGURE})\b", re.IGNORECASE)

#: A question that asks how many things there are ("How many skeptics ...?"): a list answers it as well as a number.
_COUNTS = re.compile(r"\bhow many\b", re.IGNORECASE)

#: A numeral or a number word: what a sentence that answers "how many" or "what year" holds.
_QUANTITY = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy|"
    r"eighty|ninety|hundreds?|thousands?|millions?|billions?|trillions?|quadrillions?|dozens?)\b", re.IGNORECASE)


def holds_quantity(sentence: str) -> bool:
    """Whether ``sentence`` holds a number (digits or a number word)."""
    return bool(_QUANTITY.search(sentence))


#: A question about who originated something ("Who coined the term seed AI?", "who first came up with the paperclip
#: maximizer?", "the origin of the term", "where does the shoggoth meme come from?"); not one that points back at
#: what was said ("who came up with that?", "who proposed this?": who said it). "who coined ..." is :data:`_ASKS_MAKER`.
_ASKS_ORIGIN = re.compile(r"\bwho\s+(?:first\s+|originally\s+)?(?:came up with|thought up|proposed|formulated|"
                          r"introduced)\b|\borigins? of\b|\bwhere\b[^?]*\bcomes? from\b", re.IGNORECASE)
#: Verbs for making a thing, not a claim: "who invented it?", "who founded MIRI?" ask for an origin even pointing back;
#: at the start of a question or a clause ("the people who founded MIRI" only names them).
_ASKS_MAKER = re.compile(r"(?:^|[,;.?!]\s*|\b(?:and|so|but|ok|okay|wait)\s+)who\s+(?:first\s+|originally\s+)?"
                         r"(?:coined|invented|originated|(?:co-?)?founded)\b", re.IGNORECASE)

#: What a sentence that says where something came from holds: "coined", "invented", "founded", "first described", ...
_ORIGIN = re.compile(r"\b(coin(ed|s|ing)?|invent(ed|s|ing|or)?|came up with|comes up with|proposed|introduced|"
                     r"formulated|(co-?)?found(ed|er|ers|ing)|originat\w*|first (described|used|wrote|named|published|"
                     r"suggested))\b", re.IGNORECASE)


def asks_origin(question: str) -> bool:
    """Whether ``question`` asks who originated something it names (see :data:`_ASKS_ORIGIN`, :data:`_ASKS_MAKER`)."""
    return bool(_ASKS_MAKER.search(question)) or (bool(_ASKS_ORIGIN.search(question))
                                                  and not REFERS_BACK.search(question))


def holds_origin(sentence: str) -> bool:
    """Whether ``sentence`` says where something came from (someone coined, invented, first described it)."""
    return bool(_ORIGIN.search(sentence))


#: A question for the title or the place of a work someone the material names made ("What's the title of Chollet's
#: 2017 essay?", "which economist wrote that, and what's their book called?", "has he published a paper on that?",
#: "in which paper or book?"): a discussion that only mentions a work does not name it. The work belongs to someone
#: (a possessive, "he published"): "the essay on …" or "which essay argues …" may be one of the material's own posts,
#: which its citation names; so may the thing of "where was … published?".
_ASKS_WORK = re.compile(
    r"\b(?:title|name)s?\s+of\s+(?:(?:his|her|their|its)\s+|(?:[\w-]+\s+){0,2}?[\w-]+['’]s\s+)(?:[\w'’-]+\s+){0,2}?"
    r"(?:essay|paper|book|talk|lecture)\b|"
    r"\bwhat(?:'s|’s|\s+is|\s+was)?\s+(?:their|his|her|its)\s+(?:essay|paper|book|talk|lecture)\s+called\b|"
    r"\b(?:in\s+)?which\s+(?:paper\s+or\s+book|book|journal|magazine|conference)\b|"
    r"\b(?:he|she|they)\s+(?:ever\s+)?(?:published|written|wrote)\s+(?:a|an|any)\s+(?:papers?|books?|essays?)\b",
    re.IGNORECASE)
#: What a sentence that names a work holds: a title in quotation marks, a link, a place of publication.
_WORK = re.compile(r"[\"“][A-Z][^\"”]{2,80}[\"”]|https?://|\bpublished\s+(?:in|by|on)\b|"
                   r"\bin\s+(?:the\s+)?(?:journal|magazine|book)\b")


def asks_work(question: str) -> bool:
    """Whether ``question`` asks a work's title or where it appeared (see :data:`_ASKS_WORK`)."""
    return bool(_ASKS_WORK.search(question))


def holds_work(sentence: str) -> bool:
    """Whether ``sentence`` names a work: a title in quotation marks, a link or where it was published."""
    return bool(_WORK.search(sentence))


#: A subject that is not an organisation (a thing named with an article or a demonstrative: where "that claim" is
#: based), and one that is not a person either ("it" works, "this idea" works; but "it" may be based somewhere).
_DETERMINERS = "the|this|that|these|those|a|an|your|such"
_NOT_A_THING = rf"(?!(?:{_DETERMINERS})\b)"
_NOT_A_PERSON = rf"(?!(?:{_DETERMINERS}|it|its)\b)"

#: A question for where someone or something stands in the world rather than what it says: where a person works or
#: studied, who employs or funds someone or something, where an organisation is based ("where does he work now?",
#: "who funds MIRI?", "robin hanson's day job?", "what's her research background?", "which lab ..."). Each form ties
#: the relation to a person or an organisation (he, she, a name, "it" for where it is based, a kind of organisation)
#: so that the debate's own questions are not caught: whether an idea works ("does that work for deep learning?"),
#: an argument's background ("the author's background assumption"), jobs AI would automate, an AI funded by selling
#: services, "GPT-based agents", the reader's own work ("I work on ...").
_ASKS_PROFILE = re.compile(
    rf"\bwhere\s+(?:does|did|do)\s+{_NOT_A_PERSON}(?:[\w'’-]+\s+){{1,3}}?(?:work|study)\b|"
    r"\bwhere\s+(?:he|she|they)\s+(?:works|worked|studies|studied)\b|"
    rf"\bwhere\s+{_NOT_A_THING}(?:[\w'’-]+\s+){{1,3}}?(?:is|was|are)\s+(?:based|headquartered)\b|"
    rf"\bwhere\s+(?:is|was|are)\s+{_NOT_A_THING}(?:[\w'’-]+\s+){{1,3}}?(?:based|headquartered)\b|\bheadquartered\b|"
    rf"\b(?:which|what|who)\s+(?:\w+\s+)?(?:does|did|do)\s+{_NOT_A_PERSON}(?:[\w'’-]+\s+){{1,3}}?"
    r"(?:currently\s+|still\s+)?work\s+(?:for|at)\b|"
    r"\b(?:he|she)\s+(?:currently\s+|still\s+|now\s+)?(?:works?|worked|working)\s+(?:at|for)\b|"
    r"\bworking\s+on\s+(?:these\s+days|nowadays|now|right\s+now)\b|"
    r"\b(?:his|her|their)\s+(?:day\s+)?(?:job|employer|salary)\b|\b\w+['’]s\s+(?:day\s+job|employer|salary)\b|"
    r"\b(?:his|her|their)\s+(?:\w+\s+){0,2}?background\s*(?:[-–—?,.;:]|$|and\b)|"
    r"\bwhat\s+(?:does|did|is)\s+(?:he|she)\s+(?:currently\s+|still\s+)?(?:work|working)\s+on\b|"
    r"\b\w+['’]s\s+(?:research|academic|professional)\s+background\b|"
    r"\b(?:which|what)\s+(?:compan(?:y|ies)|labs?|orgs?|organi[sz]ations?|firms?|institutes?|universit(?:y|ies)|"
    r"colleges?)\b(?!['’]s)|"
    r"\bwho\s+(?:funds|funded|finances|financed|pays\s+for)\b|\bhow\s+(?:is|was|are)\s+(?:[\w'’-]+\s+){1,3}?funded\b|"
    # a person's life: "is she on twitter? whats her handle", "what's her last name", "what did he do after that?"
    r"\b(?:his|her|their)\s+(?:twitter\s+|x\s+|instagram\s+|linkedin\s+)?(?:handle|account|last\s+name|surname|"
    r"full\s+name|age|website|e-?mail)\b|\bon\s+(?:twitter|linkedin|instagram|mastodon|bluesky)\b|"
    r"\bwhat\s+(?:does|did)\s+(?:he|she|they)\s+do(?:\s+for\s+(?:a\s+)?(?:living|work))?\s*"
    r"(?:[?,.;]|$|and\b|after\b|next\b|now\b|these\s+days\b)",
    re.IGNORECASE)

#: What a sentence that gives such a fact holds: a job, an employer, studies, funding, a base.
_PROFILE = re.compile(r"\b(jobs?|employ\w*|works? (at|for)|worked (at|for)|stud(y|ied|ies)|degree|universit(y|ies)|"
                      r"college|professor|fund(s|ed|ing)|financ\w*|based in|headquarter\w*|born|salary|lives? in|"
                      r"twitter|handle)\b",
                      re.IGNORECASE)


def asks_profile(ask: str) -> bool:
    """Whether ``ask`` (a question's asking part) asks where someone or something stands in the world (see
    :data:`_ASKS_PROFILE`): a fact about a person or an organisation, not a position in a debate."""
    return bool(_ASKS_PROFILE.search(ask))


def holds_profile(sentence: str) -> bool:
    """Whether ``sentence`` gives such a fact: someone's job, employer or studies, an organisation's funding or base."""
    return bool(_PROFILE.search(sentence))


#: A question for how something works inside, in detail ("how do protein folding models actually work under the
#: hood?", "how exactly is the top-right vector computed?", "explain step by step how steering vectors are
#: computed"): a debate names techniques and systems to argue about them, and rarely takes one apart.
_WORKING_VERBS = r"(?:works?|decides?|computed?|finds?|found|turns?|runs?)"
_ASKS_WORKINGS = re.compile(
    r"\bunder the hood\b|\bstep[- ]by[- ]step\b|"
    rf"\bhow\b(?P<thing>(?:\s+[\w'’-]+){{1,8}}?)\s+(?:actual+y|exactly)\s+{_WORKING_VERBS}\b|"
    rf"\bhow\s+(?:actual+y|exactly)\b(?P<thing2>(?:\s+[\w'’-]+){{1,8}}?)\s+{_WORKING_VERBS}\b",
    re.IGNORECASE)

#: What a sentence that takes something apart holds: how it proceeds ("works by", "is computed by", "first ... then",
#: "in steps").
_WORKINGS = re.compile(r"\b(works? by|(computed|found|done|built|trained|made) by|steps?|procedure|algorithm|"
                       r"first\b.*\bthen)\b", re.IGNORECASE)


def asks_workings(question: str) -> bool:
    """Whether ``question`` asks how something works inside, in detail (see :data:`_ASKS_WORKINGS`); not how an
    argument works ("how does the compiler argument actually work?"): that is the debate's own question."""
    match = _ASKS_WORKINGS.search(question)
    if not match:
        return False
    thing = (match.group("thing") or match.group("thing2") or "").lower().split()
    return not any(word.strip("'’") in _DISCOURSE_KINDS or names_a_saying(word) for word in thing)


def holds_workings(sentence: str) -> bool:
    """Whether ``sentence`` says how something proceeds (see :data:`_WORKINGS`)."""
    return bool(_WORKINGS.search(sentence))


#: Material takes things apart (shows how they work) when at least this share of its passages holds code or a
#: procedure (:func:`holds_workings`): the Python documentation about half, the debate 0.09.
SHOWS_WORKINGS = 0.25
#: Passages read to measure that share: evenly spaced over the material.
WORKINGS_SAMPLE = 400


def shows_workings(count: int, text: Callable[[int], str]) -> bool:
    """Whether material of ``count`` passages (``text(i)``: the i-th) shows how things are done, as a manual does:
    :data:`SHOWS_WORKINGS` of an even sample of at most :data:`WORKINGS_SAMPLE` passages hold code or a procedure.
    Such material takes "how does X work under the hood?", "how do I ..." and "my code" as its subject."""
    if count <= 0:
        return False
    sample = np.unique(np.linspace(0, count - 1, num=min(count, WORKINGS_SAMPLE)).astype(np.int64))
    shown = sum("```" in (passage := text(int(i))) or holds_workings(passage) for i in sample)
    return shown >= SHOWS_WORKINGS * len(sample)


#: A question for a cause or a reason ("Why does my list change everywhere?", "how come lambdas in a loop all return
#: the same value?", "what's the reason tuples are immutable?").
_ASKS_WHY = re.compile(r"\bwhy\b|\bhow come\b|\bwhat(?:'s|’s| is) the reason\b|\bfor what reason\b", re.IGNORECASE)

#: A text that gives a cause: "This is because ...", "This happens because ...", "The reason is ...".
_EXPLAINS = re.compile(r"\b(?:is|was|happens|occurs) because\b|\bthe reason (?:is|being|for this is)\b", re.IGNORECASE)


def asks_why(question: str) -> bool:
    """Whether ``question`` asks for a cause or a reason (see :data:`_ASKS_WHY`)."""
    return bool(_ASKS_WHY.search(question))


def explains(text: str) -> bool:
    """Whether ``text`` gives a cause in so many words (see :data:`_EXPLAINS`)."""
    return bool(_EXPLAINS.search(text))


#: A follow-up that asks how someone answered what was just discussed ("how did the author respond?", "what did the
#: other guy say to that?", "did anyone push back?"): in a thread, the reply comes after what it answers.
_ASKS_REPLY = re.compile(r"\b(respon(d|ds|ded|se)|repl(y|ied|ies)|(say|said|says)\s+(to\s+that|back)|push(ed|es)?\s+back|"
                         r"disagree\w*|counter\w*|rebut\w*)\b", re.IGNORECASE)

#: A follow-up that asks for more than was said ("what else?", "any other overhang?", "so what could it do
#: instead?", "anything more?"): its answer is what comes next, not what the reader has.
_ASKS_MORE = re.compile(r"\b(else|other|others|another|instead|besides|also|too|more)\b", re.IGNORECASE)

#: Words with which readers point at a kind of source in the material ("the commenter", "the
#: author's post", "the FAQ", "the notes"); see :attr:`rsiqa.ingest.documents.KIND_LABELS`.
_KIND_CUES = {
    "comment": re.compile(r"\b(comment\w*|repl(y|ies|ied)|respon(se|ses|ded|der)|thread|pushe[sd]? back)\b", re.I),
    "linked_post": re.compile(r"\b(post|author|essay|article|blog)s?\b", re.I),
    "faq_answer": re.compile(r"\bFAQ\b", re.I),
    "note": re.compile(r"\b(notes?|scratchpad|drafts?)\b", re.I),
}


#: Words for the people who speak in the material ("the author", "the commenter") or the sides they take ("the
#: other side", "the optimists"): whoever wrote it or holds a view in it, not a topic.
_SPEAKERS = re.compile(r"(author|commenter|poster|writer|side|camp|proponent|opponent|optimist|pessimist|critic|"
                       r"supporter)s?", re.IGNORECASE)


#: Verbs for saying or writing ("who wrote a response ...?", "what does he claim?"): how the material's people speak.
_SAYING = re.compile(r"wr(?:ote|ite|ites|iting|itten)|sa(?:id|ys|y|ying)|argu(?:e|es|ed|ing)|claim(?:s|ed|ing)?|"
                     r"stat(?:e|es|ed|ing)|mention(?:s|ed|ing)?|assert(?:s|ed|ing)?|insist(?:s|ed|ing)?", re.IGNORECASE)


def names_a_saying(word: str) -> bool:
    """Whether ``word`` is a verb for saying or writing ("wrote", "claims"): who said what is the material's own
    question, whether or not it uses the word ("Who wrote a response to Chollet?": the debate never says "wrote")."""
    return bool(_SAYING.fullmatch(word))


def names_a_part(word: str) -> bool:
    """Whether ``word`` names a kind of the material's parts ("FAQ", "comments", "post", "notes"; :data:`_KIND_CUES`)."""
    return any(cue.fullmatch(word) for cue in _KIND_CUES.values())


#: Nouns for the material's parts ("the FAQ", "the notes", "the comments", "the post"), whether or not it uses them.
_PART_NOUNS = re.compile(r"faqs?|notes?|scratchpad|comments?|posts?|threads?", re.IGNORECASE)


def names_a_part_noun(word: str) -> bool:
    """Whether ``word`` is a noun for a part of the material ("FAQ", "notes", "comments", "post"): a follow-up
    naming one ("does anyone in the FAQ say so?") points back at the material, whether or not it uses the word."""
    return bool(_PART_NOUNS.fullmatch(word))


def names_a_speaker(word: str) -> bool:
    """Whether ``word`` names who speaks in the material ("author", "commenters") or a side it takes ("the other
    side"): it points back at the material, whether or not the material uses the word."""
    return bool(_SPEAKERS.fullmatch(word))


#: A reference to a post by what it is about: "the skeptical deep learning post", "the post asking whether ...".
_DESCRIBES = re.compile(r"\b(?:the|that|this|his|her|their)\s+(?P<before>(?:[\w'’-]+\s+){0,5}?)(?:blog\s+)?"
                        r"(?:post|essay|article)s?\b(?:\s+(?:about|on|asking|arguing|that|where|which|called|titled|"
                        r"saying)\s+(?P<after>[^?.,;!]+))?", re.IGNORECASE)


def names_speaking(word: str) -> bool:
    """Whether ``word`` is about who speaks in the material or how ("the author", "wrote"): no topic of its own."""
    return names_a_speaker(word) or names_a_saying(word)


def post_description(question: str) -> list[str]:
    """The words with which ``question`` describes a post ("the skeptical deep learning post" -> ["skeptical", "deep",
    "learning"]), without words for speakers, sayings or parts of the material; [] when it describes none."""
    words: list[str] = []
    for match in _DESCRIBES.finditer(question):
        words += [word for word in (match.group("before") or "").split() + (match.group("after") or "").split()
                  if not (names_speaking(word) or names_a_part_noun(word))]
    return words


#: A word that may be a name: letters, digits and inner hyphens or apostrophes ("GPT-4", "Hanson's").
_NAME = re.compile(r"[^\W_][\w]*(?:[-'’][\w]+)*")
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9]+(?:-[A-Z0-9]+)*s?$|^[A-Za-z]+-?\d")

#: Long enough to hold background besides the ask.
_LONG_WORDS = 30
#: A noun for something said (one of :data:`_DISCOURSE_KINDS`, or a worry, a scenario, ...), after a word that points
#: at it ("What's the claim, exactly?", "Is that idea discussed?"): an asking sentence with it leans on the sentence
#: before it. A pronoun alone does not: "it", "that" are in most questions ("is it different from the weights?").
_SAID_NOUNS = _DISCOURSE_KINDS | {"reasoning", "assumption", "suggestion", "scenario", "worry", "concern",
                                  "counterpoint", "question", "problem", "thing"}
_SAID_BEFORE = re.compile(rf"\b(?:the|this|that|these|those)\s+(?:{'|'.join(sorted(_SAID_NOUNS))})s?\b", re.IGNORECASE)


@dataclass(frozen=True)
class ReadQuestion:
    """A question as the retriever and the abstention see it."""

    text: str  # as typed
    cleaned: str  # fillers dropped, misspellings corrected: what is embedded and keyword-searched
    ask: str | None  # for a long question with background, the sentences that ask; else None
    contrast: bool  # asks how two things or sides differ
    advice: bool  # asks for instructions or advice
    corrections: tuple[tuple[str, str], ...] = ()  # (typed, corrected) pairs
    unknown_names: tuple[str, ...] = ()  # names the question asks about that the corpus never mentions
    kinds: tuple[str, ...] = ()  # kinds of source the question points at ("the commenter" -> comment)
    quantity: bool = False  # asks for a number or a date ("How many ...", "What year ...", "When was ...")
    overview: bool = False  # asks for a summary ("tldr", "main points", "sum up the debate")
    whole: bool = False  # a summary of the material as a whole: no word but the request's ("give me an overview")
    term: str | None = None  # the term a definition question asks about ("What is KANSI?" -> "KANSI")
    personal: bool = False  # about the reader's own case ("I", "my")
    kind: str | None = None  # the kind of thing a "which ..." question asks for ("which lab ..." -> "lab")
    origin: bool = False  # asks who originated something ("Who coined the term seed AI?")
    count: bool = False  # asks how many things there are: a list answers it as well as a number
    reply: bool = False  # asks how someone answered what was discussed ("how did the author respond?")
    profile: bool = False  # asks where someone or something stands in the world ("where does he work now?")
    workings: bool = False  # asks how something works inside, in detail ("how does X actually work under the hood?")
    work: bool = False  # asks a work's title or where it appeared ("what's the title of his essay?")
    more: bool = False  # asks for more than was said ("what else?", "what could it do instead?")
    unknown_speaker: bool = False  # asks the view of someone the corpus never names ("what does the EU AI Act say?")

    @property
    def demands_a_fact(self) -> bool:
        """Asks for a fact that a sentence holds or not: a number or a date, an origin, someone's job or funding, how
        something works inside, a work's title or where it appeared."""
        return self.quantity or self.origin or self.profile or self.workings or self.work

    @property
    def demands(self) -> bool:
        """Asks for something a discussion does not hold by being on its topic: instructions or advice, the
        reader's own case, a number or a date, who originated something, someone's job or an organisation's
        funding, the inner workings of something."""
        return self.advice or self.personal or self.demands_a_fact


@lru_cache(maxsize=1)
def _english_by_frequency() -> tuple[str, ...]:
    """symspellpy's English frequency list (82,765 words), most frequent first, read once."""
    import symspellpy

    path = Path(symspellpy.__file__).with_name("frequency_dictionary_en_82_765.txt")
    with path.open(encoding="utf-8") as handle:
        return tuple(line.split(" ", 1)[0] for line in handle if line.strip())


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """symspellpy's English frequency list (82,765 words): words that are not misspellings."""
    return frozenset(_english_by_frequency())


@lru_cache(maxsize=1)
def common_english_words() -> frozenset[str]:
    """The :data:`_COMMON_WORDS` most frequent words of symspellpy's English list ("deal", "story", "point")."""
    return frozenset(_english_by_frequency()[:_COMMON_WORDS])


def word_counts(corpus_texts: list[str]) -> Counter[str]:
    """How often each word (lower-cased, accents folded) occurs in ``corpus_texts``, in order of first use.

    One pass over all the text at once ("\n" joins no two words): several times faster than a pass
    per text, the same counts. A build saves them in the index (``spelling.json``), so a server
    does not count a large corpus again at start.
    """
    return Counter(_WORD.findall(fold_accents("\n".join(corpus_texts)).lower()))


def spelling_texts(passage_texts: list[str]) -> list[str]:
    """The texts the spelling vocabulary is counted over: the passages (with their titles) and the kinds' labels."""
    from rsiqa.ingest.documents import KIND_LABELS

    return list(passage_texts) + list(KIND_LABELS.values())


#: A question for someone's view or rules ("What does the EU AI Act say about ...?", "how would Hinton respond?"): the
#: words between the question word and the verb name whose view it asks.
_ASKS_A_VIEW = re.compile(
    r"\b(?:what|how)\s+(?:does|did|do|would|will|is)\s+(?P<who>.+?)\s+(?:say|said|think|argue|claim|believe|require|"
    r"recommend|propose|suggest|predict|respond|reply|view|see|regulate|handle|treat|define)\b", re.IGNORECASE)


def whose_view(question: str) -> str | None:
    """Whose view or rules ``question`` asks for ("What does the EU AI Act say?" -> "the EU AI Act"), or None."""
    match = _ASKS_A_VIEW.search(question)
    return match.group("who") if match else None


#: A year after a word that dates ("in 2016", "since 1999", "the 1990s") or a decade ("the 2000's"): a question naming
#: one the material never mentions asks about a time it does not cover. Not any number ("2048 GPUs").
_YEAR = re.compile(r"\b(?:in|since|by|before|after|around|until|till|from|during|circa|year|the|of)\s+"
                   r"(?P<year>(?:1[5-9]|20)\d\d)(?P<s>['’]?s)?\b|\b(?P<decade>(?:1[5-9]|20)\d0)['’]?s\b",
                   re.IGNORECASE)


def _years(text: str) -> list[str]:
    """The years and decades ``text`` names, as keyword tokens ("the 2000's" -> "2000s", "in 2016" -> "2016")."""
    return list(dict.fromkeys(f"{m['decade']}s" if m["decade"] else m["year"] + ("s" if m["s"] else "")
                              for m in _YEAR.finditer(text)))


class QueryReader:
    """Reads questions against one corpus vocabulary (built once per index)."""

    def __init__(self, corpus_texts: list[str], counts: dict[str, int] | None = None,
                 acronyms: Mapping[str, str] | None = None, knows_token: Callable[[str], bool] | None = None) -> None:
        """``counts``: :func:`word_counts` of ``corpus_texts``, when a build saved them (then the texts are not read);
        ``acronyms``: the corpus's acronyms and what they stand for (:func:`rsiqa.search.acronyms.find_acronyms`);
        ``knows_token``: whether the corpus has a keyword-search token (for the years it mentions; the spelling
        vocabulary is words of letters only), else the years of ``corpus_texts``."""
        counts = Counter(counts) if counts is not None else word_counts(corpus_texts)
        self.vocabulary = frozenset(counts)
        if knows_token is None:
            years = frozenset(_years(" ".join(corpus_texts)))
            knows_token = years.__contains__
        self._knows_token = knows_token
        self.acronyms = dict(acronyms or {})
        self._english = english_words()
        # The spelling dictionary takes seconds at 100k+ passages: built beside the server's start,
        # and waited for by the first correction that needs it (corrections stay the same).
        self._speller = None
        self._speller_ready = threading.Event()
        threading.Thread(target=self._build_speller, args=(counts,), name="rsiqa-speller", daemon=True).start()

    def _build_speller(self, counts: Counter[str]) -> None:
        from symspellpy import SymSpell

        try:
            speller = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
            for word, count in counts.items():
                if len(word) >= 4:
                    speller.create_dictionary_entry(word, count)
            self._speller = speller
        finally:
            self._speller_ready.set()

    def correct(self, word: str) -> str | None:
        """The corpus word ``word`` is a misspelling of, or None (known word, or no close corpus word)."""
        from symspellpy import Verbosity

        lower = fold_accents(word).lower()
        if len(lower) < 5 or lower in self.vocabulary or lower in self._english or lower in FILLERS:
            return None
        owner = _POSSESSIVE.sub("", lower)  # "Chiang's" is Chiang's: never "changes"
        if owner != lower and (owner in self.vocabulary or owner in self._english):
            return None
        distance = 2 if len(lower) >= 8 else 1
        self._speller_ready.wait()
        if self._speller is None:  # building it failed (logged by the thread): no correction
            return None
        found = self._speller.lookup(lower, Verbosity.TOP, max_edit_distance=distance)
        if not found or found[0].term == lower:
            return None
        term = found[0].term
        if found[0].distance > 1 and self._english_one_edit_away(lower, term):
            return None  # "tweeking" is "tweaking", a word the corpus lacks, not the corpus's "seeking"
        return term

    def _english_one_edit_away(self, word: str, corrected: str) -> bool:
        """Whether an English word other than (a form of) ``corrected`` is one edit from ``word``: then the
        corpus word two edits away is another word, not what the reader meant."""
        letters = "abcdefghijklmnopqrstuvwxyz"
        splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
        edits = ({a + b[1:] for a, b in splits if b}  # deletes
                 | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}  # transpositions
                 | {a + c + b[1:] for a, b in splits if b for c in letters}  # replacements
                 | {a + c + b for a, b in splits for c in letters})  # insertions
        target = stem([corrected])[0]
        return any(edit in self._english and stem([edit])[0] != target for edit in edits)

    def read(self, question: str) -> ReadQuestion:
        """Clean ``question`` (fillers, spelling), find its ask and its intent."""
        corrections: list[tuple[str, str]] = []

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            if word.lower() in FILLERS:
                return ""
            corrected = self.correct(word)
            if corrected:
                corrections.append((word, corrected))
                return corrected
            return word

        cleaned = " ".join(_WORD.sub(fix, question).split()) or question.strip()
        cleaned = spell_out(cleaned, self.acronyms, self._english)  # "rsi" -> "rsi (recursive self improvement)"
        ask = ask_part(cleaned)
        # Names the corpus never uses, but for the ones the speller corrected ("Chollett" is Chollet).
        typed = {word for word, _ in corrections}
        unknown = tuple(name for name in self.unknown_names(question) if name not in typed)
        who = whose_view(question)  # whose view it asks: by such a name, the material cannot say
        unknown_speaker = who is not None and any(re.search(rf"\b{re.escape(name)}\b", who) for name in unknown)
        return ReadQuestion(text=question, cleaned=cleaned, ask=ask,
                            contrast=bool(_CONTRAST.search(question)),
                            advice=bool(_ADVICE.search(question) or _RECOMMENDATION.search(question)),
                            corrections=tuple(corrections), unknown_names=unknown, unknown_speaker=unknown_speaker,
                            kinds=tuple(kind for kind, cue in _KIND_CUES.items() if cue.search(question)),
                            quantity=bool(_ASKS_QUANTITY.search(" ".join(question.split()))),
                            overview=bool(_OVERVIEW.search(question)), whole=asks_for_the_whole(question),
                            term=defined_term(cleaned), personal=bool(PERSONAL_REQUEST.search(question)),
                            kind=asked_kind(cleaned), origin=asks_origin(cleaned),
                            count=bool(_COUNTS.search(question)), reply=bool(_ASKS_REPLY.search(question)),
                            more=bool(_ASKS_MORE.search(question)),
                            profile=asks_profile(ask or cleaned), workings=asks_workings(question),
                            work=asks_work(cleaned))

    def unknown_names(self, question: str) -> tuple[str, ...]:
        """Names in ``question`` that the corpus never uses: capitalised words past a sentence's first
        word, acronyms and model names ("EU", "Anthropic", "GPT-4", "Hinton"), and years ("2016"). A question
        about an organisation, a law, a person or a year the material does not mention is outside it, however
        close its other words are ("Does the EU AI Act regulate self-improving models?", "who did AlphaGo beat in
        2016?")."""
        found = [year for year in _years(question) if not self._knows_token(year)]
        for sentence in _SENTENCE.split(question):
            for position, match in enumerate(_NAME.finditer(sentence)):
                name = match.group(0)
                first = position == 0 and match.start() == len(sentence) - len(sentence.lstrip(" \"'(“‘"))
                if name in ("I", "I'm", "I've", "I'd") or (first and not _ACRONYM.match(name)):
                    continue
                if not (name[0].isupper() or _ACRONYM.match(name)):
                    continue
                parts = [p for p in re.split(r"[-'’]", fold_accents(name).lower()) if p and not p.isdigit() and p != "s"]
                if parts and not all(p in self.vocabulary for p in parts) and name not in found:
                    found.append(name)
        return tuple(found)


def defined_term(question: str) -> str | None:
    """The term ``question`` asks to define ("What is constitutional AI and who came up with it?" -> "constitutional
    AI", "KANSI meaning" -> "KANSI"), or None: not a definition question, a term of more than four words (a claim:
    "What is the big lesson we learned over the past ten years about AGI?"), a contrast ("What's the difference
    between ...") or words that point back at what was said ("what's the usual counter to that?", "what is his
    point?": no term of their own)."""
    match = _DEFINES.search(question.strip())
    if not match:
        return None
    term = next(group for group in match.groups() if group)
    if len(term.split()) > _TERM_WORDS or _CONTRAST.search(term) or REFERS_BACK.search(term):
        return None
    return term


def asked_kind(question: str) -> str | None:
    """The kind of thing a "which"/"what" question asks for ("which lab does he work at?" -> "lab", "what other
    books has he written?" -> "books"), or None: no such question, or a kind that is a function word, a part of the
    material or who speaks in it, or something the material says ("what analogy does he use?")."""
    kinds = [match.group("kind") for match in _ASKED_KIND.finditer(question)]
    for match in _NAME_OF.finditer(question):  # "the name of the deep learning library he made" -> "library"
        words = match.group("words").split()
        named = list(itertools.takewhile(lambda word: content_words(word) == [word.lower()], words))
        kinds += named[-1:]
    for kind in map(str.lower, kinds):
        if (content_words(kind) == [kind] and kind != "else" and kind not in _DISCOURSE_KINDS
                and not names_a_speaker(kind) and not names_a_part(kind)):
            return kind
    return None


def term_words(term: str) -> list[str]:
    """The words of a term to define that name what it asks about, as written: those with a content word that is
    none of the most frequent English words ("deal" in "the deal with foom") and does not point at the material or
    who speaks in it ("the FAQ's conclusion", "the commenter's idea"). A hyphenated word is one word: "multi" is
    frequent, "multi-polar" is a term."""
    common = common_english_words()

    def names(word: str) -> bool:
        return not (word in common or names_a_speaker(word) or names_a_part(word))

    return [piece for piece in term.split() if any(names(word) for word in content_words(piece))]


def without_summary_request(question: str) -> str:
    """``question`` without the words that ask for a summary ("can you sum it up?" -> "can you ?")."""
    return _OVERVIEW.sub(" ", question)


def asks_for_the_whole(question: str) -> bool:
    """Whether ``question`` asks for a summary of the material itself: a summary request ("tldr", "overview",
    "the gist") whose other words are fillers, name the material or a kind of its parts ("of the debate", "both
    sides", "the FAQ answer", "the comments") or a form ("in 3 bullet points")."""
    if not _OVERVIEW.search(question):
        return False
    rest = without_summary_request(question)
    for cue in _KIND_CUES.values():
        rest = cue.sub(" ", rest)
    return all(word in FILLERS or word in _MATERIAL_WORDS for word in content_words(rest))


def ask_part(question: str) -> str | None:
    """The sentences of a long question that ask, when others only give background; else None.

    An asking sentence that points back to something said ("Does anyone make that argument?", "What's the claim,
    exactly?") takes the sentence before it, which says what it points at, unless that would leave no background out.
    """
    if len(question.split()) < _LONG_WORDS:
        return None
    sentences = [s.strip() for s in _SENTENCE.split(question.strip()) if s.strip()]
    asking = [i for i, s in enumerate(sentences) if s.endswith("?") or _ASKS.match(s)]
    if not asking or len(asking) == len(sentences):
        return None
    leaned_on = {i - 1 for i in asking if i and _SAID_BEFORE.search(sentences[i])}
    kept = set(asking) | leaned_on
    if len(kept) == len(sentences):  # what it points at is all the background: the asking sentences alone
        kept = set(asking)
    return " ".join(sentences[i] for i in sorted(kept))
