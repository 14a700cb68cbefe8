"""The terminal's local store: punches waiting for the platform, and the last templates synced.

One small SQLite file (`PunchQueue(path)`), written with `synchronous=FULL`, so a punch the
terminal has shown as taken survives a power cut:

- `punch`: one row per punch, its device sequence number (`seq`) assigned at capture inside the
  same transaction as the row, from a counter kept in `meta` (`last_seq`): strictly increasing,
  never reused, even after rows are pruned. A punch is `pending` until the platform answers for
  it: `delivered` (stored, duplicate or quarantined: the platform has it) or `rejected` (the
  platform refused the item with a code; kept for the operator, never resent). Pending punches
  are read back in seq order (`pending`), so they are uploaded in the order they were taken.
  A delivered punch's photo is dropped (the platform keeps it); the row stays, so the
  alternating direction of an open-site terminal can be worked out offline.
- `meta`: the counter, and the templates envelope as the platform sent it (still sealed with
  the device's key: the face templates are never on the terminal's disk in the clear), so a
  terminal restarted while the platform is unreachable still recognises the workers.

Keep the file: a terminal started on a new, empty file starts again at seq 1, and the platform
would answer its punches as conflicting resends (`first_seq` starts a replacement file after the
platform's last sequence number).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS punch (
    seq INTEGER PRIMARY KEY,
    worker_id INTEGER NOT NULL,
    time TEXT NOT NULL,
    direction TEXT NOT NULL,
    match_score INTEGER,
    photo BLOB,
    photo_sha256 TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    outcome TEXT,
    code TEXT,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS ix_punch_state ON punch (state, seq);
CREATE INDEX IF NOT EXISTS ix_punch_worker ON punch (worker_id, time);
"""


class QueueState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    REJECTED = "rejected"


@dataclass(frozen=True)
class QueuedPunch:
    seq: int
    worker_id: int
    time: str                           # ISO-8601 with offset, as sent
    direction: str
    match_score: Optional[int]
    photo: Optional[bytes]
    photo_sha256: Optional[str]


class PunchQueue:
    def __init__(self, path: Path | str, first_seq: int = 1):
        if first_seq < 1:
            raise ValueError("sequence numbers start at 1 or later")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('last_seq', ?)", (str(first_seq - 1),))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "PunchQueue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def add(self, worker_id: int, time: datetime, direction: str, match_score: Optional[int],
            photo: Optional[bytes], photo_sha256: Optional[str]) -> int:
        """Store one punch under the next sequence number, in one transaction; returns the seq."""
        if time.tzinfo is None:
            raise ValueError("a punch time must carry its offset")
        with self._transaction() as db:
            seq = int(db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0]) + 1
            db.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (str(seq),))
            db.execute("INSERT INTO punch (seq, worker_id, time, direction, match_score, photo, photo_sha256) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (seq, worker_id, time.isoformat(), direction, match_score, photo, photo_sha256))
        return seq

    def pending(self, limit: int) -> list[QueuedPunch]:
        rows = self._db.execute("SELECT seq, worker_id, time, direction, match_score, photo, photo_sha256 "
                                "FROM punch WHERE state = 'pending' ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [QueuedPunch(*row) for row in rows]

    def pending_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM punch WHERE state = 'pending'").fetchone()[0]

    def answer(self, answers: list[tuple[int, QueueState, str, Optional[str]]], at: datetime) -> None:
        """Record the platform's answers (seq, state, outcome, code) in one transaction; a
        delivered punch's photo is dropped."""
        with self._transaction() as db:
            for seq, state, outcome, code in answers:
                db.execute("UPDATE punch SET state = ?, outcome = ?, code = ?, answered_at = ?, "
                           "photo = CASE WHEN ? = 'delivered' THEN NULL ELSE photo END "
                           "WHERE seq = ? AND state = 'pending'",
                           (str(state), outcome, code, at.isoformat(), str(state), seq))

    def states(self) -> list[tuple[int, int, str, Optional[str]]]:
        """(seq, worker id, state, code) of every punch kept, in seq order (the operator's view)."""
        return self._db.execute("SELECT seq, worker_id, state, code FROM punch ORDER BY seq").fetchall()

    def last_direction(self, worker_id: int, since: datetime) -> Optional[str]:
        """The direction of the worker's last punch at or after `since` (aware), if any."""
        row = self._db.execute("SELECT time, direction FROM punch WHERE worker_id = ? ORDER BY seq DESC LIMIT 1",
                               (worker_id,)).fetchone()
        return row[1] if row and datetime.fromisoformat(row[0]) >= since else None

    def prune(self, before: datetime) -> int:
        """Forget answered punches taken before `before` (the counter is kept)."""
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM punch WHERE state != 'pending' AND answered_at < ?",
                                (before.isoformat(),))
            return cursor.rowcount

    def get_meta(self, key: str) -> Optional[str]:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on an exception: nothing half-written."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type, *exc) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")

