"""rsiqa performance benchmark: prints the figures of issue 5 as a table, ratios measured in one run.

    python benchmarks/run.py            # full run (1M synthetic vectors for the ANN part, ~5-10 min on 2 cores)
    python benchmarks/run.py --quick    # 100k vectors, fewer rounds (~2 min)
    make bench                          # the full run

What it measures (the embedding backend is whatever the settings say, ONNX int8 by default;
``RSIQA_EMBEDDING_BACKEND=torch python benchmarks/run.py`` measures the torch path instead):

* query: ``POST /api/query`` round trip on a real ``rsiqa serve`` (subprocess, free 127.0.0.1 port,
  warmed up) against a bare sentence-transformers (torch) encode of the same question in a
  separate reference process; both interleaved round by round so machine load hits both alike;
  then requests/s with 8 concurrent clients;
* build: texts embedded per second by a cold ``build_index`` (model loaded, empty cache) against
  the torch reference encoding the same texts (batch 32), interleaved;
* incremental: wall time of ``rsiqa build`` (a fresh process, as a user runs it) on an unchanged
  corpus and the texts it embedded; then with one changed file;
* start: seconds from launching ``rsiqa serve`` to the first 200 from ``/api/health``, and to the
  first 200 from ``/`` (the chat page, mounted in the background once the API answers);
* memory: peak RSS (VmHWM) of the serving process after the load test;
* scale: synthetic clustered 384-d unit vectors (low-rank cluster structure, not uniform noise):
  exact flat search vs the index ``make_faiss_index`` builds above the threshold (HNSW), p50 per
  single query and recall@10 against exact search on held-out queries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from processes import free_port, stop_process  # benchmarks/ is on sys.path when run as a script
from torch_ref import vmhwm_mb  # benchmarks/ is on sys.path when run as a script; torch_ref imports torch lazily

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

DEFAULT_QUESTIONS = REPO.parent / "shared" / "eval" / "questions.jsonl"
FALLBACK_QUESTIONS = [
    "What is KANSI?",
    "Would an AGI need its full codebase to self-improve?",
    "Who are the prominent skeptics of recursive self-improvement?",
    "Is recursive self-improvement relevant in the deep learning era?",
    "What does Ted Chiang compare AIs to?",
    "Why might self-improvement be infeasible for deep learning systems?",
]
EXTRA_FILE = "bench-extra.md"
EXTRA_TEXT = """# Benchmark note

This note exists only for the incremental rebuild benchmark. It is a second file in the corpus,
so that changing it shows which passages a rebuild embeds again.

Compilers that compile themselves are an old example of a program improving a program. Each new
version of the compiler is built by the previous one, and a faster compiler produces faster code.

The gains of such loops are bounded by the problem the program solves. A compiler cannot make
code run faster than the machine allows, however many times it rebuilds itself.

