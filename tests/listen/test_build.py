"""Building tests: selection, equal lengths, loudness, low-pass anchors, blind keys."""

import json
import re

import numpy as np
import pytest
import soundfile as sf
import yaml

from wavegen.audio import integrated_loudness
from wavegen.data.kaldi import write_data_dir
from wavegen.errors import WavegenError
from wavegen.listen.build import build_test
from wavegen.listen.store import AnswerStore


def _stimuli(test):
    return {p.stem: sf.read(p, dtype="float32") for p in (test / "stimuli").glob("*.wav")}


def test_mushra_layout_lengths_rates_and_loudness(mushra_test):
    public = json.loads((mushra_test / "test.json").read_text())
    manifest = json.loads((mushra_test / "manifest.json").read_text())
    stimuli = _stimuli(mushra_test)
    assert len(public["trials"]) == 2
    # a, b, the hidden reference and two anchors per trial; the shown reference apart
    assert all(len(t["stimuli"]) == 5 for t in public["trials"])
    assert len(stimuli) == 12 == len(manifest["keys"])
    assert sorted(p.name for p in (mushra_test / "page").iterdir()) == [
        "app.js", "index.html", "style.css"]
    assert {len(x) for x, _ in stimuli.values()} == {int(0.6 * 16000)}
    assert {sr for _, sr in stimuli.values()} == {16000}
    for key, (x, _) in stimuli.items():
        if manifest["keys"][key]["system"] in ("a", "b"):
            assert integrated_loudness(x, 16000) == pytest.approx(-23, abs=0.5)
    for trial in public["trials"]:
        systems = sorted(manifest["keys"][k]["system"] for k in trial["stimuli"])
        assert systems == ["a", "anchor35", "anchor70", "b", "reference"]
        genres = {manifest["keys"][k]["genre"] for k in [*trial["stimuli"], trial["reference"]]}
        assert genres == {manifest["trials"][trial["id"]]["genre"]}


def test_keys_are_blind(mushra_test):
    public_text = (mushra_test / "test.json").read_text()
    manifest = json.loads((mushra_test / "manifest.json").read_text())
    for word in ("rock", "jazz", "anchor", "source", "system", "genre", "sys_", ".wav"):
        assert word not in public_text
    values = re.findall(r'": "([^"]*)"', public_text) + re.findall(r'^ +"([^"]*)",?$',
                                                                     public_text, re.M)
    keys = [v for v in values if re.fullmatch(r"[0-9a-f]{12}", v)]
    assert len(keys) == 2 * 7  # trial id, shown reference and five stimuli per trial
    assert all(re.fullmatch(r"[0-9a-f]{12}", k) for k in manifest["keys"])
    # Hidden reference and shown reference have different keys although the audio is the same.
    public = json.loads(public_text)
    for trial in public["trials"]:
        assert trial["reference"] not in trial["stimuli"]


def _band_energy(x, rate, above):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return spec[freqs > above].sum() / spec.sum()


def test_anchors_are_low_passed(tmp_path, make_clips):
    ref = make_clips(tmp_path / "ref", count=1, seconds=1.0, rate=22050, seed=5)
    sys_a = make_clips(tmp_path / "a", count=1, seconds=1.0, rate=22050, seed=6)
    test = build_test("mushra", {"a": sys_a}, tmp_path / "t", ref, seed=0)
    manifest = json.loads((test / "manifest.json").read_text())
    stimuli = _stimuli(test)
    for key, entry in manifest["keys"].items():
        x, rate = stimuli[key]
        assert rate == 22050
        if entry["system"] == "anchor35":
            assert _band_energy(x, rate, 3500 * 1.15) < 1e-5
            assert _band_energy(x, rate, 1000) > 0.01
        elif entry["system"] == "anchor70":
            assert _band_energy(x, rate, 7000 * 1.15) < 1e-5
        elif entry["system"] == "reference":
            assert _band_energy(x, rate, 7000 * 1.15) > 0.01  # the noise reaches 11 kHz


