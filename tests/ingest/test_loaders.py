"""Loaders: each format, titles and URLs, decoding, and the reason given for every skipped file."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from conftest import FakeEmbedder, write_pdf

from rsiqa.index.build import build_index
from rsiqa.index.store import load_index
from rsiqa.ingest.loaders import (
    CorpusError,
    SkipFile,
    decode_text,
    iter_corpus_files,
    load_bytes,
    load_corpus,
    load_file,
    read_file,
)
from rsiqa.settings import Settings

PROSE = "Recursive self-improvement means a system that improves its own ability to improve."


def texts(doc) -> str:
    """All paragraphs of a loaded document, joined."""
    return "\n".join(p for block in doc.blocks for p in block.paragraphs)


def encrypted_pdf(path: Path, user_password: str, algorithm: str = "RC4-128") -> Path:
    """A copy of a one-page text PDF encrypted with pypdf."""
    from pypdf import PdfWriter

    plain = write_pdf(path.with_suffix(".plain"), ["The encrypted page talks about takeoff speed."])
    writer = PdfWriter(clone_from=str(plain))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    plain.unlink()
    path.write_bytes(buffer.getvalue())
    return path


# --- formats -----------------------------------------------------------------------------------


def test_markdown_headings_become_sections_and_title_comes_from_the_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "seed-ai_notes.md"
    path.write_text(f"# Overview\n\n{PROSE}\n\n## Objections\n\nHardware limits may slow takeoff.\n", encoding="utf-8")
    doc = load_file(path, "seed-ai_notes.md")
    assert doc.title == "Overview" and all(b.source.title == "Overview" for b in doc.blocks)
    assert [(b.source.section, b.paragraphs) for b in doc.blocks] == [
        ("Overview", [PROSE]),
        ("Objections", ["Hardware limits may slow takeoff."]),
    ]
    assert all(b.source.path == "seed-ai_notes.md" for b in doc.blocks)


def test_markdown_without_a_heading_is_titled_by_its_file_name(tmp_path: Path) -> None:
    (tmp_path / "seed-ai_notes.md").write_text(f"```\n# not a heading\n```\n\n{PROSE}\n", encoding="utf-8")
    assert load_file(tmp_path / "seed-ai_notes.md", "seed-ai_notes.md").title == "Seed ai notes"
    (tmp_path / "notes.txt").write_text(f"# Heading\n\n{PROSE}\n", encoding="utf-8")
    assert load_file(tmp_path / "notes.txt", "notes.txt").title == "Notes"  # text files keep the file name


def test_markdown_front_matter_gives_title_url_author_and_date(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text("---\ntitle: 'Seed AI: a <field> guide'\nurl: https://example.org/seed\nauthor: [Ada, Grace]\n"
                    f"date: 2024-05-01\ntags: [x]\n---\n# Heading\n\n{PROSE}\n\nhttps://example.org/linked-post\n\n"
                    "The linked post says a seed AI rewrites its code.\n", encoding="utf-8")
    doc = load_file(path, "post.md")
    own, linked = doc.blocks[0].source, doc.blocks[-1].source
    assert doc.title == "Seed AI: a <field> guide" and own.title == doc.title
    assert (own.url, own.author, own.date) == ("https://example.org/seed", "Ada, Grace", "2024-05-01")
    assert linked.kind == "linked_post" and linked.url == "https://example.org/linked-post" and linked.author is None
    assert "title:" not in texts(doc) and PROSE in texts(doc)


@pytest.mark.parametrize("head", ["---\njust a rule\n---\n", "---\nurl: javascript:alert(1)\n---\n",
                                  "---\n[unclosed\n---\n"])
def test_front_matter_that_is_not_a_mapping_or_unsafe_is_ignored(tmp_path: Path, head: str) -> None:
    (tmp_path / "a.md").write_text(f"{head}\n{PROSE}\n", encoding="utf-8")
    doc = load_file(tmp_path / "a.md", "a.md")
    assert PROSE in texts(doc) and all(b.source.url is None and b.source.author is None for b in doc.blocks)


def test_plain_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text(PROSE + "\n", encoding="utf-8")
    assert texts(load_file(path, "plain.txt")) == PROSE


def test_html_title_canonical_url_and_visible_text_only(tmp_path: Path) -> None:
    page = """<!doctype html><html><head><title>Intelligence Explosion FAQ</title>
      <link rel="canonical" href="https://example.org/faq"><style>p { color: red }</style></head>
      <body><nav>Home | About</nav><h2>Takeoff</h2><p>A <b>fast</b> takeoff is one path.</p>
      <div>Text that sits directly in a div is kept.</div><!-- a hidden comment -->
      <script>var tracking = "never indexed";</script><footer>Copyright</footer></body></html>"""
    doc = load_bytes(page.encode(), "faq.html")
    assert doc.title == "Intelligence Explosion FAQ"
    body = texts(doc)
    assert "A fast takeoff is one path." in body
    assert "Text that sits directly in a div is kept." in body
    for hidden in ("tracking", "Home | About", "Copyright", "hidden comment", "color: red"):
        assert hidden not in body
    assert {b.source.url for b in doc.blocks} == {"https://example.org/faq"}
    assert any(b.source.section == "Takeoff" for b in doc.blocks)


def test_html_og_url_and_title_fallbacks(tmp_path: Path) -> None:
    with_h1 = b'<html><head><meta property="og:url" content="https://example.org/og"></head>' \
              b"<body><h1>Heading Title</h1><p>Some words here.</p></body></html>"
    doc = load_bytes(with_h1, "page.html")
    assert doc.title == "Heading Title"
    assert {b.source.url for b in doc.blocks} == {"https://example.org/og"}
    bare = load_bytes(b"<p>Only a paragraph.</p>", "my_page.htm")
    assert bare.title == "My page"
    assert {b.source.url for b in bare.blocks} == {None}


def test_html_declared_charset_is_honoured() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Caf\u00e9 \u201cquoted\u201d</p></body></html>'
    doc = load_bytes(page.encode("cp1252"), "legacy.html")
    assert texts(doc) == "Caf\u00e9 \u201cquoted\u201d"


def test_pdf_without_outline_has_page_sections_and_small_pages_share_one(tmp_path: Path) -> None:
    long_page = " ".join(["Goal stability matters when a system rewrites itself."] * 12)
    other_page = " ".join(["Hardware overhang means the chips were ready before the software."] * 10)
    path = write_pdf(tmp_path / "essay.pdf", ["First page about goal stability.", "Second page about hardware overhang.",
                                              long_page, other_page])
    doc = load_file(path, "essay.pdf")
    assert doc.title == "Essay"
    assert [(b.source.section, b.paragraphs) for b in doc.blocks] == [
        # small pages fill one section up to a passage's size; no "page 2" line is added to the text
        ("page 1", ["First page about goal stability.", "Second page about hardware overhang.", long_page]),
        ("page 4", [other_page]),
    ]
    from rsiqa.ingest.chunking import chunk_blocks

    # the passage of that section is mostly page 3, and says so
    assert [p.source.section for p in chunk_blocks(doc.blocks, 90, 140, 250)] == ["page 3", "page 4"]


def test_markdown_footnotes_emphasis_and_furniture_are_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "rsi-notes.md"
    path.write_text("# RSI\n\nSeed AI was **meant** to do RSI on its own code.[^a]\n\n•••\n\n+ more posts\n\n"
                    "[^a]: As _Yudkowsky_ put it.\n", encoding="utf-8")
    doc = load_file(path, "rsi-notes.md")
    assert doc.title == "RSI"  # the first heading
    assert texts(doc) == "Seed AI was meant to do RSI on its own code. (Footnote: As Yudkowsky put it.)"


def _default_corpus_passages():
    from conftest import DEFAULT_CORPUS

    from rsiqa.ingest.chunking import chunk_blocks
    from rsiqa.evaluate import fold

    settings = Settings()
    blocks = [b for doc in load_corpus(DEFAULT_CORPUS).documents for b in doc.blocks]
    passages = chunk_blocks(blocks, settings.chunk_min_words, settings.chunk_max_words, settings.chunk_hard_max_words)
    return passages, fold


def test_the_chollet_passage_of_the_default_corpus_holds_its_footnote() -> None:
    passages, fold = _default_corpus_passages()
    holders = [fold(p.text) for p in passages if "chollet" in fold(p.text)]
    assert len(holders) == 1
    for gold in ("François Chollet, who argued in 2017", "cannot achieve exponential progress in practice",
                 "See also Eliezer Yudkowsky's rebuttal"):
        assert fold(gold) in holders[0]
    assert "in practice. (footnote: see also eliezer yudkowsky's rebuttal.)" in holders[0]
    assert sum("yudkowsky's rebuttal" in fold(p.text) for p in passages) == 1


def test_the_default_corpus_has_no_markdown_debris_or_page_furniture() -> None:
    passages, _ = _default_corpus_passages()
    lines = [line for p in passages for line in p.text.split("\n")]
    assert not any("*" in line or "[^" in line for line in lines)
    assert not [line for line in lines if line in ("•••", "...", "+ more posts", "+ a list of ways")]
    assert any("sharpest break-with-the-past contributing" in line for line in lines)
    assert any("recursive self-empowerment might now be" in line for line in lines)
    titles = {p.source.title for p in passages if p.source.url}
    assert titles == {
        "Why all the fuss about recursive self-improvement",
        "AGI systems and humans will both need to solve the alignment problem",  # slugs cut at 60 characters,
        "Self-improvement without self-modification",
        "Is recursive self-improvement relevant in the deep learning paradigm",  # completed from the text
    }


# --- decoding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("na\u00efve caf\u00e9".encode("utf-8"), "na\u00efve caf\u00e9"),
        (b"\xef\xbb\xbfwith BOM", "with BOM"),
        ("Gr\u00fc\u00dfe aus K\u00f6ln, caf\u00e9 cr\u00e8me".encode("latin-1"), "Gr\u00fc\u00dfe aus K\u00f6ln, caf\u00e9 cr\u00e8me"),
        ("\u201csmart quotes\u201d \u2013 dash".encode("cp1252"), "\u201csmart quotes\u201d \u2013 dash"),
        ("UTF-16 text \u00e9".encode("utf-16"), "UTF-16 text \u00e9"),
    ],
    ids=["utf8", "utf8-bom", "latin1", "cp1252", "utf16-bom"],
)
def test_decode_text(data: bytes, expected: str) -> None:
    assert decode_text(data) == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "binary data, not text"),
        (bytes(range(1, 32)) * 40, "binary data, not text"),
    ],
    ids=["empty", "png-bytes", "control-chars"],
)
def test_decode_text_refuses(data: bytes, reason: str) -> None:
    with pytest.raises(SkipFile, match=reason):
        decode_text(data)


# --- skip reasons ------------------------------------------------------------------------------


def reasons(root: Path, **kwargs) -> dict[str, str]:
    return load_corpus(root, **kwargs).skipped


def test_skip_reasons_for_unusable_files(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "good.md").write_text(PROSE, encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.md").write_text("  \n\n\t\n", encoding="utf-8")
    (root / "binary.txt").write_bytes(os.urandom(4096) + b"\x00")
    (root / "scripts-only.html").write_text("<html><body><script>x()</script></body></html>", encoding="utf-8")
    write_pdf(root / "blank.pdf", [""])
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog broken")
    encrypted_pdf(root / "locked.pdf", user_password="secret")
    (root / "slides.pptx").write_bytes(b"PK\x03\x04")
    (root / "LICENSE").write_text(PROSE, encoding="utf-8")
    got = reasons(root)
    assert got.pop("corrupt.pdf").startswith("unreadable PDF (")
    assert got == {
        "LICENSE": "unsupported file type '(none)'",
        "binary.txt": "binary data, not text",
        "blank.md": "no text found",
        "blank.pdf": "no text found (a scanned PDF has no text layer)",
        "empty.txt": "empty file",
        "locked.pdf": "encrypted PDF (password required)",
        "scripts-only.html": "no text found",
        "slides.pptx": "unsupported file type '.pptx'",
    }


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128"])
def test_pdf_encrypted_without_user_password_is_read(tmp_path: Path, algorithm: str) -> None:
    """Owner-password-only PDFs open in any viewer, so they are indexed (decrypted with '')."""
    path = encrypted_pdf(tmp_path / "open.pdf", user_password="", algorithm=algorithm)
    assert texts(load_file(path, "open.pdf")) == "The encrypted page talks about takeoff speed."


def test_pdf_with_a_password_is_skipped(tmp_path: Path) -> None:
    path = encrypted_pdf(tmp_path / "locked.pdf", user_password="secret", algorithm="AES-128")
    with pytest.raises(SkipFile, match=r"^encrypted PDF \(password required\)$"):
        load_file(path, "locked.pdf")


def test_truncated_pdf_never_raises(tmp_path: Path) -> None:
    """Half of a valid PDF: pypdf may repair it or not, but the corpus load never fails."""
    whole = write_pdf(tmp_path / "whole.pdf", ["Page text that may survive truncation."]).read_bytes()
    root = tmp_path / "c"
    root.mkdir()
    for cut in (10, len(whole) // 2, len(whole) - 30):
        (root / f"cut-{cut}.pdf").write_bytes(whole[:cut])
    result = load_corpus(root)
    assert len(result.documents) + len(result.skipped) == 3
    for reason in result.skipped.values():
        assert reason.startswith(("unreadable PDF (", "no text found"))


def test_size_limit_names_the_setting_and_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text(PROSE * 100, encoding="utf-8")  # ~8.4 KB
    with pytest.raises(SkipFile) as info:
        read_file(path, max_file_mb=0.005)
    assert str(info.value) == "too large (0.0 MB > max_file_mb 0.005 MB; raise RSIQA_MAX_FILE_MB to index it)"
    assert len(read_file(path, max_file_mb=0.01)) == path.stat().st_size


def test_a_file_that_grows_after_stat_is_still_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The size seen by stat is a hint only: reading stops one byte past the limit whatever happens."""
    from rsiqa.ingest import loaders

    path = tmp_path / "growing.txt"
    path.write_text(PROSE * 100, encoding="utf-8")  # ~8.4 KB on disk, but stat will claim 10 bytes
    real = os.stat(path)
    claimed = os.stat_result((real.st_mode, real.st_ino, real.st_dev, real.st_nlink, real.st_uid, real.st_gid, 10,
                              int(real.st_atime), int(real.st_mtime), int(real.st_ctime)))
    monkeypatch.setattr(loaders, "_stat_file", lambda p: claimed)
    with pytest.raises(SkipFile, match=r"^too large \(0\.0 MB > max_file_mb 0\.005 MB"):
        read_file(path, max_file_mb=0.005)
    assert read_file(path, max_file_mb=1) == path.read_bytes()


