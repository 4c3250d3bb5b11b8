"""``wavegen synth --prime``: continue a clip through the same engine."""

import numpy as np
import pytest
import soundfile as sf

from wavegen.cli import main


def test_prime_continues_a_clip(tmp_path):
    clip = tmp_path / "in.wav"
    t = np.arange(8000) / 8000.0
    sf.write(clip, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 8000)  # resampled
    out = tmp_path / "next.wav"
    assert main(["synth", "--genre", "rock", "--duration", "0.05", "--out", str(out),
                 "--seed", "1", "--prime", str(clip)]) == 0
    audio, rate = sf.read(out)
    assert len(audio) == round(0.05 * rate)  # the continuation only
    again = tmp_path / "again.wav"
    main(["synth", "--genre", "rock", "--duration", "0.05", "--out", str(again), "--seed", "1",
          "--prime", str(clip)])
    plain = tmp_path / "plain.wav"
    main(["synth", "--genre", "rock", "--duration", "0.05", "--out", str(plain), "--seed", "1"])
    assert np.array_equal(sf.read(again)[0], audio)
    assert not np.array_equal(sf.read(plain)[0], audio)  # the primer changed the caches


def test_unreadable_primer_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    out = tmp_path / "x.wav"
    assert main(["synth", "--genre", "rock", "--duration", "0.05", "--out", str(out),
                 "--prime", str(bad)]) == 2
    assert "cannot read audio file" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("name,samples,message", [
    ("nan.wav", np.full(800, np.nan), "800 non-finite samples"),
    ("inf.wav", np.r_[np.zeros(400), np.inf, np.zeros(399)], "1 non-finite samples"),
    ("neg_inf.wav", np.r_[-np.inf, 0.1 * np.ones(799)], "1 non-finite samples"),
    ("text.au", None, "is not that of a .au file"),
    ("empty.wav", np.zeros(0), "cannot read audio file"),
])
def test_garbage_primers_are_refused(tmp_path, capsys, name, samples, message):
    """A NaN primer made synth write constant full scale; now it is refused before any work."""
    bad = tmp_path / name
    if samples is None:
        bad.write_text("text, not audio " * 100)
    elif samples.size == 0:
        bad.write_bytes(b"")
    else:
        sf.write(str(bad), samples.astype(np.float32), 8000, subtype="FLOAT")
    out = tmp_path / "x.wav"
    assert main(["synth", "--genre", "rock", "--duration", "0.05", "--out", str(out),
                 "--prime", str(bad)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
