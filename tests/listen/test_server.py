"""Server safety: only the test's files, strict answer validation, no manifest, loopback."""

import json
import logging
import socket
import subprocess
import sys
import time
import types

import pytest

from wavegen.listen import server as server_mod
from wavegen.listen.server import MAX_BODY, is_loopback
from wavegen.listen.store import AnswerStore, count_answers


@pytest.fixture
def live(mushra_test, serve):
    srv = serve(mushra_test)
    return srv, json.loads((mushra_test / "test.json").read_text())


def test_page_stimuli_and_public_test(live, http):
    srv, public = live
    status, page = http(srv, "GET", "/")
    assert status == 200 and b"/static/app.js" in page
    assert http(srv, "GET", "/static/app.js")[0] == 200
    key = public["trials"][0]["stimuli"][0]
    status, wav = http(srv, "GET", f"/stimuli/{key}.wav")
    assert status == 200 and wav[:4] == b"RIFF"
    status, served = http(srv, "GET", "/api/test")
    assert status == 200 and served == public
    text = json.dumps(served)
    assert "system" not in text and "genre" not in text and "source" not in text


TRAVERSALS = [
    "/manifest.json", "/test.json", "/answers.sqlite", "/stimuli/", "/static/../manifest.json",
    "/stimuli/../manifest.json", "/%2e%2e/manifest.json", "/static/%2e%2e%2fmanifest.json",
    "/static/..%2f..%2fmanifest.json", "/stimuli/000000000000.wav", "/static/__init__.py",
    "/../../etc/passwd", "/stimuli/%2e%2e%2fmanifest.json", "//etc/passwd", "/api/manifest",
]


def test_nothing_outside_the_test_is_served(live, http):
    srv, _ = live
    for path in TRAVERSALS:
        status, body = http(srv, "GET", path)
        assert status == 404, path
        assert b"source" not in (body if isinstance(body, bytes) else json.dumps(body).encode())


def test_the_tests_frozen_page_is_served(mushra_test, serve, http):
    index = mushra_test / "page" / "index.html"
    index.write_bytes(index.read_bytes().replace(b"<title>", b"<title>frozen "))
    status, page = http(serve(mushra_test), "GET", "/")
    assert status == 200 and b"<title>frozen " in page


def test_foreign_host_header_is_refused(live, http):
    srv, _ = live
    assert http(srv, "GET", "/api/test", headers={"Host": "attacker.example"})[0] == 421
    assert http(srv, "GET", "/api/test", headers={"Host": "localhost:1"})[0] == 200


def _bad_answers(public):
    trial = public["trials"][0]
    good = {k: 50 for k in trial["stimuli"]}
    first = trial["stimuli"][0]
    other = public["trials"][1]["stimuli"][0]
    base = {"listener": "ann", "trial": trial["id"]}
    return [
        {**base, "trial": "ffffffffffff", "ratings": good},             # unknown trial
        {**base, "ratings": {**good, other: 50}},                      # key of another trial
        {**base, "ratings": {k: v for k, v in good.items() if k != first}},  # one missing
        {**base, "ratings": {**good, first: 101}},                     # out of range
        {**base, "ratings": {**good, first: -1}},
        {**base, "ratings": {**good, first: "50"}},                    # wrong types
        {**base, "ratings": {**good, first: 50.5}},
        {**base, "ratings": {**good, first: True}},
        {**base, "ratings": {**good, first: None}},
        {**base, "ratings": [50] * len(good)},
        {**base, "ratings": good, "extra": 1},                         # unknown field
        {"trial": trial["id"], "ratings": good},                        # no listener
        {**base, "listener": "../x", "ratings": good},                 # bad listener id
        {**base, "listener": "ann\n", "ratings": good},               # trailing newline
        {**base, "listener": "ann\r\n", "ratings": good},
        {**base, "listener": "", "ratings": good},
        {**base, "listener": "a" * 65, "ratings": good},
        {**base, "listener": "ann bo", "ratings": good},
        {**base, "listener": 7, "ratings": good},
        {**base, "listener": "nobody", "ratings": good},               # no session
        {**base, "choice": first},                                     # A/B field on MUSHRA
        [base],                                                        # not an object
    ]


