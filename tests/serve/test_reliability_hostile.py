"""Issue 6.6, hostile content: no endpoint reads a path a client supplies, index files are never
unpickled, reloading needs its token, and `rsiqa serve` listens on 127.0.0.1 unless told otherwise.

HTML/JS in corpus text and in questions is shown as text in the chat page: that is checked in
headless Chromium by `tests/test_ui_browser.py` (`test_corpus_markup_is_shown_as_text`,
`test_question_markup_is_shown_as_text`), and the escaping itself by `tests/test_ui_render.py`.
"""

from __future__ import annotations

import ast
import os
import http.client
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import FakeEmbedder
from live_server import REPO, free_port, rsiqa_server, server_env, stop_process
from rsiqa.serve.api import create_app
from rsiqa.index.build import build_index
from rsiqa.search.engine import Engine
from rsiqa.index.store import IndexError_, load_index
from rsiqa.settings import Settings

TOKEN = "hostile-token-7"
NOTES = "# Notes\n\nA seed AI rewrites its own source code, improving itself recursively.\n"
API_PATHS = {"/api/query", "/api/query/stream", "/api/health", "/api/sources", "/api/reload", "/api/feedback"}
PATH_LIKE = re.compile(r"path|file|dir|folder|index|url|uri|location|name", re.IGNORECASE)
PASSWD = "root:x:0:0"


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Settings, Engine]:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.md").write_text(NOTES, encoding="utf-8")
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model=FakeEmbedder.name,
                        abstain_threshold=0.0, reload_token=TOKEN)
    embedder = FakeEmbedder()
    build_index(settings, embedder, progress=False)
    return settings, Engine(settings, embedder=embedder)


# --- no client-supplied paths ----------------------------------------------------------------------


