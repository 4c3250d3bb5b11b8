"""The CLI in-process, with the packaged default model."""

import argparse
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from wavegen.cli import build_parser, main
from wavegen.models.io import default_model_path, load_model

COMMANDS = ["toy-corpus", "render-corpus", "download", "prepare", "prepare-mtat", "split-data",
            "check-audio", "merge-data", "merge-dump", "validate-data-dir", "dump", "train",
            "synth", "pack", "resynth", "live", "bench", "classifier", "eval", "eval-resynth",
            "eval-plans", "report",
            "plot-training", "listen", "units"]


def test_every_command_has_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    top = capsys.readouterr().out
    for command in COMMANDS:
        assert command in top
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert f"usage: wavegen {command}" in text
    # Every command is listed above, and every flag of every command has a help text.
    choices = build_parser()._subparsers._group_actions[0].choices
    assert sorted(choices) == sorted(COMMANDS)
    for name, sub in choices.items():
        for action in sub._actions:
            if not isinstance(action, argparse._SubParsersAction):  # its choices have help
                assert action.help, f"{name} {action.dest}"


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "wavegen", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("wavegen ")


def test_packaged_model_is_small_and_loads():
    assert default_model_path().stat().st_size < 5 * 1024 * 1024
    _, info = load_model()
    assert info.vocab == ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal",
                          "pop", "reggae", "rock"]


