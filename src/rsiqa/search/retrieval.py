"""Hybrid retrieval: dense passage and sentence similarity fused with BM25.

Three scores per passage for a question q, each standardised over the corpus (z-score: minus
the mean, divided by the standard deviation over all passages for this q) so that they are
on one scale whatever their raw ranges:

* ``passage``  - cosine of the passage (with its title) to q;
* ``sentence`` - cosine of the passage's best sentence to q, which rewards a passage that
  holds one precise answer sentence;
* ``lexical``  - BM25 (bm25s; NLTK English stop words; Snowball stems; compounds joined), with
  the question's words expanded to the corpus words nearest in meaning (:mod:`rsiqa.search.expansion`).

``fused = (1 - L) * ((1 - S) * z(passage) + S * z(sentence)) + L * z(lexical)`` with
``L = Settings.lexical_weight`` (more, up to ``Settings.weak_lexical_weight``, for a question
whose best passage cosine is low: :meth:`Retriever.lexical_weight`) and
``S = Settings.sentence_weight``. On the development set this convex combination of z-scores
beat reciprocal-rank fusion (hit@1 0.76 vs 0.68 on one index) and raw-score mixing (0.87 vs
0.83, averaged over eight chunk sizes); see the README.

Only candidates are scored (and standardised), at every corpus size: the FAISS index's top
``Settings.candidates`` (exact below ``Settings.ann_threshold`` passages, HNSW from there) and
BM25's top ``candidates``; in a corpus of at most ``candidates`` passages that is all of them.

A follow-up ("Who else is skeptical?") is scored twice, on its own and together with the
conversation's last user turn, and the two fused scores are blended: the context gets at
least ``Settings.history_weight``, and more the fewer of the question's own words the corpus
knows.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from rsiqa.search.conversation import Conversation, new_sentences, read_in_paraphrase
from rsiqa.ingest.documents import passage_context
from rsiqa.ingest.structure import LIST_ITEM
from rsiqa.index.embedding import Embedder
from rsiqa.search.expansion import WordExpander
from rsiqa.index.rows import run_starts
from rsiqa.index.store import IndexData
from rsiqa.index.stores import VectorStore, query_sparse
from rsiqa.index.stores.faiss import FaissStore
from rsiqa.search.lexical import (REFERS_BACK, build_bm25, content_words, joined_words, normal_words, query_tokens,
                                  stem, token_postings, tokenize)
from rsiqa.search.query import (FILLERS, ReadQuestion, asks_why, english_words, explains, holds_origin, holds_profile,
                                holds_quantity, holds_work, holds_workings, names_a_part_noun, names_speaking,
                                post_description, term_words, without_summary_request)
from rsiqa.settings import Settings

#: A follow-up that adds this many words the corpus does not know (nor any word close to them) has moved to a new
#: topic ("random but is deep brain stimulation used to treat depression these days?" after a question on the
#: debate, which it shares "deep", "used" and "days" with): it is judged alone.
_NEW_TOPIC_WORDS = 2
#: A follow-up with this many words of its own (words the previous exchange lacks) says what it asks by itself.
_OWN_WORDS = 2
#: The conversation prior of the previous answer's passages after its first (the second it cited, or the second best
#: for the previous exchange): the first is what it rested on most surely.
_LATER_PREVIOUS = 0.75
#: For a follow-up asking how someone answered a post or a comment: the prior of the next passage and the one after,
#: in units of the previous passage's (a reply follows what it answers; the material's FAQ answer has no replies).
_REPLY_PRIOR = (2.0, 1.0)
_REPLIED_KINDS = ("comment", "linked_post")
#: How far above the passage it answers a reply is put when the reader has read that passage to its end.
_REPLY_MARGIN = 1e-3

#: The share of a long question's ask in its keyword score (the whole question has the rest); in meaning it
#: counts half. Chosen among 0, 0.25, 0.375 and 0.5 on the debate's sets and the Python pages' (the README says which).
_ASK_LEXICAL = 0.375

#: Added to the passages of the document whose title a question describes by some of its words ("the deep learning
#: post"; :meth:`Retriever._described`): half a whole title's, since a few words are less sure (0.5 and 1.0 gave the
#: same answers on the debate's sets).
_DESCRIBED_WEIGHT = 0.5

#: How far down a why-question looks for a passage of the first one's section that explains (see
#: :meth:`Retriever._explanation_first`).
_EXPLANATION_DEPTH = 5

#: Added to the documents' openings for a summary of the material as a whole ("give me an overview"): they lead.
_WHOLE_WEIGHT = 100.0

#: Added to the passages of a document whose whole title the question writes (a follow-up suggestion names it so).
_TITLE_WEIGHT = 1.0

#: An opening is quoted from its first sentence of this many words ("Author: Raymond Hettinger" says nothing).
_SAYS_WORDS = 6

#: Letters a word must have before another form of it counts as the same word (see Retriever._variant).
_VARIANT_LETTERS = 6
#: A part of a compound written as one word (:meth:`Retriever._compound`) has at least this many letters.
_PART_LETTERS = 3


def _zscore(scores: np.ndarray) -> np.ndarray:
    """Standardise scores over the corpus; a constant score list becomes all zeros."""
    scores = np.asarray(scores, dtype=np.float64)
    std = scores.std()
    return (scores - scores.mean()) / std if std > 1e-12 else np.zeros_like(scores)


@dataclass
class Hit:
    """One ranked passage with the evidence behind its rank."""

    row: int
    fused: float
    dense: float
    lexical: float
    best_sentence: int  # index into the passage's sentences
    sentence_cosine: float


@dataclass(frozen=True)
class Gaps:
    """The facts a question asks for that the first hit's best sentence does not hold (an answer-type check)."""

    quantity: bool = False  # a number or a date
    origin: bool = False  # who originated something
    profile: bool = False  # someone's job or funding
    workings: bool = False  # how something works inside
    work: bool = False  # a work's title or where it appeared

    @property
    def any(self) -> bool:
        """Whether any fact asked for is missing."""
        return self.quantity or self.origin or self.profile or self.workings or self.work


