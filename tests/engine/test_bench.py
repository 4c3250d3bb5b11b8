"""``wavegen bench`` on a tiny config: the table, the JSON fields, the FLOP count."""

import json

import pytest
import torch
from engine_models import SHAPES, random_model

from wavegen import bench
from wavegen.cli import main
from wavegen.errors import WavegenError
from wavegen.models.wavenet import WaveNetConfig


def test_bench_writes_every_engine_and_batch(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(bench.CONFIGS, "TINY", (SHAPES[0], 16000))
    monkeypatch.setattr(bench, "matmul_peak_flops", lambda **_: 1e9)
    out = tmp_path / "bench.json"
    assert main(["bench", "--config", "TINY", "--engines", "reference", "cached", "cpu", "cpu-bf16",
                 "--batch", "1", "2", "--samples", "40", "--repeats", "1",
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    got = {(r["engine"], r["batch"]) for r in result["results"]}
    assert got == {(e, b) for e in ("reference", "cached", "cpu", "cpu-bf16")
                   for b in (1, 2)}
    for r in result["results"]:
        assert r["samples_per_s"] > 0 and r["realtime_factor"] > 0 and r["fraction_of_peak"] > 0
        assert r["local_samples_per_s"] > 0
        assert r["local_ratio"] > 0  # the median of the rounds' ratios
    assert result["meta"]["fp32_matmul_peak_gflops"] == 1.0
    assert result["meta"]["local_hop"] == 160 and "model" in result["meta"]["cpu"]
    captured = capsys.readouterr()
    assert "samples/s" in captured.out and "with plan" in captured.out and "ratio" in captured.out
    assert "\r" not in captured.err and "bench: 100%" in captured.err and "8/8" in captured.err


def test_the_plan_covers_the_timed_run_and_reaches_the_engine():
    w = random_model(SHAPES[0], 0).export_weights()
    plan = bench.bench_plan(w, 3, 321)
    assert plan.hop == 160 and plan.n_samples >= 321 and plan.table.shape[0] == 3
    cond = torch.eye(w.n_cond)[:3]
    for engine in ("cpu", "cpu-bf16", "reference"):
        seconds = bench._timed_run(w, engine, cond, "cpu", bench.bench_plan(w, 3, 5))
        with pytest.raises(WavegenError, match="the plan covers 160 samples"):  # it is read
            seconds(500, 0)


def test_unknown_config_is_a_clear_error(capsys):
    assert main(["bench", "--config", "NOPE", "--samples", "5"]) == 2
    assert "unknown config 'NOPE'" in capsys.readouterr().err


def test_flops_per_sample_counts_every_matrix():
    cfg = WaveNetConfig(n_layers=3, residual_channels=4, gate_channels=6, skip_channels=5,
                        n_classes=7, n_cond=2)
    w = random_model(cfg, 0).export_weights()
    per_layer = 6 * 8 + 3 * 5  # gate (G x 2R) and skip (S x H)
    assert bench.flops_per_sample(w) == 2 * (3 * per_layer + 2 * 3 * 4 + 5 * 5 + 7 * 5)


def test_default_engines_follow_the_device():
    assert not set(bench.default_engines(torch.device("cpu"))) & set(bench.GPU_ENGINES)
    assert "reference" in bench.default_engines(torch.device("cpu"))
    on_gpu = bench.default_engines(torch.device("cuda"))
    assert "cached" in on_gpu and not set(on_gpu) & set(bench.CPU_ONLY_ENGINES)


@pytest.mark.parametrize("engine", ["reference", "cpu", "cpu-bf16"])
def test_cpu_only_engines_are_refused_on_cuda(engine, monkeypatch):
    monkeypatch.setitem(bench.CONFIGS, "TINY", (SHAPES[0], 16000))
    with pytest.raises(WavegenError, match="CPU only.*--device cpu"):
        bench.run_bench("TINY", [engine], (1,), 10, 1, device="cuda")


@pytest.mark.parametrize("device, message", [
    ("cuda", "no usable CUDA GPU"), ("cuda:7", "no usable CUDA GPU"),
    ("tpu", "not a device name"), ("mps", "cpu or cuda"), ("", "not a device name"),
    ("cpu:x", "not a device name")])
def test_bad_bench_devices_are_clear_errors(device, message, capsys):
    if torch.cuda.is_available() and device.startswith("cuda"):
        pytest.skip("this machine has a CUDA device")
    assert main(["bench", "--config", "BENCH", "--device", device, "--samples", "5"]) == 2
    assert message in capsys.readouterr().err
