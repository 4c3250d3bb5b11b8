"""Training a renderer (local conditioning on unit tables): a few steps, saving, an exact
resume, the model file's tokenizer, rendering through ``local_bias``, starting from a
label-only model, and the data it needs."""

import math
import shutil

import numpy as np
import pytest
import torch
from tiny_config import TINY, write_config

from wavegen.audio import mu_law_encode, silence_code
from wavegen.config import load_config
from wavegen.data.dump import DumpStore
from wavegen.engine.reference import ReferenceEngine
from wavegen.errors import WavegenError
from wavegen.models.io import load_model, save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.train.checkpoint import list_checkpoints
from wavegen.train.state import init_state
from wavegen.train.trainer import next_batch, train, train_step, validate_gap
from wavegen.units.store import UnitStore, n_frames_for, write_unit_store

HOP, K = 80, 8  # a 100-sample segment reads 2 frames
RENDERER = {"model": {"n_units": 256, "unit_channels": 6, "unit_layers": 1, "unit_kernel": 3}}


def tokenizer(name="test-levels"):
    """A tokenizer.pt dict (test data: what the units stage writes, with a made-up state)."""
    identity = {"name": name, "sample_rate": 8000, "hop": HOP, "n_units": K,
                "features": ["level"], "hash": f"{name}-0"}
    return {"format": "wavegen-tokenizer", "version": 1, "identity": identity,
            "centroids": torch.linspace(0, 1, K)}


def level_units(audio: np.ndarray) -> np.ndarray:
    """Each frame's peak level in K steps: a plan that says something about the audio."""
    frames = n_frames_for(audio.size, HOP)
    padded = np.zeros(frames * HOP, dtype=np.float32)
    padded[:audio.size] = np.abs(audio.astype(np.float32)) / 32768.0
    return np.minimum((padded.reshape(frames, HOP).max(1) * K).astype(int), K - 1)


def write_units(root, tok):
    """Unit tables of train and valid, and tokenizer.pt, beside the dumps in ``root``."""
    for name in ("train", "valid"):
        store = DumpStore(root / name)
        tables = ((u, level_units(store.audio(u))) for u in store.utts)
        write_unit_store(root / name / "units", tables, HOP, 8000, K, tok["identity"])
    torch.save(tok, root / "tokenizer.pt")


