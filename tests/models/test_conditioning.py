"""Genre mix parsing and one-hot helpers."""

from __future__ import annotations

import re

import pytest
import torch

from wavegen.data.toy import GTZAN_GENRES
from wavegen.errors import WavegenError
from wavegen.models.conditioning import one_hot, parse_genre_mix

VOCAB = list(GTZAN_GENRES)


def test_single_genre_is_one_hot() -> None:
    vec = parse_genre_mix("rock", VOCAB)
    assert vec.shape == (10,) and vec.dtype == torch.float32
    assert torch.equal(vec, torch.eye(10)[VOCAB.index("rock")])


def test_mix_is_normalized() -> None:
    vec = parse_genre_mix("rock:0.7, jazz:0.3", VOCAB)
    expected = torch.zeros(10)
    expected[VOCAB.index("rock")], expected[VOCAB.index("jazz")] = 0.7, 0.3
    torch.testing.assert_close(vec, expected)
    torch.testing.assert_close(parse_genre_mix("rock:7,jazz:3", VOCAB), expected)
    mix = parse_genre_mix("blues:2,pop", VOCAB)  # a bare name weighs 1
    assert float(mix.sum()) == pytest.approx(1.0)
    assert float(mix[VOCAB.index("blues")]) == pytest.approx(2 / 3)
    assert float(mix[VOCAB.index("pop")]) == pytest.approx(1 / 3)


def test_zero_weight_alongside_a_positive_one_is_allowed() -> None:
    vec = parse_genre_mix("rock:1,jazz:0", VOCAB)
    assert torch.equal(vec, torch.eye(10)[VOCAB.index("rock")])


def test_unknown_genre_lists_the_known_ones() -> None:
    with pytest.raises(WavegenError) as err:
        parse_genre_mix("rock:0.5,rokc:0.5", VOCAB)
    assert str(err.value) == ("unknown genre 'rokc'; known genres: blues, classical, country, "
                              "disco, hiphop, jazz, metal, pop, reggae, rock")


@pytest.mark.parametrize("spec, message", [
    ("", "empty genre; known genres: blues"),
    (" , ", "empty genre"),
    ("rock:-0.5", "must be a finite number >= 0, got -0.5 for 'rock'"),
    ("rock:0", "sum to zero"),
    ("rock:0,jazz:0.0", "sum to zero"),
    ("rock:lots", "bad weight 'lots' for genre 'rock': not a number"),
    ("rock:nan", "finite number >= 0, got nan for 'rock'"),
    ("rock:inf,jazz:1", "finite number >= 0, got inf for 'rock'"),
])
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(WavegenError, match=message):
        parse_genre_mix(spec, VOCAB)


def test_one_hot() -> None:
    out = one_hot(torch.tensor([2, 0]), 3)
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))


def test_a_trajectory_moves_linearly_between_its_points_and_holds_outside() -> None:
    from wavegen.models.conditioning import parse_trajectory, trajectory_value

    points = parse_trajectory("rock@1, jazz@3,metal:0.5+rock:0.5@5",
                              lambda s: parse_genre_mix(s, VOCAB))
    assert [t for t, _ in points] == [1.0, 3.0, 5.0]
    rock, jazz, metal = (torch.eye(10)[VOCAB.index(g)] for g in ("rock", "jazz", "metal"))
    assert torch.equal(trajectory_value(points, 0.0), rock)  # held before the first point
    assert torch.allclose(trajectory_value(points, 2.5), 0.25 * rock + 0.75 * jazz)
    assert torch.allclose(trajectory_value(points, 4.0), 0.5 * jazz + 0.25 * metal + 0.25 * rock)
    assert torch.allclose(trajectory_value(points, 9.0), 0.5 * metal + 0.5 * rock)


@pytest.mark.parametrize("spec, message", [
    ("rock@0,jazz", "'jazz' in 'rock@0,jazz' is not GENRE@SECONDS"),
    ("@4", "is not GENRE@SECONDS"), ("rock@0,,jazz@2", "'' in"),
    ("rock@x", "'x' in 'rock@x' is not a time in seconds"),
    ("rock@", "'' in 'rock@' is not a time"),
    ("rock@-1", "must be a finite number >= 0"), ("rock@inf", "must be a finite number >= 0"),
    ("rock@nan", "must be a finite number >= 0"),
    ("rock@4,jazz@2", "times in 'rock@4,jazz@2' must increase: 2 s comes after 4 s"),
    ("rock@1,jazz@1", "must increase"),
    ("nope@0", "unknown genre 'nope'; known genres: blues"),
    ("rock:-1+jazz:2@0", "genre weight must be a finite number >= 0"),
    ("rock:0+jazz:0@0", "sum to zero"),
])
def test_bad_trajectories_are_refused(spec: str, message: str) -> None:
    from wavegen.models.conditioning import parse_trajectory

    with pytest.raises(WavegenError, match=re.escape(message) if "'" in message else message):
        parse_trajectory(spec, lambda s: parse_genre_mix(s, VOCAB))
