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
def test_eval_chain_asks_the_follow_up_after_rsiqas_own_answer(real_index_dir, tmp_path):
    # The written answer points nowhere; rsiqa's own answer to "What did Chollet argue?" cites Chollet's line.
    row = {"id": "f", "question": "And why?", "gold": ["cannot achieve exponential progress in practice"],
           "history": [{"role": "user", "content": "What did Chollet argue?"},
                       {"role": "assistant", "content": "Something about cooking."}]}
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps(row) + "\n", encoding="utf-8")
    figures = {}
    for flag in ((), ("--chain",)):
        done = rsiqa("eval", *flag, "--json", "--index", str(real_index_dir), str(questions), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        figures[flag] = json.loads(done.stdout)
    assert figures[("--chain",)]["hit@1"] == 1.0 and figures[("--chain",)]["declined_in_scope"] == 0.0
    assert figures[()]["hit@1"] < 1.0  # with the written answer the same follow-up misses
    assert figures[("--chain",)]["page@1"] == 1.0  # the local index tells which pages hold the gold phrase
    hidden = rsiqa("eval", "--no-misses", "--index", str(real_index_dir), str(questions), cwd=tmp_path)
    assert hidden.returncode == 0, hidden.stderr
    assert "misses: 1 (not shown)" in hidden.stdout and "And why?" not in hidden.stdout  # a blind set's figures only


@pytest.mark.slow
def test_eval_judgements_report_how_the_first_citation_was_judged(real_index_dir, tmp_path):
    asked = rsiqa("ask", "--json", "--index", str(real_index_dir), "What is KANSI?")
    first = json.loads(asked.stdout)["citations"][0]["chunk_id"]
    questions, judged = tmp_path / "q.jsonl", tmp_path / "j.jsonl"
    questions.write_text(json.dumps({"id": "k", "question": "What is KANSI?", "gold": ["is KANSI"]}) + "\n",
                         encoding="utf-8")
    judged.write_text(json.dumps({"id": "k", "chunk_id": first, "label": "yes"}) + "\n", encoding="utf-8")
    done = rsiqa("eval", "--index", str(real_index_dir), "--judgements", str(judged), str(questions), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "judged: the first citation answers 1/1 (1.000)" in done.stdout
    assert "--judgements" in rsiqa("eval", "--help").stdout


def _one_note_corpus(tmp_path):
    """A corpus folder holding one short Markdown note; tests add the file they are about."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nRecursive self-improvement is contested by skeptics.", encoding="utf-8")
    return corpus

@pytest.mark.slow
def test_build_reports_and_skips_a_corrupt_pdf(tmp_path):
    corpus = _one_note_corpus(tmp_path)
    (corpus / "bad.pdf").write_bytes(b"%PDF-1.7 garbage")
    result = rsiqa("build", "--quiet", "--corpus", str(corpus), "--index", str(tmp_path / "index"))
    assert result.returncode == 0, result.stderr
    assert "Indexed" in result.stdout and "bad.pdf:" in result.stdout
    again = rsiqa("build", "--if-stale", "--corpus", str(corpus), "--index", str(tmp_path / "index"))
    assert "up to date" in again.stdout
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["embedding"]["precision"] == "fp32"  # stored vectors at the default index precision
    asked = rsiqa("ask", "--json", "--index", str(tmp_path / "index"), "Who contests recursive self-improvement?")
    assert asked.returncode == 0, asked.stderr  # int8 questions search the fp32 index
    assert json.loads(asked.stdout)["citations"][0]["source"]["path"] == "a.md"


ESCAPES = "\x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\x9b31m"


def _controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f]


@pytest.mark.slow
def test_ask_prints_no_escape_sequences_from_the_corpus(tmp_path, real_embedder):
    from rsiqa.index.build import build_index
    from rsiqa.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.html").write_text(
        f"<html><head><title>Seed AI {ESCAPES} notes</title></head><body><p>A seed AI rewrites its own source "
        f"code {ESCAPES} and improves itself recursively, some argue.</p></body></html>", encoding="utf-8")
    build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), real_embedder, progress=False)
    for extra in ((), ("--json",)):
        result = rsiqa("ask", *extra, "--index", str(tmp_path / "index"), "What does a seed AI rewrite?", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert _controls(result.stdout) == [], repr(result.stdout[:600])
        assert "Seed AI" in result.stdout and "rewrites its own source" in result.stdout
        if extra:  # JSON keeps the text, escaped (\u001b): the terminal shows it, never obeys it
            assert "\\u001b]0;pwned" in result.stdout and json.loads(result.stdout)["citations"]
        else:
            assert "pwned" not in result.stdout and "evil.example" not in result.stdout


@pytest.mark.slow
def test_build_lists_a_file_name_with_a_newline_on_one_line(tmp_path):
    corpus = _one_note_corpus(tmp_path)
    (corpus / "bad\nname\x1b[2J.pptx").write_bytes(b"PK\x03\x04")
    result = rsiqa("build", "--quiet", "--corpus", str(corpus), "--index", str(tmp_path / "index"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1:] == ["Skipped 1 file(s):", "  bad\\nname\\x1b[2J.pptx: unsupported file type '.pptx'"], lines


@pytest.mark.slow
def test_build_shows_each_file_and_skips_a_pdf_that_would_take_hours(tmp_path):
    from conftest import write_pdf_bomb

    corpus = _one_note_corpus(tmp_path)
    write_pdf_bomb(corpus / "bomb.pdf")  # 32,768 pages drawing one 200 KB stream: hours of pypdf without limits
    result = rsiqa("build", "--corpus", str(corpus), "--index", str(tmp_path / "index"), cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "  bomb.pdf: too many pages (32768 > max_pdf_pages 2000; raise RSIQA_MAX_PDF_PAGES to index it)" in \
        result.stdout.splitlines()
    assert "reading files" in result.stderr and "2/2" in result.stderr and "bomb.pdf" in result.stderr


def test_the_terminal_answer_keeps_urls_whole_and_names_the_author():
    from rsiqa.serve.cli import _render_answer

    url = "https://www.lesswrong.com/posts/gRp6FAWcQiCWkouN5/maze-solving-agents-add-a-top-right-vector-make-the-agent-go"
    source = {"title": "Field notes", "kind_label": "document", "section": None, "url": None, "path": "notes.md",
              "author": "Jane Doe", "date": "2024-05-01"}
    answer = {"answer": f"Humans already edit model weights: {url} [1]", "notice": None, "unsupported": [],
              "followups": [], "citations": [{"n": 1, "score": 1.5, "source": source,
                                              "text": f"Meanwhile we have humans already editing model weights: {url}"}]}
    shown = _render_answer(answer)
    assert shown.count(url) == 2  # in the answer and in the passage, each on one line
    assert "[1] Field notes (document) Jane Doe, 2024-05-01 score 1.500" in shown
