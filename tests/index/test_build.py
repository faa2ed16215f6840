"""The ingest pipeline writes a real FAISS index, passages and a manifest, atomically."""

import json

import faiss
import numpy as np
import pytest

from rsiqa.index.build import build_index, index_is_current
from rsiqa.index.store import IndexError_, load_index
from conftest import write_pdf

NOTE = "Recursive self-improvement is debated. Skeptics say progress has diminishing returns. " * 3


@pytest.fixture
def small_corpus(settings):
    corpus = settings.corpus_dir
    (corpus / "notes.md").write_text("# Takeoff\n\n" + NOTE, encoding="utf-8")
    (corpus / "page.html").write_text(
        "<html><head><title>A page</title><link rel='canonical' href='https://example.org/page'></head>"
        "<body><p>Sub-agents give an AI a pathway to improve without touching its own code.</p></body></html>",
        encoding="utf-8",
    )
    write_pdf(corpus / "paper.pdf", ["Gödel machines rigorously define self-improving agents."])
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    return corpus


def test_build_writes_a_real_faiss_index_with_passages_and_manifest(settings, fake_embedder, small_corpus):
    report = build_index(settings, fake_embedder, progress=False)
    index_dir = settings.index_dir
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["model"] == "fake-hash" and manifest["dimension"] == fake_embedder.dimension
    assert manifest["passages"] == report.passages == len((index_dir / "passages.jsonl").read_text().splitlines())
    assert set(manifest["corpus_hashes"]) == {"notes.md", "page.html", "paper.pdf"}
    assert all(len(h) == 64 for h in manifest["corpus_hashes"].values())
    assert manifest["built_at"] and manifest["rsiqa_version"]
    assert manifest["skipped"] == report.skipped and set(report.skipped) == {"broken.pdf"}

    index = faiss.read_index(str(index_dir / "index.faiss"))
    assert index.ntotal == report.passages and index.d == fake_embedder.dimension
    rows = [json.loads(line) for line in (index_dir / "passages.jsonl").read_text().splitlines()]
    by_path = {r["source"]["path"]: r for r in rows}
    assert by_path["page.html"]["source"]["url"] == "https://example.org/page"
    assert by_path["paper.pdf"]["source"]["section"] == "page 1"
    assert not list(index_dir.glob("*.pkl")) and not list(index_dir.glob("*.pickle"))


def test_vectors_are_unit_length_and_searchable(settings, fake_embedder, small_corpus):
    build_index(settings, fake_embedder, progress=False)
    data = load_index(settings.index_dir, model="fake-hash")
    assert np.allclose(np.linalg.norm(data.vectors, axis=1), 1.0, atol=1e-5)
    query = fake_embedder.encode(["Sub-agents give an AI a pathway"])
    _, ids = data.faiss_index.search(query, 1)
    assert data.passages[int(ids[0][0])].source.path == "page.html"


def test_loading_with_another_model_or_dimension_fails_clearly(settings, fake_embedder, small_corpus):
    build_index(settings, fake_embedder, progress=False)
    with pytest.raises(IndexError_, match="built with model 'fake-hash'.*rebuild"):
        load_index(settings.index_dir, model="all-MiniLM-L6-v2")
    with pytest.raises(IndexError_, match="dimension"):
        load_index(settings.index_dir, model="fake-hash", dimension=384)


def test_a_failed_build_leaves_the_previous_index_serving(settings, fake_embedder, small_corpus):
    build_index(settings, fake_embedder, progress=False)
    before = (settings.index_dir / "manifest.json").read_bytes()

    class Exploding:
        name, dimension = "fake-hash", fake_embedder.dimension

        def encode(self, texts, batch_size=32, progress=False):
            raise RuntimeError("embedding failed half-way")

    (small_corpus / "new.md").write_text("Entirely new text that must be embedded afresh.", encoding="utf-8")
    with pytest.raises(RuntimeError, match="half-way"):
        build_index(settings, Exploding(), progress=False)
    assert (settings.index_dir / "manifest.json").read_bytes() == before
    assert len(load_index(settings.index_dir, model="fake-hash").passages) > 0
    assert not [p for p in settings.index_dir.parent.iterdir() if ".building-" in p.name]


