"""The ``triton`` engine under Triton's CPU interpreter, on tiny shapes, in a subprocess
(``TRITON_INTERPRET`` is read when kernels are defined, so it is set before the import)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("triton")

SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from engine_models import random_model
    from wavegen.engine import ENGINES, generate, teacher_forced_logits
    from wavegen.engine.triton_engine import TritonEngine
    from wavegen.models import WaveNetConfig

    assert "triton" in ENGINES, sorted(ENGINES)
    kernel = sys.argv[1]
    ENGINES["triton"] = lambda w_, c_: TritonEngine(w_, c_, kernel=kernel)
    cfg = WaveNetConfig(n_layers=3, dilation_cycle=2, residual_channels=4, gate_channels=6,
                        skip_channels=8, n_cond=3, n_classes=16)
    model = random_model(cfg, 31)
    w = model.export_weights()
    cond = torch.rand(2, cfg.n_cond)
    codes = torch.randint(0, cfg.n_classes, (2, cfg.receptive_field + 4))
    with torch.no_grad():
        expected = model(codes, cond)
    err = (teacher_forced_logits(w, cond, codes, engine="triton") - expected).abs().max()
    assert err < 1e-4, f"max |logit error| {err}"
    # A whole teacher chunk in one launch (the persistent kernel's programs pipeline).
    eng = TritonEngine(w, cond, kernel=kernel)
    logits = torch.empty(2, cfg.n_classes, codes.shape[1])
    eng._launch(2, codes.contiguous(), logits, torch.zeros(1), torch.zeros(1).long(),
                codes.shape[1], 1.0, 1.0, 1.0, True, False)
    assert (logits - expected).abs().max() < 1e-4
    # Both kernels share the ring buffers: switch half way and stay exact.
    eng = TritonEngine(w, cond, kernel="tile")
    half = codes.shape[1] // 2
    got = [eng.step(codes[:, t]) for t in range(half)]
    eng.kernel = kernel
    got += [eng.step(codes[:, t]) for t in range(half, codes.shape[1])]
    assert (torch.stack(got, 2) - expected).abs().max() < 1e-4
    N = 12
    u = torch.rand(2, N, generator=torch.Generator().manual_seed(4))
    for kw in ({}, {"temperature": 0.7, "top_p": 0.8}, {"guidance": 2.5}):
        ref = generate(w, cond, N, engine="reference", uniforms=u, **kw)
        got = generate(w, cond, N, engine="triton", uniforms=u, chunk_size=5, **kw)
        assert torch.equal(got, ref), (kw, got, ref)
    # Conditioning that changes every 4 samples: logits and codes stay the reference's.
    from wavegen.engine import forward_weights
    conds = torch.rand(3, 2, cfg.n_cond, generator=torch.Generator().manual_seed(5))
    at = lambda t: conds[min(t // 4, 2)]
    eng = TritonEngine(w, conds[0], kernel=kernel)
    got = []
    for t in range(codes.shape[1]):
        if t % 4 == 0:
            eng.set_cond(at(t))
        got.append(eng.step(codes[:, t]))
    seq = torch.stack([at(t) for t in range(codes.shape[1])], 1)  # (B, T, C)
    assert (torch.stack(got, 2) - forward_weights(w, codes, seq)).abs().max() < 1e-4
    for kw in ({}, {"guidance": 2.5}):
        ref = generate(w, conds[0], N, engine="reference", uniforms=u, cond_at=at,
                       control_every=4, **kw)
        got = generate(w, conds[0], N, engine="triton", uniforms=u, cond_at=at,
                       control_every=4, chunk_size=5, **kw)
        assert torch.equal(got, ref), ("changing conditioning", kw, got, ref)
    primer = torch.randint(0, cfg.n_classes, (2, 6))
    ref = generate(w, cond, 4, engine="reference", uniforms=u[:, :4], primer=primer)
    assert torch.equal(generate(w, cond, 4, engine="triton", uniforms=u[:, :4], primer=primer),
                       ref)
    print("ok")
""")



@pytest.mark.parametrize("kernel", ["tile", "persistent"])
def test_triton_engine_is_exact_under_the_interpreter(kernel):
    here = Path(__file__).parent
    env = dict(os.environ, TRITON_INTERPRET="1",
               PYTHONPATH=os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT, kernel], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
