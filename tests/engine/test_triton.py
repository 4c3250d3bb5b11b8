"""The ``triton`` engine under Triton's CPU interpreter, on tiny shapes, in a subprocess
(``TRITON_INTERPRET`` is read when kernels are defined, so it is set before the import)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytest.importorskip("triton")

from engine_models import SHAPES, random_model  # noqa: E402

from wavegen.engine.triton_engine import TritonEngine  # noqa: E402
from wavegen.errors import WavegenError  # noqa: E402
from wavegen.models.weights import LocalBias  # noqa: E402

# Both scripts' first lines: a tiny model shape (dilations 1, 2, 1: receptive field 5).
SETUP = """
import sys
import torch
from engine_models import random_model
from wavegen.models import WaveNetConfig

cfg = WaveNetConfig(n_layers=3, dilation_cycle=2, residual_channels=4, gate_channels=6,
                    skip_channels=8, n_cond=3, n_classes=16)
"""

SCRIPT = SETUP + textwrap.dedent("""
    from functools import partial
    from wavegen.engine import ENGINES, generate, teacher_forced_logits
    from wavegen.engine.triton_engine import TritonEngine

    assert "triton" in ENGINES, sorted(ENGINES)
    kernel = sys.argv[1]
    ENGINES["triton"] = partial(TritonEngine, kernel=kernel)
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

