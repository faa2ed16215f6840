"""FAISS against Milvus, side by side in one run (issue 15; figures in docs/performance.md, "Running against Milvus").

    python benchmarks/milvus.py eval                  # `rsiqa eval` figures, FAISS vs Milvus, every question set
    python benchmarks/milvus.py scale -n 100000       # REST p50/p95 FAISS-HNSW vs Milvus, server memory (synthetic)
    python benchmarks/milvus.py scale -n 10000 --search rsiqa native   # ... and Milvus's BM25 + hybrid_search too
    python benchmarks/milvus.py incremental           # writes of a one-file change in a 10k-passage corpus
    python benchmarks/milvus.py all -n 100000

Milvus is a `milvus-lite server` started here in a temporary folder (killed by pid at the end), or
the Milvus of ``RSIQA_MILVUS_URI`` (and ``RSIQA_MILVUS_TOKEN``).

eval: the default corpus is built once with the real model and ``RSIQA_STORE=milvus`` (which
writes the usual index folder too), and once more with ``RSIQA_MILVUS_SEARCH=native`` (Milvus's
built-in BM25 function; its own collections and index folder); the same questions then go through
an engine on the folder's FAISS index, one on the Milvus collections with rsiqa's sparse vectors
(``milvus``), and two on the native collections, hybrid_search with RRF (``native``) and with the
weighted ranker (``native-weighted``), with the evaluation of ``rsiqa eval``. Twice: as served by
default (below ``ann_threshold`` every passage is scored) and in candidate mode
(``RSIQA_ANN_THRESHOLD=1``: FAISS-HNSW candidates against Milvus's dense HNSW + sparse BM25 ones, or
the fused top k of hybrid_search). Per engine it also times each question (``ask``) and its
candidate generation (the store's ``candidates``), after one warm-up question.

scale and incremental: the 2 shared cores of this machine cannot embed a million texts, so the
passages are SYNTHETIC: each copies a real passage of the default corpus with about a third of
its words replaced by words drawn from the corpus vocabulary, and its passage and sentence
vectors are the real ones plus Gaussian noise (relative norm 0.3), renormalised. They are written
with the build's own writers (``write_index`` for the FAISS folder, ``MilvusBuild`` for Milvus) and
served by ``rsiqa serve`` with the real model answering real questions.

scale streams, so that a million passages fit beside Milvus: the passages are generated 50,000 at a
time (the same draws as ``synthetic``) into files of the work folder (texts as JSON lines, read back
by row; passage and sentence vectors as memory-mapped .npy), the index folder is written from those
(FAISS-HNSW and BM25 built while Milvus is still empty), then Milvus in parts of 50,000
(``MilvusBuild.start``/``add``/``finish``). Milvus is served first, FAISS-HNSW last (``--free-milvus``
stops the Milvus this script started before it, freeing its memory).

    python benchmarks/milvus.py scale -n 1000000 --free-milvus \
        --lite /tmp/lite25/venv/lib/python3.11/site-packages/milvus_lite/lib/milvus   # Milvus Lite 2.5.1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from processes import start_milvus_lite, status_kb, stop_process, wait_for_milvus

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "eval"
QUESTION_SETS = [SHARED / "questions.jsonl", SHARED / "styles.jsonl", REPO / "eval" / "styles_validation.jsonl",
                 REPO / "eval" / "styles_holdout.jsonl"]
#: Synthetic passages per synthetic corpus file.
PER_FILE = 100


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)



class Milvus:
    """The Milvus of RSIQA_MILVUS_URI, or a `milvus-lite server` of our own."""

    def __init__(self, work: Path, lite_binary: Path | None = None) -> None:
        self.process: subprocess.Popen | None = None
        self.uri = os.environ.get("RSIQA_MILVUS_URI", "")
        self.token = os.environ.get("RSIQA_MILVUS_TOKEN")
        if self.uri:
            wait_for_milvus(self.uri, self.token)
        else:
            self.log = (work / "milvus-lite.log").open("wb")
            self.process, self.uri = start_milvus_lite(work / "milvus-data", self.log, lite_binary)
        log(f"Milvus at {self.uri}" + (" (milvus-lite server, pid %d)" % self.process.pid if self.process else ""))

    def memory(self) -> dict[str, int] | None:
        """VmRSS, RssAnon and VmHWM (MB) of the milvus server this script started (None: another's, or stopped)."""
        if self.process is None or self.process.poll() is not None:
            return None
        fields = status_kb(self.process.pid, ("VmRSS", "RssAnon", "VmHWM"))
        return {key: round(value / 1024) for key, value in fields.items()}

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process, timeout=60)


