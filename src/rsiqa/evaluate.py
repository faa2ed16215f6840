"""Evaluation: hit@k, MRR@10, answer-hit, passage lengths and abstention over a questions file, per style.

On a local index it also reports page@1 and page@5: whether the first (or one of the first five)
citations comes from a page that holds a gold phrase, though perhaps from another passage of
it. A gold phrase picks one passage; a reader asking "which page answers this?" is also
served by the passage next to it or the page's other section on the same thing.

A question set is JSON lines: ``id``, ``question``, ``gold`` (phrases a cited passage must hold),
optional ``history`` (earlier turns), ``out_of_scope`` (should be declined), ``style`` (keyword,
casual, long, who, compare, followup; for out-of-scope ones offtopic, near_domain,
drift_followup) and ``answer_gold`` (phrases the answer text itself should hold).

A judgements file (``rsiqa eval --judgements``) holds a person's verdict on passages returned
for a set's questions, judged without knowing their rank: JSON lines of ``id`` (the question),
``chunk_id`` and ``label`` (``yes``: it answers the question on its own; ``partly``; ``no``). With
it the report says how often the first citation was judged to answer, beside the gold phrases,
which pick one passage where several may answer (the Python docs explain floats in the tutorial
and in the FAQ). A first citation nobody judged is counted apart, never as right.

A set's ``history`` holds answers written by hand. :func:`chained` asks a follow-up the way the
chat page does instead: after rsiqa's own answer to the history's question (``rsiqa eval --chain``).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsiqa.search.schema import markers_used

#: Asks one question and returns the answer object as a dict (same shape as POST /api/query).
AskFn = Callable[[str, int, list[dict[str, Any]]], dict[str, Any]]

#: The style of a question that names none.
PLAIN = "plain"


def fold(text: str) -> str:
    """Lower-case and fold white space: how gold phrases are matched."""
    return re.sub(r"\s+", " ", text.lower()).strip()


def page_of(source: dict[str, Any]) -> str:
    """The page a passage comes from: its URL without the ``#section`` anchor, else its document path."""
    return (source.get("url") or "").split("#", 1)[0] or str(source.get("path") or "")


#: The pages whose passages hold one of the given gold phrases (see :func:`gold_pages_in`).
GoldPagesFn = Callable[[list[str]], set[str]]


def gold_pages_in(passages: Iterable[tuple[str, dict[str, Any]]]) -> GoldPagesFn:
    """A :data:`GoldPagesFn` over an index's passages, given as (text, source dict) pairs."""
    folded = [(fold(text), page_of(source)) for text, source in passages]

    def pages(gold: list[str]) -> set[str]:
        phrases = [fold(g) for g in gold]
        return {page for text, page in folded if any(g in text for g in phrases)}

    return pages


#: Verdicts on returned passages: (question id, chunk id) -> "yes", "partly" or "no".
Judgements = dict[tuple[str, str], str]

#: The labels a judgement may carry.
LABELS = ("yes", "partly", "no")


def load_judgements(path: Path) -> Judgements:
    """Read a judgements file (JSON lines of ``id``, ``chunk_id``, ``label``; see the module docstring)."""
    judgements: Judgements = {}
    for number, row in enumerate(load_questions(path), start=1):
        if row.get("label") not in LABELS or not row.get("id") or not row.get("chunk_id"):
            raise ValueError(f"{path}:{number}: needs id, chunk_id and a label of {', '.join(LABELS)}")
        judgements[(str(row["id"]), str(row["chunk_id"]))] = row["label"]
    return judgements


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL questions file (id, question, gold, optional history, out_of_scope, style, answer_gold)."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    return rows