# Local conditioning, both kernels: a plan whose frames change every `hop` steps, with hops that
# divide none of the run lengths, through teacher forcing (a whole chunk in one launch, then
# single steps), `set_cond` and `set_local` mid-run, the end of the plan, a primer (`feed`),
# and sampling with and without guidance against the reference engine fed the same uniforms.
# argv: kernel [mutant]; "mutant" first swaps in a kernel module that reads frame
# (t + 1) // hop: the first assertion must then fail.
LOCAL_SCRIPT = SETUP + textwrap.dedent("""
    import importlib.util
    import tempfile
    from pathlib import Path

    import wavegen.engine
    from engine_models import random_plan

    if sys.argv[2:] == ["mutant"]:  # before any kernel is imported
        name = "wavegen.engine.triton_kernels"
        source = Path(wavegen.engine.__file__).with_name("triton_kernels.py").read_text()
        assert source.count("frame = tt // hop") == 1
        path = Path(tempfile.mkdtemp()) / "triton_kernels.py"
        path.write_text(source.replace("frame = tt // hop", "frame = (tt + 1) // hop"))
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

    from wavegen.audio import silence_code
    from wavegen.engine import forward_weights
    from wavegen.engine.local import local_positions
    from wavegen.engine.reference import ReferenceEngine
    from wavegen.engine.sampling import guided_step
    from wavegen.engine.triton_engine import TritonEngine
    from wavegen.errors import WavegenError

    kernel = sys.argv[1]
    w = random_model(cfg, 41).export_weights()
    A = w.n_classes
    gen = torch.Generator().manual_seed(42)

    def check(got, codes, conds, biases, what):
        # got (B, A, T') against the parallel forward over the first T' positions
        T = got.shape[2]
        err = (got - forward_weights(w, codes[:, :T], conds[:, :T], biases[:, :T])).abs().max()
        assert err < 1e-4, f"{what}: local teacher-forced logits off by {err:.3g}"

    # Teacher forcing: hop 3 over 14 steps; plan a covers 9, then plan b (5 frames) takes over.
    B, T, hop, cut = 2, 14, 3, 9
    codes = torch.randint(0, A, (B, T), generator=gen)
    c0, c1 = torch.rand(2, B, cfg.n_cond, generator=gen)
    a, b = random_plan(cfg, B, cut, hop, 43), random_plan(cfg, B, T, hop, 44)  # 3, 5 frames
    conds = torch.stack([c0 if t < 7 else c1 for t in range(T)], 1)  # (B, T, C)
    biases = torch.cat([local_positions(a, cut), local_positions(b, T)[:, cut:]], 1)
    eng = TritonEngine(w, c0, a, kernel=kernel)
    first = torch.empty(B, A, 6)
    eng._launch(B, codes[:, :6].contiguous(), first, torch.zeros(1), torch.zeros(1).long(), 6,
                1.0, 1.0, 1.0, True, False)  # one chunk (the persistent programs pipeline)
    check(first, codes, conds, biases, "one chunk")
    got = [first[:, :, t] for t in range(6)]
    for t in range(6, cut):
        if t == 7:
            eng.set_cond(c1)
        got.append(eng.step(codes[:, t]))
    try:  # past the end of plan a: refused before launching, nothing advanced
        eng.step(codes[:, cut])
        raise AssertionError("stepping past the plan's end was not refused")
    except WavegenError as err:
        assert "past its end" in str(err) and eng.t == cut, (err, eng.t)
    eng.set_local(b)
    got += [eng.step(codes[:, t]) for t in range(cut, T)]
    check(torch.stack(got, 2), codes, conds, biases, "steps with set_cond and set_local")

    # Sampling: a primer of 5, then chunks of 3, 6 and 3 with hop 4; set_cond before the second
    # chunk, set_local (an extended plan) before the third. Guided engines hold the twins too.
    P, chunks, hop = 5, (3, 6, 3), 4
    primer = torch.randint(0, A, (B, P), generator=gen)
    u = torch.rand(B, sum(chunks), generator=gen)
    c0, c1 = torch.rand(2, B, cfg.n_cond, generator=gen)
    a, b = random_plan(cfg, B, 16, hop, 45), random_plan(cfg, B, 17, hop, 46)  # 4, 5 frames
    for guidance, top_p in ((1.0, 1.0), (2.5, 0.9)):
        guided = guidance != 1.0
        twin = lambda x: torch.cat([x, torch.zeros_like(x)]) if guided else x
        rows = lambda p: p.repeat_rows() if guided else p
        inputs = torch.cat([torch.full((B, 1), silence_code(A)), primer[:, :-1]], 1)
        inputs = torch.cat([inputs, inputs]) if guided else inputs
        ref = ReferenceEngine(w, twin(c0), rows(a))
        eng = TritonEngine(w, twin(c0), rows(a), kernel=kernel)
        for t in range(P):
            ref.step(inputs[:, t])
        eng.feed(inputs)
        prev_ref = prev = primer[:, -1]
        expected, got, start = [], [], 0
        for i, n in enumerate(chunks):
            if i == 1:
                ref.set_cond(twin(c1))
                eng.set_cond(twin(c1))
            if i == 2:
                ref.set_local(rows(b))
                eng.set_local(rows(b))
            for t in range(start, start + n):
                prev_ref = guided_step(ref.step, prev_ref, u[:, t], 1.0, top_p, guidance, guided)
                expected.append(prev_ref)
            out = eng.run(prev, u[:, start:start + n], 1.0, top_p, guidance)
            prev, start = out[:, -1], start + n
            got.append(out)
        expected = torch.stack(expected, 1)
        assert torch.equal(torch.cat(got, 1), expected), (guidance, torch.cat(got, 1), expected)
    print("ok")
""")


