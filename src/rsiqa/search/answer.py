"""Compose an answer from ranked passages: abstain or cite, extract sentences, suggest follow-ups."""

from __future__ import annotations

import math
import re

import numpy as np

from rsiqa.ingest.documents import CODE_BLOCK, CODE_FENCE, KIND_LABELS, is_code
from rsiqa.index.store import IndexData
from rsiqa.search.query import PERSONAL_REQUEST, ReadQuestion
from rsiqa.search.calibration import Calibration
from rsiqa.search.conversation import new_sentences, plain
from rsiqa.search.retrieval import Evidence, Hit
from rsiqa.search.schema import Answer, Citation, SourceOut
from rsiqa.settings import DEFAULT_DECLINE, Settings
from rsiqa.ingest.structure import LIST_ITEM, strip_list_marker

#: The default decline (``Settings.decline_message``, ``RSIQA_DECLINE_MESSAGE``).
DECLINE_MESSAGE = DEFAULT_DECLINE

#: A question with this many content words or fewer is short: its cosines are weaker evidence.
_SHORT_TERMS = 3

#: Evidence against a question that asks for a number or a date ("How many parameters does GPT-4 have?",
#: "What year ...") when the sentence that matches it best holds none: the material names the thing, not the figure.
_MISSING_QUANTITY = 8.0
#: Evidence against a definition question ("What is constitutional AI?") whose term holds a word the corpus never
#: uses, in any form or a word close in meaning: the material cannot define what it never names.
_UNKNOWN_TERM = 8.0


def coverage_probability(evidence: Evidence, question: str = "", advice: bool = False, unknown_names: int = 0,
                         calibration: Calibration | None = None) -> float:
    """Confidence, in 0..1, that the material covers the question; below the threshold rsiqa declines.

    The logistic of :func:`coverage_logit` with the corpus's ``calibration`` (its centres and
    rare-word bonus, lowered by its shift; :mod:`rsiqa.search.calibration`). Without one, or on
    a corpus where everyday questions score low (the debate), the fixed centres below.
    """
    cal = calibration or Calibration()
    logit = coverage_logit(evidence, question, advice, unknown_names, cal) - cal.shift
    return 1.0 / (1.0 + math.exp(-max(min(logit, 50.0), -50.0)))