@dataclass
class Tally:
    """Counts for one group of questions (all of them, or one style)."""

    in_scope: int = 0
    out_of_scope: int = 0
    hits_at: dict[int, int] = field(default_factory=lambda: {1: 0, 3: 0, 5: 0})
    reciprocal_ranks: list[float] = field(default_factory=list)
    answer_hits: int = 0
    declined_out: int = 0
    declined_in: int = 0
    page_hits_at: dict[int, int] = field(default_factory=lambda: {1: 0, 5: 0})
    pages_judged: int = 0

    def add_in_scope(self, rank: int | None, answer_hit: bool, declined: bool, page_rank: int | None = None,
                     page_judged: bool = False) -> None:
        """Count one in-scope question: the rank of its first gold citation, its answer, a wrong decline;
        with ``page_judged``, ``page_rank``: the rank of its first citation from a page holding a gold phrase."""
        self.in_scope += 1
        for k in self.hits_at:
            self.hits_at[k] += int(rank is not None and rank <= k)
        if page_judged:
            self.pages_judged += 1
            for k in self.page_hits_at:
                self.page_hits_at[k] += int(page_rank is not None and page_rank <= k)
        self.reciprocal_ranks.append(1.0 / rank if rank else 0.0)
        self.answer_hits += int(answer_hit)
        self.declined_in += int(declined)

    def add_out_of_scope(self, declined: bool) -> None:
        """Count one out-of-scope question and whether it was declined."""
        self.out_of_scope += 1
        self.declined_out += int(declined)

    def figures(self) -> dict[str, float]:
        """Rates over the group (page@1 and page@5 when pages were judged)."""
        n = max(self.in_scope, 1)
        pages = {f"page@{k}": hits / self.pages_judged for k, hits in self.page_hits_at.items()} if self.pages_judged else {}
        return {
            "hit@1": self.hits_at[1] / n,
            "hit@3": self.hits_at[3] / n,
            "hit@5": self.hits_at[5] / n,
            "mrr@10": sum(self.reciprocal_ranks) / n,
            **pages,
            "answer_hit": self.answer_hits / n,
            "declined_out_of_scope": self.declined_out / max(self.out_of_scope, 1),
            "declined_in_scope": self.declined_in / n,
        }


@dataclass
class EvalReport:
    """Figures over a questions file, overall and per style."""

    total: Tally = field(default_factory=Tally)
    styles: dict[str, Tally] = field(default_factory=dict)
    passage_words: list[int] = field(default_factory=list)
    answer_words: list[int] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    #: With judgements: how the first citation of each in-scope question was judged (yes, partly, no,
    #: unjudged, declined).
    judged_first: dict[str, int] = field(default_factory=dict)

    @property
    def in_scope(self) -> int:
        return self.total.in_scope

    @property
    def out_of_scope(self) -> int:
        return self.total.out_of_scope

    def figures(self) -> dict[str, Any]:
        """The headline numbers, then ``styles``: the same per style."""
        words = self.passage_words or [0]
        answers = self.answer_words or [0]
        judged = {}
        if self.judged_first:
            n = max(self.total.in_scope, 1)
            judged = {"judged@1": self.judged_first.get("yes", 0) / n,
                      "judged_or_partly@1": (self.judged_first.get("yes", 0) + self.judged_first.get("partly", 0)) / n,
                      "unjudged_first_citations": self.judged_first.get("unjudged", 0)}
        return {
            **self.total.figures(),
            **judged,
            "median_passage_words": float(statistics.median(words)),
            "max_passage_words": float(max(words)),
            "median_answer_words": float(statistics.median(answers)),
            "in_scope": self.total.in_scope,
            "out_of_scope": self.total.out_of_scope,
            "styles": {name: {"questions": t.in_scope + t.out_of_scope, **t.figures()} for name, t in self.styles.items()},
        }

    def render(self, misses: bool = True) -> str:
        """A plain-text report: headline figures, a line per style, misses last (``misses=False``: their count
        only, for a blind set whose questions must stay unread)."""
        t, f = self.total, self.figures()
        lines = [
            f"questions: {t.in_scope} in scope, {t.out_of_scope} out of scope",
            f"hit@1 {f['hit@1']:.3f}  hit@3 {f['hit@3']:.3f}  hit@5 {f['hit@5']:.3f}  MRR@10 {f['mrr@10']:.3f}",
            *([f"right page: page@1 {f['page@1']:.3f}  page@5 {f['page@5']:.3f} (a citation from a page that holds "
               "a gold phrase)"] if "page@1" in f else []),
            *([f"judged: the first citation answers {self.judged_first.get('yes', 0)}/{t.in_scope} "
               f"({f['judged@1']:.3f}), answers or partly {f['judged_or_partly@1']:.3f}; "
               f"{f['unjudged_first_citations']} first citations not judged"] if "judged@1" in f else []),
            f"answer-hit {f['answer_hit']:.3f} (the answer text holds a gold phrase); "
            f"answer words: median {f['median_answer_words']:.0f}",
            f"passage words: median {f['median_passage_words']:.0f}, max {f['max_passage_words']:.0f}",
            f"declined: out-of-scope {t.declined_out}/{t.out_of_scope} ({f['declined_out_of_scope']:.0%}), "
            f"in-scope {t.declined_in}/{t.in_scope} ({f['declined_in_scope']:.0%})",
        ]
        if len(self.styles) > 1 or PLAIN not in self.styles:
            lines.append("per style:")
            for name, tally in sorted(self.styles.items(), key=lambda kv: (kv[1].in_scope == 0, kv[0])):
                s = tally.figures()
                if tally.in_scope:
                    lines.append(f"  {name:<15} {tally.in_scope:>3}  hit@1 {s['hit@1']:.2f}  hit@5 {s['hit@5']:.2f}  "
                                 f"MRR {s['mrr@10']:.2f}  answer-hit {s['answer_hit']:.2f}  declined {tally.declined_in}")
                else:
                    lines.append(f"  {name:<15} {tally.out_of_scope:>3}  out of scope, declined "
                                 f"{tally.declined_out}/{tally.out_of_scope}")
        if not misses:
            lines.append(f"misses: {len(self.misses)} (not shown)")
        else:
            lines += ["misses:"] + [f"  {m}" for m in self.misses] if self.misses else ["misses: none"]
        return "\n".join(lines)


