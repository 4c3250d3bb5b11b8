"""``wavegen live`` in headless Chromium with the packaged model: 60 s of play while the sliders
move every second, then the recording rendered back by ``wavegen synth --automation``.

Counts come from the page's AudioWorklet (underruns) and the server's ``applied`` events
(latency from a change's arrival to the first sample generated with it).
"""

import json

import numpy as np
import pytest
import soundfile as sf
from chromium import needs_chromium, sync_api

from wavegen.live import start_live
from wavegen.live.server import BUSY
from wavegen.synth import synthesize

pytestmark = needs_chromium
expect = sync_api.expect

PLAY_SECONDS = 60
MAX_LATENCY_MS = 250


@pytest.fixture
def server():
    srv = start_live(port=0, genre="rock")
    yield srv
    srv.stop()


def _page(browser, errors):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.on("pageerror", lambda err: errors.append(str(err)))
    return context, page


def _playing(browser, server, errors):
    """A page of ``server`` that has pressed Play and started playing."""
    context, page = _page(browser, errors)
    page.goto(server.url)
    page.click("#play")
    page.wait_for_function("() => window.wavegenLive.played > 0", timeout=20000)
    return context, page


def _state(page):
    return page.evaluate("() => JSON.parse(JSON.stringify(window.wavegenLive))")


@pytest.mark.slow
def test_play_steer_record_and_render_back(browser, server, tmp_path):
    errors: list[str] = []
    context, page = _playing(browser, server, errors)
    genres = ["jazz", "metal", "classical", "disco", "reggae", "rock"]
    for second in range(PLAY_SECONDS):
        if second % 3 == 0:  # a genre weight
            page.locator(f"#w-{genres[second // 3 % len(genres)]}").fill(
                str(round(0.3 + 0.7 * (second % 2), 2)))
        elif second % 3 == 1:
            page.locator("#temperature").fill(str(round(0.8 + 0.01 * second, 2)))
        else:
            page.locator("#guidance").fill(str(4 + second % 5))
        page.wait_for_timeout(1000)
    state = _state(page)
    page.click("#save")
    expect(page.locator("#recording")).to_be_visible()
    with page.expect_download() as wav_dl:
        page.click("#wav-link")
    with page.expect_download() as json_dl:
        page.click("#json-link")
    wav, auto = tmp_path / "take.wav", tmp_path / "take.json"
    wav_dl.value.save_as(wav)
    json_dl.value.save_as(auto)
    rec = _state(page)["recording"]
    context.close()

    assert errors == [] and state["errors"] == []
    assert state["underruns"] == 0, state
    assert state["played"] >= 0.95 * PLAY_SECONDS * state["rate"]
    latencies = state["latencies"]
    assert len(latencies) >= PLAY_SECONDS - 2  # one change a second, each answered
    assert max(latencies) <= MAX_LATENCY_MS, latencies
    print(f"\nlive: {state['played'] / state['rate']:.1f} s played, underruns "
          f"{state['underruns']}, latency median {np.median(latencies):.0f} ms max "
          f"{max(latencies):.0f} ms, speed {min(state['speeds']):.2f}-"
          f"{max(state['speeds']):.2f}x real time")

    played, rate = sf.read(wav, dtype="int16")
    assert rate == state["rate"] and len(played) == rec["samples"]
    tracks = json.loads(auto.read_text())
    assert len(tracks["genre"]) > 10 and len(tracks["temperature"]) > 10
    out = tmp_path / "render.wav"
    assert rec["command"].endswith("--threads 1")
    synthesize(None, rec["seconds"], out=out, automation=auto, seed=rec["seed"], threads=1)
    rendered, _ = sf.read(out, dtype="int16")
    np.testing.assert_array_equal(rendered, played)


def test_second_tab_is_told_and_the_first_plays_on(browser, server):
    errors: list[str] = []
    first_ctx, first = _playing(browser, server, errors)
    second_ctx, second = _page(browser, errors)
    second.goto(server.url)
    second.click("#play")
    expect(second.locator("#error")).to_have_text(BUSY)
    before = _state(first)["played"]
    first.wait_for_timeout(1000)
    assert _state(first)["played"] > before + 0.5 * _state(first)["rate"]
    second_ctx.close()
    first_ctx.close()
    assert errors == []


def test_a_bad_seed_is_told_and_a_good_one_starts_a_new_take(browser, server):
    errors: list[str] = []
    context, page = _playing(browser, server, errors)
    first = _state(page)["take"]
    page.fill("#seed", "99999999999")
    page.click("#new-take")
    expect(page.locator("#error")).to_contain_text("seed must be a whole number from 0 to")
    played = _state(page)["played"]
    page.wait_for_timeout(500)
    assert _state(page)["played"] > played and _state(page)["take"] == first  # plays on
    page.fill("#seed", "42")
    page.click("#new-take")
    page.wait_for_function(f"() => window.wavegenLive.take === {first + 1} && "
                           "window.wavegenLive.played > 0", timeout=20000)
    assert _state(page)["seed"] == 42
    expect(page.locator("#error")).to_have_text("")
    context.close()
    assert errors == []
