"""Issue 6.2, crash-safe rebuild: SIGKILL at any point of `rsiqa build` leaves the previous index
intact and servable, the next build succeeds, and no half-written file is ever loaded."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DEFAULT_CORPUS, FakeEmbedder, cli_env

from rsiqa.index import store as index_module
from rsiqa.index.build import build_index, corpus_fingerprint
from rsiqa.search.engine import Engine
from rsiqa.index.store import MANIFEST, IndexError_, clean_leftovers, load_index, read_manifest, write_index
from rsiqa.settings import Settings

TESTS = Path(__file__).resolve().parents[1]

V1 = {"old.md": "# Old notes\n\nThe previous index talks about the orthogonality thesis and goal content integrity."}
V2 = {
    "old.md": "# Old notes\n\nThe rewritten notes now discuss hardware overhang instead.",
    **{f"new-{n}.md": f"# New file {n}\n\nFresh material number {n} about takeoff speeds and recursive "
                      f"improvement of algorithms, variant {n}. Another sentence about compute {n}."
       for n in range(12)},
}


def write_corpus(folder: Path, files: dict[str, str]) -> None:
    """Make ``folder`` hold exactly ``files``."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def snapshot(index_dir: Path) -> dict[str, str]:
    """Every file of an index folder and the hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(index_dir.iterdir())}


def leftovers(index_dir: Path) -> list[str]:
    """Temporary folders of builds beside ``index_dir``."""
    return sorted(p.name for p in index_dir.parent.iterdir() if p.name.startswith(f".{index_dir.name}."))


def fake_settings(tmp_path: Path) -> Settings:
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model=FakeEmbedder.name,
                    batch_size=4, abstain_threshold=0.0)


def assert_servable(settings: Settings, expected_path: str, question: str) -> None:
    """The index loads in an engine, which answers citing ``expected_path``."""
    answer = Engine(settings, embedder=FakeEmbedder()).ask(question)
    assert answer.citations, answer
    assert answer.citations[0].source.path == expected_path


# A build in a child process with the fake embedder, stopped forever at a chosen point.
DRIVER = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from conftest import FakeEmbedder
import rsiqa.index.store as index_module
import rsiqa.ingest.loaders as loaders
from rsiqa.index.build import build_index
from rsiqa.settings import Settings

corpus, index_dir, point, marker = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[5])

def stop_at_call(owner, name, number):
    original, calls = getattr(owner, name), [0]
    def wrapper(*args, **kwargs):
        calls[0] += 1
        if calls[0] == number:
            marker.write_text(point)
            time.sleep(3600)
        return original(*args, **kwargs)
    setattr(owner, name, wrapper)

class SlowEmbedder(FakeEmbedder):
    def encode(self, texts, batch_size=32, progress=False):
        time.sleep(float(sys.argv[6]) if len(sys.argv) > 6 else 0.0)
        return super().encode(texts, batch_size, progress)

{
    "loading": lambda: stop_at_call(loaders, "load_bytes", 2),             # second corpus file
    "embedding": lambda: stop_at_call(FakeEmbedder, "encode", 2),          # second batch
    "writing": lambda: stop_at_call(index_module.faiss, "write_index", 1),  # texts, tables, vectors written; not the rest
    "before-swap": lambda: stop_at_call(index_module, "_swap_in", 1),      # complete new folder, not swapped in
    "after-swap": lambda: stop_at_call(index_module, "_fsync_dir", 2),     # swapped in, old one not yet removed
    "anywhere": lambda: marker.write_text("started"),
}[point]()
settings = Settings(corpus_dir=corpus, index_dir=index_dir, model=FakeEmbedder.name, batch_size=4)
build_index(settings, SlowEmbedder(), progress=False)
print("built")
"""


def start_driver(settings: Settings, point: str, marker: Path, delay: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(settings.corpus_dir), str(settings.index_dir), point, str(TESTS),
         str(marker), str(delay)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=settings.corpus_dir.parent,
    )


def wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the build ended before the kill point: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the build never reached the kill point")
        time.sleep(0.01)


