"""Load test of the REST API: N queries from C concurrent clients against a real ``rsiqa serve``.

    python benchmarks/load.py                          # starts rsiqa serve on index/ (free 127.0.0.1 port)
    python benchmarks/load.py -n 2000 -c 16            # the defaults: 2,000 queries from 16 clients
    python benchmarks/load.py --url http://127.0.0.1:8000   # a server that is already running
    python benchmarks/load.py --index /tmp/index --json     # another index; figures as JSON

The queries cycle through a fixed mix: in-scope questions, out-of-scope ones (which the server
declines) and follow-ups sent with a conversation history. Each client keeps one connection
open and sends its next query as soon as the previous answer arrives. A few warm-up queries run
first and are not counted.

Prints the number of queries, how many got a status other than 2xx (or no answer at all), the
latency percentiles p50/p95/p99 and the throughput; exits with status 1 when any query failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from processes import answers_health, free_port, stop_process, wait_until_ready  # benchmarks/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]

IN_SCOPE = [
    "What is KANSI?",
    "Would an AGI need its full codebase to self-improve?",
    "Who are the prominent skeptics of recursive self-improvement?",
    "Is recursive self-improvement relevant in the deep learning era?",
    "What did Ted Chiang argue about compilers?",
    "Why would an intelligence explosion be fast?",
    "Can an AI improve its own training process?",
    "What are diminishing returns in self-improvement?",
]
OUT_OF_SCOPE = [
    "What is the best pizza in Naples?",
    "How do I change a bicycle tyre?",
    "Who won the 1998 football world cup?",
]
FOLLOW_UPS = [
    ([{"role": "user", "content": "What is KANSI?"},
      {"role": "assistant", "content": "KANSI is an approach to AI that is known, not super intelligent. [1]"}],
     "And who proposed it?"),
    ([{"role": "user", "content": "Who are the prominent skeptics of recursive self-improvement?"}],
     "What did they argue?"),
    ([{"role": "user", "content": "Would an AGI need its full codebase to self-improve?"},
      {"role": "assistant", "content": "Some argue it would not. [1]"}],
     "Why not?"),
]


def query_mix() -> list[tuple[str, dict[str, Any]]]:
    """The cycle of (kind, body) the clients send: 8 in-scope, 3 out-of-scope, 3 follow-ups."""
    mix: list[tuple[str, dict[str, Any]]] = [("in-scope", {"question": q}) for q in IN_SCOPE]
    mix += [("out-of-scope", {"question": q}) for q in OUT_OF_SCOPE]
    mix += [("follow-up", {"question": q, "history": h}) for h, q in FOLLOW_UPS]
    order = [0, 8, 1, 11, 2, 3, 9, 4, 12, 5, 6, 10, 7, 13]  # interleaved, so any prefix is mixed
    return [mix[i] for i in order]


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.4999)))
    return ordered[rank - 1]


def run_load(url: str, queries: int = 2000, clients: int = 16, timeout: float = 60.0,
             max_seconds: float = 600.0, warmup: int = 8) -> dict[str, Any]:
    """Send ``queries`` queries from ``clients`` threads to ``url``; the figures as a dict.

    ``failed`` counts queries with a status other than 2xx, no answer (connection error, timeout)
    or a 2xx body that is not an answer object; queries not sent within ``max_seconds`` count as
    ``not_sent``.
    """
    mix = query_mix()
    url = url.rstrip("/")
    with httpx.Client(base_url=url, timeout=timeout) as client:
        for i in range(warmup):
            client.post("/api/query", json=mix[i % len(mix)][1]).raise_for_status()

    lock = threading.Lock()
    next_query = iter(range(queries))
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    kinds: Counter[str] = Counter()
    abstained: Counter[str] = Counter()
    failures: list[str] = []
    gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def take() -> int | None:
        with lock:
            if time.perf_counter() > deadline[0]:
                return None
            return next(next_query, None)

    def client_loop() -> None:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            gate.wait()
            while (n := take()) is not None:
                kind, body = mix[n % len(mix)]
                started = time.perf_counter()
                try:
                    response = client.post("/api/query", json=body)
                    status = response.status_code
                    answer = response.json() if status < 300 else None
                    problem = None if status < 300 else f"{status}: {response.text[:200]}"
                    if answer is not None and not isinstance(answer.get("answer"), str):
                        problem = f"{status} without an answer object: {response.text[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    status, answer, problem = 0, None, f"no answer: {type(exc).__name__}: {exc}"
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    statuses[status] += 1
                    kinds[kind] += 1
                    if answer is not None and answer.get("abstained"):
                        abstained[kind] += 1
                    if problem:
                        failures.append(f"{kind} {body['question']!r} -> {problem}")

    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + max_seconds
    began = time.perf_counter()
    gate.wait()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    sent = len(latencies)
    return {
        "url": url, "queries": queries, "clients": clients, "sent": sent, "not_sent": queries - sent,
        "ok": sum(count for status, count in statuses.items() if 200 <= status < 300),
        "failed": len(failures), "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(seconds, 2), "rps": round(sent / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1), "max_ms": round(max(latencies, default=0.0), 1),
        "kinds": dict(kinds), "abstained": dict(abstained), "failures": failures[:20],
    }


def render(figures: dict[str, Any]) -> str:
    """The figures for people."""
    kinds = ", ".join(f"{kind} {count} ({figures['abstained'].get(kind, 0)} declined)"
                      for kind, count in figures["kinds"].items())
    lines = [
        f"target     {figures['url']}",
        (f"queries    {figures['sent']} of {figures['queries']} from {figures['clients']} concurrent clients "
         f"in {figures['seconds']:.1f} s"),
        f"non-2xx    {figures['failed']}   (status counts: {figures['statuses']})",
        (f"latency    p50 {figures['p50_ms']:.1f} ms   p95 {figures['p95_ms']:.1f} ms   "
         f"p99 {figures['p99_ms']:.1f} ms   max {figures['max_ms']:.1f} ms"),
        f"throughput {figures['rps']:.1f} queries/s",
        f"mix        {kinds}",
    ]
    if figures["not_sent"]:
        lines.append(f"NOT SENT   {figures['not_sent']} (time limit reached)")
    lines += [f"FAILED     {failure}" for failure in figures["failures"]]
    return "\n".join(lines)



@contextmanager
def local_server(index_dir: Path, timeout: float = 180) -> Iterator[str]:
    """``rsiqa serve --index index_dir`` on a free 127.0.0.1 port until the block ends; yields its URL."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.setdefault("RSIQA_MODEL_CACHE_DIR", str(REPO / ".cache" / "models"))
    command = [sys.executable, "-m", "rsiqa.serve.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--index", str(index_dir)]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield _wait_until_up(process, url, log, timeout)
        finally:
            stop_process(process)