def _interpret(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run a script under Triton's CPU interpreter with the engine tests' helpers importable."""
    here = Path(__file__).parent
    env = dict(os.environ, TRITON_INTERPRET="1",
               PYTHONPATH=os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-W", "ignore", "-c", script, *args], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("kernel", ["tile", "persistent"])
def test_triton_engine_is_exact_under_the_interpreter(kernel):
    proc = _interpret(SCRIPT, kernel)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


@pytest.mark.parametrize("kernel", ["tile", "persistent"])
def test_triton_local_conditioning_is_exact_under_the_interpreter(kernel):
    proc = _interpret(LOCAL_SCRIPT, kernel)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


@pytest.mark.parametrize("kernel", ["tile", "persistent"])
def test_a_kernel_reading_the_next_frame_fails_the_local_check(kernel):
    """Mutation check: the same script with frame (t + 1) // hop fails its first assertion."""
    proc = _interpret(LOCAL_SCRIPT, kernel, "mutant")
    assert proc.returncode != 0, "the local check passed a kernel that reads the wrong frame"
    assert "one chunk: local teacher-forced logits off by" in proc.stderr, proc.stderr[-3000:]





B, F, HOP = 2, 3, 4  # the bad-input table's engine rows and plan: 12 steps
W = random_model(SHAPES[0], 3).export_weights()
L, G = W.n_layers, W.gate_channels


def _table(rows: int = B, layers: int = L, gate: int = G) -> torch.Tensor:
    return torch.randn(rows, F, layers, gate)  # (rows, F, layers, gate)


def _poisoned(value: float) -> LocalBias:
    """A plan with one bad entry, in its last frame."""
    table = _table()
    table[-1, -1, -1, -1] = value
    return LocalBias(table, HOP)


def _engine(local: object = None, rows: int = B) -> TritonEngine:
    return TritonEngine(W, torch.rand(rows, W.n_cond), local)


def _guided_unrepeated() -> None:
    _engine(LocalBias(_table(), HOP), rows=2 * B)


def _feed_past_the_end() -> None:
    eng = _engine(LocalBias(_table(), HOP))
    try:
        eng.feed(torch.zeros(B, F * HOP + 1, dtype=torch.long))
    finally:
        assert eng.t == 0  # refused before the first launch


def _run_past_the_end() -> None:
    eng = _engine(LocalBias(_table(), HOP))
    eng.run(torch.zeros(B, dtype=torch.long), torch.rand(B, F * HOP + 1))


BAD_LOCAL = {
    "not a LocalBias": (lambda: _engine(_table()), "must be a LocalBias"),
    "too many rows": (lambda: _engine(LocalBias(_table(rows=B + 1), HOP)), "expected (batch 2"),
    "guided twins missing": (_guided_unrepeated, "expected (batch 4"),
    "wrong layer count": (lambda: _engine(LocalBias(_table(layers=L + 1), HOP)), "layers"),
    "wrong gate size": (lambda: _engine(LocalBias(_table(gate=G - 2), HOP)), "gate"),
    "NaN": (lambda: _engine(_poisoned(float("nan"))), "inf or NaN"),
    "inf": (lambda: _engine(_poisoned(float("-inf"))), "inf or NaN"),
    "integer table": (lambda: _engine(LocalBias(_table().long(), HOP)), "must be float"),
    "another device": (lambda: _engine(LocalBias(_table().to("meta"), HOP)), "is on meta"),
    "set_local, wrong shape": (lambda: _engine().set_local(LocalBias(_table(rows=1), HOP)),
                               "expected (batch 2"),
    "set_local, NaN": (lambda: _engine(LocalBias(_table(), HOP)).set_local(_poisoned(float("nan"))),
                       "inf or NaN"),
    "primer past the end": (_feed_past_the_end, "past its end"),
    "sampling past the end": (_run_past_the_end, "past its end"),
}


@pytest.mark.parametrize("case", BAD_LOCAL, ids=list(BAD_LOCAL))
def test_bad_local_conditioning_is_refused_in_one_line(case: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked on the host before any launch (no kernel runs: the engine is built on the CPU
    as under the interpreter)."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    call, message = BAD_LOCAL[case]
    before = set(sys.modules)
    with pytest.raises(WavegenError, match="^[^\\n]*$") as err:
        call()
    assert message in str(err.value), str(err.value)
    # Refused before any launch: no kernel module was imported for it (it would be built for
    # the interpreter here, in a process that may also compile the kernels for the GPU).
    assert not {m for m in set(sys.modules) - before if "triton_" in m}
