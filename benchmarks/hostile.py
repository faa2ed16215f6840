"""Figures of the hostile-input cases of docs/reliability.md, against a real ``rsiqa serve`` it starts.

    python benchmarks/hostile.py                      # all cases, server on index/ (build it first)
    python benchmarks/hostile.py --index /tmp/index --only history slow-clients
    python benchmarks/hostile.py --rsiqa /path/to/other/rsiqa   # the same against another build of rsiqa

Cases:
  history       one query whose history's last user turn is 20,000 characters of unknown words, then 4 at once
  slow-clients  1,100 connections that never finish their headers against a server limited to 1,024 file
                descriptors, then 145 ordinary queries (8 at a time, 10 s timeout each): how many got a 200
  chat-queue    15 expensive questions (2,000 characters of unknown words) joined to the chat page's queue,
                then one ordinary question: how long its asker waits
  pdf           a 2 KB PDF of 32,768 pages drawing one 200 KB stream: pypdf's extraction rate, and how long
                loading it takes with rsiqa's limits
"""

from __future__ import annotations

import argparse
import random
import resource
import string
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from processes import (  # benchmarks/ is on sys.path when run as a script
    free_port,
    open_slow_connections,
    query_statuses,
    stop_process,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def unknown_words(rng: random.Random, chars: int) -> str:
    """``chars`` characters of made-up words no corpus knows."""
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(chars // 4))[:chars]


def start_server(rsiqa: str, index: Path, work: Path, nofile: int | None = None) -> tuple[subprocess.Popen, str]:
    """``rsiqa serve`` on a free port (optionally with a file-descriptor limit); returns it and its URL."""
    port = free_port()

    def limit() -> None:
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    log = (work / f"serve-{port}.log").open("w")
    process = subprocess.Popen([rsiqa, "serve", "--port", str(port), "--index", str(index)], stdout=log,
                               stderr=subprocess.STDOUT, preexec_fn=limit, cwd=work)  # noqa: PLW1509
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/", timeout=5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_process(process)
    raise SystemExit(f"the server did not start; see {log.name}")


def history_case(url: str) -> None:
    rng = random.Random(1)

    def ask() -> tuple[int, float]:
        body = {"question": "Who else thinks so?",
                "history": [{"role": "user", "content": unknown_words(rng, 20_000)}, {"role": "assistant", "content": "-"}]}
        started = time.perf_counter()
        status = httpx.post(f"{url}/api/query", json=body, timeout=600).status_code
        return status, time.perf_counter() - started

    status, seconds = ask()
    print(f"history       1 query: {seconds:.2f} s (status {status})")
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ask(), range(4)))
    print(f"history       4 at once: all done in {time.perf_counter() - started:.2f} s, statuses "
          f"{sorted(s for s, _ in results)}")


def slow_clients_case(rsiqa: str, index: Path, work: Path) -> None:
    process, url = start_server(rsiqa, index, work, nofile=1024)
    port = int(url.rsplit(":", 1)[1])
    slow = []
    try:
        slow = open_slow_connections(port, 1100, b"POST /api/query HTTP/1.1\r\nHost: 127.0.0.1\r\n", timeout=2)
        time.sleep(1)
        statuses = query_statuses(url, 145, timeout=10)
        print(f"slow-clients  {len(slow)} slow-header connections opened; {statuses.count(200)} of 145 ordinary "
              f"queries answered 200")
    finally:
        for sock in slow:
            sock.close()
        stop_process(process)


def chat_queue_case(url: str) -> None:
    from gradio_queue import call_page

    rng = random.Random(3)
    flood = [threading.Thread(target=call_page, args=(url, unknown_words(rng, 2000))) for _ in range(15)]
    for thread in flood:
        thread.start()
    time.sleep(0.3)
    started = time.perf_counter()
    ok, _ = call_page(url, "What is KANSI?")
    print(f"chat-queue    behind 15 expensive questions, an ordinary one waited {time.perf_counter() - started:.1f} s "
          f"(answered: {ok})")
    for thread in flood:
        thread.join()


def pdf_case(work: Path) -> None:
    import io

    from pypdf import PdfReader

    from conftest import write_pdf_bomb
    from rsiqa.ingest.loaders import load_corpus

    corpus = work / "pdf-corpus"
    corpus.mkdir(exist_ok=True)
    path = write_pdf_bomb(corpus / "bomb.pdf")
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    started, pages = time.perf_counter(), 0
    while time.perf_counter() - started < 5:
        reader.pages[pages].extract_text()
        pages += 1
    rate = pages / (time.perf_counter() - started)
    print(f"pdf           {path.stat().st_size} bytes, {len(reader.pages)} pages; pypdf extracts {rate:.1f} pages/s, "
          f"so about {len(reader.pages) / rate / 60:.0f} min for the whole file")
    started = time.perf_counter()
    skipped = load_corpus(corpus).skipped
    print(f"pdf           rsiqa's loader: {time.perf_counter() - started:.2f} s, skipped: {skipped.get('bomb.pdf')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=REPO / "index")
    parser.add_argument("--rsiqa", default=str(Path(sys.executable).parent / "rsiqa"), help="the rsiqa command")
    parser.add_argument("--only", nargs="*", default=["history", "slow-clients", "chat-queue", "pdf"])
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rsiqa-hostile-"))
    if "pdf" in args.only:
        pdf_case(work)
    if {"history", "chat-queue"} & set(args.only):
        process, url = start_server(args.rsiqa, args.index.resolve(), work)
        try:
            if "history" in args.only:
                history_case(url)
            if "chat-queue" in args.only:
                chat_queue_case(url)
        finally:
            stop_process(process)
    if "slow-clients" in args.only:
        slow_clients_case(args.rsiqa, args.index.resolve(), work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