def test_index_is_current_tracks_the_corpus(settings, fake_embedder, small_corpus):
    settings = settings.model_copy(update={"embedding_backend": "torch"})  # the fake embedder gives fp32 vectors
    assert not index_is_current(settings)
    build_index(settings, fake_embedder, progress=False)
    assert index_is_current(settings)
    (small_corpus / "notes.md").write_text("# Changed\n\nDifferent words now.", encoding="utf-8")
    assert not index_is_current(settings)


def test_an_index_built_with_other_stop_words_is_stale(settings, fake_embedder, small_corpus, monkeypatch):
    settings = settings.model_copy(update={"embedding_backend": "torch"})  # the fake embedder gives fp32 vectors
    build_index(settings, fake_embedder, progress=False)
    assert index_is_current(settings)
    monkeypatch.setattr("rsiqa.index.build.STOPWORDS", ["the", "a"])  # the keyword index would hold other tokens
    assert not index_is_current(settings)


def test_an_index_built_before_acronyms_were_recorded_is_stale(settings, fake_embedder, small_corpus, monkeypatch):
    import json

    import rsiqa.index.rows as rows

    settings = settings.model_copy(update={"embedding_backend": "torch"})  # the fake embedder gives fp32 vectors
    real_write = rows.write_rows

    def write_as_before(folder, *args, **kwargs):  # the catalog as rsiqa wrote it before session 7
        real_write(folder, *args, **kwargs)
        catalog = json.loads((folder / "catalog.json").read_text(encoding="utf-8"))
        del catalog["acronyms"]
        (folder / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")

    monkeypatch.setattr("rsiqa.index.store.write_rows", write_as_before)
    build_index(settings, fake_embedder, progress=False)
    assert "acronyms" not in load_index(settings.index_dir).catalog
    assert not index_is_current(settings)  # so `rsiqa build --if-stale` (and `make run`) rebuilds it
    monkeypatch.undo()
    build_index(settings, fake_embedder, progress=False, reuse_unchanged=False)  # (a real upgrade changes the code)
    assert index_is_current(settings)


def test_related_questions_are_stored_for_follow_ups(settings, fake_embedder):
    (settings.corpus_dir / "faq.txt").write_text(
        "The answer text, long enough to be a passage.\n\nRelated\n\n- Might an explosion never occur?\n", encoding="utf-8"
    )
    build_index(settings, fake_embedder, progress=False)
    assert load_index(settings.index_dir).manifest["questions"] == ["Might an explosion never occur?"]


def test_a_file_rewritten_while_the_build_reads_it_is_stale(settings, fake_embedder, small_corpus, monkeypatch):
    """An editor saving a file truncates it, then writes it: a build reading in between sees it empty.

    The index must then record what it read (an empty file), so that the next `--if-stale` rebuilds.
    """
    import rsiqa.ingest.loaders as loaders

    settings = settings.model_copy(update={"embedding_backend": "torch"})  # the fake embedder gives fp32 vectors
    real_read = loaders.read_file
    notes = small_corpus / "notes.md"
    content = notes.read_bytes()

    def read_while_saved(path, max_file_mb=loaders.DEFAULT_MAX_FILE_MB):
        if path.name != "notes.md":
            return real_read(path, max_file_mb)
        notes.write_bytes(b"")  # the save has truncated the file ...
        try:
            return real_read(path, max_file_mb)
        finally:
            notes.write_bytes(content)  # ... and then writes it whole

    monkeypatch.setattr(loaders, "read_file", read_while_saved)
    report = build_index(settings, fake_embedder, progress=False)
    monkeypatch.undo()
    assert report.skipped["notes.md"] == "empty file"
    assert notes.read_bytes() == content
    assert not index_is_current(settings)  # so `rsiqa build --if-stale` rebuilds
    build_index(settings, fake_embedder, progress=False)
    assert index_is_current(settings) and "notes.md" in load_index(settings.index_dir).manifest["documents"]
