"""Issue 6.1, messy corpus: a build over good files mixed with every kind of bad one finishes,
indexes every good file, reports each skipped file with its reason, and keeps memory bounded."""

from __future__ import annotations

import ctypes
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeEmbedder, write_pdf, cli_env

from rsiqa.index.build import build_index
from rsiqa.index.store import load_index
from rsiqa.settings import Settings

TESTS = Path(__file__).resolve().parents[1]
BIG_MB = 50

#: The good files and a phrase only each of them holds.
GOOD = {
    "essay.md": "Markdown essay about goal preservation",
    "notes.txt": "Plain notes about hardware overhang",
    "page.html": "HTML page about the orthogonality thesis",
    "paper.pdf": "PDF paper about recursive takeoff",
    "latin1.txt": "Caf\u00e9 cr\u00e8me \u00fcber na\u00efve K\u00f6ln",
    "owner-only.pdf": "Owner locked PDF about seed AI",
    "sub/nested.md": "Nested folder file about corrigibility",
}

#: Every bad entry and the exact reason it is skipped with (the corrupt PDF's reason has a detail).
BAD = {
    "big.txt": f"too large ({BIG_MB}.0 MB > max_file_mb 20 MB; raise RSIQA_MAX_FILE_MB to index it)",
    "binary.txt": "binary data, not text",
    "broken-link.md": "broken symlink",
    "corrupt.pdf": "unreadable PDF (",
    "empty.txt": "empty file",
    "encrypted.pdf": "encrypted PDF (password required)",
    "image-only.pdf": "no text found (a scanned PDF has no text layer)",
    "loop/": "symlink loop or duplicate: same folder as '.', not read again",
    "self-loop.txt": "symlink loop",
    "slides.pptx": "unsupported file type '.pptx'",
    "sub/up/": "symlink loop or duplicate: same folder as '.', not read again",
    "whitespace.md": "no text found",
}


def sentence(phrase: str) -> str:
    return f"{phrase} is discussed here at some length. It matters for the debate on self-improvement."


def _encrypted_pdf(path: Path, text: str, user_password: str) -> None:
    from pypdf import PdfWriter

    plain = write_pdf(path.with_name(path.name + ".tmp"), [text])
    writer = PdfWriter(clone_from=str(plain))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    plain.unlink()
    path.write_bytes(buffer.getvalue())


