"""The corpus's acronyms, spelt out in a question: "is rsi possible?" also searches "recursive self improvement".

A corpus often writes a thing both ways ("RSI" in one comment, "recursive self-improvement" in
the FAQ), and a reader uses either. Neither BM25 nor the small embedding model knows that the
two are one: a question about RSI misses the passages that never abbreviate it.

:func:`find_acronyms` learns the pairs from the material itself: an acronym (a word of
:data:`MIN_LETTERS` to 6 capitals) is spelt out as the run of words (no stop word, no single
letter, hyphenated words split) whose initials spell it *in the same passage*, when that run
occurs at least twice so and at least twice as often as any other. Requiring both in one passage
keeps chance initials out ("GC" is not "generated code" because a code example says so);
code blocks are not read. :func:`spell_out` adds the words after the acronym in a question.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping

from rsiqa.search.lexical import STOPWORDS

#: Capitals an acronym has at least ("RSI", "GIL"); two-letter ones ("IP", "DL") are too often chance initials.
MIN_LETTERS = 3
_ACRONYM = re.compile(rf"\b[A-Z]{{{MIN_LETTERS},6}}\b")
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
_CODE = re.compile(r"```.*?```", re.DOTALL)
_STOP = frozenset(STOPWORDS)
#: Times a spelling must occur beside its acronym, and its lead over the next one.
_MIN_COUNT = 2
_LEAD = 2


def find_acronyms(texts: Iterable[str]) -> dict[str, str]:
    """The acronyms of ``texts`` (lower case) and the words they stand for ("rsi" -> "recursive self improvement")."""
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for text in texts:
        text = _CODE.sub(" ", text)
        acronyms = set(_ACRONYM.findall(text))
        if not acronyms:
            continue
        words = [part for word in _WORD.findall(text) for part in word.split("-")]
        for start in range(len(words)):
            initials = ""
            for word in words[start:start + 6]:
                if len(word) < 2 or word.lower() in _STOP or word.isupper():
                    break
                initials += word[0].upper()
                if len(initials) >= MIN_LETTERS and initials in acronyms:
                    found[initials][" ".join(w.lower() for w in words[start:start + len(initials)])] += 1
    spelt: dict[str, str] = {}
    for acronym, runs in found.items():
        (best, count), *rest = runs.most_common(2)
        if count >= _MIN_COUNT and (not rest or count >= _LEAD * rest[0][1]):
            spelt[acronym.lower()] = best
    return dict(sorted(spelt.items()))


def spell_out(text: str, acronyms: Mapping[str, str], words: Collection[str] = frozenset()) -> str:
    """``text`` with each acronym of the corpus followed by what it stands for ("rsi" -> "rsi (recursive self
    improvement)"), in the plural too ("RSIs"); in lower case only when it is not one of ``words`` (an acronym
    that is also a word, "arc", is one only in capitals). Other text unchanged."""
    if not acronyms:
        return text

    def add(match: re.Match[str]) -> str:
        word = match.group(0)
        lower = word.lower()
        if lower in words and not word.isupper():
            return word
        phrase = acronyms.get(lower) or (acronyms.get(lower[:-1]) if lower.endswith("s") else None)
        return f"{word} ({phrase})" if phrase else word

    return re.sub(r"\b[A-Za-z]{%d,7}\b" % MIN_LETTERS, add, text)