Critics of fast take-off scenarios point to such bounds: returns on intelligence may diminish,
and experiments in the world take time that no amount of thinking removes.
"""
EXTRA_CHANGE = """
A changed paragraph: the rebuild after this edit should embed only the passages of this file
that changed, and reuse every vector of the unchanged main corpus file.
"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def loaded_libraries(pid: int) -> dict[str, bool]:
    """Which heavy native libraries a process has mapped (Linux /proc/<pid>/maps)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return {"torch": "libtorch" in maps, "onnxruntime": "onnxruntime" in maps}



def p50(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def rsiqa_command() -> list[str]:
    script = Path(sys.executable).parent / "rsiqa"
    return [str(script)] if script.exists() else [sys.executable, "-m", "rsiqa.serve.cli"]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH")) if p)
    from rsiqa.settings import Settings

    env["RSIQA_MODEL_CACHE_DIR"] = str(Path(Settings().model_cache_dir).expanduser().resolve())
    return env


class TorchReference:
    """The torch reference process (benchmarks/torch_ref.py), driven line by line."""

    def __init__(self, queries: list[str], texts: list[str], workdir: Path) -> None:
        spec = workdir / "torch_ref.json"
        spec.write_text(json.dumps({"queries": queries, "texts": texts}), encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "benchmarks" / "torch_ref.py"), str(spec)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=child_env(), cwd=REPO,
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError("the torch reference process died (is sentence-transformers installed?)")
        return json.loads(line)

    def ask(self, command: str) -> dict[str, Any]:
        self.proc.stdin.write(command + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        answer = self._read()
        time.sleep(0.2)  # let its worker threads go idle before the other side is measured
        return answer

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            self.proc.wait(timeout=10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self.proc.kill()


def load_questions(path: Path | None) -> list[str]:
    if path and path.is_file():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        questions = [r["question"] for r in rows if not r.get("history")]
        if questions:
            return questions
    return list(FALLBACK_QUESTIONS)


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(rsiqa_command() + args, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"rsiqa {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return seconds, done.stdout


def embedded_counts(output: str) -> tuple[int, int]:
    match = re.search(r"\((\d+) texts embedded, (\d+) reused\)", output)
    if not match:
        raise RuntimeError(f"unexpected build output: {output!r}")
    return int(match.group(1)), int(match.group(2))


def index_texts(index_dir: Path) -> tuple[list[str], dict[str, int]]:
    """The distinct texts a cold build of ``index_dir`` embeds, and per source file its passages + sentences."""
    from rsiqa.ingest.documents import Passage, passage_context

    passages = [Passage.from_dict(json.loads(line)) for line in (index_dir / "passages.jsonl").open(encoding="utf-8")]
    sentences = [json.loads(line) for line in (index_dir / "sentences.jsonl").open(encoding="utf-8")]
    per_file: dict[str, int] = {}
    for passage, its in zip(passages, sentences):
        per_file[passage.source.path] = per_file.get(passage.source.path, 0) + 1 + len(its)
    texts = list(dict.fromkeys([passage_context(p) for p in passages])) + list(dict.fromkeys(s for ss in sentences for s in ss))
    texts += json.loads((index_dir / "words.json").read_text(encoding="utf-8"))  # the word table (rsiqa.search.expansion)
    return texts, per_file


# -- serving ---------------------------------------------------------------------------------------
def start_server(index_dir: Path, env: dict[str, str], timeout: float = 120.0
                 ) -> tuple[subprocess.Popen, str, float, float]:
    """Launch ``rsiqa serve``; returns it, its URL and the seconds to ``/api/health`` 200 and to the chat page.

    The chat page is mounted in the background after the API answers; waiting for it here also keeps
    Gradio's import out of the query figures measured next.
    """
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    proc = subprocess.Popen(rsiqa_command() + ["serve", "--port", str(port), "--index", str(index_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    health_s = None
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"rsiqa serve exited with {proc.returncode}: {proc.stderr.read()[-800:]}")  # type: ignore[union-attr]
        try:
            if health_s is None:
                if httpx.get(url + "/api/health", timeout=2.0).status_code == 200:
                    health_s = time.perf_counter() - started
            elif httpx.get(url + "/", timeout=2.0).status_code == 200:
                return proc, url, health_s, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if time.perf_counter() - started > timeout:
            proc.kill()
            raise RuntimeError("rsiqa serve did not answer /api/health and serve the chat page in time")
        time.sleep(0.01)


class LeanClient:
    """One keep-alive HTTP/1.1 connection with the standard library: almost no client-side overhead.

    (httpx adds about 0.5 ms of its own per request on this machine, which is the client's time,
    not the server's.)
    """

    def __init__(self, url: str) -> None:
        import http.client

        host, port = url.split("//", 1)[1].split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def post(self, path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
        import http.client

        body = json.dumps(payload)
        for attempt in range(2):
            try:
                self.connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.connection.close()  # the server closed an idle keep-alive connection: reconnect once
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


def post_times(client: LeanClient, questions: list[str]) -> list[float]:
    times = []
    client.post("/api/health", {})  # (re)open the connection outside the timed requests
    for question in questions:
        t = time.perf_counter()
        status, body = client.post("/api/query", {"question": question})
        times.append((time.perf_counter() - t) * 1000)
        if status != 200:
            raise RuntimeError(f"POST /api/query answered {status}: {body[:300]!r}")
    return times


def concurrent_load(url: str, questions: list[str], clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    start_gate = threading.Barrier(clients + 1)

    def worker(offset: int) -> None:
        mine: list[float] = []
        client = LeanClient(url)
        start_gate.wait()
        i = offset
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            status, _ = client.post("/api/query", {"question": questions[i % len(questions)]})
            mine.append((time.perf_counter() - t) * 1000)
            if status != 200:
                with lock:
                    errors[0] += 1
            i += 1
        client.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n * 3,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start_gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {"requests": len(latencies), "errors": errors[0], "seconds": elapsed, "rps": len(latencies) / elapsed,
            "p50_ms": p50(latencies), "p95_ms": pct(latencies, 95)}


# -- synthetic vectors ---------------------------------------------------------------------------
def structured_vectors(n: int, dim: int = 384, latent: int = 128, per_cluster: int = 250, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors in clusters (about ``per_cluster`` each) on a ``latent``-dimensional subspace, plus noise.

    Sentence embeddings are neither uniform nor low-entropy: they concentrate near a
    lower-dimensional subspace, in topical clusters of varying spread. This mimics that.
    """
    rng = np.random.default_rng(seed)
    clusters = max(n // per_cluster, 16)
    basis = (rng.standard_normal((latent, dim)) / np.sqrt(latent)).astype(np.float32)
    centres = rng.standard_normal((clusters, latent)).astype(np.float32)
    spread = rng.uniform(0.35, 0.8, clusters).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        m = min(step, n - start)
        label = rng.integers(0, clusters, m)
        z = centres[label] + spread[label, None] * rng.standard_normal((m, latent)).astype(np.float32)
        v = z @ basis + 0.08 * rng.standard_normal((m, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[start : start + m] = v
    return out


def ann_benchmark(n: int, queries: int, settings: Any) -> dict[str, Any]:
    import faiss

    from rsiqa.index.store import faiss_index_info, faiss_index_type, make_faiss_index

    log(f"scale: generating {n:,} structured 384-d vectors + {queries} held-out queries")
    data = structured_vectors(n + queries)
    base, held = data[:n], np.ascontiguousarray(data[n:])
    del data
    log("scale: exact neighbours of the queries (brute force)")
    t = time.perf_counter()
    _, exact = faiss.knn(held, base, 10, metric=faiss.METRIC_INNER_PRODUCT)
    exact_batch_s = time.perf_counter() - t
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    flat_ms = []
    for row in held[: min(30, queries)]:
        t = time.perf_counter()
        flat.search(row[None, :], 10)
        flat_ms.append((time.perf_counter() - t) * 1000)
    del flat
    threshold = min(settings.ann_threshold, n)
    log(f"scale: building the index rsiqa builds for {n:,} vectors (threshold {settings.ann_threshold:,})")
    t = time.perf_counter()
    index = make_faiss_index(base, threshold, settings.hnsw_m, settings.hnsw_ef_construction, settings.hnsw_ef_search)
    build_s = time.perf_counter() - t
    _, found = index.search(held, 10)
    recall = float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(found, exact)]))
    ann_ms = []
    for row in held:
        t = time.perf_counter()
        index.search(row[None, :], 10)
        ann_ms.append((time.perf_counter() - t) * 1000)
    info = faiss_index_info(index, base)
    log(f"scale: {faiss_index_type(index)} built in {build_s:.0f}s, recall@10 {recall:.3f}, p50 {p50(ann_ms):.2f} ms")
    return {
        "vectors": n, "queries": queries, "type": faiss_index_type(index), "build_seconds": build_s,
        "flat_p50_ms": p50(flat_ms), "ann_p50_ms": p50(ann_ms), "ann_p95_ms": pct(ann_ms, 95),
        "recall_at_10": recall, "manifest_self_recall_at_10": info.get("recall_at_10"),
        "m": settings.hnsw_m, "ef_construction": settings.hnsw_ef_construction, "ef_search": settings.hnsw_ef_search,
        "exact_batch_seconds": exact_batch_s, "threads": faiss.omp_get_max_threads(),
        "manifest_entry": info,
    }


# -- the run -------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description="rsiqa performance figures (issue 5).")
    parser.add_argument("--quick", action="store_true", help="100k vectors and fewer rounds (about 2 minutes)")
    parser.add_argument("--ann-size", type=int, help="synthetic vectors for the scale part [1,000,000; quick 100,000]")
    parser.add_argument("--skip-ann", action="store_true", help="leave out the scale part")
    parser.add_argument("--only-ann", action="store_true", help="only the scale part")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per comparison [5; quick 3]")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="JSONL with the questions to send")
    parser.add_argument("--corpus", type=Path, default=REPO / "corpus", help="corpus to benchmark [corpus/]")
    parser.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    ann_size = args.ann_size or (100_000 if args.quick else 1_000_000)

    from rsiqa.settings import Settings

    settings = Settings()
    env = child_env()
    results: dict[str, Any] = {
        "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": os.getloadavg()},
        "backend": settings.embedding_backend,
        "precision": settings.embedding_precision if settings.embedding_backend == "onnx" else "fp32",
    }
    began = time.perf_counter()
    (REPO / ".tmp").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=REPO / ".tmp"))
    try:
        if not args.only_ann:
            measure_product(args, settings, env, work, rounds, results)
        if not args.skip_ann:
            results["scale"] = ann_benchmark(ann_size, 500 if not args.quick else 300, settings)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_after"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - began
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


