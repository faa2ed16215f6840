"""Text made safe to print in a terminal: corpus text never drives the terminal.

Corpus titles and passages can hold escape sequences (clear the screen, set the window title,
OSC 8 hyperlinks, 8-bit C1 controls). Everything the command line prints goes through
:func:`plain` (sequences and control characters removed; for text) or :func:`visible` (control
characters shown as escapes such as ``\\n``; for file names and other one-line values). The
patterns follow ECMA-48: CSI, the string controls OSC/DCS/SOS/PM/APC up to BEL or ST, and the
other ESC sequences, in their 7-bit and 8-bit forms.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI: parameters, intermediates, final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"  # OSC, DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?",  # any other escape sequence
    re.DOTALL,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def plain(text: str) -> str:
    """``text`` without escape sequences or control characters; line breaks and tabs are kept."""
    text = text.replace("\r\n", "\n")
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


def visible(text: str) -> str:
    """``text`` on one line, each control character shown as an escape (``\\n``, ``\\x1b``): for file names."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]",
                  lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                                       else f"\\u{ord(m.group()):04x}"), text)


def safe_json(value: Any) -> str:
    """``value`` as indented JSON whose text holds no control character (C1 and DEL escaped as ``\\uXXXX`` too)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return re.sub(r"[\x7f-\x9f\u2028\u2029]", lambda m: f"\\u{ord(m.group()):04x}", text)
