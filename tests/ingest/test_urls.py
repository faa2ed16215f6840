"""Only http(s) links leave the server: `javascript:` and `data:` URLs from the corpus become null."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from live_server import rsiqa_server
from rsiqa.serve.api import create_app
from rsiqa.index.build import build_index
from rsiqa.search.engine import Engine
from rsiqa.index.store import load_index
from rsiqa.search.schema import SourceOut
from rsiqa.settings import Settings

PAGES = {
    "js.html": ("javascript:alert(document.cookie)", "canonical"),
    "data.html": ("data:text/html,<script>alert(1)</script>", "og"),
    "vb.html": ("  VBScript:msgbox(1)", "canonical"),
    "good.html": ("https://example.org/good-page", "canonical"),
}


def _page(url: str, how: str, n: int) -> str:
    head = (f'<link rel="canonical" href="{url}">' if how == "canonical" else f'<meta property="og:url" content="{url}">')
    return (f"<html><head><title>Page {n}</title>{head}</head><body><p>Seed AI page {n}: a seed AI rewrites its own "
            f"source code and improves itself recursively, argues author {n}.</p></body></html>")


def write_pages(corpus: Path) -> None:
    corpus.mkdir(exist_ok=True)
    for n, (name, (url, how)) in enumerate(PAGES.items()):
        (corpus / name).write_text(_page(url, how, n), encoding="utf-8")


def check(sources: dict, answer: dict) -> None:
    urls = {s["path"]: s["url"] for s in sources["sources"]}
    assert urls == {"js.html": None, "data.html": None, "vb.html": None, "good.html": "https://example.org/good-page"}
    cited = {c["source"]["path"]: c["source"]["url"] for c in answer["citations"]}
    assert len(cited) == 4 and cited == urls


def test_a_citation_never_carries_another_scheme() -> None:
    source = SourceOut(title="t", url="javascript:alert(1)", kind="document", kind_label="document", path="x")
    assert source.url is None
    assert SourceOut(title="t", url="https://a.example/x", kind="document", kind_label="d", path="x").url


def test_api_returns_only_http_urls(settings: Settings, fake_embedder) -> None:
    write_pages(settings.corpus_dir)
    settings = settings.model_copy(update={"abstain_threshold": 0.0})
    build_index(settings, fake_embedder, progress=False)
    assert all(p.source.url in (None, "https://example.org/good-page") for p in load_index(settings.index_dir).passages)
    client = TestClient(create_app(settings, Engine(settings, embedder=fake_embedder), chat_page=False))
    answer = client.post("/api/query", json={"question": "Which seed AI page rewrites source code?", "top_k": 4})
    check(client.get("/api/sources").json(), answer.json())


@pytest.mark.slow
def test_real_server_returns_only_http_urls(real_embedder, tmp_path: Path) -> None:
    write_pages(tmp_path / "corpus")
    build_index(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", abstain_threshold=0.0),
                real_embedder, progress=False)
    with rsiqa_server(tmp_path / "index", tmp_path / "run", wait_for_page=False, abstain_threshold="0") as url:
        answer = httpx.post(f"{url}/api/query", json={"question": "Which seed AI page rewrites its source code?",
                                                      "top_k": 4}, timeout=60)
        check(httpx.get(f"{url}/api/sources", timeout=30).json(), answer.json())
