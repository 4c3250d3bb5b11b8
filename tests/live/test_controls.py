"""The live controls: every bad value refused with a message, and a take's control log written
as an automation file that synth reads back to the same controls at every block, bit for bit."""

import json
import math
import random

import pytest
import torch

from wavegen.automation import Automation, load_automation
from wavegen.errors import WavegenError
from wavegen.live.controls import (
    ControlLog,
    Controls,
    apply_change,
    condition_of,
    initial_controls,
)
from wavegen.synth import condition_vector

GENRES = ["blues", "jazz", "rock"]
TAGS = ["guitar", "piano", "fast"]
START = Controls((("rock", 1.0),), 0.9, 0.9, 8.0)

BAD_CHANGES = [
    ({"weights": []}, "weights must be an object"),
    ({"weights": "rock"}, "weights must be an object"),
    ({"weights": {}}, "weights must be an object"),
    ({"weights": None}, "weights must be an object"),
    ({"weights": {"polka": 1}}, "unknown genre 'polka'"),
    ({"weights": {"": 1}}, "unknown genre ''"),
    ({"weights": {"rock\u0000": 1}}, "unknown genre"),
    ({"weights": {"rock": -1}}, "must be >= 0"),
    ({"weights": {"rock": -0.0, "jazz": 0}}, "all genre weights are zero"),
    ({"weights": {"rock": 0}}, "all genre weights are zero"),
    ({"weights": {"rock": math.nan}}, "finite"),
    ({"weights": {"rock": math.inf}}, "finite"),
    ({"weights": {"rock": "1"}}, "must be a number"),
    ({"weights": {"rock": True}}, "must be a number"),
    ({"weights": {"rock": None}}, "must be a number"),
    ({"weights": {"rock": [1]}}, "must be a number"),
    ({"weights": {"rock": 1e308, "jazz": 1e308}}, "too large"),
    ({"weights": {f"g{i}": 1 for i in range(1001)}}, "weights must be an object"),
    ({"temperature": 0}, "temperature must be a finite number > 0"),
    ({"temperature": -1}, "temperature must be a finite number > 0"),
    ({"temperature": math.inf}, "finite"),
    ({"temperature": math.nan}, "finite"),
    ({"temperature": "0.9"}, "temperature must be a number"),
    ({"temperature": None}, "temperature must be a number"),
    ({"temperature": False}, "temperature must be a number"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"top_p": -0.1}, "top_p"),
    ({"guidance": -1}, "guidance"),
    ({"guidance": math.inf}, "finite"),
    ({"guidance": {}}, "guidance must be a number"),
    ({"volume": 1}, "unknown control(s) volume"),
    ({"weights": {"rock": 1}, "seed": 3}, "unknown control(s) seed"),
]


@pytest.mark.parametrize("change,message", BAD_CHANGES,
                         ids=[str(i) for i in range(len(BAD_CHANGES))])
def test_bad_changes_are_refused_with_a_message(change, message):
    with pytest.raises(WavegenError, match=None) as err:
        apply_change(START, change, GENRES, "utt2genre", guided=True)
    assert message in str(err.value)


def test_guidance_needs_a_model_that_can_guide():
    with pytest.raises(WavegenError, match="trained without conditioning dropout"):
        apply_change(START, {"guidance": 2}, GENRES, "utt2genre", guided=False)
    same = apply_change(START, {"guidance": 1}, GENRES, "utt2genre", guided=False)
    assert same.guidance == 1.0


def test_weights_become_a_convex_mix_in_vocabulary_order():
    out = apply_change(START, {"weights": {"rock": 2, "blues": 2, "jazz": 0}}, GENRES,
                       "utt2genre", guided=True)
    assert out.mix == (("blues", 0.5), ("rock", 0.5))
    assert out.settings() == START.settings()
    assert torch.equal(condition_of(out, GENRES, "utt2genre"), torch.tensor([0.5, 0, 0.5]))


