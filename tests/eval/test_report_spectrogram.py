"""Report spectrograms: clips with digital silence draw without warnings."""

import warnings

import matplotlib.image
import numpy as np

from wavegen.eval.report import plot_spectrogram


def test_a_clip_with_digital_silence_draws_without_a_warning(tmp_path):
    x = np.zeros(8000, dtype=np.float32)
    x[4000:] = 0.1 * np.sin(np.arange(4000) * 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero in log10 would fail here
        plot_spectrogram(x, 8000, tmp_path / "s.png")
    image = matplotlib.image.imread(str(tmp_path / "s.png"))
    assert image.shape[0] > 100 and image.shape[1] > 200


def test_a_clip_with_a_plan_file_draws_its_plan_under_the_spectrogram(tmp_path):
    """A two-level clip's plan (DIR/plans/<clip>.plan.json) is drawn under its spectrogram in
    the report; a clip without one, or with a damaged one, gets the spectrogram alone."""
    import soundfile as sf

    from wavegen.eval.report import _clip, plan_file_of
    from wavegen.units.plan import make_plan, write_plan

    rng = np.random.default_rng(0)
    for name in ("with", "without", "damaged"):
        sf.write(tmp_path / f"{name}.wav", 0.1 * rng.standard_normal(8000), 8000)
    (tmp_path / "plans").mkdir()
    identity = {"name": "kmeans", "sample_rate": 8000, "hop": 160, "n_units": 64,
                "features": ["onset"], "hash": "h"}
    write_plan(plan_file_of(tmp_path / "with.wav"), make_plan(rng.integers(0, 64, 50),
                                                               identity))
    plan_file_of(tmp_path / "damaged.wav").write_text("{not json")
    out = tmp_path / "out"
    for sub in ("audio", "img"):
        (out / sub).mkdir(parents=True)
    heights = {}
    for name in ("with", "without", "damaged"):
        _, img = _clip(str(tmp_path / f"{name}.wav"), name, out)
        heights[name] = matplotlib.image.imread(str(out / img)).shape[0]
    assert heights["with"] > 1.3 * heights["without"]
    assert heights["damaged"] == heights["without"]
