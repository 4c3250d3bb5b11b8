"""Conditioning that changes while a clip is generated: every engine against the parallel
forward (teacher-forced logits within 1e-4) and against the reference (identical codes)."""

import pytest
import torch
from engine_models import SHAPES, random_model

from wavegen.engine import ENGINES, build_engine, forward_weights, generate
from wavegen.errors import WavegenError

EVERY = 5  # samples between conditioning changes


def _track(cfg, batch, n_values, seed):
    """n_values random conditionings (n_values, B, C) and the function of the sample index
    that holds each for EVERY samples."""
    conds = torch.rand(n_values, batch, cfg.n_cond, generator=torch.Generator().manual_seed(seed))
    return conds, lambda t: conds[min(t // EVERY, n_values - 1)]


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("cfg", SHAPES)
def test_teacher_forced_logits_follow_the_changing_conditioning(engine, cfg):
    w = random_model(cfg, 11).export_weights()
    T = cfg.receptive_field + 3 * EVERY
    codes = torch.randint(0, cfg.n_classes, (2, T), generator=torch.Generator().manual_seed(2))
    conds, at = _track(cfg, 2, 4, 3)
    expected = forward_weights(w, codes, torch.stack([at(t) for t in range(T)], 1))
    eng = build_engine(w, conds[0], engine)
    got = []
    with torch.inference_mode():
        for t in range(T):
            if t % EVERY == 0:
                eng.set_cond(at(t))
            got.append(eng.step(codes[:, t]))
    err = (torch.stack(got, 2) - expected).abs().max().item()
    assert err < 1e-4, f"{engine}: max |logit error| {err}"
    # A single conditioning changes nothing: the constant path is the (B, C) forward.
    assert torch.allclose(forward_weights(w, codes, conds[0]),
                          forward_weights(w, codes, conds[0][:, None].expand(-1, T, -1)),
                          atol=1e-6)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("kw", [{}, {"temperature": 0.7, "top_p": 0.8}, {"guidance": 2.5}])
def test_sampled_codes_equal_the_reference_under_changing_conditioning(engine, kw):
    cfg = SHAPES[0]
    w = random_model(cfg, 12).export_weights()
    conds, at = _track(cfg, 2, 5, 4)
    n = 4 * EVERY + 3
    u = torch.rand(2, n, generator=torch.Generator().manual_seed(6))
    ref = generate(w, conds[0], n, engine="reference", uniforms=u, cond_at=at,
                   control_every=EVERY, **kw)
    got = generate(w, conds[0], n, engine=engine, uniforms=u, cond_at=at, control_every=EVERY,
                   chunk_size=7, **kw)  # chunks and control blocks cut at different places
    assert torch.equal(got, ref)
    fixed = generate(w, conds[0], n, engine="reference", uniforms=u, **kw)
    assert not torch.equal(fixed, ref)  # the changes did reach the samples


@pytest.mark.parametrize("value, message", [
    (torch.zeros(3, SHAPES[0].n_cond), "must have shape"),
    (torch.zeros(2, SHAPES[0].n_cond + 1), "must have shape"),
    (torch.full((2, SHAPES[0].n_cond), float("nan")), "holds inf or NaN"),
    (torch.full((2, SHAPES[0].n_cond), float("inf")), "holds inf or NaN"),
    ([[0.0]], "must have shape"),
])
def test_a_bad_conditioning_value_is_refused(value, message):
    cfg = SHAPES[0]
    with pytest.raises(WavegenError, match=f"conditioning at sample 0 {message}"):
        generate(random_model(cfg, 0), torch.zeros(2, cfg.n_cond), 8, engine="cached",
                 cond_at=lambda t: value)
    with pytest.raises(WavegenError, match="control_every must be >= 1"):
        generate(random_model(cfg, 0), torch.zeros(2, cfg.n_cond), 8, control_every=0,
                 cond_at=lambda t: value)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_sampling_settings_that_move_give_the_reference_codes(engine):
    """Temperature, top-p and guidance changing every EVERY samples, guidance passing through
    1 on a guided engine: the same codes as the reference."""
    cfg = SHAPES[0]
    w = random_model(cfg, 13).export_weights()
    conds, at = _track(cfg, 2, 5, 7)
    settings = [(1.0, 1.0, 1.0), (0.7, 0.9, 2.5), (1.3, 0.6, 1.0), (0.9, 1.0, 4.0)]
    sampling_at = lambda t: settings[min(t // EVERY, len(settings) - 1)]  # noqa: E731
    n = 4 * EVERY + 2
    u = torch.rand(2, n, generator=torch.Generator().manual_seed(8))
    kw = {"uniforms": u, "cond_at": at, "sampling_at": sampling_at, "guided": True,
          "control_every": EVERY}
    ref = generate(w, conds[0], n, engine="reference", **kw)
    assert torch.equal(generate(w, conds[0], n, engine=engine, chunk_size=7, **kw), ref)
    # The settings do reach the samples: fixed ones give other codes.
    assert not torch.equal(generate(w, conds[0], n, engine="reference", uniforms=u,
                                    cond_at=at, control_every=EVERY), ref)


@pytest.mark.parametrize("bad, message", [
    ((0.0, 1.0, 1.0), "temperature must be"), ((1.0, 0.0, 1.0), "top_p must be"),
    ((1.0, 1.0, float("nan")), "guidance must be"),
    ((1.0, 1.0, 2.0), "guidance 2.0 at sample 0 needs guided=True"),
])
def test_bad_moving_sampling_settings_are_refused(bad, message):
    cfg = SHAPES[0]
    with pytest.raises(WavegenError, match=message):
        generate(random_model(cfg, 0), torch.zeros(2, cfg.n_cond), 8, engine="cached",
                 sampling_at=lambda t: bad)
