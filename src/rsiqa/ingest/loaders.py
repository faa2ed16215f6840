"""Read corpus files into blocks, choosing a loader by extension; bad files are skipped with a reason.

A corpus folder may be messy: a broken or encrypted PDF, binary data named ``.txt``, a huge
file, a symlink loop or an unreadable folder never stops a build. Each such entry lands in
:attr:`CorpusLoad.skipped` with a one-line reason, and every good file is still indexed.
Memory stays bounded: a file is read only when it is within ``Settings.max_file_mb``, and
never more than that many bytes of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import hashlib
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rsiqa.ingest.documents import LoadedDocument, Source
from rsiqa.ingest.structure import parse_text, single_line, title_from_filename
from rsiqa.ingest.urls import safe_url

log = logging.getLogger(__name__)

#: The default of ``Settings.max_file_mb``, for callers without settings.
DEFAULT_MAX_FILE_MB = 20.0
_MB = 1024 * 1024


@dataclass(frozen=True)
class ExtractionLimits:
    """How much work one PDF may cost: its pages, the characters extracted and the seconds spent.

    A PDF can be small on disk and still huge to extract (thousands of pages drawing one shared
    content stream); past any limit the file is skipped with the reason. Time is checked
    between pages. Text and HTML files are bounded by ``max_file_mb`` already.
    """

    pages: int = 2000
    chars: int = 10_000_000
    seconds: float = 60.0


class SkipFile(Exception):
    """Raised by a loader when a file cannot be used; the message is the one-line reason."""


class CorpusError(RuntimeError):
    """The corpus folder itself is missing or unreadable; the message says what to do."""


@dataclass
class CorpusLoad:
    """The outcome of reading a corpus folder."""

    documents: list[LoadedDocument] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # relative path (folders end in "/") -> reason
    hashes: dict[str, str] = field(default_factory=dict)  # relative path -> sha256 of the bytes
    #: Every file in walk order, as (relative path as on disk, its fingerprint: the sha256 of the
    #: bytes actually read, or :func:`entry_digest` for a file not read). See ``rsiqa.index.build.corpus_fingerprint``.
    fingerprints: list[tuple[str, str]] = field(default_factory=list)


# --- decoding ---------------------------------------------------------------------------------


def _looks_binary(data: bytes) -> bool:
    """True for data that is not text: NUL bytes, or many control characters, in its first 8 KB."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte < 32 and byte not in b"\n\r\t\f\x1b")
    return controls > len(head) * 0.01


