"""Fixtures for listening tests: tiny generated clip folders and built tests.

Clips are short sines plus noise at 16 kHz, written under pytest's temporary directories.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from wavegen.listen.build import build_test
from wavegen.listen.server import ListenServer, make_server

GENRES = ("jazz", "rock")


def write_clips(folder: Path, genres=GENRES, count: int = 1, seconds: float = 0.6,
                rate: int = 16000, seed: int = 0, gain: float = 0.3) -> Path:
    """Write ``folder/<genre>_<k>.wav`` clips: a genre-specific tone plus white noise."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    for gi, genre in enumerate(genres):
        for k in range(count):
            tone = np.sin(2 * np.pi * (220 + 110 * gi + 20 * k) * t)
            x = tone + 0.3 * rng.standard_normal(len(t))
            sf.write(folder / f"{genre}_{k:03d}.wav", (gain * x / np.abs(x).max()), rate,
                     subtype="PCM_16")
    return folder


@pytest.fixture
def make_clips():
    """The :func:`write_clips` helper, for tests that need other clips."""
    return write_clips


@pytest.fixture
def clip_dirs(tmp_path: Path) -> dict[str, Path]:
    """Two systems and a reference, one 0.6 s clip per genre each."""
    return {"sys_a": write_clips(tmp_path / "a", seed=1, gain=0.2),
            "sys_b": write_clips(tmp_path / "b", seed=2, gain=0.5),
            "ref": write_clips(tmp_path / "ref", seed=3)}


@pytest.fixture
def mushra_test(tmp_path: Path, clip_dirs: dict[str, Path]) -> Path:
    """A MUSHRA test: two systems, 2 trials of 5 rated stimuli."""
    return build_test("mushra", {"a": clip_dirs["sys_a"], "b": clip_dirs["sys_b"]},
                      tmp_path / "mushra", clip_dirs["ref"], seed=0)


@pytest.fixture
def ab_test(tmp_path: Path, clip_dirs: dict[str, Path]) -> Path:
    """An A/B test between two systems: 2 trials."""
    return build_test("ab", {"a": clip_dirs["sys_a"], "b": clip_dirs["sys_b"]},
                      tmp_path / "ab", seed=0)


def start_server(test_dir: Path) -> ListenServer:
    """A live server on 127.0.0.1 at a free port, serving in a daemon thread."""
    server = make_server(test_dir, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return server


@pytest.fixture
def serve() -> Iterator:
    """``serve(test_dir) -> server``; every server is shut down after the test."""
    servers: list[ListenServer] = []

    def start(test_dir: Path) -> ListenServer:
        servers.append(start_server(test_dir))
        return servers[-1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def call(server: ListenServer, method: str, path: str, body=None, headers=None,
         raw: bytes | None = None) -> tuple[int, object]:
    """One HTTP request; returns ``(status, parsed JSON or raw bytes)``. Paths are sent as-is."""
    import http.client
    import json

    host, port = server.server_address[:2]
    con = http.client.HTTPConnection(host, port, timeout=30)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    try:
        con.request(method, path, body=data, headers=hdrs)
        res = con.getresponse()
        payload = res.read()
    finally:
        con.close()
    if res.getheader("Content-Type", "").startswith("application/json"):
        return res.status, json.loads(payload)
    return res.status, payload


@pytest.fixture
def http():
    """The :func:`call` helper."""
    return call
