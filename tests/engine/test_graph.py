"""The ``graph`` engine: device-side state that a CUDA graph can capture.

Off CUDA it runs eagerly (the exactness tests in test_exactness.py, test_guidance.py and
test_local_engines.py cover it as a registered engine); here: the block/remainder split, the state
across calls, the plan's buffer across replacements, and, on a CUDA machine only, captured
replay against eager execution.
"""

import pytest
import torch

from wavegen.engine import (
    LARGE_LAYER_BYTES,
    build_engine,
    generate,
    layer_bytes,
    resolve_engine,
)
from wavegen.engine.graph import GraphEngine
from wavegen.engine.sampling import guided_step
from wavegen.errors import WavegenError
from wavegen.models import WaveNet, WaveNetConfig
from wavegen.models.weights import LocalBias

CFG = WaveNetConfig(n_layers=6, dilation_cycle=3, residual_channels=8, gate_channels=12,
                    skip_channels=10, n_cond=4)


def weights(cfg=CFG, seed=0):
    torch.manual_seed(seed)
    model = WaveNet(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.export_weights()


@pytest.mark.parametrize("block", [1, 5, 64])
def test_chunked_runs_equal_one_run_and_the_reference(block):
    w = weights()
    cond = torch.rand(3, CFG.n_cond)
    u = torch.rand(3, 50)
    expected = generate(w, cond, 50, engine="reference", uniforms=u, temperature=0.9, top_p=0.9)
    eng = GraphEngine(w, cond, graph_steps=block)
    prev = torch.full((3,), 128, dtype=torch.long)
    first = eng.run(prev, u[:, :17], 0.9, 0.9)
    rest = eng.run(first[:, -1], u[:, 17:], 0.9, 0.9)
    assert torch.equal(torch.cat([first, rest], 1), expected)
    assert int(eng.pos) == 50


def test_row_count_and_graph_device_are_checked():
    w = weights()
    eng = GraphEngine(w, torch.rand(4, CFG.n_cond))
    with pytest.raises(WavegenError, match="4 rows"):
        eng.run(torch.zeros(3, dtype=torch.long), torch.rand(3, 5))
    with pytest.raises(WavegenError, match="CUDA"):
        GraphEngine(w, torch.rand(1, CFG.n_cond), use_graph=True)


def test_auto_picks_graph_for_large_models_on_cuda_only():
    small = weights()
    big = WaveNet(WaveNetConfig(n_layers=2, dilation_cycle=2, residual_channels=512,
                                gate_channels=1024, skip_channels=512, n_cond=2)).export_weights()
    assert layer_bytes(small) < LARGE_LAYER_BYTES < layer_bytes(big)
    assert resolve_engine("auto", "cuda", big) == "graph"
    assert resolve_engine("auto", "cuda", small) in ("triton", "graph")
    assert resolve_engine("auto", "cpu", big) in ("cpu", "cached")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_captured_replay_equals_eager(guidance):
    w = weights().to("cuda")
    cond = torch.rand(2, CFG.n_cond, device="cuda")
    both = torch.cat([cond, torch.zeros_like(cond)]) if guidance != 1.0 else cond
    u = torch.rand(2, 300, device="cuda")
    prev = torch.full((2,), 128, dtype=torch.long, device="cuda")
    eager = GraphEngine(w, both, graph_steps=64, use_graph=False).run(prev, u, 1.0, 0.9, guidance)
    graphed = GraphEngine(w, both, graph_steps=64).run(prev, u, 1.0, 0.9, guidance)
    assert torch.equal(eager, graphed)


def _plans(device, rows, hop, *frames):
    """Random plans (rows, F, L, G) of the given frame counts, on ``device``."""
    gen = torch.Generator().manual_seed(hop)
    return [LocalBias(torch.randn(rows, f, CFG.n_layers, CFG.gate_channels, generator=gen)
                      .to(device), hop) for f in frames]


def _switching_run(eng, plans, u, cuts):
    """Sample u (Bs, n), replacing the plan at each cut: codes (Bs, n)."""
    prev = torch.full((u.shape[0],), 128, dtype=torch.long, device=u.device)
    out, start = [], 0
    for plan, end in zip(plans, [*cuts, u.shape[1]], strict=True):
        if start:
            eng.set_local(plan)
        out.append(eng.run(prev, u[:, start:end], 1.0, 0.9, 2.0))
        prev, start = out[-1][:, -1], end
    return torch.cat(out, 1)


def test_a_plan_on_device_state_equals_the_reference():
    """The frame picked on the device (pos // hop), across blocks and plan replacements of
    the same length (copied into the buffer) and longer (a new buffer)."""
    w = weights()
    cond = torch.rand(2, CFG.n_cond)
    both = torch.cat([cond, torch.zeros_like(cond)])
    plans = _plans("cpu", 4, 7, 20, 20, 30)
    u = torch.rand(2, 180)
    got = _switching_run(GraphEngine(w, both, plans[0], graph_steps=5), plans, u, [61, 130])
    ref = build_engine(w, both, "reference", local=plans[0])
    prev, want = torch.full((2,), 128, dtype=torch.long), []
    with torch.inference_mode():
        for t in range(180):
            if t in (61, 130):
                ref.set_local(plans[1 if t == 61 else 2])
            prev = guided_step(ref.step, prev, u[:, t], 1.0, 0.9, 2.0)
            want.append(prev)
    assert torch.equal(got, torch.stack(want, 1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_captured_replay_with_a_plan_equals_eager():
    """Captured graphs read the plan's buffer: replaced in place (same length) the graphs
    are replayed, replaced by a longer one they are captured again; both as eager."""
    w = weights().to("cuda")
    cond = torch.rand(2, CFG.n_cond, device="cuda")
    both = torch.cat([cond, torch.zeros_like(cond)])
    plans = _plans("cuda", 4, 7, 80, 80, 120)
    u = torch.rand(2, 800, device="cuda")
    runs = [_switching_run(GraphEngine(w, both, plans[0], graph_steps=64, use_graph=g),
                           plans, u, [300, 555]) for g in (False, True)]
    assert torch.equal(runs[0], runs[1])
