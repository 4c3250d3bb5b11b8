"""Plan files: written atomically, read back only when every field is valid."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wavegen.errors import WavegenError
from wavegen.units.plan import MAX_FRAMES, MAX_PLAN_BYTES, make_plan, read_plan, write_plan

IDENTITY = {"name": "kmeans", "sample_rate": 8000, "hop": 160, "n_units": 256,
            "features": ["onset", "chroma", "mel"], "hash": "0123456789abcdef"}


def plan_json(**changes: Any) -> dict[str, Any]:
    obj = {"format": "wavegen-plan", "version": 1, "sample_rate": 8000, "hop": 160,
           "n_units": 256, "tokenizer": IDENTITY, "units": [0, 5, 255, 5]}
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not ...}


def test_round_trip(tmp_path: Path) -> None:
    units = np.array([3, 3, 200, 0, 255])
    plan = make_plan(units, IDENTITY)
    assert plan.n_frames == 5 and plan.seconds == pytest.approx(5 * 160 / 8000)
    path = tmp_path / "p.json"
    write_plan(path, plan)
    back = read_plan(path)
    assert np.array_equal(back.units, units) and back.units.dtype == np.int64
    assert (back.sample_rate, back.hop, back.n_units, back.tokenizer) == (8000, 160, 256,
                                                                        IDENTITY)
    assert json.loads(path.read_text()) == plan.to_json()
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]  # no temporary left


def test_check_against_a_model() -> None:
    plan = make_plan(np.array([1, 2]), IDENTITY)
    plan.check(8000, 160, 256)
    for args, name in (((16000, 160, 256), "sample rate 8000"), ((8000, 320, 256), "hop 160"),
                       ((8000, 160, 512), "n_units 256")):
        with pytest.raises(WavegenError, match=f"the plan has {name}, the model expects"):
            plan.check(*args)


def test_make_plan_validates_too() -> None:
    with pytest.raises(WavegenError, match=r"units must be integers in \[0, 256\)"):
        make_plan(np.array([0, 256]), IDENTITY)
    with pytest.raises(WavegenError, match="units must be a list of 1 to"):
        make_plan(np.array([], dtype=int), IDENTITY)


def test_write_refuses_a_folder_or_fifo(tmp_path: Path) -> None:
    plan = make_plan(np.array([1]), IDENTITY)
    with pytest.raises(WavegenError, match="is a directory"):
        write_plan(tmp_path, plan)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(WavegenError, match="is a FIFO"):
        write_plan(tmp_path / "fifo", plan)


def _write(path: Path, content: Any) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))


@pytest.mark.parametrize("content,message", [
    (b"", "is not JSON"),
    (b"\xff\xfe\x00garbage", "is not JSON"),
    ("{not json", "is not JSON"),
    ('{"units": [1, 2]', "is not JSON"),
    (json.dumps(plan_json()).replace("[0, 5, 255, 5]", "[0, NaN]"), "NaN is not a number"),
    (json.dumps(plan_json()).replace("[0, 5, 255, 5]", "[0, Infinity]"), "Infinity is not"),
    ("[" * 100_000 + "]" * 100_000, "nested more than 3 levels"),
    (plan_json(units=[[[1]]]), "nested more than 3 levels"),
    ([1, 2, 3], "a JSON object is expected"),
    ("7", "a JSON object is expected"),
    (plan_json(format="wavegen-tokenizer"), "format 'wavegen-tokenizer'"),
    (plan_json(format=...), "format None"),
    (plan_json(version=2), "version 2; this wavegen reads version 1"),
    (plan_json(version=True), "version True"),
    (plan_json(hop=...), "missing hop"),
    (plan_json(extra=1), "unknown keys extra"),
    (plan_json(units=[]), "units must be a list of 1 to"),
    (plan_json(units="0 1 2"), "units must be a list of 1 to"),
    (plan_json(units=[0, 256]), r"units must be integers in \[0, 256\), found 256 at frame 1"),
    (plan_json(units=[-1]), "found -1 at frame 0"),
    (plan_json(units=[1, 2.0]), "found 2.0 at frame 1"),
    (plan_json(units=[1, True]), "found True at frame 1"),
    (plan_json(units=[1, None]), "found None at frame 1"),
    (plan_json(units=[1, "2"]), "found '2' at frame 1"),
    (plan_json(units=[10**30]), "found 1000000000000000000000000000000"),
    (plan_json(sample_rate=8000.0), "sample_rate must be an integer"),
    (plan_json(sample_rate=0), "sample_rate must be an integer"),
    (plan_json(hop=0), "hop must be an integer"),
    (plan_json(n_units=0), "n_units must be an integer"),
    (plan_json(n_units=40000), "n_units must be an integer"),
    (plan_json(tokenizer="kmeans"), "tokenizer must be the identity"),
    (plan_json(tokenizer={**IDENTITY, "hop": 320}), "tokenizer must be the identity"),
])
def test_bad_plan_files(tmp_path: Path, content: Any, message: str) -> None:
    path = tmp_path / "plan.json"
    _write(path, content)
    with pytest.raises(WavegenError, match=message) as err:
        read_plan(path)
    assert "\n" not in str(err.value)


def test_huge_and_long_plans(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    with open(path, "wb") as fh:  # a sparse file past the size bound
        fh.truncate(MAX_PLAN_BYTES + 1)
    with pytest.raises(WavegenError, match="is larger than 16 MiB"):
        read_plan(path)
    _write(path, plan_json(units=[0] * (MAX_FRAMES + 1)))
    with pytest.raises(WavegenError, match="units must be a list of 1 to 1000000"):
        read_plan(path)


def test_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match="plan file .* not found"):
        read_plan(tmp_path / "none.json")
    with pytest.raises(WavegenError, match="is a directory, not a regular file"):
        read_plan(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(WavegenError, match="is a FIFO"):
        read_plan(tmp_path / "fifo")
