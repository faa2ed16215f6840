"""Query expansion: the word table, neighbours by cosine, their weights, and the real model's neighbours."""

import numpy as np
import pytest

from rsiqa.ingest.documents import passage_context
from rsiqa.search.expansion import WordExpander, corpus_words
from rsiqa.search.lexical import stem


def test_the_word_table_keeps_one_spelling_per_token_and_the_most_widespread_tokens():
    texts = ["Improvements and improvement.", "More improvements, danger.", "Improvements: a danger!", "Rare words."]
    assert corpus_words(texts, limit=10) == ["danger", "improvements", "rare", "words"]
    assert corpus_words(texts, limit=2) == ["danger", "improvements"]  # in 3 and 2 texts; "rare" in one
    assert corpus_words(["AI and Go, 2023."], limit=10) == []  # two-letter words and numbers get no vector


class TableEmbedder:
    """Embeds single words from a fixed table (unknown words: a vector far from all), counting calls."""

    dimension = 3

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = {w: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for w, v in table.items()}
        self.encoded: list[str] = []

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        self.encoded += texts
        return np.stack([self.table.get(t, np.asarray([0.0, 0.0, 1.0], dtype=np.float32)) for t in texts])


@pytest.fixture
def expander():
    table = {"danger": [1.0, 0.1, 0.0], "hazard": [1.0, 0.3, 0.0], "cooking": [0.0, 1.0, 0.0],
             "peril": [1.0, 0.2, 0.0], "risk": [1.0, 0.15, 0.0]}
    words = ["cooking", "danger", "hazard"]  # the corpus's words
    embedder = TableEmbedder(table)
    return WordExpander(words, embedder.encode(words), embedder, similarity=0.95, weight=0.5), embedder


def test_words_near_in_meaning_join_the_query_with_a_lower_weight(expander):
    expander, embedder = expander
    embedder.encoded.clear()
    found = expander.expand("What is the peril of cooking?")
    cosine = float(embedder.table["peril"] @ embedder.table["danger"])
    assert set(found) == set(stem(["danger", "hazard"]))  # not "cooking": the question's own word
    assert found[stem(["danger"])[0]] == pytest.approx(0.5 * cosine)
    assert embedder.encoded == ["peril"]  # "cooking" is in the table; only the corpus's missing word is embedded


def test_embedded_words_are_cached_and_excluded_tokens_left_out(expander):
    expander, embedder = expander
    expander.expand("risk")
    embedder.encoded.clear()
    assert set(expander.expand("risk", exclude=stem(["hazard"]))) == set(stem(["danger"]))
    assert embedder.encoded == []


def test_each_word_brings_at_most_its_closest_neighbours(expander):
    expander, embedder = expander
    expander.neighbours = 1
    assert set(expander.expand("risk")) == set(stem(["danger"]))  # closer to "risk" than "hazard" is


def test_far_words_and_a_zero_weight_expand_to_nothing(expander):
    expander, embedder = expander
    assert expander.expand("cooking") == {}
    assert expander.expand("zzzz") == {}
    assert WordExpander(["danger"], embedder.encode(["danger"]), embedder, 0.5, weight=0.0).expand("peril") == {}


@pytest.mark.slow
def test_the_packaged_model_finds_synonyms_in_the_default_corpus(real_engine):
    expanded = real_engine._state.retriever._expander.expand("What is the risk if it goes on forever?")
    assert {"danger", "indefinit"} <= set(expanded)
    assert all(0 < w < 1 for w in expanded.values())


@pytest.mark.slow
def test_bm25_scores_passages_that_only_share_a_synonym(real_engine):
    retriever = real_engine._state.retriever
    scores = retriever._bm25_scores("Is there a risk?")
    texts = [passage_context(p).lower() for p in retriever.data.passages]
    synonym_only = [i for i, t in enumerate(texts) if "danger" in t and "risk" not in t]
    assert synonym_only and all(scores[i] > 0 for i in synonym_only)
    weight = retriever._expander.weight
    try:
        retriever._expander.weight = 0.0
        assert not retriever._bm25_scores("Is there a risk?")[synonym_only].any()  # found by expansion alone
    finally:
        retriever._expander.weight = weight


def test_a_huge_history_costs_a_bounded_number_of_embeddings(tmp_path) -> None:
    """A last user turn of 20,000 characters of unknown words once cost ~2,700 word embeddings (22 s with
    the real model); the words expanded and the context words are capped, whatever the history."""
    import random
    import string

    from conftest import FakeEmbedder

    from rsiqa.index.build import build_index
    from rsiqa.search.engine import Engine
    from rsiqa.settings import Settings

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.md").write_text(
        "# Notes\n\nA seed AI rewrites its own source code, improving itself recursively. Skeptics doubt it.\n",
        encoding="utf-8")
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model=FakeEmbedder.name)
    embedder = FakeEmbedder()
    build_index(settings, embedder, progress=False)
    engine = Engine(settings, embedder=embedder)
    rng = random.Random(7)
    words = " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(3000))[:20_000]
    history = [{"role": "user", "content": words}, {"role": "assistant", "content": "Not covered."}]
    question = " ".join(words.split()[-400:])[:2000]  # a long question of unknown words too
    engine.ask("What is a seed AI?")  # the first question on an index also asks the calibration's probes, once
    before = embedder.calls
    engine.ask(question, 5, history)
    cost = embedder.calls - before
    # At most four query texts (the question, its ask, the question in context, the previous exchange), each
    # expanded with at most the cap of words, and the cap again for the words the abstention looks up.
    assert cost <= 4 + 5 * settings.max_expansion_words, cost
    assert settings.max_expansion_words == 24 and settings.max_context_words == 64
