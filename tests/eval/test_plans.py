"""``wavegen eval-plans``: a planner's plans scored against the real clips' plans; the copy
index and the rhythm of a plan; what it refuses."""

import json
import shutil

import numpy as np
import pytest

from wavegen.cli import main
from wavegen.errors import WavegenError
from wavegen.eval.plans import RunIndex, evaluate_plans, histogram, plan_rhythm
from wavegen.models.io import default_model_path
from wavegen.units.store import UnitStore, write_unit_store
from wavegen.units.tokenizer import Tokenizer


def test_plans_are_drawn_per_genre_and_seed_and_scored(two_level, tmp_path, capsys):
    dump = two_level["dump"]
    out = tmp_path / "eval"
    assert main(["eval-plans", "--model", str(two_level["two"]), "--ref", str(dump / "test"),
                 "--train", str(dump / "train"), "--out", str(out), "--seconds", "0.8",
                 "--count", "2", "--seeds", "1", "2", "--guidance", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    result = json.loads((out / "plans.json").read_text())
    assert summary["gen_plan_accuracy"] == result["gen_plan_accuracy"]
    assert len(result["per_genre"]) == 10 and len(result["clips"]) == 10 * 2 * 2
    assert len(list((out / "plans").glob("*.plan.json"))) == 40
    assert result["settings"]["frames"] == 40 and result["settings"]["guidance"] == 1
    assert result["long_range"] is None  # plans shorter than 20 s
    assert 0 <= result["longest_copied_run_frames"] <= 40
    # The planner file alone gives the same plans as its two-level file.
    again = evaluate_plans(two_level["planner"], dump / "test", dump / "train",
                           tmp_path / "again", seconds=0.8, count=2, seeds=(1, 2), guidance=1)
    assert [c["name"] for c in again["clips"]] == [c["name"] for c in result["clips"]]
    assert (tmp_path / "again" / "plans" / "blues_seed1_0.plan.json").read_text() == \
        (out / "plans" / "blues_seed1_0.plan.json").read_text()


@pytest.mark.parametrize("plan,longest", [
    ([9, 9, 9], 0),
    ([1, 2, 3, 9], 3),
    ([9, 4, 5, 6, 7, 8, 9], 5),
    ([3, 4, 5, 9, 1, 2, 3, 4, 5, 6], 6),
    ([5, 6, 7, 8, 1, 2], 4),
])
def test_the_longest_copied_run(plan, longest):
    index = RunIndex([np.array([1, 2, 3, 4, 5, 6]), np.array([4, 5, 6, 7, 8])])
    assert index.longest(np.array(plan)) == longest


def test_a_plan_without_onsets_has_no_tempo(two_level):
    tok = Tokenizer.load(two_level["dump"] / "tokenizer.pt")
    flat = plan_rhythm(np.full(200, 3), tok)
    assert flat == {"tempo": None, "onset_rate": 0.0}
    assert histogram(np.array([0, 0, 1]), 4).tolist() == [2 / 3, 1 / 3, 0, 0]


def test_what_eval_plans_refuses(two_level, tmp_path):
    dump = two_level["dump"]
    with pytest.raises(WavegenError, match="not a planner"):
        evaluate_plans(default_model_path(), dump / "test", dump / "train", tmp_path / "a")
    with pytest.raises(WavegenError, match="not a planner"):
        evaluate_plans(two_level["renderer"], dump / "test", dump / "train", tmp_path / "b")
    with pytest.raises(WavegenError, match="seconds must be in"):
        evaluate_plans(two_level["two"], dump / "test", dump / "train", tmp_path / "c",
                       seconds=1e9)
    other = tmp_path / "test"
    shutil.copytree(dump / "test", other)
    store = UnitStore(other / "units")
    tables = [(u, np.array(store.units(u))) for u in store.index]  # copies: the file is rewritten
    facts = (store.hop, store.sample_rate, store.n_units, {**store.tokenizer, "hash": "another"})
    del store
    write_unit_store(other / "units", tables, *facts)
    with pytest.raises(WavegenError, match="another tokenizer"):
        evaluate_plans(two_level["two"], other, dump / "train", tmp_path / "d")
    assert not (tmp_path / "d").exists()
