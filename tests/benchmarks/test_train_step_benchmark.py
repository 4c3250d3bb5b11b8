"""The training-step benchmark: its baseline is the same network, its plumbing runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import train_step  # noqa: E402
from baseline_wavenet import BaselineWaveNet  # noqa: E402

from wavegen.models.wavenet import WaveNet, WaveNetConfig  # noqa: E402


@pytest.mark.parametrize("impl", ["reference", "fused"])
def test_baseline_is_the_same_network(impl: str) -> None:
    """Timed on equal work: with the same weights, the baseline's logits and gradients equal
    wavegen's."""
    cfg = WaveNetConfig(n_classes=12, residual_channels=5, gate_channels=6, skip_channels=7,
                        n_layers=5, dilation_cycle=3, n_cond=3)
    torch.manual_seed(0)
    model = WaveNet(cfg, impl=impl)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    base = BaselineWaveNet(cfg).load_from(model)
    gen = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 12, (2, 30), generator=gen)
    cond = torch.rand(2, 3, generator=gen)
    target = torch.randint(0, 12, (2, 30), generator=gen)
    losses = []
    for net in (model, base):
        logits = net(codes, cond)
        loss = torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        losses.append((logits.detach(), loss.item()))
    torch.testing.assert_close(losses[0][0], losses[1][0], rtol=0, atol=1e-5)
    pairs = ((base.layers[2].conv.weight.grad, model.layers[2].dilated.weight.grad),
             (base.out2.weight.grad, model.out2.weight.grad),
             (base.first.weight.grad[:, :, 0].t(), model.embed.weight.grad))
    for mine, theirs in pairs:
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-5)


def test_bf16_variants_run_only_where_bf16_has_hardware() -> None:
    names, why = train_step.choose_variants(None, "cpu", bf16_units=False)
    assert "fused-bf16" not in names and "baseline" in names and "bf16" in why
    names, why = train_step.choose_variants(None, "cpu", bf16_units=True)
    assert "fused-bf16" in names and "baseline-bf16" in names and why is None
    names, why = train_step.choose_variants(None, "cuda", bf16_units=False)
    assert "fused-bf16" in names
    assert train_step.choose_variants(["fused-bf16"], "cpu", False) == (["fused-bf16"], None)


def test_rounds_are_summarized_by_their_median() -> None:
    timed = [{"step_s_median": t, "step_s_min": t - 0.1, "peak_mem_mb": m, "samples": 100}
             for t, m in ((1.0, 10), (3.0, 12), (2.0, 11))]
    row = train_step.summarize("fused", timed, {"peak_mem_mb": 5.0})
    assert row["step_s_median"] == 2.0 and row["samples_per_s"] == 50.0
    assert row["step_s_min"] == pytest.approx(0.9) and row["rounds"] == 3
    assert row["peak_mem_mb"] == 5.0 and row["rss_mb"] == 12


def test_the_benchmark_runs_and_writes_machine_facts(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "ts.json"
    train_step.main(["--variants", "baseline", "fused", "--batch", "1", "--length", "64",
                     "--warmup", "1", "--steps", "1", "--rounds", "2", "--threads", "1",
                     "--json", str(out)])
    text = capsys.readouterr().out
    assert text.startswith("CPU ") and "matmul fp32" in text and "2 alternated rounds" in text
    got = json.loads(out.read_text())
    assert [r["variant"] for r in got["results"]] == ["baseline", "fused"]
    assert all(r["rounds"] == 2 and len(r["step_s_rounds"]) == 2 for r in got["results"])
    assert got["results"][0]["speedup"] == 1.0
    assert all(r["mem_ratio"] is None or r["mem_ratio"] > 0 for r in got["results"])
    machine = got["meta"]["machine"]
    assert machine["matmul_gflops"]["fp32"] > 0 and "isa" in machine["cpu"]


@pytest.mark.parametrize("value, base, want", [
    (2.0, 4.0, 0.5), (2.0, 0.0, None), (2.0, -1.0, None), (2.0, None, None), (None, 4.0, None),
    (2.0, float("nan"), None)])
def test_ratios_to_the_baseline_survive_empty_counters(value, base, want) -> None:
    """A tiny run can leave the peak-memory counter at 0 MB; the table shows ``-``, not a crash."""
    assert train_step._ratio(value, base) == want
    cell = train_step._fmt(train_step._ratio(value, base), 6)
    assert len(cell) == 6 and (cell.strip() == "-") == (want is None)