def sigkill(proc: subprocess.Popen, may_have_finished: bool = False) -> None:
    """SIGKILL the build; ``may_have_finished``: it may have ended by itself just before the signal."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL or (may_have_finished and proc.returncode == 0), proc.returncode


@pytest.mark.parametrize("point", ["loading", "embedding", "writing", "before-swap", "after-swap"])
def test_sigkill_at_each_point_keeps_a_servable_index(tmp_path: Path, point: str) -> None:
    settings = fake_settings(tmp_path)
    write_corpus(settings.corpus_dir, V1)
    build_index(settings, FakeEmbedder(), progress=False)
    before = snapshot(settings.index_dir)
    write_corpus(settings.corpus_dir, V2)

    marker = tmp_path / "reached"
    proc = start_driver(settings, point, marker)
    wait_for(marker, proc)
    sigkill(proc)

    if point == "after-swap":  # the new index was complete and swapped in: it is the one served
        assert read_manifest(settings.index_dir)["corpus_fingerprint"] == corpus_fingerprint(settings, settings.corpus_dir)
        assert_servable(settings, "new-3.md", "Fresh material number 3 variant 3")
    else:  # the previous index, byte for byte
        assert snapshot(settings.index_dir) == before
        assert_servable(settings, "old.md", "orthogonality thesis goal content integrity")
    if point in ("writing", "before-swap", "after-swap"):
        assert len(leftovers(settings.index_dir)) == 1  # the killed build's folder, never loaded

    report = build_index(settings, FakeEmbedder(), progress=False)
    assert report.documents == len(V2)
    assert leftovers(settings.index_dir) == []
    assert sorted(load_index(settings.index_dir).manifest["documents"]) == sorted(V2)
    assert_servable(settings, "new-7.md", "Fresh material number 7 variant 7")


def test_sigkill_at_spread_out_moments_never_breaks_the_index(tmp_path: Path) -> None:
    """Kill a slowed-down rebuild at moments spread over its run: every time, one complete index
    (the old or the new one) loads, and the next build succeeds."""
    settings = fake_settings(tmp_path)
    write_corpus(settings.corpus_dir, V1)
    build_index(settings, FakeEmbedder(), progress=False)
    pristine = tmp_path / "v1-copy"
    shutil.copytree(settings.index_dir, pristine)
    old_fingerprint = read_manifest(settings.index_dir)["corpus_fingerprint"]
    write_corpus(settings.corpus_dir, V2)
    new_fingerprint = corpus_fingerprint(settings, settings.corpus_dir)
    seen = []
    for attempt, delay in enumerate([0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0]):
        if read_manifest(settings.index_dir)["corpus_fingerprint"] != old_fingerprint:  # start from v1 again
            shutil.rmtree(settings.index_dir)
            shutil.copytree(pristine, settings.index_dir)
        marker = tmp_path / f"started-{attempt}"
        proc = start_driver(settings, "anywhere", marker, delay=0.05)
        wait_for(marker, proc)
        time.sleep(delay)
        if proc.poll() is None:
            sigkill(proc, may_have_finished=True)  # it can finish between the poll and the signal
        fingerprint = load_index(settings.index_dir, model=FakeEmbedder.name).manifest["corpus_fingerprint"]
        assert fingerprint in (old_fingerprint, new_fingerprint)
        seen.append(fingerprint)
    build_index(settings, FakeEmbedder(), progress=False)
    assert load_index(settings.index_dir).manifest["corpus_fingerprint"] == new_fingerprint
    assert leftovers(settings.index_dir) == []
    print("index after each kill:", ["old" if f == old_fingerprint else "new" for f in seen])
    assert old_fingerprint in seen  # at least one kill landed before the swap


def test_leftovers_of_killed_builds_are_never_loaded_and_are_cleaned(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    write_corpus(settings.corpus_dir, V1)
    build_index(settings, fake_embedder, progress=False)
    parent = settings.index_dir.parent
    half = parent / ".index.building-4242-abc"  # a killed build: some files, no manifest
    half.mkdir()
    (half / "passages.jsonl").write_text('{"text": "half-writ', encoding="utf-8")
    other = parent / ".index.old-4242-1"  # a complete folder of some other index
    other.mkdir()
    for path in settings.index_dir.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    manifest = json.loads((other / MANIFEST).read_text())
    (other / MANIFEST).write_text(json.dumps({**manifest, "passages": 999}))

    assert load_index(settings.index_dir).manifest["passages"] != 999
    assert "half-writ" not in {p.text for p in load_index(settings.index_dir).passages}
    write_corpus(settings.corpus_dir, V2)
    build_index(settings, fake_embedder, progress=False)
    assert leftovers(settings.index_dir) == []
    assert sorted(load_index(settings.index_dir).manifest["documents"]) == sorted(V2)


def test_missing_index_with_a_complete_old_folder_is_put_back(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    """Where folders cannot be exchanged atomically, a kill between the two renames leaves only
    `.index.old-*`; the next writer restores it before anything else."""
    write_corpus(settings.corpus_dir, V1)
    build_index(settings, fake_embedder, progress=False)
    before = snapshot(settings.index_dir)
    settings.index_dir.rename(settings.index_dir.parent / ".index.old-1-1")
    (settings.index_dir.parent / ".index.building-1-x").mkdir()

    removed = clean_leftovers(settings.index_dir)
    assert [p.name for p in removed] == [".index.building-1-x"]
    assert snapshot(settings.index_dir) == before
    assert leftovers(settings.index_dir) == []


def test_two_rename_fallback_swaps_and_cleans(settings: Settings, fake_embedder: FakeEmbedder,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "_exchange", lambda a, b: False)
    write_corpus(settings.corpus_dir, V1)
    build_index(settings, fake_embedder, progress=False)
    (settings.index_dir / ".gitkeep").write_text("")
    write_corpus(settings.corpus_dir, V2)
    build_index(settings, fake_embedder, progress=False)
    assert sorted(load_index(settings.index_dir).manifest["documents"]) == sorted(V2)
    assert (settings.index_dir / ".gitkeep").exists()
    assert leftovers(settings.index_dir) == []


def test_concurrent_writers_take_turns(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    write_corpus(settings.corpus_dir, V2)
    build_index(settings, fake_embedder, progress=False)
    data = load_index(settings.index_dir)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(5):
                write_index(settings.index_dir, data)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert load_index(settings.index_dir).manifest == data.manifest
    assert leftovers(settings.index_dir) == []


# --- no half-written file is ever loaded -------------------------------------------------------


def _damage(index_dir: Path, how: str) -> None:
    if how == "no-manifest":
        (index_dir / MANIFEST).unlink()
    elif how == "truncated-manifest":
        (index_dir / MANIFEST).write_bytes((index_dir / MANIFEST).read_bytes()[:40])
    elif how == "truncated-passages":
        data = (index_dir / "passages.jsonl").read_bytes()
        (index_dir / "passages.jsonl").write_bytes(data[: len(data) // 2])
    elif how == "short-bm25":
        np.save(index_dir / "bm25.indptr.npy", np.load(index_dir / "bm25.indptr.npy")[:-1])
    elif how == "short-sentence-vectors":
        np.save(index_dir / "sentence_vectors.npy", np.load(index_dir / "sentence_vectors.npy")[:-1])
    elif how == "truncated-faiss":
        data = (index_dir / "index.faiss").read_bytes()
        (index_dir / "index.faiss").write_bytes(data[: len(data) // 2])
    elif how == "pickled-bm25":
        np.save(index_dir / "bm25.data.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    elif how == "no-word-table":
        (index_dir / "words.json").unlink()
    elif how == "words-not-strings":
        (index_dir / "words.json").write_text(json.dumps(list(range(len(json.loads((index_dir / "words.json").read_text()))))))
    elif how == "flat-word-vectors":
        np.save(index_dir / "word_vectors.npy", np.load(index_dir / "word_vectors.npy").ravel())
    elif how == "narrow-word-vectors":
        np.save(index_dir / "word_vectors.npy", np.load(index_dir / "word_vectors.npy")[:, :-1])


@pytest.mark.parametrize("how", ["no-manifest", "truncated-manifest", "truncated-passages", "short-bm25",
                                 "short-sentence-vectors", "truncated-faiss", "pickled-bm25", "no-word-table",
                                 "words-not-strings", "flat-word-vectors", "narrow-word-vectors"])
def test_a_damaged_index_is_refused_with_a_rebuild_hint(settings: Settings, fake_embedder: FakeEmbedder, how: str) -> None:
    write_corpus(settings.corpus_dir, V2)
    build_index(settings, fake_embedder, progress=False)
    _damage(settings.index_dir, how)
    with pytest.raises(IndexError_) as info:
        load_index(settings.index_dir)
    assert "rsiqa build" in str(info.value)
    # ... and the next build repairs it
    build_index(settings, fake_embedder, progress=False)
    assert len(load_index(settings.index_dir).passages) == load_index(settings.index_dir).manifest["passages"]


def test_an_index_swapped_while_loading_is_read_again(settings: Settings, fake_embedder: FakeEmbedder,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that started on the old index while a build swapped in the new one never mixes the two."""
    write_corpus(settings.corpus_dir, V1)
    build_index(settings, fake_embedder, progress=False)
    write_corpus(settings.corpus_dir, V2)
    other = Settings(corpus_dir=settings.corpus_dir, index_dir=settings.index_dir.parent / "staging",
                     model=settings.model)
    build_index(other, fake_embedder, progress=False)
    new = load_index(other.index_dir)
    original = index_module._read_index_files
    calls = []

    def read_during_swap(index_dir: Path, manifest: dict, *rest: object) -> object:
        calls.append(manifest["corpus_fingerprint"])
        if len(calls) == 1:  # the manifest of the old index was read; now a build swaps in the new one
            write_index(settings.index_dir, new)
        return original(index_dir, manifest, *rest)

    monkeypatch.setattr(index_module, "_read_index_files", read_during_swap)
    data = load_index(settings.index_dir)
    assert len(calls) == 2
    assert data.manifest == new.manifest
    assert [p.text for p in data.passages] == [p.text for p in new.passages]


