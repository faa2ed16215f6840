"""Build speed, resumability and start-up on a real collection nobody here wrote (issue 14).

The default collection is Debian's Python 3.11 documentation (530 HTML pages, about 50 MB). This
script installs nothing; set the machine up first with::

    apt-get install -y python3.11-doc          # HTML in /usr/share/doc/python3.11/html

Then, from the repository root::

    .venv/bin/python benchmarks/build_speed.py --subset 60      # 60 pages (a few minutes on 2 cores)
    .venv/bin/python benchmarks/build_speed.py                  # all 530 pages (about an hour on 2 cores)

It times, each with the installed ``rsiqa`` command in a fresh work folder:

1. a full build of the folder (``--subset N``: its first N pages, sorted by path);
2. a rebuild with nothing changed (``rsiqa build`` without ``--if-stale``);
3. a build stopped by ``kill -9`` half-way through embedding, then resumed: how many texts the
   resumed build embedded, against those the killed one had journaled, and the time of both runs
   against the full build;
4. ``rsiqa serve``: start-up until ``/api/health`` answers, query p50 (one client), throughput
   with 8 concurrent clients, and the server's memory per passage (RSS, and of it the anonymous
   memory, the rest being memory-mapped index files the kernel can drop).

It prints one JSON object with every figure, the load average before and after, and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from processes import free_port, status_kb, wait_for_health  # benchmarks/ is on sys.path when run as a script

RSIQA = str(Path(sys.executable).parent / "rsiqa")
DEFAULT_CORPUS = Path("/usr/share/doc/python3.11/html")
QUESTIONS = [
    "How do I copy a list deeply?", "What does the with statement do?", "How do I read a file line by line?",
    "What is a generator expression?", "How are default argument values evaluated?", "What does asyncio.gather do?",
    "How do I sort a dictionary by value?", "What is the global interpreter lock?", "How do I format a date?",
    "What is a context manager?", "How do I parse command line arguments?", "What does functools.lru_cache do?",
]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_build(corpus: Path, index: Path, cwd: Path, env: dict[str, str]) -> tuple[float, dict[str, int], str]:
    """Run ``rsiqa build``; its wall time, the counts it printed and its output."""
    started = time.perf_counter()
    done = subprocess.run([RSIQA, "build", "--quiet", "--corpus", str(corpus), "--index", str(index)],
                          cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"rsiqa build failed: {done.stderr[-2000:]}")
    return seconds, counts(done.stdout), done.stdout


def counts(output: str) -> dict[str, int]:
    found = re.search(r"Indexed (\d+) passages from (\d+) document\(s\).*?\((\d+) texts embedded, (\d+) reused"
                      r"(?:, (\d+) of them embedded by a stopped build)?\)", output, re.S)
    if not found:
        raise SystemExit(f"unexpected build output: {output[-500:]}")
    passages, documents, embedded, reused, resumed = (int(g or 0) for g in found.groups())
    return {"passages": passages, "documents": documents, "embedded": embedded, "reused": reused, "resumed": resumed}


def journal_records(index: Path) -> int:
    """Vectors in the embedding journal of the index (see rsiqa.index.buildcache), 384-dimensional."""
    folder = index.parent / f".{index.name}-cache"
    files = list(folder.glob("embeddings-*.f32")) if folder.exists() else []
    return sum(max(0, (f.stat().st_size - 12) // (20 + 4 * 384)) for f in files)


def killed_and_resumed(corpus: Path, work: Path, env: dict[str, str], total: int, full_seconds: float) -> dict:
    """kill -9 a build once half of ``total`` texts are journaled; resume; count what was embedded again."""
    index = work / "index-resume"
    started = time.perf_counter()
    proc = subprocess.Popen([RSIQA, "build", "--quiet", "--corpus", str(corpus), "--index", str(index)],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while journal_records(index) < total // 2:
        if proc.poll() is not None:
            raise SystemExit("the build ended before half of its texts were embedded")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_seconds = time.perf_counter() - started
    journaled = journal_records(index)
    resume_seconds, resumed, _ = run_build(corpus, index, work, env)
    # The journal is flushed after every embedding call, so the work lost is the call that was running:
    # at most batch_size * 8 texts (rsiqa.index.build.EmbeddingCache.embed).
    in_flight = int(env.get("RSIQA_BATCH_SIZE", "32")) * 8
    return {"killed_after_s": round(killed_seconds, 1), "journaled_at_kill": journaled,
            "resume_build_s": round(resume_seconds, 1), "resume_embedded": resumed["embedded"],
            "resume_reused_from_journal": resumed["resumed"],
            "resume_embedded_beyond_unjournaled": resumed["embedded"] - (total - journaled),
            "lost_call_texts_at_most": in_flight, "lost_share_at_most": round(in_flight / total, 4),
            "time_overhead_vs_full": round((killed_seconds + resume_seconds - full_seconds) / full_seconds, 3)}



def memory_kb(pid: int) -> dict[str, int]:
    return status_kb(pid, ("VmRSS", "RssAnon", "RssFile", "RssShmem"))


def serve_figures(index: Path, work: Path, env: dict[str, str], passages: int, seconds: float) -> dict:
    """Start-up to /api/health, query p50, 8-client throughput for ``seconds``, memory per passage."""
    import httpx

    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([RSIQA, "serve", "--port", str(port), "--index", str(index)], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(proc, url, pause=0.05)
        startup = time.perf_counter() - started
        with httpx.Client(base_url=url, timeout=60) as client:
            client.post("/api/query", json={"question": QUESTIONS[0]}).raise_for_status()
            first_answer = time.perf_counter() - started  # the first answer also waits for any deferred check
            for question in QUESTIONS[1:]:  # warm up: each question's words embedded once
                client.post("/api/query", json={"question": question})
            latencies = []
            for _ in range(3):
                for question in QUESTIONS:
                    t = time.perf_counter()
                    client.post("/api/query", json={"question": question}).raise_for_status()
                    latencies.append(time.perf_counter() - t)
        done = [0]
        stop = time.perf_counter() + seconds

        def client_loop(offset: int) -> None:
            with httpx.Client(base_url=url, timeout=60) as client:
                n = offset
                while time.perf_counter() < stop:
                    client.post("/api/query", json={"question": QUESTIONS[n % len(QUESTIONS)]}).raise_for_status()
                    done[0] += 1
                    n += 1

        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(8)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        throughput = done[0] / (time.perf_counter() - t0)
        memory = memory_kb(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"startup_to_health_s": round(startup, 2), "startup_to_first_answer_s": round(first_answer, 2),
            "query_p50_ms": round(statistics.median(latencies) * 1000, 1),
            "query_p90_ms": round(sorted(latencies)[int(0.9 * len(latencies))] * 1000, 1),
            "throughput_8_clients_rps": round(throughput, 1), "memory_kb": memory,
            "rss_bytes_per_passage": round(memory["VmRSS"] * 1024 / passages),
            "anon_bytes_per_passage": round(memory["RssAnon"] * 1024 / passages),
            "note": "memory includes the chat page (Gradio) and the model; RssFile is memory-mapped index files"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder to index [%(default)s]")
    parser.add_argument("--subset", type=int, help="index only the first N .html/.md/.txt/.pdf files (sorted)")
    parser.add_argument("--work", type=Path, default=Path(".tmp/build-speed"), help="work folder (emptied) [%(default)s]")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the 8-client run [%(default)s]")
    parser.add_argument("--skip-resume", action="store_true", help="leave out the kill -9 and resume run")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        raise SystemExit(f"{args.corpus} is missing: apt-get install -y python3.11-doc (or pass --corpus)")
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    corpus = work / "corpus"
    files = sorted(p for p in args.corpus.rglob("*") if p.suffix.lower() in (".html", ".htm", ".md", ".txt", ".pdf")
                   and p.is_file() and "_sources" not in p.parts)
    if args.subset:
        files = files[: args.subset]
    for path in files:
        target = corpus / path.relative_to(args.corpus)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result: dict = {"command": " ".join([sys.executable, *sys.argv]), "files": len(files),
                    "corpus_mb": round(sum(p.stat().st_size for p in files) / 2**20, 1), "cpus": os.cpu_count(),
                    "load_average_before": load_average()}
    index = work / "index"
    full_seconds, full, _ = run_build(corpus, index, work, env)
    result["full_build"] = {"seconds": round(full_seconds, 1), **full,
                            "passages_per_s": round(full["passages"] / full_seconds, 1)}
    result["load_average_after_build"] = load_average()
    again_seconds, again, _ = run_build(corpus, index, work, env)
    result["unchanged_rebuild"] = {"seconds": round(again_seconds, 2), **again}
    if not args.skip_resume:
        result["kill_and_resume"] = killed_and_resumed(corpus, work, env, full["embedded"], full_seconds)
    result["serve"] = serve_figures(index, work, env, full["passages"], args.seconds)
    result["load_average_after"] = load_average()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