@dataclass
class Evidence:
    """Query-level signals used to decide whether the material covers the question."""

    top_sentence: float  # best cosine between the question and any sentence
    top_passage: float  # best cosine between the question and any passage
    coverage: float  # IDF-weighted share of the question's content words that occur in the corpus
    passage_coverage: float  # the same share, found together in the single best passage
    content_terms: int  # how many content words the question has
    soft_coverage: float | None = None  # share of its content words known, or close in meaning to a corpus word
    rare_match: bool = False  # a word of the question found in at most two passages, the first hit among them
    unknown_term: bool = False  # a definition question ("What is X?") whose term holds a word the corpus never uses
    gaps: Gaps = field(default_factory=Gaps)  # facts the question asks for that the first hit's best sentence lacks
    unknown_kind: bool = False  # a "which ..." question for a kind of thing the corpus never names ("which lab ...")
    unknown_speaker: bool = False  # the view of someone the corpus never names ("what does the EU AI Act say ...?")
    whole: bool = False  # the question asks for a summary of the material as a whole: covered by definition
    manual: bool = False  # the material shows how things are done (code, procedures): asking how is its subject

    @property
    def lacks_a_fact(self) -> bool:
        """The question asks for a fact (a figure, an origin, a profile, inner workings, a published work) that the
        first hit's best sentence does not hold."""
        return self.gaps.any

    def clear_answer_type(self) -> None:
        """Forget the checks of what the question asks for (a figure, an origin, a profile, inner workings, a published
        work, a term, a kind, an unknown speaker's view): what is left measures only how close it comes to the
        material in meaning and words."""
        self.gaps = Gaps()
        self.unknown_term = self.unknown_kind = self.unknown_speaker = False


