"""Bad local conditioning is one clear WavegenError, in every engine and at the front door:
bad hops, tables of the wrong shape, type or device, inf and NaN, plans too short for the
request, and steps past the plan's end."""

import pytest
import torch
from engine_models import SHAPES, random_model, random_plan

from wavegen.engine import (
    ENGINES,
    FusedEngine,
    build_engine,
    generate,
    stream,
    teacher_forced_logits,
)
from wavegen.errors import WavegenError
from wavegen.models.weights import LocalBias

CFG = SHAPES[0]
L, G = CFG.n_layers, CFG.gate_channels


@pytest.fixture(scope="module")
def w():
    return random_model(CFG, 50).export_weights()


@pytest.mark.parametrize("hop", [0, -1, 1.5, True, "3", None])
def test_a_bad_hop_is_refused(hop):
    with pytest.raises(WavegenError, match="hop must be an integer >= 1"):
        LocalBias(torch.zeros(1, 2, L, G), hop)


@pytest.mark.parametrize("table, message", [
    (torch.zeros(4, L, G), "table must be a .batch, frames, layers, gate. tensor"),
    (torch.zeros(1, 2, 4, L, G), "table must be a .batch, frames, layers, gate. tensor"),
    (torch.zeros(1, 0, L, G), "has no frames"),
    ([[0.0]], "table must be a"),
    (None, "table must be a"),
])
def test_a_table_that_is_no_plan_is_refused(table, message):
    with pytest.raises(WavegenError, match=message):
        LocalBias(table, 3)


def _nan(t):
    t[0, 1, 2, 3] = float("nan")
    return t


def _inf(sign):
    def put(t):
        t[0, 0, 0, 0] = sign * float("inf")
        return t
    return put


BAD_PLANS = {  # a plan for 2 rows of CFG, changed; the message the engines give
    "rows": (lambda: LocalBias(torch.zeros(3, 4, L, G), 3), "has shape .3, 4, 6, 12."),
    "layers": (lambda: LocalBias(torch.zeros(2, 4, L + 1, G), 3), r"expected \(batch 2"),
    "gate": (lambda: LocalBias(torch.zeros(2, 4, L, G // 2), 3), "gate 12"),
    "nan": (lambda: LocalBias(_nan(torch.zeros(2, 4, L, G)), 3), "holds inf or NaN"),
    "inf": (lambda: LocalBias(_inf(1)(torch.zeros(2, 4, L, G)), 3), "holds inf or NaN"),
    "-inf": (lambda: LocalBias(_inf(-1)(torch.zeros(2, 4, L, G)), 3), "holds inf or NaN"),
    "nan-bf16": (lambda: LocalBias(_nan(torch.zeros(2, 4, L, G, dtype=torch.bfloat16)), 3),
                 "holds inf or NaN"),  # tested by torch, not numpy
    "inf-f64": (lambda: LocalBias(_inf(1)(torch.zeros(2, 4, L, G, dtype=torch.float64)), 3),
                "holds inf or NaN"),
    "ints": (lambda: LocalBias(torch.zeros(2, 4, L, G, dtype=torch.long), 3), "must be float"),
    "meta": (lambda: LocalBias(torch.zeros(2, 4, L, G, device="meta"), 3),
             "is on meta, the engine runs on cpu: move it"),
    "tensor": (lambda: torch.zeros(2, 4, L, G), "must be a LocalBias"),
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("bad", sorted(BAD_PLANS))
def test_a_bad_plan_is_refused_by_every_engine(w, engine, bad):
    make, message = BAD_PLANS[bad]
    cond = torch.rand(2, CFG.n_cond)
    with pytest.raises(WavegenError, match=message):
        build_engine(w, cond, engine, local=make())
    eng = build_engine(w, cond, engine, local=random_plan(CFG, 2, 12, 3, 1))
    with pytest.raises(WavegenError, match=message):
        eng.set_local(make())


@pytest.mark.parametrize("bad", sorted(BAD_PLANS))
def test_a_bad_plan_is_refused_at_the_front_door(w, bad):
    make, message = BAD_PLANS[bad]
    cond = torch.rand(2, CFG.n_cond)
    with pytest.raises(WavegenError, match=message):
        generate(w, cond, 12, engine="cached", local=make())
    with pytest.raises(WavegenError, match=message):  # guided: checked for the B rows asked
        generate(w, cond, 12, engine="cpu", guidance=2.0, local=make())
    with pytest.raises(WavegenError, match=message):
        teacher_forced_logits(w, cond, torch.zeros(2, 12, dtype=torch.long), "cpu",
                              local=make())


@pytest.mark.parametrize("primer", [0, 5])
def test_a_plan_shorter_than_primer_and_samples_is_refused_before_any_sample(w, primer):
    cond = torch.rand(2, CFG.n_cond)
    plan = random_plan(CFG, 2, 30, 4, 2)  # 8 frames of 4: 32 steps
    kw = {"primer": torch.zeros(2, primer, dtype=torch.long)} if primer else {}
    chunks = stream(w, cond, 33 - primer, engine="cpu", local=plan, chunk_size=4, **kw)
    with pytest.raises(WavegenError, match=f"the plan covers 32 samples .8 frames of 4. but "
                       f"the primer .{primer}. and the samples .{33 - primer}. take 33 steps"):
        next(chunks)
    assert generate(w, cond, 32 - primer, engine="cpu", local=plan, **kw).shape[1] == 32 - primer
    with pytest.raises(WavegenError, match="the 33 codes take 33 steps"):
        teacher_forced_logits(w, cond, torch.zeros(2, 33, dtype=torch.long), "cached",
                              local=plan)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_stepping_past_the_plan_is_refused(w, engine):
    cond = torch.rand(2, CFG.n_cond)
    plan = random_plan(CFG, 2, 9, 3, 3)  # 3 frames of 3: 9 steps
    past = "the plan covers 9 samples .3 frames of 3.; step 9 is past its end"
    eng = build_engine(w, cond, engine, local=plan)
    with torch.inference_mode():
        for _ in range(9):
            eng.step(torch.zeros(2, dtype=torch.long))
        with pytest.raises(WavegenError, match=past):
            eng.step(torch.zeros(2, dtype=torch.long))
        eng.set_local(random_plan(CFG, 2, 12, 3, 4))  # extended: the next steps go on
        eng.step(torch.zeros(2, dtype=torch.long))
    if isinstance(eng, FusedEngine):  # a chunk or a primer that would run past the end
        for call in (lambda e: e.run(torch.zeros(2, dtype=torch.long), torch.rand(2, 10)),
                     lambda e: e.feed(torch.zeros(2, 10, dtype=torch.long))):
            fresh = build_engine(w, cond, engine, local=plan)
            with pytest.raises(WavegenError, match=past):
                call(fresh)


def test_units_need_a_model_with_a_frame_network(w):
    cond = torch.rand(2, CFG.n_cond)
    units = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(WavegenError, match="units= needs the model"):
        generate(w, cond, 8, units=units)
    with pytest.raises(WavegenError, match="needs a model with local conditioning"):
        generate(random_model(CFG, 0), cond, 8, units=units)
    with pytest.raises(WavegenError, match="not both"):
        teacher_forced_logits(w, cond, torch.zeros(2, 8, dtype=torch.long), units=units,
                              local=random_plan(CFG, 2, 8, 2, 0))
