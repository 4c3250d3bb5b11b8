"""Two-level model files: packing a planner and a renderer, loading either kind of file, and
the pairs and damaged files that are refused in one line."""

import pytest
import torch

from wavegen.errors import WavegenError
from wavegen.models.io import default_model_path, load_model, require_label_only
from wavegen.models.two_level import TwoLevel, load_generator, pack


def test_a_packed_file_loads_as_two_levels_and_a_one_level_file_as_before(two_level):
    two = load_generator(two_level["two"])
    assert isinstance(two, TwoLevel)
    planner, p_info = load_model(two_level["planner"])
    renderer, r_info = load_model(two_level["renderer"])
    for mine, theirs in ((two.planner, planner), (two.renderer, renderer)):
        for name, tensor in theirs.state_dict().items():
            assert torch.equal(mine.state_dict()[name], tensor), name
    assert two.planner_info.synth_defaults == p_info.synth_defaults
    assert two.renderer_info.synth_defaults == r_info.synth_defaults
    assert (two.n_units, two.hop, two.frame_rate) == (64, 160, 50.0)
    assert two.vocab == r_info.vocab
    one = load_generator(default_model_path())
    assert isinstance(one, tuple) and one[1].level == "sample"
    assert isinstance(load_generator(), tuple)


def _edited(src, dst, **changes):
    obj = torch.load(src, weights_only=True)
    for key, value in changes.items():
        if value is None:
            obj.pop(key, None)
        elif callable(value):
            obj[key] = value(obj[key])
        else:
            obj[key] = value
    torch.save(obj, dst)
    return dst


def _other_tokenizer(tok):
    return {**tok, "identity": {**tok["identity"], "hash": "another"}}


@pytest.mark.parametrize("planner,renderer,match", [
    ("renderer", "renderer", "the planner is not a planner"),
    ("planner", "planner", "the renderer has no local conditioning"),
    ("packaged", "renderer", "the planner is not a planner"),
    ("planner", "packaged", "the renderer has no local conditioning"),
    ("planner", "renderer:other-labels", "other labels"),
    ("planner:other-tokenizer", "renderer", "different tokenizers"),
    ("planner", "renderer:16k", "renders at 16000 Hz"),
    ("missing", "renderer", "not found"),
    ("two", "renderer", "not a wavegen model"),
])
def test_pairs_that_do_not_belong_together_are_refused(two_level, tmp_path, planner, renderer,
                                                       match):
    def path(spec):
        name, _, edit = spec.partition(":")
        src = {"packaged": default_model_path(), "missing": tmp_path / "nothing.pt",
               "two": two_level["two"]}.get(name) or two_level[name]
        if edit == "other-labels":
            return _edited(src, tmp_path / "r.pt", vocab=lambda v: list(reversed(v)))
        if edit == "other-tokenizer":
            return _edited(src, tmp_path / "p.pt", tokenizer=_other_tokenizer)
        if edit == "16k":
            return _edited(src, tmp_path / "r16.pt", sample_rate=16000)
        return src
    with pytest.raises(WavegenError, match=match):
        pack(path(planner), path(renderer), tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("edit,match", [
    ({"version": 2}, "version 2"),
    ({"renderer": None}, "has no renderer"),
    ({"planner": "a planner"}, "has no planner"),
    ({"planner": lambda p: {**p, "level": "frames"}}, "level 'frames'"),
    ({"planner": lambda p: {**p, "tokenizer": None}}, "damaged"),
    ({"planner": lambda p: {k: v for k, v in p.items() if k != "tokenizer"}},
     "a planner without the tokenizer"),
    ({"planner": lambda p: {**p, "model_config": {**p["model_config"], "n_classes": 64}}},
     "not a valid wavegen model|classes"),
    ({"renderer": lambda r: {**r, "tokenizer": _other_tokenizer(r["tokenizer"])}},
     "different tokenizers"),
    ({"planner": lambda p: {**p, "level": "sample"}}, "the planner is not a planner"),
])
def test_damaged_two_level_files_are_refused(two_level, tmp_path, edit, match):
    bad = _edited(two_level["two"], tmp_path / "bad.pt", **edit)
    with pytest.raises(WavegenError, match=match):
        load_generator(bad)


def test_a_planner_alone_is_not_given_to_a_command_that_writes_audio(two_level):
    info = load_model(two_level["planner"])[1]
    with pytest.raises(WavegenError, match="is a planner: .*wavegen pack"):
        require_label_only(info, "model file P", "wavegen synth")


def test_pack_sets_the_planners_sampling_defaults(two_level, tmp_path, capsys):
    from wavegen.cli import main

    out = tmp_path / "two.pt"
    assert main(["pack", "--planner", str(two_level["planner"]), "--renderer",
                 str(two_level["renderer"]), "--out", str(out), "--temperature", "1",
                 "--guidance", "2.5"]) == 0
    two = load_generator(out)
    assert isinstance(two, TwoLevel)
    planner_file = load_model(two_level["planner"])[1].synth_defaults
    assert two.planner_info.synth_defaults == {**planner_file, "temperature": 1.0,
                                               "guidance": 2.5}
    assert two.renderer_info.synth_defaults == load_model(two_level["renderer"])[1].synth_defaults
    for bad in (["--temperature", "0"], ["--top-p", "1.5"], ["--guidance", "nan"]):
        with pytest.raises(SystemExit) as exc:  # refused where the flags parse
            main(["pack", "--planner", str(two_level["planner"]), "--renderer",
                  str(two_level["renderer"]), "--out", str(tmp_path / "bad.pt"), *bad])
        assert exc.value.code == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "bad.pt").exists()
    with pytest.raises(WavegenError, match="unknown sampling"):
        pack(two_level["planner"], two_level["renderer"], tmp_path / "x.pt", {"heat": 1.0})
