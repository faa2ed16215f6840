"""Feedback votes stored in SQLite and exported as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsiqa.serve.feedback import FeedbackStore


def test_votes_are_stored_commented_and_exported_in_order(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "data" / "feedback.sqlite3")
    assert list(store.export_jsonl()) == []  # no file yet: nothing, and nothing made
    first = store.record("up", "What is KANSI?", "KANSI is ... [1]", ["abc123"], "2026-01-01T00:00:00+00:00")
    second = store.record("down", "Why?", "Because ... [2]", ["d", "e"], None, comment="wrong source")
    assert store.comment(first, "clear <b>answer</b>") and not store.comment(999, "x")
    rows = [json.loads(line) for line in store.export_jsonl()]
    assert [r["id"] for r in rows] == [first, second]
    assert rows[0] | {"created_at": ""} == {
        "id": first, "created_at": "", "rating": "up", "comment": "clear <b>answer</b>", "question": "What is KANSI?",
        "answer": "KANSI is ... [1]", "citations": ["abc123"], "index_build": "2026-01-01T00:00:00+00:00"}
    assert rows[1]["citations"] == ["d", "e"] and rows[1]["comment"] == "wrong source"


def test_a_rating_is_up_or_down(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="up"):
        FeedbackStore(tmp_path / "f.sqlite3").record("meh", "q", "a", [], None)  # type: ignore[arg-type]
