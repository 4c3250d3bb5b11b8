"""Local conditioning (a plan of per-frame gate biases) in every engine: teacher-forced logits
within 1e-4 of the parallel forward with the same table, and sampled codes identical to the
reference engine's from the same uniforms, on fresh random weights and tables. Hops 1, 3, 7
and 160 do not align with the chunk sizes or control blocks, so frames change inside chunks.
Deliberately wrong engines (a frame late, the table ignored) fail the same assertions."""

from functools import cache

import pytest
import torch
from engine_models import SHAPES, random_model, random_plan

from wavegen.audio import silence_code
from wavegen.engine import ENGINES, FusedEngine, build_engine, forward_weights, generate
from wavegen.engine.cached import CachedEngine
from wavegen.engine.cpu import CpuEngine
from wavegen.engine.graph import GraphEngine
from wavegen.engine.local import local_positions
from wavegen.engine.sampling import guided_step, sample_from_logits
from wavegen.models.weights import LocalBias

HOPS = [1, 3, 7, 160]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Per-sample torch ops are tiny: one intra-op thread (two spin against other work)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_teacher_forced(make, w, cond, codes, plan):
    """Teacher-force codes (B, T) through ``make(w, cond, plan)``: logits within 1e-4 of the
    parallel forward with the plan's bias at every position."""
    eng = make(w, cond, plan)
    with torch.inference_mode():
        got = torch.stack([eng.step(codes[:, t]) for t in range(codes.shape[1])], 2)
    expected = forward_weights(w, codes, cond, local_positions(plan, codes.shape[1]))
    err = (got - expected).abs().max().item()
    assert err < 1e-4, f"max |logit error| {err}"


def _case(hop, seed):
    """Weights, conditioning, codes and a plan: the shape and batch (1 or 3) vary with hop."""
    i = HOPS.index(hop)
    cfg, batch = SHAPES[i % 2], (1, 3)[i // 2 % 2]
    w = random_model(cfg, seed).export_weights()
    T = cfg.receptive_field + hop + 20  # past a frame boundary, every queue wrapped
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, cfg.n_classes, (batch, T), generator=gen)
    cond = torch.rand(batch, cfg.n_cond, generator=gen)
    return cfg, w, cond, codes, random_plan(cfg, batch, T, hop, seed, spare_frames=1)


def _registered(name):
    return lambda w, cond, plan: build_engine(w, cond, name, local=plan)


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("hop", HOPS)
def test_teacher_forced_logits_with_a_plan_equal_the_parallel_forward(engine, hop):
    cfg, w, cond, codes, plan = _case(hop, 31)
    assert_teacher_forced(_registered(engine), w, cond, codes, plan)
    # The plan matters: without it the logits are far from these.
    with_plan = forward_weights(w, codes, cond, local_positions(plan, codes.shape[1]))
    assert (with_plan - forward_weights(w, codes, cond)).abs().max() > 0.1


def test_a_constant_plan_is_a_gate_bias():
    """forward_weights' local term is a gate bias: a one-frame plan equals moving dil_bias."""
    cfg = SHAPES[0]
    w = random_model(cfg, 32).export_weights()
    codes = torch.randint(0, cfg.n_classes, (1, 50))
    cond = torch.rand(1, cfg.n_cond)
    plan = random_plan(cfg, 1, 50, 50, 3)
    moved = type(w)(**{**vars(w), "dil_bias": w.dil_bias + plan.table[0, 0]})
    err = forward_weights(moved, codes, cond) - forward_weights(
        w, codes, cond, local_positions(plan, 50))
    assert err.abs().max() < 1e-5


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_zero_plan_changes_no_logit(engine):
    """Adding zeros is exact: an all-zero plan gives bit-identical logits to no plan."""
    cfg, w, cond, codes, plan = _case(3, 33)
    zero = LocalBias(torch.zeros_like(plan.table), plan.hop)
    with torch.inference_mode():
        plain, zeroed = build_engine(w, cond, engine), build_engine(w, cond, engine, local=zero)
        for t in range(codes.shape[1]):
            assert torch.equal(plain.step(codes[:, t]), zeroed.step(codes[:, t])), t


