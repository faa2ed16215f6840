"""The embedding cache of `rsiqa build`: unchanged text is never embedded twice (issue 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsiqa.index.build import build_index, index_is_current
from rsiqa.index.embedding import LazyEmbedder
from rsiqa.index.store import IndexError_, check_precision, load_index
from rsiqa.settings import Settings

PARAGRAPHS = [
    ("Recursive self-improvement means a system that improves the process that improves it. "
     "Each round could make the next round faster, which is the intelligence explosion argument."),
    ("Skeptics answer that returns diminish. Hardware, data and experiments in the world do not "
     "speed up just because a program thinks faster about them."),
    ("A compiler that compiles itself is the classic small example. It gets faster once and then "
     "stops, because the machine it runs on bounds it."),
]


def write_corpus(folder: Path) -> None:
    (folder / "alpha.md").write_text("# Alpha\n\n" + "\n\n".join(PARAGRAPHS), encoding="utf-8")
    (folder / "beta.md").write_text(
        "# Beta\n\nTed Chiang compares AIs to compilers. A compiler does not improve its own design "
        "by compiling itself again, and neither, he argues, would an AI.\n\nKANSI stands for a known "
        "algorithm non-self-improving agent, a design that is deliberately bounded.", encoding="utf-8")


def passages_of(index_dir: Path, path: str) -> int:
    rows = [json.loads(line) for line in (index_dir / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
    sentences = [json.loads(line) for line in (index_dir / "sentences.jsonl").read_text(encoding="utf-8").splitlines()]
    return sum(1 + len(s) for row, s in zip(rows, sentences) if row["source"]["path"] == path)


def test_unchanged_corpus_embeds_nothing(settings: Settings, fake_embedder) -> None:
    write_corpus(settings.corpus_dir)
    first = build_index(settings, fake_embedder, progress=False)
    assert first.embedded > 0 and fake_embedder.calls == first.embedded
    vectors = load_index(settings.index_dir).vectors.copy()

    fake_embedder.calls = 0
    second = build_index(settings, fake_embedder, progress=False)
    assert fake_embedder.calls == 0
    assert second.embedded == 0
    assert second.reused == first.embedded + first.reused
    assert (load_index(settings.index_dir).vectors == vectors).all()


def test_one_changed_file_embeds_only_its_passages(settings: Settings, fake_embedder) -> None:
    write_corpus(settings.corpus_dir)
    build_index(settings, fake_embedder, progress=False)
    beta_before = passages_of(settings.index_dir, "beta.md")
    words_before = set(load_index(settings.index_dir).words)

    fake_embedder.calls = 0
    beta = settings.corpus_dir / "beta.md"
    beta.write_text(beta.read_text(encoding="utf-8") + "\n\nA new closing paragraph about bounded designs.",
                    encoding="utf-8")
    report = build_index(settings, fake_embedder, progress=False)
    beta_after = passages_of(settings.index_dir, "beta.md")
    assert 0 < report.embedded == fake_embedder.calls
    new_words = set(load_index(settings.index_dir).words) - words_before  # "new", "closing" join the word table
    assert new_words and report.embedded <= max(beta_before, beta_after) + len(new_words)  # nothing of alpha.md
    # The rebuilt index equals a build from scratch (cache hits return the same vectors).
    fresh = Settings(corpus_dir=settings.corpus_dir, index_dir=settings.index_dir.parent / "fresh", model=settings.model)
    build_index(fresh, type(fake_embedder)(), progress=False)
    rebuilt, scratch = load_index(settings.index_dir), load_index(fresh.index_dir)
    assert (scratch.vectors == rebuilt.vectors).all() and (scratch.word_vectors == rebuilt.word_vectors).all()


def test_an_index_of_the_previous_format_is_reused_and_only_the_word_table_embedded(settings: Settings, fake_embedder) -> None:
    write_corpus(settings.corpus_dir)
    build_index(settings, fake_embedder, progress=False)
    words = load_index(settings.index_dir).words
    manifest = json.loads((settings.index_dir / "manifest.json").read_text(encoding="utf-8"))
    (settings.index_dir / "manifest.json").write_text(json.dumps({**manifest, "format": 1}), encoding="utf-8")
    (settings.index_dir / "words.json").unlink()
    (settings.index_dir / "word_vectors.npy").unlink()
    with pytest.raises(IndexError_, match="old format"):
        load_index(settings.index_dir)  # never served

    fake_embedder.calls = 0
    report = build_index(settings, fake_embedder, progress=False)
    assert report.embedded == fake_embedder.calls == len(words) > 0
    assert load_index(settings.index_dir).words == words


def test_cache_is_keyed_by_model(settings: Settings, fake_embedder) -> None:
    write_corpus(settings.corpus_dir)
    first = build_index(settings, fake_embedder, progress=False)
    other = settings.model_copy(update={"model": "another-model"})
    fake_embedder.calls = 0
    report = build_index(other, fake_embedder, progress=False)
    assert report.embedded == first.embedded == fake_embedder.calls  # another model's vectors are never reused


class Int8Fake:
    """The fake embedder posing as an int8 one: its vectors must not be mixed with fp32 ones."""

    backend = "onnx"
    precision = "int8"

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension

    def encode(self, texts, batch_size=32, progress=False):
        return self.inner.encode(texts, batch_size, progress)


def test_precision_change_reembeds_and_is_recorded(settings: Settings, fake_embedder) -> None:
    write_corpus(settings.corpus_dir)
    first = build_index(settings, fake_embedder, progress=False)
    assert load_index(settings.index_dir).manifest["embedding"]["precision"] == "fp32"

    fake_embedder.calls = 0
    report = build_index(settings, Int8Fake(fake_embedder), progress=False)
    assert report.embedded == first.embedded == fake_embedder.calls  # nothing reused across precisions
    manifest = load_index(settings.index_dir).manifest
    assert manifest["embedding"]["precision"] == "int8-w7"  # the quantisation scheme, not just "int8"
    assert "7 bits" in manifest["embedding"]["quantization"]
    check_precision(manifest, settings.index_dir)  # searched by questions of either precision


def test_an_index_of_the_old_8_bit_quantisation_is_not_served_or_reused(settings: Settings, fake_embedder) -> None:
    """Indexes of earlier versions hold 8-bit int8 vectors ("int8"), which AVX2-only CPUs computed differently."""
    write_corpus(settings.corpus_dir)
    packaged = settings.model_copy(update={"model": "all-MiniLM-L6-v2", "embedding_backend": "onnx",
                                           "index_precision": "int8"})  # a model the ONNX backend runs
    build_index(packaged, Int8Fake(fake_embedder), progress=False)
    assert index_is_current(packaged)
    manifest_path = settings.index_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["embedding"] = {"backend": "onnx", "precision": "int8"}
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexError_, match="holds int8 vectors.*rebuild with `rsiqa build`$"):
        check_precision(manifest, settings.index_dir)
    assert not index_is_current(packaged)
    fake_embedder.calls = 0
    report = build_index(packaged, Int8Fake(fake_embedder), progress=False)
    assert report.reused == 0 and report.embedded == fake_embedder.calls > 0
    assert index_is_current(packaged)


def test_index_is_current_follows_precision(settings: Settings, fake_embedder) -> None:
    write_corpus(settings.corpus_dir)
    packaged = settings.model_copy(update={"model": "all-MiniLM-L6-v2"})  # a model the ONNX backend runs
    build_index(packaged, fake_embedder, progress=False)  # fp32 vectors (the fake's)
    as_fp32 = packaged.model_copy(update={"embedding_backend": "onnx", "index_precision": "fp32"})
    as_int8 = packaged.model_copy(update={"embedding_backend": "onnx", "index_precision": "int8"})
    as_torch = packaged.model_copy(update={"embedding_backend": "torch", "index_precision": "int8"})
    int8_questions = as_fp32.model_copy(update={"embedding_precision": "int8"})
    assert index_is_current(as_fp32)
    assert index_is_current(as_torch)  # torch ignores the ONNX precision: fp32
    assert index_is_current(int8_questions)  # the questions' precision is not the index's
    assert not index_is_current(as_int8)


def test_by_default_the_index_is_fp32_and_questions_int8() -> None:
    """fp32 stored vectors searched by int8 questions: torch's rankings at int8 question speed (docs/performance.md)."""
    from rsiqa.settings import index_settings

    defaults = Settings()
    assert (defaults.index_precision, defaults.embedding_precision) == ("fp32", "int8")
    assert index_settings(defaults).embedding_precision == "fp32"
    assert index_settings(defaults.model_copy(update={"index_precision": "int8"})).embedding_precision == "int8"


