"""A served index's BM25 vocabulary is held as arrays (rsiqa.index.vocabulary), answering as bm25s's dict did."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from rsiqa.index.build import build_index
from rsiqa.index.store import load_index, write_index
from rsiqa.index.vocabulary import Vocabulary
from rsiqa.search.retrieval import Retriever

WORDS = {"": 7, "zeta": 0, "alpha": 3, "émigré": 1, "a-b": 2, "123456": 4, "日本": 5, "alp": 6}


def test_the_vocabulary_answers_as_the_dict():
    vocab = Vocabulary(WORDS)
    assert len(vocab) == len(WORDS) and dict(vocab.items()) == WORDS and vocab == WORDS
    assert list(vocab) == list(vocab.sorted) == sorted(WORDS)  # sorted in Python's string order
    for token, i in WORDS.items():
        assert vocab[token] == i and token in vocab and vocab.get(token) == i
    for missing in ("alph", "alphaa", "zz", "emigre", 3, None):
        assert missing not in vocab and vocab.get(missing, -1) == -1
    with pytest.raises(KeyError):
        vocab["nope"]
    assert Vocabulary({}) == {} and list(Vocabulary({}).sorted) == []


def test_a_loaded_index_keeps_its_vocabulary_as_arrays_and_ranks_as_with_the_dict(settings, fake_embedder,
                                                                                    monkeypatch):
    (settings.corpus_dir / "a.md").write_text(
        "# Responses\n\nThe system responded to improvements and improvisation.\n\n"
        "Recursive self-improvement is a response to bottlenecks in 2017.\n", encoding="utf-8")
    (settings.corpus_dir / "b.md").write_text("# Go\n\nAlphaGo Zero learned from self-play in 2017.\n", encoding="utf-8")
    build_index(settings, fake_embedder, progress=False)
    assert type(load_index(settings.index_dir).bm25.vocab_dict) is dict  # a small vocabulary stays a dict
    monkeypatch.setattr("rsiqa.index.store.COMPACT_VOCABULARY", 1)  # as a large one is loaded
    data = load_index(settings.index_dir)
    saved = json.loads((settings.index_dir / "bm25.vocab.json").read_text(encoding="utf-8"))
    assert isinstance(data.bm25.vocab_dict, Vocabulary) and data.bm25.vocab_dict == saved
    assert set(data.bm25.unique_token_ids_set) == set(saved.values())
    plain = load_index(settings.index_dir)
    plain.bm25.vocab_dict = dict(saved)  # what bm25s loads
    plain.bm25.unique_token_ids_set = set(saved.values())
    arrays, dicts = Retriever(data, fake_embedder, settings), Retriever(plain, fake_embedder, settings)
    # "respond" is not a token but "respons" and "respond" are forms (the variant search reads the sorted tokens).
    for question in ("How did the system respond?", "self-improvement bottlenecks", "AlphaGo 2017", "unknown words"):
        got, got_evidence = arrays.search(question, k=3)
        expected, evidence = dicts.search(question, k=3)
        assert [asdict(h) for h in got] == [asdict(h) for h in expected]
        assert got_evidence == evidence
    # A loaded index written again saves the vocabulary bm25s reads.
    write_index(settings.index_dir, data)
    assert json.loads((settings.index_dir / "bm25.vocab.json").read_text(encoding="utf-8")) == saved
