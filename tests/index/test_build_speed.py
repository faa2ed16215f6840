"""Issue 14 section 2: a killed build resumes from its embedding journal; unchanged files are not parsed again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DEFAULT_CORPUS, RSIQA_BIN, cli_env

import rsiqa.ingest.loaders as loaders
from rsiqa.index.build import build_index
from rsiqa.index.buildcache import EmbeddingJournal, build_cache_dir
from rsiqa.index.store import load_index
from rsiqa.settings import Settings

NOTES = {f"note-{n}.md": f"# Note {n}\n\nA seed AI number {n} rewrites its own code. Skeptics say returns diminish "
                         f"for design {n}. Hardware bounds the speed of version {n}." for n in range(8)}


def write_notes(folder: Path) -> None:
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")


def test_an_unchanged_file_is_not_parsed_again(settings: Settings, fake_embedder, monkeypatch) -> None:
    write_notes(settings.corpus_dir)
    first = build_index(settings, fake_embedder, progress=False)
    assert first.parsed == len(NOTES)
    parsed: list[str] = []
    original = loaders.load_bytes
    monkeypatch.setattr(loaders, "load_bytes", lambda data, rel, *a: parsed.append(rel) or original(data, rel, *a))
    settings = settings.model_copy(update={"parse_workers": 1})  # parsing in this process, where the counter is
    second = build_index(settings, fake_embedder, progress=False)
    assert parsed == [] and second.parsed == 0 and second.passages == first.passages
    (settings.corpus_dir / "note-3.md").write_text("# Note 3\n\nRewritten: a compiler compiles itself once.",
                                                    encoding="utf-8")
    third = build_index(settings, fake_embedder, progress=False)
    assert parsed == ["note-3.md"] and third.parsed == 1
    texts = [p.text for p in load_index(settings.index_dir).passages]
    assert any("a compiler compiles itself once" in t for t in texts)
    assert not any("seed AI number 3 " in t for t in texts)


MERGED_PAGE = """<html><head><title>FAQ</title></head><body><main><h1 id="faq">FAQ</h1>
<section id="short"><h3>Is there a style guide?</h3><p>Yes, PEP 8.</p></section>
<section id="long"><h3>Why do I get an UnboundLocalError?</h3>
<p>""" + " ".join(["Assigning to a name inside a function makes it local to that function."] * 12) + """</p>
</section></main></body></html>"""


def test_a_cached_parse_keeps_where_each_merged_section_starts(settings: Settings, fake_embedder, monkeypatch) -> None:
    (settings.corpus_dir / "faq.html").write_text(MERGED_PAGE, encoding="utf-8")
    build_index(settings, fake_embedder, progress=False)
    first = [(p.text, p.source) for p in load_index(settings.index_dir).passages]
    for text, source in first:  # merged with the short answer before it, the long section still names its passages
        if "Assigning" in text:
            assert source.section == "Why do I get an UnboundLocalError?" and source.path == "faq.html"
            assert source.url == "faq.html#long"
    parsed: list[str] = []
    original = loaders.load_bytes
    monkeypatch.setattr(loaders, "load_bytes", lambda data, rel, *a: parsed.append(rel) or original(data, rel, *a))
    settings = settings.model_copy(update={"parse_workers": 1})
    (settings.index_dir / "passages.jsonl").unlink()  # rebuild from the cached parse
    build_index(settings, fake_embedder, progress=False)
    assert parsed == []
    assert [(p.text, p.source) for p in load_index(settings.index_dir).passages] == first


def test_parallel_parsing_gives_the_documents_of_a_sequential_one(settings: Settings, fake_embedder) -> None:
    write_notes(settings.corpus_dir)
    (settings.corpus_dir / "copy.md").write_text(NOTES["note-0.md"], encoding="utf-8")  # a duplicate
    (settings.corpus_dir / "empty.md").write_text("", encoding="utf-8")
    one = loaders.load_corpus(settings.corpus_dir, workers=1)
    two = loaders.load_corpus(settings.corpus_dir, workers=2)
    assert [d.path for d in two.documents] == [d.path for d in one.documents]
    assert [[b.paragraphs for b in d.blocks] for d in two.documents] == [[b.paragraphs for b in d.blocks] for d in one.documents]
    assert two.skipped == one.skipped and "duplicate" in two.skipped["note-0.md" if "note-0.md" in two.skipped else "copy.md"]
    assert two.fingerprints == one.fingerprints and two.hashes == one.hashes


def test_the_journal_keeps_whole_records_of_a_cut_file(tmp_path: Path) -> None:
    import numpy as np

    journal = EmbeddingJournal(tmp_path, "m", "fp32")
    journal.append([bytes([1]) * 20, bytes([2]) * 20], np.eye(2, 4, dtype=np.float32))
    journal.close()
    with journal.path.open("ab") as handle:
        handle.write(b"\x03" * 25)  # a record cut by a kill
    again = EmbeddingJournal(tmp_path, "m", "fp32")
    found = again.read()
    assert set(found) == {bytes([1]) * 20, bytes([2]) * 20} and (found[bytes([2]) * 20] == [0, 1, 0, 0]).all()
    again.append([bytes([4]) * 20], np.ones((1, 4), dtype=np.float32))  # appended after the last whole record
    again.close()
    assert len(EmbeddingJournal(tmp_path, "m", "fp32").read()) == 3
    assert EmbeddingJournal(tmp_path, "other model", "fp32").read() == {}


@pytest.mark.slow
def test_a_build_killed_mid_embedding_resumes_where_it_stopped(tmp_path: Path) -> None:
    """kill -9 a real `rsiqa build` (ONNX model) while it embeds; the next build embeds only what was not journaled."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for path in DEFAULT_CORPUS.iterdir():
        if path.is_file():
            (corpus / path.name).write_bytes(path.read_bytes())
    env = dict(cli_env(), RSIQA_BATCH_SIZE="2")  # 16 texts per embedding call: many calls to stop between
    journal = build_cache_dir(index)
    proc = subprocess.Popen([RSIQA_BIN, "build", "--quiet", "--corpus", str(corpus), "--index", str(index)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    record = 20 + 4 * 384
    while True:  # wait until a good share of the texts are journaled, then kill
        files = list(journal.glob("embeddings-*.f32")) if journal.exists() else []
        if files and (files[0].stat().st_size - 12) // record >= 300:
            break
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the build never journaled 300 vectors"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    journaled = (files[0].stat().st_size - 12) // record
    assert not (index / "manifest.json").exists()  # it never finished

    done = subprocess.run([RSIQA_BIN, "build", "--quiet", "--corpus", str(corpus), "--index", str(index)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    found = re.search(r"\((\d+) texts embedded, (\d+) reused, (\d+) of them embedded by a stopped build\)", done.stdout)
    assert found, done.stdout
    embedded, reused, resumed = map(int, found.groups())
    assert resumed == journaled  # every journaled vector was used
    fresh = subprocess.run([RSIQA_BIN, "build", "--quiet", "--corpus", str(corpus), "--index", str(tmp_path / "fresh")],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    unique = int(re.search(r"\((\d+) texts embedded", fresh.stdout).group(1))  # what an uninterrupted build embeds
    assert unique >= 1000 and embedded == unique - journaled  # only what the killed build had not journaled
    assert (load_index(index).vectors == load_index(tmp_path / "fresh").vectors).all()
    assert load_index(index).manifest["build"] == {"parsed_files": 0,  # parsed and cached by the killed build
                                                   "embedded": embedded, "reused": reused,
                                                   "resumed": resumed}
    assert not list(journal.glob("embeddings-*.f32"))  # emptied by the complete build


def test_pooled_spans_average_the_tokens_of_each_sentence() -> None:
    from rsiqa.index.build import sentence_spans_in
    from rsiqa.index.embedding import pool_spans

    context = "Title.\nFirst sentence here. Second one."
    spans = sentence_spans_in(context, ["First sentence here.", "Second one.", "Not in the text."])
    assert spans == [(7, 27), (28, 39), None]
    offsets = [(0, 0), (0, 5), (5, 6), (7, 12), (13, 21), (22, 26), (26, 27), (28, 34), (35, 38), (38, 39), (0, 0)]
    tokens = np.arange(len(offsets) * 2, dtype=np.float32).reshape(-1, 2) + 1
    first, second = pool_spans(tokens, offsets, [spans[0], spans[1]])
    expected = tokens[3:7].mean(axis=0)
    assert np.allclose(first, expected / np.linalg.norm(expected))
    assert np.allclose(second, tokens[7:10].mean(axis=0) / np.linalg.norm(tokens[7:10].mean(axis=0)))
    assert pool_spans(tokens[:5], offsets[:5], [spans[1]]) == [None]  # cut off by the length limit: embedded alone


@pytest.mark.slow
def test_sentence_pooling_embeds_one_pass_per_passage(tmp_path: Path) -> None:
    """With RSIQA_SENTENCE_POOLING the model runs once per passage: no sentence is embedded alone."""
    from rsiqa.index.embedding import embedder_for

    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", sentence_pooling=True,
                        model_cache_dir=Settings().model_cache_dir.resolve())
    settings.corpus_dir.mkdir()
    write_notes(settings.corpus_dir)
    embedder = embedder_for(settings)
    report = build_index(settings, embedder, progress=False)
    data = load_index(settings.index_dir)
    assert report.embedded == len(data.passages) + len(data.words)  # passages (one pass each) and the word table
    alone = embedder.encode([s for ss in data.sentences for s in ss])
    cosines = np.sum(alone * np.asarray(data.sentence_vectors), axis=1)
    assert cosines.min() > 0.5 and cosines.mean() > 0.8  # close to, not equal to, the sentences embedded alone
    assert cosines.max() < 0.9999


def test_a_rebuild_with_nothing_changed_leaves_the_verified_index_in_place(settings: Settings, fake_embedder,
                                                                           monkeypatch) -> None:
    import rsiqa.index.build as build

    write_notes(settings.corpus_dir)
    first = build_index(settings, fake_embedder, progress=False)
    manifest = (settings.index_dir / "manifest.json").read_bytes()
    parsed: list[str] = []
    original = loaders.load_bytes
    monkeypatch.setattr(loaders, "load_bytes", lambda data, rel, *a: parsed.append(rel) or original(data, rel, *a))
    again = build_index(settings, fake_embedder, progress=False)
    assert again.unchanged and again.embedded == 0 and again.reused == first.embedded + first.reused
    assert again.passages == first.passages and parsed == []
    assert (settings.index_dir / "manifest.json").read_bytes() == manifest  # not written again
    # A damaged file (its checksum differs) is rebuilt, not left in place.
    sentences = settings.index_dir / "sentences.jsonl"
    sentences.write_text(sentences.read_text(encoding="utf-8").replace("seed", "SEED"), encoding="utf-8")
    repaired = build_index(settings, fake_embedder, progress=False)
    assert not repaired.unchanged and load_index(settings.index_dir).passages
    # Another version of rsiqa's code builds again (its loaders or chunking may have changed).
    monkeypatch.setattr(build, "code_version", lambda: "another")
    assert not build_index(settings, fake_embedder, progress=False).unchanged
    assert build_index(settings, fake_embedder, progress=False).unchanged
    # So does a changed setting that shapes the index.
    assert not build_index(settings.model_copy(update={"chunk_max_words": 60}), fake_embedder, progress=False).unchanged


PARSE_DRIVER = r"""
import os, sys, time
from pathlib import Path
import rsiqa.ingest.loaders as loaders
marker = Path(sys.argv[2])
def slow(data, rel, *args):
    marker.write_text(str(os.getpid()))
    time.sleep(3600)
loaders.load_bytes = slow
loaders.load_corpus(Path(sys.argv[1]), workers=2)
"""


def test_parsing_workers_die_with_a_killed_build(tmp_path: Path) -> None:
    import sys

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_notes(corpus)
    marker = tmp_path / "worker-pid"
    proc = subprocess.Popen([sys.executable, "-c", PARSE_DRIVER, str(corpus), str(marker)])
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    worker = int(marker.read_text())
    assert worker != proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while True:  # the worker was parsing "for an hour": it must be gone, not orphaned
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a parsing worker outlived its killed build"
        time.sleep(0.05)