def test_models_the_onnx_backend_cannot_run_expect_fp32(settings: Settings) -> None:
    from rsiqa.index.embedding import expected_precision

    int8 = {"embedding_backend": "onnx", "embedding_precision": "int8"}
    assert expected_precision(settings.model_copy(update={"model": "all-MiniLM-L6-v2", **int8})) == "int8-w7"
    assert expected_precision(settings.model_copy(update={"model": "no-such-model", **int8})) == "fp32"  # torch fallback


def test_lazy_embedder_not_loaded_when_nothing_changes(settings: Settings, fake_embedder) -> None:
    write_corpus(settings.corpus_dir)
    build_index(settings, fake_embedder, progress=False)
    loads = []

    def load():
        loads.append(1)
        return fake_embedder

    lazy = LazyEmbedder(settings.model, "onnx", "fp32", load)
    report = build_index(settings, lazy, progress=False)
    assert report.embedded == 0 and not lazy.loaded and not loads
    assert load_index(settings.index_dir).manifest["dimension"] == fake_embedder.dimension

    (settings.corpus_dir / "gamma.md").write_text("# Gamma\n\nOne more file with new text in it.", encoding="utf-8")
    report = build_index(settings, lazy, progress=False)
    assert report.embedded > 0 and lazy.loaded and loads == [1]