def test_synth_writes_exact_duration_pcm16_and_seed_reproduces(tmp_path):
    out = tmp_path / "rock.wav"
    assert main(["synth", "--genre", "rock", "--duration", "0.05", "--seed", "3",
                 "--out", str(out)]) == 0
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (8000, 1, "PCM_16", 400)
    first = sf.read(str(out))[0]
    assert np.abs(first).max() > 0
    main(["synth", "--genre", "rock", "--duration", "0.05", "--seed", "3", "--out", str(out)])
    assert np.array_equal(sf.read(str(out))[0], first)
    main(["synth", "--genre", "rock", "--duration", "0.05", "--seed", "4", "--out", str(out)])
    assert not np.array_equal(sf.read(str(out))[0], first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rock.wav"]


def test_synth_all_genres_into_a_folder(tmp_path):
    assert main(["synth", "--genre", "all", "--duration", "0.01", "--seed", "0",
                 "--out-dir", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 10 and names[0] == "blues_000.wav"


def _exit_code(argv: list[str]) -> int:
    """main's status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize("args,message", [
    (["--genre", "rokc"], "unknown genre 'rokc'; known genres: blues, classical"),
    (["--genre", "rock", "--duration", "0"], "--duration: 0 is out of range; accepted: (0, 3600]"),
    (["--genre", "rock", "--duration", "-2"], "--duration: -2 is out of range"),
    (["--genre", "rock", "--model", "missing.pt"], "model file missing.pt not found"),
    (["--genre", "rock", "--temperature", "0"], "--temperature: 0 is out of range"),
])
def test_synth_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    duration = [] if "--duration" in args else ["--duration", "0.01"]
    assert _exit_code(["synth", *args, *duration, "--out", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_synth_unreadable_model_and_missing_directory(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    assert main(["synth", "--genre", "rock", "--model", str(junk), "--out",
                 str(tmp_path / "a.wav")]) == 2
    assert "cannot load model file" in capsys.readouterr().err
    assert main(["synth", "--genre", "rock", "--duration", "0.01",
                 "--out", str(tmp_path / "no" / "a.wav")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pt"]


def test_existing_output_survives_a_failed_run(tmp_path):
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    assert main(["synth", "--genre", "nope", "--out", str(out)]) == 2
    assert out.read_bytes() == b"precious"


def test_guidance_needs_a_model_trained_with_a_null_label(tmp_path, capsys):
    from wavegen.models.io import save_model
    from wavegen.models.wavenet import WaveNet, WaveNetConfig

    model = WaveNet(WaveNetConfig(n_layers=2, dilation_cycle=2, residual_channels=4,
                                  gate_channels=4, skip_channels=4, n_cond=2))
    plain = tmp_path / "plain.pt"
    save_model(plain, model, 8000, ["a", "b"])
    args = ["synth", "--genre", "a", "--duration", "0.01", "--model", str(plain)]
    assert main([*args, "--guidance", "2", "--out", str(tmp_path / "x.wav")]) == 2
    assert "needs a model trained with conditioning dropout" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()
    guided = tmp_path / "guided.pt"
    save_model(guided, model, 8000, ["a", "b"], null_condition=True,
               synth_defaults={"guidance": 3.0})
    out = tmp_path / "g.wav"
    assert main(["synth", "--genre", "b", "--duration", "0.01", "--model", str(guided),
                 "--out", str(out), "--seed", "1"]) == 0
    assert sf.info(str(out)).frames == 80


@pytest.mark.parametrize("suffix, fmt", [(".wav", "WAV"), (".flac", "FLAC"), (".ogg", "OGG"),
                                         (".mp3", "MP3"), (".FLAC", "FLAC")])
def test_synth_writes_the_format_its_suffix_names(tmp_path, suffix, fmt):
    out = tmp_path / f"rock{suffix}"
    assert main(["synth", "--genre", "rock", "--duration", "0.5", "--seed", "3",
                 "--out", str(out)]) == 0
    info = sf.info(str(out))
    assert info.format == fmt and info.samplerate == 8000
    assert abs(info.frames - 4000) <= (0 if fmt in ("WAV", "FLAC") else 1200)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left behind


@pytest.mark.parametrize("name", ["x.aiff", "x.txt", "x", "x.wav.gz", "x.mp4", ".mp3x"])
def test_synth_refuses_suffixes_it_cannot_write(tmp_path, name, capsys):
    assert main(["synth", "--genre", "rock", "--duration", "0.05", "--out",
                 str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert "the suffix picks the format" in err and ".flac" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spec, warned", [("rock:2,jazz:1", True), ("rock:0.5", True),
                                          ("rock:0.7,jazz:0.3", False), ("rock,jazz", False),
                                          ("rock", False)])
def test_genre_mixes_not_summing_to_one_are_scaled_with_a_word(spec, warned, caplog):
    from wavegen.models.conditioning import parse_genre_mix

    vocab = ["jazz", "rock"]
    with caplog.at_level("WARNING"):
        vec = parse_genre_mix(spec, vocab)
    assert abs(float(vec.sum()) - 1) < 1e-6
    assert ("not 1: scaled to" in caplog.text) == warned


def test_synth_morphs_the_genre_over_time(tmp_path):
    """--genre a@0,b@1: the first control block (50 ms) is conditioned on a alone, the same
    samples as a clip of a; later blocks move towards b and differ."""
    from wavegen.models.io import save_model
    from wavegen.models.wavenet import WaveNet, WaveNetConfig

    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(n_layers=3, dilation_cycle=3, residual_channels=4,
                                  gate_channels=6, skip_channels=4, n_cond=2))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))  # a model whose output depends on its genre
    path = tmp_path / "m.pt"
    save_model(path, model, 8000, ["a", "b"])
    clips = {}
    for spec in ("a", "a@0,b@0.05"):
        out = tmp_path / f"{len(clips)}.wav"
        args = ["synth", "--genre", spec, "--duration", "0.1", "--model", str(path),
                "--seed", "3", "--engine", "cached", "--out", str(out)]
        assert main(args) == 0
        clips[spec], _ = sf.read(str(out))
    assert len(clips["a"]) == len(clips["a@0,b@0.05"]) == 800
    assert np.array_equal(clips["a"][:400], clips["a@0,b@0.05"][:400])
    assert not np.array_equal(clips["a"][400:], clips["a@0,b@0.05"][400:])
    assert main(["synth", "--genre", "a@1,b@0", "--duration", "0.1", "--model", str(path),
                 "--out", str(tmp_path / "bad.wav")]) == 2
    assert not (tmp_path / "bad.wav").exists()


def test_a_morph_longer_than_a_chunk_is_the_library_s_morph(tmp_path):
    """0.9 s = 7,200 samples, two chunks of 4,000: synth's clip equals stream() with the same
    trajectory, seed and control rate (the trajectory keeps its time base across chunks)."""
    from wavegen.audio import mu_law_decode
    from wavegen.engine import generate
    from wavegen.models.io import save_model
    from wavegen.models.wavenet import WaveNet, WaveNetConfig

    torch.manual_seed(1)
    model = WaveNet(WaveNetConfig(n_layers=3, dilation_cycle=3, residual_channels=4,
                                  gate_channels=6, skip_channels=4, n_cond=2))
    path = tmp_path / "m.pt"
    save_model(path, model, 8000, ["a", "b"])
    out = tmp_path / "morph.wav"
    assert main(["synth", "--genre", "a@0.2,b@0.8", "--duration", "0.9", "--model", str(path),
                 "--seed", "5", "--engine", "cached", "--out", str(out)]) == 0
    a, b = torch.eye(2)

    def at(t: int) -> torch.Tensor:
        s = t / 8000
        w = min(1.0, max(0.0, (s - 0.2) / 0.6))
        return torch.lerp(a, b, w)[None]

    codes = generate(model, at(0), 7200, engine="cached", seed=5, cond_at=at, control_every=400)
    want = mu_law_decode(codes, 256).numpy()[0]
    got, _ = sf.read(str(out), dtype="float32")
    assert len(got) == 7200
    np.testing.assert_allclose(got, want, atol=1 / 32768 + 1e-6)
