"""A compact genre classifier on log-mel features (torchaudio), trained in-project.

It judges generated clips (conditional accuracy) and, through its penultimate layer, gives
the embedding for Frechet distances. Input: mono waveforms (B, T) at the model's sample rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchaudio


@dataclass
class ClassifierConfig:
    sample_rate: int = 16000
    n_mels: int = 64
    n_fft: int = 1024
    hop_length: int = 256
    channels: int = 64
    crop_seconds: float = 1.0


class GenreClassifier(nn.Module):
    """log-mel -> 1-D convolutions over frames -> mean/max pooling -> embedding -> classes."""

    def __init__(self, cfg: ClassifierConfig, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
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

    def embedding(self, wav: torch.Tensor) -> torch.Tensor:
        """wav (B, T) -> penultimate embedding (B, channels)."""
        spec = torch.log(self.mel(wav) + 1e-5)  # (B, M, F)
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
    """Random gain, and white noise at 0-30 dB SNR on half the batch. (B, T) -> (B, T)

    Generated audio carries sampling noise that real clips lack; the noise teaches the
    classifier to judge the music under it rather than the noise level.
    """
    B = wav.shape[0]
    gain = torch.from_numpy(rng.uniform(0.5, 1.5, size=(B, 1)).astype(np.float32))
    snr_db = torch.from_numpy(rng.uniform(0.0, 30.0, size=(B, 1)).astype(np.float32))
    power = wav.pow(2).mean(dim=1, keepdim=True).clamp_min(1e-8)
    noise = torch.from_numpy(rng.standard_normal(wav.shape).astype(np.float32))
    noise = noise * (power / 10 ** (snr_db / 10)).sqrt()
    noisy = torch.from_numpy(rng.random((B, 1)) < 0.5)
    return gain * (wav + noisy * noise)


def train_classifier(
    clips: list[np.ndarray], labels: list[int], n_classes: int,
    cfg: ClassifierConfig | None = None, steps: int = 300, batch_size: int = 32, seed: int = 0,
) -> GenreClassifier:
    """Train on random crops of float waveforms ``clips[i]`` (T_i,) with integer ``labels``."""
    cfg = cfg or ClassifierConfig()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = GenreClassifier(cfg, n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    length = int(cfg.crop_seconds * cfg.sample_rate)
    y_all = np.asarray(labels)
    model.train()
    for _ in range(steps):
        idx = rng.integers(0, len(clips), size=batch_size)
        wav = _crops([clips[i] for i in idx], length, rng)
        loss = F.cross_entropy(model(augment(wav, rng)), torch.from_numpy(y_all[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@torch.no_grad()
def predict(model: GenreClassifier, clips: list[np.ndarray]) -> np.ndarray:
    """Class probabilities per clip, averaged over its non-overlapping crops. -> (N, classes)"""
    model.eval()
    length = int(model.cfg.crop_seconds * model.cfg.sample_rate)
    out = []
    for clip in clips:
        n = max(1, clip.size // length)
        crops = np.zeros((n, length), dtype=np.float32)
        for k in range(n):
            piece = clip[k * length:(k + 1) * length]
            crops[k, : piece.size] = piece
        out.append(torch.softmax(model(torch.from_numpy(crops)), -1).mean(0).numpy())
    return np.stack(out)
