"""The SQLite answer store: WAL mode, resumable sessions, no duplicates."""

import sqlite3

import pytest

from wavegen.listen.store import AnswerStore, count_answers


def test_wal_mode_and_unique_constraint(tmp_path):
    store = AnswerStore(tmp_path)
    con = sqlite3.connect(store.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.session("l1", ["t1"])
    with pytest.raises(sqlite3.IntegrityError):
        con.executemany("INSERT INTO answers (listener, trial, item, score, created) "
                        "VALUES ('l1', 't1', 'k', 1, 0)", [(), ()])
    con.close()


def test_session_order_is_kept_and_resumes(tmp_path):
    store = AnswerStore(tmp_path)
    trials = [f"t{i}" for i in range(20)]
    order, done = store.session("ann", trials)
    assert sorted(order) == sorted(trials) and order != trials and done == []
    assert store.add_trial("ann", order[0], {"k1": (50.0, None)})
    again, done = AnswerStore(tmp_path).session("ann", trials)  # e.g. after a restart
    assert again == order and done == [order[0]]


def test_retry_does_not_duplicate_and_first_answer_stands(tmp_path):
    store = AnswerStore(tmp_path)
    store.session("ann", ["t1"])
    assert store.add_trial("ann", "t1", {"k1": (10.0, None), "k2": (20.0, None)})
    assert not store.add_trial("ann", "t1", {"k1": (99.0, None), "k2": (99.0, None)})
    rows = store.answers()
    assert [(r["item"], r["score"]) for r in rows] == [("k1", 10.0), ("k2", 20.0)]
    assert count_answers(tmp_path) == 2


def test_count_answers_without_database(tmp_path):
    assert count_answers(tmp_path) == 0
