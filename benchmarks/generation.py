"""What a written answer adds to a query's time, the model's own time excluded.

    python benchmarks/generation.py [--rounds 15]

Starts a real ``rsiqa serve`` on the built index (``index/``) with ``RSIQA_LLM_BASE_URL`` pointing
at ``tests/fake_llm_server.py``, which replies at once with a scripted three-sentence answer (two
sentences from the cited passages, one the check removes). For each of four questions it times,
interleaved round by round, ``POST /api/query`` with ``"generate": false`` and ``true``, and
``POST /api/query/stream`` to its final event, and prints the medians and the difference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks")]

from fake_llm import fake_llm_server
from live_server import rsiqa_server

QUESTIONS = [
    "Who are the prominent skeptics of recursive self-improvement?",
    "Would an AGI need its full codebase to self-improve?",
    "What is KANSI?",
    "Is recursive self-improvement relevant in the deep learning era?",
]


def reply_for(answer: dict) -> str:
    """Two sentences quoted from the best two passages, and one the check removes."""
    parts = [f"{c['highlight'].rstrip('.')} [{c['n']}]." for c in answer["citations"][:2] if c["highlight"]]
    return " ".join(parts + ["Everyone agrees it will happen within a decade [9]."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--index", type=Path, default=REPO / "index")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"extractive": [], "generated": [], "stream": []}
    with tempfile.TemporaryDirectory() as tmp, fake_llm_server() as llm, \
            rsiqa_server(args.index, Path(tmp), wait_for_page=False, llm_base_url=llm.base_url,
                         llm_model="fake") as url, httpx.Client(base_url=url, timeout=60) as client:
        replies = {q: reply_for(client.post("/api/query", json={"question": q, "generate": False}).json())
                   for q in QUESTIONS}
        modes = set()
        for round_ in range(args.rounds + 1):  # round 0 warms up
            for question in QUESTIONS:
                llm.script({"reply": replies[question]})
                for kind, spent in times.items():
                    body = {"question": question, "generate": kind != "extractive"}
                    start = time.perf_counter()
                    if kind == "stream":
                        with client.stream("POST", "/api/query/stream", json=body) as response:
                            response.read()
                    else:
                        answer = client.post("/api/query", json=body).json()
                        modes.add(answer["mode"])
                    if round_:
                        spent.append(time.perf_counter() - start)
    median = {kind: statistics.median(values) * 1000 for kind, values in times.items()}
    print(f"{args.rounds} rounds x {len(QUESTIONS)} questions, modes seen: {sorted(modes)}")
    for kind, value in median.items():
        extra = "" if kind == "extractive" else f"  (+{value - median['extractive']:.1f} ms)"
        print(f"  {kind:<11} median {value:6.1f} ms{extra}")


if __name__ == "__main__":
    main()
