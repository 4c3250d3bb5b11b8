"""Shared small fixtures: a tiny toy corpus, its prepared data dirs and a tiny WaveNet config.

Everything is generated under pytest's temporary directories; no audio is committed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wavegen.data.gtzan import prepare_gtzan
from wavegen.data.toy import make_toy_corpus
from wavegen.models.wavenet import WaveNetConfig

TOY_CLIPS = 3
TOY_DURATION = 1.0


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of a toy corpus (``<root>/genres/<genre>/<genre>.0000k.wav``), 3 clips of 1 s each.

    Session-scoped: tests must not modify it.
    """
    root = tmp_path_factory.mktemp("toy")
    make_toy_corpus(root, clips_per_genre=TOY_CLIPS, duration=TOY_DURATION, seed=0)
    return root


@pytest.fixture(scope="session")
def prepared(toy_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """``(data root, counts)`` from ``prepare_gtzan(toy_corpus, split="random", seed=0)``.

    Session-scoped: tests must not modify it.
    """
    out = tmp_path_factory.mktemp("data")
    counts = prepare_gtzan(toy_corpus, out, split="random", seed=0)
    return out, counts


@pytest.fixture(scope="session")
def two_level(prepared: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, Path]:
    """A tiny real two-level model over the toy corpus (``tests/two_level_files.py``):
    {"dump", "planner", "renderer", "two"}. Session-scoped: tests must not modify it."""
    from two_level_files import build_two_level

    return build_two_level(prepared[0], tmp_path_factory.mktemp("two_level"))


@pytest.fixture
def tiny_cfg() -> WaveNetConfig:
    """Dilations 1, 2, 4, 1, 2 (receptive field 11); odd, distinct channel sizes catch mix-ups."""
    return WaveNetConfig(n_classes=16, residual_channels=4, gate_channels=6, skip_channels=5,
                         n_layers=5, dilation_cycle=3, n_cond=3)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per browser test module (skips without playwright)."""
    from chromium import launch, sync_api

    with sync_api.sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
