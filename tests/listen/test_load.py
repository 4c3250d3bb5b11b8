"""Load: 20 concurrent listeners x 50 answers on 127.0.0.1, with retries; 0 lost, 0 duplicated."""

import json
import sqlite3
import threading

from wavegen.listen.build import build_test

LISTENERS = 20
TRIALS = 50


def test_concurrent_listeners_lose_and_duplicate_nothing(tmp_path, make_clips, serve, http):
    genres = tuple(f"g{i}" for i in range(5))
    clips = make_clips(tmp_path / "a", genres=genres, count=TRIALS // 5, seconds=0.5)
    test = build_test("mos", {"a": clips}, tmp_path / "mos", seed=0)
    public = json.loads((test / "test.json").read_text())
    stimulus = {t["id"]: t["stimuli"][0] for t in public["trials"]}
    assert len(stimulus) == TRIALS
    srv = serve(test)
    sent: dict[tuple[str, str], int] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def listener(n: int) -> None:
        name = f"listener{n:02d}"
        status, session = http(srv, "POST", "/api/session", {"listener": name})
        if status != 200:
            errors.append(f"{name}: session {status}")
            return
        for i, trial in enumerate(session["order"]):
            score = 1 + (n + i) % 5
            body = {"listener": name, "trial": trial, "ratings": {stimulus[trial]: score}}
            for attempt in range(2 if i % 5 == 0 else 1):  # every fifth answer is sent twice
                status, reply = http(srv, "POST", "/api/answer", body)
                if status != 200 or reply != {"stored": attempt == 0}:
                    errors.append(f"{name} {trial} attempt {attempt}: {status} {reply}")
            with lock:
                sent[(name, trial)] = score

    def guarded(n: int) -> None:
        try:
            listener(n)
        except OSError as err:  # a reset or refused connection is a lost answer, not a crash
            errors.append(f"listener{n:02d}: {err!r}")

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(LISTENERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    con = sqlite3.connect(test / "answers.sqlite")
    rows = con.execute("SELECT listener, trial, score FROM answers").fetchall()
    con.close()
    assert len(rows) == LISTENERS * TRIALS == len(sent)                 # 0 lost
    assert len({(lst, t) for lst, t, _ in rows}) == len(rows)           # 0 duplicated
    assert {(lst, t): int(s) for lst, t, s in rows} == sent             # every value intact
