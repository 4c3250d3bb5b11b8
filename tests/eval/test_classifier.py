"""The evaluation classifier's features: the fast log-mel equals torchaudio's MelSpectrogram."""

import pytest
import torch

from wavegen.eval.classifier import ClassifierConfig, GenreClassifier


@pytest.mark.parametrize("rate, batch, scale", [(8000, 3, 0.3), (16000, 2, 1.0),
                                                (22050, 1, 1e-3), (8000, 4, 0.0)])
def test_log_mel_equals_the_reference_transform(rate, batch, scale):
    """Power as re^2 + im^2 instead of |z|^2: the same features to float rounding, for loud,
    quiet and silent clips."""
    gen = torch.Generator().manual_seed(rate + batch)
    model = GenreClassifier(ClassifierConfig(sample_rate=rate), n_classes=10)
    wav = scale * torch.randn(batch, rate, generator=gen)
    want = torch.log(model.mel(wav) + 1e-5)  # (B, M, F): the transform's own |z| ** 2
    got = model.log_mel(wav)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() < 1e-4
