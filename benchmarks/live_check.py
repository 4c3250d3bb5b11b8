"""``wavegen live`` measured as a listener uses it: headless Chromium plays while the sliders move.

    python benchmarks/live_check.py --seconds 60 --json benchmarks/results/live_check.json

Starts the live server in this process with the packaged model (or ``--model``), opens the page
in Debian's chromium (audio muted but rendered), presses Play and moves one control every second
(a genre weight, the temperature or the guidance, in turn) for ``--seconds``. Reports:

* the generation speed while the browser plays (the server in its own ``wavegen live``
  process unless ``--in-process``): samples per second of the generation thread's
  busy time, in x real time, per one-second window (the server's ``stats``; the first two
  windows, which hold the engine's start, are left out), and, for comparison, the same stream
  generated alone (no server, no browser) in the same run;
* underruns counted by the AudioWorklet (stalls, and the samples of silence they played);
* the latency of every change: from its arrival to the first sample generated with it.

The machine facts (CPU model, ISA flags, cores) are written next to the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavegen.engine import stream  # noqa: E402
from wavegen.engine.controls import control_every  # noqa: E402
from wavegen.live import start_live  # noqa: E402
from wavegen.live.controls import condition_of, initial_controls  # noqa: E402
from wavegen.machine import describe, machine_facts  # noqa: E402
from wavegen.models.io import load_model  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def alone_speed(model: str | None, genre: str, seconds: float, threads: int) -> float:
    """x real time of the live stream's generation with nothing else running."""
    net, info = load_model(model)
    controls = initial_controls(info.vocab, info.label_kind, info.synth_defaults, genre)
    cond = condition_of(controls, info.vocab, info.label_kind)[None]
    every = control_every(info.sample_rate)
    t, p, g = controls.settings()
    chunks = stream(net.export_weights(), cond, int(seconds * info.sample_rate),
                    temperature=t, top_p=p, guidance=g, seed=0, chunk_size=every,
                    cond_at=lambda s: cond, control_every=every, guided=info.null_condition,
                    threads=threads)
    next(chunks)  # the engine's start
    start, n = time.perf_counter(), 0
    for chunk in chunks:
        n += chunk.shape[1]
    return n / (time.perf_counter() - start) / info.sample_rate


@contextlib.contextmanager
def live_process(model: str | None, genre: str, lead_ms: float, threads: int
                 ) -> Iterator[str]:
    """``wavegen live`` in its own process, as a user runs it; yields its address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "wavegen", "live", "--port", str(port), "--genre", genre,
           "--lead-ms", str(lead_ms), "--threads", str(threads),
           *(["--model", model] if model else [])]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "wavegen live at" in line:
                break
        else:
            raise SystemExit(f"wavegen live did not start: {proc.wait()}")
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def browser_session(url: str, seconds: int) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--mute-audio"])
        page = browser.new_page()
        page.goto(url)
        page.click("#play")
        page.wait_for_function("() => window.wavegenLive.played > 0", timeout=30000)
        labels = page.evaluate("() => [...document.querySelectorAll('#labels input')]"
                               ".map(i => i.dataset.label)")
        for second in range(seconds):
            if second % 3 == 0:
                label = labels[second // 3 % len(labels)]
                page.locator(f"[data-label='{label}']").fill(str(0.3 + 0.7 * (second % 2)))
            elif second % 3 == 1:
                page.locator("#temperature").fill(str(round(0.8 + 0.01 * second, 2)))
            elif page.locator("#guidance").is_enabled():
                page.locator("#guidance").fill(str(4 + second % 5))
            page.wait_for_timeout(1000)
        state = page.evaluate("() => JSON.parse(JSON.stringify(window.wavegenLive))")
        browser.close()
    return state


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="model file (default: the packaged one)")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--genre", default="rock")
    ap.add_argument("--lead-ms", type=float, default=150.0)
    ap.add_argument("--threads", type=int, default=1, help="the cpu engine's cores (live's "
                    "default: 1)")
    ap.add_argument("--in-process", action="store_true",
                    help="run the server in this process (beside the browser driver) rather "
                         "than as its own 'wavegen live' process")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if a.seconds < 5:
        ap.error("--seconds must be at least 5")
    facts = machine_facts(peaks=False)
    alone = alone_speed(a.model, a.genre, 10.0, a.threads)
    if a.in_process:
        server = start_live(a.model, port=0, genre=a.genre, lead=a.lead_ms / 1000,
                            threads=a.threads)
        try:
            state = browser_session(server.url, a.seconds)
        finally:
            server.stop()
    else:
        with live_process(a.model, a.genre, a.lead_ms, a.threads) as url:
            state = browser_session(url, a.seconds)
    speeds = [s for s in state["speeds"][2:] if s is not None]
    lat = state["latencies"]
    result = {
        "machine": facts,
        "args": {"model": a.model or "packaged", "seconds": a.seconds, "genre": a.genre,
                 "lead_ms": a.lead_ms, "threads": a.threads,
                 "server": "in-process" if a.in_process else "own process"},
        "speed_alone_x_real_time": round(alone, 3),
        "speed_while_playing_x_real_time": {
            "median": round(float(np.median(speeds)), 3), "min": round(min(speeds), 3),
            "max": round(max(speeds), 3), "windows": len(speeds)},
        "played_seconds": round(state["played"] / state["rate"], 2),
        "underruns": state["underruns"], "starved_samples": state["starved"],
        "underrun_at_seconds": [round(n / state["rate"], 2) for n in state["underrunAt"]],
        "changes": len(lat),
        "latency_ms": {"median": round(float(np.median(lat)), 1),
                       "p95": round(float(np.percentile(lat, 95)), 1),
                       "max": round(max(lat), 1)},
        "page_errors": state["errors"],
    }
    print(describe(facts))
    print(f"alone: {alone:.2f}x real time; while the browser plays: median "
          f"{result['speed_while_playing_x_real_time']['median']:.2f}x (min "
          f"{min(speeds):.2f}x over {len(speeds)} one-second windows)")
    print(f"played {result['played_seconds']} s, underruns {state['underruns']}, "
          f"{len(lat)} changes: latency median {result['latency_ms']['median']} ms, p95 "
          f"{result['latency_ms']['p95']} ms, max {result['latency_ms']['max']} ms")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if state["underruns"] == 0 and max(lat) <= 250 and not state["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