def decode_text(data: bytes) -> str:
    """Bytes to text: UTF-16/UTF-8 by byte-order mark, else UTF-8, else Windows-1252/Latin-1.

    Raises :class:`SkipFile` for an empty file or binary data.
    """
    if not data:
        raise SkipFile("empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise SkipFile("binary data, not text") from None
    if _looks_binary(data):
        raise SkipFile("binary data, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:  # Windows-1252 is Latin-1 plus curly quotes and dashes in 0x80-0x9f
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def display_name(name: str) -> str:
    """A file name as valid Unicode: bytes that are not UTF-8 are read as Windows-1252/Latin-1."""
    raw = os.fsencode(name)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


def corpus_relpath(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, with '/' separators, as valid Unicode (used as the document path)."""
    return display_name(path.relative_to(root).as_posix())


# --- loaders: (bytes, relative path) -> document ------------------------------------------------


def _title_for(rel: str, text: str | None = None) -> str:
    return title_from_filename(rel.rsplit("/", 1)[-1], text)


#: YAML front matter at the very start of a Markdown file: ``---`` lines around it (``...`` may end it).
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*$\r?\n?", re.S | re.M)
_FIRST_HEADING = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.M)
_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.S | re.M)
#: Front matter fields a source shows.
FRONT_MATTER_FIELDS = ("title", "url", "author", "date")


def front_matter(text: str) -> tuple[dict[str, str], str]:
    """The ``title``, ``url``, ``author`` and ``date`` of a Markdown file's YAML front matter, and the text after it.

    Fields that are missing, empty or not text (or a date, or a list of names) are left out; a
    block that is not a YAML mapping is not front matter, and the text is returned whole.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}, text
    if not isinstance(data, dict):
        return {}, text
    meta: dict[str, str] = {}
    for key in FRONT_MATTER_FIELDS:
        value = data.get(key)
        if isinstance(value, list) and key == "author":
            value = ", ".join(str(v) for v in value if isinstance(v, str | int | float))
        if isinstance(value, str | int | float | dt.date) and not isinstance(value, bool):
            value = single_line(str(value))
            if value:
                meta[key] = value
    return meta, text[match.end():]


def first_heading(text: str) -> str | None:
    """The text of the first ``#`` heading of Markdown ``text`` (outside code fences), or None."""
    match = _FIRST_HEADING.search(_FENCE.sub("", text))
    return single_line(match.group(1)) if match else None


def load_text(data: bytes, rel: str) -> LoadedDocument:
    """Plain text or Markdown, parsed by :func:`rsiqa.ingest.structure.parse_text`.

    The title is the file name spelled as the text spells its words ("rsi-notes.md" -> "RSI
    notes"); a Markdown file's title is its front matter's ``title``, else its first ``#``
    heading. Its front matter's ``url``, ``author`` and ``date`` go to the sources of its own
    text (not to the posts it links).
    """
    text = decode_text(data)
    if not rel.lower().endswith((".md", ".markdown")):
        return parse_text(text, rel, _title_for(rel, text))
    meta, body = front_matter(text)
    title = meta.get("title") or first_heading(body) or _title_for(rel, body)
    doc = parse_text(body, rel, title)
    extra = {"url": safe_url(meta.get("url")), "author": meta.get("author"), "date": meta.get("date")}
    if any(extra.values()):
        for block in doc.blocks:
            if block.source.kind not in ("linked_post", "comment"):
                block.source = dataclasses.replace(block.source, url=block.source.url or extra["url"],
                                                   author=extra["author"], date=extra["date"])
    return doc


#: Sections of an HTML page or PDF shorter than this are merged with the ones after them.
SECTION_MIN_WORDS = 80


def load_html(data: bytes, rel: str) -> LoadedDocument:
    """HTML: the page's main content in sections from its headings, code verbatim (:mod:`rsiqa.ingest.html`).

    Title from ``<title>`` without its site-name suffix; URL from ``<link rel="canonical">`` or
    ``og:url`` (http(s) only), else the file's path, with each section's ``#anchor``. The
    encoding comes from the page itself (byte-order mark or ``<meta charset>``) when declared.
    """
    from bs4 import BeautifulSoup

    from rsiqa.ingest import html

    if not data.strip():
        raise SkipFile("empty file")
    if _looks_binary(data) and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SkipFile("binary data, not text")
    soup = BeautifulSoup(data, "lxml")
    url = None
    for selector, attr in (('link[rel="canonical"]', "href"), ('meta[property="og:url"]', "content")):
        found = soup.select_one(selector)
        if found is not None and str(found.get(attr) or "").strip():
            url = safe_url(str(found.get(attr)))  # http(s) only: never a javascript: or data: link
            break
    site = soup.select_one('meta[property="og:site_name"]')
    site_name = str(site.get("content") or "") if site is not None else None
    title_tag = soup.find("title")
    raw_title = title_tag.get_text(" ", strip=True) if title_tag is not None else ""
    html.strip_furniture(soup)
    main = html.main_element(soup)
    h1 = main.find("h1") if main is not None else None
    h1_text = " ".join(h1.get_text().split()) if h1 is not None else None
    title = single_line(html.clean_title(raw_title, h1_text, site_name)) \
        or single_line(h1_text or "") or _title_for(rel)
    sections = html.merge_small_sections(html.page_sections(main), SECTION_MIN_WORDS)
    return LoadedDocument(path=rel, title=title, blocks=html.sections_to_blocks(sections, title, rel, url))


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Silence pypdf's warnings about repaired damage while a PDF is read (a skip reason says enough)."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _open_pdf(data: bytes):
    """A pypdf reader over ``data``; PDFs locked only by an owner password are opened, others skipped."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except DependencyError as exc:
            raise SkipFile(f"encrypted PDF ({exc})") from exc
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged encryption data
            raise SkipFile(f"encrypted PDF (cannot decrypt: {type(exc).__name__})") from exc
        if not opened:
            raise SkipFile("encrypted PDF (password required)")
    return reader


def load_pdf(data: bytes, rel: str, limits: ExtractionLimits = ExtractionLimits()) -> LoadedDocument:
    """PDF through pypdf, in sections from its outline (else one per page); see :mod:`rsiqa.ingest.pdf`.

    Password-protected or unreadable PDFs are skipped.
    A PDF encrypted with an empty user password (it opens without one) is read. A page that
    fails to parse is left out; the file is skipped only when no page can be read. A PDF over
    any of ``limits`` (pages, extracted characters, seconds) is skipped with the reason.
    """
    started = time.monotonic()
    with _quiet_pypdf():
        try:
            reader = _open_pdf(data)
            info = reader.metadata
            title = (single_line(str(info.title)) if info and info.title else "") or _title_for(rel)
            count = len(reader.pages)
        except SkipFile:
            raise
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged files
            raise SkipFile(f"unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from exc
        if count > limits.pages:
            raise SkipFile(f"too many pages ({count} > max_pdf_pages {limits.pages}; raise RSIQA_MAX_PDF_PAGES to "
                           "index it)")
        from rsiqa.ingest import html, pdf

        pages: list[str] = []
        failures: list[str] = []
        chars = 0
        for number in range(1, count + 1):
            if time.monotonic() - started > limits.seconds:
                raise SkipFile(f"text extraction too slow (stopped after {limits.seconds:g} s at page {number} of "
                               f"{count}; raise RSIQA_MAX_FILE_SECONDS to index it)")
            try:
                text = (reader.pages[number - 1].extract_text() or "").strip()
            except Exception as exc:  # noqa: BLE001
                failures.append(f"page {number}: {type(exc).__name__}")
                pages.append("")
                continue
            chars += len(text)
            if chars > limits.chars:
                raise SkipFile(f"too much text (over {limits.chars:,} characters by page {number} of {count}; "
                               "raise RSIQA_MAX_EXTRACTED_CHARS to index it)")
            pages.append(text)
        sections = html.merge_small_sections(pdf.page_sections(pages, pdf.outline_entries(reader)), SECTION_MIN_WORDS)

    def source(section: html.Section) -> Source:
        return Source(title=title, path=rel, kind="document", section=section.name)

    blocks = [html.section_block(s, source) for s in sections if s.paragraphs]
    if failures and not blocks:
        raise SkipFile(f"unreadable PDF ({'; '.join(failures[:3])})")
    if failures:
        log.warning("%s: left out unreadable %s", rel, ", ".join(failures))
    return LoadedDocument(path=rel, title=title, blocks=blocks)


LOADERS: dict[str, Callable[[bytes, str], LoadedDocument]] = {
    ".txt": load_text,
    ".md": load_text,
    ".markdown": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
}


# --- walking the folder ---------------------------------------------------------------------------


def check_corpus_dir(root: Path) -> None:
    """Raise :class:`CorpusError` with what to do when ``root`` is not a readable folder."""
    if not root.exists():
        raise CorpusError(f"corpus folder not found: '{root}': create it or pass --corpus DIR")
    if not root.is_dir():
        raise CorpusError(f"corpus path '{root}' is not a folder: pass --corpus DIR")
    try:
        with os.scandir(root):
            pass
    except OSError as exc:
        raise CorpusError(
            f"cannot read corpus folder '{root}' ({exc.strerror or exc}): fix its permissions or pass --corpus DIR"
        ) from exc


def _list_folder(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def walk_corpus(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every non-hidden file below ``root`` in a stable order, as ``(path, None)``.

    Folders that cannot be read, and symlinked folders already visited (loops such as
    ``a -> .``, or a second link to the same folder), come out as ``(folder, reason)``.
    Symlinked folders are followed once each, so a loop never recurses.
    """
    check_corpus_dir(root)
    top = os.stat(root)
    seen: dict[tuple[int, int], Path] = {(top.st_dev, top.st_ino): root}
    stack: list[Path] = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = _list_folder(folder)
        except OSError as exc:
            yield folder, f"cannot read folder ({exc.strerror or exc})"
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows symlinks; False for broken links and loops
            except OSError:
                is_dir = False
            if not is_dir:
                yield path, None
                continue
            try:
                info = os.stat(path)
            except OSError as exc:
                yield path, f"cannot read folder ({exc.strerror or exc})"
                continue
            key = (info.st_dev, info.st_ino)
            if key in seen:
                first = seen[key].relative_to(root).as_posix()
                yield path, f"symlink loop or duplicate: same folder as '{display_name(first)}', not read again"
                continue
            seen[key] = path
            subfolders.append(path)
        stack.extend(reversed(subfolders))


def iter_corpus_files(root: Path) -> Iterator[Path]:
    """Every file below ``root`` in a stable order (see :func:`walk_corpus`); folders skipped there are left out."""
    for path, reason in walk_corpus(root):
        if reason is None:
            yield path


# --- reading one file -------------------------------------------------------------------------------


def _stat_file(path: Path) -> os.stat_result:
    """``stat`` of a corpus entry (following links), or :class:`SkipFile` saying why it cannot be read."""
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SkipFile("symlink loop") from exc
        if exc.errno == errno.ENOENT and path.is_symlink():
            raise SkipFile("broken symlink") from exc
        raise SkipFile(f"cannot read ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise SkipFile("not a regular file (device, pipe or socket)")
    return info


def _too_large(size: int, max_file_mb: float) -> SkipFile:
    return SkipFile(
        f"too large ({size / _MB:.1f} MB > max_file_mb {max_file_mb:g} MB; raise RSIQA_MAX_FILE_MB to index it)"
    )


def read_file(path: Path, max_file_mb: float = DEFAULT_MAX_FILE_MB) -> bytes:
    """The bytes of a regular file of at most ``max_file_mb``; never reads more than that limit."""
    limit = int(max_file_mb * _MB)
    info = _stat_file(path)
    if info.st_size > limit:
        raise _too_large(info.st_size, max_file_mb)
    with path.open("rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise SkipFile("not a regular file (device, pipe or socket)")
        want = info.st_size + 1
        data = handle.read(want)
        if len(data) == want:  # it grew since stat: read on, but never past the limit
            data += handle.read(limit + 1 - len(data))
    if len(data) > limit:
        raise _too_large(len(data), max_file_mb)
    return data


def _check_supported(rel: str) -> str:
    """The lower-case extension of ``rel`` when a loader handles it, else :class:`SkipFile`."""
    suffix = os.path.splitext(rel)[1].lower()
    if suffix not in LOADERS:
        raise SkipFile(f"unsupported file type '{suffix or '(none)'}'")
    return suffix


def load_bytes(data: bytes, rel: str, limits: ExtractionLimits = ExtractionLimits()) -> LoadedDocument:
    """Load a file's bytes with the loader for its extension, or raise :class:`SkipFile`."""
    suffix = _check_supported(rel)
    if not data:
        raise SkipFile("empty file")
    doc = load_pdf(data, rel, limits) if suffix == ".pdf" else LOADERS[suffix](data, rel)
    if not any(block.paragraphs for block in doc.blocks):
        raise SkipFile("no text found" + (" (a scanned PDF has no text layer)" if suffix == ".pdf" else ""))
    return doc


def load_file(path: Path, rel: str, max_file_mb: float = DEFAULT_MAX_FILE_MB) -> LoadedDocument:
    """Load one file, or raise :class:`SkipFile` with the reason."""
    _check_supported(rel)
    return load_bytes(read_file(path, max_file_mb), rel)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entry_digest(path: Path) -> str:
    """The fingerprint of a corpus file read now: the SHA-256 of its bytes, or why it has none."""
    try:
        return file_sha256(path) if path.is_file() else "not-a-file"
    except OSError:
        return "unreadable"


def _parse_job(job: tuple[bytes, str, ExtractionLimits]) -> tuple[str, object]:
    """Parse one file's bytes (in a worker process): ("ok", document) or ("skip", reason)."""
    data, rel, limits = job
    try:
        return "ok", load_bytes(data, rel, limits)
    except SkipFile as exc:
        return "skip", str(exc)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop the build
        log.debug("failed to load %s", rel, exc_info=True)
        return "skip", f"cannot parse ({type(exc).__name__}: {str(exc)[:120]})"


def _die_with_parent() -> None:
    """In a parsing worker: be killed when the build process dies (``kill -9`` included), not parse on alone."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def _parse_all(jobs: list[tuple[Path, str, str]], max_file_mb: float, limits: ExtractionLimits, workers: int,
               bar) -> Iterator[tuple[int, str, object]]:
    """Parse ``jobs`` (path, rel, sha256 of the bytes read first), yielding (job number, status, result).

    With ``workers`` > 1 the files are parsed in that many processes, at most two files per
    worker in flight (bytes are read just before they are handed over, so memory stays bounded).
    A file whose bytes changed since they were hashed is skipped with that reason.
    """
    def read(n: int) -> tuple[bytes, str, ExtractionLimits] | tuple[str, object]:
        path, rel, digest = jobs[n]
        try:
            data = read_file(path, max_file_mb)
        except SkipFile as exc:
            return "skip", str(exc)
        except OSError as exc:
            return "skip", f"cannot read ({exc.strerror or exc})"
        if hashlib.sha256(data).hexdigest() != digest:
            return "skip", "changed while the build read it: build again"
        return data, rel, limits

    if workers <= 1 or len(jobs) < 2:
        for n in range(len(jobs)):
            job = read(n)
            result = _parse_job(job) if len(job) == 3 else job  # type: ignore[arg-type]
            bar.update(1)
            yield n, result[0], result[1]  # type: ignore[misc]
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with_parent) as pool:
        pending: dict = {}
        next_job = 0
        while next_job < len(jobs) or pending:
            while next_job < len(jobs) and len(pending) < 2 * workers:
                job = read(next_job)
                if len(job) == 3:
                    pending[pool.submit(_parse_job, job)] = next_job
                else:
                    bar.update(1)
                    yield next_job, job[0], job[1]  # type: ignore[misc]
                next_job += 1
            if not pending:
                continue
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                n = pending.pop(future)
                status, result = future.result()
                bar.update(1)
                yield n, status, result


def load_corpus(root: Path, max_file_mb: float = DEFAULT_MAX_FILE_MB, limits: ExtractionLimits = ExtractionLimits(),
                progress: bool = False, workers: int = 1, cache=None) -> CorpusLoad:
    """Load every supported file below ``root``; the others land in ``skipped`` with a reason.

    A file reached twice (a second link to it, or a copy with the same bytes) is loaded once.
    Raises :class:`CorpusError` only when ``root`` itself is missing or unreadable. ``progress``
    shows a bar of the files parsed. ``workers`` > 1 parses files in that many processes.
    ``cache`` (``get(sha256, rel)`` / ``put(sha256, rel, document)``, see
    :class:`rsiqa.index.buildcache.ParseCache`) returns an unchanged file's document without
    parsing it again.

    Files are first listed, hashed and checked for duplicates in walk order; then the files not
    in the cache are parsed; the documents keep the walk order whatever order parsing ends in.
    """
    from tqdm import tqdm

    from rsiqa.serve.terminal import visible

    result = CorpusLoad()
    first_by_hash: dict[str, str] = {}
    first_by_inode: dict[tuple[int, int], str] = {}
    entries = list(walk_corpus(root))
    # Per entry, in walk order: (rel, status, value): status "doc" (value: document), "skip"
    # (value: reason), "parse" (value: job number), "dup" (value: rel of the first copy).
    outcomes: list[list] = []
    jobs: list[tuple[Path, str, str]] = []
    for path, walk_reason in entries:
        rel = corpus_relpath(path, root)
        read_digest: str | None = None  # the hash of the bytes this build used, once read whole
        try:
            if walk_reason is not None:
                rel += "/"
                raise SkipFile(walk_reason)
            info = _stat_file(path)
            _check_supported(rel)
            inode = (info.st_dev, info.st_ino)
            if inode in first_by_inode:
                raise SkipFile(f"duplicate: same file as '{first_by_inode[inode]}'")
            first_by_inode[inode] = rel
            digest = read_digest = file_sha256_limited(path, max_file_mb)
            if digest in first_by_hash:
                outcomes.append([rel, "dup", first_by_hash[digest], digest])
            else:
                first_by_hash[digest] = rel
                cached = cache.get(digest, rel) if cache is not None else None
                if cached is not None:
                    outcomes.append([rel, "doc", cached, digest])
                else:
                    outcomes.append([rel, "parse", len(jobs), digest])
                    jobs.append((path, rel, digest))
        except SkipFile as exc:
            outcomes.append([rel, "skip", str(exc), None])
        except OSError as exc:
            outcomes.append([rel, "skip", f"cannot read ({exc.strerror or exc})", None])
        if walk_reason is None:
            # From the bytes read, not from a second read: a file rewritten meanwhile must not look current.
            result.fingerprints.append((path.relative_to(root).as_posix(), read_digest or entry_digest(path)))

    by_job = {outcome[2]: outcome for outcome in outcomes if outcome[1] == "parse"}
    bar = tqdm(total=len(jobs), desc="reading files", unit="file", disable=not progress or not jobs)
    for n, status, value in _parse_all(jobs, max_file_mb, limits, max(1, workers), bar):
        outcome = by_job[n]
        bar.set_postfix_str(visible(outcome[0][-60:]), refresh=True)
        if status == "ok":
            outcome[1], outcome[2] = "doc", value
            if cache is not None:
                cache.put(outcome[3], outcome[0], value)
        else:
            outcome[1], outcome[2] = "skip", value
    bar.close()

    status_of = {outcome[0]: outcome for outcome in outcomes}
    for rel, status, value, digest in outcomes:
        if status == "dup":
            first = status_of[value]
            # A copy of a file that failed fails the same way; of one that loaded, it is a duplicate.
            status, value = ("skip", f"duplicate: same content as '{value}'") if first[1] == "doc" else ("skip", first[2])
        if status == "doc":
            result.hashes[rel] = digest
            result.documents.append(value)
        else:
            result.skipped[rel] = value
            log.info("skipped %s: %s", rel, value)
    return result


def file_sha256_limited(path: Path, max_file_mb: float = DEFAULT_MAX_FILE_MB) -> str:
    """The SHA-256 of a corpus file's bytes, read within ``max_file_mb`` (:class:`SkipFile` past it)."""
    return hashlib.sha256(read_file(path, max_file_mb)).hexdigest()