def test_max_file_mb_setting_reaches_the_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RSIQA_MAX_FILE_MB", "0.005")
    settings = Settings(corpus_dir=tmp_path / "c", index_dir=tmp_path / "i", model=FakeEmbedder.name)
    assert settings.max_file_mb == 0.005
    settings.corpus_dir.mkdir()
    (settings.corpus_dir / "big.txt").write_text(PROSE * 100, encoding="utf-8")
    (settings.corpus_dir / "small.txt").write_text(PROSE, encoding="utf-8")
    report = build_index(settings, FakeEmbedder(), progress=False)
    assert list(report.skipped) == ["big.txt"]
    assert "RSIQA_MAX_FILE_MB" in report.skipped["big.txt"]
    assert list(load_index(settings.index_dir).manifest["documents"]) == ["small.txt"]


def test_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    os.mkfifo(root / "pipe.txt")
    assert reasons(root) == {"pipe.txt": "not a regular file (device, pipe or socket)"}


def test_duplicates_are_loaded_once(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.md").write_text(PROSE, encoding="utf-8")
    (root / "b-copy.md").write_text(PROSE, encoding="utf-8")
    os.symlink("a.md", root / "c-link.md")
    result = load_corpus(root)
    assert [d.path for d in result.documents] == ["a.md"]
    assert result.skipped == {
        "b-copy.md": "duplicate: same content as 'a.md'",
        "c-link.md": "duplicate: same file as 'a.md'",
    }


def test_a_loader_crash_skips_only_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rsiqa.ingest import loaders

    def explode(data: bytes, rel: str):
        raise RuntimeError("parser bug")

    monkeypatch.setitem(loaders.LOADERS, ".html", explode)
    root = tmp_path / "c"
    root.mkdir()
    (root / "page.html").write_text("<p>x</p>", encoding="utf-8")
    (root / "notes.md").write_text(PROSE, encoding="utf-8")
    result = load_corpus(root)
    assert [d.path for d in result.documents] == ["notes.md"]
    assert result.skipped == {"page.html": "cannot parse (RuntimeError: parser bug)"}


def test_non_utf8_file_name_is_indexed_under_a_readable_name(settings: Settings, fake_embedder: FakeEmbedder) -> None:
    raw = os.fsencode(settings.corpus_dir) + b"/caf\xe9 notes.txt"  # Latin-1 name from an old archive
    with open(raw, "wb") as handle:
        handle.write(PROSE.encode())
    report = build_index(settings, fake_embedder, progress=False)
    assert report.skipped == {}
    data = load_index(settings.index_dir)
    assert list(data.manifest["documents"]) == ["caf\u00e9 notes.txt"]
    assert data.passages[0].source.title == "Caf\u00e9 notes"


def test_walk_order_hidden_entries_and_nesting(tmp_path: Path) -> None:
    root = tmp_path / "c"
    (root / "b-dir" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    for rel in ("z.md", "a.md", "b-dir/x.md", "b-dir/deeper/y.md", ".hidden.md", ".git/config.txt", "b-dir/.DS_Store"):
        (root / rel).write_text(PROSE + rel, encoding="utf-8")
    found = [p.relative_to(root).as_posix() for p in iter_corpus_files(root)]
    assert found == ["a.md", "z.md", "b-dir/x.md", "b-dir/deeper/y.md"]
    result = load_corpus(root)
    assert [d.path for d in result.documents] == found
    assert result.skipped == {}


def test_missing_or_non_folder_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"corpus folder not found: '.*nope': create it or pass --corpus DIR"):
        load_corpus(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CorpusError, match=r"is not a folder: pass --corpus DIR"):
        load_corpus(tmp_path / "file.txt")


# --- bounded extraction: a small PDF that would take hours ------------------------------------------


def _bomb_corpus(tmp_path: Path) -> Path:
    from conftest import write_pdf_bomb

    root = tmp_path / "c"
    root.mkdir()
    write_pdf_bomb(root / "bomb.pdf")
    (root / "notes.md").write_text(PROSE, encoding="utf-8")
    return root


def test_a_pdf_with_too_many_pages_is_skipped_at_once(tmp_path: Path) -> None:
    from rsiqa.ingest.loaders import ExtractionLimits

    root = _bomb_corpus(tmp_path)
    assert (root / "bomb.pdf").stat().st_size < 3000
    started = time.monotonic()
    result = load_corpus(root, limits=ExtractionLimits())
    assert time.monotonic() - started < 10
    assert result.skipped == {"bomb.pdf": "too many pages (32768 > max_pdf_pages 2000; raise RSIQA_MAX_PDF_PAGES to "
                                          "index it)"}
    assert [d.path for d in result.documents] == ["notes.md"]


def test_a_pdf_whose_text_runs_on_is_skipped(tmp_path: Path) -> None:
    from rsiqa.ingest.loaders import ExtractionLimits

    root = _bomb_corpus(tmp_path)
    result = load_corpus(root, limits=ExtractionLimits(pages=100_000, chars=1_000_000, seconds=600))
    assert result.skipped["bomb.pdf"].startswith("too much text (over 1,000,000 characters by page ")
    assert "RSIQA_MAX_EXTRACTED_CHARS" in result.skipped["bomb.pdf"]


def test_a_pdf_whose_extraction_is_too_slow_is_skipped(tmp_path: Path) -> None:
    from rsiqa.ingest.loaders import ExtractionLimits

    root = _bomb_corpus(tmp_path)
    started = time.monotonic()
    result = load_corpus(root, limits=ExtractionLimits(pages=100_000, chars=10**12, seconds=1.0))
    assert time.monotonic() - started < 8  # one page takes well under a second
    assert result.skipped["bomb.pdf"].startswith("text extraction too slow (stopped after 1 s at page ")
    assert [d.path for d in result.documents] == ["notes.md"]