def test_bad_answers_get_4xx_and_nothing_is_stored(live, http, mushra_test):
    srv, public = live
    assert http(srv, "POST", "/api/session", {"listener": "ann"})[0] == 200
    for body in _bad_answers(public):
        status, reply = http(srv, "POST", "/api/answer", body)
        assert 400 <= status < 500, body
        assert "error" in reply
    raw_cases = [
        (b"{not json", {}),
        (b'{"listener": "ann"}', {"Content-Type": "text/plain"}),
        (b"\xff\xfe", {}),
        (b"{}" + b" " * (MAX_BODY + 1), {}),
    ]
    for raw, headers in raw_cases:
        status, _ = http(srv, "POST", "/api/answer", raw=raw, headers=headers)
        assert 400 <= status < 500
    assert http(srv, "POST", "/api/answer", raw=b"{}" + b" " * (MAX_BODY + 1))[0] == 413
    assert http(srv, "POST", "/api/nothing", {"listener": "ann"})[0] == 404
    assert count_answers(mushra_test) == 0
    trial = public["trials"][0]
    good = {"listener": "ann", "trial": trial["id"], "ratings": {k: 50 for k in trial["stimuli"]}}
    assert http(srv, "POST", "/api/answer", good) == (200, {"stored": True})
    assert http(srv, "POST", "/api/answer", good) == (200, {"stored": False})
    assert count_answers(mushra_test) == 5


def test_ab_answers_are_validated(ab_test, serve, http):
    srv = serve(ab_test)
    public = json.loads((ab_test / "test.json").read_text())
    trial = public["trials"][0]
    http(srv, "POST", "/api/session", {"listener": "bo"})
    for choice in ["ffffffffffff", public["trials"][1]["stimuli"][0], 1, None]:
        body = {"listener": "bo", "trial": trial["id"], "choice": choice}
        assert http(srv, "POST", "/api/answer", body)[0] == 400
    assert count_answers(ab_test) == 0
    body = {"listener": "bo", "trial": trial["id"], "choice": trial["stimuli"][1]}
    assert http(srv, "POST", "/api/answer", body) == (200, {"stored": True})


def test_session_resumes_in_the_same_order(live, http):
    srv, public = live
    _, first = http(srv, "POST", "/api/session", {"listener": "cy"})
    trial = next(t for t in public["trials"] if t["id"] == first["order"][0])
    http(srv, "POST", "/api/answer", {"listener": "cy", "trial": trial["id"],
                                      "ratings": {k: 70 for k in trial["stimuli"]}})
    _, again = http(srv, "POST", "/api/session", {"listener": "cy"})
    assert again == {"order": first["order"], "done": [trial["id"]]}


def test_loopback_detection_and_warning(monkeypatch, caplog):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")

    class Fake:
        loopback = False
        url = "http://0.0.0.0:1/"

        def serve_forever(self):
            pass

        def server_close(self):
            pass

    monkeypatch.setattr(server_mod, "make_server", lambda *a: Fake())
    with caplog.at_level(logging.WARNING):
        server_mod.serve("t", "0.0.0.0", 1)
    assert "anyone who can reach this machine" in caplog.text


def test_answers_survive_a_killed_server(mushra_test, http):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "wavegen", "listen", "serve",
                             str(mushra_test), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        fake = types.SimpleNamespace(server_address=("127.0.0.1", port))
        for _ in range(100):
            try:
                _, session = http(fake, "POST", "/api/session", {"listener": "dee"})
                break
            except OSError:
                time.sleep(0.05)
        public = json.loads((mushra_test / "test.json").read_text())
        trial = next(t for t in public["trials"] if t["id"] == session["order"][0])
        body = {"listener": "dee", "trial": trial["id"],
                "ratings": {k: 42 for k in trial["stimuli"]}}
        assert http(fake, "POST", "/api/answer", body) == (200, {"stored": True})
    finally:
        proc.kill()  # no clean shutdown
        proc.wait()
    assert count_answers(mushra_test) == 5
    _, again = AnswerStore(mushra_test).session("dee", [])
    assert again == [trial["id"]]


@pytest.mark.parametrize("listener", ["ann\n", "ann\r", "\nann", "ann\x00", "a" * 65, "",
                                      " ann", "ann/..", "é"])
def test_bad_listener_ids_open_no_session(live, http, listener):
    srv, _ = live
    assert http(srv, "POST", "/api/session", {"listener": listener})[0] == 400


def test_idle_connections_are_closed(live, monkeypatch):
    """A client that connects and sends nothing does not hold a server thread forever."""
    srv, _ = live
    monkeypatch.setattr(server_mod.Handler, "timeout", 0.5)
    host, port = srv.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as sock:
        start = time.monotonic()
        assert sock.recv(1) == b""  # the server hung up
        assert time.monotonic() - start < 5