def coverage_logit(evidence: Evidence, question: str = "", advice: bool = False, unknown_names: int = 0,
                   calibration: Calibration | None = None) -> float:
    """The evidence that the material covers the question, as a logit (0 is a probability of 0.5).

    A logistic score over independent kinds of evidence, each scaled so that one unit means
    "clearly more/less evidence" for the packaged MiniLM:

    * semantic, sentence level: the best sentence cosine, centred at 0.40 (MiniLM cosines of a
      question and a sentence that answers it are mostly 0.5-0.9; of unrelated text 0.0-0.35);
    * semantic, passage level: the best passage cosine, centred at 0.30 (the same, one step
      coarser: a passage's extra text pulls its cosine down). Each semantic term counts at
      most 3 either way (at most 1.5 against a question of three content words or fewer): a low
      cosine is weak evidence of absence, because short questions ("What did Chollet argue?",
      "What do skeptics say?") embed poorly even when the material discusses them; a high one is weak evidence of presence, because a question on a neighbouring
      topic ("Will AI automation cause mass unemployment?") shares the material's subject;
    * lexical: the IDF-weighted share of the question's content words found anywhere in the
      corpus, centred at 0.5 (off-topic questions rest on words the corpus never uses), with a
      steep penalty below 0.25 (the material names almost nothing the question asks about; here
      a word close in meaning to a corpus word counts as known: "respond" is not a new topic),
      plus a bonus when one passage holds more than half of that weight together (the
      material discusses those very things in one place), and +2 when a word of the question
      that at most two passages use is in the first hit ("KANSI meaning": a rare term the
      material defines);
    * intent: a request for advice or instructions ("How do I ...", "... should I buy", "walk me
      through ... step by step", see :mod:`rsiqa.search.query`) or about the reader's own case ("my code")
      needs more evidence, since a debate holds positions and arguments, not instructions; not in material
      that shows how things are done (``evidence.manual``: a manual's readers ask how, about their code);
    * names: each name the question asks about that the corpus never mentions ("the EU AI Act",
      "Anthropic", "Hinton"; see :meth:`rsiqa.search.query.QueryReader.unknown_names`) counts -2, for
      at most two: a question about an organisation, a law or a person the material does not
      discuss is outside it however close its other words are;
    * answer type: a question that asks for a number or a date ("How many ...", "What year ...",
      "When was ... founded?") whose best-matching sentence holds no number counts -8: the
      material mentions what it asks about (GPT-4, MIRI) but not the figure it asks for; so does a question about
      who originated something ("Who coined the term seed AI?") whose best sentence says nobody coined, invented
      or first described anything; and so does a question about where someone or something stands in the world
      ("where does he work now?", "who funds MIRI?") whose best sentence gives no job, employer, studies, funding
      or base: a debate holds positions, not its speakers' careers; and so does a question about how something
      works inside ("how do protein folding models actually work under the hood?", "how exactly is the vector
      computed?") whose best sentence says nothing of how it proceeds, in material that rarely takes things apart
      (no code or procedures in most passages: a debate, not a manual);
    * term: a definition question ("What is X?", "X meaning") whose term holds a word the corpus
      never uses, in any form or a word close in meaning ("What are the Asilomar AI principles?",
      "What is dropout in neural networks?"), counts -8: the material cannot define what it never
      names, however close in meaning its sentences on the same subject are; so does a "which" question for a kind
      of thing the corpus never names ("which lab does he work at?", "in which publication ...?"; not a thing the
      material says, such as "what analogy does he use?"); and so does a question for the view of someone or something
      the corpus never names ("What does the EU AI Act say about self-modifying AI?"): the material cannot say what
      they hold.

    Centres and scales were set on the development questions, on the validation set
    (``eval/validation_questions.jsonl``) and on probe questions of each out-of-scope kind (and
    short in-scope questions about names); ``Settings.abstain_threshold`` (default 0.5) is the
    cut-off.
    """
    cal = calibration or Calibration()
    floor = -1.5 if evidence.content_terms <= _SHORT_TERMS else -3.0
    known = evidence.coverage if evidence.soft_coverage is None else evidence.soft_coverage
    logit = (
        min(max((evidence.top_sentence - cal.sentence_centre) / 0.05, floor), 3.0)
        + min(max((evidence.top_passage - cal.passage_centre) / 0.05, floor), 3.0)
        + 4.0 * (evidence.coverage - 0.5)
        - 20.0 * max(0.0, 0.25 - known)
        + 6.0 * max(0.0, evidence.passage_coverage - 0.5)
        + (cal.rare_bonus if evidence.rare_match else 0.0)
        - (3.0 if (advice or PERSONAL_REQUEST.search(question)) and not evidence.manual else 0.0)
        - 2.0 * min(unknown_names, 2)
        - (_MISSING_QUANTITY if evidence.lacks_a_fact else 0.0)
        - (_UNKNOWN_TERM if evidence.unknown_term or evidence.unknown_kind or evidence.unknown_speaker else 0.0)
    )
    return logit


def compose_answer(question: str, hits: list[Hit], evidence: Evidence, data: IndexData, settings: Settings,
                   followups: list[str], read: ReadQuestion | None = None,
                   question_vector: np.ndarray | None = None, calibration: Calibration | None = None,
                   decline: str | None = None, said: str = "") -> Answer:
    """Turn ranked hits into the answer object (or a polite decline: ``decline``, by default
    ``settings.decline_message``); ``calibration``: see :func:`coverage_probability`; ``said``: the
    previous answer of the conversation (see :func:`composed_answer`)."""
    advice = bool(read and read.advice)
    names = len(read.unknown_names) if read else 0
    covered = evidence.whole or coverage_probability(evidence, question, advice, names, calibration) >= \
        settings.abstain_threshold  # a summary of the material as a whole is always covered
    if not hits or not covered:
        return Answer(question=question, answer=decline or settings.decline_message, abstained=True, citations=[],
                      followups=followups)
    contrast = bool(read and read.contrast)
    citer = Citer(hits)
    if evidence.whole:  # a summary of the material as a whole: its main document's opening, read forwards
        text = composed_answer(hits[:1], data, settings, citer=citer)
    else:
        text = composed_answer(hits, data, settings, contrast, question_vector, said, citer)
    # The ranked passages, then any other the answer quotes (numbered after them).
    cited = [(hit.row, hit.fused, hit.best_sentence) for hit in hits] + [(row, 0.0, -1) for row in citer.extra]
    citations = [_citation(n, row, score, best, data) for n, (row, score, best) in enumerate(cited, start=1)]
    return Answer(question=question, answer=text, abstained=False,
                  citations=citations, followups=followups)


