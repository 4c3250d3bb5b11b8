"""End to end in headless Chromium: a listener completes a MUSHRA and an A/B test.

Debian's ``chromium`` is driven by Playwright; audio is muted but really plays, since the page
accepts an answer only after every stimulus has played to its end.
"""

import json

import pytest
from chromium import needs_chromium, sync_api

from wavegen.listen.build import build_test
from wavegen.listen.report import report
from wavegen.listen.store import AnswerStore

pytestmark = needs_chromium
expect = sync_api.expect


@pytest.fixture
def page(browser):
    context = browser.new_context()
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda err: errors.append(str(err)))
    yield pg
    context.close()
    assert errors == []


def _login(page, url, listener):
    page.goto(url)
    page.fill("#listener-id", listener)
    page.click("#start")
    expect(page.locator("#trial")).to_be_visible()


def _play_all(page):
    for button in page.locator("button.play").all():
        button.click()
        expect(button).to_have_attribute("data-played", "true", timeout=15000)


def _scorer(test):
    """A careful listener: finds the hidden reference (via the manifest), scores the rest."""
    keys = json.loads((test / "manifest.json").read_text())["keys"]
    return lambda key: 100 if keys[key]["system"] == "reference" else int(key[:4], 16) % 90


def test_mushra_in_chromium(page, mushra_test, serve):
    srv = serve(mushra_test)
    _score = _scorer(mushra_test)
    _login(page, srv.url, "ann")
    expect(page.locator("#progress")).to_have_text("Trial 1 of 2")
    sliders = page.locator("input[type=range]")
    expect(sliders).to_have_count(5)
    for slider in sliders.all():
        slider.fill(str(_score(slider.get_attribute("data-key"))))
    expect(page.locator("#submit")).to_be_disabled()  # nothing played yet
    _play_all(page)
    expect(page.locator("#submit")).to_be_enabled()
    page.click("#submit")
    expect(page.locator("#progress")).to_have_text("Trial 2 of 2")

    # The tab closes; the listener comes back and resumes at the second trial.
    _login(page, srv.url, "ann")
    expect(page.locator("#progress")).to_have_text("Trial 2 of 2")
    for slider in sliders.all():
        slider.fill(str(_score(slider.get_attribute("data-key"))))
    _play_all(page)
    page.click("#submit")
    expect(page.locator("#finished")).to_be_visible()

    rows = AnswerStore(mushra_test).answers()
    assert len(rows) == 10 and {r["listener"] for r in rows} == {"ann"}
    assert all(r["score"] == _score(r["item"]) for r in rows)
    manifest = json.loads((mushra_test / "manifest.json").read_text())
    by_system: dict[str, list[int]] = {}
    for key, entry in manifest["keys"].items():
        if entry["role"] == "stimulus":
            by_system.setdefault(entry["system"], []).append(_score(key))
    result = report(mushra_test)
    assert result["screening"]["listeners_after"] == 1
    for system, scores in by_system.items():
        assert result["systems"][system]["mean"] == pytest.approx(sum(scores) / len(scores))


def test_ab_in_chromium(page, ab_test, serve):
    srv = serve(ab_test)
    _login(page, srv.url, "bo")
    public = json.loads((ab_test / "test.json").read_text())
    manifest = json.loads((ab_test / "manifest.json").read_text())
    for n in (1, 2):
        expect(page.locator("#progress")).to_have_text(f"Trial {n} of 2")
        page.locator("input[name=choice]").first.check()
        expect(page.locator("#submit")).to_be_disabled()
        _play_all(page)
        page.click("#submit")
    expect(page.locator("#finished")).to_be_visible()
    rows = AnswerStore(ab_test).answers()
    assert len(rows) == 2
    trials = {t["id"]: t["stimuli"] for t in public["trials"]}
    assert all(r["item"] == "choice" and r["label"] in trials[r["trial"]] for r in rows)
    wins_a = sum(manifest["keys"][r["label"]]["system"] == "a" for r in rows)
    pref = report(ab_test)["preference"]
    assert (pref["n"], pref["wins_a"]) == (2, wins_a)
    assert pref["p_value"] == pytest.approx(1.0 if wins_a == 1 else 0.5)


@pytest.mark.parametrize("test_type", ["mos", "genre-id"])
def test_single_clip_tests_in_chromium(page, tmp_path, clip_dirs, serve, test_type):
    test = build_test(test_type, {"a": clip_dirs["sys_a"]}, tmp_path / "t", seed=0)
    srv = serve(test)
    _login(page, srv.url, "cy")
    for n in (1, 2):
        expect(page.locator("#progress")).to_have_text(f"Trial {n} of 2")
        page.locator("input[name=answer]").last.check()  # 5 Excellent / the last genre
        _play_all(page)
        page.click("#submit")
    expect(page.locator("#finished")).to_be_visible()
    rows = AnswerStore(test).answers()
    assert len(rows) == 2
    if test_type == "mos":
        assert [r["score"] for r in rows] == [5.0, 5.0]
    else:
        assert [r["label"] for r in rows] == ["rock", "rock"]
        assert report(test)["accuracy"]["a"]["correct"] == 1
