"""The tokenizer: seeded fit, nearest-centroid encoding, its file, and refused files."""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from unit_sizes import RATE, K

from wavegen.data.dump import DumpStore
from wavegen.errors import WavegenError
from wavegen.units.features import FeatureSpec, Standardizer
from wavegen.units.tokenizer import (
    Tokenizer,
    collect_frames,
    dump_audio,
    fit_on_frames,
    fit_tokenizer,
)


def test_fit_is_seeded_and_reproducible(dumps: Path, tokenizer: Tokenizer) -> None:
    again = fit_tokenizer(dumps / "train", n_units=K, hop=160, seed=0)
    assert again.identity() == tokenizer.identity()
    assert torch.equal(again.centroids, tokenizer.centroids)
    other = fit_tokenizer(dumps / "train", n_units=K, hop=160, seed=1)
    assert other.hash != tokenizer.hash
    ident = tokenizer.identity()
    assert ident == {"name": "kmeans", "sample_rate": RATE, "hop": 160, "n_units": K,
                     "features": ["onset", "chroma", "mel"], "hash": tokenizer.hash}
    assert len(ident["hash"]) == 16


def test_encode_is_the_nearest_centroid(tokenizer: Tokenizer, dumps: Path) -> None:
    store = DumpStore(dumps / "valid")
    audio = dump_audio(store.audio(store.utts[0]))
    ids = tokenizer.encode(audio)
    assert ids.shape == (math.ceil(audio.size / 160),) and ids.dtype == np.int64
    z = tokenizer.embed(audio).double().numpy()  # (F, D)
    c = tokenizer.centroids.double().numpy()
    dist = ((z[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)  # (F, K) by brute force
    assert np.array_equal(ids, dist.argmin(axis=1))
    # On fresh random points too, with their squared distances.
    fresh = torch.randn(3000, tokenizer.spec.dim)
    got, sq = tokenizer.quantize(fresh)
    ref = torch.cdist(fresh.double(), tokenizer.centroids.double()).square()
    assert torch.equal(got, ref.argmin(dim=1))
    assert torch.allclose(sq.double(), ref.min(dim=1).values, rtol=1e-4, atol=1e-4)
    # Each centroid is its own unit.
    assert torch.equal(tokenizer.quantize(tokenizer.centroids)[0], torch.arange(K))


def test_units_are_used_and_cluster_the_training_frames(tokenizer: Tokenizer,
                                                       dumps: Path) -> None:
    store = DumpStore(dumps / "train")
    frames = collect_frames(store, tokenizer.spec)
    z = tokenizer.standardizer.apply(frames)
    ids, sq = tokenizer.quantize(z)
    assert len(set(ids.tolist())) > K // 2
    total = float((z - z.mean(dim=0)).square().sum(dim=1).mean())
    assert float(sq.mean()) < 0.5 * total  # k-means explains most of the variance


def test_decode_reads_back_raw_centroids(tokenizer: Tokenizer) -> None:
    groups = tokenizer.centroids_by_group()
    assert {g: tuple(v.shape) for g, v in groups.items()} == {
        "onset": (K, 4), "chroma": (K, 12), "mel": (K, 32)}
    raw = tokenizer.standardizer.invert(tokenizer.centroids)
    assert torch.allclose(torch.cat(list(groups.values()), dim=1), raw)
    ids = np.array([3, 3, 0, K - 1])
    assert torch.equal(tokenizer.decode(ids)["chroma"], groups["chroma"][ids])
    for bad in (np.array([K]), np.array([-1]), np.zeros((2, 2), int)):
        with pytest.raises(WavegenError, match="unit ids must be"):
            tokenizer.decode(bad)


def test_save_and_load_round_trip(tokenizer: Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "tok.pt"
    tokenizer.save(path)
    state = torch.load(path, weights_only=True)
    assert state["format"] == "wavegen-tokenizer" and state["identity"] == tokenizer.identity()
    back = Tokenizer.load(path)
    assert back.identity() == tokenizer.identity()
    x = np.random.default_rng(0).standard_normal(4321).astype(np.float32) * 0.1
    assert np.array_equal(back.encode(x), tokenizer.encode(x))
    assert [p.name for p in tmp_path.iterdir()] == ["tok.pt"]


def _damaged(tokenizer: Tokenizer, tmp_path: Path, case: str) -> Path:
    path = tmp_path / "tok.pt"
    state = tokenizer.state()
    if case == "random bytes":
        path.write_bytes(os.urandom(2000))
        return path
    if case == "empty file":
        path.write_bytes(b"")
        return path
    if case == "truncated":
        tokenizer.save(path)
        path.write_bytes(path.read_bytes()[:300])
        return path
    if case == "a pickle of code":
        path.write_bytes(pickle.dumps(os.getcwd))
        return path
    edits = {
        "foreign dict": {"format": "something-else"},
        "a list": None,
        "version 2": {"version": 2},
        "tampered centroid": {"centroids": state["centroids"] + 1e-3},
        "wrong identity": {"identity": {**state["identity"], "hop": 320}},
        "no spec": {"spec": None},
        "float64 mean": {"mean": state["mean"].double()},
        "wrong shape": {"std": state["std"][:-1]},
        "nan centroids": {"centroids": state["centroids"] * float("nan")},
        "zero std": {"std": state["std"] * 0},
    }
    torch.save([1, 2] if edits[case] is None else {**state, **edits[case]}, path)
    return path


@pytest.mark.parametrize("case,message", [
    ("random bytes", "is not a wavegen tokenizer file"),
    ("empty file", "is not a wavegen tokenizer file"),
    ("truncated", "is not a wavegen tokenizer file"),
    ("a pickle of code", "is not a wavegen tokenizer file"),
    ("foreign dict", "is not a wavegen tokenizer file"),
    ("a list", "is not a wavegen tokenizer file"),
    ("version 2", "version 2; this wavegen reads version 1"),
    ("tampered centroid", "identity does not match its fitted state"),
    ("wrong identity", "identity does not match its fitted state"),
    ("no spec", "damaged tokenizer file"),
    ("float64 mean", "damaged tokenizer file"),
    ("wrong shape", "damaged tokenizer file"),
    ("nan centroids", "damaged tokenizer file"),
    ("zero std", "damaged tokenizer file"),
])
def test_a_damaged_or_foreign_file_is_one_line(tokenizer: Tokenizer, tmp_path: Path,
                                               case: str, message: str) -> None:
    path = _damaged(tokenizer, tmp_path, case)
    with pytest.raises(WavegenError, match=message) as err:
        Tokenizer.load(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(WavegenError, match="not found; fit one with wavegen units fit"):
        Tokenizer.load(tmp_path / "none.pt")
    with pytest.raises(WavegenError, match="is a directory, not a regular file"):
        Tokenizer.load(tmp_path)
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)
    with pytest.raises(WavegenError, match=r"is a FIFO \(named pipe\), not a regular file"):
        Tokenizer.load(fifo)


def test_rate_and_hop_checks(tokenizer: Tokenizer) -> None:
    tokenizer.check(RATE)
    tokenizer.check(RATE, 160)
    with pytest.raises(WavegenError, match="fitted at 8000 Hz, the dump x is at 16000 Hz"):
        tokenizer.check(16000, what="the dump x")
    with pytest.raises(WavegenError, match="hop of 160 samples, the model asks for 320"):
        tokenizer.check(RATE, 320, what="the model")


@pytest.mark.parametrize("n_units", [63, 1025, 0, -5, 64.0, True, "256"])
def test_n_units_out_of_range(dumps: Path, n_units: object) -> None:
    with pytest.raises(WavegenError, match=r"n_units must be an integer in \[64, 1024\]"):
        fit_tokenizer(dumps / "train", n_units=n_units)  # type: ignore[arg-type]


def test_fit_refuses_too_little_audio_and_bad_dumps(dumps: Path, tmp_path: Path) -> None:
    spec = FeatureSpec(RATE, 160)
    with pytest.raises(WavegenError, match="only 100 frames to fit 128 units"):
        fit_on_frames(torch.randn(100, spec.dim), spec, 128)
    with pytest.raises(WavegenError, match="not a complete dump"):
        fit_tokenizer(tmp_path)
    with pytest.raises(WavegenError, match="give a hop in"):
        fit_tokenizer(dumps / "train", hop=40)


def test_frame_subset_is_bounded_and_seeded(dumps: Path) -> None:
    store = DumpStore(dumps / "train")
    spec = FeatureSpec(RATE, 160)
    a = collect_frames(store, spec, max_frames=100, max_clips=4, seed=3)
    assert a.shape == (100, spec.dim)  # 4 clips x 25 frames
    assert torch.equal(a, collect_frames(store, spec, max_frames=100, max_clips=4, seed=3))
    assert not torch.equal(a, collect_frames(store, spec, max_frames=100, max_clips=4, seed=4))
    everything = collect_frames(store, spec, max_frames=10**6)
    assert everything.shape[0] == sum(math.ceil(store.index[u][1] / 160) for u in store.utts)


def test_weights_change_what_the_units_follow(dumps: Path) -> None:
    """With the onset group weighted up, the units separate onset strength better."""
    store = DumpStore(dumps / "train")
    spec = FeatureSpec(RATE, 160)
    frames = collect_frames(store, spec, max_frames=10**6)
    onset = spec.slices["onset"]

    def onset_error(weights: tuple[float, ...]) -> float:
        s = FeatureSpec(RATE, 160, weights=weights)
        tok = fit_on_frames(frames, s, 64, seed=0)
        ids, _ = tok.quantize(tok.standardizer.apply(frames))
        back = torch.cat(list(tok.decode(ids).values()), dim=1)
        z = Standardizer.fit(frames, spec)
        return float((z.apply(back) - z.apply(frames))[:, onset].square().mean())

    assert onset_error((4.0, 1.0, 1.0)) < 0.7 * onset_error((1.0, 1.0, 1.0))