def _citation(n: int, row: int, score: float, best: int, data: IndexData) -> Citation:
    """Citation ``n``: passage ``row`` with its source, its score and its best sentence (-1: its last, a sentence
    an answer quotes from it for the passage after)."""
    passage = data.passages[row]
    source = passage.source
    sentences = data.sentences[row]
    return Citation(
        n=n, text=passage.text, score=round(score, 4), chunk_id=passage.chunk_id,
        highlight=strip_list_marker(sentences[best]) if sentences else "",
        source=SourceOut(title=source.title, url=source.url, section=source.section, kind=source.kind,
                         kind_label=KIND_LABELS.get(source.kind, source.kind), path=source.path,
                         author=source.author, date=source.date),
    )


#: A sentence that asks rather than tells: a question, or an indirect one ("Whether ...").
_QUESTION_LIKE = re.compile(r"^(?:[-*•+]\s+|\d+\.\s+)?(whether|what|why|how|who|when|where|which)\b", re.IGNORECASE)


def _asks(sentence: str) -> bool:
    return sentence.rstrip().endswith("?") or bool(_QUESTION_LIKE.match(sentence.strip()))


#: Openers that lean on the sentence before: a conclusion ("Thus ..."), a reference ("This ...",
#: "He ..."), a contrast or an addition ("That said, ...", "But ...", "Moreover ...").
_DANGLING = re.compile(
    r"^(thus|so|therefore|hence|this|that|these|those|which|such|it|its|he|she|they|them|their|his|her|"
    r"but|however|and|also|moreover|furthermore|though|yet|still|instead|otherwise|then|meanwhile|"
    r"in other words|in short|that said|even so|as a result|for example|for instance|similarly|likewise)\b",
    re.IGNORECASE)

#: Target and cap, in words, of the text quoted from one passage (the lead passage: _LEAD_WORDS).
_UNIT_WORDS = 40
_LEAD_WORDS = 60
_UNIT_MAX_WORDS = 90
#: Target, in words, of the quote when one passage answers alone (no second passage close enough).
_ALONE_WORDS = 100
#: The whole answer stays within this many words (attributions included).
_ANSWER_MAX_WORDS = 120


def _words(text: str) -> int:
    return len(text.split())


def _content(sentence: str) -> bool:
    """Whether a sentence holds words at all (not a bare "...", "•••" or a lone list marker)."""
    return len(re.findall(r"[^\W\d_]{2,}", sentence)) >= 2


#: A reference to something said before, anywhere in a sentence ("... for such an AGI", "the above").
_REFERS = re.compile(r"\b(such an?|the above|the latter|the former|this (?:is|was|would|means)|these (?:are|were))\b",
                     re.IGNORECASE)


def _leans_back(sentence: str) -> bool:
    """Whether a sentence needs the one before it to be understood."""
    text = strip_list_marker(sentence)
    return bool(_DANGLING.match(text)) or text[:1].islower() or bool(_REFERS.search(text))


def _span_words(sentences: list[str], lo: int, hi: int) -> int:
    """Words of ``sentences[lo..hi]`` (both included)."""
    return sum(_words(sentences[i]) for i in range(lo, hi + 1))


def _is_lead_in(sentence: str) -> bool:
    """Whether a sentence introduces what follows it (it ends in ':')."""
    return sentence.rstrip().endswith(":")