def _wait_until_up(process: subprocess.Popen, url: str, log: Any, timeout: float) -> str:
    """``url`` once the server answers /api/health; raises if it exits or stays silent for ``timeout`` s."""

    def logged() -> str:
        log.seek(0)
        return log.read().decode()[-2000:]

    wait_until_ready(process, lambda: answers_health(url, timeout=5), timeout, "rsiqa serve", logged, pause=0.2)
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="A running server (e.g. http://127.0.0.1:8000); default: start one.")
    parser.add_argument("--index", type=Path, default=REPO / "index",
                        help="Index the started server serves [index/]; ignored with --url.")
    parser.add_argument("-n", "--queries", type=int, default=2000, help="Queries to send [2000].")
    parser.add_argument("-c", "--clients", type=int, default=16, help="Concurrent clients [16].")
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds one query may take [60].")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="Stop sending after this long [600].")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    if args.queries < 1 or args.clients < 1:
        parser.error("--queries and --clients must be at least 1")

    def run(url: str) -> dict[str, Any]:
        return run_load(url, args.queries, args.clients, args.timeout, args.max_seconds)

    try:
        if args.url:
            figures = run(args.url)
        else:
            if not (args.index / "manifest.json").exists():
                print(f"Error: no index in '{args.index}': run `rsiqa build` (or `make index`) first, "
                      "or pass --url of a running server", file=sys.stderr)
                return 2
            with local_server(args.index) as url:
                figures = run(url)
    except (httpx.HTTPError, RuntimeError) as exc:  # the warm-up failed, or the server did not start
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(figures, indent=2) if args.json else render(figures))
    return 1 if figures["failed"] or figures["not_sent"] else 0


if __name__ == "__main__":
    sys.exit(main())
