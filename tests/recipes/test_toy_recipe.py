"""The toy recipe end to end (stages 0-8) on a tiny corpus, with all outputs in tmp."""

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf
import yaml

from wavegen.data.dump import DumpStore
from wavegen.models.io import load_model
from wavegen.models.two_level import TwoLevel, load_generator
from wavegen.units.store import UnitStore
from wavegen.units.tokenizer import Tokenizer

RECIPE = Path(__file__).resolve().parents[2] / "egs" / "toy" / "v1"

TINY = {
    "sample_rate": 8000,
    "model": {"residual_channels": 8, "gate_channels": 8, "skip_channels": 8,
              "n_layers": 3, "dilation_cycle": 3},
    "train": {"batch_size": 2, "segment_length": 64, "max_steps": 3, "warmup_steps": 1,
              "checkpoint_every": 2, "valid_every": 3, "valid_batches": 1, "log_every": 1},
}


def run_recipe(tmp_path, *args):
    """The toy recipe on a tiny corpus with a tiny one-level model; ``args`` override (a
    ``--planner-config`` makes it two levels)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    conf = tmp_path / "tiny.yaml"
    conf.write_text(yaml.safe_dump(TINY))
    env_path = str(Path(sys.executable).parent)
    cmd = ["bash", str(RECIPE / "run.sh"), "--clips-per-genre", "3", "--clip-duration", "0.6",
           "--train-config", str(conf), "--synth-duration", "0.6", "--synth-count", "1",
           "--classifier-steps", "20", "--n-units", "64", "--planner-config", "",
           "--db", str(tmp_path / "db"), "--data", str(tmp_path / "data"),
           "--dump", str(tmp_path / "dump"), "--exp", str(tmp_path / "exp"), *args]
    return subprocess.run(cmd, capture_output=True, text=True,
                          env={"PATH": f"{env_path}:/usr/bin:/bin", "HOME": str(tmp_path)})


def assert_units(dump, n_units, hop):
    """Stage 4's outputs: the tokenizer beside the dump and every set's units aligned to it."""
    tok = Tokenizer.load(dump / "tokenizer.pt")
    assert (tok.n_units, tok.hop) == (n_units, hop)
    for name in ("train", "valid", "test"):
        store = DumpStore(dump / name)
        units = UnitStore(dump / name / "units")
        assert units.tokenizer == tok.identity()
        units.check_aligned({u: store.index[u][1] for u in store.utts}, store.sample_rate)


def test_toy_recipe_runs_all_stages_and_skips_done_ones(tmp_path):
    first = run_recipe(tmp_path)
    assert first.returncode == 0, first.stderr
    wavs = sorted((tmp_path / "exp" / "synth").glob("*.wav"))
    assert [w.name for w in wavs][:2] == ["blues_000.wav", "classical_000.wav"]
    assert len(wavs) == 10
    assert sf.info(str(wavs[0])).frames == 4800 and sf.info(str(wavs[0])).samplerate == 8000
    assert "synthesized WAVs:" in first.stderr
    for name in ("train", "valid", "test"):
        assert (tmp_path / "data" / name / "utt2genre").is_file()
        assert (tmp_path / "dump" / name / "meta.json").is_file()
    assert (tmp_path / "exp" / "model.pt").is_file()
    assert (tmp_path / "exp" / "log" / "train.log").is_file()
    assert (tmp_path / "dump" / "classifier" / "classifier.pt").is_file()
    assert_units(tmp_path / "dump", n_units=64, hop=160)
    for system in ("exp", "packaged"):  # this run's model, and the packaged one for comparison
        result = json.loads((tmp_path / "exp" / "eval" / system / "eval.json").read_text())
        assert result["generated"]["n"] == 10
    assert (tmp_path / "exp" / "listen" / "manifest.json").is_file()
    report = tmp_path / "exp" / "report" / "index.html"
    assert report.is_file() and f"report -> {report}" in first.stderr
    # Paths in the closing lines work from anywhere (make demo runs from the repository root).
    listen = (tmp_path / "exp" / "listen").resolve()
    assert f"wavegen listen serve {listen} " in first.stderr
    assert f"wavegen listen report {listen}" in first.stderr

    again = run_recipe(tmp_path)
    assert again.returncode == 0, again.stderr
    for stage in range(9):
        assert f"stage {stage}:" in again.stderr
    assert again.stderr.count("skipping") == 10

    # An explicit --stage runs that stage again (Kaldi's convention), over its outputs.
    clip = wavs[0]
    before = clip.stat().st_mtime_ns
    rerun = run_recipe(tmp_path, "--stage", "6", "--stop-stage", "6")
    assert rerun.returncode == 0, rerun.stderr
    assert "stage 6 finished before; running it again (--stage 6)" in rerun.stderr
    assert "skipping" not in rerun.stderr and clip.stat().st_mtime_ns > before
    assert sf.info(str(clip)).frames == 4800


def test_stage_range_and_bad_option(tmp_path):
    only_prep = run_recipe(tmp_path, "--stop-stage", "1")
    assert only_prep.returncode == 0, only_prep.stderr
    assert (tmp_path / "data" / "train" / "wav.scp").is_file()
    assert not (tmp_path / "dump").exists()
    bad = run_recipe(tmp_path, "--no-such-option", "1")
    assert bad.returncode == 1
    assert "invalid option --no-such-option" in bad.stderr
    for option, value in (("--stage", "x"), ("--stage", "-1"), ("--stage", "1.5"),
                          ("--stop-stage", "all"), ("--stop-stage", "")):
        bad = run_recipe(tmp_path, option, value)
        assert bad.returncode == 2, (option, value, bad.stderr)
        assert f"{option} must be a stage number" in bad.stderr


def test_units_stage_on_the_procedural_corpus(tmp_path):
    run = run_recipe(tmp_path, "--corpus", "procedural", "--stop-stage", "4", "--unit-hop", "80")
    assert run.returncode == 0, run.stderr
    assert "stage 4: unit tokenizer (64 units, hop 80)" in run.stderr
    assert_units(tmp_path / "dump", n_units=64, hop=80)
    assert not (tmp_path / "exp").exists()
    bad = run_recipe(tmp_path, "--stage", "4", "--stop-stage", "4", "--unit-hop", "20")
    assert bad.returncode != 0
    log = (tmp_path / "dump" / "log" / "units_fit.log").read_text()
    assert "give a hop in [80, 320] (25-100 Hz)" in log


def test_stage_0_writes_either_corpus_and_refuses_another(tmp_path):
    for corpus in ("rendered", "procedural"):
        run = run_recipe(tmp_path / corpus, "--corpus", corpus, "--stop-stage", "0")
        assert run.returncode == 0, run.stderr
        assert f"writing the {corpus} corpus" in run.stderr
        assert len(list((tmp_path / corpus / "db" / "genres").glob("*/*.wav"))) == 30
    bad = run_recipe(tmp_path / "bad", "--corpus", "midi", "--stop-stage", "0")
    assert bad.returncode == 2 and "--corpus must be rendered or procedural" in bad.stderr


def test_a_renderer_is_scored_by_copy_synthesis(tmp_path):
    """conf/train_renderer_debug.yaml trains a tiny renderer on stage 4's units; stage 6
    re-synthesizes the test clips from their plans, stages 7 and 8 take those clips."""
    run = run_recipe(tmp_path, "--train-config", "conf/train_renderer_debug.yaml",
                     "--synth-duration", "0.5", "--classifier-steps", "5")
    assert run.returncode == 0, run.stderr
    exp, dump = tmp_path / "exp", tmp_path / "dump"
    _, info = load_model(exp / "model.pt")
    assert (info.config.n_units, info.config.unit_hop) == (64, 160)
    assert info.tokenizer["identity"] == Tokenizer.load(dump / "tokenizer.pt").identity()
    assert "stage 6: copy synthesis: every clip of" in run.stderr
    copy = json.loads((exp / "resynth" / "copy_synthesis.json").read_text())
    assert [s["seed"] for s in copy["seeds"]] == [0] and copy["seconds"] == 0.5
    assert len(copy["bars"]) == 6 and len(copy["utts"]) == 10
    gen = exp / "resynth" / "seed0" / "gen"
    wavs = sorted(gen.glob("*.wav"))
    assert len(wavs) == 10 and all(sf.info(str(w)).frames == 4000 for w in wavs)
    assert f"synthesized WAVs: {gen.resolve()}" in run.stderr
    assert not (exp / "synth").exists()
    scored = json.loads((exp / "eval" / "exp" / "eval.json").read_text())
    assert scored["generated"]["dir"] == str(gen) and scored["generated"]["n"] == 10
    assert 0 < scored["nll_bits_per_sample"] < 10 and "copies" in scored
    packaged = json.loads((exp / "eval" / "packaged" / "eval.json").read_text())
    assert packaged["generated"]["n"] == 10
    manifest = json.loads((exp / "listen" / "manifest.json").read_text())
    assert manifest["reference"] == str(exp / "resynth" / "ref")
    assert (exp / "report" / "index.html").is_file()


def test_two_levels_train_pack_and_synthesize_per_genre(tmp_path):
    """With a planner config, stage 5 trains the renderer and the planner on stage 4's units
    and packs them; stages 6-8 synthesize per genre, score (NLL of both levels) and test the
    two-level model like a one-level one; a re-run skips what is done."""
    run = run_recipe(tmp_path, "--train-config", "conf/train_renderer_debug.yaml",
                     "--planner-config", "conf/train_planner_debug.yaml",
                     "--synth-duration", "0.5", "--classifier-steps", "5")
    assert run.returncode == 0, run.stderr
    exp, dump = tmp_path / "exp", tmp_path / "dump"
    two = load_generator(exp / "model.pt")
    assert isinstance(two, TwoLevel)
    assert two.tokenizer.identity() == Tokenizer.load(dump / "tokenizer.pt").identity()
    for level in ("planner", "renderer"):
        assert f"stage 5: training the {level}" in run.stderr
        assert (exp / level / "model.pt").is_file() and (exp / level / ".done").is_file()
    wavs = sorted((exp / "synth").glob("*.wav"))
    assert len(wavs) == 10 and all(sf.info(str(w)).frames == 4000 for w in wavs)
    plans = sorted(p.name for p in (exp / "synth" / "plans").iterdir())
    assert plans == [f"{w.stem}.plan.json" for w in wavs]  # drawn under the report's clips
    scored = json.loads((exp / "eval" / "exp" / "eval.json").read_text())
    assert scored["generated"]["n"] == 10
    parts = scored["nll_plan_bits_per_frame"] / 160 + scored["nll_render_bits_per_sample"]
    assert abs(scored["nll_bits_per_sample"] - parts) < 1e-4
    assert (exp / "report" / "index.html").is_file() and (exp / "listen" / ".done").is_file()
    again = run_recipe(tmp_path, "--train-config", "conf/train_renderer_debug.yaml",
                       "--planner-config", "conf/train_planner_debug.yaml",
                       "--synth-duration", "0.5", "--classifier-steps", "5")
    assert again.returncode == 0 and "stage 5: " + str(exp) + " is trained, skipping" in \
        again.stderr
