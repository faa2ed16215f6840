"""Shared fixtures: a tiny fake embedder for logic tests, corpus writers, and the real index."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from rsiqa.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO / "corpus"
EVAL_QUESTIONS = REPO.parent / "shared" / "eval" / "questions.jsonl"
RSIQA_BIN = str(Path(sys.executable).parent / "rsiqa")


def cli_env() -> dict[str, str]:
    """The environment for a real `rsiqa` child: no RSIQA_* settings, except the shared model cache
    folder (a relative default would export the model again in every test's folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RSIQA_")}
    env["RSIQA_MODEL_CACHE_DIR"] = str(Path(Settings().model_cache_dir).resolve())
    env["HF_HUB_OFFLINE"] = "1"
    return env


def run_rsiqa(*args: str, cwd: Path | None = None, preexec_fn=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed `rsiqa` command as a user would, with :func:`cli_env`."""
    return subprocess.run([RSIQA_BIN, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO,
                          env=cli_env(), preexec_fn=preexec_fn)  # noqa: PLW1509


class FakeEmbedder:
    """Hashes words into a small vector: deterministic, instant, and similar texts share words."""

    name = "fake-hash"

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension
        self.calls = 0

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimension] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out


def write_pdf(path: Path, pages: list[str]) -> Path:
    """Write a minimal, valid PDF whose pages hold the given lines of text (Helvetica)."""
    objects: list[bytes] = []
    kids = []
    page_ids = []
    font_id = 3
    next_id = 4
    page_objs: list[tuple[int, bytes]] = []
    for text in pages:
        lines = [ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for ln in text.split("\n")]
        ops = ["BT /F1 11 Tf 14 TL 50 780 Td"] + [f"({ln}) '" for ln in lines] + ["ET"]
        stream = "\n".join(ops).encode("latin-1")
        content_id, page_id = next_id, next_id + 1
        next_id += 2
        page_objs.append((content_id, b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"))
        page_objs.append((page_id, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents %d 0 R "
                          b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (content_id, font_id)))
        page_ids.append(page_id)
        kids.append(b"%d 0 R" % page_id)
    objects = [
        (1, b"<< /Type /Catalog /Pages 2 0 R >>"),
        (2, b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % len(pages)),
        (3, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
        *page_objs,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number, body in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for number in range(1, len(objects) + 1):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def write_pdf_bomb(path: Path, levels: int = 5, fanout: int = 8, stream_kb: int = 200) -> Path:
    """A PDF of ``fanout ** levels`` pages (32,768 by default) in under 2 KB: a page tree whose every node lists
    the same child ``fanout`` times, down to one page that draws one ``stream_kb`` KB (deflated) content stream."""
    import zlib

    ops = b"BT /F1 11 Tf 50 780 Td " + b"(seed AI recursive self improvement) Tj 0 -1 Td " * (stream_kb * 1024 // 49)
    stream = zlib.compress(ops + b"ET", 9)
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        4: b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        5: b"<< /Type /Page /MediaBox [0 0 612 842] /Contents 4 0 R /Resources << /Font << /F1 3 0 R >> >> >>",
    }
    child, count = 5, 1
    for level in range(levels):
        count *= fanout
        number = 2 if level == levels - 1 else 6 + level
        objects[number] = b"<< /Type /Pages /Kids [" + b" ".join([b"%d 0 R" % child] * fanout) + b"] /Count %d >>" % count
        child = number
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    size = max(objects) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        out += b"%010d 00000 n \n" % offsets[number]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    path.write_bytes(bytes(out))
    return path


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    """A tiny deterministic embedder for tests of logic other than embedding quality."""
    return FakeEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings pointing at a fresh corpus/ and index/ under the test's tmp dir, fake model name."""
    (tmp_path / "corpus").mkdir()
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model=FakeEmbedder.name,
                    feedback_path=tmp_path / "data" / "feedback.sqlite3")


@pytest.fixture
def fake_retriever(settings: Settings, fake_embedder: FakeEmbedder):
    """A maker of retrievers: ``fake_retriever({file name: text})`` writes the files to the settings' corpus,
    builds their index with the fake embedder and returns a Retriever over it."""
    from rsiqa.index.build import build_index
    from rsiqa.index.store import load_index
    from rsiqa.search.retrieval import Retriever

    def make(texts: dict[str, str]) -> Retriever:
        for name, text in texts.items():
            (settings.corpus_dir / name).write_text(text, encoding="utf-8")
        build_index(settings, fake_embedder, progress=False)
        return Retriever(load_index(settings.index_dir), fake_embedder, settings)

    return make


@pytest.fixture
def default_corpus_copy(tmp_path: Path) -> Path:
    """A copy of the project's corpus/ folder that a test may change."""
    target = tmp_path / "corpus-copy"
    target.mkdir()
    for path in DEFAULT_CORPUS.iterdir():
        if path.is_file() and not path.name.startswith("."):
            (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.fixture(scope="session")
def real_embedder():
    """The real packaged all-MiniLM-L6-v2 (slow to load; shared by the whole session)."""
    from rsiqa.index.embedding import get_embedder

    return get_embedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def real_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default corpus built into a real FAISS index on disk with the real model (once per session).

    Built as `rsiqa build` builds it: vectors at the default index precision (fp32), searched by
    questions at the default query precision (int8, :func:`real_embedder`).
    """
    from rsiqa.index.build import build_index
    from rsiqa.index.embedding import embedder_for
    from rsiqa.settings import index_settings

    index_dir = tmp_path_factory.mktemp("real") / "index"
    settings = Settings(corpus_dir=DEFAULT_CORPUS, index_dir=index_dir)
    build_index(settings, embedder_for(index_settings(settings)), progress=False)
    return index_dir


@pytest.fixture(scope="session")
def real_engine(real_index_dir: Path, real_embedder):
    """An engine over the real index with the real model."""
    from rsiqa.search.engine import Engine

    return Engine(Settings(corpus_dir=DEFAULT_CORPUS, index_dir=real_index_dir), embedder=real_embedder)
