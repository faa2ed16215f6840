"""Issue 6.4, load: queries from 16 concurrent clients against a real `rsiqa serve` all get a 2xx.

`benchmarks/load.py` does the work; these tests run it (no timing assertions: the figures go to
docs/reliability.md). The full run (2,000 queries) takes about 10 s on 2 cores, so `make test`
runs it too; `-m "not load"` keeps only the reduced one.
"""

from __future__ import annotations

import http.server
import importlib.util
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from live_server import REPO, rsiqa_server, server_env

LOAD_SCRIPT = REPO / "benchmarks" / "load.py"


def _load_module():
    spec = importlib.util.spec_from_file_location("rsiqa_benchmark_load", LOAD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


load = _load_module()


def test_the_query_mix_covers_all_kinds() -> None:
    kinds = [kind for kind, _body in load.query_mix()]
    assert set(kinds) == {"in-scope", "out-of-scope", "follow-up"}
    assert set(kinds[:6]) == set(kinds)  # interleaved: a short run still sends each kind
    assert all(body["history"] for kind, body in load.query_mix() if kind == "follow-up")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (load.percentile(values, 50), load.percentile(values, 99), load.percentile(values, 100)) == (50, 99, 100)
    assert load.percentile([7.0], 99) == 7.0 and load.percentile([], 50) == 0.0


@pytest.fixture(scope="module")
def server(real_index_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    with rsiqa_server(real_index_dir, tmp_path_factory.mktemp("load-server")) as url:
        yield url


@pytest.mark.slow
def test_reduced_load_run_of_the_script(real_index_dir: Path, tmp_path: Path) -> None:
    """`python benchmarks/load.py` starts its own server, sends 200 queries from 16 clients, exits 0."""
    result = subprocess.run(
        [sys.executable, str(LOAD_SCRIPT), "--index", str(real_index_dir), "-n", "200", "-c", "16",
         "--max-seconds", "300"],
        cwd=tmp_path, env=server_env(tmp_path), capture_output=True, text=True, check=False, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "queries    200 of 200 from 16 concurrent clients" in out, out
    assert "non-2xx    0 " in out and "FAILED" not in out, out
    for figure in ("p50 ", "p95 ", "p99 ", "queries/s"):
        assert figure in out, out


@pytest.mark.slow
@pytest.mark.load
def test_full_load_2000_queries_16_clients(server: str) -> None:
    figures = load.run_load(server, queries=2000, clients=16, max_seconds=600)
    print("\n" + load.render(figures))  # shown with -s / on failure
    assert figures["not_sent"] == 0, load.render(figures)
    assert figures["failed"] == 0 and figures["statuses"] == {"200": 2000}, load.render(figures)
    assert figures["kinds"]["follow-up"] > 0 and figures["kinds"]["out-of-scope"] > 0
    assert figures["abstained"].get("out-of-scope") == figures["kinds"]["out-of-scope"]  # declined, not failed


class _Failing(http.server.BaseHTTPRequestHandler):
    """Answers every POST with 503, like a server without an index."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"detail": "no index"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_the_script_counts_non_2xx_and_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=stub.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{stub.server_address[1]}"
        figures = load.run_load(url, queries=20, clients=4, warmup=0, max_seconds=60)
        assert figures["sent"] == 20 and figures["failed"] == 20 and figures["statuses"] == {"503": 20}
        assert "503: " in figures["failures"][0]
        assert load.main(["--url", url, "-n", "5", "-c", "2"]) == 1  # its warm-up query fails: error, exit 1
        assert "Error:" in capsys.readouterr().err
    finally:
        stub.shutdown()
        stub.server_close()
    assert load.main(["--url", url, "-n", "4", "-c", "2", "--timeout", "2"]) == 1  # nothing listens any more
