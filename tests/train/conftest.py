"""Fixtures of the training tests: a tiny dumped toy corpus."""

import pytest

from wavegen.data.dump import dump_data_dir
from wavegen.data.gtzan import prepare_gtzan
from wavegen.data.toy import make_toy_corpus


@pytest.fixture(scope="module")
def dump_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    make_toy_corpus(root / "db", clips_per_genre=3, duration=0.5, seed=0)
    prepare_gtzan(root / "db", root / "data", split="random")
    for name in ("train", "valid"):
        dump_data_dir(root / "data" / name, root / "dump" / name, 8000)
    return root / "dump"
