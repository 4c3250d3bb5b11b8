"""The fused training path against the reference layers: outputs, gradients, state dicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fused_pairs import CONFIGS, MODES, SHAPES, assert_grads_close, inputs, pair, run

from wavegen.models.io import load_model, model_payload, save_model
from wavegen.models.wavenet import WaveNet


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(CONFIGS))
def test_fused_matches_reference_fp32(name: str, mode: str) -> None:
    cfg = CONFIGS[name]
    fast, ref = pair(cfg, torch.float32, **MODES[mode])
    for batch, length in SHAPES:
        codes, cond, weight = inputs(cfg, batch, length, torch.float32)
        got, got_grads = run(fast, codes, cond, weight)
        want, want_grads = run(ref, codes, cond, weight)
        assert got.shape == want.shape == (batch, cfg.n_classes, length)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        assert_grads_close(got_grads, want_grads, rel=1e-4)


@pytest.mark.parametrize("mode", list(MODES))
def test_fused_matches_reference_fp64_tightly(mode: str) -> None:
    cfg = CONFIGS["wide"]
    fast, ref = pair(cfg, torch.float64, **MODES[mode])
    codes, cond, weight = inputs(cfg, 2, 40, torch.float64)
    got, got_grads = run(fast, codes, cond, weight)
    want, want_grads = run(ref, codes, cond, weight)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert_grads_close(got_grads, want_grads, rel=1e-12)


def test_checkpointing_does_not_change_results() -> None:
    cfg = CONFIGS["tiny"]
    plain, _ = pair(cfg, torch.float32)
    ckpt, _ = pair(cfg, torch.float32, checkpoint_activations=True)
    codes, cond, weight = inputs(cfg, 2, 23, torch.float32)
    got, got_grads = run(ckpt, codes, cond, weight)
    want, want_grads = run(plain, codes, cond, weight)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert_grads_close(got_grads, want_grads, rel=1e-5)


@pytest.mark.parametrize("mode", list(MODES))
def test_gradients_accumulate_over_backward_passes(mode: str) -> None:
    """Two half batches accumulated into ``.grad`` equal the reference's (as in training with
    gradient accumulation): the first pass's ``.grad`` tensors must not share storage."""
    cfg = CONFIGS["tiny"]
    fast, ref = pair(cfg, torch.float32, **MODES[mode])
    codes, cond, weight = inputs(cfg, 4, 15, torch.float32)
    grads = []
    for model in (fast, ref):
        model.zero_grad(set_to_none=True)
        for rows in (slice(0, 2), slice(2, 4)):
            (model(codes[rows], cond[rows]) * weight[rows]).sum().backward()
        grads.append({name: p.grad for name, p in model.named_parameters()})
    assert_grads_close(grads[0], grads[1], rel=1e-4)