def unit_indices(sentences: list[str], index: int, cosines: np.ndarray | None = None, target: int = _UNIT_WORDS,
                 cap: int = _UNIT_MAX_WORDS, read: np.ndarray | None = None,
                 start: tuple[int, int] | None = None) -> list[int]:
    """Which sentences of a passage to quote around its best one (``index``) so that it reads as an answer.

    * a lead-in ending in ':' takes the lines it introduces;
    * a sentence that asks ("Whether ...", "...?") takes the one after it;
    * the window then grows, one sentence at a time, towards the neighbour closer to the question
      (``cosines``: each sentence's cosine to it; without them, forwards), until about ``target``
      words, never past ``cap`` (a single long sentence stays whole), and never back past the lead-in
      of a list it quotes an item of ("Prominent skeptics ... include:" opens the answer to "who said ...?");
    * it then finishes its point (:func:`_finished`): it reaches the passage's end when only a
      short sentence is left, and never ends on a lead-in it cannot complete;
    * a window whose first sentence leans on the one before ("That said, ...", "He argues ...",
      "Thus ...", "... such an AGI") takes that one too, when it fits, and so does one that a lead-in
      introduces ('From "Hard Takeoff" (emphasis mine):' before a quotation; :func:`_introduces`),
      unless the reader has ``read`` that lead-in (a follow-up after an answer that quoted it).

    With ``start`` (the first and last sentence of a window chosen before), the window grows from it, so a
    longer quote of the same passage keeps what the shorter one quoted.
    """
    if cosines is None:
        cosines = np.linspace(-1.0, 0.0, num=len(sentences))  # no scores: prefer what follows (a later sentence scores higher)
    size = lambda lo, hi: _span_words(sentences, lo, hi)  # noqa: E731
    lo, hi = start or (index, index)
    lead_in = _is_lead_in(sentences[index])
    if start is None and (lead_in or _asks(sentences[index])):
        while hi + 1 < len(sentences) and _content(sentences[hi + 1]) and size(lo, hi + 1) <= cap:
            hi += 1
            if not (lead_in and LIST_ITEM.match(sentences[hi + 1] if hi + 1 < len(sentences) else "")):
                break
    while size(lo, hi) < target:
        options = []
        if hi + 1 < len(sentences) and _content(sentences[hi + 1]) and size(lo, hi + 1) <= cap:
            options.append((float(cosines[hi + 1]), lo, hi + 1))
        if lo > 0 and not _opens_list(sentences, lo, index) and _content(sentences[lo - 1]) and size(lo - 1, hi) <= cap:
            options.append((float(cosines[lo - 1]), lo - 1, hi))
        if not options:
            break
        _, lo, hi = max(options)
    hi = _finished(sentences, index, lo, hi, cap)
    while (lo > 0 and (_leans_back(sentences[lo]) or _introduces(sentences, lo, read))
           and _content(sentences[lo - 1]) and size(lo - 1, hi) <= cap):
        lo -= 1
    return list(range(lo, hi + 1))


def _opens_list(sentences: list[str], at: int, index: int) -> bool:
    """Whether ``sentences[at]``, before the best sentence ``index``, is the lead-in of a list (it ends in ':' and
    a list item follows): what precedes it is another point."""
    return (at < index and _is_lead_in(sentences[at]) and at + 1 < len(sentences)
            and bool(LIST_ITEM.match(sentences[at + 1])))


#: Words a quote may run past its cap to reach its passage's end (a short closing sentence is often the conclusion).
_TAIL_WORDS = 15
#: Words a quote may run past its cap to finish a list it opened (an answer may then run to about 135 words).
_LIST_TAIL_WORDS = 30


def _introduces(sentences: list[str], at: int, read: np.ndarray | None = None) -> bool:
    """Whether the sentence before ``sentences[at]`` is a lead-in that introduces it and says whose words follow
    ('From "Hard Takeoff" (emphasis mine):'), so that a quote starting at ``at`` needs it; not for a list item,
    which stands alone ("- François Chollet, who argued ..."), nor when the reader has ``read`` the lead-in."""
    return (_is_lead_in(sentences[at - 1]) and not LIST_ITEM.match(sentences[at])
            and not (read is not None and bool(read[at - 1])))


