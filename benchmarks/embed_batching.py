"""How to run the ONNX int8 model over many texts on a small CPU: one text per run or length-bucketed
padded batches, and how many ONNX Runtime threads (issue 14, section 2 b and c).

Texts: the passages and sentences of an index folder (``--index``, e.g. one built by
benchmarks/build_speed.py), a sample of ``--texts`` of them. Each variant embeds the same texts;
the script prints texts/s for each, and how far each variant's vectors are from the one-text-per-run
vectors (int8 quantises activations per run, so padded batch-mates change a text's vector).

    .venv/bin/python benchmarks/embed_batching.py --index .tmp/bs60/index --texts 800
"""

from __future__ import annotations

import argparse
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def session(model_file: Path, intra: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


def run_batch(sess, batch: list[list[int]]) -> np.ndarray:
    width = max(len(ids) for ids in batch)
    ids = np.zeros((len(batch), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, one in enumerate(batch):
        ids[row, : len(one)] = one
        mask[row, : len(one)] = 1
    return sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]


def embed(sess_list, ids: list[list[int]], batch: int) -> np.ndarray:
    """Embed ``ids`` sorted by length in batches of ``batch`` (1: no padding), spread over the sessions' threads."""
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    batches = [order[i : i + batch] for i in range(0, len(order), batch)]
    out = np.zeros((len(ids), 384), dtype=np.float32)
    workers = len(sess_list)

    def work(n: int) -> None:
        sess = sess_list[n % workers]
        for b in batches[n::workers]:
            out[b] = run_batch(sess, [ids[i] for i in b])

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, range(workers)))
    return out


def main() -> None:
    from tokenizers import Tokenizer

    from rsiqa.index.embedding import ensure_onnx_model, resolve_model_path
    from rsiqa.index.store import load_index
    from rsiqa.ingest.documents import passage_context
    from rsiqa.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--texts", type=int, default=800)
    args = parser.parse_args()
    settings = Settings()
    data = load_index(args.index)
    texts = [passage_context(p) for p in data.passages] + [s for ss in data.sentences for s in ss]
    random.Random(0).shuffle(texts)
    texts = texts[: args.texts]
    model_dir = Path(resolve_model_path(settings.model))
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=256)
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    model_file = ensure_onnx_model(settings.model, settings.model_cache_dir, "int8")
    results = {"texts": len(texts), "mean_tokens": round(float(np.mean([len(i) for i in ids])), 1)}
    reference = None
    variants = [("1 text/run, 2 sessions x 1 thread (current)", 2, 1, 1),
                ("1 text/run, 1 session x 2 threads", 1, 2, 1),
                ("1 text/run, 1 session x 1 thread", 1, 1, 1),
                ("batches of 8 by length, 2 x 1 thread", 2, 1, 8),
                ("batches of 32 by length, 2 x 1 thread", 2, 1, 32),
                ("batches of 32 by length, 1 x 2 threads", 1, 2, 32)]
    for name, sessions, intra, batch in variants:
        sess_list = [session(model_file, intra) for _ in range(sessions)]
        embed(sess_list, ids[:16], batch)  # warm-up
        started = time.perf_counter()
        vectors = embed(sess_list, ids, batch)
        seconds = time.perf_counter() - started
        if reference is None:
            reference = vectors
        cosine = np.sum(vectors * reference, axis=1)
        results[name] = {"texts_per_s": round(len(texts) / seconds, 1),
                         "min_cosine_to_current": round(float(cosine.min()), 5)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
