"""Automation files (wavegen synth --automation): time points of the conditioning and the
sampling settings, checked like every other input."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from wavegen.cli import main
from wavegen.models.io import save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny genre model with a null label (guidance works) and one without."""
    root = tmp_path_factory.mktemp("auto")
    torch.manual_seed(0)
    net = WaveNet(WaveNetConfig(n_layers=3, dilation_cycle=3, residual_channels=4,
                                gate_channels=6, skip_channels=4, n_cond=2))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    save_model(root / "guided.pt", net, 8000, ["a", "b"], null_condition=True)
    save_model(root / "plain.pt", net, 8000, ["a", "b"])
    return root


def _synth(tmp_path, models, *args, model="guided.pt", name="out.wav"):
    out = tmp_path / name
    code = main(["synth", *args, "--duration", "0.1", "--model", str(models / model),
                 "--seed", "3", "--engine", "cached", "--out", str(out)])
    return code, out


def _write(tmp_path, content, name="auto.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_an_automation_of_the_genre_equals_the_same_morph_given_inline(tmp_path, models):
    auto = _write(tmp_path, {"genre": [[0, "a"], [0.05, {"b": 1}]]})
    code, from_file = _synth(tmp_path, models, "--automation", str(auto), name="f.wav")
    assert code == 0
    code, inline = _synth(tmp_path, models, "--genre", "a@0,b@0.05", name="i.wav")
    assert code == 0
    assert np.array_equal(sf.read(str(from_file))[0], sf.read(str(inline))[0])


def test_sampling_tracks_change_the_clip_and_guidance_may_pass_through_one(tmp_path, models):
    plain = _write(tmp_path, {"genre": [[0, "a"]]}, "plain.json")
    moving = _write(tmp_path, {"genre": [[0, "a"]], "temperature": [[0, 0.5], [0.1, 1.5]],
                               "top_p": [[0, 0.8]], "guidance": [[0, 1], [0.05, 4], [0.1, 1]]},
                    "moving.json")
    code, a = _synth(tmp_path, models, "--automation", str(plain), name="a.wav")
    assert code == 0
    code, b = _synth(tmp_path, models, "--automation", str(moving), name="b.wav")
    assert code == 0
    x, y = sf.read(str(a))[0], sf.read(str(b))[0]
    assert len(x) == len(y) == 800 and not np.array_equal(x, y)


def test_guidance_in_a_file_needs_a_model_with_a_null_label(tmp_path, models, capsys):
    auto = _write(tmp_path, {"genre": [[0, "a"]], "guidance": [[0, 1], [1, 3]]})
    code, out = _synth(tmp_path, models, "--automation", str(auto), model="plain.pt")
    assert code == 2 and not out.exists()
    assert "needs a model trained with conditioning dropout" in capsys.readouterr().err


BAD = [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "expected a JSON object of tracks, got list"),
    ({"genre": [[0, "a"]], "tempo": [[0, 1]]}, "unknown track(s) tempo"),
    ({"tags": [[0, "a"]]}, "unknown track(s) tags"),
    ({"temperature": [[0, 1]]}, "no 'genre' track"),
    ({"genre": []}, "expected a non-empty list"),
    ({"genre": "a"}, "expected a non-empty list"),
    ({"genre": [[0, "a", 1]]}, "each point is [seconds, value]"),
    ({"genre": [["0", "a"]]}, "time: expected a number"),
    ({"genre": [[True, "a"]]}, "time: expected a number"),
    ({"genre": [[-1, "a"]]}, "time -1 is negative"),
    ('{"genre": [[NaN, "a"]]}', "expected a finite number"),
    ('{"genre": [[Infinity, "a"]]}', "expected a finite number"),
    ({"genre": [[2, "a"], [1, "b"]]}, "times must increase: 1 s comes after 2 s"),
    ({"genre": [[0, "a"], [0, "b"]]}, "times must increase"),
    ({"genre": [[0, "nope"]]}, "unknown genre 'nope'"),
    ({"genre": [[0, {"a": -1, "b": 2}]]}, "genre weight must be a finite number >= 0"),
    ({"genre": [[0, {"a": "x"}]]}, "weight of 'a': expected a number"),
    ({"genre": [[0, 5]]}, "expected a genre or tag string"),
    ({"genre": [[0, "a"]], "temperature": [[0, 0]]}, "temperature at 0 s: temperature must"),
    ({"genre": [[0, "a"]], "top_p": [[0, 1.5]]}, "top_p must be in"),
    ({"genre": [[0, "a"]], "guidance": [[0, -1]]}, "guidance must be a finite number >= 0"),
    ({"genre": [[0, "a"]], "guidance": [[0, "8"]]}, "expected a number"),
]


@pytest.mark.parametrize("content, message", BAD, ids=[m for _, m in BAD])
def test_bad_automation_files_exit_2_and_write_nothing(tmp_path, models, capsys, content,
                                                       message):
    auto = _write(tmp_path, content)
    code, out = _synth(tmp_path, models, "--automation", str(auto))
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert message in err and str(auto) in err


def test_missing_special_and_undecodable_files(tmp_path, models, capsys):
    for path, message in ((tmp_path / "none.json", "not found"), (tmp_path, "not found"),
                          (_write(tmp_path, "x", "bin.json"), "not valid JSON")):
        if path.name == "bin.json":
            path.write_bytes(b"\xff\xfe\x00garbage")
        code, out = _synth(tmp_path, models, "--automation", str(path))
        assert code == 2 and not out.exists()
        assert message in capsys.readouterr().err
    big = tmp_path / "big.json"
    big.write_text('{"genre": [[0, "a"]], "x": "' + "y" * (1 << 20) + '"}')
    code, _ = _synth(tmp_path, models, "--automation", str(big))
    assert code == 2 and "larger than" in capsys.readouterr().err


def test_automation_excludes_genre_and_tags(tmp_path, models, capsys):
    auto = _write(tmp_path, {"genre": [[0, "a"]]})
    with pytest.raises(SystemExit):
        main(["synth", "--automation", str(auto), "--genre", "a", "--out",
              str(tmp_path / "x.wav")])
    assert "not allowed with argument" in capsys.readouterr().err
