"""The `rsiqa` command line, run as a user would run it."""

import json

import pytest
from conftest import run_rsiqa as rsiqa


def test_help_teaches_the_commands():
    out = rsiqa("--help").stdout
    for word in ("build", "ask", "eval", "serve", "RSIQA_"):
        assert word in out
    assert "--if-stale" in rsiqa("build", "--help").stdout
    assert "--json" in rsiqa("ask", "--help").stdout


@pytest.mark.slow
def test_ask_json_prints_the_rest_answer_object(real_index_dir):
    result = rsiqa("ask", "--json", "--index", str(real_index_dir), "-k", "3",
                   "Would an AGI need its full codebase to self-improve?")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert set(answer) >= {"question", "answer", "abstained", "citations", "followups"}
    assert len(answer["citations"]) == 3
    citation = next(c for c in answer["citations"] if "Stuart Armstrong posits" in c["text"])
    assert citation["source"]["kind"] == "faq_answer"
    assert set(citation) >= {"n", "text", "score", "chunk_id", "highlight", "source"}
    assert set(citation["source"]) >= {"title", "url", "section", "kind", "path"}


@pytest.mark.slow
def test_build_reports_and_skips_a_corrupt_pdf(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nRecursive self-improvement is contested by skeptics.", encoding="utf-8")
    (corpus / "bad.pdf").write_bytes(b"%PDF-1.7 garbage")
    result = rsiqa("build", "--quiet", "--corpus", str(corpus), "--index", str(tmp_path / "index"))
    assert result.returncode == 0, result.stderr
    assert "Indexed" in result.stdout and "bad.pdf:" in result.stdout
    again = rsiqa("build", "--if-stale", "--corpus", str(corpus), "--index", str(tmp_path / "index"))
    assert "up to date" in again.stdout