def settings_for(milvus: Milvus, index_dir: Path, prefix: str, **extra: Any):
    from rsiqa.settings import Settings

    return Settings(corpus_dir=REPO / "corpus", index_dir=index_dir, store="milvus", milvus_uri=milvus.uri,
                    milvus_token=milvus.token, milvus_collection_prefix=prefix, **extra)


def env_for(settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSIQA_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               RSIQA_MODEL_CACHE_DIR=str((REPO / ".cache" / "models").resolve()), RSIQA_STORE=settings.store,
               RSIQA_MILVUS_URI=settings.milvus_uri, RSIQA_MILVUS_COLLECTION_PREFIX=settings.milvus_collection_prefix,
               RSIQA_ANN_THRESHOLD=str(settings.ann_threshold), RSIQA_MILVUS_SEARCH=settings.milvus_search)
    if settings.milvus_token:
        env["RSIQA_MILVUS_TOKEN"] = settings.milvus_token
    return env


# -- eval -------------------------------------------------------------------------------------------
def run_eval(milvus: Milvus, work: Path) -> dict[str, Any]:
    from rsiqa.evaluate import evaluate, load_questions
    from rsiqa.index.build import build_index
    from rsiqa.index.embedding import embedder_for
    from rsiqa.search.engine import Engine

    index_dir = work / "eval-index"
    settings = settings_for(milvus, index_dir, "bench_eval_")
    native = settings_for(milvus, work / "eval-index-native", "bench_native_", milvus_search="native")
    from rsiqa.settings import index_settings

    embedder = embedder_for(settings)  # questions (int8 by default)
    for configured in (settings, native):
        started = time.perf_counter()
        build_index(configured, embedder_for(index_settings(configured)), progress=False)  # stored vectors, as `rsiqa build`
        log(f"default corpus built (FAISS folder + Milvus, search {configured.milvus_search}) in "
            f"{time.perf_counter() - started:.0f} s")
    results: dict[str, Any] = {}
    # The default corpus has 45 passages: candidate mode takes 10 from each ranker, so that it is not every passage.
    for mode, threshold, k in (("default", settings.ann_threshold, settings.candidates), ("candidates", 1, 10)):
        update = {"ann_threshold": threshold, "candidates": k}
        configs = {"faiss": settings.model_copy(update={**update, "store": "faiss"}),
                   "milvus": settings.model_copy(update=update),
                   "native": native.model_copy(update=update),
                   "native-weighted": native.model_copy(update={**update, "milvus_search": "native-weighted"})}
        engines = {name: Engine(configured, embedder=embedder) for name, configured in configs.items()}
        timers = {name: _timed(engine) for name, engine in engines.items()}
        for path in QUESTION_SETS:
            rows = load_questions(path)
            for name, engine in engines.items():
                timers[name].clear()
                t = time.perf_counter()
                report = evaluate(rows, lambda q, k, h, e=engine, c=timers[name]: c.ask(e, q, k, h))
                figures = report.figures()
                figures.pop("styles", None)
                results.setdefault(mode, {}).setdefault(path.name, {})[name] = {
                    "questions": len(rows), "figures": figures, "seconds": round(time.perf_counter() - t, 1),
                    **timers[name].summary()}
                log(f"eval {mode} {path.name} {name}: {time.perf_counter() - t:.0f} s")
    return results