def test_no_endpoint_takes_a_path_from_the_client(fake: tuple[Settings, Engine]) -> None:
    settings, engine = fake
    spec = TestClient(create_app(settings, engine, chat_page=False)).get("/openapi.json").json()
    assert set(spec["paths"]) == API_PATHS, "a new endpoint: check it reads no client-supplied path, then add it here"
    for path, operations in spec["paths"].items():
        assert "{" not in path  # no path parameters
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                assert not PATH_LIKE.search(parameter["name"]), (method, path, parameter)
            if method != "post" or path not in ("/api/query", "/api/query/stream", "/api/feedback"):
                assert "requestBody" not in operation, (method, path)
    body_ref = spec["paths"]["/api/query"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schemas = spec["components"]["schemas"]
    query = schemas[body_ref.rsplit("/", 1)[1]]
    stream_ref = spec["paths"]["/api/query/stream"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert stream_ref["$ref"] == body_ref  # the same body
    assert set(query["properties"]) == {"question", "top_k", "history", "generate"}
    assert query["additionalProperties"] is False
    turn = schemas[query["properties"]["history"]["items"]["$ref"].rsplit("/", 1)[1]]
    assert set(turn["properties"]) == {"role", "content", "citations"}  # citations: chunk ids, never paths
    vote_ref = spec["paths"]["/api/feedback"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    vote = schemas[vote_ref.rsplit("/", 1)[1]]  # stored in the server's own file (RSIQA_FEEDBACK_PATH), never a path
    assert set(vote["properties"]) == {"rating", "comment", "question", "answer", "citations"}
    assert vote["additionalProperties"] is False


def test_extra_fields_are_rejected_not_used(fake: tuple[Settings, Engine]) -> None:
    """Extra top-level fields get a 422 (so a misspelt `topk` is noticed); none is ever read as a path.

    Extra keys inside a history turn are ignored (a chat client may send its message objects as
    they are): only `role` and `content` are read.
    """
    settings, engine = fake
    client = TestClient(create_app(settings, engine, chat_page=False))
    for extra in ({"path": "/etc/passwd"}, {"index_dir": "/tmp"}, {"file": "../../etc/passwd"}, {"topk": 3}):
        response = client.post("/api/query", json={"question": "seed AI?", **extra})
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"] == "Extra inputs are not permitted"
        assert response.json()["detail"][0]["loc"] == ["body", next(iter(extra))]
    turn = {"role": "user", "content": "seed AI?", "path": "/etc/passwd", "metadata": {"file": "/etc/passwd"}}
    response = client.post("/api/query", json={"question": "And why?", "history": [turn]})
    assert response.status_code == 200 and PASSWD not in response.text


@pytest.mark.slow
def test_path_traversal_probes_read_nothing(real_index_dir: Path, tmp_path: Path) -> None:
    """Against a real server with the chat page: no URL, and no question, gets a file outside the app."""
    probes = [
        "/etc/passwd", "/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/api/../../etc/passwd",
        "/api/sources?path=/etc/passwd", "/api/health?file=../../etc/passwd",
        "/gradio_api/file=/etc/passwd", "/gradio_api/file=../../../../etc/passwd",
        "/gradio_api/file=%2fetc%2fpasswd", f"/gradio_api/file={real_index_dir}/manifest.json",
        f"/gradio_api/file={REPO}/pyproject.toml", "/file=/etc/passwd", "/static/../../../../etc/passwd",
        "/assets/..%2f..%2f..%2f..%2fetc%2fpasswd", "/gradio_api/file=server.log",
    ]
    with rsiqa_server(real_index_dir, tmp_path / "run") as url:
        port = int(url.rsplit(":", 1)[1])
        for probe in probes:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # sends the path as it is
            connection.request("GET", probe)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            connection.close()
            assert PASSWD not in text and "[build-system]" not in text, probe
            if probe.startswith(("/api/sources?", "/api/health?")):
                assert response.status == 200  # the query parameter is ignored
            else:
                assert response.status >= 400 and '"built_at"' not in text, (probe, response.status, text[:200])
        for question in ("../../../../etc/passwd", "file:///etc/passwd", "/proc/self/environ"):
            answer = httpx.post(f"{url}/api/query", json={"question": question}, timeout=60)
            assert answer.status_code == 200 and PASSWD not in answer.text and "RSIQA_" not in answer.text


# --- index files are never unpickled ---------------------------------------------------------------

FORBIDDEN_IMPORTS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _python_files() -> list[Path]:
    return sorted((REPO / "src" / "rsiqa").rglob("*.py")) + sorted((REPO / "ui").glob("*.py"))


def test_no_code_can_unpickle() -> None:
    """Every `np.load` passes `allow_pickle=False`; nothing imports pickle & co or calls torch.load/read_pickle."""
    np_loads = 0
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = {alias.name.split(".")[0] for alias in node.names}
                if isinstance(node, ast.ImportFrom) and node.module:
                    names.add(node.module.split(".")[0])
                assert not names & FORBIDDEN_IMPORTS, f"{path.name}:{node.lineno} imports {names & FORBIDDEN_IMPORTS}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
                where = f"{path.name}:{node.lineno}"
                assert (owner, node.func.attr) not in {("torch", "load"), ("pd", "read_pickle")}, where
                if owner in ("np", "numpy") and node.func.attr == "load":
                    np_loads += 1
                    flags = {k.arg: k.value for k in node.keywords}
                    assert isinstance(flags.get("allow_pickle"), ast.Constant), f"{where}: np.load without allow_pickle"
                    assert flags["allow_pickle"].value is False, f"{where}: np.load(allow_pickle=True)"
    assert np_loads >= 3  # vectors.npy, sentence_vectors.npy and word_vectors.npy


class _Payload:
    """Unpickling this runs `open(marker, "w")`: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(path: Path, marker: Path) -> None:
    """A pickle-carrying .npy at ``path``, as a new file renamed over the old one: a served index
    memory-maps its arrays, and rsiqa never rewrites a served file in place (builds swap folders)."""
    tmp = path.with_name(path.name + ".planted")
    with tmp.open("wb") as handle:
        np.save(handle, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    os.replace(tmp, path)


@pytest.mark.parametrize("name", ["bm25.data.npy", "sentence_vectors.npy", "word_vectors.npy"])
def test_a_planted_pickle_is_refused_not_run(fake: tuple[Settings, Engine], tmp_path: Path, name: str) -> None:
    settings, engine = fake
    marker = tmp_path / "payload-ran"
    _plant(tmp_path / "probe.npy", marker)
    np.load(tmp_path / "probe.npy", allow_pickle=True)  # the control: unpickling it does run the payload
    assert marker.exists()
    marker.unlink()

    _plant(settings.index_dir / name, marker)
    with pytest.raises(IndexError_, match=r"incomplete or damaged .*rebuild with `rsiqa build`"):
        load_index(settings.index_dir, model=settings.model)
    assert not marker.exists()

    client = TestClient(create_app(settings, engine, chat_page=False))  # and through the server
    response = client.post("/api/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 503
    assert "still serving the previous one" in response.json()["detail"] and "rsiqa build" in response.json()["detail"]
    assert not marker.exists()
    assert client.post("/api/query", json={"question": "seed AI?"}).json()["citations"]  # old index still served


# --- the reload endpoint needs its token -----------------------------------------------------------
# test_api.py: 403 when no token is configured, 401 without a bearer token, 403 with a wrong one (in
# process and over HTTP). Here: the ways a token could leak or be bypassed.


def test_reload_token_cannot_be_bypassed_or_read(fake: tuple[Settings, Engine]) -> None:
    settings, engine = fake
    client = TestClient(create_app(settings, engine, chat_page=False))
    attempts = [
        {"params": {"token": TOKEN}},
        {"headers": {"X-Reload-Token": TOKEN}},
        {"headers": {"Authorization": TOKEN}},
        {"headers": {"Authorization": f"Basic {TOKEN}"}},
        {"headers": {"Authorization": f"Bearer {TOKEN}x"}},
        {"headers": {"Authorization": f"Bearer {TOKEN[:-1]}"}},
        {"headers": {"Authorization": "Bearer "}},
        {"json": {"token": TOKEN}},
    ]
    for attempt in attempts:
        assert client.post("/api/reload", **attempt).status_code in (401, 403), attempt
    assert client.post("/api/reload", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    for path in ("/openapi.json", "/docs", "/api/health", "/api/sources"):
        assert TOKEN not in client.get(path).text

    for unset in ("", None):  # an empty token disables reloading rather than accepting an empty bearer
        off = TestClient(create_app(settings.model_copy(update={"reload_token": unset}), engine, chat_page=False))
        for header in ({"Authorization": "Bearer "}, {"Authorization": "Bearer x"}):
            response = off.post("/api/reload", headers=header)
            assert response.status_code == 403 and "reload is disabled" in response.json()["detail"]


# --- the server binds 127.0.0.1 by default ---------------------------------------------------------


def _listening(port: int) -> set[str]:
    """The local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, _remote, state = line.split()[1:4]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word is little-endian
                found.add(".".join(str(b) for b in words) if width == 8 else words.hex())
    return found


def _other_local_addresses() -> list[str]:
    """IPv4 addresses of this machine other than loopback (e.g. 192.0.2.2), if any."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [a for a in out.split() if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", a) and not a.startswith("127.")]


@pytest.mark.slow
def test_serve_binds_loopback_by_default(real_index_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = server_env(tmp_path)  # no RSIQA_HOST, and no .env in tmp_path
    command = [sys.executable, "-m", "rsiqa.serve.cli", "serve", "--port", str(port), "--index", str(real_index_dir)]
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        assert _listening(port) == {"127.0.0.1"}
        assert f"serving on http://127.0.0.1:{port}/" in log.read_text()
        assert "Warning" not in log.read_text()
        for address in _other_local_addresses():
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{address}:{port}/api/health", timeout=5)
    finally:
        stop_process(process)