# --- the real CLI --------------------------------------------------------------------------------


class StderrWatcher:
    """Collects a child's stderr in a thread so a test can wait for a phrase in it."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):
            self.text += chunk.decode("utf-8", "replace")

    def wait_for(self, phrase: str, proc: subprocess.Popen, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while phrase not in self.text:
            assert proc.poll() is None, f"build ended before '{phrase}': {self.text[-2000:]}"
            assert time.monotonic() < deadline, f"no '{phrase}' in: {self.text[-2000:]}"
            time.sleep(0.01)


def _rsiqa(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "rsiqa"), *args]



@pytest.mark.slow
def test_sigkill_of_the_real_rsiqa_build(tmp_path: Path, real_embedder) -> None:
    """Kill the real `rsiqa build` while it starts up and while it embeds: the index it had keeps
    answering through `rsiqa ask`; the next `rsiqa build` succeeds."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    write_corpus(corpus, V1)
    build_index(Settings(corpus_dir=corpus, index_dir=index_dir), real_embedder, progress=False)
    before = snapshot(index_dir)
    write_corpus(corpus, {p.name: p.read_text(encoding="utf-8") for p in DEFAULT_CORPUS.glob("*.txt")})
    build_cmd = _rsiqa("build", "--corpus", str(corpus), "--index", str(index_dir))

    for phrase in ("", "embedding passages", "embedding sentences"):
        proc = subprocess.Popen(build_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path,
                                env=cli_env())
        watcher = StderrWatcher(proc)
        if phrase:
            watcher.wait_for(phrase, proc)
        else:
            time.sleep(0.5)  # importing, loading the model
            assert proc.poll() is None
        sigkill(proc)
        assert snapshot(index_dir) == before, f"index changed by a build killed at '{phrase or 'start-up'}'"

    asked = subprocess.run(_rsiqa("ask", "--index", str(index_dir), "--json", "What is the orthogonality thesis?"),
                           capture_output=True, text=True, timeout=300, cwd=tmp_path,
                           env={**cli_env(), "RSIQA_ABSTAIN_THRESHOLD": "0"})
    assert asked.returncode == 0, asked.stderr
    assert {c["source"]["path"] for c in json.loads(asked.stdout)["citations"]} == {"old.md"}

    built = subprocess.run([*build_cmd, "--quiet"], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                           env=cli_env())
    assert built.returncode == 0, built.stderr
    assert built.stdout.startswith("Indexed ")
    assert sorted(load_index(index_dir).manifest["documents"]) == sorted(p.name for p in DEFAULT_CORPUS.glob("*.txt"))
    assert leftovers(index_dir) == []
