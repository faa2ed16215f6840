"""Index format 5: passages, sentences and sources read by row on demand (rsiqa.index.rows); a served
index reads no passage at start, its row tables are checked, its large files' checksums verified
before it answers, and an index of format 4 is refused for serving but still reused by a build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeEmbedder
from fastapi.testclient import TestClient

from rsiqa.index.build import build_index, index_is_current
from rsiqa.index.integrity import DATA_FILES_V4, folder_checksums
from rsiqa.index.rows import PassageRows, SentenceRows, chunk_id_of, chunk_key, run_starts
from rsiqa.index.store import FORMAT_VERSION, IndexData, IndexError_, load_index, write_index
from rsiqa.ingest.documents import Passage, Source
from rsiqa.search.conversation import quoted_passages
from rsiqa.search.engine import Engine
from rsiqa.search.followups import corpus_questions
from rsiqa.search.retrieval import Retriever
from rsiqa.serve.api import create_app, sources_of
from rsiqa.settings import Settings

POST = "https://example.org/posts/seed-ai"


def _passages() -> tuple[list[Passage], list[list[str]]]:
    """Passages of three documents: sources shared by several passages, a post with comments, identical passages,
    texts with quotes, backslashes, non-ASCII characters and a newline (as JSON escapes them)."""
    faq = Source(title="FAQ", path="faq.md", kind="faq_answer", section="Answer")
    post = Source(title="Seed AI", path="debate.txt", kind="linked_post", section="Excerpt", url=POST)
    comment = Source(title="Seed AI", path="debate.txt", kind="comment", section="Comments", url=POST, author="Ann")
    notes = Source(title="Notes", path="notes.md", kind="note", url="https://example.org/notes", date="2024-05-01")
    texts = [
        (faq, ["Would an AI need its whole code to improve itself?", "Not necessarily, says the FAQ."]),
        (faq, ["Gödel machines rewrite themselves “only after a proof”.", "A path C:\\seed\\ai is quoted."]),
        (post, ["A seed AI rewrites its own source code.", "Does each improvement get harder to find?"]),
        (comment, ["I think the returns diminish quickly.", "Line one\nline two of the comment."]),
        (comment, ["Hardware overhang could make a takeoff abrupt."]),
        (notes, ["Zebra crossings are not in this corpus's topic."]),
        (faq, ["Would an AI need its whole code to improve itself?", "Not necessarily, says the FAQ."]),  # same again
    ]
    return [Passage(text=" ".join(s), source=src) for src, s in texts], [s for _, s in texts]


def _write(folder: Path, passages: list[Passage], sentences: list[list[str]], fake: FakeEmbedder,
           questions: list[str] | None = None) -> IndexData:
    vectors = fake.encode([p.text for p in passages])
    sentence_vectors = fake.encode([s for ss in sentences for s in ss])
    manifest = {"format": FORMAT_VERSION, "model": fake.name, "dimension": fake.dimension, "passages": len(passages),
                "questions": questions or []}
    data = IndexData(manifest=manifest, passages=passages, vectors=vectors, sentences=sentences,
                     sentence_vectors=sentence_vectors, words=["seed", "takeoff"], word_vectors=fake.encode(["seed", "takeoff"]))
    write_index(folder, data)
    return data


def test_lazy_rows_equal_what_was_written(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    passages, sentences = _passages()
    written = _write(tmp_path / "index", passages, sentences, fake_embedder, questions=["What is a seed AI?"])
    data = load_index(tmp_path / "index")
    assert isinstance(data.passages, PassageRows) and isinstance(data.sentences, SentenceRows)
    assert len(data.passages) == len(passages) and len(data.sentences) == len(sentences)
    for row in range(len(passages)):
        assert data.passages[row] == passages[row] and data.passages[row].chunk_id == passages[row].chunk_id
        assert data.sentences[row] == sentences[row]
    assert data.passages[-1] == passages[-1] and data.passages[1:3] == passages[1:3] and list(data.passages) == passages
    with pytest.raises(IndexError):
        data.passages[len(passages)]
    # Sources once per distinct source, shared by the rows that have it.
    sources, per_row = data.distinct_sources()
    assert sources == list(dict.fromkeys(p.source for p in passages)) and len(sources) == 4
    assert [sources[i] for i in per_row] == [p.source for p in passages]
    assert data.passages[0].source is data.passages[1].source
    assert (tmp_path / "index" / "sources.jsonl").read_text(encoding="utf-8").count("\n") == 4
    # Per-row figures from the row table equal those counted from the passages in memory.
    assert data.sentence_counts.tolist() == [len(s) for s in sentences] == written.sentence_counts.tolist()
    assert data.sentence_starts.tolist() == written.sentence_starts.tolist()
    assert data.sentence_owner.tolist() == written.sentence_owner.tolist()
    assert data.kinds.tolist() == [p.source.kind for p in passages]
    assert data.url_kinds == written.url_kinds == {(POST, "linked_post"), (POST, "comment")}
    row_of = data.row_of
    for p in passages:
        assert row_of[p.chunk_id] == written.row_of[p.chunk_id]  # identical passages: the last row, as a dict
    assert row_of[passages[0].chunk_id] == 6 and "0123456789abcdef" not in row_of and "no id" not in row_of
    assert [chunk_id_of(k) for k in data.chunk_numbers] == [p.chunk_id for p in passages]
    assert chunk_key("ffffffffffffffff") == -1 and chunk_id_of(-1) == "ffffffffffffffff"
    # The questions for follow-ups, found by the build, are those found in memory.
    assert corpus_questions(data) == corpus_questions(written)
    assert [q.text for q in corpus_questions(data)][:2] == ["What is a seed AI?", "Does each improvement get harder to find?"]
    # Quoted passages found by a byte search of the file, as by a pass over the passages.
    for answer in ["Gödel machines rewrite themselves “only after a proof”.", "A path C:\\seed\\ai is quoted.",
                   "A comment replies: Line one\nline two of the comment.", "Not necessarily, says the FAQ.",
                   "Nothing here is quoted from the corpus at all."]:
        assert quoted_passages(answer, data.passages) == quoted_passages(answer, passages)


def test_retrieval_on_lazy_rows_equals_retrieval_in_memory(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    passages, sentences = _passages()
    _write(tmp_path / "index", passages, sentences, fake_embedder)
    data = load_index(tmp_path / "index")
    memory = IndexData(manifest=data.manifest, passages=list(data.passages), vectors=np.array(data.vectors),
                       sentences=list(data.sentences), sentence_vectors=np.array(data.sentence_vectors),
                       words=data.words, word_vectors=data.word_vectors)
    settings = Settings(candidates=5)  # fewer candidates than passages (7): the candidate path too
    for s in (Settings(), settings):
        lazy, eager = Retriever(data, fake_embedder, s), Retriever(memory, fake_embedder, s)
        assert lazy._kinds.tolist() == eager._kinds.tolist() and lazy._lengths.tolist() == eager._lengths.tolist()
        for question in ["seed AI source code", "does the comment think returns diminish?", "hardware takeoff", "zebra"]:
            assert lazy.search(question, 5) == eager.search(question, 5)


@pytest.fixture
def built(settings: Settings, fake_embedder: FakeEmbedder) -> Settings:
    for i in range(40):
        (settings.corpus_dir / f"note{i:02d}.md").write_text(
            f"# Note {i}\n\nA seed AI number {i} rewrites its own code. Does improvement {i} get harder? "
            f"Hardware overhang {i} could make a takeoff abrupt.", encoding="utf-8")
    settings = settings.model_copy(update={"embedding_backend": "torch", "abstain_threshold": 0.0,
                                           "reload_check_seconds": 0.0, "reload_token": "t"})
    build_index(settings, fake_embedder, progress=False)
    return settings


def test_a_start_reads_no_passage_and_an_answer_reads_a_few(built: Settings, fake_embedder: FakeEmbedder) -> None:
    engine = Engine(built, embedder=fake_embedder, defer_checksums=True)
    data = engine.data
    n = len(data.passages)
    assert n >= 40 and data.passages.reads == 0 and data.sentences.reads == 0  # nothing parsed at start
    client = TestClient(create_app(built, engine, chat_page=False))
    assert client.get("/api/health").json()["passages"] == n
    answer = client.post("/api/query", json={"question": "Does improvement 7 get harder?"}).json()
    assert answer["citations"]
    assert 0 < data.passages.reads < n / 2 and data.sentences.reads < n / 2, (data.passages.reads, data.sentences.reads)
    reads = data.passages.reads
    sources = client.get("/api/sources").json()  # counted from the row table: no passage read
    assert data.passages.reads == reads and sources["count"] == 40 and sum(s["passages"] for s in sources["sources"]) == n
    # Whether the material is a manual (rsiqa.search.query.shows_workings) was measured by the build, not here.
    assert data.catalog["shows_workings"] is False and not data.shows_workings and data.passages.reads == reads


def test_an_index_without_the_manual_measure_measures_it_once(built: Settings) -> None:
    data = load_index(built.index_dir, defer_checksums=True)
    data.catalog = {k: v for k, v in data.catalog.items() if k != "shows_workings"}  # as a build before it recorded it
    assert data.shows_workings is False and 0 < data.passages.reads <= 400
    reads = data.passages.reads
    assert data.shows_workings is False and data.passages.reads == reads  # measured once


def _flip_byte(path: Path, at: int) -> None:
    """Change one byte of ``path`` in a new file renamed over it (same size: only a checksum can tell)."""
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0x01
    path.with_suffix(".tmp").write_bytes(bytes(raw))
    os.replace(path.with_suffix(".tmp"), path)


def test_a_large_file_damaged_is_found_before_the_first_answer(built: Settings, fake_embedder: FakeEmbedder) -> None:
    _flip_byte(built.index_dir / "sentences.jsonl", 5)
    with pytest.raises(IndexError_, match=r"sentences.jsonl is not the file the build wrote.*rebuild with `rsiqa build`"):
        load_index(built.index_dir)  # a full check (builds, reloads, the CLI)
    data = load_index(built.index_dir, defer_checksums=True)  # a server's first load: the check runs behind
    with pytest.raises(IndexError_, match=r"sentences.jsonl is not the file the build wrote.*rebuild"):
        data.pending_check.wait()
    engine = Engine(built, embedder=fake_embedder, defer_checksums=True)
    client = TestClient(create_app(built, engine, chat_page=False))
    assert client.get("/api/health").status_code == 200
    for _ in range(2):  # refused at every question, never answered
        response = client.post("/api/query", json={"question": "Does improvement 7 get harder?"})
        assert response.status_code == 503 and "rebuild with `rsiqa build`" in response.json()["detail"], response.text
    with pytest.raises(IndexError_):
        sources_of(engine)
    build_index(built, fake_embedder, progress=False)  # the rebuild is served (hot reload)
    response = client.post("/api/query", json={"question": "Does improvement 7 get harder?"})
    assert response.status_code == 200 and response.json()["citations"]


def _resave(path: Path, array: np.ndarray) -> None:
    np.save(path.with_suffix(".tmp.npy"), array)
    os.replace(path.with_suffix(".tmp.npy"), path)


def _damage_rows(index_dir: Path, how: str) -> None:
    if how == "rows-shifted":
        table = np.load(index_dir / "rows.npy")
        table[1:, 0] += 3  # passage lines starting mid-line
        _resave(index_dir / "rows.npy", table)
    elif how == "rows-short":
        _resave(index_dir / "rows.npy", np.load(index_dir / "rows.npy")[:-1])
    elif how == "rows-source-out-of-range":
        table = np.load(index_dir / "rows.npy")
        table[0, 2] = 10_000
        _resave(index_dir / "rows.npy", table)
    elif how == "source-offsets":
        _resave(index_dir / "source_offsets.npy", np.load(index_dir / "source_offsets.npy")[::-1].copy())
    elif how == "catalog-columns":
        catalog = json.loads((index_dir / "catalog.json").read_text(encoding="utf-8"))
        catalog["columns"] = catalog["columns"][::-1]
        (index_dir / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    elif how == "sources-missing":
        (index_dir / "sources.jsonl").unlink()
    else:
        raise AssertionError(how)


ROW_DAMAGES = ["rows-shifted", "rows-short", "rows-source-out-of-range", "source-offsets", "catalog-columns",
               "sources-missing"]


@pytest.mark.parametrize("how", ROW_DAMAGES)
@pytest.mark.parametrize("checksums", ["as built", "rewritten"])
def test_damaged_row_tables_are_refused(built: Settings, fake_embedder: FakeEmbedder, how: str, checksums: str) -> None:
    """Refused by the checksums; and, with checksums that match the damaged files (an edited manifest), by the
    checks of the tables themselves."""
    _damage_rows(built.index_dir, how)
    if checksums == "rewritten" and how != "sources-missing":
        manifest = json.loads((built.index_dir / "manifest.json").read_text(encoding="utf-8"))
        manifest["files"] = folder_checksums(built.index_dir)
        (built.index_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexError_, match=r"rebuild with `rsiqa build`"):
        load_index(built.index_dir, model=built.model)
    with pytest.raises(IndexError_, match=r"rebuild with `rsiqa build`"):
        load_index(built.index_dir, model=built.model, defer_checksums=True)  # small files: checked before loading
    assert not index_is_current(built)
    build_index(built, fake_embedder, progress=False)
    assert index_is_current(built) and len(load_index(built.index_dir).passages) == 40


def test_a_format_4_index_is_refused_for_serving_and_its_vectors_reused(built: Settings, fake_embedder: FakeEmbedder,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A format-4 folder (the same files without the row tables) is what the previous version wrote."""
    folder = built.index_dir
    for name in ("sources.jsonl", "source_offsets.npy", "rows.npy", "catalog.json"):
        (folder / name).unlink()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["format"] = 4
    manifest["files"] = {name: entry for name, entry in manifest["files"].items() if name in DATA_FILES_V4}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexError_, match=r"old format: rebuild with `rsiqa build`"):
        load_index(folder)
    with pytest.raises(IndexError_, match=r"old format: rebuild"):
        Engine(built, embedder=fake_embedder)
    old = load_index(folder, formats=(4,))  # what the build's embedding cache reads
    assert isinstance(old.passages, list) and len(old.passages) == 40
    report = build_index(built, fake_embedder, progress=False)
    assert report.embedded == 0 and report.reused > 0 and not report.unchanged  # every vector from the format-4 index
    assert load_index(folder).manifest["format"] == FORMAT_VERSION