class Retriever:
    """Ranks the passages of one loaded index for a question (and its conversation)."""

    def __init__(self, data: IndexData, embedder: Embedder, settings: Settings, store: VectorStore | None = None) -> None:
        self.data = data
        self.store: VectorStore = store or FaissStore(data)  # where the vectors live (rsiqa.index.stores)
        self.embedder = embedder
        self.settings = settings
        # The BM25 index a build saved (memory-mapped); built here only for an IndexData made in memory.
        self._bm25 = data.bm25 if data.bm25 is not None else build_bm25([passage_context(p) for p in data.passages])
        self._vocab: Mapping[str, int] = self._bm25.vocab_dict  # a served index: rsiqa.index.vocabulary
        indptr = np.asarray(self._bm25.scores["indptr"])
        doc_freq = np.zeros(len(self._vocab), dtype=np.float64)
        doc_freq[: len(indptr) - 1] = np.diff(indptr)  # passages holding each token (bm25s's "" has none)
        self._lengths = data.sentence_counts  # sentences per passage (a served index: from the build's row table)
        n = max(len(data.passages), 1)
        self._idf = np.log(1 + (n - doc_freq + 0.5) / (doc_freq + 0.5))
        self._unseen_idf = float(np.log(1 + (n + 0.5) / 0.5))
        # A question's words the corpus writes as one: read by the keyword search, the coverage evidence and the
        # known-word count alike, found once per text.
        self._joined = lru_cache(maxsize=256)(lambda text: tuple(joined_words(text, self._vocab)))
        self._row_of = data.row_of  # chunk id -> row, without a pass over the passages
        self._kinds = data.kinds
        self._expander = WordExpander(data.words, data.word_vectors, embedder, settings.expansion_similarity,
                                      settings.expansion_weight, settings.expansion_neighbours,
                                      max_words=settings.max_expansion_words)

    def knows_token(self, token: str) -> bool:
        """Whether some passage holds the keyword-search token ``token`` ("2017")."""
        return token in self._vocab

    def _postings(self, token: str) -> np.ndarray:
        """The rows of the passages that hold ``token`` (none for a token the corpus lacks), in row order."""
        token_id = self._vocab.get(token)
        return token_postings(self._bm25, token_id) if token_id is not None else np.zeros(0, dtype=np.int64)

    # -- scoring -------------------------------------------------------------------------
    def _lexical_weights(self, text: str) -> dict[str, float]:
        """BM25 query weights of ``text``: 1 for each of its own tokens (or the form the corpus has of
        it, :meth:`_variant`: "disagree" finds "disagreement"), less for its expansion's."""
        weights = dict.fromkeys(query_tokens(text, self._vocab, self._joined(text)), 1.0)
        for token in tokenize([text])[0]:
            variant = self._variant(token)
            if variant is not None:
                weights.setdefault(variant, 1.0)
        weights.update(self._expander.expand(text, exclude=weights))
        return weights

    def _bm25_scores(self, text: str, weights: dict[str, float] | None = None) -> np.ndarray:
        """BM25 score of every passage for ``text`` and its expansion (zeros when the corpus knows none of its words).

        A weighted sum of per-token BM25 scores: each of the text's own tokens weighs 1 (once,
        however often the text repeats it), the corpus tokens nearest in meaning
        (:mod:`rsiqa.search.expansion`) less. bm25s keeps each token's scores as one column of a sparse
        matrix (``data``/``indices``/``indptr``), so this reads only the tokens' postings.
        """
        weights = self._lexical_weights(text) if weights is None else weights
        n = len(self.data.passages)
        if not weights:
            return np.zeros(n, dtype=np.float32)
        matrix = self._bm25.scores
        ids = np.array([self._vocab[token] for token in weights], dtype=np.int64)
        starts, ends = matrix["indptr"][ids], matrix["indptr"][ids + 1]
        rows = np.concatenate([matrix["indices"][a:b] for a, b in zip(starts, ends)])
        values = np.concatenate([matrix["data"][a:b] * w for a, b, w in zip(starts, ends, weights.values())])
        return np.bincount(rows, weights=values, minlength=n).astype(np.float32)

    def _candidates(self, vectors: np.ndarray, bm25: list[np.ndarray],
                    weights: list[dict[str, float]] | None = None) -> np.ndarray | None:
        """The rows worth scoring, at every corpus size: the FAISS top ``candidates`` (exact below
        ``ann_threshold`` passages, HNSW from there) and the BM25 top ``candidates`` of each query,
        so that the sentence scoring and fusion cost the same whatever the corpus size (BM25
        still reads the postings of the query's tokens and their expansion); with a store
        (Milvus), its dense and sparse top ``candidates``. None (every row) when those are all the
        passages, as in a corpus of at most ``candidates`` passages."""
        n = len(self.data.passages)
        k = min(self.settings.candidates, n)
        if k >= n:
            return None
        if self.store.searches_sparse:  # the store's sparse top k (BM25 weights incl. expansion)
            idf = {t: float(self._idf[self._vocab[t]]) for w in weights or [] for t in w if t in self._vocab}
            rows = self.store.candidates(vectors, [query_sparse(w, idf) for w in weights or []], k)
        else:  # the BM25 top k scored here
            rows = self.store.candidates(vectors, [], k, [np.argpartition(-s, k - 1)[:k] for s in bm25 if s.any()])
        return None if len(rows) == n else rows

    def _dense(self, vector: np.ndarray, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per passage (of ``rows``, or all): its cosine, its best sentence's index and that sentence's cosine."""
        if rows is None and not self.store.holds_vectors:
            rows = np.arange(len(self.data.passages))  # the store (Milvus) has every vector, this process none
        if rows is None:
            passage_cos = self.data.vectors @ vector
            sentence_cos = self.data.sentence_vectors @ vector
            starts, owner = self.data.sentence_starts, self.data.sentence_owner
        else:
            lengths = self._lengths[rows]
            starts = run_starts(lengths)
            passage_cos = self.store.passage_vectors(rows) @ vector
            sentence_cos = self.store.sentence_vectors(rows) @ vector
            owner = np.repeat(np.arange(len(rows)), lengths)
        best = np.maximum.reduceat(sentence_cos, starts)
        at_best = np.flatnonzero(sentence_cos == best[owner])
        _, first = np.unique(owner[at_best], return_index=True)  # the first best sentence of each passage
        return passage_cos, at_best[first] - starts, best

    def _scores(self, vector: np.ndarray, bm25: np.ndarray, rows: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """Dense and lexical scores (BM25 over its best), best sentences and their cosines for the passages of
        ``rows``, and the best passage cosine."""
        passage, best_index, best_cos = self._dense(vector, rows)
        dense = (1 - self.settings.sentence_weight) * _zscore(passage) + self.settings.sentence_weight * _zscore(best_cos)
        lexical = bm25 if rows is None else bm25[rows]
        top = float(lexical.max(initial=0.0))
        lexical = lexical / top if top > 0 else lexical
        return dense, lexical, best_index, best_cos, float(passage.max(initial=-1.0))

    def _fuse(self, dense: np.ndarray, lexical: np.ndarray, top_passage: float) -> np.ndarray:
        """The fused score: dense and standardised lexical scores, mixed by :meth:`lexical_weight`."""
        lw = self.lexical_weight(top_passage)
        return (1 - lw) * dense + lw * _zscore(lexical)

    def _fused(self, text: str, vector: np.ndarray, bm25: np.ndarray, rows: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Evidence]:
        """Fused, dense and lexical scores, best sentences and evidence for the passages of ``rows``."""
        dense, lexical, best_index, best_cos, top_passage = self._scores(vector, bm25, rows)
        evidence = self._evidence(text, float(best_cos.max(initial=-1.0)), top_passage)
        return self._fuse(dense, lexical, top_passage), dense, lexical, best_index, best_cos, evidence

    def lexical_weight(self, top_passage: float) -> float:
        """The weight of BM25 in the fused score, given the question's best passage cosine.

        A question the model embeds poorly ("What do skeptics say?": no passage above 0.13) has
        dense scores that are mostly noise, while its words may still find the passage: at or
        below ``weak_dense_cosine`` the keywords get ``weak_lexical_weight``, from
        ``weak_dense_cosine + 0.1`` up the usual ``lexical_weight``, linearly in between.
        """
        usual, weak = self.settings.lexical_weight, max(self.settings.lexical_weight, self.settings.weak_lexical_weight)
        low = self.settings.weak_dense_cosine
        return usual + (weak - usual) * min(1.0, max(0.0, (low + 0.1 - top_passage) / 0.1))

    def known_share(self, text: str, besides: str = "") -> float | None:
        """Share of ``text``'s content words that the corpus knows, leaving out words of ``besides``.

        A word is known when the corpus has it, in that form or another (:meth:`_variant`:
        "disagrees" -> "disagreement"), as two of its words written together (:meth:`_compound`:
        "superintelligence" -> "super-intelligent"), or a word close in meaning (its query expansion:
        "scared" -> "fear"). None when no word is left. A follow-up's words that the previous
        exchange did not use tell whether it still talks about the material ("why would it be
        scared of that?") or has moved on ("what other books has he written?").
        """
        known, total, _ = self.known_words(text, besides)
        return known / total if total else None

    def known_words(self, text: str, besides: str = "") -> tuple[int, int, int]:
        """Of ``text``'s content words that ``besides`` lacks, how many the corpus knows and how many they are;
        and how many content words ``text`` has in all (see :meth:`known_share`)."""
        added, every = self._word_knowledge(text, besides)
        return sum(known for _, known in added), len(added), every

    def foreign_words(self, text: str, besides: str = "") -> list[str]:
        """``text``'s content words that ``besides`` lacks, the corpus does not know (see :meth:`known_share`) and
        English does not have either: names and figures the material never mentions ("spacex", "keras", "2016",
        "7b"), not everyday words it happens not to use ("realistic", "ignored")."""
        return self._foreign(self._word_knowledge(text, besides)[0])

    @staticmethod
    def _foreign(words: list[tuple[str, bool]]) -> list[str]:
        """The words of :meth:`_word_knowledge` that the corpus does not know and English lacks."""
        english = english_words()
        return [word for word, known in words if not known and word not in english]

    def _word_knowledge(self, text: str, besides: str = "") -> tuple[list[tuple[str, bool]], int]:
        """Each content word of ``text`` that ``besides`` lacks, with whether the corpus knows it; and how many
        content words ``text`` has in all."""
        seen = set(tokenize([besides])[0]) if besides else set()
        words = [w for w in dict.fromkeys(content_words(text)) if w not in FILLERS]
        joined = {word for first, second, _ in self._joined(text) for word in (first, second)}
        every = list(zip(words, stem(words)))
        pairs = [(w, t) for w, t in every if t not in seen]
        # Words past the expansion cap are not looked up (a request's cost stays bounded): unknown.
        lookups = self.settings.max_expansion_words
        found: list[tuple[str, bool]] = []
        for word, token in pairs:
            if (token in self._vocab or self._variant(token) is not None or self._compound(word) or word in joined
                    or names_speaking(word) or names_a_part_noun(word)):
                found.append((word, True))
            elif lookups > 0:
                lookups -= 1
                found.append((word, bool(self._expander.neighbours_of(word))))
            else:
                found.append((word, False))
        return found, len(every)

    @cached_property
    def _sorted_vocab(self) -> Sequence[str]:
        """The corpus tokens in order, for :meth:`_variant`: a served index's vocabulary has them
        (rsiqa.index.vocabulary), else they are sorted at the first unknown word, not at start."""
        return getattr(self._vocab, "sorted", None) or sorted(self._vocab)

    def _compound(self, word: str) -> bool:
        """Whether ``word`` is two corpus words written as one ("superintelligence": "super" and "intelligence", as
        the corpus writes "super-intelligent"; "valuedrift"): each of at least :data:`_PART_LETTERS` letters,
        compared by its stem, and both in one passage at least ("backpropagation" is not "back" and
        "propagation", which no passage of the debate holds together)."""
        cuts = range(_PART_LETTERS, len(word) - _PART_LETTERS + 1)
        heads, tails = stem([word[:at] for at in cuts]), stem([word[at:] for at in cuts])
        return any(head in self._vocab and tail in self._vocab
                   and np.intersect1d(self._postings(head), self._postings(tail)).size > 0
                   for head, tail in zip(heads, tails))

    def _variant(self, token: str) -> str | None:
        """A corpus token that is ``token`` in another form, when the corpus lacks ``token`` itself.

        Snowball leaves some forms of one word apart ("respond" and "response" stem to "respond"
        and "respons"): a corpus token of six letters or more, at most one letter longer or shorter,
        that shares all but the last letter of the shorter of the two counts as the same word (the
        longest such prefix wins); "improv" and "improvis" stay apart.
        """
        if token in self._vocab or len(token) < _VARIANT_LETTERS:
            return None
        vocab = self._sorted_vocab
        best: tuple[int, str] | None = None
        at = bisect.bisect_left(vocab, token[:_VARIANT_LETTERS - 1])
        while at < len(vocab) and vocab[at].startswith(token[:_VARIANT_LETTERS - 1]):
            other = vocab[at]
            shared = len(os.path.commonprefix([other, token]))
            if (len(other) >= _VARIANT_LETTERS and abs(len(other) - len(token)) <= 1
                    and shared >= min(len(other), len(token)) - 1 and (best is None or shared > best[0])):
                best = (shared, other)
            at += 1
        return best[1] if best else None

    def _coverage(self, text: str, speakers: bool = False) -> tuple[float, float]:
        """IDF-weighted share of the text's content words found in the corpus, and in its best single passage.

        A word the corpus has in another form (:meth:`_variant`) counts as found, as that form. A word for
        who speaks in the material or for how they speak that it never uses ("the commenters", "the author",
        "wrote") is no topic: left out, unless ``speakers`` (then it counts as a word the corpus lacks).
        """
        words = [] if speakers else content_words(text)
        left_out = {token for word, token in zip(words, stem(words)) if names_speaking(word)}
        weights: dict[str, float] = {}
        # Words the corpus writes as one ("multi-polar" for "multipolar") count as that one word.
        pairs = self._joined(text)
        parts = set(stem([word for first, second, _ in pairs for word in (first, second)]))
        for token in [t for t in tokenize([text])[0] if t in self._vocab or t not in parts] + [j for _, _, j in pairs]:
            if token in left_out and token not in self._vocab:
                continue
            token = self._variant(token) or token
            weights[token] = float(self._idf[self._vocab[token]]) if token in self._vocab else self._unseen_idf
        total = sum(weights.values())
        if not total:
            return 0.0, 0.0
        per_passage: dict[int, float] = {}
        for token, weight in weights.items():
            for row in self._postings(token).tolist():
                per_passage[row] = per_passage.get(row, 0.0) + weight
        covered = sum(w for t, w in weights.items() if t in self._vocab)
        return covered / total, max(per_passage.values(), default=0.0) / total

    def _evidence(self, text: str, top_sentence: float, top_passage: float) -> Evidence:
        """How well the corpus matches ``text`` (see :func:`rsiqa.search.answer.coverage_probability`)."""
        coverage, passage_coverage = self._coverage(text)
        return Evidence(top_sentence=top_sentence, top_passage=top_passage, coverage=coverage,
                        passage_coverage=passage_coverage, content_terms=len(tokenize([text])[0]),
                        manual=self.data.shows_workings)

    def context_weight(self, question: ReadQuestion) -> float:
        """How much the previous exchange decides a follow-up: at least ``Settings.history_weight``, more the
        less the question says by itself (the share of its content words the corpus knows): "Who else thinks
        so?" leans on it entirely. ("How did the author respond?": "author" says nothing by itself.)"""
        return max(self.settings.history_weight, 1.0 - self._coverage(question.cleaned, speakers=True)[0])

    def answer_vector(self, question: ReadQuestion, conversation: Conversation | None, vectors: np.ndarray,
                      weight: float | None = None) -> np.ndarray:
        """The vector an answer's sentences are chosen by, from the embeddings of :meth:`query_texts`: the
        question's; in a conversation, the question alone and in the context of the previous exchange, mixed
        as the ranking mixes them (:meth:`context_weight`), so that "does any of that need huge amounts of
        data?" quotes the sentence about data in the passage the conversation found, and "And why?" the one
        the context points at. ``weight``: the question's :meth:`context_weight`, when the caller has it."""
        if conversation is None:
            return vectors[0]
        h = self.context_weight(question) if weight is None else weight
        mixed = (1 - h) * vectors[0] + h * vectors[1 + int(bool(question.ask))]
        return mixed / max(float(np.linalg.norm(mixed)), 1e-12)

    def read_before(self, question: ReadQuestion, conversation: Conversation, hits: list[Hit],
                    vectors: np.ndarray) -> str:
        """What the reader has read before this follow-up, as the answer's quoting takes it: the previous answer;
        for a follow-up for more or for a reply after an answer that paraphrased the first passage (nothing cited,
        nothing of it quoted), also that passage's sentence closest to the exchange, which the paraphrase told
        (:func:`rsiqa.search.conversation.read_in_paraphrase`). ``vectors``: the embeddings of :meth:`query_texts`,
        whose last, when nothing was cited, is the exchange alone."""
        if conversation.cited or not hits or not (question.more or question.reply):
            return conversation.said
        cosines = self.data.sentence_cosines(hits[0].row, vectors[-1])
        return read_in_paraphrase(self.data.sentences[hits[0].row], cosines, conversation.said)

    def query_texts(self, question: ReadQuestion, conversation: Conversation | None = None) -> list[str]:
        """The texts to embed for a search, in this order: the cleaned question; its ask (a long
        question's asking sentences), when it has background; and, in a conversation, the
        question in the context of the previous exchange, then that exchange alone (it finds
        the passages the previous answer rested on when the client did not send them)."""
        texts = [question.cleaned]
        if question.ask:
            texts.append(question.ask)
        if conversation is not None:
            texts.append(f"{conversation.context()} {question.cleaned}")
            if not conversation.cited:
                texts.append(conversation.context())
        return texts

    def search(self, question: ReadQuestion | str, k: int, conversation: Conversation | None = None,
               vectors: np.ndarray | None = None, weight: float | None = None) -> tuple[list[Hit], Evidence]:
        """The ``k`` best passages for ``question`` (read by :mod:`rsiqa.search.query`), best first.

        A long question is scored as a whole and by its ask: their dense scores averaged, their keyword
        scores mostly the whole question's (:data:`_ASK_LEXICAL`), fused once. In a conversation the
        question is also scored in the context of the previous exchange; the less it says by
        itself, the more that counts. The passages the previous answer rested on, and the
        passages around them in their document (the next paragraph, the rest of a list, the
        replies), get :attr:`Settings.conversation_prior`: a follow-up most often asks about them.
        Passages of a kind the question points at ("the commenter", "the author", "the FAQ") get
        :attr:`Settings.kind_cue_weight`.
        ``vectors`` are the embeddings of :meth:`query_texts` and ``weight`` the question's :meth:`context_weight`,
        when the caller has them already.
        """
        if isinstance(question, str):
            question = ReadQuestion(text=question, cleaned=question, ask=None, contrast=False, advice=False)
        texts = self.query_texts(question, conversation)
        if vectors is None:
            vectors = self.embedder.encode(texts)
        weights = [self._lexical_weights(text) for text in texts]
        bm25 = [self._bm25_scores(text, w) for text, w in zip(texts, weights)]
        rows = self._candidates(vectors, bm25, weights)
        # "Give me an overview" asks about all of the material; in a conversation, "tldr?" asks about the exchange.
        whole = question.whole and conversation is None
        if whole and rows is not None:  # the documents' openings are the answer: always scored
            rows = np.union1d(rows, np.flatnonzero(self._openings))
        fused, dense, lexical, best_index, best_cos, evidence = self._fused(question.cleaned, vectors[0], bm25[0], rows)
        evidence_alone = evidence
        at = 1
        if question.ask:  # in meaning the ask counts half; in keywords less (its few words rank noisily alone)
            dense_ask, lexical_ask, best_ask, cos_ask, _ = self._scores(vectors[1], bm25[1], rows)
            dense = (dense + dense_ask) / 2
            lexical = (1 - _ASK_LEXICAL) * lexical + _ASK_LEXICAL * lexical_ask
            fused = self._fuse(dense, lexical, evidence.top_passage)
            better = cos_ask > best_cos  # the best sentence for whichever reading matches it more
            best_index, best_cos = np.where(better, best_ask, best_index), np.maximum(cos_ask, best_cos)
            at = 2
        # 1 for the passages of the kinds the question points at ("the commenter", "the FAQ"), else 0
        asked = np.isin(self._kinds, list(question.kinds)).astype(np.float64) if question.kinds else None
        if asked is not None and self.settings.kind_cue_weight:
            fused = fused + self.settings.kind_cue_weight * (asked if rows is None else asked[rows])
        named = self._titled(question.text)
        if named is not None and asked is not None and (named * asked).any():
            named = named * asked  # 'the comments on “…”': that document's comments, not its excerpt
        if named is not None:  # 'What does the post “Why all the fuss about ...” argue?': that document's passages
            fused = fused + _TITLE_WEIGHT * (named if rows is None else named[rows])
        elif (described := self._described(question.text)) is not None:  # "the skeptical deep learning post"
            # not narrowed to the kinds the question points at, as a whole title is: that lost first places (README)
            fused = fused + _DESCRIBED_WEIGHT * (described if rows is None else described[rows])
        # "which lab does he work at?": the material cannot name a thing of a kind it never names
        unknown_kind = question.kind is not None and self.known_words(question.kind)[0] == 0
        if conversation is not None:
            # the less the question says by itself, the more the conversation decides
            h = self.context_weight(question) if weight is None else weight
            fused_ctx, dense_ctx, lexical_ctx, best_ctx, cos_ctx, evidence_ctx = self._fused(
                texts[at], vectors[at], bm25[at], rows)
            fused = (1 - h) * fused + h * fused_ctx
            dense = (1 - h) * dense + h * dense_ctx
            lexical = (1 - h) * lexical + h * lexical_ctx
            previous = self._previous_rows(conversation, vectors, bm25, rows, at + 1)
            fused = fused + self.settings.conversation_prior * self._prior(previous, rows, question.reply)
            if question.reply:
                fused = self._reply_after_read(fused, rows, previous, conversation.said)
            # Judge the question in context only while it stays on the material: its words are mostly
            # ones the previous exchange used or the corpus knows, or close to them ("why would it be
            # scared of that?" after a fear of goal drift; "what other discontinuity does it bring
            # up?" after a discontinuity; "And why?" has none), fewer than two are foreign to the
            # corpus, and by themselves they are not almost all foreign to it unless the question
            # points back ("it", "that") or asks for a reply ("did the author reply?": to what was said).
            # A new topic ("what other books has he written?", "What is the best pizza topping?", "Is it
            # safe to freeze leftover cooked rice?") is judged alone.
            # The words of a summary request ("sum it up") are no topic: what is left decides.
            # A question that says what it asks by itself (two words the exchange lacks) and asks for what a
            # discussion does not hold by being on its topic is judged alone too: instructions, advice for the
            # reader, a figure ("how do i quantize a llama model myself?", "who invented it and in what year?"),
            # a name the material never mentions ("did Anthropic reply to that?", "was that at spacex?") or a kind of
            # thing it never names ("which lab does he work at?"), where someone works or who funds something ("where
            # does he work now?"). One that asks for a fact or advice its sentence in context lacks: see below.
            words, every = self._word_knowledge(without_summary_request(question.cleaned),
                                                besides=conversation.context(words=60))
            known, added = sum(k for _, k in words), len(words)
            stays = known + (every - added) >= 0.5 * every and added - known < _NEW_TOPIC_WORDS
            moves_on = question.demands or question.unknown_names or self._foreign(words)
            stays = stays and not (moves_on and added >= _OWN_WORDS) and not unknown_kind
            points_back = REFERS_BACK.search(question.cleaned) or question.reply
            if not added or (stays and (evidence.coverage >= 0.25 or points_back)):
                evidence = evidence_ctx
                best_index, best_cos = best_ctx, cos_ctx  # "Why does he think that?": the sentence about him
        if question.overview and conversation is None:
            # A summary request: the documents' openings (which introduce what follows) come forward; for the
            # material as a whole ("give me an overview") they lead, the most central document's first; for one
            # kind of its parts ("summarize the FAQ answer", "the comments") the passages of that kind lead.
            weight = _WHOLE_WEIGHT if whole and not question.kinds else self.settings.overview_weight
            fused = fused + weight * (self._openings if rows is None else self._openings[rows])
            if whole and asked is not None:
                fused = fused + _WHOLE_WEIGHT * (asked if rows is None else asked[rows])
        order = np.argsort(-fused, kind="stable")[:k]
        if asks_why(question.cleaned):
            order = self._explanation_first(order, rows)
        first = int(order[0] if rows is None else rows[order[0]]) if len(order) else None
        gaps = Gaps()
        if first is not None and question.demands_a_fact:
            # The best sentence of the first hit, read (from disk, on a served index) only for an answer-type check.
            sentences = self.data.sentences[first]
            gaps = self._gaps(question, sentences[int(best_index[order[0]])] if sentences else "")
        in_context = conversation is not None and evidence is evidence_ctx
        if in_context and (question.advice or gaps.any):
            # A follow-up for a fact the sentence found in context does not hold ("where does he work now?", "what
            # year was that debate?") or for advice ("which solver should I use for that?") is judged by itself:
            # the exchange vouches for its topic, not for that fact nor for instructions. Only the evidence changes:
            # the ranking and its best sentences stay the conversation's, as an answer would quote them.
            evidence, in_context = evidence_alone, False
        evidence.gaps = gaps
        evidence.soft_coverage = self.known_share(texts[at] if in_context else question.cleaned)
        if question.term is not None:  # "What is constitutional AI?": the material cannot define a term it never uses
            known, total, _ = self.known_words(" ".join(term_words(question.term)))
            evidence.unknown_term = known < total
        evidence.unknown_kind, evidence.unknown_speaker = unknown_kind, question.unknown_speaker
        if first is not None:
            evidence.rare_match = any(len(rows_with) <= 2 and first in rows_with.tolist()
                                      for rows_with in map(self._postings, tokenize([question.cleaned])[0]))
        hits = [
            Hit(row=int(i if rows is None else rows[i]), fused=float(fused[i]), dense=float(dense[i]),
                lexical=float(lexical[i]), best_sentence=int(best_index[i]), sentence_cosine=float(best_cos[i]))
            for i in order
        ]
        # In a conversation each passage's best sentence is the best for the question alone and in context, mixed
        # (answer_vector); its sentence_cosine stays the ranking's, which the answer compares across passages.
        if conversation is not None and hits:
            rows_hit = np.array([hit.row for hit in hits], dtype=np.int64)
            cosines = self.store.sentence_vectors(rows_hit) @ self.answer_vector(question, conversation, vectors, h)
            for hit, per_passage in zip(hits, np.split(cosines, np.cumsum(self._lengths[rows_hit])[:-1])):
                hit.best_sentence = int(np.argmax(per_passage))
        evidence.whole = whole
        if whole and not question.kinds:
            for hit in hits:  # an opening is quoted from its start (past a byline: its first sentence that says something)
                if self._openings[hit.row]:
                    sentences = self.data.sentences[hit.row]
                    hit.best_sentence = next((i for i, sentence in enumerate(sentences)
                                              if len(sentence.split()) >= _SAYS_WORDS), 0)
        return hits, evidence

    def _explanation_first(self, order: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """For a question that asks why: when the first passage gives no cause in so many words and another of the
        first :data:`_EXPLANATION_DEPTH` from the same section does ("This is because ..."), that one comes first.
        An FAQ answer often shows the behaviour first (the code that fails) and explains it in its next passage,
        which matches the question's words less."""
        ranked = [int(i if rows is None else rows[i]) for i in order[:_EXPLANATION_DEPTH]]
        if len(ranked) < 2 or explains(self.data.passages[ranked[0]].text):
            return order
        section = self.data.source_of(ranked[0])
        for at, row in enumerate(ranked[1:], start=1):
            if self.data.source_of(row) == section and explains(self.data.passages[row].text):
                return np.concatenate([order[at:at + 1], order[:at], order[at + 1:]])
        return order

    def _gaps(self, question: ReadQuestion, best: str) -> Gaps:
        """Which facts ``question`` asks for that ``best`` (the first hit's best sentence) does not hold."""
        # "How many ...?": the sentence that answers holds a number, or, for "how many", opens or is part of a
        # list whose items the reader counts ("How many skeptics does the FAQ list?": "... skeptics include:").
        listed = question.count and (best.rstrip().endswith(":") or LIST_ITEM.match(best) is not None)
        return Gaps(
            quantity=question.quantity and not (holds_quantity(best) or listed),
            # "Who coined the term seed AI?": the sentence that answers says someone coined, invented, proposed it.
            origin=question.origin and not holds_origin(best),
            # "where does he work now?": the sentence that answers gives a job, an employer, a funder, a base.
            profile=question.profile and not holds_profile(best),
            # "how do protein folding models actually work under the hood?": in material that rarely takes things
            # apart (a debate, unlike a manual), the sentence that answers says how it proceeds.
            workings=question.workings and not self.data.shows_workings and not holds_workings(best),
            # "What's the title of Chollet's essay, and where was it published?": the sentence that answers names a
            # title (in quotation marks), a link or a place of publication.
            work=question.work and not holds_work(best))

    @cached_property
    def _titles(self) -> tuple[list[str], np.ndarray]:
        """The documents' titles of three words or more (normalised: :func:`normal_words`), and each passage's
        index into them (-1: a title too short to be named by chance)."""
        sources, per_row = self.data.distinct_sources()
        titles = [normal_words(source.title) for source in sources]
        names = list(dict.fromkeys(title for title in titles if len(title.split()) >= 3))
        index = {name: i for i, name in enumerate(names)}
        of_source = np.array([index.get(title, -1) for title in titles], dtype=np.int64)
        return names, of_source[per_row] if len(per_row) else np.zeros(0, dtype=np.int64)

    @cached_property
    def _title_tokens(self) -> tuple[list[set[str]], dict[str, float]]:
        """Each title's tokens (:meth:`_titles`), and each token's weight: how few titles have it
        (log of the number of titles over theirs; a token in every title weighs 0)."""
        names, _ = self._titles
        tokens = [set(tokenize([name])[0]) for name in names]
        counts: dict[str, int] = {}
        for title in tokens:
            for token in title:
                counts[token] = counts.get(token, 0) + 1
        return tokens, {token: float(np.log(len(tokens) / n)) for token, n in counts.items()}

    def _described(self, question: str) -> np.ndarray | None:
        """1 for the passages of the document whose title the question describes ("the deep learning post", "the
        post about AGIs and humans both solving alignment": words that only that title has), else 0; None: it
        describes none, or as many words point at two."""
        words = post_description(question)
        if not words:
            return None
        titles, weight = self._title_tokens
        asked = set(tokenize([" ".join(words)])[0])
        scores = sorted(((sum(weight[t] for t in asked & title), i) for i, title in enumerate(titles)), reverse=True)
        if not scores or scores[0][0] <= 0 or (len(scores) > 1 and scores[1][0] == scores[0][0]):
            return None
        return (self._titles[1] == scores[0][1]).astype(np.float64)

    def _titled(self, question: str) -> np.ndarray | None:
        """1 for the passages of the documents whose whole title the question writes, else 0; None: it names none."""
        text = f" {normal_words(question)} "
        names, per_row = self._titles
        named = [i for i, name in enumerate(names) if f" {name} " in text]
        return np.isin(per_row, named).astype(np.float64) if named else None

    @cached_property
    def _openings(self) -> np.ndarray:
        """Per passage: 0, or for the first passage of each file (a document's opening) 1 plus a tenth of its
        cosine to the mean of all passage vectors (the most central document's opening ranks first).
        Made at the first summary request; with a store that keeps the vectors outside this process
        (Milvus), the openings in corpus order."""
        sources, per_row = self.data.distinct_sources()
        paths = np.array([source.path for source in sources], dtype=object)[per_row]
        first = np.sort(np.unique(paths, return_index=True)[1])  # each file's first row, in corpus order
        openings = np.zeros(len(paths), dtype=np.float64)
        openings[first] = 1.0
        if self.store.holds_vectors and len(first):
            centre = np.asarray(self.data.vectors, dtype=np.float64).mean(axis=0)
            centre /= max(float(np.linalg.norm(centre)), 1e-12)
            openings[first] += 0.1 * (self.store.passage_vectors(first) @ centre)
        else:
            openings[first] += 0.1 * (1.0 - np.arange(len(first)) / max(len(first), 1))
        return openings

    def _previous_rows(self, conversation: Conversation, vectors: np.ndarray, bm25: list[np.ndarray],
                       rows: np.ndarray | None, at: int) -> list[int]:
        """Rows of the passages the previous answer rested on: those it cited, else the best two for that exchange."""
        if conversation.cited:
            where = self._row_of
            return [where[c] for c in conversation.cited[:3] if c in where]
        dense, lexical, _, _, top_passage = self._scores(vectors[at], bm25[at], rows)
        fused = self._fuse(dense, lexical, top_passage)
        described = self._described(conversation.question)
        if described is not None:  # "Did anyone push back on the skeptical deep learning post?": that post's passages
            fused = fused + _DESCRIBED_WEIGHT * (described if rows is None else described[rows])
        order = np.argsort(-fused, kind="stable")[:2]
        return [int(i if rows is None else rows[i]) for i in order]

    def _reply_after_read(self, fused: np.ndarray, rows: np.ndarray | None, previous: list[int],
                          said: str) -> np.ndarray:
        """For a follow-up asking how someone answered: when the passage ranked first is one the previous answer
        rested on and the reader has read it to its end (the answer quoted its last sentence), the next passage of
        the same thread comes first, just above it: the reply follows what it answers, and the reader has what
        came before. A reply within the passage (its end unread) or a history that paraphrases moves nothing."""
        if not said or len(fused) < 2:
            return fused
        top = int(np.argmax(fused))
        first = int(top if rows is None else rows[top])
        after = first + 1
        if (first not in previous or self.data.source_of(first).kind not in _REPLIED_KINDS
                or after >= len(self.data.passages) or self.data.source_of(after).url != self.data.source_of(first).url
                or new_sentences(self.data.sentences[first], said)[-1]):
            return fused
        at = after if rows is None else np.flatnonzero(rows == after)
        if np.size(at) == 0:  # the reply is not among the scored passages
            return fused
        fused = fused.copy()
        fused[at] = fused[top] + _REPLY_MARGIN
        return fused

    def _prior(self, previous: list[int], rows: np.ndarray | None, reply: bool = False) -> np.ndarray:
        """1 for the first passage of the previous answer and :data:`_LATER_PREVIOUS` for the others, half of that
        for their neighbours in the same document, else 0. With ``reply`` (the follow-up asks how someone
        answered it), after a post or a comment the next passage gets twice that and the one after it as much
        (:data:`_REPLY_PRIOR`): in a thread the reply follows what it answers."""
        prior = np.zeros(len(self.data.passages), dtype=np.float64)
        source_of, n = self.data.source_of, len(self.data.passages)  # sources without reading the passages
        for rank, row in enumerate(previous):
            top = 1.0 if rank == 0 else _LATER_PREVIOUS
            around = ((row - 1, 0.5 * top), (row + 1, 0.5 * top), (row, top))
            if reply and source_of(row).kind in _REPLIED_KINDS:
                after = tuple((row + i, w * top) for i, w in enumerate(_REPLY_PRIOR, start=1))
                around = ((row - 1, 0.5 * top), (row, top), *after)
            for other, weight in around:
                if 0 <= other < n and source_of(other).path == source_of(row).path:
                    same_post = source_of(other).url == source_of(row).url
                    prior[other] = max(prior[other], weight if same_post or other == row else 0.0)
        return prior if rows is None else prior[rows]
