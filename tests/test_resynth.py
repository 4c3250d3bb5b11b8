"""``wavegen resynth`` with a tiny real renderer: the output's length and rate for any input,
seeds, the render being the engines' render of the clip's plan, labels, and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from renderer_files import DEFAULTS, RATE, fit_tiny_tokenizer, save_renderer, tiny_renderer

from wavegen.audio import mu_law_decode, read_audio, resample
from wavegen.cli import main
from wavegen.data.dump import dump_data_dir
from wavegen.engine import generate
from wavegen.models.io import save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.synth import condition_vector


@pytest.fixture(scope="module")
def files(prepared, tmp_path_factory):
    """Renderer model files (and their parts) over the dump of the toy corpus's train set."""
    data, _ = prepared
    root = tmp_path_factory.mktemp("resynth")
    dump_data_dir(data / "train", root / "train", RATE)
    tok = fit_tiny_tokenizer(root / "train")
    net = tiny_renderer(tok, n_cond=10)
    model = save_renderer(root / "renderer.pt", net, tok, root / "train")
    rng = np.random.default_rng(0)
    clip = read_audio(_first_clip(data / "test"))[0]  # (8000,): 1 s at 8 kHz
    inputs = root / "inputs"
    inputs.mkdir()
    # The same music at 44.1 kHz in stereo (a little noise on one side), and at 8 kHz.
    wide = resample(clip[:RATE // 2], RATE, 44100)
    sf.write(inputs / "stereo44k.wav", np.stack([wide, wide + 0.01 * rng.standard_normal(
        wide.size)], 1), 44100, subtype="FLOAT")
    sf.write(inputs / "mono8k.wav", clip[:3 * RATE // 8], RATE)
    return {"root": root, "tok": tok, "net": net, "model": model, "inputs": inputs,
            "train": root / "train", "vocab": torch.load(model, weights_only=True)["vocab"]}


def _first_clip(data_dir: Path) -> Path:
    line = (data_dir / "wav.scp").read_text().splitlines()[0]
    return Path(line.split(" ", 1)[1])


def resynth(files, inp, out, *args):
    return main(["resynth", str(files["inputs"] / inp), "--out", str(out), "--model",
                 str(files["model"]), *args])


def direct(files, inp, cond, seed, guidance):
    """The plan of ``inp`` rendered by the engines, without the command: (N,) float samples."""
    samples, sr = read_audio(files["inputs"] / inp)
    samples = np.clip(resample(samples, sr, RATE), -1.0, 1.0)
    units = torch.from_numpy(files["tok"].encode(samples)).long()[None]  # (1, F)
    net = files["net"]
    codes = generate(net.export_weights(), cond[None], samples.size, seed=seed,
                     temperature=DEFAULTS["temperature"], top_p=DEFAULTS["top_p"],
                     guidance=guidance, local=net.local_bias(units))  # (1, N)
    return mu_law_decode(codes[0]).numpy()


def same_audio(path, want):
    got, sr = sf.read(str(path), dtype="float32")
    assert sr == RATE and got.shape == want.shape
    return float(np.abs(got - want).max()) <= 1 / 32768  # 16-bit rounding


@pytest.mark.parametrize("inp,n", [("stereo44k.wav", RATE // 2), ("mono8k.wav", 3 * RATE // 8)])
def test_the_output_has_the_input_s_length_at_the_model_rate(files, tmp_path, inp, n):
    out = tmp_path / "out.wav"
    assert resynth(files, inp, out, "--genre", "rock", "--seed", "1") == 0
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (RATE, 1, n, "PCM_16")
    assert np.abs(sf.read(str(out))[0]).max() > 0.01


def test_a_one_sample_input_renders_one_sample(files, tmp_path):
    sf.write(tmp_path / "tick.wav", np.full((1, 2), 0.5), 44100)
    out = tmp_path / "out.flac"
    assert main(["resynth", str(tmp_path / "tick.wav"), "--out", str(out), "--model",
                 str(files["model"]), "--genre", "jazz"]) == 0
    assert (sf.info(str(out)).frames, sf.info(str(out)).format) == (1, "FLAC")


def test_the_seed_reproduces_and_the_render_is_the_engines_render_of_the_plan(files, tmp_path):
    vocab = files["vocab"]
    rock = condition_vector("rock", vocab, "utt2genre")
    for inp in ("stereo44k.wav", "mono8k.wav"):
        a, b, c = (tmp_path / f"{k}.wav" for k in "abc")
        for path, seed in ((a, "3"), (b, "3"), (c, "4")):
            assert resynth(files, inp, path, "--genre", "rock", "--seed", seed) == 0
        assert a.read_bytes() == b.read_bytes() and a.read_bytes() != c.read_bytes()
        # The model file's defaults (temperature 0.9, top-p 0.95, guidance 2) are used.
        assert same_audio(a, direct(files, inp, rock, 3, DEFAULTS["guidance"]))
        assert not same_audio(a, direct(files, inp, rock, 3, 1.0))
    # Another clip's plan renders otherwise, with the same seed and label.
    sf.write(tmp_path / "other.wav", 0.3 * np.sin(np.arange(RATE // 2) * 0.3), RATE)
    assert main(["resynth", str(tmp_path / "other.wav"), "--out", str(tmp_path / "o.wav"),
                 "--model", str(files["model"]), "--genre", "rock", "--seed", "3"]) == 0
    assert not same_audio(tmp_path / "o.wav", direct(files, "stereo44k.wav", rock, 3, 2.0))


def test_no_genre_renders_with_the_null_label_and_mixes_work(files, tmp_path):
    vocab = files["vocab"]
    plain = tmp_path / "plain.wav"
    assert resynth(files, "mono8k.wav", plain, "--seed", "5") == 0
    assert same_audio(plain, direct(files, "mono8k.wav", torch.zeros(10), 5, 1.0))
    mix = tmp_path / "mix.wav"
    assert resynth(files, "mono8k.wav", mix, "--genre", "rock:0.5,jazz:0.5", "--seed", "5",
                   "--guidance", "1") == 0
    half = condition_vector("rock:0.5,jazz:0.5", vocab, "utt2genre")
    assert half[vocab.index("jazz")] == 0.5
    assert same_audio(mix, direct(files, "mono8k.wav", half, 5, 1.0))
    assert not same_audio(mix, direct(files, "mono8k.wav",
                                      condition_vector("rock", vocab, "utt2genre"), 5, 1.0))


def _model_variants(files, root: Path) -> dict[str, Path]:
    """Model files that resynth must refuse."""
    root.mkdir(exist_ok=True)
    net, tok, train = files["net"], files["tok"], files["train"]
    one_level = root / "one_level.pt"
    save_model(one_level, WaveNet(WaveNetConfig(n_layers=2, dilation_cycle=2,
                                                residual_channels=4, gate_channels=4,
                                                skip_channels=4)), RATE, files["vocab"])
    out = {"one_level": one_level,
           "no_tokenizer": save_renderer(root / "no_tok.pt", net, tok, train, tokenizer=None),
           "no_null": save_renderer(root / "no_null.pt", net, tok, train, null_condition=False,
                                    synth_defaults={})}
    payload = torch.load(files["model"], weights_only=True)
    for name, change in {
            "rate": lambda p: p.update(sample_rate=16000),
            "hop": lambda p: p["model_config"].update(unit_hop=80),
            "not_a_tokenizer": lambda p: p.update(tokenizer={"format": "x", "identity": {}}),
            "bad_tokenizer": lambda p: p["tokenizer"].update(version=7)}.items():
        changed = torch.load(files["model"], weights_only=True)
        change(changed)
        torch.save(changed, root / f"{name}.pt")
        out[name] = root / f"{name}.pt"
    # K: the same tokenizer identity and state, but 128 units in the renderer.
    cfg = dict(payload["model_config"], n_units=128)
    wide = WaveNet(WaveNetConfig(**cfg))
    save_model(root / "k.pt", wide, RATE, files["vocab"], null_condition=True,
               tokenizer=tok.state())
    out["k"] = root / "k.pt"
    return out


def _inputs(root: Path) -> dict[str, Path]:
    """Input files that resynth must refuse."""
    root.mkdir(exist_ok=True)
    os.mkfifo(root / "fifo.wav")
    (root / "folder.wav").mkdir()
    (root / "empty.wav").write_bytes(b"")
    (root / "text.wav").write_text("not audio\n")
    sf.write(root / "zero.wav", np.zeros((0, 1)), RATE)
    nan = np.zeros(800, np.float32)
    nan[10] = np.nan
    sf.write(root / "nan.wav", nan, RATE, subtype="FLOAT")
    sf.write(root / "long.wav", np.zeros(3602, np.int16), 1)  # 3,602 s at 1 Hz
    return {p.stem: p for p in root.iterdir()}


BAD = [
    ("model", "one_level", [], "renders no plan (a one-level model without local conditioning)"),
    ("model", "no_tokenizer", ["--genre", "rock"], "carries no tokenizer"),
    ("model", "rate", ["--genre", "rock"], "its tokenizer makes plans at 8000 Hz, hop 160, 64 "
     "units, its renderer reads 16000 Hz, hop 160, 64 units"),
    ("model", "hop", ["--genre", "rock"], "its renderer reads 8000 Hz, hop 80, 64 units"),
    ("model", "k", ["--genre", "rock"], "its renderer reads 8000 Hz, hop 160, 128 units"),
    ("model", "not_a_tokenizer", ["--genre", "rock"], "its tokenizer entry is not a wavegen "
     "tokenizer"),
    ("model", "bad_tokenizer", ["--genre", "rock"], "is a tokenizer of version 7"),
    ("model", "no_null", [], "trained without conditioning dropout, so it has no null label"),
    ("model", "no_null", ["--genre", "rock", "--guidance", "2"], "guidance other than 1 needs "
     "a model trained with conditioning dropout"),
    ("input", "missing", ["--genre", "rock"], "input audio {p} not found"),
    ("input", "fifo", ["--genre", "rock"], "is a FIFO (named pipe), not a regular file"),
    ("input", "folder", ["--genre", "rock"], "is a directory, not a regular file"),
    ("input", "empty", ["--genre", "rock"], "cannot read audio file {p}"),
    ("input", "text", ["--genre", "rock"], "cannot read audio file {p}"),
    ("input", "zero", ["--genre", "rock"], "audio file {p} is empty (0 samples)"),
    ("input", "nan", ["--genre", "rock"], "holds 1 non-finite samples (NaN or Inf)"),
    ("input", "long", ["--genre", "rock"], "is 3602 s long; resynth takes at most 3600 s"),
    ("args", "", ["--genre", "rokc"], "unknown genre 'rokc'; known genres: blues"),
    ("args", "", ["--genre", ""], "empty genre"),
    ("args", "", ["--guidance", "3"], "guidance needs a genre to strengthen"),
    ("args", "", ["--genre", "rock", "--temperature", "nan"], "'nan' is not finite"),
    ("args", "", ["--genre", "rock", "--engine", "warp"], "unknown engine 'warp'"),
    ("args", "", ["--genre", "rock", "--device", "tpu"], "is not a device name"),
    ("out", "x.txt", ["--genre", "rock"], "the suffix picks the format"),
    ("out", "no/such/x.wav", ["--genre", "rock"], "does not exist"),
]


@pytest.mark.parametrize("kind,name,args,message", BAD)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(files, tmp_path, capsys, kind, name,
                                                             args, message):
    model, inp, out = files["model"], files["inputs"] / "mono8k.wav", tmp_path / "out" / "x.wav"
    if kind == "model":
        model = _model_variants(files, tmp_path / "models")[name]
    elif kind == "input":
        inp = _inputs(tmp_path / "in").get(name, tmp_path / "in" / f"{name}.wav")
    elif kind == "out":
        out = tmp_path / "out" / name
    (tmp_path / "out").mkdir()
    code = _exit_code(["resynth", str(inp), "--out", str(out), "--model", str(model), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message.format(p=inp) in err and err.count("\n") == 1 and "Traceback" not in err
    assert list((tmp_path / "out").iterdir()) == []


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse refuses a flag's value
        return int(exc.code)


@pytest.mark.parametrize("command", [
    ["synth", "--genre", "rock", "--duration", "0.1", "--out", "{out}/x.wav"],
    ["live", "--port", "8765"],
])
def test_synth_and_live_refuse_a_renderer(files, tmp_path, capsys, command):
    (tmp_path / "out").mkdir()
    argv = [a.format(out=tmp_path / "out") for a in command]
    assert main([*argv, "--model", str(files["model"])]) == 2
    err = capsys.readouterr().err
    assert f"model file {files['model']} is a renderer" in err and err.count("\n") == 1
    assert "wavegen resynth IN.wav --model MODEL --out OUT.wav" in err
    assert list((tmp_path / "out").iterdir()) == []
