"""``wavegen live`` with a two-level model, without a browser: the planner writes the take's plan
ahead of the renderer, the controls reach both, and a recording (automation and plan) renders
back through ``wavegen synth --plan`` sample for sample."""

import json

import aiohttp
import numpy as np
import soundfile as sf
import torch
from test_live_server import RATE, _connect, run

from wavegen.live import start_live
from wavegen.live.plan_ahead import PlanAhead
from wavegen.models.two_level import TwoLevel, load_generator
from wavegen.models.wavenet import PLAN_BLOCK
from wavegen.synth import condition_vector, synthesize
from wavegen.units.plan import read_plan


def test_a_plan_grown_while_playing_is_the_plan_computed_at_once(two_level):
    """The table handed to the engine block by block equals the frame network's table of the
    whole plan (the frames it holds), so a take renders as its plan does in synth."""
    two = load_generator(two_level["two"])
    assert isinstance(two, TwoLevel)
    cond = condition_vector("rock", two.vocab, two.label_kind)
    plan = PlanAhead(two, lambda: cond, lambda: (1.0, 1.0, 1.0), seed=3, guided=False)
    tables = [plan.local_at(0)]
    for sample in range(400, 40000, 400):
        grown = plan.local_at(sample)
        if grown is not None:
            tables.append(grown)
    assert len(tables) > 5  # it grew while playing, a little ahead of the blocks
    last = tables[-1]
    assert last.n_samples >= 40000 and last.n_frames % PLAN_BLOCK == 0
    assert plan.units.shape[1] >= last.n_frames + plan.ctx  # its look-ahead was planned
    whole = two.renderer.local_bias(plan.units).table[:, :last.n_frames]
    assert torch.equal(last.table, whole)
    for early in tables:  # frames already handed over never change
        assert torch.equal(early.table, last.table[:, :early.n_frames])


def test_a_two_level_take_plays_steers_and_renders_back(two_level, tmp_path):
    server = start_live(two_level["two"], port=0, genre="jazz")
    try:
        async def go():
            async with aiohttp.ClientSession() as s:
                client, hello = await _connect(s, server)
                assert hello["rate"] == RATE and hello["guided"] is True
                await client.send({"type": "seed", "seed": 5})
                await client.pump(lambda c: c.take == hello["take"] + 1
                                  and c.samples() >= 4000)
                for k, change in enumerate([{"weights": {"rock": 1}}, {"temperature": 1.4},
                                            {"guidance": 4}]):
                    await client.send({"type": "controls", "id": k, **change})
                    await client.pump(lambda c, k=k: any(
                        e["type"] == "applied" and e["id"] == k for e in c.events))
                    n = client.samples()
                    await client.pump(lambda c, n=n: c.samples() >= n + 2000)
                n = client.samples() - 77
                await client.send({"type": "record", "take": client.take, "samples": n})
                await client.pump(lambda c: c.events[-1]["type"] == "recording")
                return client, client.events[-1]

        client, rec = run(go())
    finally:
        server.stop()
    assert client.errors() == []
    auto, plan = tmp_path / "take.json", tmp_path / "take.plan.json"
    auto.write_text(json.dumps(rec["automation"]))
    plan.write_text(json.dumps(rec["plan"]))
    two = load_generator(two_level["two"])
    assert isinstance(two, TwoLevel)
    # The frames of the recorded samples and the frames their biases looked ahead to.
    ctx = two.renderer.cfg.unit_context
    assert read_plan(plan).n_frames == -(-rec["samples"] // 160) + ctx
    out = tmp_path / "render.wav"
    synthesize(None, rec["seconds"], out=out, model=two_level["two"], automation=auto,
               plan_in=plan, seed=5, threads=1)
    rendered, rate = sf.read(out, dtype="int16")
    played = np.concatenate(client.audio[client.take])[:rec["samples"]]
    assert rate == RATE and len(rendered) == rec["samples"] >= 10000 - 77
    np.testing.assert_array_equal(rendered, played)
