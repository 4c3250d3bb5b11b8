"""A tiny real renderer for the copy-synthesis tests: a tokenizer fitted on a dump and a
WaveNet with local conditioning on its units, saved as a model file with that tokenizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wavegen.data.dump import DumpStore
from wavegen.models.io import save_model
from wavegen.models.wavenet import WaveNet, WaveNetConfig
from wavegen.units.tokenizer import Tokenizer, fit_tokenizer

RATE, HOP, K = 8000, 160, 64
# Sampling defaults a render must pick up from the model file.
DEFAULTS = {"temperature": 0.9, "top_p": 0.95, "guidance": 2.0}


def fit_tiny_tokenizer(dump_train: Path) -> Tokenizer:
    """K = 64 units, hop 160, fitted on at most 1,000 frames of ``dump_train``."""
    return fit_tokenizer(dump_train, n_units=K, hop=HOP, max_frames=1000, seed=0)


def tiny_renderer(tok: Tokenizer, n_cond: int, seed: int = 0) -> WaveNet:
    """Dilations 1, 2, 4 (receptive field 8), a frame network of one convolution. Its frame
    projection is scaled up from the fresh model's so that the plan moves the logits."""
    torch.manual_seed(seed)
    net = WaveNet(WaveNetConfig(n_layers=3, dilation_cycle=3, residual_channels=8,
                                gate_channels=8, skip_channels=8, n_cond=n_cond,
                                n_units=tok.n_units, unit_hop=tok.hop, unit_channels=8,
                                unit_layers=1))
    with torch.no_grad():
        net.frame_net.proj.weight.mul_(30.0)
    return net.eval()


def save_renderer(path: Path, net: WaveNet, tok: Tokenizer, dump_train: Path,
                  **overrides: Any) -> Path:
    """The model file of ``net`` with ``tok`` and the vocabulary of ``dump_train``;
    ``overrides`` replace :func:`wavegen.models.io.save_model`'s arguments."""
    kw: dict[str, Any] = {"vocab": DumpStore(dump_train).vocab, "null_condition": True,
                          "synth_defaults": DEFAULTS, "tokenizer": tok.state()}
    kw.update(overrides)
    save_model(path, net, RATE, **kw)
    return path
