"""The genre-discriminative term: wrong labels, the hinge, what it trains, and the trainer's
use of it (train.discriminative_weight)."""

import math

import pytest
import torch
from tiny_config import write_config

from wavegen.config import load_config
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.train.discriminative import discriminative_loss, other_labels, segment_nll_bits
from wavegen.train.state import init_state
from wavegen.train.trainer import next_batch, nll_bits, train_step, validate_gap


def _eye(rows, n=5):
    return torch.nn.functional.one_hot(torch.tensor(rows), n).float()


def test_a_genre_gets_another_genre_drawn_evenly():
    cond = _eye([2] * 4000)
    other, usable = other_labels(cond, torch.Generator().manual_seed(0))
    assert usable.all() and torch.equal(other.sum(1), torch.ones(4000))
    picked = other.argmax(1)
    assert not (picked == 2).any()
    counts = torch.bincount(picked, minlength=5)
    assert counts[2] == 0 and all(900 < int(counts[k]) < 1100 for k in (0, 1, 3, 4))


def test_null_rows_and_tags():
    """Null rows (conditioning dropout) are left out; multi-hot rows take the next row's
    labels, unless those are their own or null."""
    tags = torch.tensor([[1.0, 1, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0],
                         [0, 1, 1, 0]])
    other, usable = other_labels(tags, torch.Generator().manual_seed(0))
    assert torch.equal(other[0], tags[4]) and torch.equal(other[2], tags[1])
    assert usable.tolist() == [True, False, False, False, True]
    genres = torch.cat([_eye([0, 3], 4), torch.zeros(1, 4)])
    assert other_labels(genres, torch.Generator())[1].tolist() == [True, True, False]


def test_one_label_vocabulary_has_no_wrong_label():
    other, usable = other_labels(torch.ones(3, 1), torch.Generator().manual_seed(1))
    assert not usable.any() and other.shape == (3, 1)


def test_draws_follow_the_generator_whatever_the_rows():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    other_labels(torch.zeros(6, 4), g1)  # all null: nothing usable, still 6 draws
    other_labels(_eye([0, 1, 2, 3, 0, 1], 4), g2)
    assert torch.equal(g1.get_state(), g2.get_state())
    a = other_labels(_eye([1, 1, 1], 4), torch.Generator().manual_seed(9))[0]
    b = other_labels(_eye([1, 1, 1], 4), torch.Generator().manual_seed(9))[0]
    assert torch.equal(a, b)


def _tiny(seed=0, n_cond=3):
    torch.manual_seed(seed)
    cfg = WaveNetConfig(residual_channels=8, gate_channels=12, skip_channels=8, n_layers=4,
                        dilation_cycle=4, n_cond=n_cond)
    return WaveNet(cfg, impl="reference")


@pytest.mark.parametrize("weight, margin", [(0.0, 0.5), (1.0, 0.5), (2.5, 3.0), (1.0, 1e-4)])
def test_the_loss_matches_separate_forwards(weight, margin):
    """On fresh random codes and labels the one-forward loss equals its definition computed
    with a forward per label."""
    model = _tiny(1)
    gen = torch.Generator().manual_seed(int(weight * 10 + margin * 100))
    codes = torch.randint(0, 256, (4, 60), generator=gen)
    cond = torch.cat([_eye([0, 2, 1], 3), torch.zeros(1, 3)])
    other, usable = other_labels(cond, gen)
    with torch.no_grad():
        loss, nll, gap = discriminative_loss(model, codes, cond, other, usable, weight, margin)
        own = segment_nll_bits(model(codes[:, :-1], cond), codes[:, 1:])
        wrong = segment_nll_bits(model(codes[:, :-1], other), codes[:, 1:])
        plain = nll_bits(model, codes, cond)
    gaps = (wrong - own)[usable]
    expected = own.mean() + weight * torch.clamp(margin - gaps, min=0).sum() / 4
    assert float(loss) == pytest.approx(float(expected), rel=1e-5, abs=1e-6)
    assert float(nll) == pytest.approx(float(plain), rel=1e-5)
    assert float(gap) == pytest.approx(float(gaps.mean()), rel=1e-4, abs=1e-6)


def test_no_usable_row_is_plain_likelihood():
    model = _tiny(2)
    codes = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(3))
    cond = torch.zeros(2, 3)
    other, usable = other_labels(cond, torch.Generator())
    loss, nll, gap = discriminative_loss(model, codes, cond, other, usable, 1.0, 0.5)
    assert math.isnan(float(gap)) and float(loss.detach()) == pytest.approx(float(nll), rel=1e-6)
    loss.backward()  # still a loss to train on


def _two_tunes(n=4, length=200):
    """Segments of two 'genres' that share their notes but not their order: genre 0 climbs
    through a four-note cycle, genre 1 descends through it."""
    notes = torch.tensor([60, 100, 140, 180])
    up = notes[torch.arange(length) % 4]
    down = notes.flip(0)[torch.arange(length) % 4]
    codes = torch.stack([up if k % 2 == 0 else down for k in range(n)])  # (n, length)
    return codes, _eye([k % 2 for k in range(n)], 2)


def _gap_after(weight, steps=120):
    model = _tiny(3, n_cond=2)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    codes, cond = _two_tunes()
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        other, usable = other_labels(cond, gen)
        loss, _, _ = discriminative_loss(model, codes, cond, other, usable, weight, 2.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    other, usable = other_labels(cond, gen)
    with torch.no_grad():
        return float(discriminative_loss(model, codes, cond, other, usable, 0.0, 0.0)[2])


def test_the_term_widens_the_gap_that_likelihood_leaves_thin():
    """The context alone tells the two tunes apart, so likelihood training barely needs the
    label; with the term the own label explains each tune clearly better than the other."""
    plain, discriminative = _gap_after(0.0), _gap_after(1.0)
    assert plain < 0.2 and discriminative > plain + 1.0  # about 0.02 and 3.4 bits/sample


def test_train_step_reports_the_gap_and_the_own_label_loss(dump_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {"train": {"discriminative_weight": 1.0,
                                                        "discriminative_margin": 0.5}})
    state = init_state(load_config(conf), dump_root, tmp_path / "exp")
    codes, cond = next_batch(state)
    with torch.no_grad():
        expected = float(nll_bits(state.model, codes, cond))
    out = train_step(state, (codes, cond))
    assert set(out) == {"loss_bits", "grad_norm", "gap_bits"}
    assert out["loss_bits"] == pytest.approx(expected, rel=1e-5)
    assert math.isfinite(out["gap_bits"]) and state.step == 1
    first = validate_gap(state)
    assert math.isfinite(first) and validate_gap(state) == first


def test_the_term_changes_training_only_when_on(dump_root, tmp_path):
    runs = {}
    for name, weight in (("off", 0.0), ("on", 1.0)):
        conf = write_config(tmp_path / f"{name}.yaml",
                            {"train": {"discriminative_weight": weight}})
        state = init_state(load_config(conf), dump_root, tmp_path / name)
        out = train_step(state, next_batch(state))
        runs[name] = (out, [p.detach().clone() for p in state.model.parameters()])
    assert "gap_bits" not in runs["off"][0]
    assert any(not torch.equal(a, b) for a, b in zip(runs["off"][1], runs["on"][1],
                                                     strict=True))
