"""The fused ``cpu`` engine beyond the shared exactness tests: every thread split, primers."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from engine_models import SHAPES, random_model

from wavegen.audio import silence_code
from wavegen.engine import ENGINES, generate, resolve_engine, stream
from wavegen.engine.cpu import CpuEngine
from wavegen.engine.reference import forward_weights
from wavegen.engine.sampling import sample_from_logits


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_engine_teacher_forced_logits_equal_parallel_forward(split):
    """Gate channels shared by 1, 2 or 3 threads (3 does not divide them: zero padding)."""
    cfg = SHAPES[1]
    w = random_model(cfg, 21).export_weights()
    codes = torch.randint(0, cfg.n_classes, (2, cfg.receptive_field + 30))
    cond = torch.rand(2, cfg.n_cond)
    eng = CpuEngine(w, cond, split=split)
    got = torch.stack([eng.step(codes[:, t]) for t in range(codes.shape[1])], dim=2)
    err = (got - forward_weights(w, codes, cond)).abs().max().item()
    assert err < 1e-4, f"split {split}: max |logit error| {err}"


@pytest.mark.parametrize("cfg", SHAPES)
@pytest.mark.parametrize("split", [1, 2])
def test_five_rows_teacher_forced_logits_equal_parallel_forward(cfg, split):
    """Five rows in one group: a block of four rows and a leftover row in the matmul."""
    w = random_model(cfg, 25).export_weights()
    codes = torch.randint(0, cfg.n_classes, (5, cfg.receptive_field + 10))
    cond = torch.rand(5, cfg.n_cond)
    eng = CpuEngine(w, cond, threads=1, split=split)
    got = torch.stack([eng.step(codes[:, t]) for t in range(codes.shape[1])], dim=2)
    err = (got - forward_weights(w, codes, cond)).abs().max().item()
    assert err < 1e-4, f"split {split}: max |logit error| {err}"


@pytest.mark.parametrize("split,threads", [(1, 2), (2, 2)])
@pytest.mark.parametrize("guidance,top_p", [(1.0, 1.0), (2.0, 0.9)])
def test_threaded_sampling_matches_reference(split, threads, guidance, top_p, monkeypatch):
    cfg = SHAPES[0]
    w = random_model(cfg, 22).export_weights()
    B, N = 3, cfg.receptive_field + 50
    cond = torch.rand(B, cfg.n_cond)
    u = torch.rand(B, N, generator=torch.Generator().manual_seed(2))
    ref = generate(w, cond, N, engine="reference", uniforms=u, guidance=guidance, top_p=top_p)
    monkeypatch.setitem(ENGINES, "cpu", lambda w_, c_: CpuEngine(w_, c_, threads=threads,
                                                                     split=split))
    got = generate(w, cond, N, engine="cpu", uniforms=u, guidance=guidance, top_p=top_p,
                   chunk_size=23)
    assert torch.equal(got, ref)


def test_primer_fills_the_caches_like_generating_it():
    """Continuing a primer equals generating primer + continuation with the primer forced."""
    cfg = SHAPES[0]
    w = random_model(cfg, 23).export_weights()
    cond = torch.rand(2, cfg.n_cond)
    primer = torch.randint(0, cfg.n_classes, (2, cfg.receptive_field + 5))
    u = torch.rand(2, 30, generator=torch.Generator().manual_seed(3))
    for engine in ("cpu", "cached"):
        got = torch.cat(list(stream(w, cond, 30, engine=engine, uniforms=u, primer=primer)), 1)
        inputs = torch.cat([torch.full((2, 1), silence_code()), primer, got[:, :-1]], 1)
        logits = forward_weights(w, inputs, cond)[:, :, primer.shape[1]:]  # (B, A, 30)
        again = torch.stack([sample_from_logits(logits[:, :, t], u[:, t]) for t in range(30)], 1)
        assert torch.equal(got, again), engine


def test_auto_picks_the_cpu_engine_on_cpu():
    assert resolve_engine("auto", "cpu") == "cpu"


def test_bf16_weights_stay_within_their_documented_tolerance():
    cfg = SHAPES[1]
    w = random_model(cfg, 24).export_weights()
    codes = torch.randint(0, cfg.n_classes, (2, cfg.receptive_field + 10))
    cond = torch.rand(2, cfg.n_cond)
    eng = CpuEngine(w, cond, precision="bf16")
    got = torch.stack([eng.step(codes[:, t]) for t in range(codes.shape[1])], dim=2)
    expected = forward_weights(w, codes, cond)
    err = (got - expected).abs().max().item()
    assert 1e-5 < err < 0.005 * expected.abs().max().item()  # really reduced, and close


def test_first_use_says_the_kernel_is_being_loaded():
    """A fresh process announces the (possibly compiling) kernel once, then stays quiet."""
    script = textwrap.dedent("""
        import logging, torch
        logging.basicConfig(level=logging.INFO)
        from engine_models import SHAPES, random_model
        from wavegen.engine import generate
        w = random_model(SHAPES[0], 0).export_weights()
        cond = torch.rand(1, SHAPES[0].n_cond)
        generate(w, cond, 5, engine="cpu", seed=0)
        generate(w, cond, 5, engine="cpu", seed=1)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).parent, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.count("loading the CPU kernel") == 1