class _Timer:
    """Times an engine's questions (``ask``) and its store's candidate generation (``candidates``), in ms."""

    def __init__(self, store: Any) -> None:
        self.asks: list[float] = []
        self.candidates: list[float] = []
        self.found: list[int] = []  # candidates per call
        self.readings: list[int] = []  # query readings per call
        inner = store.candidates

        def candidates(vectors: Any, *args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            rows = inner(vectors, *args, **kwargs)
            self.candidates.append((time.perf_counter() - t) * 1000)
            self.found.append(len(rows))
            self.readings.append(len(vectors))
            return rows

        store.candidates = candidates

    def clear(self) -> None:
        for values in (self.asks, self.candidates, self.found, self.readings):
            values.clear()

    def ask(self, engine: Any, question: str, k: int, history: Any) -> dict[str, Any]:
        t = time.perf_counter()
        answer = engine.ask(question, k, history).model_dump()
        self.asks.append((time.perf_counter() - t) * 1000)
        return answer

    def summary(self) -> dict[str, float | None]:
        def p(values: list[float], q: float) -> float | None:
            return round(float(np.percentile(values, q)), 2) if values else None

        return {"ask_p50_ms": p(self.asks, 50), "ask_p95_ms": p(self.asks, 95),
                "candidates_p50_ms": p(self.candidates, 50), "candidates_p95_ms": p(self.candidates, 95),
                "candidate_calls": len(self.candidates),
                "candidates_per_call": round(float(np.mean(self.found)), 1) if self.found else None,
                "readings_per_call": round(float(np.mean(self.readings)), 2) if self.readings else None}


def _timed(engine: Any) -> _Timer:
    """A timer on ``engine`` after one warm-up question (index load, calibration probes, first Milvus calls)."""
    engine.ask("What is recursive self-improvement?", 5, None)
    return _Timer(engine._state.retriever.store)


def counts(f: dict[str, Any]) -> dict[str, float]:
    """Questions (not rates): hit@1, hit@5, MRR@10 (summed reciprocal ranks), declines in and out of scope."""
    n, out = f["in_scope"], f["out_of_scope"]
    return {"hit@1": round(f["hit@1"] * n), "hit@5": round(f["hit@5"] * n), "mrr": f["mrr@10"] * n,
            "declined_in": round(f["declined_in_scope"] * n), "declined_out": round(f["declined_out_of_scope"] * out)}


def render_eval(results: dict[str, Any]) -> str:
    """A table per mode; "same" when every count of Milvus is within one question of FAISS's (MRR: within 1/n);
    "identical" when every figure is equal."""
    lines = []
    for mode, sets in results.items():
        title = "every passage scored (ann_threshold 50,000)" if mode == "default" else "candidates only (ann_threshold 1, 10 candidates per ranker and query text)"
        lines += [f"\n## {mode}: {title}",
                  "| question set | store | in scope / out | hit@1 | hit@5 | MRR@10 | declined in scope | declined out of scope "
                  "| vs FAISS | ask p50 / p95 ms | candidates p50 / p95 ms | candidates per search |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, stores in sets.items():
            base = counts(stores["faiss"]["figures"])
            for store, r in stores.items():
                f, c = r["figures"], counts(r["figures"])
                same = all(abs(c[k] - base[k]) <= 1 for k in c)
                identical = f == stores["faiss"]["figures"]
                verdict = "" if store == "faiss" else ("identical" if identical else "within one" if same else "NO")
                timing = (f"{r.get('ask_p50_ms')} / {r.get('ask_p95_ms')} | "
                          f"{r.get('candidates_p50_ms')} / {r.get('candidates_p95_ms')} | {r.get('candidates_per_call')}")
                lines.append(f"| {name} | {store} | {f['in_scope']} / {f['out_of_scope']} | {f['hit@1']:.3f} ({c['hit@1']}) | "
                             f"{f['hit@5']:.3f} ({c['hit@5']}) | {f['mrr@10']:.3f} | {c['declined_in']} | {c['declined_out']} | "
                             f"{verdict} | {timing} |")
    return "\n".join(lines)


# -- synthetic corpora ---------------------------------------------------------------------------------
def base_index(milvus: Milvus, work: Path):
    """The default corpus's index (built by ``eval`` or now), the material of the synthetic passages."""
    from rsiqa.index.build import build_index
    from rsiqa.index.embedding import embedder_for
    from rsiqa.index.store import IndexError_, load_index

    index_dir = work / "eval-index"
    try:
        return load_index(index_dir)
    except IndexError_:
        from rsiqa.settings import index_settings

        settings = settings_for(milvus, index_dir, "bench_eval_")
        build_index(settings, embedder_for(index_settings(settings)), progress=False)
        return load_index(index_dir)


def _noisy(rng: np.random.Generator, rows: np.ndarray, scale: float = 0.3) -> np.ndarray:
    noise = rng.standard_normal(rows.shape).astype(np.float32) * (scale / np.sqrt(rows.shape[1]))
    out = rows + noise
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def synthetic(base, n: int, per_file: int = PER_FILE, seed: int = 0):
    """``n`` synthetic passages (see the module docstring), ``per_file`` to a file, with their sentences and vectors,
    in memory: :func:`synthetic_files`' passages read back whole (for the incremental benchmark's 10,000)."""
    with tempfile.TemporaryDirectory(prefix="rsiqa-synthetic-") as folder:
        passages, sentences, vectors, sentence_vectors, _, _ = synthetic_files(base, n, Path(folder), per_file, seed)
        return list(passages), list(sentences), np.array(vectors), np.array(sentence_vectors)


def _synthetic_manifest(base, n: int, hashes: dict[str, str]) -> dict[str, Any]:
    """The manifest of a synthetic index folder: the base index's, for ``n`` passages in the files of ``hashes``
    (file -> content hash); the build adds its FAISS (and Milvus) records."""
    manifest = dict(base.manifest)
    manifest.update(passages=n, documents={f: {"title": f, "sha256": h} for f, h in hashes.items()},
                    corpus_hashes=hashes, corpus_fingerprint="synthetic", questions=[],
                    built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    manifest.pop("milvus", None)
    manifest.pop("files", None)
    return manifest


def write_synthetic(base, data, index_dir: Path, milvus: Milvus, prefix: str, changed: tuple[str, ...] = ()
                    ) -> dict[str, Any]:
    """Write ``data`` (:func:`synthetic`'s passages, sentences and vectors) as an index folder (FAISS-HNSW) and as
    Milvus collections; ``changed``: files whose content hash differs from the previous write's. Returns what the
    Milvus write did."""
    from rsiqa.index.build import corpus_fingerprint
    from rsiqa.index.store import IndexData, faiss_index_info, make_faiss_index, write_index
    from rsiqa.index.stores.milvus import MilvusBuild

    passages, sentences, vectors, sentence_vectors = data
    files = sorted({p.source.path for p in passages})
    hashes = {f: f"synthetic-{f}" for f in files}
    hashes.update({f: f"changed-{f}" for f in changed})
    settings = settings_for(milvus, index_dir, prefix, ann_threshold=1)
    manifest = _synthetic_manifest(base, len(passages), hashes)
    t = time.perf_counter()
    build = MilvusBuild(settings, index_dir)
    manifest["milvus"] = build.write(passages, sentences, vectors, sentence_vectors, hashes,
                                     corpus_fingerprint(settings, REPO / "corpus", []),
                                     str((base.manifest.get("embedding") or {}).get("precision", "fp32")))
    written = dict(manifest["milvus"]["write"], seconds=round(time.perf_counter() - t, 1))
    index = make_faiss_index(vectors, 1, settings.hnsw_m, settings.hnsw_ef_construction, settings.hnsw_ef_search)
    manifest["faiss"] = faiss_index_info(index, vectors)
    write_index(index_dir, IndexData(manifest=manifest, passages=passages, vectors=vectors, sentences=sentences,
                                     sentence_vectors=sentence_vectors, words=base.words, word_vectors=base.word_vectors,
                                     faiss_index=index))
    build.publish()
    return written


def synthetic_files(base, n: int, folder: Path, per_file: int = PER_FILE, seed: int = 0, chunk: int = 50_000):
    """``n`` synthetic passages (see the module docstring), ``per_file`` to a file, generated ``chunk`` passages at a
    time into ``folder`` (the same draws whatever ``chunk``): passages and sentences as JSON
    lines, the passage and sentence vectors as memory-mapped float32 files. Returns (passages, sentences, vectors,
    sentence_vectors, sentence counts, average BM25 length) with the texts read by row
    (:class:`rsiqa.index.rows.JsonLineRows`) and the vectors memory-mapped, so that a million passages are never all
    in memory."""
    from rsiqa.index.rows import JsonLineRows
    from rsiqa.index.stores import average_length
    from rsiqa.ingest.documents import Passage, Source, passage_context
    from rsiqa.search.lexical import tokenize

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocabulary = sorted({w for p in base.passages for w in p.text.split() if w.isalpha()})
    picks = rng.integers(0, len(base.passages), size=n)
    counts = np.asarray(base.sentence_counts, dtype=np.int64)[picks]
    d = int(base.vectors.shape[1])
    # The texts first (synthetic draws them all before any noise), then the passage noise, then the sentence noise.
    offsets = {"passages": np.zeros(n, np.int64), "sentences": np.zeros(n, np.int64)}
    token_total = 0
    with (folder / "passages.jsonl").open("wb") as pf, (folder / "sentences.jsonl").open("wb") as sf:
        p_at = s_at = 0
        for at in range(0, n, chunk):
            contexts = []
            for i in range(at, min(at + chunk, n)):
                b = int(picks[i])
                new_sentences = []
                for sentence in base.sentences[b]:
                    words = sentence.split()
                    swap = rng.random(len(words)) < 0.33
                    new_sentences.append(" ".join(vocabulary[rng.integers(len(vocabulary))] if s else w
                                                  for w, s in zip(words, swap)))
                source = base.passages[b].source
                passage = Passage(text=" ".join(new_sentences),
                                  source=Source(title=f"Synthetic {i // per_file:05d}", path=f"synthetic/{i // per_file:05d}.md",
                                                kind=source.kind, section=f"Part {i}"))
                offsets["passages"][i], offsets["sentences"][i] = p_at, s_at
                p_at += pf.write((json.dumps(passage.to_dict(), ensure_ascii=False) + "\n").encode("utf-8"))
                s_at += sf.write((json.dumps(new_sentences, ensure_ascii=False) + "\n").encode("utf-8"))
                contexts.append(passage_context(passage))
            token_total += sum(len(t) for t in tokenize(contexts))  # for the BM25 average length (Milvus's sparse)
            log(f"synthetic texts: {min(at + chunk, n)} of {n}")
    avg = average_length([]) if not n else token_total / n
    vectors = np.lib.format.open_memmap(folder / "vectors.npy", mode="w+", dtype=np.float32, shape=(n, d))
    for at in range(0, n, chunk):
        vectors[at : at + chunk] = _noisy(rng, base.vectors[picks[at : at + chunk]])
    starts = np.asarray(base.sentence_starts, dtype=np.int64)
    sentence_vectors = np.lib.format.open_memmap(folder / "sentence_vectors.npy", mode="w+", dtype=np.float32,
                                                 shape=(int(counts.sum()), d))
    s_at = 0
    for at in range(0, n, chunk):
        rows = np.concatenate([np.arange(starts[b], starts[b] + counts[i])
                               for i, b in enumerate(picks[at : at + chunk], start=at)]).astype(np.int64)
        sentence_vectors[s_at : s_at + len(rows)] = _noisy(rng, base.sentence_vectors[rows])
        s_at += len(rows)
    vectors.flush()
    sentence_vectors.flush()
    del vectors, sentence_vectors
    return (JsonLineRows(folder / "passages.jsonl", offsets["passages"], Passage.from_dict),
            JsonLineRows(folder / "sentences.jsonl", offsets["sentences"]),
            np.load(folder / "vectors.npy", mmap_mode="r"), np.load(folder / "sentence_vectors.npy", mmap_mode="r"),
            counts, avg)


def write_synthetic_files(base, data, index_dir: Path, milvus: Milvus, prefix: str, search: str = "rsiqa",
                          chunk: int = 50_000):
    """Write :func:`synthetic_files`' ``data`` as an index folder (FAISS-HNSW) and then as Milvus collections, written
    ``chunk`` passages at a time (``MilvusBuild.start``/``add``/``finish``); the manifest gets the Milvus record
    afterwards. The index folder first: its FAISS-HNSW index and BM25 are built while Milvus is still empty."""
    from rsiqa.index.build import corpus_fingerprint
    from rsiqa.index.store import MANIFEST, IndexData, faiss_index_info, make_faiss_index, write_index
    from rsiqa.index.stores.milvus import MilvusBuild

    passages, sentences, vectors, sentence_vectors, counts, avg = data
    n = len(passages)
    files = [f"synthetic/{i:05d}.md" for i in range(-(-n // PER_FILE))]  # synthetic_files' (without reading them)
    hashes = {f: f"synthetic-{f}" for f in files}
    settings = settings_for(milvus, index_dir, prefix, ann_threshold=1, milvus_search=search)
    manifest = _synthetic_manifest(base, n, hashes)
    t = time.perf_counter()
    index = make_faiss_index(vectors, 1, settings.hnsw_m, settings.hnsw_ef_construction, settings.hnsw_ef_search)
    log(f"FAISS-HNSW of {n} passage vectors built in {time.perf_counter() - t:.0f} s")
    manifest["faiss"] = faiss_index_info(index, vectors)
    write_index(index_dir, IndexData(manifest=manifest, passages=passages, vectors=vectors, sentences=sentences,
                                     sentence_vectors=sentence_vectors, words=base.words, word_vectors=base.word_vectors,
                                     faiss_index=index, sentence_counts=counts))
    faiss_info = manifest["faiss"]
    del index
    faiss_seconds = round(time.perf_counter() - t, 1)
    log(f"index folder written in {faiss_seconds} s")
    t = time.perf_counter()
    build = MilvusBuild(settings, index_dir)
    build.start(int(vectors.shape[1]), avg, corpus_fingerprint(settings, REPO / "corpus", []))
    try:
        s_at = 0
        for at in range(0, n, chunk):
            s_end = s_at + int(counts[at : at + chunk].sum())
            build.add(passages[at : at + chunk], sentences[at : at + chunk], vectors[at : at + chunk],
                      np.asarray(sentence_vectors[s_at:s_end]))
            s_at = s_end
            log(f"Milvus: {min(at + chunk, n)} of {n} passages written ({time.perf_counter() - t:.0f} s)")
        record = build.finish(t)
    except BaseException:
        build.abort()
        raise
    written = dict(record["write"], seconds=round(time.perf_counter() - t, 1))
    path = index_dir / MANIFEST
    saved = json.loads(path.read_text(encoding="utf-8"))
    saved["milvus"] = record  # the collections the index folder names (the checksums do not cover the manifest)
    tmp = path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(saved, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    build.publish()
    return settings, written, faiss_seconds, faiss_info


# -- serving at scale --------------------------------------------------------------------------------
def serve_and_time(settings: Any, questions: list[str], inspect: Any = None) -> dict[str, Any]:
    """``rsiqa serve`` of ``settings``' index, 5 warm-up questions, then ``questions`` timed one by one through one
    keep-alive client; the server's memory after them. ``inspect(pid)``, when given, looks at the server before it
    stops (its result under "inspected")."""
    from run import LeanClient, post_times, start_server  # the product benchmark's server helpers

    env = env_for(settings)
    proc, url, health_s, _ = start_server(settings.index_dir, env, timeout=1800)
    try:
        client = LeanClient(url)
        post_times(client, questions[:5])  # warm
        times = post_times(client, questions)
        memory = status_kb(proc.pid, ("VmRSS", "VmHWM", "RssAnon"))
        rss, hwm, anon = (memory.get(key, 0) / 1024 for key in ("VmRSS", "VmHWM", "RssAnon"))
        inspected = inspect(proc.pid) if inspect is not None else None
        client.close()
    finally:
        stop_process(proc, timeout=20)
    figures = {"p50_ms": round(float(np.percentile(times, 50)), 1), "p95_ms": round(float(np.percentile(times, 95)), 1),
               "queries": len(times), "rss_mb": round(rss), "anon_mb": round(anon), "peak_mb": round(hwm),
               "start_s": round(health_s, 1)}
    return figures if inspect is None else {**figures, "inspected": inspected}


def eval_questions() -> list[str]:
    """The single-turn questions of questions.jsonl (the scale benchmark's queries)."""
    from rsiqa.evaluate import load_questions

    return [r["question"] for r in load_questions(SHARED / "questions.jsonl") if not r.get("history")]


def run_scale(milvus: Milvus, work: Path, n: int, query_count: int, searches: tuple[str, ...] = ("rsiqa",),
              free_milvus: bool = False) -> dict[str, Any]:
    """FAISS-HNSW against Milvus at ``n`` synthetic passages; ``searches``: the RSIQA_MILVUS_SEARCH values served
    (native ones from collections of their own, written from the same passages). Milvus is served first; with
    ``free_milvus`` the Milvus this script started is stopped before FAISS-HNSW is served (its memory freed)."""
    base = base_index(milvus, work)
    index_dir = work / f"scale-{n}"
    out: dict[str, Any] = {"passages": n, "load_average_before": os.getloadavg()}
    t = time.perf_counter()
    scratch = work / f"scale-{n}-synthetic"
    data = synthetic_files(base, n, scratch)
    out["generated_s"] = round(time.perf_counter() - t, 1)
    log(f"{n} synthetic passages generated in {out['generated_s']} s")
    settings, written, faiss_seconds, faiss_info = write_synthetic_files(base, data, index_dir, milvus, f"bench_scale_{n}_")
    log(f"written: FAISS-HNSW folder {faiss_seconds} s, Milvus {written}")
    native_settings = native_written = None
    if any(s != "rsiqa" for s in searches):
        native_settings, native_written, _, _ = write_synthetic_files(base, data, work / f"scale-{n}-native", milvus,
                                                                      f"bench_scale_{n}_native_", search="native")
        log(f"written: Milvus native (BM25 function) {native_written}")
    del data
    shutil.rmtree(scratch, ignore_errors=True)
    out.update(milvus_write=written, faiss_write_s=faiss_seconds, faiss_recall_at_10=faiss_info.get("recall_at_10"))
    if native_written is not None:
        out["milvus_native_write"] = native_written
    out["milvus_server_mb_after_write"] = milvus.memory()
    questions = eval_questions()[:query_count]
    serves = [("milvus" if s == "rsiqa" else f"milvus-{s}",
               (settings if s == "rsiqa" else native_settings).model_copy(update={"milvus_search": s}))
              for s in searches]
    for name, configured in serves:
        log(f"serving {n} passages with {name}")
        out[name] = serve_and_time(configured, questions)
        log(f"{name}: {out[name]}")
    out["milvus_server_mb"] = milvus.memory()  # VmRSS, RssAnon, VmHWM of the milvus server this script started
    if free_milvus:
        milvus.close()
        log("Milvus stopped before serving FAISS-HNSW")
    log(f"serving {n} passages with faiss (HNSW)")
    out["faiss"] = serve_and_time(settings.model_copy(update={"store": "faiss"}), questions)
    log(f"faiss: {out['faiss']}")
    out["load_average_after"] = os.getloadavg()
    return out


def run_incremental(milvus: Milvus, work: Path, n: int = 10_000, per_file: int = PER_FILE) -> dict[str, Any]:
    base = base_index(milvus, work)
    index_dir = work / "incremental"
    passages, sentences, vectors, sentence_vectors = synthetic(base, n, per_file=per_file, seed=1)
    prefix = "bench_incr_"
    first = write_synthetic(base, (passages, sentences, vectors, sentence_vectors), index_dir, milvus, prefix)
    # Change one file: new text and vectors for its passages (same count), everything else as it was.
    target = passages[0].source.path
    rows = [i for i, p in enumerate(passages) if p.source.path == target]
    new_p, new_s, new_v, new_sv = synthetic(base, len(rows), per_file=per_file, seed=2)
    starts = np.concatenate([[0], np.cumsum([len(s) for s in sentences])[:-1]])
    new_starts = np.concatenate([[0], np.cumsum([len(s) for s in new_s])])
    replaced = {row: j for j, row in enumerate(rows)}
    sv_parts = []
    for i in range(len(passages)):
        j = replaced.get(i)
        if j is not None:
            passages[i] = type(passages[i])(text=new_p[j].text, source=passages[i].source)
            sentences[i] = new_s[j]
            vectors[i] = new_v[j]
            sv_parts.append(new_sv[new_starts[j] : new_starts[j] + len(new_s[j])])
        else:
            sv_parts.append(sentence_vectors[starts[i] : starts[i] + len(sentences[i])])
    changed = (passages, sentences, vectors, np.concatenate(sv_parts))
    second = write_synthetic(base, changed, index_dir, milvus, prefix, changed=(target,))
    return {"passages": n, "files": n // per_file, "changed_file_passages": len(rows), "first": first, "second": second}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="+", choices=["eval", "scale", "incremental", "all"])
    parser.add_argument("-n", "--passages", type=int, nargs="*", default=[100_000])
    parser.add_argument("--queries", type=int, default=60, help="questions timed through the REST API per store")
    parser.add_argument("--search", nargs="+", default=["rsiqa"], choices=["rsiqa", "native", "native-weighted"],
                        help="scale: the RSIQA_MILVUS_SEARCH values to serve Milvus with (default rsiqa)")
    parser.add_argument("--lite", type=Path, default=None,
                        help="without RSIQA_MILVUS_URI: start this Milvus Lite 2.5 `milvus` binary (its lib folder) "
                             "instead of `milvus-lite server`")
    parser.add_argument("--free-milvus", action="store_true",
                        help="scale: stop the Milvus this script started before serving FAISS-HNSW (frees its memory)")
    parser.add_argument("--work", type=Path, default=None, help="keep the indexes and Milvus data here")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    if args.free_milvus and len(args.passages) > 1:
        parser.error("--free-milvus stops Milvus after the first size: give one -n")
    work = args.work or Path(tempfile.mkdtemp(prefix="rsiqa-milvus-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    milvus = Milvus(work, args.lite)
    results: dict[str, Any] = {"load_average_start": os.getloadavg()}
    try:
        if {"eval", "all"} & set(args.what):
            results["eval"] = run_eval(milvus, work)
            print(render_eval(results["eval"]), flush=True)
        if {"incremental", "all"} & set(args.what):
            results["incremental"] = run_incremental(milvus, work)
            print(json.dumps(results["incremental"], indent=1), flush=True)
        if {"scale", "all"} & set(args.what):
            results["scale"] = [run_scale(milvus, work, n, args.queries, tuple(args.search), args.free_milvus)
                                for n in args.passages]
            for r in results["scale"]:
                print(json.dumps(r, indent=1), flush=True)
    finally:
        results["load_average_end"] = os.getloadavg()
        milvus.close()
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=str))
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average: start {results['load_average_start']}, end {results['load_average_end']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
