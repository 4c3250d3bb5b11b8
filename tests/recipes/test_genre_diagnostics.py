"""The rendered-corpus diagnostics of egs/toy/v1/local/ on a tiny model and corpus:
guidance against other genres, the model as a likelihood classifier, primed continuations."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from wavegen.data.dump import dump_data_dir
from wavegen.data.gtzan import prepare_gtzan
from wavegen.data.toy import GTZAN_GENRES
from wavegen.models.io import save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.synth import synthesize

LOCAL = Path(__file__).resolve().parents[2] / "egs" / "toy" / "v1" / "local"


@pytest.fixture(scope="module")
def setup(toy_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("diag")
    prepare_gtzan(toy_corpus, root / "data", split="random")
    for name in ("train", "test"):
        dump_data_dir(root / "data" / name, root / "dump" / name, 8000)
    torch.manual_seed(0)
    net = WaveNet(WaveNetConfig(n_layers=4, dilation_cycle=4, residual_channels=8,
                                gate_channels=12, skip_channels=8, n_cond=len(GTZAN_GENRES)))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn_like(p))
    save_model(root / "tiny.pt", net, 8000, list(GTZAN_GENRES), null_condition=True,
               synth_defaults={"temperature": 0.9, "top_p": 0.9, "guidance": 3.0})
    return root


def _run(script, *args):
    out = subprocess.run([sys.executable, str(LOCAL / script), *map(str, args)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_guidance_against_null_is_what_synth_writes(setup, tmp_path):
    _run("contrast_guidance.py", tmp_path / "null", "--against", "null", "--guidance", "3",
         "--seed", "3", "--count", "1", "--duration", "0.1", "--model", setup / "tiny.pt")
    _run("contrast_guidance.py", tmp_path / "others", "--against", "others", "--guidance", "3",
         "--seed", "3", "--count", "1", "--duration", "0.1", "--model", setup / "tiny.pt")
    synthesize("all", 0.1, out_dir=tmp_path / "synth", model=setup / "tiny.pt", seed=3)
    differ = 0
    for genre in GTZAN_GENRES:
        name = f"{genre}_000.wav"
        ours = sf.read(tmp_path / "null" / "synth" / name, dtype="int16")[0]
        np.testing.assert_array_equal(ours, sf.read(tmp_path / "synth" / name,
                                                    dtype="int16")[0])
        other = sf.read(tmp_path / "others" / "synth" / name, dtype="int16")[0]
        differ += not np.array_equal(ours, other)
    assert differ > 0  # the other half of the pair does condition something


def test_likelihood_names_each_real_clip_once(setup, tmp_path):
    out = _run("likelihood_genres.py", "--ref", setup / "dump" / "test", "--model",
               setup / "tiny.pt", "--start", "0", "--seconds", "0.3", "--json",
               tmp_path / "lik.json")
    result = json.loads((tmp_path / "lik.json").read_text())
    n_test = len((setup / "data" / "test" / "utt2genre").read_text().splitlines())
    assert result["clips"] == n_test and 0 <= result["named"] <= n_test
    for row in result["per_genre"].values():
        for key in ("nll_true", "nll_null", "nll_best_wrong"):
            assert 0 < row[key] < 12
        # the guess is the label of least NLL: named all means no wrong label did better
        if row["named"] == row["clips"]:
            assert row["most_picked_wrong"] is None
    assert f"named {result['named']}/{n_test}" in out


def test_primed_continuations_are_written_per_genre_and_repeat(setup, tmp_path):
    for name in ("a", "b"):
        _run("primed_genres.py", tmp_path / name, "--ref", setup / "dump" / "train",
             "--count", "1", "--start", "0.2", "--prime", "0.1", "--duration", "0.05",
             "--seed", "5", "--model", setup / "tiny.pt")
    files = sorted((tmp_path / "a" / "synth").glob("*.wav"))
    assert [f.name for f in files] == sorted(f"{g}_000.wav" for g in GTZAN_GENRES)
    for f in files:
        a, rate = sf.read(f, dtype="int16")
        assert rate == 8000 and len(a) == 400
        np.testing.assert_array_equal(a, sf.read(tmp_path / "b" / "synth" / f.name,
                                                 dtype="int16")[0])


def test_long_range_compares_the_first_and_last_seconds(setup, tmp_path):
    """local/long_range.py: a clip that keeps its beat and one that changes tempo half way,
    judged by a (fresh) classifier file, with the real clips as the ceiling."""
    from wavegen.eval.classifier import ClassifierConfig, GenreClassifier, save_classifier

    torch.manual_seed(0)
    clf = GenreClassifier(ClassifierConfig(sample_rate=8000), len(GTZAN_GENRES),
                          list(GTZAN_GENRES))
    save_classifier(tmp_path / "clf.pt", clf, {})
    clips = tmp_path / "clips"
    clips.mkdir()
    rate, seconds = 8000, 24

    def clicks(bpm_first, bpm_last):
        x = np.zeros(rate * seconds, dtype=np.float32)
        for half, bpm in ((0, bpm_first), (1, bpm_last)):
            step = round(rate * 60 / bpm)
            for t in range(half * len(x) // 2, (half + 1) * len(x) // 2, step):
                x[t:t + 200] = 0.5 * np.hanning(200)
        return x

    sf.write(clips / "rock_000.wav", clicks(120, 120), rate)
    sf.write(clips / "jazz_000.wav", clicks(90, 150), rate)
    out = tmp_path / "long.json"
    _run("long_range.py", out, clips, "--classifier", tmp_path / "clf.pt", "--real",
         setup / "dump" / "test", "--seconds", "1")
    result = json.loads(out.read_text())
    assert result["generated"]["n"] == 2 and result["real"]["n"] == 10
    assert result["generated"]["tempo_first_last_within_5pct"] == 0.5
    assert 0 <= result["generated"]["accuracy_first_5s"] <= 1


def test_bars_reads_the_figures_of_an_eval_json(tmp_path):
    """local/bars.py: counts of genres within the tempo and onset-rate bands, the FD ratio."""
    def genre(real_tempo, gen_tempo, onset_ratio):
        return {"real": {"tempo_median": real_tempo}, "generated": {"tempo_median": gen_tempo},
                "onset_rate": {"ratio": onset_ratio}}

    ev = {"generated": {"conditional_accuracy": 0.5,
                        "per_genre_accuracy": {"rock": 0.9, "jazz": 0.1, "pop": 0.7}},
          "attacks": {"per_genre": {"rock": genre(120, 126, 1.4), "jazz": genre(100, 150, 0.5),
                                    "pop": genre(100, None, 1.0)}},
          "frechet": {"generated_vs_real": {"fd": 30.0}, "real_vs_real": {"fd": 3.0}},
          "copies": {"n_flagged": 0}}
    (tmp_path / "eval.json").write_text(json.dumps(ev))
    line = _run("bars.py", tmp_path / "eval.json")
    got = json.loads(line.split(" ", 1)[1])
    assert (got["genres_at_70pct"], got["tempo_within_10pct"], got["onset_rate_in_0.67_1.5"],
            got["fd_ratio"], got["weakest"]) == (2, 1, 2, 10.0, ["jazz", 0.1])