def gold_rank(citations: list[dict[str, Any]], gold: list[str]) -> int | None:
    """1-based rank of the first citation whose text holds a gold phrase, or None."""
    phrases = [fold(g) for g in gold]
    return next((i for i, c in enumerate(citations, start=1) if any(g in fold(c["text"]) for g in phrases)), None)


def answer_holds(answer: dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether the answer text holds an ``answer_gold`` phrase (or, without those, a ``gold`` phrase)."""
    if answer["abstained"]:
        return False
    text = fold(answer.get("answer", ""))
    return any(fold(g) in text for g in (row.get("answer_gold") or row.get("gold", [])))


def page_rank(citations: list[dict[str, Any]], pages: set[str]) -> int | None:
    """1-based rank of the first citation from one of ``pages``, or None."""
    return next((i for i, c in enumerate(citations, start=1) if page_of(c.get("source") or {}) in pages), None)


def evaluate(rows: list[dict[str, Any]], ask: AskFn, gold_pages: GoldPagesFn | None = None,
             judgements: Judgements | None = None) -> EvalReport:
    """Run every question through ``ask`` (top 10) and score the citations and answers against gold phrases;
    with ``gold_pages`` (the pages that hold a question's gold phrases), the right page too; with
    ``judgements``, how the first citation was judged."""
    report = EvalReport()
    for row in rows:
        answer = ask(row["question"], 10, row.get("history", []))
        style = report.styles.setdefault(row.get("style") or PLAIN, Tally())
        declined = bool(answer["abstained"])
        label = f"{row.get('id', '?')} [{row.get('style') or PLAIN}]"
        if row.get("out_of_scope"):
            for tally in (report.total, style):
                tally.add_out_of_scope(declined)
            if not declined:
                report.misses.append(f"{label}: answered an out-of-scope question: {row['question']}")
            continue
        citations = answer["citations"]
        rank = gold_rank(citations, row.get("gold", []))
        hit = answer_holds(answer, row)
        on_page = page_rank(citations, gold_pages(row.get("gold", []))) if gold_pages else None
        for tally in (report.total, style):
            tally.add_in_scope(rank, hit, declined, on_page, gold_pages is not None)
        if judgements is not None:
            verdict = "declined" if declined or not citations else \
                judgements.get((str(row.get("id")), str(citations[0].get("chunk_id"))), "unjudged")
            report.judged_first[verdict] = report.judged_first.get(verdict, 0) + 1
        report.passage_words += [len(c["text"].split()) for c in citations[:5]]
        if not declined:
            report.answer_words.append(len(re.sub(r"\[\d+\]", "", answer.get("answer", "")).split()))
        if rank != 1 or not hit:
            where = "declined" if declined else (f"rank {rank}" if rank else "not in top 10")
            report.misses.append(f"{label}: {where}{'' if hit or declined else ', answer misses'}: {row['question']}")
    return report


def chained(ask: AskFn) -> AskFn:
    """``ask`` with a follow-up's history replaced by rsiqa's own answer to the history's last question.

    As the chat page sends a conversation: that question, then the answer text with the chunk ids
    of the citations it uses. A question without history is asked as it is.
    """
    def ask_chained(question: str, k: int, history: list[dict[str, Any]]) -> dict[str, Any]:
        asked = [str(t.get("content", "")) for t in history or [] if t.get("role") == "user"]
        if not asked:
            return ask(question, k, history)
        previous = ask(asked[-1], k, [])
        text = str(previous.get("answer", ""))
        used = markers_used(text)
        cited = [c["chunk_id"] for c in previous.get("citations", []) if c.get("n") in used]
        return ask(question, k, [{"role": "user", "content": asked[-1]},
                                 {"role": "assistant", "content": text, "citations": cited}])

    return ask_chained
