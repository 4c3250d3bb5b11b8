"""The ``graph`` engine: device-side state that a CUDA graph can capture.

Off CUDA it runs eagerly (the exactness tests in test_exactness.py and test_guidance.py cover
it as a registered engine); here: the block/remainder split, the state across calls, and, on a
CUDA machine only, captured replay against eager execution.
"""

import pytest
import torch

from wavegen.engine import LARGE_LAYER_BYTES, generate, layer_bytes, resolve_engine
from wavegen.engine.graph import GraphEngine
from wavegen.errors import WavegenError
from wavegen.models import WaveNet, WaveNetConfig

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
