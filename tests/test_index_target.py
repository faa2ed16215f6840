"""A build never deletes what is not an index: the real `rsiqa build` refuses, with one line, to replace a
folder holding other files, the corpus itself, or a folder overlapping the corpus; nothing is touched."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import FakeEmbedder, run_rsiqa

from rsiqa.build import build_index
from rsiqa.index import load_index
from rsiqa.index_target import IndexTargetError, check_replaceable
from rsiqa.settings import Settings

HINT = "(run with --debug for the full traceback)"
NOTE = "# Notes\n\nA seed AI rewrites its own source code, improving itself recursively.\n"


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(done, expected_start: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"Error: {expected_start}"), lines
    assert lines[1:] in ([], [HINT]) and "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "notes.md").write_text(NOTE, encoding="utf-8")
    return folder


def test_build_refuses_a_folder_holding_other_files(tmp_path: Path, corpus: Path) -> None:
    target = tmp_path / "d"
    target.mkdir()
    (target / "thesis.txt").write_text("precious\n", encoding="utf-8")
    done = run_rsiqa("build", "--corpus", str(corpus), "--index", str(target), cwd=tmp_path)
    refused(done, f"refusing to replace '{target}': it is not empty and holds no rsiqa index (it has 'thesis.txt')")
    assert tree(target) == {"thesis.txt": b"precious\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "d"]  # no temporary folder either


def test_build_refuses_the_corpus_as_its_index(tmp_path: Path, corpus: Path) -> None:
    before = tree(corpus)
    done = run_rsiqa("build", "--corpus", str(corpus), "--index", str(corpus), cwd=tmp_path)
    refused(done, f"the index folder '{corpus}' is the corpus folder")
    assert tree(corpus) == before


def test_build_refuses_overlapping_corpus_and_index(tmp_path: Path, corpus: Path) -> None:
    inside = corpus / "index"
    done = run_rsiqa("build", "--corpus", str(corpus), "--index", str(inside), cwd=tmp_path)
    refused(done, f"the index folder '{inside}' is inside the corpus folder '{corpus}'")
    assert not inside.exists()
    done = run_rsiqa("build", "--corpus", str(corpus), "--index", str(tmp_path), cwd=tmp_path)
    refused(done, f"the corpus folder '{corpus}' is inside the index folder '{tmp_path}'")
    assert tree(corpus) == {"notes.md": NOTE.encode()}


def test_a_file_beside_an_index_is_never_deleted(tmp_path: Path, corpus: Path) -> None:
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model=FakeEmbedder.name)
    build_index(settings, FakeEmbedder(), progress=False)
    (settings.index_dir / "my-notes.txt").write_text("mine", encoding="utf-8")
    before = tree(settings.index_dir)
    with pytest.raises(IndexTargetError, match="besides an rsiqa index it holds 'my-notes.txt'"):
        build_index(settings, FakeEmbedder(), progress=False)
    assert tree(settings.index_dir) == before
    done = run_rsiqa("build", "--corpus", str(corpus), "--index", str(settings.index_dir), cwd=tmp_path)
    refused(done, f"refusing to replace '{settings.index_dir}': besides an rsiqa index it holds 'my-notes.txt'")
    assert tree(settings.index_dir) == before


def test_a_foreign_manifest_or_a_file_is_not_an_index(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "manifest.json").write_text(json.dumps({"name": "my web app", "icons": []}), encoding="utf-8")
    with pytest.raises(IndexTargetError, match="holds no rsiqa index"):
        check_replaceable(web)
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(IndexTargetError, match="is a file, not a folder"):
        check_replaceable(tmp_path / "file")


def test_empty_folders_and_indexes_are_replaced(tmp_path: Path, corpus: Path) -> None:
    """A new folder, an empty one (a .gitkeep is kept) and a previous index, even a damaged one, are built into."""
    target = tmp_path / "index"
    target.mkdir()
    (target / ".gitkeep").write_bytes(b"")
    settings = Settings(corpus_dir=corpus, index_dir=target, model=FakeEmbedder.name)
    build_index(settings, FakeEmbedder(), progress=False)
    assert (target / ".gitkeep").exists() and load_index(target).passages
    (target / "manifest.json").write_text('{"format": 3, "mod', encoding="utf-8")  # damaged: still an index
    build_index(settings, FakeEmbedder(), progress=False)
    assert load_index(target).passages


def test_built_index_folder_gets_the_mode_of_a_new_folder(tmp_path: Path, corpus: Path) -> None:
    old = os.umask(0o022)
    try:
        (tmp_path / "plain").mkdir()
        build_index(Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model=FakeEmbedder.name),
                    FakeEmbedder(), progress=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "index").stat().st_mode) == 0o755