def test_the_kernel_compiles_once_and_later_processes_load_it(tmp_path):
    """``python -m wavegen.engine`` (run by make at install) fills numba's cache; the next
    process, as the first ``wavegen synth`` would, loads both precisions without compiling."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-m", "wavegen.engine"], env=env, text=True,
                           capture_output=True, timeout=600) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-2000:]
    assert "(2 compiled, 0 loaded from the cache)" in runs[0].stdout
    assert "(0 compiled, 2 loaded from the cache)" in runs[1].stdout
    assert list(tmp_path.rglob("*.nbi"))


def _full_sort_code(logits, u, temperature, top_p):
    """The kernel's sampling with every code sorted (what it did before sorting only the
    nucleus candidates), in the same float32 steps."""
    import numpy as np

    from wavegen.engine.cpu_kernels import _exp_inplace

    probs = (logits / np.float32(temperature)).astype(np.float32)
    probs -= probs.max()
    _exp_inplace(probs, np.empty(len(probs), np.int32), len(probs))
    total = np.float32(0.0)
    for p in probs:
        total = np.float32(total + p)
    probs = (probs / total).astype(np.float32)
    order = np.argsort(-probs, kind="mergesort")
    run, p32 = 0.0, np.float32(top_p)
    for i in order:
        p = probs[i]
        before = np.float32(np.float32(run + p) - p)
        run += float(p)
        if before >= p32:
            probs[i] = 0.0
    cdf = np.cumsum(probs.astype(np.float64)).astype(np.float32)
    target = np.float32(np.float32(u) * cdf[-1])
    hits = np.nonzero(cdf > target)[0]
    return int(hits[0]) if len(hits) else len(probs) - 1


SHAPES_OF_P = ["peaky", "flat", "ties", "two", "tail"]


@pytest.mark.parametrize("shape", SHAPES_OF_P)
def test_sorting_only_the_nucleus_candidates_draws_the_codes_a_full_sort_draws(shape):
    import numpy as np

    from wavegen.engine.cpu_kernels import sample_code

    rng = np.random.default_rng(SHAPES_OF_P.index(shape))
    A = 256
    for trial in range(400):
        if shape == "peaky":
            logits = rng.standard_normal(A) * rng.uniform(2, 12)
        elif shape == "flat":
            logits = rng.standard_normal(A) * rng.uniform(0, 0.3)
        elif shape == "ties":
            logits = rng.integers(0, 4, A).astype(float) * rng.uniform(0.5, 6)
        elif shape == "two":
            logits = np.full(A, -30.0)
            logits[rng.integers(0, A, 2)] = rng.uniform(-1, 1, 2)
        else:  # four likely codes holding h, a flat tail, the cut just inside the tail
            h = rng.uniform(0.2, 0.9)
            probs = np.full(A, (1 - h) / (A - 4)) * rng.uniform(0.98, 1.0, A)
            probs[rng.choice(A, 4, replace=False)] = h / 4 * rng.uniform(0.5, 1.5, 4)
            logits = np.log(probs)
        logits = logits.astype(np.float32)
        u = np.float32(rng.random())
        top_p = float(rng.choice([0.05, 0.5, 0.9, 0.95, 0.99, 0.999999, rng.uniform(0.01, 1)]))
        if shape == "tail":
            top_p, u = min(h + rng.uniform(0, 0.05), 0.999), np.float32(rng.uniform(0.8, 1))
        temperature = 1.0 if shape == "tail" else float(rng.choice([0.5, 0.9, 1.0, 2.0]))
        want = _full_sort_code(logits, u, temperature, top_p)
        got = sample_code(logits, u, temperature, top_p, np.empty(A, np.float32),
                          np.empty(A, np.int64), np.empty(A, np.int32))
        assert got == want, (trial, top_p, temperature)


def test_the_thread_count_reaches_the_cpu_engine_and_is_checked():
    from wavegen.engine import build_engine
    from wavegen.errors import WavegenError

    w = random_model(SHAPES[0], 0).export_weights()
    cond = torch.eye(w.n_cond)[:1]
    assert build_engine(w, cond, "cpu", threads=1).threads == 1
    assert build_engine(w, cond, "cached", threads=1).name == "cached"  # others ignore it
    for bad in (0, -1):
        with pytest.raises(WavegenError, match="threads must be >= 1"):
            build_engine(w, cond, "cpu", threads=bad)
