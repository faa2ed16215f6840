"""One start of `rsiqa serve` on an index: seconds to /api/health, to the first answer, and memory after a
few questions; prints one JSON line. Run by the Python of the checkout to measure (its venv's `rsiqa`).

Made to be timed as a whole process, several runs, one version against another (each on an index
its own writer wrote from the same source: the folders benchmarks/serve_scale.py leaves in ``--work``):

    .venv/bin/python benchmarks/serve_start.py --index .tmp/serve-scale/index-130000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_speed import QUESTIONS  # noqa: E402
from processes import free_port, status_kb, stop_process, wait_for_health  # noqa: E402

RSIQA = str(Path(sys.executable).parent / "rsiqa")


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="questions asked after the first")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    started = time.perf_counter()
    proc = subprocess.Popen([RSIQA, "serve", "--port", str(port), "--index", str(args.index.resolve())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=args.index.resolve().parent)
    try:
        wait_for_health(proc, url, pause=0.02)
        health = time.perf_counter() - started
        memory_at_health = status_kb(proc.pid, ("VmRSS", "RssAnon", "RssFile"))
        with httpx.Client(base_url=url, timeout=120) as client:
            client.post("/api/query", json={"question": QUESTIONS[0]}).raise_for_status()
            first = time.perf_counter() - started
            for n in range(args.questions):
                client.post("/api/query", json={"question": QUESTIONS[n % len(QUESTIONS)]}).raise_for_status()
        memory = status_kb(proc.pid, ("VmRSS", "RssAnon", "RssFile", "VmHWM"))
    finally:
        stop_process(proc)
    print(json.dumps({"health_s": round(health, 2), "first_answer_s": round(first, 2), "kb_at_health": memory_at_health,
                      "kb_after_questions": memory}))


if __name__ == "__main__":
    main()