def make_messy_corpus(root: Path, big: bool = True) -> Path:
    """The folder of issue 6.1: good md/txt/html/pdf files plus every kind of bad entry."""
    (root / "sub").mkdir(parents=True)
    (root / "essay.md").write_text(f"# Essay\n\n{sentence(GOOD['essay.md'])}\n", encoding="utf-8")
    (root / "notes.txt").write_text(sentence(GOOD["notes.txt"]), encoding="utf-8")
    (root / "page.html").write_text(
        f"<html><head><title>A page</title></head><body><p>{sentence(GOOD['page.html'])}</p></body></html>",
        encoding="utf-8",
    )
    write_pdf(root / "paper.pdf", [sentence(GOOD["paper.pdf"])])
    (root / "latin1.txt").write_bytes(sentence(GOOD["latin1.txt"]).encode("latin-1"))
    _encrypted_pdf(root / "owner-only.pdf", sentence(GOOD["owner-only.pdf"]), user_password="")
    (root / "sub" / "nested.md").write_text(sentence(GOOD["sub/nested.md"]), encoding="utf-8")

    (root / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(3000))
    _encrypted_pdf(root / "encrypted.pdf", sentence("Secret"), user_password="secret")
    (root / "empty.txt").write_bytes(b"")
    (root / "binary.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00" + os.urandom(20000))
    (root / "whitespace.md").write_text("\n\n   \n\t\n", encoding="utf-8")
    write_pdf(root / "image-only.pdf", [""])
    (root / "slides.pptx").write_bytes(b"PK\x03\x04" + os.urandom(100))
    os.symlink(".", root / "loop")  # a -> . : a directory loop
    os.symlink("../", root / "sub" / "up")  # a loop from a subfolder back to the top
    os.symlink("self-loop.txt", root / "self-loop.txt")  # a file link to itself
    os.symlink("does-not-exist.md", root / "broken-link.md")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # hidden: ignored silently
    if big:
        line = (sentence("Filler") + "\n").encode()
        with (root / "big.txt").open("wb") as handle:
            for _ in range(BIG_MB * 1024 * 1024 // len(line)):
                handle.write(line)
            handle.write(b"x" * (BIG_MB * 1024 * 1024 % len(line)))
    return root


def check_skipped(skipped: dict[str, str], expected: dict[str, str] = BAD) -> None:
    assert sorted(skipped) == sorted(expected)
    for rel, reason in expected.items():
        if reason.endswith("("):
            assert skipped[rel].startswith(reason), (rel, skipped[rel])
        else:
            assert skipped[rel] == reason, (rel, skipped[rel])


def test_messy_corpus_builds_indexes_every_good_file_and_reports_the_rest(tmp_path: Path) -> None:
    corpus = make_messy_corpus(tmp_path / "corpus")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", model=FakeEmbedder.name)
    assert settings.max_file_mb == 20  # the default: the 50 MB file is over it

    report = build_index(settings, FakeEmbedder(), progress=False)

    check_skipped(report.skipped)
    data = load_index(settings.index_dir, model=FakeEmbedder.name)
    assert sorted(data.manifest["documents"]) == sorted(GOOD)
    check_skipped(data.manifest["skipped"])
    indexed_text = "\n".join(p.text for p in data.passages)
    for rel, phrase in GOOD.items():
        assert phrase in indexed_text, rel  # the Latin-1 file decoded correctly, the owner-only PDF opened
    assert "\ufffd" not in indexed_text and "Caf\u00c3" not in indexed_text
    assert {p.source.path for p in data.passages} == set(GOOD)


PEAK_DRIVER = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from conftest import FakeEmbedder
from rsiqa.index.build import build_index
from rsiqa.settings import Settings

settings = Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2]), model=FakeEmbedder.name)
report = build_index(settings, FakeEmbedder(), progress=False)
status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
print(json.dumps({"peak_kb": int(status["VmHWM"].split()[0]), "skipped": report.skipped}))
"""


def _build_peak_kb(corpus: Path, index: Path) -> tuple[int, dict[str, str]]:
    """Build in a fresh process and return its peak resident memory (VmHWM) in KB, and the skips."""
    done = subprocess.run([sys.executable, "-c", PEAK_DRIVER, str(corpus), str(index), str(TESTS)],
                          capture_output=True, text=True, timeout=300, cwd=corpus.parent)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["peak_kb"], out["skipped"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read peak memory")
def test_memory_stays_bounded_on_the_50_mb_file(tmp_path: Path) -> None:
    """The 50 MB file is hashed in chunks and never read whole: peak memory barely moves."""
    corpus = make_messy_corpus(tmp_path / "corpus")
    with_big, skipped = _build_peak_kb(corpus, tmp_path / "index-big")
    check_skipped(skipped)
    (corpus / "big.txt").unlink()
    without_big, skipped = _build_peak_kb(corpus, tmp_path / "index-small")
    check_skipped(skipped, {k: v for k, v in BAD.items() if k != "big.txt"})
    grown_mb = (with_big - without_big) / 1024
    print(f"peak RSS with the 50 MB file {with_big / 1024:.0f} MB, without {without_big / 1024:.0f} MB")
    assert grown_mb < 20, f"peak memory grew by {grown_mb:.0f} MB with a {BIG_MB} MB file in the corpus"


# --- unreadable files and folders -------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _drop_dac_capabilities() -> None:
    """In the child: drop root's power to ignore file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    for capability in (1, 2):
        if _libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP; takes effect at exec
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_respecting_permissions(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``args`` so that chmod 000 denies access, even when the tests run as root."""
    if os.geteuid() == 0:
        probe = subprocess.run(["true"], preexec_fn=_drop_dac_capabilities, capture_output=True)  # noqa: PLW1509
        if probe.returncode != 0:
            pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE here")
        kwargs["preexec_fn"] = _drop_dac_capabilities
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)


LOAD_DRIVER = """
import json, sys
from pathlib import Path
from rsiqa.ingest.loaders import load_corpus
result = load_corpus(Path(sys.argv[1]))
print(json.dumps({"documents": [d.path for d in result.documents], "skipped": result.skipped}))
"""


def test_unreadable_file_and_folder_are_skipped_with_a_reason(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "locked-dir").mkdir(parents=True)
    (corpus / "good.md").write_text(sentence("Readable file"), encoding="utf-8")
    (corpus / "locked.md").write_text(sentence("Unreadable file"), encoding="utf-8")
    (corpus / "locked-dir" / "inside.md").write_text(sentence("Inside a locked folder"), encoding="utf-8")
    os.chmod(corpus / "locked.md", 0)
    os.chmod(corpus / "locked-dir", 0)
    try:
        done = run_respecting_permissions([sys.executable, "-c", LOAD_DRIVER, str(corpus)], cwd=tmp_path)
    finally:
        os.chmod(corpus / "locked-dir", 0o755)
        os.chmod(corpus / "locked.md", 0o644)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {
        "documents": ["good.md"],
        "skipped": {"locked.md": "cannot read (Permission denied)", "locked-dir/": "cannot read folder (Permission denied)"},
    }



@pytest.mark.slow
def test_cli_build_lists_each_skipped_file_with_its_reason(tmp_path: Path) -> None:
    """The real `rsiqa build` on the messy folder: exit 0, a summary line per skipped file."""
    corpus = make_messy_corpus(tmp_path / "corpus")
    done = subprocess.run([str(Path(sys.executable).parent / "rsiqa"), "build", "--quiet", "--corpus", str(corpus),
                           "--index", str(tmp_path / "index")],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, env=cli_env())
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Indexed ") and f"from {len(GOOD)} document(s)" in lines[0]
    assert f"Skipped {len(BAD)} file(s):" in lines
    listed = dict(line.strip().split(": ", 1) for line in lines[lines.index(f"Skipped {len(BAD)} file(s):") + 1:])
    check_skipped(listed)
    assert "Traceback" not in done.stderr
    check_skipped(load_index(tmp_path / "index").manifest["skipped"])
