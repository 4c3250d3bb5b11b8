"""The gate's element-wise work: compiled loops against the eager ops, the fused path with the
compiled loops against the reference layers, and the fallback where compiling fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from fused_pairs import CONFIGS, MODES, SHAPES, assert_grads_close, inputs, pair, run

from wavegen.models import gate


def gate_inputs(dtype: torch.dtype, T: int = 37, B: int = 3, G: int = 10):
    gen = torch.Generator().manual_seed(T * B)
    z = (3 * torch.randn(T * B, G, generator=gen)).to(dtype)
    cb = torch.randn(B, G, generator=gen).to(dtype)
    g_h = torch.randn(T * B, G // 2, generator=gen).to(dtype)
    return z, cb, g_h


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the compiled loops at every size (torch.compile's CPU backend needs a C++
    compiler; .ci/run installs one)."""
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("no C++ compiler: torch.compile cannot build the CPU loops here")
    monkeypatch.setattr(gate, "COMPILE_MIN_ELEMENTS", 0)
    monkeypatch.setattr(gate, "MODE", "compiled")


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.bfloat16, 2e-2)])
def test_compiled_loops_equal_the_eager_ops(dtype: torch.dtype, tol: float,
                                            compiled: None) -> None:
    z, cb, g_h = gate_inputs(dtype)
    B = cb.shape[0]
    s_e, h_e = gate._eager_forward(z.clone(), cb, B)
    gz_e, gcb_e = gate._eager_backward(g_h.clone(), s_e, B)
    s_c, h_c = gate.gate_forward(z.clone(), cb, B)
    gz_c, gcb_c = gate.gate_backward(g_h.clone(), s_e, B)
    h_out = gate.gate_output(s_e)
    assert "forward" in gate._compiled and gate.MODE == "compiled"
    for got, want in ((s_c, s_e), (h_c, h_e), (h_out, h_e), (gz_c, gz_e), (gcb_c, gcb_e)):
        assert got.dtype == dtype and got.shape == want.shape
        err = (got.float() - want.float()).abs().max().item()
        assert err <= tol * max(1.0, want.float().abs().max().item()), err


def test_eager_gate_is_tanh_times_sigmoid() -> None:
    """The doubled tanh half: z = (2a, b) gives h = tanh(a) sigmoid(b), and its gradient."""
    z, cb, g_h = gate_inputs(torch.float64)
    B, H = cb.shape[0], z.shape[1] // 2
    pre = (z.view(-1, B, 2 * H) + cb).view(-1, 2 * H).requires_grad_(True)
    want = torch.tanh(pre[:, :H] / 2) * torch.sigmoid(pre[:, H:])
    want.backward(g_h)
    s, h = gate._eager_forward(z.clone(), cb, B)
    torch.testing.assert_close(h, want.detach(), rtol=0, atol=1e-12)
    g_z, g_cb = gate._eager_backward(g_h.clone(), s, B)
    torch.testing.assert_close(g_z, pre.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(g_cb, pre.grad.view(-1, B, 2 * H).sum(0), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["store", "recompute"])
def test_fused_path_with_compiled_loops_matches_reference(mode: str, compiled: None) -> None:
    cfg = CONFIGS["wide"]
    fast, ref = pair(cfg, torch.float32, **MODES[mode])
    for batch, length in SHAPES[1:]:
        codes, cond, weight = inputs(cfg, batch, length, torch.float32)
        got, got_grads = run(fast, codes, cond, weight)
        want, want_grads = run(ref, codes, cond, weight)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        assert_grads_close(got_grads, want_grads, rel=1e-4)


def test_small_activations_and_cpu_tensors_stay_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate, "_compiled", {})
    z, cb, _ = gate_inputs(torch.float32)
    assert z.numel() < gate.COMPILE_MIN_ELEMENTS
    monkeypatch.setattr(gate, "MODE", "compiled")
    assert gate._pick("forward", z) is gate._eager_forward
    big = torch.empty(gate.COMPILE_MIN_ELEMENTS // 64, 64)
    monkeypatch.setattr(gate, "MODE", "auto")  # the CPU: eager, measured not to pay
    assert gate._pick("forward", big) is gate._eager_forward
    monkeypatch.setattr(gate, "MODE", "eager")
    assert gate._pick("backward", big) is gate._eager_backward
    assert gate._compiled == {}
    monkeypatch.setattr(gate, "MODE", "compiled")
    assert gate._pick("output", big) is not gate._eager_output


def test_without_a_compiler_training_falls_back_to_eager_ops(tmp_path) -> None:
    """A machine without a working C++ compiler: one warning, then the eager ops, same
    numbers."""
    script = textwrap.dedent("""
        import logging, torch
        logging.basicConfig()
        from wavegen.models import gate
        gate.COMPILE_MIN_ELEMENTS, gate.MODE = 0, "compiled"
        z, cb = torch.randn(12, 6), torch.randn(3, 6)
        s, h = gate.gate_forward(z.clone(), cb, 3)
        s_e, h_e = gate._eager_forward(z.clone(), cb, 3)
        assert gate.MODE == "eager" and torch.equal(h, h_e)
        gate.gate_output(s)  # no second warning
        print("fell back")
    """)
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"),
           "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fell back" in proc.stdout
    assert proc.stderr.count("the compiled gate loop is unavailable here") == 1


@pytest.mark.parametrize("mode", ["Compiled", "on", "", None, True, "cuda"])
def test_an_unknown_mode_is_refused(monkeypatch: pytest.MonkeyPatch, mode) -> None:
    """A typo in MODE must not silently act as one of the known modes."""
    monkeypatch.setattr(gate, "MODE", mode)
    with pytest.raises(ValueError, match="MODE must be one of auto, compiled, eager"):
        gate._pick("forward", torch.empty(gate.COMPILE_MIN_ELEMENTS // 64, 64))
