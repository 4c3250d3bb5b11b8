"""A compact genre/tag classifier on log-mel features (torchaudio), trained in-project.

It judges generated clips (conditional accuracy) and, through its penultimate layer, gives
the embedding for Frechet distances. Input: mono waveforms (B, T) at the model's sample rate.
Genres are single-label (softmax, cross-entropy); tags are multi-label (sigmoid, binary
cross-entropy).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio

from wavegen.data.dump import DumpStore
from wavegen.errors import WavegenError
from wavegen.models.io import atomic_torch_save, safe_torch_load
from wavegen.progress import progress

log = logging.getLogger(__name__)
CLASSIFIER_FORMAT = "wavegen-classifier"


@dataclass
class ClassifierConfig:
    sample_rate: int = 16000
    n_mels: int = 64
    n_fft: int = 1024
    hop_length: int = 256
    channels: int = 64
    crop_seconds: float = 1.0


class GenreClassifier(nn.Module):
    """log-mel -> 1-D convolutions over frames -> mean/max pooling -> embedding -> classes.

    ``vocab``/``multi_label`` describe the outputs; they travel with the classifier file.
    """

    def __init__(self, cfg: ClassifierConfig, n_classes: int, vocab: list[str] | None = None,
                 multi_label: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab = list(vocab) if vocab is not None else [str(i) for i in range(n_classes)]
        self.multi_label = multi_label
        self.mel = torchaudio.transforms.MelSpectrogram(
            cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels
        )
        c = cfg.channels
        self.net = nn.Sequential(
            nn.Conv1d(cfg.n_mels, c, 3, padding=1), nn.BatchNorm1d(c), nn.ReLU(),
            nn.Conv1d(c, c, 3, padding=2, dilation=2), nn.BatchNorm1d(c), nn.ReLU(),
            nn.Conv1d(c, c, 3, padding=4, dilation=4), nn.BatchNorm1d(c), nn.ReLU(),
        )
        self.embed = nn.Linear(2 * c, c)
        self.head = nn.Linear(c, n_classes)

    def log_mel(self, wav: torch.Tensor) -> torch.Tensor:
        """wav (B, T) -> log-mel power spectrogram (B, M, F): ``self.mel``'s settings, with the
        power taken as re^2 + im^2 of the STFT instead of ``|z| ** 2`` (the complex
        magnitude's square root and square take 4x as long; the two agree to float
        rounding, which a test holds)."""
        sp = self.mel.spectrogram
        z = torchaudio.functional.spectrogram(
            wav, sp.pad, sp.window, sp.n_fft, sp.hop_length, sp.win_length, None,
            sp.normalized, sp.center, sp.pad_mode, sp.onesided)  # (B, n_fft // 2 + 1, F)
        power = z.real.square() + z.imag.square()
        return torch.log(self.mel.mel_scale(power) + 1e-5)

    def embedding(self, wav: torch.Tensor) -> torch.Tensor:
        """wav (B, T) -> penultimate embedding (B, channels)."""
        spec = self.log_mel(wav)  # (B, M, F)
        h = self.net(spec)  # (B, c, F)
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=1)  # (B, 2c)
        return F.relu(self.embed(pooled))  # (B, c)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """wav (B, T) -> logits (B, classes)."""
        return self.head(self.embedding(wav))


def _crops(clips: list[np.ndarray], length: int, rng: np.random.Generator) -> torch.Tensor:
    out = np.zeros((len(clips), length), dtype=np.float32)
    for i, clip in enumerate(clips):
        start = int(rng.integers(0, max(1, clip.size - length + 1)))
        piece = clip[start:start + length]
        out[i, : piece.size] = piece
    return torch.from_numpy(out)


def augment(wav: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random gain; white noise at 0-30 dB SNR on half the batch; a random one-pole low-pass
    (``y[t] = (1 - a) x[t] + a y[t-1]``, a in [0, 0.8]: up to ~14 dB darker at 4 kHz) on an
    independent half. (B, T) -> (B, T)

    Generated audio carries sampling noise that real clips lack, and a WaveNet's clips come
    out darker than its training clips (spectral centroid 100-400 Hz lower on the toy corpus,
    docs/evaluation.md). Both teach the classifier to judge the music (register, scale,
    rhythm, percussion) rather than the noise level or the tone control.
    """
    B = wav.shape[0]
    gain = torch.from_numpy(rng.uniform(0.5, 1.5, size=(B, 1)).astype(np.float32))
    snr_db = torch.from_numpy(rng.uniform(0.0, 30.0, size=(B, 1)).astype(np.float32))
    power = wav.pow(2).mean(dim=1, keepdim=True).clamp_min(1e-8)
    noise = torch.from_numpy(rng.standard_normal(wav.shape).astype(np.float32))
    noise = noise * (power / 10 ** (snr_db / 10)).sqrt()
    noisy = torch.from_numpy(rng.random((B, 1)) < 0.5)
    wav = wav + noisy * noise
    pole = rng.uniform(0.0, 0.8, size=B) * (rng.random(B) < 0.5)  # (B,): 0 = unfiltered
    a = torch.from_numpy(pole.astype(np.float32))
    one, zero = torch.ones(B), torch.zeros(B)
    wav = torchaudio.functional.lfilter(wav, torch.stack([one, -a], 1),
                                        torch.stack([1 - a, zero], 1), clamp=False,
                                        batching=True)
    return gain * wav


