"""Data-parallel training, accumulation, signals, best checkpoints, logs and unsafe files."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.image
import pytest
import torch
import yaml
from tiny_config import TINY, write_config

from wavegen.cli import main
from wavegen.errors import WavegenError
from wavegen.models.io import load_model
from wavegen.train.checkpoint import list_checkpoints
from wavegen.train.trainer import train

BIN = Path(sys.executable).parent


def _weights(path):
    return load_model(path)[0].state_dict()


def _close(a, b, atol=2e-5):
    return all(torch.allclose(a[k], b[k], atol=atol, rtol=1e-4) for k in a)


def test_accumulation_gives_the_same_training(dump_root, tmp_path):
    one = write_config(tmp_path / "one.yaml", {"train": {"batch_size": 4}})
    two = write_config(tmp_path / "two.yaml", {"train": {"batch_size": 4, "grad_accum_steps": 2}})
    train(one, dump_root, tmp_path / "one")
    train(two, dump_root, tmp_path / "two")
    assert _close(_weights(tmp_path / "one" / "model.pt"), _weights(tmp_path / "two" / "model.pt"))
    bad = write_config(tmp_path / "bad.yaml", {"train": {"batch_size": 3, "grad_accum_steps": 2}})
    with pytest.raises(WavegenError, match="must divide by processes x grad_accum_steps"):
        train(bad, dump_root, tmp_path / "bad")


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {"train": {"batch_size": 4, "max_steps": 4}})
    train(conf, dump_root, tmp_path / "single")
    cmd = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "wavegen", "train", "--config", str(conf), "--data-dir", str(dump_root),
           "--exp-dir", str(tmp_path / "ddp")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    sums = re.findall(r"process (\d)/2: parameter checksum (\S+)", run.stderr)
    assert sorted(r for r, _ in sums) == ["0", "1"]
    assert sums[0][1] == sums[1][1], "replicas diverged"
    # The effective batch (4) is the same: both processes together train like one.
    single, ddp = tmp_path / "single" / "model.pt", tmp_path / "ddp" / "model.pt"
    assert _close(_weights(single), _weights(ddp))


def test_sigterm_checkpoints_and_resume_matches_uninterrupted(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {"train": {"max_steps": 400, "checkpoint_every": 1000,
                                                        "valid_every": 1000, "log_every": 1}})
    args = ["--config", str(conf), "--data-dir", str(dump_root)]
    proc = subprocess.Popen([str(BIN / "wavegen"), "train", *args, "--exp-dir",
                             str(tmp_path / "cut")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # the same thread count as the in-process runs below, so
                            # that float reductions happen in the same order
                            env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
    log_csv = tmp_path / "cut" / "train_log.csv"
    deadline = time.time() + 120
    while time.time() < deadline and (not log_csv.exists()
                                      or len(log_csv.read_text().splitlines()) < 6):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "re-run the same command to resume" in err
    saved = list_checkpoints(tmp_path / "cut")
    assert len(saved) == 1 and not (tmp_path / "cut" / "model.pt").exists()
    stopped_at = int(saved[0].stem.split("-")[1])
    assert 5 <= stopped_at < 400
    # Resume to the end and compare with an uninterrupted run: bit-identical weights.
    assert main(["train", *args, "--exp-dir", str(tmp_path / "cut")]) == 0
    assert main(["train", *args, "--exp-dir", str(tmp_path / "full")]) == 0
    full = _weights(tmp_path / "full" / "model.pt")
    resumed = _weights(tmp_path / "cut" / "model.pt")
    assert all(torch.equal(full[k], resumed[k]) for k in full)
    rows = log_csv.read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, 401))


def test_best_checkpoint_tensorboard_and_plot(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {"train": {"max_steps": 6, "valid_every": 2,
                                                        "keep_checkpoints": 1}})
    train(conf, dump_root, tmp_path / "exp")
    names = sorted(p.name for p in (tmp_path / "exp" / "checkpoints").iterdir())
    assert names == ["best.pt", "step-0000006.pt"]
    best = torch.load(tmp_path / "exp" / "checkpoints" / "best.pt", weights_only=True)
    rows = [r.split(",") for r in (tmp_path / "exp" / "train_log.csv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    col = header.index("valid_bits")
    valid = {int(r[0]): float(r[col]) for r in rows if r[col]}
    assert sorted(valid) == [2, 4, 6]
    assert best["step"] == min(valid, key=valid.get)
    assert best["valid_bits"] == pytest.approx(min(valid.values()), abs=1e-4)
    assert {"grad_norm", "lr", "samples_per_s", "skipped"} <= set(header)
    assert list((tmp_path / "exp" / "tensorboard").glob("events.out.tfevents.*"))
    png = tmp_path / "curves.png"
    assert main(["plot-training", str(tmp_path / "exp"), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(str(png)).shape[:2] == (500, 1000)  # 10 x 5 in at 100 dpi


@pytest.mark.slow
def test_the_recipe_training_step_launches_several_processes(dump_root, tmp_path):
    """steps/train.sh --num-processes 2 runs accelerate launch inside the job (on Slurm: one
    job with the GPUs), and the trainer sees both processes."""
    conf = write_config(tmp_path / "c.yaml", {"train": {"batch_size": 4, "max_steps": 2}})
    recipe = Path(__file__).resolve().parents[2] / "egs" / "toy" / "v1"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", "steps/train.sh", "--num-processes", "2", str(conf),
                          str(dump_root), str(tmp_path / "exp")], cwd=recipe,
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:] + (tmp_path / "exp/log/train.log").read_text()
    assert "valid_bits_per_sample=" in run.stdout
    facts = json.loads((tmp_path / "exp" / "runs.jsonl").read_text().splitlines()[-1])
    assert facts["processes"] == 2
    for bad in ("0", "-1", "two", ""):
        run = subprocess.run(["bash", "steps/train.sh", "--num-processes", bad, str(conf),
                              str(dump_root), str(tmp_path / "bad")], cwd=recipe,
                             capture_output=True, text=True, env=env, timeout=60)
        assert run.returncode == 1 and "--num-processes must be a whole number" in run.stderr
        assert not (tmp_path / "bad").exists()


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_checkpoint_carrying_code_is_refused(dump_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt_dir = tmp_path / "exp" / "checkpoints"
    ckpt_dir.mkdir(parents=True)
    torch.save({"format": "wavegen-checkpoint", "step": 3, "state_dict": _Payload()},
               ckpt_dir / "step-0000003.pt")
    conf = write_config(tmp_path / "c.yaml")
    with pytest.raises(WavegenError, match="not a safe wavegen file") as exc:
        train(conf, dump_root, tmp_path / "exp")
    assert not (tmp_path / "pwned").exists()
    assert "weights_only" not in str(exc.value)  # never the advice to run the file's code


def test_mixed_precision_option_is_checked(dump_root, tmp_path):
    bad = tmp_path / "b.yaml"
    cfg = yaml.safe_load(yaml.safe_dump(TINY))
    cfg["train"]["mixed_precision"] = "fp8"
    bad.write_text(yaml.safe_dump(cfg))
    with pytest.raises(WavegenError, match="mixed_precision must be auto, no, bf16 or fp16"):
        train(bad, dump_root, tmp_path / "exp")
    shutil.rmtree(tmp_path / "exp", ignore_errors=True)
