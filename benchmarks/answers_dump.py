"""Every answer (text, citations with chunk ids and scores, follow-ups) of question sets, one JSON line each, for
comparing two versions byte for byte (each on an index its own build wrote):

    .venv/bin/python benchmarks/answers_dump.py index/ .tmp/answers-after.jsonl
    PYTHONPATH=OTHER/src .venv/bin/python benchmarks/answers_dump.py OTHER-INDEX .tmp/answers-before.jsonl
    cmp .tmp/answers-before.jsonl .tmp/answers-after.jsonl

Without set files: the six debate sets (../shared/eval/questions.jsonl, styles.jsonl and eval/'s four).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETS = [REPO.parent / "shared" / "eval" / "questions.jsonl", REPO.parent / "shared" / "eval" / "styles.jsonl",
        REPO / "eval" / "validation_questions.jsonl", REPO / "eval" / "styles_validation.jsonl",
        REPO / "eval" / "holdout_questions.jsonl", REPO / "eval" / "styles_holdout.jsonl"]


def main() -> None:
    from rsiqa.evaluate import load_questions
    from rsiqa.search.engine import Engine
    from rsiqa.settings import Settings

    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    index, out = Path(sys.argv[1]), Path(sys.argv[2])
    sets = [Path(p) for p in sys.argv[3:]] or SETS
    engine = Engine(Settings(index_dir=index))
    with out.open("w", encoding="utf-8") as handle:
        for path in sets:
            for question in load_questions(path):
                answer = engine.ask(question["question"], None, question.get("history") or [])
                handle.write(json.dumps({"set": path.name, "id": question.get("id"), "answer": answer.model_dump()},
                                        sort_keys=True) + "\n")
    print(f"{out}: answers of {len(sets)} set(s)")


if __name__ == "__main__":
    main()
