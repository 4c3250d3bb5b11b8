"""Trainable models. They know nothing about inference engines: a model exports a flat
:class:`~wavegen.models.weights.WaveNetWeights` and every engine consumes exactly that."""

from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.models.weights import WaveNetWeights

__all__ = ["WaveNet", "WaveNetConfig", "WaveNetWeights"]
