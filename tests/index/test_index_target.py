"""A build never deletes what is not an index: the real `rsiqa build` refuses, with one line, to replace a
folder holding other files, the corpus itself, or a folder overlapping the corpus; nothing is touched."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import FakeEmbedder, run_rsiqa

from rsiqa.index.build import build_index
from rsiqa.index.store import load_index
from rsiqa.index.target import IndexTargetError, check_replaceable
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


# --- a mount point, a full disk (root only: a real tmpfs) ----------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A factory of small tmpfs mounts under ``tmp_path`` (skips where mounting is not allowed)."""
    import subprocess

    mounted: list[Path] = []

    def mount(name: str, size: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                                               capture_output=True).returncode != 0:
            pytest.skip("needs root to mount a tmpfs")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_a_mount_point_as_index_folder_is_refused_with_what_to_do(tmp_path: Path, corpus: Path, tmpfs) -> None:
    point = tmpfs("mnt", "8m")
    done = run_rsiqa("build", "--corpus", str(corpus), "--index", str(point), cwd=tmp_path)
    refused(done, f"the index folder '{point}' is a mount point, which a build cannot swap for the new index: "
                  f"pass a folder inside it, e.g. --index {point / 'index'}")
    assert os.listdir(point) == []
    settings = Settings(corpus_dir=corpus, index_dir=point / "index", model=FakeEmbedder.name)
    build_index(settings, FakeEmbedder(), progress=False)  # what the message says to do works
    assert load_index(point / "index").passages


def test_numpy_and_faiss_short_writes_are_recognised_as_a_full_disk(tmp_path: Path, tmpfs) -> None:
    import faiss
    import numpy as np

    from rsiqa.index.target import is_disk_full

    point = tmpfs("small", "64k")
    with pytest.raises(OSError) as numpy_error:
        np.save(point / "big.npy", np.zeros((100, 384), dtype=np.float32))
    assert is_disk_full(numpy_error.value, point), numpy_error.value  # "153600 requested and 61312 written"
    with pytest.raises(RuntimeError) as faiss_error:
        index = faiss.IndexFlatIP(384)
        index.add(np.ones((200, 384), dtype=np.float32))
        faiss.write_index(index, str(point / "index.faiss"))
    assert is_disk_full(faiss_error.value, point)
    assert not is_disk_full(PermissionError(13, "Permission denied"), point)


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_previous_index_is_kept(tmp_path: Path, tmpfs) -> None:
    from conftest import DEFAULT_CORPUS

    point = tmpfs("disk", "300k")
    small = tmp_path / "small-corpus"
    small.mkdir()
    (small / "notes.md").write_text(NOTE, encoding="utf-8")
    done = run_rsiqa("build", "--quiet", "--corpus", str(small), "--index", str(point / "index"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    before = tree(point / "index")
    done = run_rsiqa("build", "--quiet", "--corpus", str(DEFAULT_CORPUS), "--index", str(point / "index"), cwd=tmp_path)
    refused(done, f"not enough disk space in '{point}' for the index (it needs about ")
    assert "free some space or pass --index on another disk; the previous index is unchanged" in done.stderr
    assert tree(point / "index") == before
    # No half-written folder left; the build cache beside the index (parsed files, the vectors a
    # resumed build would reuse) may stay: it is what makes the next attempt cheaper.
    assert sorted(n for n in os.listdir(point) if n != ".index-cache") == ["index"]