def test_reference_from_kaldi_dir_and_rate_choice(tmp_path, make_clips):
    clips = make_clips(tmp_path / "corpus", count=3, seconds=1.0, rate=22050, seed=7)
    wav_scp = {p.stem.replace("_", "."): str(p) for p in clips.glob("*.wav")}
    write_data_dir(tmp_path / "data", wav_scp, {u: 1.0 for u in wav_scp},
                   {"utt2genre": {u: u.split(".")[0] for u in wav_scp}})
    sys_a = make_clips(tmp_path / "a", count=2, seconds=0.8, seed=8)
    test = build_test("mushra", {"a": sys_a}, tmp_path / "t", tmp_path / "data", seed=1)
    public = json.loads((test / "test.json").read_text())
    assert public["sample_rate"] == 22050  # the lowest anchor rate that loses nothing
    assert public["seconds"] == pytest.approx(0.8)
    assert len(public["trials"]) == 4  # two genres, two matching items each
    cfg = yaml.safe_load((test / "webmushra.yaml").read_text())
    trials = cfg["pages"][1][1:]
    assert cfg["pages"][1][0] == "random" and len(trials) == 4
    assert all(t["type"] == "mushra" and t["createAnchor35"] and len(t["stimuli"]) == 1
               for t in trials)


def test_other_test_types(tmp_path, clip_dirs):
    systems = {"a": clip_dirs["sys_a"], "b": clip_dirs["sys_b"]}
    ab = json.loads((build_test("ab", systems, tmp_path / "ab") / "test.json").read_text())
    assert [len(t["stimuli"]) for t in ab["trials"]] == [2, 2]
    gid = build_test("genre-id", systems, tmp_path / "g", clip_dirs["ref"])
    public = json.loads((gid / "test.json").read_text())
    assert public["options"] == ["jazz", "rock"] and len(public["trials"]) == 6
    mos = json.loads((build_test("mos", systems, tmp_path / "m") / "test.json").read_text())
    assert len(mos["trials"]) == 4
    assert not (gid / "webmushra.yaml").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"test_type": "mushra", "ref": None}, "needs a reference"),
    ({"test_type": "mushra", "max_seconds": 13}, "at most 12"),
    ({"test_type": "ab", "systems": {"a": "A"}, "ref": None}, "exactly two"),
    ({"test_type": "abx"}, "unknown test type"),
    ({"test_type": "mos", "systems": {"reference": "A"}}, "bad system name"),
    ({"test_type": "mos", "genres": ["polka"]}, "polka"),
    ({"test_type": "mos", "sample_rate": 8000}, "not supported"),
])
def test_bad_requests_are_clear_errors(tmp_path, clip_dirs, kwargs, message):
    args = {"systems": {"a": clip_dirs["sys_a"], "b": clip_dirs["sys_b"]},
            "out": tmp_path / "t", "ref": clip_dirs["ref"], **kwargs}
    if args["systems"] == {"a": "A"} or args["systems"] == {"reference": "A"}:
        args["systems"] = {k: clip_dirs["sys_a"] for k in args["systems"]}
    with pytest.raises(WavegenError, match=message):
        build_test(**args)
    assert not (tmp_path / "t").exists()


def test_no_common_genre_and_missing_folder(tmp_path, clip_dirs, make_clips):
    other = make_clips(tmp_path / "o", genres=("polka",))
    with pytest.raises(WavegenError, match="no genre is present in every source"):
        build_test("mos", {"a": clip_dirs["sys_a"], "o": other}, tmp_path / "t")
    with pytest.raises(WavegenError, match="does not exist"):
        build_test("mos", {"a": tmp_path / "nope"}, tmp_path / "t")


def test_existing_answers_are_never_lost(tmp_path, clip_dirs, mushra_test):
    store = AnswerStore(mushra_test)
    store.session("ann", ["x"])
    store.add_trial("ann", "x", {"k": (1.0, None)})
    with pytest.raises(WavegenError, match="already holds a test with 1 answers"):
        build_test("mushra", {"a": clip_dirs["sys_a"]}, mushra_test, clip_dirs["ref"])
    assert (mushra_test / "answers.sqlite").is_file()
    build_test("mushra", {"a": clip_dirs["sys_a"]}, mushra_test, clip_dirs["ref"], force=True)
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("mushra.old-")]
    assert len(moved) == 1 and (moved[0] / "answers.sqlite").is_file()
    assert not (mushra_test / "answers.sqlite").exists()
    # A test without answers is simply rebuilt.
    build_test("mushra", {"a": clip_dirs["sys_a"]}, mushra_test, clip_dirs["ref"])
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
