"""The two-level speed benchmark runs, times what synth does, and writes its JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import two_level_speed  # noqa: E402

from wavegen.models.two_level import TwoLevel, load_generator  # noqa: E402
from wavegen.synth import condition_vector, synthesize  # noqa: E402
from wavegen.two_level_synth import plan_units, render_plan  # noqa: E402


def test_the_benchmark_runs_and_writes_its_figures(two_level, tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert two_level_speed.main(["--model", str(two_level["two"]), "--seconds", "0.3",
                                 "--repeats", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["threads"] for r in result["rows"]] == [1, 2]
    assert all(r["two_level_x_real_time"] > 0 and r["one_level_x_real_time"] > 0
               for r in result["rows"])
    assert "avx" in json.dumps(result["machine"]) or result["machine"]
    assert "x real time" in capsys.readouterr().out


def test_it_times_the_clip_synth_writes(two_level, tmp_path):
    """The timed functions, seed 0, are synth's clip (the same plan, the same samples)."""
    two = load_generator(two_level["two"])
    assert isinstance(two, TwoLevel)
    cond = condition_vector("rock", two.vocab, two.label_kind)[None]
    d = two.planner_info.synth_defaults
    units = plan_units(two, cond, 20, temperature=d["temperature"], top_p=d["top_p"],
                       guidance=d["guidance"], guided=True, seed=0)
    codes = torch.cat(list(render_plan(two, cond, units, 3200, seed=0)), 1)
    synthesize("rock", 0.4, out=tmp_path / "r.wav", model=two_level["two"], seed=0)
    import soundfile as sf

    from wavegen.audio import mu_law_decode

    expected = np.round(mu_law_decode(codes, 256)[0].numpy() * 32767)
    assert np.abs(sf.read(tmp_path / "r.wav", dtype="int16")[0] - expected).max() <= 2
