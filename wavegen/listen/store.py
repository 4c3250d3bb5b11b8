"""Answers in SQLite: one row per rated stimulus, written the moment a trial is submitted.

The database runs in WAL mode with ``synchronous=FULL``: a committed answer survives a closed tab,
a killed server or a crash of the machine. ``UNIQUE(listener, trial, item)`` makes a retried
submission a no-op instead of a duplicate. Each request opens its own short-lived connection, so
the store is safe to use from the server's threads.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from wavegen.errors import WavegenError
from wavegen.listen.layout import ANSWERS

SCHEMA = """
CREATE TABLE IF NOT EXISTS listeners (
    listener TEXT PRIMARY KEY,
    trial_order TEXT NOT NULL,      -- JSON list of trial ids, shuffled once per listener
    started REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    listener TEXT NOT NULL REFERENCES listeners(listener),
    trial TEXT NOT NULL,
    item TEXT NOT NULL,             -- stimulus key; 'choice' for A/B, the stimulus for genre-id
    score REAL,                     -- MUSHRA 0-100, MOS 1-5
    label TEXT,                     -- A/B: the chosen key; genre-id: the chosen genre
    created REAL NOT NULL,
    UNIQUE (listener, trial, item)
);
"""


class AnswerStore:
    """The answers of one test (``<test>/answers.sqlite``)."""

    def __init__(self, test_dir: str | os.PathLike[str]) -> None:
        self.path = Path(test_dir) / ANSWERS
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA foreign_keys=ON")
            yield con
        finally:
            con.close()

    def session(self, listener: str, trial_ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Start or resume a listener.

        Returns:
            ``(order, done)``: the listener's trial order (shuffled on the first visit, the same
            afterwards) and the trials already answered.
        """
        order = list(trial_ids)
        random.SystemRandom().shuffle(order)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT OR IGNORE INTO listeners VALUES (?, ?, ?)",
                        (listener, json.dumps(order), time.time()))
            con.execute("COMMIT")
            (stored,) = con.execute("SELECT trial_order FROM listeners WHERE listener = ?",
                                    (listener,)).fetchone()
            done = [t for (t,) in con.execute(
                "SELECT DISTINCT trial FROM answers WHERE listener = ? ORDER BY trial",
                (listener,))]
        return json.loads(stored), done

    def has_listener(self, listener: str) -> bool:
        """Whether ``listener`` has started a session."""
        with self._connect() as con:
            row = con.execute("SELECT 1 FROM listeners WHERE listener = ?",
                              (listener,)).fetchone()
        return row is not None

    def add_trial(self, listener: str, trial: str,
                  rows: Mapping[str, tuple[float | None, str | None]]) -> bool:
        """Store one trial's answers (``item -> (score, label)``) in one transaction.

        Returns:
            True if stored; False if this listener had already answered this trial (nothing is
            changed: the first answer stands).
        """
        now = time.time()
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                seen = con.execute("SELECT 1 FROM answers WHERE listener = ? AND trial = ? "
                                   "LIMIT 1", (listener, trial)).fetchone()
                if seen is None:
                    con.executemany(
                        "INSERT INTO answers (listener, trial, item, score, label, created) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [(listener, trial, item, s, lab, now) for item, (s, lab) in rows.items()])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return seen is None

    def answers(self) -> list[dict]:
        """Every answer as ``{"listener", "trial", "item", "score", "label", "created"}``."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT listener, trial, item, score, label, created FROM answers "
                               "ORDER BY id").fetchall()
        return [dict(r) for r in rows]


def count_answers(test_dir: str | os.PathLike[str]) -> int:
    """How many answers a test folder holds (0 without a database); read-only."""
    path = Path(test_dir) / ANSWERS
    if not path.is_file():
        return 0
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            (n,) = con.execute("SELECT COUNT(*) FROM answers").fetchone()
        finally:
            con.close()
    except sqlite3.Error as err:
        raise WavegenError(f"cannot read the answers in {path}: {err}; move the folder aside "
                           f"if it is not needed") from err
    return int(n)