class LateCached(CachedEngine):
    """Wrong on purpose: reads frame (n + 1) // hop."""

    def _frame(self):
        return self.local.frame(self.t + 1)


class DeafCached(CachedEngine):
    """Wrong on purpose: ignores the plan."""

    def _frame(self):
        return None


class LateGraph(GraphEngine):
    """Wrong on purpose: picks frame (pos + 1) // hop on the device."""

    def _frame(self):
        return self.local_table.index_select(1, torch.div(self.pos + 1, self.hop,
                                                          rounding_mode="floor"))[:, 0]


def _shifted(plan):
    """The plan one frame early: what an engine reading frame n // hop + 1 sees."""
    return LocalBias(torch.cat([plan.table[:, 1:], plan.table[:, -1:]], 1), plan.hop)


class LateCpu(CpuEngine):
    """Wrong on purpose: the kernel reads one frame ahead (its copy shifted by a frame)."""

    def _keep_local(self, plan):
        super()._keep_local(plan and _shifted(plan))


class DeafCpu(CpuEngine):
    """Wrong on purpose: keeps a table of zeros."""

    def _keep_local(self, plan):
        super()._keep_local(plan and LocalBias(torch.zeros_like(plan.table), plan.hop))


MUTANTS = [LateCached, DeafCached, LateGraph, LateCpu, DeafCpu]


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("hop", [3, 7])
def test_wrong_engines_fail_the_teacher_forced_check(mutant, hop):
    cfg, w, cond, codes, plan = _case(hop, 34)
    with pytest.raises(AssertionError, match="logit error"):
        assert_teacher_forced(mutant, w, cond, codes, plan)


# Generation settings, each with its hop, batch, samples, chunk size and control block:
# guidance, primers, morphs and moving sampling settings, alone and together.
SCENARIOS = {
    "plain": (3, 1, 60, {"chunk_size": 7}),
    "guided": (7, 2, 60, {"guidance": 2.5, "top_p": 0.9, "chunk_size": 11}),
    "primer": (160, 2, 160, {"primer": 40, "chunk_size": 50}),  # frame 1 from sample 120
    "morph": (3, 2, 50, {"cond_at": True, "guidance": 2.0, "control_every": 5,
                         "chunk_size": 7}),
    "sampling": (1, 1, 50, {"sampling_at": True, "guided": True, "control_every": 5,
                            "chunk_size": 7}),
    "together": (7, 3, 50, {"primer": 13, "cond_at": True, "sampling_at": True,
                            "guided": True, "control_every": 4, "chunk_size": 9}),
}
SETTINGS = [(1.0, 1.0, 1.0), (0.7, 0.9, 2.5), (1.3, 0.6, 1.0), (0.9, 1.0, 4.0)]


