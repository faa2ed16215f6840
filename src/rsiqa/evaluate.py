"""Retrieval evaluation: hit@k, MRR@10, passage lengths and abstention over a questions file."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Asks one question and returns the answer object as a dict (same shape as POST /api/query).
AskFn = Callable[[str, int, list[dict[str, str]]], dict[str, Any]]


def fold(text: str) -> str:
    """Lower-case and fold white space: how gold phrases are matched."""
    return re.sub(r"\s+", " ", text.lower()).strip()


def load_questions(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL questions file (id, question, gold, optional history and out_of_scope)."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
    return rows


@dataclass
class EvalReport:
    """Figures over a questions file."""

    in_scope: int = 0
    out_of_scope: int = 0
    hits_at: dict[int, int] = field(default_factory=lambda: {1: 0, 3: 0, 5: 0})
    reciprocal_ranks: list[float] = field(default_factory=list)
    passage_words: list[int] = field(default_factory=list)
    declined_out: int = 0
    declined_in: int = 0
    misses: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """The headline numbers."""
        n = max(self.in_scope, 1)
        words = self.passage_words or [0]
        return {
            "hit@1": self.hits_at[1] / n,
            "hit@3": self.hits_at[3] / n,
            "hit@5": self.hits_at[5] / n,
            "mrr@10": sum(self.reciprocal_ranks) / n,
            "median_passage_words": float(statistics.median(words)),
            "max_passage_words": float(max(words)),
            "declined_out_of_scope": self.declined_out / max(self.out_of_scope, 1),
            "declined_in_scope": self.declined_in / n,
        }

    def render(self) -> str:
        """A plain-text report, misses last."""
        f = self.figures()
        lines = [
            f"questions: {self.in_scope} in scope, {self.out_of_scope} out of scope",
            f"hit@1 {f['hit@1']:.3f}  hit@3 {f['hit@3']:.3f}  hit@5 {f['hit@5']:.3f}  MRR@10 {f['mrr@10']:.3f}",
            f"passage words: median {f['median_passage_words']:.0f}, max {f['max_passage_words']:.0f}",
            f"declined: out-of-scope {self.declined_out}/{self.out_of_scope} ({f['declined_out_of_scope']:.0%}), "
            f"in-scope {self.declined_in}/{self.in_scope} ({f['declined_in_scope']:.0%})",
        ]
        lines += ["misses:"] + [f"  {m}" for m in self.misses] if self.misses else ["misses: none"]
        return "\n".join(lines)


def evaluate(rows: list[dict[str, Any]], ask: AskFn) -> EvalReport:
    """Run every question through ``ask`` (top 10) and score the citations against gold phrases."""
    report = EvalReport()
    for row in rows:
        answer = ask(row["question"], 10, row.get("history", []))
        if row.get("out_of_scope"):
            report.out_of_scope += 1
            if answer["abstained"]:
                report.declined_out += 1
            else:
                report.misses.append(f"{row.get('id', '?')}: answered an out-of-scope question: {row['question']}")
            continue
        report.in_scope += 1
        if answer["abstained"]:
            report.declined_in += 1
        texts = [fold(c["text"]) for c in answer["citations"]]
        report.passage_words += [len(c["text"].split()) for c in answer["citations"][:5]]
        gold = [fold(g) for g in row.get("gold", [])]
        rank = next((i for i, t in enumerate(texts, start=1) if any(g in t for g in gold)), None)
        for k in report.hits_at:
            report.hits_at[k] += int(rank is not None and rank <= k)
        report.reciprocal_ranks.append(1.0 / rank if rank else 0.0)
        if rank != 1:
            where = "declined" if answer["abstained"] else (f"rank {rank}" if rank else "not in top 10")
            report.misses.append(f"{row.get('id', '?')}: {where}: {row['question']}")
    return report
