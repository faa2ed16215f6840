"""Readers' votes on answers (thumbs up or down, an optional comment), kept in a local SQLite file.

Each row holds what was rated: the question, the answer text, the chunk ids the answer cited and
the build of the index that answered (its ``built_at``), so that a vote can be checked against
the material later. ``rsiqa feedback export`` prints the rows as JSON lines. The file is not kept
in the index folder, which a build replaces whole, but at ``Settings.feedback_path``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

Rating = Literal["up", "down"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT '',
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    index_build TEXT
)"""
_COLUMNS = ("id", "created_at", "rating", "comment", "question", "answer", "citations", "index_build")


class FeedbackStore:
    """Votes in the SQLite file at ``path`` (made, with its folder, on the first vote)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # one writer at a time within the process (SQLite locks across processes)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10)
        connection.execute(_SCHEMA)
        return connection

    def record(self, rating: Rating, question: str, answer: str, citations: list[str], index_build: str | None,
               comment: str = "") -> int:
        """Store one vote; returns its id."""
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock, closing(self._connect()) as db, db:
            cursor = db.execute(
                "INSERT INTO feedback (created_at, rating, comment, question, answer, citations, index_build) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (now, rating, comment, question, answer, json.dumps(list(citations)), index_build))
            return int(cursor.lastrowid or 0)

    def comment(self, feedback_id: int, comment: str) -> bool:
        """Set the comment of vote ``feedback_id``; False when there is no such vote."""
        with self._lock, closing(self._connect()) as db, db:
            return db.execute("UPDATE feedback SET comment = ? WHERE id = ?", (comment, feedback_id)).rowcount == 1

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every vote, oldest first, as a dict (``citations`` as a list)."""
        if not self.path.exists():
            return
        with closing(self._connect()) as db:
            for row in db.execute(f"SELECT {', '.join(_COLUMNS)} FROM feedback ORDER BY id"):
                item = dict(zip(_COLUMNS, row, strict=True))
                item["citations"] = json.loads(item["citations"])
                yield item

    def export_jsonl(self) -> Iterator[str]:
        """Every vote as one line of JSON."""
        for row in self.rows():
            yield json.dumps(row, ensure_ascii=False)