def _generate(engine, scenario, plan_of=None):
    """Codes of ``engine`` in a scenario, with its plan (``plan_of(plan)`` replaces it)."""
    hop, batch, n, kw = SCENARIOS[scenario]
    cfg = SHAPES[0]
    w = random_model(cfg, 35).export_weights()
    gen = torch.Generator().manual_seed(hop)
    kw = dict(kw)
    P = kw.pop("primer", 0)
    if P:
        kw["primer"] = torch.randint(0, cfg.n_classes, (batch, P), generator=gen)
    conds = torch.rand(6, batch, cfg.n_cond, generator=gen)
    if kw.pop("cond_at", False):
        kw["cond_at"] = lambda t: conds[min(t // 5, 5)]
    if kw.pop("sampling_at", False):
        kw["sampling_at"] = lambda t: SETTINGS[min(t // 6, len(SETTINGS) - 1)]
    u = torch.rand(batch, n, generator=gen)
    plan = random_plan(cfg, batch, P + n, hop, 36)
    plan = plan if plan_of is None else plan_of(plan)
    return generate(w, conds[0], n, engine=engine, uniforms=u, local=plan, **kw)


@cache
def _reference(scenario):
    return _generate("reference", scenario)


def assert_same_codes(engine, scenario, plan_of=None):
    ref = _reference(scenario)
    got = _generate(engine, scenario, plan_of)
    mismatch = (got != ref).nonzero()
    assert mismatch.numel() == 0, f"{engine} differs from the reference first at {mismatch[0]}"
    return ref


@pytest.mark.parametrize("engine", sorted(set(ENGINES) - {"reference"}))
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_sampled_codes_with_a_plan_equal_the_reference(engine, scenario):
    ref = assert_same_codes(engine, scenario)
    assert len(set(ref.flatten().tolist())) > 10  # really sampling
    zero = lambda p: LocalBias(torch.zeros_like(p.table), p.hop)  # noqa: E731
    assert not torch.equal(_generate("reference", scenario, zero), ref)  # the plan reached it


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.__name__)
def test_wrong_engines_fail_the_sampling_check(mutant, monkeypatch):
    monkeypatch.setitem(ENGINES, "mutant", mutant)
    with pytest.raises(AssertionError, match="differs from the reference"):
        assert_same_codes("mutant", "guided")


def test_the_first_generated_sample_reads_the_frame_after_the_primer():
    """Primer steps consume frames from step 0 (its first input, silence, is step 0): the
    continuation is what the parallel forward over silence, primer and continuation gives
    with the plan read from position 0."""
    cfg = SHAPES[0]
    w = random_model(cfg, 37).export_weights()
    hop, P, n = 5, 20, 30  # the primer takes frames 0..3 exactly
    cond = torch.rand(2, cfg.n_cond)
    primer = torch.randint(0, cfg.n_classes, (2, P))
    u = torch.rand(2, n, generator=torch.Generator().manual_seed(1))
    plan = random_plan(cfg, 2, P + n, hop, 2)
    codes = generate(w, cond, n, engine="cpu", uniforms=u, primer=primer, local=plan)
    inputs = torch.cat([torch.full((2, 1), silence_code()), primer, codes[:, :-1]], 1)
    logits = forward_weights(w, inputs, cond, local_positions(plan, P + n))[:, :, P:]
    again = torch.stack([sample_from_logits(logits[:, :, t], u[:, t]) for t in range(n)], 1)
    assert torch.equal(codes, again)


def _set_local_run(eng, plan2, u, k, guided):
    """Sample u's first k steps, switch to plan2, sample the rest: codes (Bs, n)."""
    def block(prev, ub):
        if isinstance(eng, FusedEngine):
            return eng.run(prev, ub, 1.0, 0.9, 2.0 if guided else 1.0)
        out = []
        for t in range(ub.shape[1]):
            prev = guided_step(eng.step, prev, ub[:, t], 1.0, 0.9, 2.0 if guided else 1.0)
            out.append(prev)
        return torch.stack(out, 1)

    prev = torch.full((u.shape[0],), silence_code(), dtype=torch.long)
    with torch.inference_mode():
        first = block(prev, u[:, :k])
        eng.set_local(plan2.repeat_rows() if guided else plan2)
        return torch.cat([first, block(first[:, -1], u[:, k:])], 1)


def _switch_case(longer):
    """Weights, conditioning, two plans (the second longer or not) and uniforms."""
    cfg = SHAPES[0]
    w = random_model(cfg, 38).export_weights()
    n, gen = cfg.receptive_field + 40, torch.Generator().manual_seed(3)
    cond = torch.rand(2, cfg.n_cond, generator=gen)
    plan1 = random_plan(cfg, 2, n, 7, 4)
    plan2 = random_plan(cfg, 2, n, 7, 5, spare_frames=3 if longer else 0)
    return cfg, w, cond, plan1, plan2, torch.rand(2, n, generator=gen)


@cache
def _switched(name, longer, guided):
    """Codes of engine ``name`` switching plans at step 30 (inside a frame of 7)."""
    cfg, w, cond, plan1, plan2, u = _switch_case(longer)
    rows = torch.cat([cond, torch.zeros_like(cond)]) if guided else cond
    eng = build_engine(w, rows, name, local=plan1.repeat_rows() if guided else plan1)
    return _set_local_run(eng, plan2, u, 30, guided)


@pytest.mark.parametrize("engine", sorted(set(ENGINES) - {"reference"}))
@pytest.mark.parametrize("longer", [False, True], ids=["same-length", "longer"])
def test_set_local_mid_stream(engine, longer):
    """A plan replaced while generating (the same length, or extended): the later steps read
    the new frames, exactly as in the reference engine; teacher-forced logits follow the
    parallel forward with the old frames before the switch and the new ones after."""
    for guided in (False, True):
        assert torch.equal(_switched(engine, longer, guided),
                           _switched("reference", longer, guided)), guided
    cfg, w, cond, plan1, plan2, u = _switch_case(longer)
    n, k = u.shape[1], 30
    codes = torch.randint(0, cfg.n_classes, (2, n))
    positions = torch.cat([local_positions(plan1, k), local_positions(plan2, n - k, k)], 1)
    expected = forward_weights(w, codes, cond, positions)
    eng = build_engine(w, cond, engine, local=plan1)
    with torch.inference_mode():
        got = [eng.step(codes[:, t]) for t in range(k)]
        eng.set_local(plan2)
        got += [eng.step(codes[:, t]) for t in range(k, n)]
    assert (torch.stack(got, 2) - expected).abs().max() < 1e-4


def test_a_plan_given_to_an_engine_built_without_one():
    """Steps before set_local had no local bias; the reference keeps them so (zeros)."""
    cfg = SHAPES[0]
    w = random_model(cfg, 39).export_weights()
    n, k = 60, 23
    codes = torch.randint(0, cfg.n_classes, (1, n))
    cond = torch.rand(1, cfg.n_cond)
    plan = random_plan(cfg, 1, n, 3, 6)
    positions = local_positions(plan, n).clone()
    positions[:, :k] = 0
    expected = forward_weights(w, codes, cond, positions)
    for name in sorted(ENGINES):
        eng = build_engine(w, cond, name)
        with torch.inference_mode():
            got = [eng.step(codes[:, t]) for t in range(k)]
            eng.set_local(plan)
            got += [eng.step(codes[:, t]) for t in range(k, n)]
        assert (torch.stack(got, 2) - expected).abs().max() < 1e-4, name


@pytest.mark.parametrize("threads,split", [(1, 1), (2, 1), (2, 2), (1, 3)])
@pytest.mark.parametrize("batch", [1, 3])
def test_cpu_threads_and_splits_with_a_plan(threads, split, batch):
    cfg = SHAPES[1]
    w = random_model(cfg, 40).export_weights()
    hop, n = 7, cfg.receptive_field + 30
    gen = torch.Generator().manual_seed(batch)
    cond = torch.rand(batch, cfg.n_cond, generator=gen)
    codes = torch.randint(0, cfg.n_classes, (batch, n), generator=gen)
    plan = random_plan(cfg, batch, n, hop, 7)
    make = lambda w_, c_, p_: CpuEngine(w_, c_, p_, threads=threads, split=split)  # noqa: E731
    assert_teacher_forced(make, w, cond, codes, plan)
    u = torch.rand(batch, n, generator=gen)
    prev = torch.full((batch,), silence_code(), dtype=torch.long)
    both = torch.cat([cond, torch.zeros_like(cond)])
    ref = build_engine(w, both, "reference", local=plan.repeat_rows())
    want = []
    with torch.inference_mode():
        for t in range(n):
            want.append(guided_step(ref.step, want[-1] if want else prev, u[:, t], 0.9, 0.9,
                                    2.0))
    eng = make(w, both, plan.repeat_rows())
    first = eng.run(prev, u[:, :17], 0.9, 0.9, 2.0)  # a chunk boundary inside a frame
    got = torch.cat([first, eng.run(first[:, -1], u[:, 17:], 0.9, 0.9, 2.0)], 1)
    assert torch.equal(got, torch.stack(want, 1))


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_a_float64_plan_is_read_as_float32(engine):
    cfg, w, cond, codes, plan = _case(7, 41)
    wide = LocalBias(plan.table.double(), plan.hop)
    with torch.inference_mode():
        a, b = build_engine(w, cond, engine, local=plan), build_engine(w, cond, engine, local=wide)
        for t in range(codes.shape[1]):
            assert torch.equal(a.step(codes[:, t]), b.step(codes[:, t])), t
