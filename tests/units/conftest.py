"""Dumps of the tiny toy corpus at 8 kHz and a tokenizer fitted on them, for the units tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from unit_sizes import RATE, K

from wavegen.data.dump import dump_data_dir
from wavegen.units.tokenizer import Tokenizer, fit_tokenizer


@pytest.fixture(scope="session")
def dumps(prepared: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``DUMP`` with ``train`` (10 clips of 1 s), ``valid`` and ``test`` at 8 kHz.

    Session-scoped: tests copy a set before writing units into it.
    """
    data, _ = prepared
    root = tmp_path_factory.mktemp("dump")
    for name in ("train", "valid", "test"):
        dump_data_dir(data / name, root / name, RATE)
    return root


@pytest.fixture(scope="session")
def tokenizer_file(dumps: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64-unit tokenizer (hop 160, every feature group) fitted on ``dumps/train``."""
    path = tmp_path_factory.mktemp("tok") / "tokenizer.pt"
    fit_tokenizer(dumps / "train", n_units=K, hop=160, seed=0).save(path)
    return path


@pytest.fixture(scope="session")
def tokenizer(tokenizer_file: Path) -> Tokenizer:
    return Tokenizer.load(tokenizer_file)
