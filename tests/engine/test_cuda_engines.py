"""The GPU engines on a real CUDA device, at the benchmark shape: compiled Triton kernels (tile
and persistent) and the graph engine against the model's parallel forward, and sampling fed the
same uniforms as the CPU reference. Skipped without CUDA (the interpreter tests in
``test_triton.py`` cover the kernels' logic on the CPU); ``benchmarks/gpu_check.sh`` runs them."""

import copy

import pytest
import torch
from engine_models import random_model

from wavegen.bench import CONFIGS
from wavegen.engine import ENGINES, generate, teacher_forced_logits
from wavegen.models import WaveNetConfig

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
            monkeypatch.setitem(ENGINES, f"triton-{kernel}",
                                lambda w, c, k=kernel: TritonEngine(w, c, kernel=k))
            names.append(f"triton-{kernel}")
    return names


@pytest.mark.parametrize("cfg", [SMALL, BENCH], ids=["small", "bench"])
@pytest.mark.parametrize("batch", [1, 4])
def test_teacher_forced_logits_on_cuda_equal_the_parallel_forward(
        cfg: WaveNetConfig, batch: int, gpu_engines: list[str]) -> None:
    model = random_model(cfg, 5)
    T = cfg.receptive_field + 40  # the queues wrap around
    codes = torch.randint(0, cfg.n_classes, (batch, T))
    cond = torch.rand(batch, cfg.n_cond)
    with torch.no_grad():  # (B, A, T) in float64: exact for float32 engines
        expected = copy.deepcopy(model).double()(codes, cond.double()).float()
    w = model.export_weights()
    for name in gpu_engines:
        got = teacher_forced_logits(w, cond, codes, engine=name, device=DEVICE)
        err = (got - expected).abs().max().item()
        assert err < 1e-4 * max(1.0, expected.abs().max().item()), f"{name}: {err:.3g}"


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
