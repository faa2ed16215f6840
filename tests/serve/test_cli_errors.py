"""Issue 6.7, clear failures through the real `rsiqa` command: a missing index, an index from
another model, a missing or unreadable corpus folder. Each gives one `Error:` line saying what
to do, a non-zero exit code and no traceback; `--debug` shows the traceback."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import FakeEmbedder, run_rsiqa

from rsiqa.index.build import build_index
from rsiqa.settings import Settings

HINT = "(run with --debug for the full traceback)"



def rsiqa(*args: str, cwd: Path, preexec_fn=None) -> subprocess.CompletedProcess:
    """Run the installed `rsiqa` command in ``cwd``."""
    return run_rsiqa(*args, cwd=cwd, preexec_fn=preexec_fn)


def assert_one_line_error(done: subprocess.CompletedProcess, expected: str) -> None:
    """Exit 1, stdout empty, stderr is the error line (plus the --debug hint), no traceback."""
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines[0] == f"Error: {expected}"
    assert lines[1:] in ([], [HINT])
    assert "Traceback" not in done.stderr


def test_ask_without_an_index(tmp_path: Path) -> None:
    index = tmp_path / "no-index"
    done = rsiqa("ask", "--index", str(index), "What is recursive self-improvement?", cwd=tmp_path)
    assert_one_line_error(done, f"no index found in '{index}': run `rsiqa build --index {index}` first")


def test_ask_without_an_index_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    index = tmp_path / "no-index"
    done = rsiqa("--debug", "ask", "--index", str(index), "What is recursive self-improvement?", cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback (most recent call last)" in done.stderr
    assert f"no index found in '{index}': run `rsiqa build --index {index}` first" in done.stderr


def test_eval_without_an_index(tmp_path: Path) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "question": "What is KANSI?", "gold": ["KANSI"]}) + "\n")
    index = tmp_path / "no-index"
    done = rsiqa("eval", str(questions), "--index", str(index), cwd=tmp_path)
    assert_one_line_error(done, f"no index found in '{index}': run `rsiqa build --index {index}` first")


def test_ask_with_an_index_from_another_model(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model=FakeEmbedder.name)
    settings.corpus_dir.mkdir()
    (settings.corpus_dir / "a.md").write_text("Seed AI improves its own source code, some argue.", encoding="utf-8")
    build_index(settings, FakeEmbedder(), progress=False)
    done = rsiqa("ask", "--index", str(settings.index_dir), "What is seed AI?", cwd=tmp_path)
    assert_one_line_error(
        done,
        f"the index in '{settings.index_dir}' was built with model 'fake-hash', but rsiqa is set to "
        "'all-MiniLM-L6-v2': rebuild with `rsiqa build` or set RSIQA_MODEL=fake-hash",
    )


def test_ask_with_a_damaged_manifest(tmp_path: Path) -> None:
    index = tmp_path / "index"
    index.mkdir()
    (index / "manifest.json").write_text('{"format": 1, "model": "all-Mini', encoding="utf-8")
    done = rsiqa("ask", "--index", str(index), "What is seed AI?", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error: the index manifest in '{index}' is unreadable (")
    assert "rebuild with `rsiqa build`" in done.stderr.splitlines()[0]
    assert "Traceback" not in done.stderr


def test_build_with_a_missing_corpus_folder(tmp_path: Path) -> None:
    corpus = tmp_path / "no-corpus"
    done = rsiqa("build", "--corpus", str(corpus), "--index", str(tmp_path / "index"), cwd=tmp_path)
    assert_one_line_error(done, f"corpus folder not found: '{corpus}': create it or pass --corpus DIR")
    assert not (tmp_path / "index").exists()


def test_build_with_a_file_as_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "notes.txt"
    corpus.write_text("not a folder")
    done = rsiqa("build", "--corpus", str(corpus), "--index", str(tmp_path / "index"), cwd=tmp_path)
    assert_one_line_error(done, f"corpus path '{corpus}' is not a folder: pass --corpus DIR")


_libc = ctypes.CDLL(None, use_errno=True)


def _drop_dac_capabilities() -> None:
    """In the child: drop root's power to ignore file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    for capability in (1, 2):
        if _libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP; takes effect at exec
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_build_with_an_unreadable_corpus_folder(tmp_path: Path) -> None:
    preexec = None
    if os.geteuid() == 0:  # root reads anything: drop that power in the child
        if subprocess.run(["true"], preexec_fn=_drop_dac_capabilities).returncode != 0:  # noqa: PLW1509
            pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE here")
        preexec = _drop_dac_capabilities
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("Some text.", encoding="utf-8")
    corpus.chmod(0)
    try:
        done = rsiqa("build", "--corpus", str(corpus), "--index", str(tmp_path / "index"), cwd=tmp_path,
                     preexec_fn=preexec)
    finally:
        corpus.chmod(0o755)
    assert_one_line_error(
        done, f"cannot read corpus folder '{corpus}' (Permission denied): fix its permissions or pass --corpus DIR"
    )


@pytest.mark.slow
def test_build_with_nothing_usable_in_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    # --quiet: the build now shows a per-file "reading files" bar on stderr before it finds nothing to index
    done = rsiqa("build", "--quiet", "--corpus", str(corpus), "--index", str(tmp_path / "index"), cwd=tmp_path)
    assert_one_line_error(done, f"no text to index in '{corpus}' (skipped 2 file(s))")


def test_eval_against_a_server_that_is_not_there(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "question": "What is KANSI?", "gold": ["KANSI"]}) + "\n")
    url = f"http://127.0.0.1:{port}"
    done = rsiqa("eval", str(questions), "--url", url, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"Error: could not reach {url} (") and "is `rsiqa serve` running there?" in done.stderr


def test_feedback_export_of_a_missing_file_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "votes" / "feedback.sqlite3"
    done = rsiqa("feedback", "export", "--db", str(missing), cwd=tmp_path)
    assert_one_line_error(done, f"no feedback file at {missing}: no vote has been stored there (the chat page's "
                                "thumbs and POST /api/feedback write it; --db names another)")
    assert not missing.exists() and not missing.parent.exists()