@pytest.fixture(scope="module")
def renderer_root(dump_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("renderer") / "dump"
    shutil.copytree(dump_root, root)
    write_units(root, tokenizer())
    return root


def test_a_renderer_trains_saves_resumes_and_renders(renderer_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", RENDERER)
    metrics = train(conf, renderer_root, tmp_path / "full")
    assert metrics["step"] == 6 and 0 < metrics["valid_bits"] < 9
    model, info = load_model(tmp_path / "full" / "model.pt")
    assert (info.config.n_units, info.config.unit_hop) == (K, HOP)  # the tables', not 256
    assert info.tokenizer is not None and info.tokenizer["identity"] == tokenizer()["identity"]
    assert torch.equal(info.tokenizer["centroids"], tokenizer()["centroids"])
    ckpt_tok = load_model(list_checkpoints(tmp_path / "full")[-1])[1].tokenizer
    assert ckpt_tok is not None and ckpt_tok["identity"] == info.tokenizer["identity"]
    full = model.state_dict()
    assert any(k.startswith("frame_net.") for k in full)

    train(conf, renderer_root, tmp_path / "cut")
    list_checkpoints(tmp_path / "cut")[-1].unlink()  # interrupted after step 4
    (tmp_path / "cut" / "model.pt").unlink()
    assert train(conf, renderer_root, tmp_path / "cut")["step"] == 6
    resumed = load_model(tmp_path / "cut" / "model.pt")[0].state_dict()
    for name, tensor in full.items():
        assert torch.equal(tensor, resumed[name]), name

    # Render a valid clip's first samples through the engines' reference with the model's
    # table of its plan: each step's logits are the model's for the same inputs.
    valid = DumpStore(renderer_root / "valid")
    utt = valid.utts[0]
    plan = torch.from_numpy(UnitStore(renderer_root / "valid" / "units").units(utt)
                            .astype(np.int64))[None]  # (1, F)
    local = model.local_bias(plan)
    assert local.table.shape == (1, plan.shape[1], info.config.n_layers,
                                 info.config.gate_channels)
    audio = torch.from_numpy(valid.audio(utt)[:3 * HOP + 5] / 32768.0)
    codes = torch.cat([torch.tensor([silence_code()]), mu_law_encode(audio)[:-1]])[None]
    cond = torch.from_numpy(valid.label_vector(utt))[None]
    with torch.no_grad():
        want = model(codes, cond, plan)  # (1, A, T)
    engine = ReferenceEngine(model.export_weights(), cond, local)
    got = torch.stack([engine.step(codes[:, t]) for t in range(codes.shape[1])], 2)
    torch.testing.assert_close(got, want, rtol=0, atol=2e-5)
    other = model.local_bias(torch.zeros_like(plan))  # another plan renders otherwise
    with torch.no_grad():
        assert (model(codes, cond, torch.zeros_like(plan)) - want).abs().max() > 1e-4
    assert not torch.equal(other.table, local.table)


def test_conditioning_dropout_nulls_the_label_and_keeps_the_plan(renderer_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {**RENDERER, "train": {"cond_dropout": 1.0}})
    state = init_state(load_config(conf), renderer_root, tmp_path / "exp")
    before = state.data_gen.get_state()
    drawn = state.sampler.batch(2, state.data_gen)
    state.data_gen.set_state(before)
    codes, cond, units, offset = next_batch(state)
    assert offset == 1 and units.shape == (2, 2 + 2) and torch.all(cond == 0)
    assert torch.equal(units, drawn[2]) and torch.equal(codes, drawn[0])
    assert len(state.valid_set[0]) == 4
    assert train_step(state, (codes, cond, units, offset)) is not None


def test_the_discriminative_term_takes_the_plan(renderer_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", {**RENDERER, "train": {
        "discriminative_weight": 1.0, "batch_size": 4}})
    state = init_state(load_config(conf), renderer_root, tmp_path / "exp")
    out = train_step(state, next_batch(state))
    assert out is not None and math.isfinite(out["gap_bits"])
    assert math.isfinite(validate_gap(state))


def test_a_plain_config_ignores_the_unit_tables(renderer_root, tmp_path):
    state = init_state(load_config(write_config(tmp_path / "c.yaml")), renderer_root,
                       tmp_path / "exp")
    assert state.cfg.model.n_units == 0 and state.tokenizer is None
    assert len(next_batch(state)) == 2


def _model_file(path, root, **arch):
    """A tiny model file (seed 11) on the labels of ``root``: label-only unless ``arch`` sets
    n_units (a renderer then carries the dumps' tokenizer)."""
    vocab = DumpStore(root / "train").vocab
    torch.manual_seed(11)
    net = WaveNet(WaveNetConfig(**{**TINY["model"], "n_cond": len(vocab), **arch}))
    save_model(path, net, 8000, vocab, "utt2genre",
               tokenizer=tokenizer() if net.cfg.n_units else None)
    return net


def _init_from(path, overrides=None):
    return {"init_from": str(path), "ema_decay": 0.99, **(overrides or {})}


def test_a_label_only_model_starts_a_renderer_of_the_same_network(renderer_root, tmp_path):
    """The file gives every weight but the frame network's, which is the run's own fresh one
    (the same as a seeded new renderer's); the result trains and saves as a renderer."""
    saved = _model_file(tmp_path / "plain.pt", renderer_root).state_dict()
    assert not any(k.startswith("frame_net.") for k in saved)
    conf = write_config(tmp_path / "c.yaml", {**RENDERER,
                                              "train": _init_from(tmp_path / "plain.pt")})
    state = init_state(load_config(conf), renderer_root, tmp_path / "exp")
    torch.manual_seed(state.cfg.train.seed)
    fresh = WaveNet(state.cfg.model).state_dict()
    frame = {k for k in fresh if k.startswith("frame_net.")}
    assert frame and set(fresh) == set(saved) | frame
    # Seeds 11 and 0 differ: each comparison below can tell the two sources apart.
    assert all(not torch.equal(fresh[k], saved[k]) for k in saved if saved[k].numel() > 1)
    for model in (state.acc.unwrap_model(state.model), state.ema.model):
        got = model.state_dict()
        assert set(got) == set(fresh)
        for name, tensor in got.items():
            assert torch.equal(tensor, fresh[name] if name in frame else saved[name]), name
    assert state.step == 0 and state.tokenizer["identity"] == tokenizer()["identity"]
    assert train_step(state, next_batch(state)) is not None

    metrics = train(conf, renderer_root, tmp_path / "run", max_steps=2)
    assert metrics["step"] == 2 and math.isfinite(metrics["valid_bits"])
    _, info = load_model(tmp_path / "run" / "model.pt")
    assert (info.config.n_units, info.config.unit_hop) == (K, HOP)
    assert info.tokenizer["identity"] == tokenizer()["identity"]