def test_a_tag_model_takes_the_tags_with_a_weight():
    start = initial_controls(TAGS, "utt2tags", {}, "piano")
    out = apply_change(start, {"weights": {"guitar": 1, "fast": 0.3, "piano": 0}}, TAGS,
                       "utt2tags", guided=False)
    assert out.spec("utt2tags") == "guitar,fast"
    assert torch.equal(condition_of(out, TAGS, "utt2tags"), torch.tensor([1.0, 0, 1]))


@pytest.mark.parametrize("label", ["polka", "", "rock,jazz"])
def test_an_unknown_start_label_is_refused(label):
    with pytest.raises(WavegenError, match="unknown genre"):
        initial_controls(GENRES, "utt2genre", {}, label)


def _random_controls(rng: random.Random, vocab, label_kind) -> Controls:
    if rng.random() < 0.3:  # a few values recur, as when a slider comes back
        weights = {vocab[0]: 1}
    else:
        weights = {g: rng.choice([0, rng.random(), 1]) for g in vocab}
        weights[rng.choice(vocab)] = rng.random() + 0.01
    change = {"weights": weights, "temperature": rng.choice([0.9, rng.uniform(0.05, 2)]),
              "top_p": rng.choice([0.9, rng.uniform(0.05, 1)]),
              "guidance": rng.choice([1, 8, rng.uniform(1, 20)])}
    return apply_change(START if label_kind == "utt2genre" else
                        initial_controls(vocab, label_kind, {}), change, vocab, label_kind,
                        guided=True)


@pytest.mark.parametrize("label_kind,vocab", [("utt2genre", GENRES), ("utt2tags", TAGS)])
@pytest.mark.parametrize("seed", range(4))
def test_the_log_reads_back_to_the_same_controls_at_every_block(tmp_path, label_kind, vocab,
                                                                seed):
    rng = random.Random(seed)
    every, rate, blocks = 400, 8000, 300
    log = ControlLog(every, rate)
    truth = []
    controls = _random_controls(rng, vocab, label_kind)
    for k in range(blocks):
        if rng.random() < 0.2:  # changes in consecutive blocks too
            controls = _random_controls(rng, vocab, label_kind)
        log.record(k * every, controls)
        truth.append(controls)
    n = blocks * every - rng.randrange(every)  # a recording ends mid-block
    path = tmp_path / "take.json"
    path.write_text(json.dumps(log.automation(n, label_kind)))
    auto = load_automation(path, lambda s: condition_vector(s, vocab, label_kind,
                                                            label_kind == "utt2tags"),
                           label_kind)
    assert isinstance(auto, Automation) and auto.guided(1.0, can_guide=True)
    for k, want in enumerate(truth):
        t = k * every / rate
        assert torch.equal(auto.cond_at(t), condition_of(want, vocab, label_kind)), k
        got = tuple(auto.setting_at(name, t, -1.0)
                    for name in ("temperature", "top_p", "guidance"))
        assert got == want.settings(), k


def test_the_log_keeps_only_changes_and_refuses_blocks_out_of_order():
    log = ControlLog(400, 8000)
    assert log.record(0, START)
    assert not log.record(400, START)
    with pytest.raises(ValueError):
        log.record(400, START)
    assert log.automation(800, "utt2genre") == {
        "genre": [[0.0, {"rock": 1.0}]], "temperature": [[0.0, 0.9]], "top_p": [[0.0, 0.9]],
        "guidance": [[0.0, 8.0]]}


def test_a_take_of_a_model_that_cannot_guide_renders_without_guidance():
    """The guidance track stays 1, so synth neither guides nor takes a model default."""
    log = ControlLog(400, 8000)
    log.record(0, Controls((("rock", 1.0),), 0.9, 0.9, 1.0))
    auto = log.automation(400, "utt2genre")
    assert auto["guidance"] == [[0.0, 1.0]]
    parsed = Automation([], {"guidance": [(0.0, 1.0)]})
    assert not parsed.guided(8.0, can_guide=False) and parsed.guided(8.0, can_guide=True)
