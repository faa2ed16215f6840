"""A PDF's extracted page text as sections of paragraphs.

* **Sections** come from the PDF's outline (bookmarks) when it has one: an entry starts a
  section on its page, at the line that holds its title (else at the page's top), and the
  title line itself is the section's name, not text. Without an outline each page is a
  section ("page N").
* **Line breaks**: lines are joined into paragraphs. A paragraph ends at a blank line, before
  a list item, or after a line that ends a sentence and stops well short of the page's usual
  line length. A word hyphenated across a line break is joined ("manip-" + "ulation" ->
  "manipulation"), unless the document writes it with that hyphen elsewhere
  ("self-" + "improvement" stays "self-improvement").
* **Tables of contents**: dot-leader lines ("Introduction ........ 3", "2.1 Scope . . . . 7")
  are dropped.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter

from rsiqa.ingest.html import Section
from rsiqa.ingest.structure import single_line

#: "Introduction ........ 3", "2.1 Scope . . . . . 17", "Index …… iv": a table-of-contents line.
_DOT_LEADER = re.compile(r"^.*\S.*?(?:\s?[.·…•]\s?){4,}\s*(?:\d+|[ivxlcdm]+)\s*$", re.I)
_LIST_START = re.compile(r"^\s*(?:[-•*▪◦]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+")
_HYPHEN_END = re.compile(r"([A-Za-zÀ-ÿ]+)-$")
_WORD_START = re.compile(r"^([a-zà-ÿ][\w'’]*)(.*)$")


def is_toc_line(line: str) -> bool:
    """A table-of-contents line: a title, a run of dot leaders and a page number."""
    return bool(_DOT_LEADER.match(line.strip()))


_CONTENTS_HEADING = re.compile(r"^\s*(table of )?contents\s*$", re.I)


def _drop_contents(lines: list[str]) -> list[str]:
    """A page's lines without table-of-contents lines (and its "Contents" heading when it had some)."""
    kept = [line for line in lines if not is_toc_line(line)]
    if len(kept) < len(lines):
        kept = [line for line in kept if not _CONTENTS_HEADING.match(line)]
    return kept


def hyphenated_words(text: str) -> Counter[str]:
    """Lower-case hyphenated words the text writes within a line ("self-improvement")."""
    return Counter(m.group(0).lower() for m in re.finditer(r"\b[A-Za-zÀ-ÿ]+-[A-Za-zÀ-ÿ]+\b", text))


def join_lines(lines: list[str], keep_hyphens: Counter[str] | None = None) -> str:
    """Lines of one paragraph as one line, words hyphenated at a line end joined again."""
    keep_hyphens = keep_hyphens or Counter()
    out = ""
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        end = _HYPHEN_END.search(out)
        start = _WORD_START.match(line)
        if end and not start and line[:1].isalpha():  # "Bayes-" + "Nash": a name's hyphen, not a break
            out += line
        elif end and start:
            hyphenated = f"{end.group(1)}-{start.group(1)}".lower()
            out = out[:-1] + ("-" if keep_hyphens[hyphenated] else "") + line
        else:
            out = f"{out} {line}" if out else line
    return out


def paragraphs(lines: list[str], keep_hyphens: Counter[str] | None = None) -> list[str]:
    """Lines of extracted PDF text as paragraphs (see the module docstring)."""
    widths = [len(ln.strip()) for ln in lines if len(ln.strip()) > 20]
    usual = statistics.median(widths) if widths else 0
    out: list[str] = []
    current: list[str] = []

    def close() -> None:
        if current:
            text = join_lines(current, keep_hyphens)
            if text:
                out.append(text)
            current.clear()

    for raw in lines:
        line = raw.strip()
        if not line:
            close()
            continue
        if _LIST_START.match(line) and current:
            close()
        current.append(line)
        if re.search(r"[.!?:;][\"'”’)]*$", line) and usual and len(line) < 0.8 * usual:
            close()
    close()
    return out


def _fold(text: str) -> str:
    return single_line(text).lower()


def _heading_at(lines: list[str], title: str, start: int) -> int | None:
    """The index of the line (from ``start``) that holds the outline ``title`` (its whole text, or the line begins it)."""
    want = _fold(title)
    if not want:
        return None
    for index in range(start, len(lines)):
        line = _fold(lines[index])
        if line and (line == want or (line.startswith(want) and len(want) >= 4)
                     or (want.startswith(line) and len(line) >= max(4, len(want) // 2))):
            return index
    return None


def page_sections(pages: list[str], outline: list[tuple[int, str, int]]) -> list[Section]:
    """Sections of a PDF from its page texts and its outline entries ``(page index, title, level)``.

    Table-of-contents lines are dropped first; the text before the first entry is a section
    without a name.
    """
    cleaned = [_drop_contents((page or "").split("\n")) for page in pages]
    keep = hyphenated_words("\n".join("\n".join(lines) for lines in cleaned))
    if not outline:
        return [Section(level=1, name=f"page {number}", anchor=f"page={number}", paragraphs=paragraphs(lines, keep),
                        written=False)
                for number, lines in enumerate(cleaned, start=1)]
    starts: dict[int, list[tuple[str, int]]] = {}
    for page, title, level in sorted(outline, key=lambda entry: entry[0]):
        if 0 <= page < len(cleaned):
            starts.setdefault(page, []).append((" ".join(title.split()), level))
    sections = [Section(level=0, name=None, anchor=None)]
    pending: list[str] = []

    def flush() -> None:
        sections[-1].paragraphs.extend(paragraphs(pending, keep))
        pending.clear()

    for index, lines in enumerate(cleaned):
        position = 0
        for title, level in starts.get(index, []):
            found = _heading_at(lines, title, position)
            cut = found if found is not None else position
            pending.extend(lines[position:cut])
            flush()
            sections.append(Section(level=level, name=title, anchor=f"page={index + 1}"))
            position = cut + (1 if found is not None else 0)
        pending.extend(lines[position:])
        pending.append("")  # a page break ends a paragraph
    flush()
    return [s for s in sections if s.paragraphs or s.name]


def outline_entries(reader) -> list[tuple[int, str, int]]:
    """The outline of a pypdf reader as ``(page index, title, level)``; empty when it has none or it is broken."""
    entries: list[tuple[int, str, int]] = []

    def walk(items, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            try:
                page = reader.get_destination_page_number(item)
                title = str(item.title or "").strip()
            except Exception:  # noqa: BLE001 - a broken bookmark is left out
                continue
            if title and page is not None and page >= 0:
                entries.append((page, title, level))

    try:
        walk(reader.outline, 1)
    except Exception:  # noqa: BLE001 - a damaged outline means no outline
        return []
    return entries
