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
from fused_pairs import (
    CONFIGS,
    LOCAL_CONFIGS,
    LOCAL_SHAPES,
    MODES,
    assert_grads_close,
    inputs,
    pair,
    plan,
    run,
)

from wavegen.models import gate

T_GATE = 37
# Time steps per frame of the gate bias: one frame for the whole segment (global conditioning
# only), frames that do not divide T, a frame per step.
HOPS = [T_GATE, 5, 1]


def gate_inputs(dtype: torch.dtype, hop: int = T_GATE, T: int = T_GATE, B: int = 3,
                G: int = 10):
    """z (T * B, G), the bias (ceil(T / hop), B, G) and g_h (T * B, G / 2)."""
    gen = torch.Generator().manual_seed(T * B + hop)
    z = (3 * torch.randn(T * B, G, generator=gen)).to(dtype)
    bias = torch.randn(-(-T // hop), B, G, generator=gen).to(dtype)
    g_h = torch.randn(T * B, G // 2, generator=gen).to(dtype)
    return z, bias, g_h


def per_step(bias: torch.Tensor, T: int, hop: int) -> torch.Tensor:
    """The bias of every time step, built plainly: (F, B, G) -> (T, B, G)."""
    return bias[torch.arange(T) // hop]


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the compiled loops at every size (torch.compile's CPU backend needs a C++
    compiler; .ci/run installs one)."""
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        pytest.skip("no C++ compiler: torch.compile cannot build the CPU loops here")
    monkeypatch.setattr(gate, "COMPILE_MIN_ELEMENTS", 0)
    monkeypatch.setattr(gate, "MODE", "compiled")


@pytest.mark.parametrize("hop", HOPS)
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-6), (torch.bfloat16, 2e-2)])
def test_compiled_loops_equal_the_eager_ops(dtype: torch.dtype, tol: float, hop: int,
                                            compiled: None) -> None:
    z, bias, g_h = gate_inputs(dtype, hop)
    B = bias.shape[1]
    s_e, h_e = gate._eager_forward(z.clone(), bias, B, hop)
    gz_e, gcb_e = gate._eager_backward(g_h.clone(), s_e, B, hop)
    s_c, h_c = gate.gate_forward(z.clone(), bias, B, hop)
    gz_c, gcb_c = gate.gate_backward(g_h.clone(), s_e, B, hop)
    h_out = gate.gate_output(s_e)
    assert "forward" in gate._compiled and gate.MODE == "compiled"
    for got, want in ((s_c, s_e), (h_c, h_e), (h_out, h_e), (gz_c, gz_e), (gcb_c, gcb_e)):
        assert got.dtype == dtype and got.shape == want.shape
        err = (got.float() - want.float()).abs().max().item()
        assert err <= tol * max(1.0, want.float().abs().max().item()), err


@pytest.mark.parametrize("hop", HOPS)
def test_eager_gate_is_tanh_times_sigmoid(hop: int) -> None:
    """The doubled tanh half: z = (2a, b) plus each step's frame bias gives h = tanh(a)
    sigmoid(b); its gradient, and the bias gradient summed over each frame's steps."""
    z, bias, g_h = gate_inputs(torch.float64, hop)
    B, H, T = bias.shape[1], z.shape[1] // 2, T_GATE
    bias = bias.requires_grad_(True)
    pre = (z.view(T, B, 2 * H) + per_step(bias, T, hop)).view(-1, 2 * H)
    pre.retain_grad()
    want = torch.tanh(pre[:, :H] / 2) * torch.sigmoid(pre[:, H:])
    want.backward(g_h)
    s, h = gate._eager_forward(z.clone(), bias.detach(), B, hop)
    torch.testing.assert_close(h, want.detach(), rtol=0, atol=1e-12)
    g_z, g_bias = gate._eager_backward(g_h.clone(), s, B, hop)
    torch.testing.assert_close(g_z, pre.grad, rtol=0, atol=1e-12)
    assert g_bias.shape == bias.shape
    torch.testing.assert_close(g_bias, bias.grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["wide", "wide-local"])
@pytest.mark.parametrize("mode", ["store", "recompute"])
def test_fused_path_with_compiled_loops_matches_reference(mode: str, name: str,
                                                          compiled: None) -> None:
    cfg = {**CONFIGS, **LOCAL_CONFIGS}[name]
    fast, ref = pair(cfg, torch.float32, **MODES[mode])
    for batch, length, offset in LOCAL_SHAPES[1:]:
        codes, cond, weight = inputs(cfg, batch, length, torch.float32)
        units = plan(cfg, batch, length, offset) if cfg.n_units else None
        got, got_grads = run(fast, codes, cond, weight, units, offset if cfg.n_units else 0)
        want, want_grads = run(ref, codes, cond, weight, units, offset if cfg.n_units else 0)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        assert_grads_close(got_grads, want_grads, rel=1e-4)


def test_small_activations_and_cpu_tensors_stay_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate, "_compiled", {})
    z, _, _ = gate_inputs(torch.float32)
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
        z, bias = torch.randn(12, 6), torch.randn(1, 3, 6)
        s, h = gate.gate_forward(z.clone(), bias, 3, 4)
        s_e, h_e = gate._eager_forward(z.clone(), bias, 3, 4)
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
