"""The GPU engines on a real CUDA device, at the benchmark shape: compiled Triton kernels (tile
and persistent) and the graph engine against the model's parallel forward, and sampling fed the
same uniforms as the CPU reference, with and without a local-conditioning plan. Skipped without
CUDA (the interpreter tests in ``test_triton.py`` cover the kernels' logic on the CPU);
``benchmarks/gpu_check.sh`` runs them."""

from functools import partial

import pytest
import torch
from engine_models import random_model, random_plan

from wavegen.bench import CONFIGS
from wavegen.engine import ENGINES, forward_weights, generate, teacher_forced_logits
from wavegen.engine.local import local_positions
from wavegen.models import WaveNetConfig
from wavegen.models.weights import WaveNetWeights

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICE = "cuda"

# The benchmark shape (20 layers, R 64, G 128, S 128, 256 classes, receptive field 2,047) and a
# small odd one.
BENCH = CONFIGS["BENCH"][0]
SMALL = WaveNetConfig(n_layers=6, dilation_cycle=3, residual_channels=8, gate_channels=12,
                      skip_channels=10, n_cond=4)


@pytest.fixture(autouse=True)
def no_tf32():
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags


@pytest.fixture
def gpu_engines(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The engines to check, with the Triton engine once per kernel (registered for the test)."""
    names = ["graph", "cached"]
    if "triton" in ENGINES:
        from wavegen.engine.triton_engine import TritonEngine

        for kernel in ("tile", "persistent"):
            monkeypatch.setitem(ENGINES, f"triton-{kernel}", partial(TritonEngine, kernel=kernel))
            names.append(f"triton-{kernel}")
    return names


def _expected(w: WaveNetWeights, codes: torch.Tensor, cond: torch.Tensor,
              biases: torch.Tensor | None) -> torch.Tensor:
    """The parallel forward in float64 (exact for float32 engines), with per-position local
    biases (B, T, L, G) if given -> logits (B, A, T)."""
    return forward_weights(w.to(dtype=torch.float64), codes, cond.double(),
                           None if biases is None else biases.double()).float()


@pytest.mark.parametrize("cfg", [SMALL, BENCH], ids=["small", "bench"])
@pytest.mark.parametrize("batch,hop", [(1, None), (4, 37)], ids=["1", "4-with-a-plan"])
def test_teacher_forced_logits_on_cuda_equal_the_parallel_forward(
        cfg: WaveNetConfig, batch: int, hop: int | None, gpu_engines: list[str]) -> None:
    """Batch 4 with a local-conditioning plan whose frames change every 37 steps (which
    divides no length here)."""
    w = random_model(cfg, 5).export_weights()
    T = cfg.receptive_field + 40  # the queues wrap around
    codes = torch.randint(0, cfg.n_classes, (batch, T))
    cond = torch.rand(batch, cfg.n_cond)
    plan = None if hop is None else random_plan(cfg, batch, T, hop, 12)
    expected = _expected(w, codes, cond, None if plan is None else local_positions(plan, T))
    errors = {name: (teacher_forced_logits(w, cond, codes, engine=name, device=DEVICE,
                                           local=None if plan is None else plan.to(DEVICE))
                     - expected).abs().max().item() for name in gpu_engines}
    limit = 1e-4 * max(1.0, expected.abs().max().item())
    assert all(err < limit for err in errors.values()), (errors, limit)


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.9)])
def test_cuda_engines_sample_what_the_cpu_reference_samples(
        temperature: float, top_p: float, gpu_engines: list[str]) -> None:
    model = random_model(SMALL, 6)
    w = model.export_weights()
    B, N = 3, SMALL.receptive_field + 200
    cond = torch.rand(B, SMALL.n_cond)
    uniforms = torch.rand(B, N, generator=torch.Generator().manual_seed(7))
    ref = generate(w, cond, N, engine="reference", uniforms=uniforms, temperature=temperature,
                   top_p=top_p)
    for name in gpu_engines:
        codes = generate(w, cond, N, engine=name, uniforms=uniforms, temperature=temperature,
                         top_p=top_p, device=DEVICE)
        mismatch = (codes != ref).nonzero()
        assert mismatch.numel() == 0, f"{name} differs from the reference first at {mismatch[0]}"


def test_cuda_engines_follow_a_changing_conditioning(gpu_engines: list[str]) -> None:
    """Conditioning changed every 256 samples (blocks of two 128-step graph replays: the
    captured graphs read the gate biases in place): the same codes as the CPU reference."""
    w = random_model(SMALL, 8).export_weights()
    B, N = 2, 1024
    conds = torch.rand(N // 256 + 1, B, SMALL.n_cond, generator=torch.Generator().manual_seed(9))
    u = torch.rand(B, N, generator=torch.Generator().manual_seed(10))
    at = lambda t: conds[t // 256]  # noqa: E731
    for kw in ({}, {"guidance": 3.0}):
        ref = generate(w, conds[0], N, engine="reference", uniforms=u, cond_at=at,
                       control_every=256, **kw)
        for name in gpu_engines:
            got = generate(w, conds[0], N, engine=name, uniforms=u, cond_at=at,
                           control_every=256, chunk_size=512, device=DEVICE, **kw)
            assert torch.equal(got, ref), (name, kw)


def test_cuda_engines_follow_set_local_mid_run(gpu_engines: list[str]) -> None:
    """The plan replaced at step 50 by a longer one (hop 9): the steps after it read the new
    table from frame 50 // 9 on."""
    w = random_model(SMALL, 13).export_weights()
    B, T, cut, hop = 2, 120, 50, 9
    codes = torch.randint(0, SMALL.n_classes, (B, T))
    cond = torch.rand(B, SMALL.n_cond)
    first, second = random_plan(SMALL, B, cut, hop, 14), random_plan(SMALL, B, T, hop, 15)
    biases = torch.cat([local_positions(first, cut), local_positions(second, T)[:, cut:]], 1)
    expected = _expected(w, codes, cond, biases)
    errors = {}
    for name in gpu_engines:
        eng = ENGINES[name](w.to(DEVICE), cond.to(DEVICE), local=first.to(DEVICE))
        got = []
        with torch.inference_mode():
            for t in range(T):
                if t == cut:
                    eng.set_local(second.to(DEVICE))
                got.append(eng.step(codes[:, t].to(DEVICE)).cpu())
        errors[name] = (torch.stack(got, 2) - expected).abs().max().item()
    limit = 1e-4 * max(1.0, expected.abs().max().item())
    assert all(err < limit for err in errors.values()), (errors, limit)


def test_cuda_engines_sample_with_a_plan_what_the_cpu_reference_samples(
        gpu_engines: list[str]) -> None:
    """A primer, then sampling in chunks, with a plan of hop 17; plain and guided (the twins
    read the same plan)."""
    w = random_model(SMALL, 16).export_weights()
    B, P, N = 2, 23, SMALL.receptive_field + 150
    cond = torch.rand(B, SMALL.n_cond)
    primer = torch.randint(0, SMALL.n_classes, (B, P))
    u = torch.rand(B, N, generator=torch.Generator().manual_seed(17))
    plan = random_plan(SMALL, B, P + N, 17, 18)
    first_mismatch = {}
    for kw in ({}, {"guidance": 2.5, "top_p": 0.9}):
        ref = generate(w, cond, N, engine="reference", uniforms=u, primer=primer, local=plan,
                       **kw)
        for name in gpu_engines:
            got = generate(w, cond, N, engine=name, uniforms=u, primer=primer,
                           local=plan.to(DEVICE), chunk_size=64, device=DEVICE, **kw)
            mismatch = (got != ref).nonzero()
            if mismatch.numel():
                first_mismatch[f"{name} {kw}"] = mismatch[0].tolist()
    assert not first_mismatch, first_mismatch
