"""What a mine remembers across restarts, in SQLite: its event cursor and what it answered.

- `cursor`: the next block whose events the mine has not handled; it moves in the same
  transaction as the models those events opened or closed, so a crash never loses or
  repeats an event's effect.
- `models`: the models the mine follows, open or closed, and whether a withdrawal is due.
- `answers`: the (model, version) pairs it submitted a gradient for, with the gradient's id
  and CID. A submission is recorded after its transaction is mined; a crash in between is
  caught by asking the contract, before every submission, whether the gradient id exists.
- `skipped`: the (model, version) pairs whose model object it refused, with the reason, so
  that a bad object is logged once and never fetched again (a new version is tried afresh).

The database also records the account it belongs to: a state directory is one mine's.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mine.errors import StateError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    model_id INTEGER PRIMARY KEY,
    closed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS answers (
    model_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    gradient_id TEXT NOT NULL,
    cid TEXT,
    transaction_hash TEXT,
    PRIMARY KEY (model_id, version)
);
CREATE TABLE IF NOT EXISTS skipped (
    model_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (model_id, version)
);
"""


@dataclass(frozen=True)
class Answer:
    """A gradient the mine submitted (cid and transaction are None if it was found on chain
    after a crash rather than recorded when sent)."""

    model_id: int
    version: int
    gradient_id: int
    cid: str | None
    transaction_hash: str | None


class MineState:
    """The SQLite state of one mine; every method is one transaction.

    Parameters:
        path: the database file (created if missing).
        account: the mine's address; a database of another account is refused.
        start_block: where the cursor starts for a new database.

    Raises:
        StateError: the database belongs to another account.
    """

    def __init__(self, path: Path, *, account: str, start_block: int = 0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers (a status tool) never block us
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        with self._transaction():
            owner = self._meta("account")
            if owner is None:
                self._set_meta("account", account)
                self._set_meta("cursor", str(start_block))
            elif owner != account:
                raise StateError(
                    f"{path} is the state of mine {owner}, not of {account}: "
                    "give each mine a state directory of its own"
                )

    def __enter__(self) -> MineState:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- the event cursor and the models it found ----------------------------------------------

    @property
    def cursor(self) -> int:
        """The next block whose events have not been handled."""
        value = self._meta("cursor")
        assert value is not None
        return int(value)

    def advance(self, next_block: int, *, opened: list[int], closed: list[int]) -> None:
        """Moves the cursor and records the models the handled events opened and closed."""
        with self._transaction():
            for model_id in opened:
                self._db.execute("INSERT OR IGNORE INTO models (model_id) VALUES (?)", (model_id,))
            for model_id in closed:
                self._db.execute(
                    "INSERT INTO models (model_id, closed) VALUES (?, 1) "
                    "ON CONFLICT (model_id) DO UPDATE SET closed = 1",
                    (model_id,),
                )
            if closed:
                self._set_meta("withdrawal_due", "1")
            self._set_meta("cursor", str(next_block))

    def open_models(self) -> list[int]:
        rows = self._db.execute("SELECT model_id FROM models WHERE closed = 0 ORDER BY model_id")
        return [row[0] for row in rows]

    def mark_closed(self, model_id: int) -> None:
        """Records that a model is closed (seen by reading it, before its event)."""
        self.advance(self.cursor, opened=[], closed=[model_id])

    @property
    def withdrawal_due(self) -> bool:
        """A model closed since the last withdrawal: the mine's credit is final."""
        return self._meta("withdrawal_due") == "1"

    def withdrawal_done(self) -> None:
        with self._transaction():
            self._set_meta("withdrawal_due", "0")

    # -- answers and skipped objects -----------------------------------------------------------

    def answer(self, model_id: int, version: int) -> Answer | None:
        row = self._db.execute(
            "SELECT gradient_id, cid, transaction_hash FROM answers "
            "WHERE model_id = ? AND version = ?",
            (model_id, version),
        ).fetchone()
        if row is None:
            return None
        return Answer(model_id, version, int(row[0]), row[1], row[2])

    def record_answer(self, answer: Answer) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                (
                    answer.model_id,
                    answer.version,
                    str(answer.gradient_id),
                    answer.cid,
                    answer.transaction_hash,
                ),
            )

    def answers(self) -> list[Answer]:
        rows = self._db.execute(
            "SELECT model_id, version, gradient_id, cid, transaction_hash FROM answers "
            "ORDER BY model_id, version"
        )
        return [Answer(m, v, int(g), c, t) for m, v, g, c, t in rows]

    def skipped(self, model_id: int, version: int) -> str | None:
        """Why the object of this version was refused, or None if it was not."""
        row = self._db.execute(
            "SELECT reason FROM skipped WHERE model_id = ? AND version = ?", (model_id, version)
        ).fetchone()
        return None if row is None else row[0]

    def skip(self, model_id: int, version: int, reason: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO skipped VALUES (?, ?, ?)", (model_id, version, reason)
            )

    def counts(self) -> tuple[int, int]:
        """How many versions were answered and how many skipped."""
        answered = self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        skipped = self._db.execute("SELECT COUNT(*) FROM skipped").fetchone()[0]
        return answered, skipped

    # -- internals -----------------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (a crash leaves nothing half)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