def _finished(sentences: list[str], index: int, lo: int, hi: int, cap: int) -> int:
    """Where a window ``lo..hi`` around ``index`` should end so that it does not stop short of its point.

    * It ends at the passage's end when only a few words (:data:`_TAIL_WORDS`) are left after it:
      "... and thus upgrade its reasoning ability. Not to infinity, but likely far beyond humans."
      Not when what is left is another point: a list item ("- Whether AGI will have incentives ...")
      or a question ("acquire more resources, stack more layers count?").
    * It never ends on a lead-in (a sentence ending in ':') other than the best sentence: the
      lead-in takes what it introduces when that fits under ``cap``, else it is left out.
    * It finishes a list it opened ("the source code consists of: - The code defining the architecture
      - The code for collecting data", two of four items) when the rest of the list stays within
      :data:`_LIST_TAIL_WORDS` past ``cap``; a longer list stays cut where the cap cut it. Only items
      that follow one another count: a code block or a plain line between them ends the list.
    """
    last = len(sentences) - 1
    if (hi < last and all(_content(sentences[i]) and not LIST_ITEM.match(sentences[i]) and not _asks(sentences[i])
                          for i in range(hi + 1, last + 1))
            and _span_words(sentences, hi + 1, last) <= _TAIL_WORDS):
        hi = last
    while (hi > index and _is_lead_in(sentences[hi]) and hi < last and _content(sentences[hi + 1])
           and _span_words(sentences, lo, hi + 1) <= cap):
        hi += 1
    while hi > index and _is_lead_in(sentences[hi]):
        hi -= 1
    if hi < last and LIST_ITEM.match(sentences[hi + 1]):
        opened = hi
        while opened > lo and LIST_ITEM.match(sentences[opened]):
            opened -= 1
        if opened < hi and _is_lead_in(sentences[opened]):  # stopped inside the list its lead-in opened
            end = hi
            while end < last and LIST_ITEM.match(sentences[end + 1]):
                end += 1
            if _span_words(sentences, lo, end) <= cap + _LIST_TAIL_WORDS:
                return end
    return hi


def answer_unit(sentences: list[str], index: int, cosines: np.ndarray | None = None, target: int = _UNIT_WORDS,
                cap: int = _UNIT_MAX_WORDS, text: str = "", read: np.ndarray | None = None,
                grown_from: int | None = None) -> str:
    """The quoted text around a passage's best sentence (see :func:`unit_indices`), list markers and
    emphasis marks dropped; a line without closing punctuation (a label such as "Epistemic status:
    pondering aloud") gets a full stop, so that it does not run into the next sentence.

    A fenced code block (its fence and code lines are sentences of their own in the index) is one
    unit: quoted whole and on lines of its own, or not at all; a lead-in ending in ':' takes the
    code it introduces, and code is preceded by its lead-in. With the passage's ``text``, code is
    quoted from it, indentation included (its sentences are stripped lines). With ``grown_from`` (a shorter
    target quoted before, under :data:`_UNIT_MAX_WORDS`), the quote grows from that shorter one.
    """
    groups = code_groups(sentences)
    units = ["\n".join(sentences[i] for i in g) for g in groups]
    blocks = [m.group(0) for m in CODE_BLOCK.finditer(text)] if text else []
    coded = [n for n, g in enumerate(groups) if len(g) > 1]
    if len(blocks) == len(coded):
        for n, block in zip(coded, blocks):
            units[n] = block
    unit_cosines = None if cosines is None else np.array([max(float(cosines[i]) for i in g) for g in groups])
    at = next(n for n, g in enumerate(groups) if index in g)
    parts: list[tuple[str, bool]] = []
    unit_read = None if read is None else np.array([all(bool(read[i]) for i in g) for g in groups])
    start = None
    if grown_from is not None:
        shorter = unit_indices(units, at, unit_cosines, grown_from, _UNIT_MAX_WORDS, unit_read)
        start = (shorter[0], shorter[-1])
    for n in unit_indices(units, at, unit_cosines, target, cap, unit_read, start):
        code = len(groups[n]) > 1  # a fenced block (code_groups)
        parts.append((units[n] if code else plain(strip_list_marker(units[n])), code))
    quote = ""
    for i, (part, code) in enumerate(parts):
        if code:
            quote = f"{quote}\n{part}\n" if quote else f"{part}\n"
        else:
            ends = i == len(parts) - 1 or _ENDS.search(part) or parts[i + 1][1]
            quote += ("" if not quote or quote.endswith("\n") else " ") + (part if ends else f"{part}.")
    return quote.strip()


def code_groups(sentences: list[str]) -> list[list[int]]:
    """The passage's sentences in units: a fenced code block (a fence line, its code lines, the closing
    fence) is one, every other sentence one of its own."""
    groups: list[list[int]] = []
    block: list[int] | None = None
    for i, sentence in enumerate(sentences):
        if block is not None:
            block.append(i)
            if sentence == CODE_FENCE:
                groups.append(block)
                block = None
        elif sentence == CODE_FENCE:
            block = [i]
        else:
            groups.append([i])
    if block is not None:  # no closing fence: its lines stay sentences of their own
        groups += [[i] for i in block]
    return groups


_ENDS = re.compile(r"[.!?:;…)\]\"'”’]\s*$")