def train_classifier(
    clips: list[np.ndarray], labels: list[int] | np.ndarray, n_classes: int,
    cfg: ClassifierConfig | None = None, steps: int = 300, batch_size: int = 32, seed: int = 0,
    vocab: list[str] | None = None,
) -> GenreClassifier:
    """Train on random crops of float waveforms ``clips[i]`` (T_i,).

    Args:
        labels: integer class per clip (N,), or a multi-hot matrix (N, n_classes) for tags
            (then the classifier is multi-label).
    """
    cfg = cfg or ClassifierConfig()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    y_all = np.asarray(labels)
    multi = y_all.ndim == 2
    model = GenreClassifier(cfg, n_classes, vocab, multi_label=multi)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    length = int(cfg.crop_seconds * cfg.sample_rate)
    model.train()
    for _ in progress(range(steps), desc="classifier", unit="step"):
        idx = rng.integers(0, len(clips), size=batch_size)
        wav = _crops([clips[i] for i in idx], length, rng)
        logits = model(augment(wav, rng))
        target = torch.from_numpy(y_all[idx])
        loss = (F.binary_cross_entropy_with_logits(logits, target.float()) if multi
                else F.cross_entropy(logits, target.long()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def crop_embeddings(model: GenreClassifier, clip: np.ndarray) -> torch.Tensor:
    """Embeddings of a clip's non-overlapping crops (a short clip is zero-padded). -> (n, c)"""
    length = int(model.cfg.crop_seconds * model.cfg.sample_rate)
    n = max(1, clip.size // length)
    crops = np.zeros((n, length), dtype=np.float32)
    for k in range(n):
        piece = clip[k * length:(k + 1) * length]
        crops[k, : piece.size] = piece
    return model.embedding(torch.from_numpy(crops))


@torch.no_grad()
def predict(model: GenreClassifier, clips: list[np.ndarray]) -> np.ndarray:
    """Class probabilities per clip, averaged over its non-overlapping crops. -> (N, classes)

    Softmax probabilities for genres; independent sigmoid probabilities for tags.
    """
    model.eval()
    out = []
    for clip in progress(clips, desc="classify", unit="clip", leave=False):
        logits = model.head(crop_embeddings(model, clip))
        probs = torch.sigmoid(logits) if model.multi_label else torch.softmax(logits, -1)
        out.append(probs.mean(0).numpy())
    return np.stack(out)


@torch.no_grad()
def embed(model: GenreClassifier, clips: list[np.ndarray]) -> np.ndarray:
    """Penultimate-layer embedding per clip, averaged over its crops. -> (N, c) float64"""
    model.eval()
    return np.stack([crop_embeddings(model, c).mean(0).double().numpy()
                     for c in progress(clips, desc="embed", unit="clip", leave=False)])


def accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Top-1 accuracy: the most probable class is (one of) the target(s).

    Args:
        probs: (N, C); targets: (N,) class indices or (N, C) multi-hot.
    """
    pred = probs.argmax(1)
    hit = targets[np.arange(len(pred)), pred] > 0 if targets.ndim == 2 else pred == targets
    return float(np.mean(hit))


def _store_clips(store: DumpStore, max_seconds: float | None) -> list[np.ndarray]:
    limit = None if max_seconds is None else int(max_seconds * store.sample_rate)
    return [np.asarray(store.audio(u)[:limit], dtype=np.float32) / 32768.0 for u in store.utts]


def store_targets(store: DumpStore) -> np.ndarray:
    """Targets of a dump: (N,) class indices for genres, (N, C) multi-hot for tags."""
    vectors = np.stack([store.label_vector(u) for u in store.utts])
    return vectors if store.label_kind == "utt2tags" else vectors.argmax(1)


def save_classifier(path: str | os.PathLike[str], model: GenreClassifier,
                    metrics: dict[str, Any]) -> None:
    """Write a classifier file (loads with ``weights_only=True``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    atomic_torch_save({"format": CLASSIFIER_FORMAT, "version": 1, "config": asdict(model.cfg),
                       "vocab": model.vocab, "multi_label": model.multi_label,
                       "metrics": dict(metrics), "state_dict": state}, path)


def load_classifier(path: str | os.PathLike[str]) -> tuple[GenreClassifier, dict[str, Any]]:
    """Read a classifier file -> (classifier, its training metrics)."""
    obj = safe_torch_load(path, "classifier file")
    if obj.get("format") != CLASSIFIER_FORMAT:
        raise WavegenError(f"{path} is not a wavegen classifier file; train one with "
                           "'wavegen classifier train'")
    try:
        cfg = ClassifierConfig(**obj["config"])
        model = GenreClassifier(cfg, len(obj["vocab"]), obj["vocab"], bool(obj["multi_label"]))
        model.load_state_dict(obj["state_dict"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise WavegenError(f"classifier file {path} is damaged: {err}") from err
    return model.eval(), dict(obj.get("metrics", {}))


def train_classifier_on_dumps(
    dump_dir: str | os.PathLike[str], out: str | os.PathLike[str], steps: int = 600,
    seed: int = 0, max_seconds: float | None = 30.0,
) -> dict[str, Any]:
    """Train on ``dump_dir/train`` at the dump's (the model's) rate, test on ``dump_dir/test``.

    Writes the classifier file ``out`` and returns its metrics: the test accuracy on real clips
    is the ceiling for the conditional accuracy of generated ones.
    """
    dump_dir = Path(dump_dir)
    train_store, test_store = DumpStore(dump_dir / "train"), DumpStore(dump_dir / "test")
    if train_store.vocab != test_store.vocab or train_store.sample_rate != test_store.sample_rate:
        raise WavegenError(f"train and test dumps in {dump_dir} differ in vocabulary or rate")
    cfg = ClassifierConfig(sample_rate=train_store.sample_rate)
    vocab = train_store.vocab
    model = train_classifier(_store_clips(train_store, max_seconds), store_targets(train_store),
                             len(vocab), cfg, steps=steps, seed=seed, vocab=vocab)
    test_targets = store_targets(test_store)
    probs = predict(model, _store_clips(test_store, max_seconds))
    metrics: dict[str, Any] = {
        "test_accuracy": accuracy(probs, test_targets), "n_test": len(test_store.utts),
        "n_train": len(train_store.utts), "steps": steps, "label_kind": train_store.label_kind}
    save_classifier(out, model, metrics)
    log.info("classifier: %.1f%% on %d real test clips; saved to %s",
             100 * metrics["test_accuracy"], metrics["n_test"], out)
    return metrics
