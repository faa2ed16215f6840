"""Start-up, query latency, throughput and memory of `rsiqa serve` at 1k-130k passages (issue 14, section 3).

Embedding 130,000 real passages takes hours on 2 cores, so the larger indexes are made from a
real one (``--from``, e.g. the index benchmarks/build_speed.py builds of the Python docs): its
passages repeated, each copy's text given one word of its own (so BM25 and the spelling
vocabulary grow) and its vectors turned slightly at random (so FAISS, HNSW above
``ann_threshold``, sees distinct vectors). The index is written by rsiqa's own writer, with a
manifest and checksums a server accepts.

    .venv/bin/python benchmarks/serve_scale.py --from .tmp/bs60/index --sizes 1000 40000 130000

Run with another checkout's Python (its venv's ``rsiqa``) to measure that version on the same
indexes: the index is written by that version's writer (``--from`` may be of format 3 or later).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_speed import load_average, serve_figures  # noqa: E402


def synthetic_index(source: Path, target: Path, size: int) -> None:
    from rsiqa.search.lexical import build_bm25
    from rsiqa.index.store import FORMAT_VERSION, IndexData, faiss_index_info, load_index, make_faiss_index, write_index
    from rsiqa.ingest.documents import Passage, passage_context
    from rsiqa.search.lexical import stem
    from rsiqa.settings import Settings

    settings = Settings()
    data = load_index(source, formats=tuple(range(3, FORMAT_VERSION + 1)))  # any index with a word table
    rng = np.random.default_rng(0)
    n = len(data.passages)
    rows = np.arange(size) % n
    passages, sentences, sentence_blocks = [], [], []
    for copy, row in enumerate(rows):
        p = data.passages[row]
        word = f"zq{copy // n:x}"  # one word shared by the passages of one copy of the corpus
        passages.append(Passage(text=f"{p.text} {word}", source=p.source))
        sentences.append(list(data.sentences[row]))
        start = int(data.sentence_starts[row])
        sentence_blocks.append(np.asarray(data.sentence_vectors[start : start + len(data.sentences[row])]))

    def turn(vectors: np.ndarray) -> np.ndarray:
        out = vectors + rng.normal(0, 0.02, vectors.shape).astype(np.float32)
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    vectors = turn(np.asarray(data.vectors)[rows])
    sentence_vectors = turn(np.concatenate(sentence_blocks))
    faiss_index = make_faiss_index(vectors, settings.ann_threshold, settings.hnsw_m, settings.hnsw_ef_construction,
                                   settings.hnsw_ef_search)
    manifest = dict(data.manifest, format=FORMAT_VERSION, passages=size, faiss=faiss_index_info(faiss_index, vectors),
                    built_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00"), synthetic_from=str(source))
    manifest.pop("files", None)
    bm25 = build_bm25([passage_context(p) for p in passages])
    # The word table keeps the words of the source whose token this index has (a subset may lack some).
    keep = [i for i, token in enumerate(stem(data.words)) if token in bm25.vocab_dict]
    write_index(target, IndexData(manifest=manifest, passages=passages, vectors=vectors, sentences=sentences,
                                  sentence_vectors=sentence_vectors, words=[data.words[i] for i in keep],
                                  word_vectors=np.asarray(data.word_vectors)[keep], faiss_index=faiss_index,
                                  bm25=bm25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="a built index to grow from")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 13500, 40000, 130000])
    parser.add_argument("--work", type=Path, default=Path(".tmp/serve-scale"))
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each 8-client run")
    args = parser.parse_args()
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    results = {"command": " ".join([sys.executable, *sys.argv]), "load_average_before": load_average(), "sizes": {}}
    for size in args.sizes:
        index = (args.work / f"index-{size}").resolve()
        started = time.perf_counter()
        synthetic_index(args.source, index, size)
        made = time.perf_counter() - started
        figures = serve_figures(index, args.work.resolve(), env, size, args.seconds)
        figures["index_made_s"] = round(made, 1)
        figures["index_mb"] = round(sum(p.stat().st_size for p in index.iterdir()) / 2**20, 1)
        figures["load_average"] = load_average()
        results["sizes"][size] = figures
        print(json.dumps({size: figures}), flush=True)
    results["load_average_after"] = load_average()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