def attribution(source: SourceOut | object, replying: bool = False, again: bool = False,
                quoted_before: bool = False) -> str:
    """Who says it, as the answer introduces a quote: "The FAQ answer says", "A comment on “…” replies";
    ``again``: the answer quoted that source already ("The FAQ answer also says"); ``quoted_before``: the
    previous answer quoted the passage whole ("As quoted before, the FAQ answer says")."""
    kind = getattr(source, "kind", "document")
    title = getattr(source, "title", "")
    section = getattr(source, "section", None)
    who, verb = {
        "faq_answer": ("The FAQ answer", "says"),
        "note": ("The FAQ's scratchpad notes", "say"),
        "linked_post": (f"The post “{title}”", "argues"),
        "comment": (f"A comment on “{title}”", "replies" if replying else "says"),
    }.get(kind, (f"“{title}”{f' ({section})' if section else ''}", "says"))
    if quoted_before:
        who = f"As quoted before, {who[0].lower() + who[1:] if who.startswith(('The ', 'A ')) else who}"
    return f"{who} {'also ' if again else ''}{verb}"


#: How much less, in cosine, a sentence the previous answer quoted counts when a follow-up's answer is chosen and grown.
_SAID = 10.0


def cited_part(intro: str, quote: str, n: int) -> str:
    """One attributed, cited part of an answer: "<intro>: <quote> [n]"; a code block at either end of the quote
    keeps its fence lines to themselves."""
    before = "\n" if quote.startswith(CODE_FENCE) else " "
    after = "\n" if quote.endswith(CODE_FENCE) else " "
    return f"{intro}:{before}{quote}{after}[{n}]"


class Citer:
    """The citation numbers of the passages an answer quotes: the ranked hits' (1..k), then a number after them
    for any other passage it quotes (the one before a passage whose first sentence leans on it)."""

    def __init__(self, hits: list[Hit]) -> None:
        self.numbers = {hit.row: n for n, hit in enumerate(hits, start=1)}
        self.extra: list[int] = []  # rows numbered after the hits, in order

    def __call__(self, row: int) -> int:
        if row not in self.numbers:
            self.numbers[row] = len(self.numbers) + 1
            self.extra.append(row)
        return self.numbers[row]


#: "It seems ...", "It is best to ...", "It's entirely possible that ...": an "it" that points at nothing before.
_IMPERSONAL = re.compile(r"^it(?: (?:seems|does not seem|doesn't seem|appears|looks)\b|(?: is|'s|’s| was)(?: \w+){1,2} "
                         r"(?:to|that)\b)", re.IGNORECASE)


def antecedent(row: int, data: IndexData) -> str | None:
    """The sentence a passage's first sentence leans on, when it ends the passage before from the same source
    ("... some have argued that self-improvement may be infeasible ..." before "If this is true, then such AIs
    ..."); None when the first sentence stands alone, or the passage before is another source's or a comment's
    (one passage of comments may hold several commenters)."""
    sentences = data.sentences[row]
    if row == 0 or not sentences or not _leans_back(sentences[0]) or _IMPERSONAL.match(sentences[0]):
        return None
    source, before = data.source_of(row), data.source_of(row - 1)
    if before != source or source.kind == "comment":
        return None
    previous = data.sentences[row - 1]
    if (not previous or not _content(previous[-1]) or is_code(previous[-1]) or previous[-1] == CODE_FENCE
            or _asks(previous[-1]) or previous[-1].count(")") > previous[-1].count("(")
            or strip_list_marker(previous[-1])[:1].islower()):
        return None  # nor is a question ("Or will it be after ...?"), the end of an aside ("...)") or a fragment
    return plain(strip_list_marker(previous[-1]))


def _completed(quote: str, row: int, sentences: list[str], data: IndexData, citer: Citer | None, room: int) -> str:
    """``quote`` preceded by the sentence its first one leans on, from the passage before (:func:`antecedent`),
    cited, when the quote starts the passage and the sentence fits in ``room`` more words."""
    if citer is None or not sentences or not quote.startswith(plain(strip_list_marker(sentences[0]))[:40]):
        return quote
    before = antecedent(row, data)
    if before is None or _words(before) > room:
        return quote
    return f"{before} [{citer(row - 1)}] {quote}"