def measure_product(args: argparse.Namespace, settings: Any, env: dict[str, str], work: Path, rounds: int,
                    results: dict[str, Any]) -> None:
    from rsiqa.index.build import build_index
    from rsiqa.index.embedding import embedder_for, ensure_onnx_model

    corpus = work / "corpus"
    corpus.mkdir()
    for path in args.corpus.iterdir():
        if path.is_file() and not path.name.startswith("."):
            shutil.copy2(path, corpus / path.name)
    (corpus / EXTRA_FILE).write_text(EXTRA_TEXT, encoding="utf-8")
    index_dir = work / "index"
    questions = load_questions(args.questions)

    if settings.embedding_backend == "onnx":
        t = time.perf_counter()
        for precision in {settings.embedding_precision, settings.index_precision}:
            ensure_onnx_model(settings.model, env["RSIQA_MODEL_CACHE_DIR"], precision)
        results["onnx_export_seconds_if_missing"] = time.perf_counter() - t

    log("build: first (cold) `rsiqa build`")
    cold_cli_s, out = run_cli(["build", "--quiet", "--corpus", str(corpus), "--index", str(index_dir)], env)
    texts, _ = index_texts(index_dir)
    results["corpus"] = {"passages": json.loads((index_dir / "manifest.json").read_text())["passages"],
                         "texts": len(texts), "cold_cli_seconds": cold_cli_s, "cold_cli_embedded": embedded_counts(out)[0]}

    log("torch reference: starting (imports sentence-transformers)")
    ref = TorchReference(questions, texts, work)
    results["torch_reference"] = {"import_seconds": ref.ready["import_seconds"], "load_seconds": ref.ready["load_seconds"]}

    # -- serving ---------------------------------------------------------------------------------
    log("serve: starting `rsiqa serve`")
    server, url, start_s, page_s = start_server(index_dir, env)
    try:
        results["start_to_health_seconds"] = start_s
        results["start_to_page_seconds"] = page_s
        torch_ms: list[float] = []
        api_ms: list[float] = []
        client = LeanClient(url)
        post_times(client, questions)  # warm up: first requests, page cache, allocator
        post_times(client, questions)
        ref.ask("q")
        for r in range(rounds):
            log(f"query: round {r + 1}/{rounds}")
            torch_ms += ref.ask("q")["ms"]
            api_ms += post_times(client, questions)
        client.close()
        results["query"] = {"torch_encode_p50_ms": p50(torch_ms), "api_p50_ms": p50(api_ms),
                            "api_p95_ms": pct(api_ms, 95), "ratio": p50(api_ms) / p50(torch_ms),
                            "samples": len(api_ms)}
        log("query: 8 concurrent clients")
        results["concurrent"] = concurrent_load(url, questions, 8, 5.0 if args.quick else 10.0)
        results["serve_peak_rss_mb"] = vmhwm_mb(server.pid)
        results["serve_libraries"] = loaded_libraries(server.pid)
        results["torch_reference"]["peak_rss_mb"] = ref.ask("m")["vmhwm_mb"]
    finally:
        stop_process(server)

    # -- build throughput ------------------------------------------------------------------------
    from rsiqa.settings import Settings, index_settings

    build_settings = Settings(corpus_dir=corpus, model_cache_dir=Path(env["RSIQA_MODEL_CACHE_DIR"]))
    embedder = embedder_for(index_settings(build_settings))
    embedder.encode(["warm up"])
    build_rates: list[float] = []
    torch_rates: list[float] = []
    embedded = 0
    for r in range(max(rounds - 2, 2)):
        log(f"build: round {r + 1}")
        done = ref.ask("t")
        torch_rates.append(done["count"] / done["seconds"])
        scratch = work / f"cold-{r}"
        report = build_index(build_settings, embedder, index_dir=scratch, progress=False)
        build_rates.append(report.embedded / report.seconds)
        embedded = report.embedded
        shutil.rmtree(scratch, ignore_errors=True)
    ref.close()
    passages = results["corpus"]["passages"]
    results["build"] = {
        "texts": embedded, "passages": passages,
        "build_texts_per_s": p50(build_rates), "torch_texts_per_s": p50(torch_rates),
        "build_passages_per_s": p50(build_rates) * passages / max(embedded, 1),
        "torch_passages_per_s": p50(torch_rates) * passages / max(embedded, 1),
        "ratio": p50(build_rates) / p50(torch_rates),
    }

    # -- incremental ---------------------------------------------------------------------------
    log("build: unchanged corpus")
    unchanged_s, out = run_cli(["build", "--quiet", "--corpus", str(corpus), "--index", str(index_dir)], env)
    unchanged = embedded_counts(out)
    with (corpus / EXTRA_FILE).open("a", encoding="utf-8") as handle:
        handle.write(EXTRA_CHANGE)
    log("build: one changed file")
    changed_s, out = run_cli(["build", "--quiet", "--corpus", str(corpus), "--index", str(index_dir)], env)
    changed = embedded_counts(out)
    _, per_file_after = index_texts(index_dir)
    results["incremental"] = {
        "unchanged_seconds": unchanged_s, "unchanged_embedded": unchanged[0], "unchanged_reused": unchanged[1],
        "changed_seconds": changed_s, "changed_embedded": changed[0], "changed_reused": changed[1],
        "changed_file_texts": per_file_after.get(EXTRA_FILE, 0),
        "other_files_texts": sum(v for k, v in per_file_after.items() if k != EXTRA_FILE),
    }