# --- memory: what a served index holds per passage ----------------------------------------------------
WORDS = ("seed", "takeoff", "overhang", "returns", "compiler", "proof", "agent", "goal", "drift", "skeptic", "kansi",
         "hardware", "software", "explosion", "bounded", "rewrite", "design", "improve", "harder", "abrupt")


def _synthetic_folder(folder: Path, n: int, fake: FakeEmbedder, milvus: bool = False) -> None:
    """``n`` passages of ``WORDS`` (a fixed vocabulary: only the rows grow), each with a source of its own (the
    worst case for the sources table), about 3 sentences each, random unit vectors."""
    rng = np.random.default_rng(n)
    passages, sentences = [], []
    for row in range(n):
        spans = [" ".join(rng.choice(WORDS, 8)) + "." for _ in range(1 + row % 5)]
        source = Source(title="Notes", path=f"d{row // 10}.md", section="Part", kind="document",
                        url=f"https://example.org/d{row // 10}#part-{row}")  # no number in the indexed text
        passages.append(Passage(text=" ".join(spans), source=source))
        sentences.append(spans)

    def unit(rows: int) -> np.ndarray:
        x = rng.standard_normal((rows, fake.dimension)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    manifest = {"format": FORMAT_VERSION, "model": fake.name, "dimension": fake.dimension, "passages": n}
    if milvus:
        manifest["milvus"] = {"passages": "rsiqa_passages_test", "sentences": "rsiqa_sentences_test"}
    write_index(folder, IndexData(manifest=manifest, passages=passages, vectors=unit(n), sentences=sentences,
                                  sentence_vectors=unit(sum(len(s) for s in sentences)), words=list(WORDS),
                                  word_vectors=fake.encode(list(WORDS))))


class _NoMilvus:
    """A Milvus client for loading only: collections load, nothing is searched."""

    def load_collection(self, name: str) -> None:
        pass


def _held_bytes(load) -> int:
    """Python-allocated bytes (NumPy arrays included) still held after ``load()``, whose result is kept."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = load()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del kept
    return held


@pytest.mark.parametrize("store", ["faiss", "milvus"])
def test_a_served_index_holds_under_100_bytes_per_passage(tmp_path: Path, fake_embedder: FakeEmbedder, store: str) -> None:
    """Loading an index and its retriever holds fixed-width arrays per passage, no object per passage: the
    memory grows by under 100 bytes per added passage (before format 5: well over 1 KB, texts and objects)."""
    from rsiqa.index.stores.milvus import load_milvus_index

    settings = Settings(model=fake_embedder.name, store=store)
    held = {}
    for n in (2_000, 8_000):
        folder = tmp_path / f"index-{n}"
        _synthetic_folder(folder, n, fake_embedder, milvus=store == "milvus")
        if store == "milvus":
            def load():
                data, vectors = load_milvus_index(folder, settings, client=_NoMilvus())
                return data, Retriever(data, fake_embedder, settings, vectors)
        else:
            def load():
                data = load_index(folder)
                return data, Retriever(data, fake_embedder, settings)
        held[n] = _held_bytes(load)
    per_passage = (held[8_000] - held[2_000]) / 6_000
    assert per_passage < 100, (held, per_passage)


def test_run_starts_lays_runs_end_to_end():
    assert run_starts(np.array([3, 0, 2, 1])).tolist() == [0, 3, 3, 5]
    assert run_starts(np.array([4])).tolist() == [0]
    assert run_starts(np.zeros(0, dtype=np.int64)).tolist() == []


def test_the_build_records_the_corpus_acronyms(tmp_path: Path, fake_embedder: FakeEmbedder) -> None:
    source = Source(title="FAQ", path="faq.md", kind="faq_answer")
    sentences = [["Recursive self-improvement (RSI) drives takeoff.", "Is recursive self-improvement possible?"],
                 ["Nothing else here."]]
    passages = [Passage(text=" ".join(s), source=source) for s in sentences]
    written = _write(tmp_path / "index", passages, sentences, fake_embedder)
    assert written.acronyms == {"rsi": "recursive self improvement"}  # in memory: found from the passages
    catalog_path = tmp_path / "index" / "catalog.json"
    assert json.loads(catalog_path.read_text(encoding="utf-8"))["acronyms"] == written.acronyms
    assert load_index(tmp_path / "index").acronyms == written.acronyms  # served: read from the catalog
    older = load_index(tmp_path / "index")
    del older.catalog["acronyms"]  # an index built before acronyms were recorded: none
    assert older.acronyms == {}
