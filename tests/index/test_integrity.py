"""A damaged index is refused, never served: each file is checked against the manifest (checksum, shape,
counts), the manifest against its schema; the previous index keeps serving and `--if-stale` rebuilds."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import DEFAULT_CORPUS, FakeEmbedder, run_rsiqa
from fastapi.testclient import TestClient

from live_server import rsiqa_server
from rsiqa.serve.api import create_app
from rsiqa.index.build import build_index, index_is_current
from rsiqa.search.engine import Engine
from rsiqa.index.store import IndexError_, load_index
from rsiqa.settings import Settings

TOKEN = "integrity-token"
NOTES = {
    "a.md": "# Seed AI\n\nA seed AI rewrites its own source code, improving itself recursively. It starts small.",
    "b.md": "# Skeptics\n\nSkeptics argue that each improvement is harder to find than the last one.",
    "c.md": "# Takeoff\n\nA fast takeoff needs returns on cognitive reinvestment that stay large for a long time.",
}


def _rewrite_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), **changes}), encoding="utf-8")


def _save(path: Path, array: np.ndarray) -> None:
    """Replace the array file ``path`` (a new file renamed over it, as an editor saves: a served index
    memory-maps its arrays, and a file rewritten in place under a running server is not a case rsiqa
    can defend against; a build never does it, it swaps whole folders)."""
    np.save(path.with_suffix(".tmp.npy"), array)
    os.replace(path.with_suffix(".tmp.npy"), path)


def _write_text(path: Path, text: str) -> None:
    """Replace the text file ``path`` as :func:`_save` replaces an array: a served index (format 5) reads
    passages.jsonl and sentences.jsonl by row from the files, memory-mapped."""
    path.with_suffix(".tmp").write_text(text, encoding="utf-8")
    os.replace(path.with_suffix(".tmp"), path)


def damage(index_dir: Path, how: str) -> None:
    """Damage ``index_dir`` as the issue found it, or as a disk or an editor could."""
    if how == "wide-sentence-vectors":
        vectors = np.load(index_dir / "sentence_vectors.npy")
        _save(index_dir / "sentence_vectors.npy", np.hstack([vectors, vectors[:, :1]]))
    elif how == "flat-sentence-vectors":
        _save(index_dir / "sentence_vectors.npy", np.load(index_dir / "sentence_vectors.npy").ravel())
    elif how == "bm25-rows-shifted":  # the BM25 matrix pointing past the last passage
        _save(index_dir / "bm25.indices.npy", np.load(index_dir / "bm25.indices.npy") + 1000)
    elif how == "rotated-passages":
        lines = (index_dir / "passages.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        _write_text(index_dir / "passages.jsonl", "".join(lines[1:] + lines[:1]))
    elif how == "rotated-sentences":
        lines = (index_dir / "sentences.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        _write_text(index_dir / "sentences.jsonl", "".join(lines[1:] + lines[:1]))
    elif how == "flipped-byte-in-faiss":
        data = bytearray((index_dir / "index.faiss").read_bytes())
        data[-5] ^= 0xFF
        (index_dir / "index.faiss").write_bytes(bytes(data))
    elif how == "nan-vector":
        vectors = np.load(index_dir / "sentence_vectors.npy")
        vectors[0, 0] = np.nan
        _save(index_dir / "sentence_vectors.npy", vectors)
    elif how == "documents-list":
        _rewrite_json(index_dir / "manifest.json", documents=[])
    elif how == "questions-numbers":
        _rewrite_json(index_dir / "manifest.json", questions=[1, 2])
    elif how == "no-checksums":
        manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
        del manifest["files"]
        (index_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    else:
        raise AssertionError(how)


DAMAGES = ["wide-sentence-vectors", "flat-sentence-vectors", "bm25-rows-shifted", "rotated-passages", "rotated-sentences",
           "flipped-byte-in-faiss", "nan-vector", "documents-list", "questions-numbers", "no-checksums"]


@pytest.fixture
def built(settings: Settings, fake_embedder: FakeEmbedder) -> Settings:
    for name, text in NOTES.items():
        (settings.corpus_dir / name).write_text(text, encoding="utf-8")
    settings = settings.model_copy(update={"embedding_backend": "torch", "abstain_threshold": 0.0,
                                           "reload_token": TOKEN, "reload_check_seconds": 0.0})
    build_index(settings, fake_embedder, progress=False)
    return settings


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_index_is_refused_and_stale(built: Settings, fake_embedder: FakeEmbedder, how: str) -> None:
    assert index_is_current(built)
    damage(built.index_dir, how)
    with pytest.raises(IndexError_, match=r"rebuild with `rsiqa build`"):
        load_index(built.index_dir, model=built.model)
    assert not index_is_current(built)  # so `rsiqa build --if-stale` (and `make run`) repairs it
    build_index(built, fake_embedder, progress=False)
    assert index_is_current(built) and load_index(built.index_dir).passages


@pytest.mark.parametrize("how", DAMAGES)
def test_the_server_keeps_serving_the_previous_index(built: Settings, fake_embedder: FakeEmbedder, how: str) -> None:
    client = TestClient(create_app(built, Engine(built, embedder=fake_embedder), chat_page=False),
                        raise_server_exceptions=False)
    sources = client.get("/api/sources").json()
    damage(built.index_dir, how)
    (built.index_dir / "manifest.json").touch()  # a new manifest time: the server checks the index again
    time.sleep(0.02)
    for _ in range(2):  # the automatic check, then the same requests once more
        assert client.get("/api/sources").json() == sources
        answer = client.post("/api/query", json={"question": "Who argues each improvement is harder to find?"})
        assert answer.status_code == 200 and answer.json()["citations"]
        assert client.get("/api/health").status_code == 200
    reload = client.post("/api/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reload.status_code == 503, reload.text
    assert "still serving the previous one" in reload.json()["detail"] and "rsiqa build" in reload.json()["detail"]


@pytest.fixture
def real_copy(real_index_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(real_index_dir, target)
    return target


@pytest.mark.slow
def test_real_server_refuses_a_damaged_index(real_copy: Path, tmp_path: Path) -> None:
    with rsiqa_server(real_copy, tmp_path / "run", wait_for_page=False, reload_token=TOKEN) as url:
        before = httpx.get(f"{url}/api/sources", timeout=30).json()
        for how in ("wide-sentence-vectors", "documents-list", "questions-numbers"):
            damage(real_copy, how)
            reload = httpx.post(f"{url}/api/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            assert reload.status_code == 503 and "still serving the previous one" in reload.text, (how, reload.text)
            time.sleep(1.2)  # past reload_check_seconds: the automatic check refuses it too
            answer = httpx.post(f"{url}/api/query", json={"question": "What is KANSI?"}, timeout=60)
            assert answer.status_code == 200 and answer.json()["citations"], how
            assert httpx.get(f"{url}/api/sources", timeout=30).json() == before, how
    assert "Traceback" not in (tmp_path / "run" / "server.log").read_text()


@pytest.mark.slow
def test_cli_refuses_a_damaged_index_and_if_stale_repairs_it(real_copy: Path, tmp_path: Path) -> None:
    damage(real_copy, "wide-sentence-vectors")
    done = run_rsiqa("ask", "--index", str(real_copy), "What is KANSI?", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"Error: the index in '{real_copy}' is incomplete or damaged (sentence_vectors.npy "), \
        done.stderr
    assert "rebuild with `rsiqa build`" in done.stderr.splitlines()[0]
    done = run_rsiqa("build", "--if-stale", "--quiet", "--corpus", str(DEFAULT_CORPUS), "--index", str(real_copy),
                     cwd=tmp_path)
    assert done.returncode == 0 and "up to date" not in done.stdout and "Indexed" in done.stdout, done.stdout
    done = run_rsiqa("ask", "--index", str(real_copy), "What is KANSI?", cwd=tmp_path)
    assert done.returncode == 0 and "[1]" in done.stdout
