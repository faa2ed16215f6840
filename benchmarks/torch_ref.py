"""The reference for benchmarks/run.py: bare sentence-transformers (torch) encodes, in its own process.

Run by run.py, not by hand. Arguments: a JSON file {"queries": [...], "texts": [...]}. Reads one
command per line on stdin and answers one JSON line on stdout:

    q   encode each query alone (as a server would), -> {"ms": [per query]}
    t   encode all texts (batch 32, as sentence-transformers does), -> {"seconds": s, "count": n}
    m   -> {"vmhwm_mb": peak resident memory of this process}

Keeping torch in a separate process keeps its threads and memory away from the measured side.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def vmhwm_mb(pid: int | str = "self") -> float:
    """Peak resident set size of a process in MB (Linux /proc), 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    started = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    import_s = time.perf_counter() - started
    from rsiqa.index.embedding import resolve_model_path

    model = SentenceTransformer(resolve_model_path(spec.get("model", "all-MiniLM-L6-v2")), device="cpu")
    model.encode(["warm up"], normalize_embeddings=True)
    print(json.dumps({"ready": True, "import_seconds": import_s, "load_seconds": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "q":
            times = []
            for query in spec["queries"]:
                t = time.perf_counter()
                model.encode([query], normalize_embeddings=True, convert_to_numpy=True)
                times.append((time.perf_counter() - t) * 1000)
            print(json.dumps({"ms": times}), flush=True)
        elif command == "t":
            t = time.perf_counter()
            model.encode(spec["texts"], batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
            print(json.dumps({"seconds": time.perf_counter() - t, "count": len(spec["texts"])}), flush=True)
        elif command == "m":
            print(json.dumps({"vmhwm_mb": vmhwm_mb()}), flush=True)
        elif command in ("", "quit"):
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
