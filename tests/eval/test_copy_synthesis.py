"""``wavegen eval-resynth`` and ``wavegen eval --model RENDERER`` with a tiny real renderer on
the toy corpus's test clips, the bars' rules, and bad input."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from renderer_files import RATE, fit_tiny_tokenizer, save_renderer, tiny_renderer

from wavegen.audio import read_audio, resample
from wavegen.cli import main
from wavegen.data.dump import dump_data_dir
from wavegen.data.kaldi import read_table, write_table, write_vocab
from wavegen.eval.copy_synthesis import bars, partners
from wavegen.eval.evaluate import plan_nll
from wavegen.models.io import save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig

SECONDS, START = 0.5, 0.25


@pytest.fixture(scope="module")
def setup(prepared, tmp_path_factory):
    """The toy test set, a classifier trained briefly on the toy dumps, a renderer and a
    one-level model of the same genres."""
    data, _ = prepared
    root = tmp_path_factory.mktemp("copysynth")
    for name in ("train", "test"):
        dump_data_dir(data / name, root / "dump" / name, RATE)
    assert main(["classifier", "train", "--dump-dir", str(root / "dump"), "--out",
                 str(root / "clf.pt"), "--steps", "5"]) == 0
    tok = fit_tiny_tokenizer(root / "dump" / "train")
    net = tiny_renderer(tok, n_cond=10)
    model = save_renderer(root / "renderer.pt", net, tok, root / "dump" / "train")
    vocab = torch.load(model, weights_only=True)["vocab"]
    plain = root / "plain.pt"
    torch.manual_seed(1)
    save_model(plain, WaveNet(WaveNetConfig(n_layers=2, dilation_cycle=2, residual_channels=4,
                                            gate_channels=4, skip_channels=4)), RATE, vocab)
    return {"root": root, "ref": data / "test", "clf": root / "clf.pt", "model": model,
            "net": net, "tok": tok, "plain": plain, "vocab": vocab, "train": root / "dump" /
            "train"}


def eval_resynth(setup, out, *args, model=None, ref=None):
    return main(["eval-resynth", "--ref", str(ref or setup["ref"]), "--model",
                 str(model or setup["model"]), "--classifier", str(setup["clf"]), "--out",
                 str(out), "--seconds", str(SECONDS), *args])


@pytest.fixture(scope="module")
def scored(setup, tmp_path_factory):
    """eval-resynth of 0.5 s from 0.25 s with 2 seeds and the packaged label-only model:
    (out folder, stdout lines)."""
    out = tmp_path_factory.mktemp("scored") / "resynth"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert eval_resynth(setup, out, "--seeds", "1", "2", "--start", str(START)) == 0
    return out, printed.getvalue().splitlines()


def test_eval_resynth_writes_every_bar_and_per_clip_rows(setup, scored):
    out, printed = scored
    result = json.loads((out / "copy_synthesis.json").read_text())
    utts = list(read_table(setup["ref"] / "wav.scp"))
    assert result["utts"] == utts and len(utts) == 10
    assert set(result["bars"]) == {
        "accuracy >= 0.90", "every genre >= 0.80", "tempo within 5% in >= 90% of clips",
        "onset rate 0.8-1.25x per genre", "FD <= 2x real vs real",
        "NLL gap >= 0.3 bits (other clip's units, label-only)"}
    for bar in result["bars"].values():
        assert set(bar) >= {"value", "met"} and isinstance(bar["met"], bool)
    assert json.loads(printed[-1]) == {k: v["value"] for k, v in result["bars"].items()}
    assert result["sampling"] == {"temperature": 0.9, "top_p": 0.95, "guidance": 2.0}
    assert [s["seed"] for s in result["seeds"]] == [1, 2]
    renders = []
    for seed in result["seeds"]:
        assert len(seed["clips"]) == 10 and 0 <= seed["conditional_accuracy"] <= 1
        eval_json = json.loads((out / f"seed{seed['seed']}" / "eval" / "eval.json").read_text())
        assert eval_json["generated"]["n"] == eval_json["real"]["n"] == 10
        for row, utt, genre in zip(seed["clips"], utts, result["genres"], strict=True):
            assert (row["utt"], row["genre"]) == (utt, genre)
            info = sf.info(row["file"])
            assert (info.samplerate, info.frames) == (RATE, SECONDS * RATE)
            assert row["file"].endswith(f"/seed{seed['seed']}/gen/{genre}_000.wav")
            assert {"tempo", "source_tempo", "tempo_ratio", "tempo_within", "onset_rate",
                    "source_onset_rate"} <= set(row)
        renders.append(np.stack([sf.read(r["file"])[0] for r in seed["clips"]]))
    assert not np.array_equal(renders[0], renders[1])  # one batch per seed
    # The excerpts the renders are scored on: a data dir at the model rate.
    excerpts = read_table(out / "ref" / "wav.scp")
    assert list(excerpts) == utts and (out / "ref" / "genres.txt").read_text().split() == \
        setup["vocab"]
    for utt, path in excerpts.items():
        source = read_table(setup["ref"] / "wav.scp")[utt]
        want = resample(*read_audio(source), RATE)[int(START * RATE):][:int(SECONDS * RATE)]
        got, sr = sf.read(path, dtype="float32")
        assert sr == RATE and np.abs(got - want).max() < 1e-4


def test_the_nll_rows_are_the_renderer_s_with_own_and_partner_units(setup, scored):
    out, _ = scored
    result = json.loads((out / "copy_synthesis.json").read_text())
    nll = result["nll_bits_per_sample"]
    assert nll["label_only_model"] == "the packaged model" and len(nll["clips"]) == 10
    genres, utts = result["genres"], result["utts"]
    other = partners(genres)
    tok, net = setup["tok"], setup["net"]
    for i in (0, 7):
        row = nll["clips"][i]
        assert row["other_utt"] == utts[other[i]]
        clip = sf.read(read_table(out / "ref" / "wav.scp")[utts[i]], dtype="float32")[0]
        cond = torch.eye(10)[setup["vocab"].index(genres[i])]
        units = torch.from_numpy(tok.encode(clip)).long()
        assert row["own_units"] == pytest.approx(plan_nll(net, clip, cond, units), abs=1e-3)
    own = [r["own_units"] for r in nll["clips"]]
    swapped = [r["other_clip_units"] for r in nll["clips"]]
    assert nll["gap_other"] == pytest.approx(np.mean(swapped) - np.mean(own))
    assert nll["gap_other"] != 0.0  # another clip's plan is another plan
    assert 5 < nll["own_units"] < 10 and 2 < nll["label_only"] < 10


def test_eval_with_a_renderer_reports_its_nll_on_each_clip_s_own_plan(setup, scored, tmp_path):
    out, _ = scored
    assert main(["eval", "--gen", str(out / "seed1" / "gen"), "--ref", str(out / "ref"),
                 "--classifier", str(setup["clf"]), "--out", str(tmp_path / "eval"),
                 "--model", str(setup["model"]), "--nll-seconds", str(SECONDS)]) == 0
    result = json.loads((tmp_path / "eval" / "eval.json").read_text())
    copy = json.loads((out / "copy_synthesis.json").read_text())
    # The same excerpts, each with its own plan.
    assert result["nll_bits_per_sample"] == pytest.approx(
        copy["nll_bits_per_sample"]["own_units"], abs=1e-3)


def test_partners_and_bars_that_cannot_be_computed():
    assert partners(["rock", "jazz", "rock", "rock"]) == [2, 2, 3, 0]
    assert partners(["rock", "jazz"]) == [1, 0]
    seed = {"conditional_accuracy": 1.0, "per_genre_accuracy": {"rock": 1.0},
            "tempo_within_share": None, "onset_rate_ratio": {"rock": {"within": True}},
            "fd": None, "fd_real_vs_real": 0.5}
    result = bars([seed], {"gap_other": 0.5, "gap_label_only": 0.2})
    assert result["accuracy >= 0.90"] == {"value": 1.0, "met": True}
    assert result["tempo within 5% in >= 90% of clips"] == {"value": None, "met": False}
    assert result["FD <= 2x real vs real"] == {"value": None, "met": False}
    assert result["onset rate 0.8-1.25x per genre"]["value"] == "1 of 1"
    assert not result["NLL gap >= 0.3 bits (other clip's units, label-only)"]["met"]
    good = dict(seed, tempo_within_share=0.95, fd=0.9, fd_real_vs_real=0.5)
    assert bars([seed | good, good], {"gap_other": 0.5, "gap_label_only": 0.4}) == bars(
        [good], {"gap_other": 0.5, "gap_label_only": 0.4})
    assert all(b["met"] for b in bars([good], {"gap_other": 0.5, "gap_label_only": 0.4})
               .values())


def _variants(setup, root):
    """Inputs eval-resynth must refuse, by name."""
    root.mkdir()
    ref = setup["ref"]
    other_vocab = shutil.copytree(ref, root / "other_vocab")
    write_table(other_vocab / "utt2genre", {u: "a" for u in read_table(ref / "utt2genre")})
    write_vocab(other_vocab / "genres.txt", ["a", "b"])
    one = root / "one_clip"
    one.mkdir()
    first = next(iter(read_table(ref / "wav.scp").items()))
    write_table(one / "wav.scp", dict([first]))
    write_table(one / "utt2genre", {first[0]: read_table(ref / "utt2genre")[first[0]]})
    shutil.copy(ref / "genres.txt", one / "genres.txt")
    clf = torch.load(setup["clf"], weights_only=True)
    clf["vocab"] = clf["vocab"][::-1]
    torch.save(clf, root / "clf_reversed.pt")
    net, tok, train = setup["net"], setup["tok"], setup["train"]
    save_renderer(root / "tags.pt", net, tok, train, label_kind="utt2tags")
    save_renderer(root / "no_null.pt", net, tok, train, null_condition=False, synth_defaults={})
    save_model(root / "plain_ab.pt", WaveNet(WaveNetConfig(
        n_layers=2, dilation_cycle=2, residual_channels=4, gate_channels=4, skip_channels=4,
        n_cond=2)), RATE, ["a", "b"])
    return root


BAD = [
    (["--seconds", "0"], {}, "--seconds: 0 is out of range; accepted: [0.5, 600]"),
    (["--seconds", "1e9"], {}, "--seconds: 1e9 is out of range"),
    (["--seconds", "nan"], {}, "--seconds: 'nan' is not finite"),
    (["--start", "-1"], {}, "--start: -1 is out of range; accepted: [0, 3600]"),
    (["--start", "inf"], {}, "--start: 'inf' is not finite"),
    (["--seconds", "2"], {}, "10 clip(s) of {ref} are shorter than 2 s"),
    (["--start", "0.7"], {}, "are shorter than 1.2 s"),
    (["--seeds", "1", "1"], {}, "give one or more distinct synthesis seeds, got [1, 1]"),
    (["--seeds", "-3"], {}, "--seeds: -3 is out of range"),
    (["--guidance", "3"], {"model": "no_null.pt"}, "guidance other than 1 needs a model "
     "trained with conditioning dropout"),
    ([], {"ref": "other_vocab"}, "has labels ['a', 'b']..., the model ['blues'"),
    ([], {"ref": "one_clip"}, "holds 1 clip(s); copy synthesis compares clips"),
    ([], {"ref": "missing"}, "is neither a Kaldi data dir (wav.scp) nor a dump"),
    ([], {"model": "plain"}, "renders no plan (a one-level model"),
    ([], {"model": "tags.pt"}, "is conditioned on tags; copy synthesis is scored per genre"),
    ([], {"clf": "clf_reversed.pt"}, "has labels ['rock', 'reggae', 'pop', 'metal']..., the "
     "model ['blues'"),
    ([], {"clf": "missing.pt"}, "classifier file {root}/missing.pt not found"),
    (["--label-only", "{model}"], {}, "the label-only model of the NLL comparison (model file "
     "{model}) must be a one-level model of the renderer's genres"),
    (["--label-only", "{root}/plain_ab.pt"], {}, "must be a one-level model of the renderer's"),
    (["--engine", "warp"], {}, "unknown engine 'warp'"),
]


@pytest.mark.parametrize("args,where,message", BAD)
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(setup, tmp_path, capsys, args,
                                                             where, message):
    root = _variants(setup, tmp_path / "inputs")
    names = {"model": setup["model"], "root": root, "ref": setup["ref"]}
    argv = ["eval-resynth", "--ref", str(root / where["ref"] if "ref" in where else setup["ref"]),
            "--model", str(setup["plain"] if where.get("model") == "plain" else
                           root / where["model"] if "model" in where else setup["model"]),
            "--classifier", str(root / where["clf"] if "clf" in where else setup["clf"]),
            "--out", str(tmp_path / "out"), *[a.format(**names) for a in args]]
    if "--seconds" not in args:
        argv += ["--seconds", str(SECONDS)]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses a flag's value
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert message.format(**names) in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_label_only_model_at_another_rate_is_left_out_of_the_nll(setup, tmp_path):
    """Bits per sample at 16 kHz and at the renderer's rate do not compare: the label-only
    row is None, the gap too, and the NLL bar is not met (rather than a meaningless gap)."""
    other_rate = tmp_path / "plain16k.pt"
    torch.manual_seed(1)
    save_model(other_rate, WaveNet(WaveNetConfig(n_layers=2, dilation_cycle=2,
                                                 residual_channels=4, gate_channels=4,
                                                 skip_channels=4)), 2 * RATE, setup["vocab"])
    out = tmp_path / "resynth"
    with contextlib.redirect_stdout(io.StringIO()):
        assert eval_resynth(setup, out, "--seeds", "1", "--label-only", str(other_rate)) == 0
    result = json.loads((out / "copy_synthesis.json").read_text())
    nll = result["nll_bits_per_sample"]
    assert nll["label_only"] is None and nll["gap_label_only"] is None
    assert all(row["label_only"] is None for row in nll["clips"])
    assert nll["gap_other"] == pytest.approx(nll["other_clip_units"] - nll["own_units"])
    bar = result["bars"]["NLL gap >= 0.3 bits (other clip's units, label-only)"]
    assert bar["value"][1] is None and not bar["met"]
