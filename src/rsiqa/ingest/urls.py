"""Links taken from the corpus: only absolute http(s) URLs are ever handed out (no ``javascript:`` or ``data:``)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BeforeValidator

_UNSAFE_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>\"'`\\]")


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL without spaces, quotes or control characters, else None."""
    if not url:
        return None
    url = url.strip()
    if _UNSAFE_URL_CHARS.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


#: A URL field that holds only a safe http(s) URL; anything else becomes None.
SafeUrl = Annotated[str | None, BeforeValidator(lambda value: safe_url(value) if isinstance(value, str) else value)]
