"""Copy detection: FFT-based max normalized cross-correlation against training audio, nearest
training clip by embedding, and the eval.json ``copies`` entry."""

import numpy as np
import pytest

from wavegen.eval import copies
from wavegen.eval.copies import (
    MIN_THRESHOLD,
    baseline_excerpts,
    find_copies,
    max_ncc,
    nearest_by_embedding,
)

RATE = 8000


def music_like(seconds: float, seed: int) -> np.ndarray:
    """Notes (decaying harmonic tones) over filtered noise: (T,) at RATE."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = 0.05 * np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same")
    t = np.arange(int(0.25 * RATE)) / RATE
    for start in range(0, n - t.size, t.size):
        f = 110 * 2 ** (rng.integers(0, 24) / 12)
        x[start:start + t.size] += 0.3 * np.exp(-6 * t) * (np.sin(2 * np.pi * f * t)
                                                          + 0.5 * np.sin(4 * np.pi * f * t))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def train():
    return [music_like(6.0, seed) for seed in range(4)]


def brute_force(gen, train, rate, length, hop, floor):
    """Max |NCC| over windows, clips and lags, by direct dot products (tiny inputs only)."""
    g = gen - gen.mean()
    starts = range(0, g.size - length + 1, hop) if g.size > length else [0]
    best = (0.0, -1, 0, 0)
    for s in starts:
        w = np.zeros(length)
        w[: g[s:s + length].size] = g[s:s + length]
        if w @ w < floor:
            continue
        for i, x in enumerate(train):
            x = x - x.mean()
            for lag in range(x.size - length + 1):
                seg = x[lag:lag + length]
                if seg @ seg >= floor and abs(w @ seg) / np.sqrt((w @ w) * (seg @ seg)) > best[0]:
                    best = (abs(w @ seg) / np.sqrt((w @ w) * (seg @ seg)), i, s, lag)
    return best


@pytest.mark.parametrize("batch", [copies.MAX_BATCH, 1600])  # 1600: 2 windows x 1 block
def test_fft_scan_matches_brute_force(monkeypatch, batch):
    monkeypatch.setattr(copies, "MAX_BATCH", batch)
    rate = 200  # 1 s windows of 200 samples: the brute force stays cheap
    rng = np.random.default_rng(1)
    train = [rng.standard_normal(int(rate * s)).astype(np.float32) for s in (3.3, 7.1, 0.5, 11)]
    gen = [rng.standard_normal(int(rate * 2.7)).astype(np.float32),
           -0.5 * train[1][300:900] + 0.3 * rng.standard_normal(600).astype(np.float32),
           rng.standard_normal(150).astype(np.float32)]  # shorter than one window
    for clip, m in zip(gen, max_ncc(gen, train, rate), strict=True):
        ncc, i, s, lag = brute_force(clip, train, rate, rate, rate // 2, rate * 1e-6)
        assert m.ncc == pytest.approx(ncc, abs=1e-5)
        assert (m.train, m.window_start, m.train_start) == (i, s, lag)


def test_noisy_excerpt_of_a_training_clip_is_flagged_with_its_source(train):
    rng = np.random.default_rng(2)
    start = int(2.3 * RATE)
    excerpt = train[2][start:start + 3 * RATE]
    noise = rng.standard_normal(excerpt.size) * np.sqrt(np.mean(excerpt**2) / 100)  # 20 dB
    copied = 0.7 * (excerpt + noise.astype(np.float32))
    unrelated = 0.1 * rng.standard_normal(3 * RATE).astype(np.float32)
    silent = np.zeros(3 * RATE, np.float32)
    emb_train = rng.random((len(train), 8))
    emb_gen = np.stack([emb_train[2] + 0.01, rng.random(8), rng.random(8)])
    out = find_copies([copied, unrelated, silent], ["rock_0.wav", "rock_1.wav", "rock_2.wav"],
                      emb_gen, train, ["u0", "u1", "u2", "u3"], emb_train, RATE)
    c, u, s = out["clips"]
    assert c["flagged"] and c["max_ncc"] > 0.9 and c["ncc_train_utt"] == "u2"
    assert c["ncc_offset_seconds"] - c["ncc_window_seconds"] == pytest.approx(2.3, abs=1e-3)
    assert c["nearest_train_utt"] == "u2" and c["embedding_distance"] < 1e-3
    assert not u["flagged"] and u["max_ncc"] < 0.3
    assert not s["flagged"] and s["max_ncc"] == 0.0 and s["ncc_train_utt"] is None
    assert out["n_flagged"] == 1 and out["threshold"] == MIN_THRESHOLD  # no real excerpts
    assert out["real_vs_train"]["n"] == 0 and out["window_seconds"] == 1.0


def test_threshold_follows_the_real_excerpts(train):
    # A real excerpt that happens to match the training audio closely (0.9) raises the
    # automatic threshold: a generated clip matching as closely is not flagged.
    rng = np.random.default_rng(3)
    x = train[1][RATE:3 * RATE]
    p = np.mean(x**2)
    real = x + rng.standard_normal(x.size).astype(np.float32) * np.sqrt(p / 10 ** 0.75)
    gen = [train[3][RATE:3 * RATE] + rng.standard_normal(x.size).astype(np.float32)
           * np.sqrt(p / 10 ** 0.5), train[0][:2 * RATE].copy()]
    emb = rng.random((len(train), 4))
    out = find_copies(gen, ["a_0.wav", "a_1.wav"], emb[:2], train, list("abcd"), emb, RATE,
                      real=[real], real_utts=["test1"])
    base = out["real_vs_train"]
    assert base["utts"] == ["test1"] and 0.85 < base["max"] < 0.98
    assert out["threshold"] == pytest.approx(base["max"])
    assert [c["flagged"] for c in out["clips"]] == [False, True]
    fixed = find_copies(gen, ["a_0.wav", "a_1.wav"], emb[:2], train, list("abcd"), emb, RATE,
                        real=[real], threshold=0.8)
    assert [c["flagged"] for c in fixed["clips"]] == [True, True]
    assert fixed["threshold_rule"] == "given"


def test_nearest_by_embedding_uses_cosine_distance():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    idx, dist = nearest_by_embedding(np.array([[10.0, 0.1], [0.0, 0.0], [-1.0, 2.0]]), train)
    assert idx[0] == 0 and dist[0] == pytest.approx(1 - 10 / np.hypot(10, 0.1))
    assert dist[1] == pytest.approx(1.0) and idx[2] == 1


def test_baseline_excerpts_take_labels_in_turn():
    clips = [np.arange(10, dtype=np.float32) + i for i in range(5)]
    labels = [["a"], ["a"], ["a"], ["b", "a"], ["c"]]
    excerpts, picked = baseline_excerpts(clips, labels, 4, 3)
    assert picked == [0, 3, 4, 1] and all(e.size == 3 for e in excerpts)
    assert baseline_excerpts(clips, labels, 10, 3)[1] == [0, 3, 4, 1, 2]
