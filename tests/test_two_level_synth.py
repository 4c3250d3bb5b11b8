"""``wavegen synth`` with a two-level model: the planner's plan rendered by the renderer, each
the engines' own run of its level; seeds, plan files in and out, primers, morphs, automation,
which level the sampling flags reach, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from wavegen.audio import mu_law_decode
from wavegen.cli import main
from wavegen.engine import generate
from wavegen.models.two_level import TwoLevel, load_generator
from wavegen.synth import condition_vector
from wavegen.two_level_synth import planner_seed
from wavegen.units.codes import codes_to_units, fill_starts
from wavegen.units.plan import make_plan, read_plan, write_plan


@pytest.fixture(scope="module")
def two(two_level) -> TwoLevel:
    loaded = load_generator(two_level["two"])
    assert isinstance(loaded, TwoLevel)
    return loaded


def synth(two_level, out, *args) -> int:
    return main(["synth", "--model", str(two_level["two"]), "--out", str(out), *args])


def audio(path) -> np.ndarray:
    return sf.read(path, dtype="int16")[0]


def test_a_clip_is_the_planners_plan_rendered_by_the_renderer(two_level, two, tmp_path):
    out, plan_file = tmp_path / "rock.wav", tmp_path / "rock.plan.json"
    assert synth(two_level, out, "--genre", "rock", "--duration", "0.5", "--seed", "4",
                 "--plan-out", str(plan_file)) == 0
    cond = condition_vector("rock", two.vocab, two.label_kind)[None]
    p = two.planner_info.synth_defaults
    codes = generate(two.planner.export_weights(), cond, 25, temperature=p["temperature"],
                     top_p=p["top_p"], guidance=p["guidance"], seed=planner_seed(4))
    units = fill_starts(codes_to_units(codes, two.n_units))
    plan = read_plan(plan_file)
    assert plan.units.tolist() == units[0].tolist()
    assert plan.tokenizer == two.tokenizer.identity() and plan.n_frames == 25
    r = two.renderer_info.synth_defaults
    samples = generate(two.renderer.export_weights(), cond, 4000, temperature=r["temperature"],
                       top_p=r["top_p"], guidance=r["guidance"], seed=4,
                       local=two.renderer.local_bias(units))
    expected = np.round(mu_law_decode(samples, 256)[0].numpy() * 32767)
    got = audio(out)
    # Within PCM rounding (one mu-law step is 4 or more at 16 bits).
    assert got.shape == (4000,) and np.abs(got - expected).max() <= 2


def test_seeds_reproduce_and_a_written_plan_renders_the_same_clip(two_level, tmp_path):
    a, b, c, d = (tmp_path / f"{n}.wav" for n in "abcd")
    plan = tmp_path / "a.json"
    assert synth(two_level, a, "--genre", "jazz", "--duration", "0.6", "--seed", "9",
                 "--plan-out", str(plan)) == 0
    assert synth(two_level, b, "--genre", "jazz", "--duration", "0.6", "--seed", "9") == 0
    assert synth(two_level, c, "--genre", "jazz", "--duration", "0.6", "--seed", "10") == 0
    assert np.array_equal(audio(a), audio(b)) and not np.array_equal(audio(a), audio(c))
    # The plan file alone (no --duration: its length) and the seed give the clip again; the
    # planner's flags do not reach a given plan.
    assert synth(two_level, d, "--genre", "jazz", "--plan", str(plan), "--seed", "9",
                 "--guidance", "5", "--temperature", "0.3") == 0
    assert np.array_equal(audio(a), audio(d))


def test_the_sampling_flags_steer_the_planner(two_level, tmp_path):
    plans = []
    for k, guidance in enumerate(("1", "6")):
        plan = tmp_path / f"{k}.json"
        assert synth(two_level, tmp_path / f"{k}.wav", "--genre", "metal", "--duration", "1",
                     "--seed", "2", "--guidance", guidance, "--plan-out", str(plan)) == 0
        plans.append(read_plan(plan).units)
    assert not np.array_equal(*plans)


def test_an_edited_plan_is_rendered_as_edited(two_level, two, tmp_path):
    edited = tmp_path / "edited.json"
    units = np.r_[np.full(10, 3), np.full(15, 40)]
    write_plan(edited, make_plan(units, two.tokenizer.identity()))
    out = tmp_path / "e.wav"
    assert synth(two_level, out, "--genre", "pop", "--plan", str(edited), "--seed", "1") == 0
    cond = condition_vector("pop", two.vocab, two.label_kind)[None]
    r = two.renderer_info.synth_defaults
    samples = generate(two.renderer.export_weights(), cond, 4000, temperature=r["temperature"],
                       top_p=r["top_p"], guidance=r["guidance"], seed=1,
                       local=two.renderer.local_bias(torch.from_numpy(units)[None]))
    expected = np.round(mu_law_decode(samples, 256)[0].numpy() * 32767)
    assert np.abs(audio(out) - expected).max() <= 2


def test_a_primer_primes_both_levels(two_level, tmp_path):
    primer, out, plan = tmp_path / "p.wav", tmp_path / "o.wav", tmp_path / "o.json"
    rng = np.random.default_rng(0)
    sf.write(primer, 0.3 * rng.standard_normal(1234), 8000)  # 7 whole frames and 114 samples
    assert synth(two_level, out, "--genre", "rock", "--duration", "0.3", "--seed", "1",
                 "--prime", str(primer), "--plan-out", str(plan)) == 0
    assert audio(out).shape == (2400,) and read_plan(plan).n_frames == 15
    again = tmp_path / "again.wav"
    assert synth(two_level, again, "--genre", "rock", "--duration", "0.3", "--seed", "1") == 0
    assert not np.array_equal(audio(out), audio(again))


def test_morphs_and_automation_move_both_levels(two_level, tmp_path):
    auto = tmp_path / "auto.json"
    auto.write_text(json.dumps({"genre": [[0, "rock"], [0.5, "jazz"]],
                                "guidance": [[0, 1], [0.5, 4]]}))
    assert synth(two_level, tmp_path / "a.wav", "--automation", str(auto), "--duration", "1",
                 "--seed", "3", "--plan-out", str(tmp_path / "a.json")) == 0
    assert synth(two_level, tmp_path / "m.wav", "--genre", "rock@0,jazz@0.5", "--duration",
                 "1", "--seed", "3", "--plan-out", str(tmp_path / "m.json")) == 0
    assert synth(two_level, tmp_path / "r.wav", "--genre", "rock", "--duration", "1",
                 "--seed", "3", "--plan-out", str(tmp_path / "r.json")) == 0
    plans = [read_plan(tmp_path / f"{n}.json").units for n in "amr"]
    assert plans[0].size == plans[1].size == 50
    # The first 0.5 s differ only by what happened since the last read of the morph.
    assert not np.array_equal(plans[1], plans[2]) and not np.array_equal(plans[0], plans[1])


def test_several_clips_write_a_folder_of_plans(two_level, tmp_path):
    assert main(["synth", "--model", str(two_level["two"]), "--genre", "all", "--duration",
                 "0.2", "--out-dir", str(tmp_path / "clips"), "--plan-out",
                 str(tmp_path / "plans"), "--seed", "0"]) == 0
    clips = sorted(p.stem for p in (tmp_path / "clips").iterdir())
    plans = sorted(p.name for p in (tmp_path / "plans").iterdir())
    assert len(clips) == 10 and plans == sorted(f"{c}.plan.json" for c in clips)


def _plan_of(two_level, tmp_path, name, **edit):
    two = load_generator(two_level["two"])
    assert isinstance(two, TwoLevel)
    obj = make_plan(np.zeros(10, dtype=np.int64), two.tokenizer.identity()).to_json()
    obj.update(edit)
    (tmp_path / name).write_text(json.dumps(obj))
    return tmp_path / name


@pytest.mark.parametrize("args,match", [
    (["--plan", "{short}", "--duration", "1"], "the plan has 10 frames"),
    (["--plan", "{other_hop}"], "the plan has hop 80"),
    (["--plan", "{other_tok}"], "another tokenizer"),
    (["--plan", "{missing}"], "not found|no such"),
    (["--plan", "{folder}"], "folder|directory|not a regular file"),
    (["--plan-out", "{folder}"], "folder|directory"),
    (["--prime", "{tiny}"], "shorter than one frame"),
])
def test_bad_input_is_one_line_and_writes_nothing(two_level, two, tmp_path, capsys, args,
                                                  match):
    files = {"short": _plan_of(two_level, tmp_path, "short.json"),
             "other_hop": _plan_of(two_level, tmp_path, "hop.json", hop=80,
                                   tokenizer={**two.tokenizer.identity(), "hop": 80}),
             "other_tok": _plan_of(two_level, tmp_path, "tok.json",
                                   tokenizer={**two.tokenizer.identity(), "hash": "x"}),
             "missing": tmp_path / "missing.json", "folder": tmp_path / "dir"}
    (tmp_path / "dir").mkdir()
    sf.write(tmp_path / "tiny.wav", np.zeros(100), 8000)
    files["tiny"] = tmp_path / "tiny.wav"
    argv = [a.format(**files) for a in args]
    out = tmp_path / "out.wav"
    assert synth(two_level, out, "--genre", "rock", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and __import__("re").search(match, err), err
    assert not out.exists()


def test_plan_flags_need_a_two_level_model(two_level, tmp_path, capsys):
    plan = _plan_of(two_level, tmp_path, "p.json")
    for flags in (["--plan", str(plan)], ["--plan-out", str(tmp_path / "o.json")]):
        assert main(["synth", "--genre", "rock", "--out", str(tmp_path / "o.wav"), *flags]) == 2
        assert "need a two-level model" in capsys.readouterr().err
    assert main(["synth", "--genre", "rock", "--out", str(tmp_path / "o.wav"), "--model",
                 str(two_level["planner"])]) == 2
    assert "is a planner" in capsys.readouterr().err
