"""Generated clip names: written once, read back the same way by eval and listen."""

from __future__ import annotations

import pytest

from wavegen.clipnames import clip_filename, parse_clip_name
from wavegen.data.mtat import standard_tags
from wavegen.data.toy import GTZAN_GENRES


@pytest.mark.parametrize("vocab", [list(GTZAN_GENRES), standard_tags(),
                                   ["hip hop", "r&b", "drum'n'bass", "café", "a\tb"]])
def test_every_label_round_trips(vocab):
    for label in vocab:
        for k in (0, 7, 123, 4567):
            name = clip_filename(label, k)
            assert "/" not in name and " " not in name and "," not in name
            assert parse_clip_name(name, vocab) == label, name


def test_tags_with_spaces_are_read_back():
    tags = standard_tags()
    spaced = [t for t in tags if " " in t]
    assert len(spaced) >= 8  # e.g. "no vocals", "male vocal"
    assert parse_clip_name(clip_filename("no vocals", 3), tags) == "no vocals"


@pytest.mark.parametrize("name,expected", [
    ("rock_000.wav", "rock"), ("rock-0.7+jazz-0.3_001.wav", None), ("rock.wav", None),
    ("rock_000.WAV", None), ("_000.wav", None), ("rock_x.wav", None), ("notes.txt", None),
    ("metal_12345.wav", "metal"),
])
def test_parse_against_a_vocabulary(name, expected):
    assert parse_clip_name(name, list(GTZAN_GENRES)) == expected


def test_parse_without_a_vocabulary_keeps_the_written_label():
    assert parse_clip_name("no_vocals_000.wav") == "no_vocals"
    assert parse_clip_name("rock-0.7+jazz-0.3_001.wav") == "rock-0.7+jazz-0.3"
