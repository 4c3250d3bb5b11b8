"""Local conditioning: the frame network, the fused path against the reference with a plan,
the alignment against the exported weights, windows of a plan, and bad plans."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fused_pairs import (
    LOCAL_CONFIGS,
    LOCAL_SHAPES,
    MODES,
    assert_grads_close,
    inputs,
    pair,
    plan,
    run,
)

from wavegen.engine.reference import forward_weights
from wavegen.errors import WavegenError
from wavegen.models import gate
from wavegen.models.io import load_model, model_payload, save_model
from wavegen.models.local import FrameNet
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.models.weights import LocalBias

TINY = LOCAL_CONFIGS["tiny-local"]


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(LOCAL_CONFIGS))
def test_fused_matches_reference_with_a_plan_fp32(name: str, mode: str) -> None:
    """Logits and the gradients of every parameter (the frame network's included) and of
    the global conditioning; hops that do not divide T, offsets, padded frames."""
    cfg = LOCAL_CONFIGS[name]
    fast, ref = pair(cfg, torch.float32, **MODES[mode])
    for batch, length, offset in LOCAL_SHAPES:
        codes, cond, weight = inputs(cfg, batch, length, torch.float32)
        units = plan(cfg, batch, length, offset)
        got, got_grads = run(fast, codes, cond, weight, units, offset)
        want, want_grads = run(ref, codes, cond, weight, units, offset)
        assert got.shape == want.shape == (batch, cfg.n_classes, length)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
        assert any(k.startswith("frame_net.") for k in want_grads)
        assert_grads_close(got_grads, want_grads, rel=1e-4)


@pytest.mark.parametrize("mode", list(MODES))
def test_fused_matches_reference_with_a_plan_fp64_tightly(mode: str) -> None:
    cfg = LOCAL_CONFIGS["wide-local"]
    fast, ref = pair(cfg, torch.float64, **MODES[mode])
    codes, cond, weight = inputs(cfg, 2, 43, torch.float64)
    units = plan(cfg, 2, 43, 2)
    got, got_grads = run(fast, codes, cond, weight, units, 2)
    want, want_grads = run(ref, codes, cond, weight, units, 2)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert_grads_close(got_grads, want_grads, rel=1e-12)
    assert got_grads["frame_net.embed.weight"].abs().max() > 0  # the plan is learned from


def test_gradients_accumulate_over_backward_passes_with_a_plan() -> None:
    fast, ref = pair(TINY, torch.float32)
    codes, cond, weight = inputs(TINY, 4, 15, torch.float32)
    units = plan(TINY, 4, 15, 1)
    grads = []
    for model in (fast, ref):
        model.zero_grad(set_to_none=True)
        for rows in (slice(0, 2), slice(2, 4)):
            (model(codes[rows], cond[rows], units[rows], 1) * weight[rows]).sum().backward()
        grads.append({name: p.grad for name, p in model.named_parameters()})
    assert_grads_close(grads[0], grads[1], rel=1e-4)


def expected_logits(model: WaveNet, codes: torch.Tensor, cond: torch.Tensor,
                    units: torch.Tensor, offset: int) -> torch.Tensor:
    """The engines' reference forward on the exported weights plus the table of
    ``local_bias``, position t reading frame ``offset + t // hop``: the table enters as a
    conditioning that changes over time, ``[cond, one_hot(frame)]``, projected by
    ``[cond_weight, table[b, :, l].T]`` (one row at a time, since the table is per row)."""
    w = model.export_weights()
    table = model.local_bias(units).table  # (B, F, L, G)
    B, T = codes.shape
    frame = F.one_hot(offset + torch.arange(T) // model.cfg.unit_hop, table.shape[1])  # (T, F)
    rows = []
    for b in range(B):
        c = torch.cat([cond[b].expand(T, -1), frame.float()], 1)[None]  # (1, T, C + F)
        cw = torch.cat([w.cond_weight, table[b].permute(1, 2, 0)], 2)  # (L, G, C + F)
        rows.append(forward_weights(dataclasses.replace(w, cond_weight=cw), codes[b:b + 1], c))
    return torch.cat(rows)  # (B, A, T)


def assert_matches_the_engines_rule(model: WaveNet) -> None:
    cfg = model.cfg
    for batch, length, offset in [(2, 23, 0), (1, 17, 2)]:
        codes, cond, _ = inputs(cfg, batch, length, torch.float32)
        units = plan(cfg, batch, length, offset)
        with torch.no_grad():
            got = model(codes, cond, units, offset)
        torch.testing.assert_close(got, expected_logits(model, codes, cond, units, offset),
                                   rtol=0, atol=2e-5)


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_logits_are_the_exported_weights_plus_the_table(impl: str) -> None:
    fast, ref = pair(TINY, torch.float32)
    assert_matches_the_engines_rule(fast.eval() if impl == "fused" else ref.eval())


def test_reading_the_next_frame_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation check: a fused gate that reads frame (t + 1) // hop instead fails the test
    above."""
    def shifted(z: torch.Tensor, bias: torch.Tensor, B: int,
                hop: int) -> tuple[torch.Tensor, torch.Tensor]:
        T = z.shape[0] // B
        frame = ((torch.arange(T) + 1) // hop).clamp(max=bias.shape[0] - 1)
        z.view(T, B, -1).add_(bias[frame])
        s = z.sigmoid_()
        return s, gate._eager_output(s)

    fast, _ = pair(TINY, torch.float32)
    assert_matches_the_engines_rule(fast.eval())
    monkeypatch.setitem(gate._EAGER, "forward", shifted)
    with pytest.raises(AssertionError, match="Tensor-likes are not close"):
        assert_matches_the_engines_rule(fast.eval())


@pytest.mark.parametrize("start, length", [(0, 13), (2, 12), (3, 9), (5, 17), (9, 6)])
def test_a_window_of_a_padded_plan_gives_the_whole_plans_result(start: int,
                                                                 length: int) -> None:
    """A segment from frame ``start``: its window of the plan with ``unit_context`` frames of
    margin, -1 past the plan's ends, gives the logits (and frames) of the whole plan."""
    cfg = TINY
    fast, ref = pair(cfg, torch.float64)
    hop, m = cfg.unit_hop, cfg.unit_context
    assert m == 2
    whole = torch.randint(0, cfg.n_units, (2, 12), generator=torch.Generator().manual_seed(4))
    n = -(-length // hop)
    padded = F.pad(whole, (m, m + n), value=-1)  # frame f of the plan at f + m
    window = padded[:, start:start + n + 2 * m]  # frames start - m .. start + n + m - 1
    codes, cond, _ = inputs(cfg, 2, length, torch.float64)
    for model in (fast, ref):
        with torch.no_grad():
            want = model(codes, cond, F.pad(whole, (0, n), value=-1), start)
            got = model(codes, cond, window, m)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    frames = fast.local_bias(window).table[:, m:m + n]  # (B, n, L, G)
    full = fast.local_bias(F.pad(whole, (0, n), value=-1)).table[:, start:start + n]
    torch.testing.assert_close(frames, full, rtol=0, atol=1e-6)


def test_padding_acts_as_the_convolutions_zero_padding() -> None:
    """The frame network on a plan with -1 frames on both sides equals it on the plan
    alone, and a -1 frame's bias is exactly zero."""
    torch.manual_seed(0)
    net = FrameNet(5, 4, 3, 3, 2, 6).double()
    units = torch.randint(0, 5, (3, 9))
    alone = net(units)  # (B, F, L, G)
    padded = net(F.pad(units, (4, 2), value=-1))
    torch.testing.assert_close(padded[:, 4:-2], alone, rtol=0, atol=1e-12)
    assert torch.equal(padded[:, :4], torch.zeros_like(padded[:, :4]))
    assert padded.shape == (3, 15, 2, 6)


def test_a_fresh_frame_network_starts_small_but_not_silent() -> None:
    torch.manual_seed(0)
    model = WaveNet(dataclasses.replace(TINY, unit_channels=64))
    table = model.local_bias(torch.randint(0, TINY.n_units, (2, 50))).table
    assert 0.01 < table.std().item() < 0.3, table.std().item()


def test_local_bias_is_the_engines_table() -> None:
    model, _ = pair(TINY, torch.float32)
    units = plan(TINY, 2, 20, 0)
    with torch.enable_grad():
        local = model.local_bias(units)
    assert isinstance(local, LocalBias) and local.hop == TINY.unit_hop
    assert local.table.shape == (2, units.shape[1], TINY.n_layers, TINY.gate_channels)
    assert local.table.dtype == torch.float32 and not local.table.requires_grad
    assert torch.equal(local.table[units == -1], torch.zeros_like(local.table[units == -1]))
    local.check(model.export_weights(), 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model.local_bias(units).table.dtype == torch.float32


def test_bf16_autocast_with_a_plan_is_close_to_float32() -> None:
    cfg = LOCAL_CONFIGS["wide-local"]
    for mode in MODES:
        fast, ref = pair(cfg, torch.float32, **MODES[mode])
        codes, cond, _ = inputs(cfg, 3, 40, torch.float32)
        units = plan(cfg, 3, 40, 1)
        target = torch.randint(0, cfg.n_classes, codes.shape,
                               generator=torch.Generator().manual_seed(5))
        grads = []
        for precision in ("float32", "bf16"):
            fast.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = fast(codes, cond, units, 1)
            assert logits.dtype == torch.float32
            F.cross_entropy(logits, target).backward()
            grads.append({"logits": logits.detach(),
                          **{k: p.grad for k, p in fast.named_parameters()}})
        exact, low = grads
        for k, want in exact.items():
            err = ((low[k].float() - want).norm() / want.norm()).item()
            assert err < (0.02 if k == "logits" else 0.3), f"{mode} {k}: {err:.3g}"
        assert (low["logits"] - exact["logits"]).abs().max() > 1e-5  # bf16 really ran


def bad_call(model: WaveNet, plain: WaveNet, case: str) -> None:
    codes, cond, _ = inputs(TINY, 2, 10, torch.float32)  # 10 positions: 3 frames of 4
    good = torch.zeros(2, 3, dtype=torch.long)
    calls = {
        "no units": lambda: model(codes, cond),
        "units to a plain model": lambda: plain(codes, cond, good),
        "too few frames": lambda: model(codes, cond, good[:, :2]),
        "too few frames after the offset": lambda: model(codes, cond, good, 1),
        "another batch": lambda: model(codes, cond, good[:1]),
        "id below -1": lambda: model(codes, cond, good - 2),
        "id K": lambda: model(codes, cond, good + TINY.n_units),
        "float ids": lambda: model(codes, cond, good.float()),
        "int32 ids": lambda: model(codes, cond, good.int()),
        "1-D": lambda: model(codes, cond, good[0]),
        "3-D": lambda: model(codes, cond, good[:, :, None]),
        "no frames": lambda: model(codes, cond, good[:, :0]),
        "a list": lambda: model(codes, cond, good.tolist()),
        "negative offset": lambda: model(codes, cond, good, -1),
        "float offset": lambda: model(codes, cond, good, 0.0),
        "bool offset": lambda: model(codes, cond, good, False),
        "local_bias of a plain model": lambda: plain.local_bias(good),
        "local_bias with id K": lambda: model.local_bias(good + TINY.n_units),
    }
    calls[case]()


BAD = {
    "no units": "conditioned on a plan of 7 units per 4-sample frame: pass units",
    "units to a plain model": r"no local conditioning \(model.n_units 0\): call it without",
    "too few frames": r"units of shape \(2, 2\) do not cover 2 rows of 10 positions from "
                      r"frame 0: need \(batch 2, frames >= 3\)",
    "too few frames after the offset": r"from frame 1: need \(batch 2, frames >= 4\)",
    "another batch": r"units of shape \(1, 3\) do not cover 2 rows",
    "id below -1": r"unit ids must be in \[-1, 7\) \(-1: outside the plan\), got -2..-2",
    "id K": r"unit ids must be in \[-1, 7\).*got 7..7",
    "float ids": "units must be torch.long ids, got torch.float32",
    "int32 ids": "units must be torch.long ids, got torch.int32",
    "1-D": r"units must be \(batch, frames\) with at least one frame, got shape \(3,\)",
    "3-D": r"got shape \(2, 3, 1\)",
    "no frames": r"got shape \(2, 0\)",
    "a list": r"units must be a \(batch, frames\) torch.long tensor, got list",
    "negative offset": "the offset into the plan must be an integer >= 0, got -1",
    "float offset": "must be an integer >= 0, got 0.0",
    "bool offset": "must be an integer >= 0, got False",
    "local_bias of a plain model": "no local conditioning .* takes no plan of units",
    "local_bias with id K": r"unit ids must be in \[-1, 7\)",
}


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_plans_are_refused_clearly(case: str, impl: str) -> None:
    model = WaveNet(TINY, impl=impl)
    plain = WaveNet(dataclasses.replace(TINY, n_units=0), impl=impl)
    with pytest.raises(WavegenError, match=BAD[case]):
        bad_call(model, plain, case)


@pytest.mark.parametrize("field, value, message", [
    ("n_units", -1, "model.n_units must be an integer >= 0, got -1"),
    ("n_units", 2.5, "model.n_units must be an integer >= 0, got 2.5"),
    ("n_units", True, "model.n_units must be an integer >= 0, got True"),
    ("n_units", "256", "model.n_units must be an integer >= 0, got '256'"),
    ("unit_hop", 0, "model.unit_hop must be an integer >= 1, got 0"),
    ("unit_hop", 160.0, "model.unit_hop must be an integer >= 1, got 160.0"),
    ("unit_channels", 0, "model.unit_channels must be an integer >= 1, got 0"),
    ("unit_channels", None, "model.unit_channels must be an integer >= 1, got None"),
    ("unit_layers", -1, "model.unit_layers must be an integer >= 0, got -1"),
    ("unit_kernel", 0, "model.unit_kernel must be an integer >= 1, got 0"),
    ("unit_kernel", 4, r"model.unit_kernel must be odd \(centred on its frame\), got 4"),
    ("unit_kernel", float("nan"), "model.unit_kernel must be an integer >= 1, got nan"),
])
def test_config_rejects_bad_local_fields(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WaveNetConfig(**{field: value})


def test_defaults_and_the_frame_context() -> None:
    cfg = WaveNetConfig()
    assert (cfg.n_units, cfg.unit_hop, cfg.unit_channels, cfg.unit_layers,
            cfg.unit_kernel) == (0, 160, 64, 2, 3)
    assert cfg.unit_context == 2
    assert dataclasses.replace(cfg, unit_layers=3, unit_kernel=5).unit_context == 6
    assert dataclasses.replace(cfg, unit_layers=0).unit_context == 0
    plain = WaveNet(cfg)
    assert plain.frame_net is None
    assert not any(k.startswith("frame_net") for k in plain.state_dict())


def test_model_files_round_trip_a_plan_and_old_files_still_load(tmp_path: Path) -> None:
    model, _ = pair(TINY, torch.float32)
    save_model(tmp_path / "m.pt", model, 8000, ["a", "b", "c"])
    loaded, info = load_model(tmp_path / "m.pt")
    assert info.config == TINY and info.tokenizer is None
    codes, cond, _ = inputs(TINY, 2, 14, torch.float32)
    units = plan(TINY, 2, 14, 0)
    with torch.no_grad():
        assert torch.equal(loaded(codes, cond, units), model.eval()(codes, cond, units))
    # A file written before local conditioning existed: no unit keys in its config.
    plain = WaveNet(dataclasses.replace(TINY, n_units=0))
    payload = model_payload(plain, 8000, ["a", "b", "c"], "utt2genre")
    for key in ("n_units", "unit_hop", "unit_channels", "unit_layers", "unit_kernel"):
        del payload["model_config"][key]
    torch.save(payload, tmp_path / "old.pt")
    old, old_info = load_model(tmp_path / "old.pt")
    assert old_info.config.n_units == 0 and old.frame_net is None


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@CUDA
@pytest.mark.parametrize("mode", list(MODES))
def test_fused_matches_reference_with_a_plan_on_cuda(mode: str) -> None:
    """On CUDA, at a size where the gate runs as compiled loops (``gate.MODE`` auto), in
    float32 without TF32."""
    flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        cfg = LOCAL_CONFIGS["wide-local"]
        fast, ref = (m.cuda() for m in pair(cfg, torch.float32, **MODES[mode]))
        assert 4 * 19003 * cfg.gate_channels >= gate.COMPILE_MIN_ELEMENTS
        for batch, length, offset in [(4, 19003, 3), (2, 301, 1)]:
            codes, cond, weight = (t.cuda() for t in inputs(cfg, batch, length,
                                                            torch.float32))
            units = plan(cfg, batch, length, offset).cuda()
            got, got_grads = run(fast, codes, cond, weight, units, offset)
            want, want_grads = run(ref, codes, cond, weight, units, offset)
            torch.testing.assert_close(got, want, rtol=0, atol=1e-4)
            assert_grads_close(got_grads, want_grads, rel=1e-3)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
