"""Random training segments drawn from a dump, reproducibly from a torch.Generator.

The sampler holds no state besides the generator, so saving and restoring the generator
state restores the exact sequence of batches (resume).
"""

from __future__ import annotations

import numpy as np
import torch

from wavegen.audio import mu_law_encode
from wavegen.data.dump import DumpStore
from wavegen.errors import WavegenError


class SegmentSampler:
    """Draws ``(codes (B, T + 1) long, cond (B, C) float)`` batches.

    Utterances are chosen with probability proportional to their length, times the weight of
    their label in ``label_weights`` (1 for a label not named; an utterance with several tags
    takes the largest of their weights); a segment longer than its utterance is left-padded
    with silence.
    """

    def __init__(self, store: DumpStore, segment_length: int, n_classes: int = 256,
                 label_weights: dict[str, float] | None = None) -> None:
        self.store = store
        self.length = segment_length + 1  # inputs t=0..T-1 and targets t=1..T
        self.n_classes = n_classes
        lengths = np.array([store.index[u][1] for u in store.utts], dtype=np.float64)
        self.conds = torch.from_numpy(np.stack([store.label_vector(u) for u in store.utts]))
        if label_weights:
            unknown = sorted(set(label_weights) - set(store.vocab))
            if unknown:
                raise WavegenError(f"train.label_weights names {', '.join(unknown)}, not in the "
                                   f"data's vocabulary: {', '.join(store.vocab)}")
            per_label = np.array([label_weights.get(v, 1.0) for v in store.vocab])
            lengths = lengths * (self.conds.numpy() * per_label).max(axis=1).clip(min=1e-12)
        self.probs = torch.from_numpy(lengths / lengths.sum())

    def batch(self, batch_size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        picks = torch.multinomial(self.probs, batch_size, replacement=True, generator=gen)
        starts = torch.rand(batch_size, generator=gen, dtype=torch.float64)
        segs = np.zeros((batch_size, self.length), dtype=np.float32)
        for row, (utt_i, frac) in enumerate(zip(picks.tolist(), starts.tolist(), strict=True)):
            audio = self.store.audio(self.store.utts[utt_i])
            span = max(0, audio.size - self.length)
            start = int(frac * (span + 1))
            piece = audio[start:start + self.length]
            segs[row, self.length - piece.size:] = piece / 32768.0
        codes = mu_law_encode(torch.from_numpy(segs), self.n_classes)  # (B, T + 1)
        return codes, self.conds[picks]  # (B, T + 1), (B, C)
