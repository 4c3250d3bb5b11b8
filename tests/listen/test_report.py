"""Reports against hand computations; webMUSHRA result import."""

import csv
import json

import pytest

from wavegen.errors import WavegenError
from wavegen.listen.build import build_test
from wavegen.listen.report import report
from wavegen.listen.store import AnswerStore


def _keys_by_system(test):
    """``{trial: {system: key}}`` for rated stimuli, and ``{trial: genre}``."""
    manifest = json.loads((test / "manifest.json").read_text())
    out: dict[str, dict[str, str]] = {}
    for key, e in manifest["keys"].items():
        if e["role"] == "stimulus":
            out.setdefault(e["trial"], {})[e["system"]] = key
    return out, {t: v["genre"] for t, v in manifest["trials"].items()}


# listener -> per trial (in sorted trial id order): scores of a, b, reference, anchor70, anchor35
MUSHRA = {
    "l1": [(40, 80, 100, 50, 20), (60, 70, 100, 40, 30)],
    "l2": [(50, 90, 95, 60, 10), (30, 60, 100, 45, 25)],
    "l3": [(100, 100, 50, 0, 0), (100, 100, 100, 0, 0)],  # hidden ref < 90 in 50%: dropped
}
SYSTEMS = ("a", "b", "reference", "anchor70", "anchor35")


def _fill_mushra(test):
    keys, genres = _keys_by_system(test)
    trials = sorted(keys)
    store = AnswerStore(test)
    for listener, per_trial in MUSHRA.items():
        store.session(listener, trials)
        for trial, scores in zip(trials, per_trial, strict=True):
            store.add_trial(listener, trial, {keys[trial][s]: (float(v), None)
                                              for s, v in zip(SYSTEMS, scores, strict=True)})
    return keys, genres, trials


def test_mushra_report_matches_hand_computation(mushra_test):
    _, genres, trials = _fill_mushra(mushra_test)
    result = report(mushra_test)
    assert result["screening"]["listeners_before"] == 3
    assert result["screening"]["listeners_after"] == 2
    assert result["screening"]["dropped"] == ["l3"]
    a = result["systems"]["a"]
    # Intervals are over listeners. a after screening: l1 rated 40, 60 (mean 50), l2 rated
    # 50, 30 (mean 40) -> mean 45, s = 7.0711, t(0.975, 1) = 12.7062, half width
    # 12.7062 * 7.0711 / sqrt(2) = 63.531 (pooling the 4 answers would claim 20.54).
    assert (a["n"], a["answers"], a["mean"]) == (2, 4, 45.0)
    assert a["low"] == pytest.approx(45 - 63.531, abs=1e-2)
    assert a["high"] == pytest.approx(45 + 63.531, abs=1e-2)
    assert "over listeners" in result["ci_method"]
    # a in the first trial's genre: 40 (l1), 50 (l2) -> mean 45, the same half width
    g = result["by_genre"][f"a/{genres[trials[0]]}"]
    assert g["mean"] == 45.0 and g["high"] == pytest.approx(45 + 63.531, abs=1e-2)
    assert result["systems"]["reference"]["mean"] == pytest.approx((100 + 100 + 95 + 100) / 4)
    out = mushra_test / "report"
    assert (out / "scores.png").stat().st_size > 1000
    assert (out / "scores_by_genre.png").is_file()
    rows = list(csv.DictReader(open(out / "summary.csv")))
    row = next(r for r in rows if r["system"] == "a" and r["genre"] == "all")
    assert float(row["value"]) == 45.0 and row["listeners"] == "2" and row["n"] == "4"
    assert float(row["ci95_low"]) == pytest.approx(45 - 63.531, abs=1e-2)


