"""Read corpus files into blocks, choosing a loader by extension; bad files are skipped with a reason."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rsiqa.documents import Block, LoadedDocument, Source
from rsiqa.structure import parse_text, title_from_filename

log = logging.getLogger(__name__)

#: Files larger than this are skipped: they are almost never prose worth citing.
MAX_FILE_BYTES = 64 * 1024 * 1024


class SkipFile(Exception):
    """Raised by a loader when a file cannot be used; the message is the one-line reason."""


@dataclass
class CorpusLoad:
    """The outcome of reading a corpus folder."""

    documents: list[LoadedDocument] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # relative path -> reason
    hashes: dict[str, str] = field(default_factory=dict)  # relative path -> sha256 of the bytes


def _decode(data: bytes) -> str:
    """Bytes to text: UTF-8 (with or without BOM), else Latin-1; binary data is refused."""
    if not data.strip():
        raise SkipFile("empty file")
    if b"\x00" in data[:8192]:
        raise SkipFile("binary data, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
        controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
        if controls > len(text[:8192]) * 0.01:
            raise SkipFile("binary data, not text") from None
        return text


def load_text(path: Path, rel: str) -> LoadedDocument:
    """Plain text or Markdown, parsed by :func:`rsiqa.structure.parse_text`."""
    return parse_text(_decode(path.read_bytes()), rel, title_from_filename(path.name))


def load_html(path: Path, rel: str) -> LoadedDocument:
    """HTML: visible text of headings, paragraphs and list items; scripts and styles dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(path.read_bytes()), "lxml")
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer"]):
        tag.decompose()
    title_tag = soup.find("title") or soup.find("h1")
    title = title_tag.get_text(" ", strip=True) if title_tag else title_from_filename(path.name)
    url = None
    for selector in ('link[rel="canonical"]', 'meta[property="og:url"]'):
        found = soup.select_one(selector)
        if found is not None:
            url = str(found.get("href") or found.get("content") or "") or None
            break
    lines: list[str] = []
    for el in soup.find_all(["h1", "h2", "h3", "h4", "p", "li", "blockquote", "pre"]):
        if el.find_parent(["p", "li", "blockquote"]) is not None:
            continue
        text = el.get_text(" ", strip=True)
        if not text:
            continue
        lines.append(f"{'#' * int(el.name[1])} {text}" if el.name in ("h1", "h2", "h3", "h4") else text)
    doc = parse_text("\n\n".join(lines), rel, title or title_from_filename(path.name))
    if url:
        for block in doc.blocks:
            if block.source.url is None:
                block.source = Source(**{**block.source.to_dict(), "url": url})
    return doc


def load_pdf(path: Path, rel: str) -> LoadedDocument:
    """PDF through pypdf, one section per page; encrypted or unreadable PDFs are skipped."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise SkipFile("encrypted PDF")
        info = reader.metadata
        title = (info.title if info and info.title else None) or title_from_filename(path.name)
        blocks: list[Block] = []
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if not text:
                continue
            page_doc = parse_text(text, rel, title)
            for block in page_doc.blocks:
                source = Source(title=title, path=rel, kind="document", section=f"page {number}")
                blocks.append(Block(source=source, paragraphs=block.paragraphs))
    except SkipFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise SkipFile(f"unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from exc
    return LoadedDocument(path=rel, title=title, blocks=blocks)


LOADERS: dict[str, Callable[[Path, str], LoadedDocument]] = {
    ".txt": load_text,
    ".md": load_text,
    ".markdown": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
}


def iter_corpus_files(root: Path) -> Iterator[Path]:
    """Every file below ``root`` in a stable order, without following symlinked folders (no loops)."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def load_file(path: Path, rel: str) -> LoadedDocument:
    """Load one file with the loader for its extension, or raise :class:`SkipFile`."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise SkipFile(f"unsupported file type '{path.suffix or '(none)'}'")
    size = path.stat().st_size
    if size == 0:
        raise SkipFile("empty file")
    if size > MAX_FILE_BYTES:
        raise SkipFile(f"too large ({size // (1024 * 1024)} MB > {MAX_FILE_BYTES // (1024 * 1024)} MB)")
    doc = loader(path, rel)
    if not any(block.paragraphs for block in doc.blocks):
        raise SkipFile("no text found")
    return doc


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_corpus(root: Path) -> CorpusLoad:
    """Load every supported file below ``root``; unreadable ones land in ``skipped`` with a reason."""
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    result = CorpusLoad()
    for path in iter_corpus_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            if not path.is_file():
                raise SkipFile("not a regular file (broken link or special file)")
            result.hashes[rel] = file_sha256(path)
            result.documents.append(load_file(path, rel))
        except SkipFile as exc:
            result.skipped[rel] = str(exc)
        except OSError as exc:
            result.skipped[rel] = f"cannot read ({exc.strerror or exc})"
        if rel in result.skipped:
            result.hashes.pop(rel, None)
            log.warning("skipped %s: %s", rel, result.skipped[rel])
    return result