def test_inference_without_grad() -> None:
    cfg = CONFIGS["tiny"]
    fast, ref = pair(cfg, torch.float32)
    codes, cond, _ = inputs(cfg, 2, 17, torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(fast(codes, cond), ref(codes, cond), rtol=0, atol=1e-5)


def ce_grads(model: WaveNet, codes: torch.Tensor, cond: torch.Tensor,
             target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Logits and parameter gradients of the training loss (cross-entropy in float32)."""
    model.zero_grad(set_to_none=True)
    logits = model(codes, cond)  # (B, A, T)
    F.cross_entropy(logits.float(), target).backward()
    out = {name: p.grad for name, p in model.named_parameters()}
    out["logits"] = logits.detach()
    return out


@pytest.mark.parametrize("mode", list(MODES))
def test_bf16_autocast_runs_the_fused_path_as_accurately_as_the_reference(mode: str) -> None:
    """Under bf16 autocast the fused path computes in bf16 with float32 sums: logits and
    gradients are float32, and their distance from the exact (float32) values, as a relative
    norm per tensor, is on average no larger than the reference layers' under the same
    autocast (whose convolutions also run in bf16)."""
    cfg = CONFIGS["wide"]
    fast, ref = pair(cfg, torch.float32, **MODES[mode])
    codes, cond, _ = inputs(cfg, 3, 40, torch.float32)
    target = torch.randint(0, cfg.n_classes, codes.shape,
                           generator=torch.Generator().manual_seed(5))
    exact = ce_grads(ref, codes, cond, target)
    errors = {}
    for name, model in (("fused", fast), ("reference", ref)):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = ce_grads(model, codes, cond, target)
        if name == "fused":
            assert all(g.dtype == torch.float32 for g in got.values())
        errors[name] = {k: ((got[k].float() - w).norm() / w.norm()).item()
                        for k, w in exact.items()}
    fused, reference = errors["fused"], errors["reference"]
    assert fused["logits"] < 0.02, fused["logits"]
    assert max(fused.values()) < 0.3, max(fused.items(), key=lambda kv: kv[1])
    mean = sum(fused.values()) / len(fused)
    mean_ref = sum(reference.values()) / len(reference)
    assert mean <= 1.25 * mean_ref, f"fused bf16 mean error {mean:.3g} vs reference {mean_ref:.3g}"


def test_bf16_autocast_error_is_a_bf16_error_not_a_bug() -> None:
    """The bf16 deviation is far above float32 rounding (so the GEMMs really ran in bf16) and
    shrinks to float32 rounding when autocast is off."""
    cfg = CONFIGS["wide"]
    fast, ref = pair(cfg, torch.float32)
    codes, cond, weight = inputs(cfg, 2, 30, torch.float32)
    exact, _ = run(ref, codes, cond, weight)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, _ = run(fast, codes, cond, weight)
    plain, _ = run(fast, codes, cond, weight)
    scale = exact.abs().max()
    assert (low - exact).abs().max() > 1e-4 * scale
    assert (plain - exact).abs().max() < 1e-5 * scale


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture
def exact_cuda_fp32():
    """float32 convolutions and products on CUDA without TF32 (cuDNN allows it by default)."""
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags


@CUDA
@pytest.mark.parametrize("mode", list(MODES))
def test_fused_matches_reference_on_cuda(mode: str, exact_cuda_fp32: None) -> None:
    cfg = CONFIGS["wide"]
    fast, ref = (m.cuda() for m in pair(cfg, torch.float32, **MODES[mode]))
    for batch, length in SHAPES:
        codes, cond, weight = (t.cuda() for t in inputs(cfg, batch, length, torch.float32))
        got, got_grads = run(fast, codes, cond, weight)
        want, want_grads = run(ref, codes, cond, weight)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        assert_grads_close(got_grads, want_grads, rel=1e-4)


@CUDA
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_on_cuda_stays_close_to_exact(dtype: torch.dtype,
                                               exact_cuda_fp32: None) -> None:
    """bf16 / fp16 autocast on CUDA: float32 logits and gradients, each within a relative norm
    error that a low-precision GEMM explains (the CPU test above checks the same against the
    reference layers)."""
    cfg = CONFIGS["wide"]
    fast, ref = (m.cuda() for m in pair(cfg, torch.float32))
    codes, cond, _ = (t.cuda() for t in inputs(cfg, 3, 40, torch.float32))
    target = torch.randint(0, cfg.n_classes, codes.shape, device="cuda")
    exact = ce_grads(ref, codes, cond, target)
    with torch.autocast("cuda", dtype=dtype):
        got = ce_grads(fast, codes, cond, target)
    for k, want in exact.items():
        assert got[k].dtype == torch.float32, k
        err = ((got[k] - want).norm() / want.norm()).item()
        assert err < (0.3 if dtype == torch.bfloat16 else 0.05), f"{k}: {err:.3g}"


def test_state_dicts_are_interchangeable() -> None:
    cfg = CONFIGS["tiny"]
    fast = WaveNet(cfg)
    ref = WaveNet(cfg, impl="reference")
    assert fast.impl == "fused"  # the default
    fast_sd, ref_sd = fast.state_dict(), ref.state_dict()
    assert list(fast_sd) == list(ref_sd)
    assert all(fast_sd[k].shape == ref_sd[k].shape for k in fast_sd)
    fast.load_state_dict(ref_sd)
    ref.load_state_dict(fast_sd)


def test_model_files_with_and_without_the_execution_fields_load(tmp_path: Path) -> None:
    """Files written while impl, recompute_gate and checkpoint_activations were part of the
    model config still load; those settings never changed the network."""
    cfg = CONFIGS["tiny"]
    model = WaveNet(cfg, impl="reference", checkpoint_activations=True)
    save_model(tmp_path / "new.pt", model, 8000, ["a", "b", "c"])
    loaded, info = load_model(tmp_path / "new.pt")
    assert info.config == cfg
    payload = model_payload(model, 8000, ["a", "b", "c"], "utt2genre")
    payload["model_config"].update(impl="reference", recompute_gate=False,
                                   checkpoint_activations=True)  # an older file
    torch.save(payload, tmp_path / "old.pt")
    old, old_info = load_model(tmp_path / "old.pt")
    assert old_info.config == cfg and old.impl == "fused"
    codes, cond, _ = inputs(cfg, 1, 12, torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(old(codes, cond), loaded(codes, cond), rtol=0, atol=1e-5)


@pytest.mark.parametrize("impl", ["cuda", "", "Fused", None])
def test_model_rejects_unknown_conv_impl(impl) -> None:
    with pytest.raises(ValueError, match="impl must be one of fused, reference"):
        WaveNet(CONFIGS["tiny"], impl=impl)