@pytest.mark.parametrize("file_arch, run, message", [
    # A renderer into a label-only run: its frame network would have nowhere to go.
    ({"n_units": K, "unit_hop": HOP, "unit_channels": 6, "unit_layers": 1}, {},
     r"is another network \(n_units 8 there, 0 here; unit_hop 80 there, 160 here"),
    # A label-only model of another network into a renderer.
    ({"residual_channels": 6}, RENDERER["model"],
     r"is another network \(residual_channels 6 there, 8 here\): set model\.\* in the "
     r"config"),
])
def test_init_from_across_the_plan_needs_the_same_network(renderer_root, tmp_path, file_arch,
                                                          run, message):
    path = tmp_path / "m.pt"
    _model_file(path, renderer_root, **file_arch)
    conf = write_config(tmp_path / "c.yaml", {"model": run, "train": _init_from(path)})
    with pytest.raises(WavegenError, match=message):
        init_state(load_config(conf), renderer_root, tmp_path / "exp")
    assert not (tmp_path / "exp" / "checkpoints").exists()


def _broken(renderer_root, tmp_path, how):
    root = tmp_path / "dump"
    shutil.copytree(renderer_root, root)
    how(root)
    return root


BROKEN = {
    "no tokenizer": (lambda r: (r / "tokenizer.pt").unlink(),
                     r"tokenizer.pt is missing: fit the tokenizer and run the units stage "
                     r"\(wavegen units extract\)"),
    "no valid units": (lambda r: shutil.rmtree(r / "valid" / "units"),
                       r"valid/units holds no complete unit table .*wavegen units extract"),
    "not a tokenizer": (lambda r: torch.save({"format": "other"}, r / "tokenizer.pt"),
                        r"tokenizer.pt is damaged: it is not a wavegen tokenizer"),
    "a list": (lambda r: torch.save([1, 2], r / "tokenizer.pt"),
               r"tokenizer file .*tokenizer.pt is not a wavegen file"),
    "another tokenizer": (lambda r: torch.save(tokenizer("refit"), r / "tokenizer.pt"),
                          r"train/units was written by another tokenizer than .*tokenizer.pt "
                          r"\(name test-levels .* vs name refit .*wavegen units extract"),
    "misaligned": (lambda r: write_unit_store(
        r / "train" / "units", [(u, np.zeros(3, int)) for u in DumpStore(r / "train").utts],
        HOP, 8000, K, tokenizer()["identity"]), r"has 3 frames of units but its audio"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_missing_or_mismatched_units_are_clear_errors(renderer_root, tmp_path, case):
    how, message = BROKEN[case]
    root = _broken(renderer_root, tmp_path, how)
    conf = write_config(tmp_path / "c.yaml", RENDERER)
    with pytest.raises(WavegenError, match=message):
        init_state(load_config(conf), root, tmp_path / "exp")
    assert not (tmp_path / "exp").exists()  # stopped before writing anything


def test_a_resume_on_another_tokenizers_units_is_refused(renderer_root, tmp_path):
    conf = write_config(tmp_path / "c.yaml", RENDERER)
    train(conf, renderer_root, tmp_path / "exp", max_steps=2)
    root = _broken(renderer_root, tmp_path, lambda r: write_units(r, tokenizer("refit")))
    with pytest.raises(WavegenError, match=r"checkpoints in .* were trained on the units of "
                                           r"another tokenizer \(name test-levels"):
        train(conf, root, tmp_path / "exp")
