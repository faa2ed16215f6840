"""Text printed in a terminal: escape sequences and control characters never reach it."""

from __future__ import annotations

import json

import pytest

from rsiqa.serve.terminal import plain, safe_json, visible

HOSTILE = {
    "clear-screen": "\x1b[2J\x1b[H",
    "window-title-bel": "\x1b]0;pwned\x07",
    "window-title-st": "\x1b]2;pwned\x1b\\",
    "osc8-link": "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "c1-csi": "\x9b31m",
    "c1-osc": "\x9d0;pwned\x9c",
    "dcs": "\x1bP1$rpayload\x1b\\",
    "charset": "\x1b(0",
    "bell-and-backspace": "\x07\x08\x08",
    "carriage-return": "overwritten\rspoof",
}


@pytest.mark.parametrize("sequence", list(HOSTILE.values()), ids=list(HOSTILE))
def test_plain_removes_every_control(sequence: str) -> None:
    out = plain(f"Title {sequence} end\nnext\tline")
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) <= 0x9f for c in out), repr(out)
    assert out.startswith("Title ") and out.endswith(" end\nnext\tline")
    assert "pwned" not in out and "payload" not in out and "http://evil.example" not in out


def test_plain_keeps_ordinary_text() -> None:
    text = "Gödel machines — “quoted” [1] 中文 🙂\n  indented"
    assert plain(text) == text


def test_visible_shows_controls_as_escapes_on_one_line() -> None:
    assert visible("bad\nname\x1b[2J.pptx") == "bad\\nname\\x1b[2J.pptx"
    assert visible("tab\tand\u2028sep\x9b") == "tab\\tand\\u2028sep\\x9b"


def test_safe_json_escapes_every_control_and_round_trips() -> None:
    value = {"title": "a\x1b]0;x\x07b\x9bc\u2028d", "n": 1}
    text = safe_json(value)
    assert not any(ord(c) < 32 and c not in "\n " or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029" for c in text)
    assert json.loads(text) == value
