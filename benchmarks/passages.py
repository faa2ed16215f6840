"""Passage quality on a real folder of HTML or PDF, without embedding anything.

Loads a folder with rsiqa's loaders, chunks it with the settings' passage sizes and prints:
passages, median words, share under 20 words, navigation/footer passages (holding one of a list
of known menu and footer strings), and a code check: every line of every ``<pre>`` block of the
pages is found, verbatim, in a passage of its page.

    .venv/bin/python benchmarks/passages.py                      # /usr/share/doc/python3.11/html
    .venv/bin/python benchmarks/passages.py DIR --extractor trafilatura   # the same figures for trafilatura
    .venv/bin/python benchmarks/passages.py DIR --json --show-nav 5

``--extractor trafilatura`` replaces the HTML loader by ``trafilatura.extract`` (Markdown
output with formatting and tables, headings as sections), for comparison; it needs
``pip install trafilatura``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

#: Strings of Sphinx and common site menus and footers; a passage holding one is page furniture.
NAV_STRINGS = (
    "Previous topic", "Next topic", "This Page", "Show Source", "Report a Bug", "Quick search",
    "index modules", "modules | next", "next | previous", "Table of Contents", "Navigation",
    "Please donate", "Created using Sphinx", "Last updated on October", "Found a bug",
    "Copyright 2001-2026, Python Software Foundation", "Theme Auto Light Dark", "3.11.2 Documentation »",
    "Permalink to this heading",
)


def nav_hits(text: str) -> list[str]:
    """The known menu and footer strings in a passage."""
    return [s for s in NAV_STRINGS if s in text]


def markdown_sections(text: str):
    """Markdown (trafilatura's output) as sections: ``#`` headings, fenced code kept verbatim, blank-line paragraphs."""
    import re

    from rsiqa.ingest.html import Section, fence

    sections = [Section(level=0, name=None, anchor=None)]
    lines = text.split("\n")
    i, para = 0, []

    def close() -> None:
        if para:
            sections[-1].paragraphs.append(" ".join(" ".join(para).split()))
            para.clear()

    while i < len(lines):
        line = lines[i]
        heading = re.match(r"^(#{1,6})\s+(.*)$", line)
        if line.startswith("```"):
            close()
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            sections[-1].paragraphs.append(fence("\n".join(lines[i + 1:end])))
            i = end + 1
            continue
        if heading:
            close()
            sections.append(Section(level=len(heading.group(1)), name=heading.group(2).strip(), anchor=None))
        elif not line.strip() or re.match(r"^\s*([-*]|\d+\.)\s", line):
            close()
            if line.strip():
                para.append(line.strip())
        else:
            para.append(line.strip())
        i += 1
    close()
    return [s for s in sections if s.paragraphs or s.name]


def _trafilatura_loader(data: bytes, rel: str):
    """The page through ``trafilatura.extract`` (Markdown, formatting and tables kept), in sections as rsiqa makes them."""
    import trafilatura

    from rsiqa.ingest import html
    from rsiqa.ingest.documents import LoadedDocument
    from rsiqa.ingest.loaders import SECTION_MIN_WORDS

    page = data.decode("utf-8", "replace")
    text = trafilatura.extract(page, output_format="markdown", include_formatting=True, include_tables=True,
                               include_comments=False, include_links=False) or ""
    meta = trafilatura.extract_metadata(page)
    title = (meta.title if meta is not None and meta.title else None) or rel
    sections = html.merge_small_sections(markdown_sections(text), SECTION_MIN_WORDS)
    return LoadedDocument(path=rel, title=title, blocks=html.sections_to_blocks(sections, title, rel, None))


def code_lines(folder: Path, rel: str) -> list[str]:
    """The non-blank lines of every ``<pre>`` block of an HTML page, right-stripped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((folder / rel).read_bytes(), "lxml")
    lines: list[str] = []
    for pre in soup.find_all("pre"):
        lines += [line.rstrip() for line in pre.get_text().split("\n") if line.strip()]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", default="/usr/share/doc/python3.11/html")
    parser.add_argument("--ext", default="html,htm,pdf", help="file types read (comma-separated; default: HTML and PDF)")
    parser.add_argument("--extractor", choices=("rsiqa", "trafilatura"), default="rsiqa")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--show-nav", type=int, default=0, help="print this many navigation passages")
    parser.add_argument("--show-short", type=int, default=0, help="print this many passages under 20 words")
    parser.add_argument("--code-pages", type=int, default=0,
                        help="check code on at most this many pages (0: all pages with <pre>)")
    args = parser.parse_args(argv)

    from rsiqa.ingest import loaders
    from rsiqa.ingest.chunking import chunk_blocks
    from rsiqa.settings import Settings

    settings = Settings()
    if args.extractor == "trafilatura":
        loaders.LOADERS[".html"] = loaders.LOADERS[".htm"] = _trafilatura_loader
    folder = Path(args.folder)
    started = time.perf_counter()
    wanted = tuple("." + e.strip().lstrip(".").lower() for e in args.ext.split(",") if e.strip())
    documents, skipped = [], {}
    for path in sorted(loaders.iter_corpus_files(folder)):
        rel = loaders.corpus_relpath(path, folder)
        if not rel.lower().endswith(wanted):
            continue
        try:
            documents.append(loaders.load_bytes(loaders.read_file(path, settings.max_file_mb), rel))
        except loaders.SkipFile as exc:
            skipped[rel] = str(exc)
    load_seconds = time.perf_counter() - started
    passages = []
    by_path: dict[str, list[str]] = {}
    for document in documents:
        chunked = chunk_blocks(document.blocks, settings.chunk_min_words, settings.chunk_max_words,
                               settings.chunk_hard_max_words)
        passages += chunked
        by_path[document.path] = [p.text for p in chunked]
    words = [len(p.text.split()) for p in passages]
    nav = [p for p in passages if nav_hits(p.text)]
    short = [p for p in passages if len(p.text.split()) < 20]
    sections_with_mark = sum(1 for p in passages if p.source.section and "¶" in p.source.section)
    text_with_mark = sum(1 for p in passages if "¶" in p.text)
    anchored = sum(1 for p in passages if p.source.url and "#" in p.source.url)
    import re

    leaders = sum(1 for p in passages if re.search(r"(?:\s?\.\s?){6,}\s*\d+", p.text))
    split_words = sum(len(re.findall(r"[a-z]- [a-z]", p.text)) for p in passages)
    page_sections = sum(1 for p in passages if re.fullmatch(r"page \d+", p.source.section or ""))

    pages = [rel for rel in by_path if rel.endswith((".html", ".htm"))]
    checked = intact = 0
    broken: list[tuple[str, str]] = []
    for rel in pages:
        lines = code_lines(folder, rel)
        if not lines:
            continue
        if args.code_pages and checked >= args.code_pages:
            break
        checked += 1
        page_text = "\n".join(by_path[rel])
        kept = [line for line in lines if line in page_text]
        if len(kept) == len(lines):
            intact += 1
        else:
            broken.append((rel, next(line for line in lines if line not in page_text)))
    figures = {
        "folder": str(folder), "extractor": args.extractor, "files": len(documents),
        "skipped": len(skipped), "passages": len(passages),
        "median_words": statistics.median(words) if words else 0,
        "under_20_words": len(short) / max(len(passages), 1),
        "navigation_passages": len(nav),
        "sections_with_pilcrow": sections_with_mark,
        "passages_with_pilcrow": text_with_mark,
        "passages_with_anchor": anchored / max(len(passages), 1),
        "dot_leader_passages": leaders, "hyphen_split_words": split_words,
        "page_n_sections": page_sections / max(len(passages), 1),
        "code_pages_checked": checked, "code_pages_intact": intact,
        "load_seconds": round(load_seconds, 1),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")
        for rel, reason in list(skipped.items())[:5]:
            print(f"  skipped {rel}: {reason}")
        for rel, line in broken[:5]:
            print(f"  code line not found verbatim: {rel}: {line!r}")
    for passage in nav[: args.show_nav]:
        print("--- nav", passage.source.path, nav_hits(passage.text), "\n", passage.text[:300])
    for passage in short[: args.show_short]:
        print("--- short", passage.source.path, passage.source.section, "\n", passage.text[:300])
    return 0


if __name__ == "__main__":
    sys.exit(main())