def composed_answer(hits: list[Hit], data: IndexData, settings: Settings, contrast: bool = False,
                    question_vector: np.ndarray | None = None, said: str = "", citer: Citer | None = None) -> str:
    """An answer of about 40-120 words quoted from the top passages, each part attributed and cited.

    The best passage leads with the text around its best sentence (:func:`answer_unit`). A
    second passage follows when it matches almost as well (within 0.08 cosine of the lead, and
    at least 0.5) or, for a question about a contrast or a debate, when it comes from another
    source (the other side): then the strongest such passage among the top five is quoted,
    whatever its score. When no second passage qualifies, the lead quotes more of its passage
    (about 100 words, grown from the shorter quote). Every word outside the attributions is verbatim
    from a cited passage.

    In a conversation, ``said`` is the previous answer: the reader has the sentences it quoted, so
    a follow-up's answer quotes what comes next ("so what could it do instead?" after "... the
    agent can do at least two other things:"). In each passage the best sentence not quoted yet
    leads and the quote grows into new sentences first (a quoted one only when no new one is left
    next to it); a passage quoted whole before is quoted as usual, its attribution saying so ("As
    quoted before, the FAQ answer says"): it still answers, and the reader sees it is not new.

    With a ``citer``, a quote that starts its passage with a sentence leaning on the one before
    ("If this is true, ...", "In other words, ...") takes that sentence from the passage before,
    cited with its own number (:func:`antecedent`).
    """
    lead = hits[0].sentence_cosine
    lead_unit: tuple[str, list[str], int, np.ndarray | None, int, str, np.ndarray | None, int] | None = None
    parts: list[str] = []
    used_sources: set[tuple[str, str | None, str]] = set()
    intros: set[str] = set()  # the attributions used so far
    total = 0
    for n, hit in enumerate(hits[:5], start=1):
        if len(parts) >= settings.answer_sentences or total >= _ANSWER_MAX_WORDS - 15:
            break
        passage = data.passages[hit.row]
        sentences = data.sentences[hit.row]
        key = (passage.source.path, passage.source.url, passage.source.kind)
        if parts:
            other_side = contrast and key not in used_sources and len(parts) == 1
            close = hit.sentence_cosine >= lead - 0.08 and hit.sentence_cosine >= 0.5 and n <= 3
            if not (other_side or close) or not sentences or _asks(sentences[hit.best_sentence]):
                continue
        if not sentences:
            continue
        cosines = data.sentence_cosines(hit.row, question_vector) if question_vector is not None else None
        best = hit.best_sentence
        fresh = new_sentences(sentences, said) if said and cosines is not None else None
        if fresh is not None and fresh.any():  # else all of it was quoted before: quoted as usual
            cosines = np.where(fresh, cosines, cosines - _SAID)
            best = best if fresh[best] else int(np.argmax(cosines))
        target = _LEAD_WORDS if not parts else min(_UNIT_WORDS, _ANSWER_MAX_WORDS - total - 10)
        read = None if fresh is None else ~fresh  # what the reader has read already
        text = answer_unit(sentences, best, cosines, target, text=passage.text, read=read)
        text = _completed(text, hit.row, sentences, data, citer, _UNIT_MAX_WORDS - _words(text))
        replying = bool(parts) and passage.source.kind == "comment"
        said_by = attribution(passage.source, replying)
        # "The FAQ answer also says"; a passage the reader has all of already says so, not repeated silently
        intro = attribution(passage.source, replying, again=said_by in intros,
                            quoted_before=fresh is not None and not fresh.any())
        part = cited_part(intro, text, n)
        if parts and total + _words(part) > _ANSWER_MAX_WORDS:
            continue
        if not parts:
            lead_unit = (intro, sentences, best, cosines, n, passage.text, read, hit.row)
        parts.append(part)
        intros.add(said_by)
        used_sources.add(key)
        total += _words(part)
    if len(parts) == 1 and lead_unit is not None and total < _ALONE_WORDS:
        # One passage answers alone: quote more of it, within the answer's budget.
        intro, sentences, best, cosines, n, passage_text, read, row = lead_unit
        quote = answer_unit(sentences, best, cosines, _ALONE_WORDS, _ANSWER_MAX_WORDS - 15, text=passage_text, read=read,
                            grown_from=_LEAD_WORDS)
        quote = _completed(quote, row, sentences, data, citer, _ANSWER_MAX_WORDS - 10 - _words(intro) - _words(quote))
        parts = [cited_part(intro, quote, n)]
    return " ".join(parts)
