"""The engine contract in code: every registered engine is an Engine, the chunked ones are
FusedEngines, and a broken numba is an error that says why, not a silent slow fallback."""

import subprocess
import sys
import textwrap

import pytest
import torch
from engine_models import SHAPES, random_model

from wavegen.engine import ENGINES, Engine, FusedEngine, build_engine
from wavegen.engine.sampling import guided_step, sample_from_logits

FUSED = {"cpu", "graph", "triton"}


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_every_registered_engine_meets_the_contract(name):
    cfg = SHAPES[0]
    eng = build_engine(random_model(cfg, 3), torch.rand(2, cfg.n_cond), name)
    assert isinstance(eng, Engine) and eng.name == name
    assert isinstance(eng, FusedEngine) == (name in FUSED)
    logits = eng.step(torch.zeros(2, dtype=torch.long))
    assert logits.shape == (2, cfg.n_classes)


def test_an_object_without_step_is_not_an_engine():
    class NotAnEngine:
        name, w = "x", None

        def run(self, prev, uniforms):  # a run without step does not make an engine
            return prev

    assert not isinstance(NotAnEngine(), Engine)


@pytest.mark.parametrize("guidance", [1.0, 0.0, 3.5])
def test_guided_step_samples_from_the_interpolated_logits(guidance):
    gen = torch.Generator().manual_seed(1)
    table = torch.randn(4, 16, generator=gen)  # logits of rows 0, 1 and their twins 2, 3
    seen = []

    def step(codes):
        seen.append(codes.clone())
        return table[: codes.shape[0]]

    prev, u = torch.tensor([5, 7]), torch.rand(2, generator=gen)
    got = guided_step(step, prev, u, 0.9, 0.8, guidance)
    if guidance == 1.0:
        want = sample_from_logits(table[:2], u, 0.9, 0.8)
        assert torch.equal(seen[0], prev)
    else:
        want = sample_from_logits(torch.lerp(table[2:], table[:2], guidance), u, 0.9, 0.8)
        assert torch.equal(seen[0], torch.tensor([5, 7, 5, 7]))
    assert torch.equal(got, want)


def test_a_broken_numba_stops_the_import_and_says_why():
    code = textwrap.dedent("""
        import sys
        sys.modules["numba"] = None  # as if numba failed to import
        import wavegen.engine
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    assert "the cpu engine cannot load numba" in out.stderr
    assert "pip install --force-reinstall numba" in out.stderr