def test_webmushra_results_are_imported(mushra_test, tmp_path):
    keys, _, trials = _fill_mushra(mushra_test)
    path = tmp_path / "mushra.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["session_test_id", "age", "session_uuid", "trial_id", "rating_stimulus",
                    "rating_score", "rating_time", "rating_comment"])
        for trial in trials:
            for stim, score in [(keys[trial]["a"], 80), (keys[trial]["b"], 20),
                                ("reference", 100), ("anchor35", 5), ("anchor70", 35)]:
                w.writerow(["mushra", "33", "u-1", trial, stim, score, 1234, ""])
    result = report(mushra_test, webmushra_csv=[path])
    assert result["screening"]["listeners_before"] == 4
    assert result["screening"]["listeners_after"] == 3
    assert result["systems"]["a"]["mean"] == pytest.approx((40 + 60 + 50 + 30 + 80 + 80) / 6)
    assert result["systems"]["anchor35"]["mean"] == pytest.approx((20 + 30 + 10 + 25 + 5 + 5) / 6)
    bad = tmp_path / "bad.csv"
    bad.write_text("session_uuid,trial_id,rating_stimulus,rating_score\nu,nope,x,5\n")
    with pytest.raises(WavegenError, match="not part of this test"):
        report(mushra_test, webmushra_csv=[bad])


def test_ab_report_binomial(ab_test):
    keys, _ = _keys_by_system(ab_test)
    store = AnswerStore(ab_test)
    trials = sorted(keys)
    choices = {"l1": ["a", "a"], "l2": ["a", "b"], "l3": ["a", "a"]}  # a wins 5 of 6
    for listener, chosen in choices.items():
        store.session(listener, trials)
        for trial, system in zip(trials, chosen, strict=True):
            store.add_trial(listener, trial, {"choice": (None, keys[trial][system])})
    pref = report(ab_test)["preference"]
    # two-sided: 2 * P(K >= 5 | n=6, p=1/2) = 2 * (6 + 1) / 64
    assert (pref["a"], pref["b"], pref["n"], pref["wins_a"]) == ("a", "b", 6, 5)
    assert pref["p_value"] == pytest.approx(14 / 64)
    assert (ab_test / "report" / "preference.png").is_file()


def test_genre_id_report_confusion(tmp_path, clip_dirs):
    test = build_test("genre-id", {"a": clip_dirs["sys_a"]}, tmp_path / "g", seed=0)
    public = json.loads((test / "test.json").read_text())
    manifest = json.loads((test / "manifest.json").read_text())
    store = AnswerStore(test)
    store.session("l1", [])
    for t in public["trials"]:  # always answers "jazz": right for jazz, wrong for rock
        store.add_trial("l1", t["id"], {t["stimuli"][0]: (None, "jazz")})
    result = report(test)
    acc = result["accuracy"]["a"]
    assert (acc["n"], acc["correct"], acc["accuracy"]) == (2, 1, 0.5)
    assert acc["labels"] == manifest["genres"] == ["jazz", "rock"]
    assert acc["confusion"] == [[1, 0], [1, 0]]
    assert (test / "report" / "confusion_a.csv").read_text().splitlines()[2] == "rock,1,0"


def test_report_without_answers_is_a_clear_error(mushra_test):
    with pytest.raises(WavegenError, match="no answers yet"):
        report(mushra_test)


def test_when_every_listener_fails_screening_the_report_says_so(mushra_test, capsys):
    from wavegen.cli import main

    keys, _ = _keys_by_system(mushra_test)
    trials = sorted(keys)
    store = AnswerStore(mushra_test)
    store.session("l3", trials)
    for trial, scores in zip(trials, MUSHRA["l3"], strict=True):
        store.add_trial("l3", trial, {keys[trial][s]: (float(v), None)
                                      for s, v in zip(SYSTEMS, scores, strict=True)})
    assert main(["listen", "report", str(mushra_test)]) == 0
    out = capsys.readouterr().out
    assert "every listener failed post-screening" in out and "--no-screening" in out
    result = json.loads((mushra_test / "report" / "report.json").read_text())
    assert result["screening"]["all_dropped"] and result["systems"] == {}

    assert main(["listen", "report", str(mushra_test), "--no-screening"]) == 0
    out = capsys.readouterr().out
    assert "post-screening NOT applied" in out and "1 listeners, 2 answers" in out
    result = json.loads((mushra_test / "report" / "report.json").read_text())
    assert result["systems"]["a"]["mean"] == 100.0 and result["systems"]["a"]["low"] is None