def render(r: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str]] = []

    def add(name: str, value: str, target: str, ok: bool | None) -> None:
        rows.append((name, value, target, "" if ok is None else ("yes" if ok else "**no**")))

    if "query" in r:
        q = r["query"]
        add("query: bare torch encode of the question, p50", f"{q['torch_encode_p50_ms']:.2f} ms", "reference", None)
        add("query: POST /api/query, warm, p50 (p95)", f"{q['api_p50_ms']:.2f} ms ({q['api_p95_ms']:.2f})",
            "", None)
        add("query: API p50 / torch encode p50", f"{q['ratio']:.2f}x", "<= 0.5x", q["ratio"] <= 0.5)
        c = r["concurrent"]
        add("query: 8 concurrent clients", f"{c['rps']:.0f} req/s (p50 {c['p50_ms']:.1f} ms, p95 {c['p95_ms']:.1f} ms, "
            f"{c['errors']} errors)", "reported", None)
        b = r["build"]
        add("build: bare torch encode, same texts", f"{b['torch_texts_per_s']:.0f} texts/s "
            f"({b['torch_passages_per_s']:.0f} passages/s)", "reference", None)
        add("build: cold build_index", f"{b['build_texts_per_s']:.0f} texts/s ({b['build_passages_per_s']:.0f} passages/s)",
            "", None)
        add("build: build / torch", f"{b['ratio']:.2f}x", ">= 1.6x", b["ratio"] >= 1.6)
        i = r["incremental"]
        add("rebuild, unchanged corpus (`rsiqa build`, whole process)",
            f"{i['unchanged_seconds']:.2f} s, {i['unchanged_embedded']} embedded",
            "< 2 s, 0 embedded", i["unchanged_seconds"] < 2 and i["unchanged_embedded"] == 0)
        add("rebuild, one changed file", f"{i['changed_embedded']} embedded (that file: {i['changed_file_texts']} texts; "
            f"other files: {i['other_files_texts']})", "only that file's",
            0 < i["changed_embedded"] <= i["changed_file_texts"])
        add("start: `rsiqa serve` launch -> /api/health 200", f"{r['start_to_health_seconds']:.2f} s", "<= 3 s",
            r["start_to_health_seconds"] <= 3)
        if "start_to_page_seconds" in r:
            add("start: `rsiqa serve` launch -> chat page at / 200", f"{r['start_to_page_seconds']:.2f} s", "reported",
                None)
        libs = r.get("serve_libraries", {})
        add("memory: serving process peak RSS (after load test)", f"{r['serve_peak_rss_mb']:.0f} MB (torch loaded: "
            f"{'yes' if libs.get('torch') else 'no'}, onnxruntime: {'yes' if libs.get('onnxruntime') else 'no'})",
            "<= 400 MB", r["serve_peak_rss_mb"] <= 400)
        t = r["torch_reference"]
        add("(reference: torch process peak RSS / import of sentence-transformers)",
            f"{t.get('peak_rss_mb', 0):.0f} MB / {t['import_seconds']:.1f} s", "", None)
    if "scale" in r:
        s = r["scale"]
        add(f"scale: exact flat search, {s['vectors']:,} vectors, p50", f"{s['flat_p50_ms']:.1f} ms", "reference", None)
        add(f"scale: {s['type']} (M={s['m']}, efC={s['ef_construction']}, efSearch={s['ef_search']}), p50 (p95)",
            f"{s['ann_p50_ms']:.2f} ms ({s['ann_p95_ms']:.2f})", "<= 5 ms", s["ann_p50_ms"] <= 5)
        add(f"scale: recall@10 vs exact ({s['queries']} held-out queries)", f"{s['recall_at_10']:.3f}", ">= 0.95",
            s["recall_at_10"] >= 0.95)
        add("scale: index build time / manifest self-recall@10", f"{s['build_seconds']:.0f} s / {s['manifest_self_recall_at_10']}",
            "", None)
    m = r["machine"]
    head = (f"rsiqa benchmark - `{r['command']}` - backend {r['backend']} {r['precision']} - {m['cpus']} CPUs, "
            f"load average {m['load_before'][0]:.1f} before / {m['load_after'][0]:.1f} after - {r['seconds']:.0f} s\n")
    width = [max(len(row[i]) for row in rows + [("Figure", "Measured", "Target", "Met")]) for i in range(4)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(("Figure", "Measured", "Target", "Met"), width)) + " |",
             "|" + "|".join("-" * (w + 2) for w in width) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, width)) + " |" for row in rows]
    return head + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
