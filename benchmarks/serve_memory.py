"""Serve an index folder with one store, time `POST /api/query`, and list where the server's memory is.

    python benchmarks/serve_memory.py INDEX_DIR --store milvus --uri http://127.0.0.1:19561
    python benchmarks/serve_memory.py INDEX_DIR --store faiss

The same server and timing as ``benchmarks/milvus.py scale`` (its ``serve_and_time``: ``rsiqa serve``,
``RSIQA_ANN_THRESHOLD=1``, one keep-alive client, 5 warm-up questions, then the single-turn questions of
questions.jsonl), on a folder that script wrote (``--work``); then VmRSS, RssAnon, VmHWM and the largest mappings of
/proc/PID/smaps.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from milvus import REPO, eval_questions, serve_and_time


def mappings(pid: int, top: int = 15) -> list[tuple[str, int, int]]:
    """(mapping, resident MB, anonymous MB) of the ``top`` largest mappings, summed per file."""
    totals: dict[str, list[int]] = {}
    current: list[int] | None = None
    with open(f"/proc/{pid}/smaps", encoding="ascii", errors="replace") as smaps:
        for line in smaps:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                current = totals.setdefault(parts[5] if len(parts) > 5 else "[anon]", [0, 0])
            elif current is not None and line.startswith(("Rss:", "Anonymous:")):
                current[0 if line.startswith("Rss:") else 1] += int(line.split()[1])
    ranked = sorted(totals.items(), key=lambda item: -item[1][0])[:top]
    return [(name, rss // 1024, anon // 1024) for name, (rss, anon) in ranked]


def main() -> int:
    from rsiqa.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("index", type=Path)
    parser.add_argument("--store", choices=["faiss", "milvus"], default="milvus")
    parser.add_argument("--uri", default="", help="the Milvus the folder's collections are in (--store milvus)")
    args = parser.parse_args()
    record = json.loads((args.index / "manifest.json").read_text(encoding="utf-8")).get("milvus") or {}
    settings = Settings(corpus_dir=REPO / "corpus", index_dir=args.index, store=args.store, milvus_uri=args.uri,
                        milvus_collection_prefix=record.get("prefix", "rsiqa_"), ann_threshold=1)
    figures = serve_and_time(settings, eval_questions(), inspect=mappings)
    largest = figures.pop("inspected")
    print(json.dumps({"store": args.store, **figures}))
    for name, rss, anon in largest:
        print(f"{rss:6d} MB resident {anon:6d} MB anonymous  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
