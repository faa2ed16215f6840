"""Turn plain text or Markdown into source-tagged blocks.

The default corpus is an FAQ export whose layout carries meaning, and the same rules apply to
any text a user adds:

* The text before any marker is the main text: the *FAQ answer* when the file has FAQ
  sections (``Related``, ``Alternative phrasings``, ``Scratchpad``), else a *document*.
* ``Related`` and ``Alternative phrasings`` hold questions (kept for follow-up suggestions,
  not indexed); other paragraphs and list items there (e.g. a footnote) stay with the main text.
* ``Scratchpad`` starts *notes*.
* A line that is only a URL opens the excerpt of that linked post (title from its slug), and
  a line ``comments:`` starts the comments on it, and a Markdown heading ends it. A URL line
  that continues a paragraph ending in ``:`` is a link quoted inside the text, not a new post.
  (Text and Markdown only: in HTML and PDF a bare URL is text.)
* Markdown ``#`` headings, and short unpunctuated lines, name the section that follows; a
  short line is also kept as text, so nothing is dropped.

Before that, the text is cleaned (:func:`clean_lines`, :func:`clean_paragraph`):

* Footnotes: a definition (``[^1]: text``, or ``¹ text`` when the marker ``¹`` also stands
  in the text) is taken out of where it stands, and its text joins the sentence that carries
  the marker, as `` (Footnote: text)`` after that sentence's end. A ``[^id]`` marker without
  a definition is removed; a ``[^id]:`` definition that nothing refers to stays as text.
* Page furniture: lines of only separators or bullets (``•••``, ``...``, ``---``), and lists
  made only of ``+ `` stubs of at most four words without sentence punctuation ("+ more
  posts") that no lead-in ending in ``:`` introduces.
* Markdown emphasis marks (``*word*``, ``**word**``, ``_word_``) are dropped; snake_case,
  arithmetic such as ``2*3``, code spans and URLs are left as they are.

Titles made from a URL slug or a file name take their spelling from the document's text:
acronyms and names as the text writes them ("AGI"), hyphenated words when the text
hyphenates them ("self-improvement"), sentence case otherwise.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from itertools import islice
from urllib.parse import urlparse

from rsiqa.ingest.documents import Block, LoadedDocument, Source, fence_code

_URL_LINE = re.compile(r"^\s*<?(https?://\S+?)>?\s*$")
#: A list item's marker: "- ", "* ", "• ", "+ " or "3. ".
LIST_ITEM = re.compile(r"^\s*([-*•+]|\d+\.)\s+")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_QUESTION_SECTIONS = {"related", "alternative phrasings"}
_NOTE_SECTIONS = {"scratchpad"}
_FAQ_MARKERS = _QUESTION_SECTIONS | _NOTE_SECTIONS
_LIST_ICON = re.compile(r"^[-*•]\s+(?:[^\w\s\"'“(]+\s+|[A-Z]\s+(?=[A-Z]))?")

log = logging.getLogger(__name__)


def strip_list_marker(text: str) -> str:
    """The text of a list item without its marker ("- Chollet ..." -> "Chollet ...")."""
    return LIST_ITEM.sub("", text).strip()


_URL = re.compile(r"<?https?://[^\s>]+>?")
#: What stands between a sentence's end and its next word: ". ", '." (', ":\n- ".
_AFTER_SENTENCE_END = re.compile(r"[.!?…:][\"'”’)\]*_]*\s+[\"'“‘(\[*_#>•+\-\s]*")
_LINE_OPENING = re.compile(r"[\"'“‘(\[*_#>•+\-\s]*")
#: Words that cannot end a title: a slug that ends with one was cut short.
_CUT_WORDS = {"a", "an", "the", "and", "or", "but"}
#: Slug makers cut a long title at a word boundary to fit about 60 characters (LessWrong's do): a slug at least
#: this long may stop short of its title's last word.
_LONG_SLUG_CHARS = 55
#: Words after which a title goes on: a completion ending in one would need words the text cannot vouch for.
_FUNCTION_WORDS = _CUT_WORDS | {"in", "of", "to", "for", "with", "on", "at", "by", "from", "as", "into", "about",
                                "is", "are", "was", "were", "be", "been", "that", "which", "who", "it", "its", "this",
                                "their", "his", "her", "if", "than", "so", "not", "no", "can", "will", "would"}
#: A run of the slug's last words the text must write before its next word counts as the title's.
_LEAST_RUN = 3


def _whole(words: list[str], joiner: str) -> re.Pattern[str]:
    """``words`` joined by ``joiner`` as whole words, any case."""
    return re.compile(r"(?<![^\W_])" + joiner.join(re.escape(w) for w in words) + r"(?![^\W_])", re.IGNORECASE)


class Spelling:
    """How a document's text spells words, for titles made from slugs and file names.

    A word's case counts only where it means something: not at the start of a sentence,
    line or list item. URLs are left out: their slugs are what is being spelled. Each word
    is looked up when asked, so a large text costs a few scans, not a pass in Python.
    """

    def __init__(self, text: str) -> None:
        self.text = _URL.sub(" ", text)
        self._words: dict[str, str] = {}
        self._hyphens: dict[str, bool] = {}

    def _starts_sentence(self, start: int) -> bool:
        before = self.text[max(0, start - 40) : start]
        gap = re.search(r"[\W_]*\Z", before).group(0)  # what stands between the word and the one before
        if "\n" in gap or len(gap) == start:
            return bool(_LINE_OPENING.fullmatch(gap.rsplit("\n", 1)[-1]))
        return bool(_AFTER_SENTENCE_END.fullmatch(gap))

    def word(self, word: str) -> str:
        """``word`` as the text mostly writes it when that is not all lower case ("agi" -> "AGI")."""
        key = word.lower()
        if key not in self._words:
            found = islice(_whole([word], "").finditer(self.text), 2000)  # a sample is enough
            counts = Counter(m.group(0) for m in found if not self._starts_sentence(m.start()))
            best, n = counts.most_common(1)[0] if counts else (key, 0)
            self._words[key] = best if best != best.lower() and n > counts.get(key, 0) else ""
        return self._words[key] or word

    def follower(self, words: list[str]) -> str | None:
        """The word the text writes after the last words of ``words``, as it writes it: found after the longest
        run of them (at least :data:`_LEAST_RUN`) that the text writes, when one word follows most of that run's
        occurrences; else None ("... to solve the alignment" -> "problem")."""
        for n in range(len(words), _LEAST_RUN - 1, -1):
            run = r"(?<![^\W_])" + r"[\s-]+".join(re.escape(w) for w in words[-n:])
            found = [m.group(1).lower() for m in islice(re.finditer(run + r"[ \t]+([^\W\d_]+)(?![^\W_]|-\w)",
                                                                    self.text, re.IGNORECASE), 200)]
            if found:
                best, count = Counter(found).most_common(1)[0]
                return self.word(best) if 2 * count > len(found) else None
        return None

    def hyphenates(self, words: list[str]) -> bool:
        """True when the text writes these words joined by hyphens more often than apart."""
        key = "-".join(w.lower() for w in words)
        if key not in self._hyphens:
            if len(words) > 2 and not self.hyphenates(words[:2]):
                self._hyphens[key] = False  # "a-b-c" holds "a-b"
            else:
                joined = len(_whole(words, "-").findall(self.text))
                self._hyphens[key] = joined > 0 and joined > len(_whole(words, r"\s+").findall(self.text))
        return self._hyphens[key]


def _name_words(name: str) -> list[str]:
    """The words of a slug-like ``name``: "why-all-the_fuss" -> ["why", "all", "the", "fuss"]."""
    return [w for w in re.split(r"[-_\s]+", name) if w]


def _title_from_words(name: str, text: str | Spelling | None) -> str:
    """A title from a slug-like ``name`` ("why-all-the-fuss"), spelled as ``text`` spells its words."""
    words = _name_words(name)
    if not words:
        return ""
    spelling = Spelling(text) if isinstance(text, str) else text
    out: list[str] = []
    i = 0
    while i < len(words):
        size = 1
        if spelling is not None:  # the longest run of words the text writes hyphenated
            size = next((n for n in range(min(4, len(words) - i), 1, -1) if spelling.hyphenates(words[i : i + n])), 1)
        run = words[i : i + size]
        out.append("-".join(spelling.word(w) for w in run) if spelling is not None else "-".join(run))
        i += size
    title = " ".join(out)
    if spelling is not None and len(words) > 1 and words[-1].lower() in _CUT_WORDS:
        title += "…"
    return title[:1].upper() + title[1:]


def title_from_slug(url: str, text: str | Spelling | None = None) -> str:
    """A readable title from a URL's last path segment: ``.../why-all-the-fuss`` -> ``Why all the fuss``.

    With the document's ``text``, words are spelled as the text spells them: acronyms upper
    case, hyphenated words hyphenated ("agi-systems" -> "AGI systems", "self-improvement").
    A slug that ends with an article or conjunction was cut, and its title ends with "…". A long
    slug (:data:`_LONG_SLUG_CHARS`) may have lost its last word: when the text writes the slug's
    last words followed by a word that ends a phrase, that word completes the title
    (".../agi-systems-and-humans-will-both-need-to-solve-the-alignment" with a text saying "... to
    solve the alignment problem in order to ..." -> "AGI systems and humans will both need to solve
    the alignment problem").
    """
    segments = [s for s in urlparse(url).path.split("/") if s]
    slug = re.sub(r"\.\w+$", "", segments[-1] if segments else urlparse(url).netloc)
    spelling = Spelling(text) if isinstance(text, str) else text
    title = _title_from_words(slug, spelling)
    if not title:
        return url
    words = _name_words(slug)
    if spelling is not None and len(slug) >= _LONG_SLUG_CHARS and words[-1].lower() not in _CUT_WORDS:
        last = spelling.follower(words)
        if last is not None and last.lower() not in _FUNCTION_WORDS:
            title = f"{title} {last}"
    return title


def single_line(text: str) -> str:
    """``text`` with every run of white space (line breaks included) made one space: titles are one line."""
    return " ".join(text.split())


def title_from_filename(name: str, text: str | Spelling | None = None) -> str:
    """A readable title from a file name: ``my-notes_v2.md`` -> ``My notes v2`` (spelled as in ``text``)."""
    stem = re.sub(r"\.[^.]+$", "", name)
    return single_line(_title_from_words(stem, text) or name)


# --- cleaning: footnotes, page furniture, emphasis ----------------------------------------------

_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_MD_FOOTNOTE_DEF = re.compile(r"^ {0,3}(\[\^[^\]\s]+\]):[ \t]*(.*)$")
_SUP_FOOTNOTE_DEF = re.compile(rf"^\s*([{_SUPERSCRIPTS}]+)[ \t]*([^\s{_SUPERSCRIPTS}].*)$")
_MD_FOOTNOTE_REF = r"\[\^[^\]\s]+\]"
#: Lines that are only separators or bullets: "•••", "...", "---", "* * *".
_SEPARATOR_LINE = re.compile(r"^[\s\-–—_=~*•·∙◦●○▪▫■□♦◆★☆+#|.…]+$")
#: A "+ " line of at most four words and no sentence punctuation: "+ more posts".
_STUB_LINE = re.compile(r"^\s*\+\s+(?:[^\s.!?:;,]+\s*){1,4}$")


def _indent(line: str) -> int:
    head = line[: len(line) - len(line.lstrip(" \t"))]
    return len(head.expandtabs(4))


def _sup_marker(marker: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![{_SUPERSCRIPTS}]){re.escape(marker)}(?![{_SUPERSCRIPTS}])")


def _take_footnotes(lines: list[str]) -> tuple[list[str], dict[str, str]]:
    """Take footnote definitions out of ``lines``: the lines left and ``{marker: footnote text}``.

    A definition is ``[^id]: text`` or, when the same superscript marker stands elsewhere in
    a line of text, ``¹ text``; lines indented under it continue it. A ``[^id]:`` definition
    that no marker refers to stays, as plain text.
    """
    found: list[tuple[int, int, str, str]] = []  # first line, end line, marker, text
    i = 0
    while i < len(lines):
        match = _MD_FOOTNOTE_DEF.match(lines[i]) or _SUP_FOOTNOTE_DEF.match(lines[i])
        if not match:
            i += 1
            continue
        parts, end = [match.group(2).strip()], i + 1
        while end < len(lines):  # indented lines continue it (4 spaces after a blank line)
            nxt = next((k for k in range(end, len(lines)) if lines[k].strip()), len(lines))
            if nxt == len(lines) or _indent(lines[nxt]) < (1 if nxt == end else 4):
                break
            parts.append(lines[nxt].strip())
            end = nxt + 1
        found.append((i, end, match.group(1), " ".join(p for p in parts if p)))
        i = end
    defined = {index for first, end, _, _ in found for index in range(first, end)}
    used: set[str] = set()  # markers that stand in the text, after a word (not opening a line)
    for index, line in enumerate(lines):
        if index not in defined:
            used.update(m.group(0) for m in re.finditer(rf"{_MD_FOOTNOTE_REF}|[{_SUPERSCRIPTS}]+", line)
                        if line[: m.start()].strip())
    notes: dict[str, str] = {}
    out = list(lines)
    for first, end, marker, note in found:
        if marker in used and marker not in notes:
            notes[marker] = note
            out[first:end] = [""] * (end - first)
        elif marker.startswith("[^"):
            log.debug("footnote %s is not referred to: kept as text", marker)
            out[first:end] = [note] + [""] * (end - first - 1)
    return out, notes


def _marker(line: str) -> str | None:
    """The kind of list marker a line starts with ("-", "+", "1." for any number), or None."""
    match = LIST_ITEM.match(line)
    return None if match is None else re.sub(r"\d+", "1", match.group(1))


def _drop_furniture(lines: list[str]) -> list[str]:
    """Blank out lines that carry no content: separators and bullets, and lists of "+ " stubs.

    A list (items with the same marker, blank lines allowed between them) made only of "+ "
    stubs is page furniture ("+ more posts") unless a line ending in ":" introduces it; a
    list with one real item is kept whole.
    """
    out = ["" if line.strip() and _SEPARATOR_LINE.match(line) else line for line in lines]
    i = 0
    while i < len(out):
        if not LIST_ITEM.match(out[i]):
            i += 1
            continue
        run, j = [i], i + 1
        while j < len(out) and (not out[j].strip() or _marker(out[j]) == _marker(out[i])):
            if out[j].strip():
                run.append(j)
            j += 1
        lead = next((out[k].strip() for k in range(i - 1, -1, -1) if out[k].strip()), "")
        if all(_STUB_LINE.match(out[k]) for k in run) and not lead.endswith(":"):
            for k in run:
                log.debug("dropped page furniture: %r", out[k])
                out[k] = ""
        i = j
    return out


def clean_lines(text: str) -> tuple[list[str], dict[str, str]]:
    """The lines of ``text`` without footnote definitions and page furniture, and the footnotes."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines, notes = _take_footnotes(lines)
    return _drop_furniture(lines), notes


def attach_footnotes(paragraph: str, notes: dict[str, str]) -> str:
    """Replace footnote markers by `` (Footnote: text)`` after the end of the sentence that carries them.

    ``[^id]`` markers without a definition are removed; superscript digits are markers only
    when ``notes`` defines them (otherwise they may be exponents).
    """
    from rsiqa.ingest.chunking import sentence_spans  # chunking imports this module

    markers = [_MD_FOOTNOTE_REF] + [_sup_marker(m).pattern for m in notes if not m.startswith("[^")]
    pattern = re.compile(r"[ \t]*(?:" + "|".join(markers) + ")")
    pieces: list[str] = []
    places: list[tuple[int, str]] = []
    last = length = 0
    for match in pattern.finditer(paragraph):
        pieces.append(paragraph[last : match.start()])
        length += match.start() - last
        note = notes.get(match.group(0).strip())
        if note is not None:
            places.append((length, note))
        last = match.end()
    if not pieces:
        return paragraph
    pieces.append(paragraph[last:])
    text = "".join(pieces)
    ends = [end for _, end in sentence_spans(text)] or [len(text)]
    inserts: dict[int, list[str]] = defaultdict(list)
    for place, note in places:
        inserts[next((end for end in ends if end >= place), ends[-1])].append(f" (Footnote: {note})")
    for end in sorted(inserts, reverse=True):
        text = text[:end] + "".join(inserts[end]) + text[end:]
    return text.strip()


_PROTECTED = re.compile(r"`[^`\n]*`|<?https?://[^\s>]+>?")
_EMPHASIS = re.compile(
    r"(?<![\w*\\])(?P<star>\*{1,3})(?![\s*])(?P<s>.{1,2000}?)(?<![\s*\\])(?P=star)(?!\*)"
    r"|(?<![\w_\\])(?P<under>_{1,3})(?![\s_])(?P<u>.{1,2000}?)(?<![\s_\\])(?P=under)(?![\w_])"
)


def strip_emphasis(text: str) -> str:
    """Drop Markdown emphasis marks: ``*a*``, ``**a**``, ``_a_`` -> ``a``.

    Marks inside a word (snake_case, ``2*3``), in code spans and in URLs stay. A closing
    mark glued to the next word ("**bold**next") leaves a space ("bold next"). ``__name__``
    (one word) is a Python name, not emphasis.
    """
    kept: list[str] = []

    def protect(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\ue000{len(kept) - 1}\ue001"

    def unmark(match: re.Match[str]) -> str:
        inner = match.group("s") if match.group("star") else match.group("u")
        if match.group("under") == "__" and re.fullmatch(r"\w+", inner):
            return match.group(0)
        glued = match.end() < len(match.string) and match.string[match.end()].isalnum()
        return inner + (" " if glued else "")

    work = _PROTECTED.sub(protect, text)
    for _ in range(3):  # nested emphasis: ***a*** or **a *b* c**
        changed = _EMPHASIS.sub(unmark, work)
        if changed == work:
            break
        work = changed
    return re.sub("\ue000(\\d+)\ue001", lambda m: kept[int(m.group(1))], work)


def clean_paragraph(paragraph: str, notes: dict[str, str] | None = None) -> str:
    """A paragraph with its footnotes attached and its emphasis marks dropped."""
    return strip_emphasis(attach_footnotes(paragraph, notes or {}))


def _paragraphs(text: str) -> list[str]:
    """Split on blank lines; keep list items and headings as their own paragraphs."""
    paras: list[str] = []
    for raw in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [ln.rstrip() for ln in raw.split("\n") if ln.strip()]
        current: list[str] = []
        for line in lines:
            if LIST_ITEM.match(line) or _MD_HEADING.match(line) or _URL_LINE.match(line):
                if current:
                    paras.append(" ".join(current))
                current = [line.strip()]
                if _MD_HEADING.match(line) or _URL_LINE.match(line):
                    paras.append(current[0])
                    current = []
            else:
                current.append(line.strip())
        if current:
            paras.append(" ".join(current))
    return [p for p in paras if p]


def _is_short_heading(para: str) -> bool:
    """A short line with no closing punctuation that reads like a heading."""
    words = para.split()
    return (
        0 < len(words) <= 12
        and not re.search(r"[.!?:;,\"'”)…]$", para)
        and not LIST_ITEM.match(para)
        and not _URL_LINE.match(para)
    )


def _is_question(item: str) -> bool:
    """A list item that reads as a question (possibly cut short: "... creati...")."""
    return item.rstrip().endswith(("?", "...", "…"))


#: A Markdown code fence: ``` or ~~~ (three or more) opening a line, up to the same fence closing one.
_CODE_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.S | re.M)
_CODE_HOLDER = re.compile("^\ue020(\\d+)\ue021$")


def _hold_code(text: str) -> tuple[str, list[str]]:
    """``text`` with each fenced code block replaced by a placeholder paragraph, and the blocks (fenced, verbatim)."""
    blocks: list[str] = []

    def hold(match: re.Match[str]) -> str:
        lines = match.group(2).rstrip("\n").split("\n")
        blocks.append(fence_code(lines))
        return f"\n\ue020{len(blocks) - 1}\ue021\n"

    return _CODE_FENCE.sub(hold, text), blocks


def parse_text(text: str, path: str, title: str, linked_posts: bool = True) -> LoadedDocument:
    """Parse text or Markdown into blocks with sources, following the rules in the module docstring.

    ``linked_posts=False`` (HTML, PDF) treats a URL on its own line as text, not as a new post.
    A fenced code block is one paragraph, verbatim (fenced with ```), never a heading.
    """
    text, code = _hold_code(text)
    lines, notes = clean_lines(text)
    paras = [p for p in (clean_paragraph(para, notes) for para in _paragraphs("\n".join(lines))) if p]
    spelling: Spelling | None = None
    lowered = {p.strip().lower().rstrip(":") for p in paras}
    main_kind = "faq_answer" if lowered & _FAQ_MARKERS else "document"

    blocks: list[Block] = []
    questions: list[str] = []
    main = Source(title=title, path=path, kind=main_kind)
    current = Block(source=main)
    post: Source | None = None
    in_questions = False

    def start(source: Source) -> None:
        nonlocal current
        if current.paragraphs:
            blocks.append(current)
        current = Block(source=source)

    for para in paras:
        held = _CODE_HOLDER.match(para.strip())
        if held:
            current.paragraphs.append(code[int(held.group(1))])
            continue
        key = para.strip().lower().rstrip(":")
        url = _URL_LINE.match(para) if linked_posts else None
        heading = _MD_HEADING.match(para)
        if url:
            previous = current.paragraphs[-1] if current.paragraphs else ""
            if previous.endswith(":"):
                current.paragraphs[-1] = f"{previous} {url.group(1)}"
                continue
            spelling = spelling or Spelling(text)
            post = Source(title=title_from_slug(url.group(1), spelling), path=path, kind="linked_post",
                          url=url.group(1), section="Excerpt")
            in_questions = False
            start(post)
        elif para.strip().lower() == "comments:" and post is not None:
            post = Source(title=post.title, path=path, kind="comment", url=post.url, section="Comments")
            start(post)
        elif post is None and key in _QUESTION_SECTIONS:
            in_questions = True
        elif post is None and key in _NOTE_SECTIONS:
            in_questions = False
            start(Source(title=title, path=path, kind="note", section=para.strip()))
        elif in_questions and re.match(r"^[-*•]\s", para) and _is_question(para):
            questions.append(_LIST_ICON.sub("", para).strip())
        elif heading or (_is_short_heading(para) and current.source.kind != "comment"):
            name = heading.group(2) if heading else para.strip()
            if heading:
                post = None  # a Markdown heading ends a linked post's excerpt
            base = current.source if not (in_questions or heading) else main
            start(Source(title=base.title, path=path, kind=base.kind, url=base.url, section=name))
            if not heading:
                current.paragraphs.append(para.strip())
        else:
            if in_questions and current.source.kind not in (main_kind,):
                start(main)
            current.paragraphs.append(para.strip())
    if current.paragraphs:
        blocks.append(current)
    if main_kind == "faq_answer" and not questions and not any(b.source.kind == "note" for b in blocks):
        for block in blocks:  # a lone "Related" line does not make a file an FAQ
            if block.source.kind == "faq_answer":
                block.source = Source(**{**block.source.to_dict(), "kind": "document"})
    return LoadedDocument(path=path, title=title, blocks=blocks, questions=questions)
