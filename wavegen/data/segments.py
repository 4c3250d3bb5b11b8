"""Random training segments drawn from a dump, reproducibly from a torch.Generator.

The sampler holds no state besides the generator, so saving and restoring the generator
state restores the exact sequence of batches (resume).

With unit tables (local conditioning, ``wavegen/units/store.py``) every segment starts one
sample before a frame boundary, as generation starts one step before its first sample: codes
= ``audio[k * hop - 1 : k * hop + T]`` for a random frame k (for k = 0 the first input is the
silence code). Position t then predicts sample ``k * hop + t``, of frame ``k + t // hop``, and
the batch carries the window of the plan those positions read, with ``margin`` frames more on
each side for the frame network's context (-1 where the window runs past the utterance).
"""

from __future__ import annotations

import numpy as np
import torch

from wavegen.audio import mu_law_encode
from wavegen.data.dump import DumpStore
from wavegen.errors import WavegenError
from wavegen.units.codes import start_code, units_to_codes
from wavegen.units.store import UnitStore, n_frames_for

# (codes (B, T + 1) long, cond (B, C)), and with unit tables also (units (B, W) long, offset)
Batch = tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]


def draw_probabilities(store: DumpStore, conds: torch.Tensor, lengths: np.ndarray,
                       label_weights: dict[str, float] | None) -> torch.Tensor:
    """How often each utterance is drawn: its length (N,) times the weight of its label in
    ``label_weights`` (1 for a label not named; several tags: the largest), normalized.
    conds (N, C) the utterances' label vectors.

    Raises:
        WavegenError: ``label_weights`` names a label the data lacks.
    """
    if label_weights:
        unknown = sorted(set(label_weights) - set(store.vocab))
        if unknown:
            raise WavegenError(f"train.label_weights names {', '.join(unknown)}, not in the "
                               f"data's vocabulary: {', '.join(store.vocab)}")
        per_label = np.array([label_weights.get(v, 1.0) for v in store.vocab])
        lengths = lengths * (conds.numpy() * per_label).max(axis=1).clip(min=1e-12)
    return torch.from_numpy(lengths / lengths.sum())


class SegmentSampler:
    """Draws ``(codes (B, T + 1) long, cond (B, C) float)`` batches, and with ``units``
    ``(codes, cond, units (B, W) long, offset)``: W = ceil(T / hop) + 2 * margin frames of
    the plan, position t of the model's input ``codes[:, :-1]`` reading frame
    ``offset + t // hop`` of it (offset = margin).

    Utterances are chosen with probability proportional to their length, times the weight of
    their label in ``label_weights`` (1 for a label not named; an utterance with several tags
    takes the largest of their weights). Without units a segment longer than its utterance is
    left-padded with silence; with units such a segment starts as many whole frames before
    the utterance as it needs (frames -1, silence) and ends at most a hop before its end.

    Raises:
        WavegenError: ``label_weights`` names a label the data lacks; the unit tables do not
            match the dump (``UnitStore.check_aligned``); a negative margin.
    """

    def __init__(self, store: DumpStore, segment_length: int, n_classes: int = 256,
                 label_weights: dict[str, float] | None = None, units: UnitStore | None = None,
                 margin: int = 0) -> None:
        self.store = store
        self.segment_length = segment_length
        self.length = segment_length + 1  # inputs t=0..T-1 and targets t=1..T
        self.n_classes = n_classes
        self.units, self.margin = units, margin
        if margin < 0:
            raise WavegenError(f"the plan's margin must be >= 0 frames, got {margin}")
        if units is not None:
            units.check_aligned({u: store.index[u][1] for u in store.utts}, store.sample_rate)
        lengths = np.array([store.index[u][1] for u in store.utts], dtype=np.float64)
        self.conds = torch.from_numpy(np.stack([store.label_vector(u) for u in store.utts]))
        self.probs = draw_probabilities(store, self.conds, lengths, label_weights)

    def batch(self, batch_size: int, gen: torch.Generator) -> Batch:
        picks = torch.multinomial(self.probs, batch_size, replacement=True, generator=gen)
        starts = torch.rand(batch_size, generator=gen, dtype=torch.float64)
        segs = np.zeros((batch_size, self.length), dtype=np.float32)
        windows = []
        for row, (utt_i, frac) in enumerate(zip(picks.tolist(), starts.tolist(), strict=True)):
            utt = self.store.utts[utt_i]
            audio = self.store.audio(utt)
            if self.units is None:
                span = max(0, audio.size - self.length)
                start = int(frac * (span + 1))
                piece = audio[start:start + self.length]
                segs[row, self.length - piece.size:] = piece / 32768.0
                continue
            hop = self.units.hop
            last = (audio.size - self.segment_length) // hop  # the last frame that fits
            first = min(0, last)
            k = first + int(frac * (last - first + 1))
            begin = k * hop - 1  # the sample of codes[0]
            lo, hi = max(begin, 0), min(begin + self.length, audio.size)
            segs[row, lo - begin:hi - begin] = audio[lo:hi] / 32768.0
            windows.append(self._window(self.units.units(utt), k, hop))
        codes = mu_law_encode(torch.from_numpy(segs), self.n_classes)  # (B, T + 1)
        if self.units is None:
            return codes, self.conds[picks]  # (B, T + 1), (B, C)
        units = torch.from_numpy(np.stack(windows))  # (B, W)
        return codes, self.conds[picks], units, self.margin

    def _window(self, ids: np.ndarray, k: int, hop: int) -> np.ndarray:
        """Frames ``k - margin .. k + ceil(T / hop) + margin - 1`` of an utterance's units
        (F,), -1 outside it -> (W,) int64."""
        n = n_frames_for(self.segment_length, hop) + 2 * self.margin
        start = k - self.margin
        out = np.full(n, -1, dtype=np.int64)
        lo, hi = max(start, 0), min(start + n, ids.size)
        if hi > lo:
            out[lo - start:hi - start] = ids[lo:hi]
        return out


class PlanSegmentSampler:
    """Draws a planner's ``(codes (B, T + 1) long, cond (B, C) float)`` batches from unit
    tables: T frames of one utterance's units in the planner's codes
    (:mod:`wavegen.units.codes`) after the start symbol, so position t predicts frame k + t
    from frames k .. k + t - 1 only, as a generation does from its silent start.

    The first frame k is drawn uniformly over the utterance; utterances are chosen as by
    :class:`SegmentSampler` (length times ``label_weights``). Utterances shorter than T frames
    are left out (logged by the caller through ``skipped``).

    Raises:
        WavegenError: no utterance of at least T frames; a label weight the data lacks; the
            unit tables do not match the dump.
    """

    def __init__(self, store: DumpStore, units: UnitStore, segment_length: int,
                 label_weights: dict[str, float] | None = None) -> None:
        units.check_aligned({u: store.index[u][1] for u in store.utts}, store.sample_rate)
        self.units, self.length = units, segment_length + 1
        self.n_units, self.start = units.n_units, start_code(units.n_units)
        frames = np.array([units.units(u).size for u in store.utts], dtype=np.float64)
        usable = frames >= segment_length
        self.skipped = [u for u, ok in zip(store.utts, usable, strict=True) if not ok]
        if not usable.any():
            raise WavegenError(
                f"train.segment_length {segment_length} frames is longer than every utterance "
                f"of {store.path} (the longest has {int(frames.max(initial=0))} frames of "
                f"{units.hop} samples): shorten the segment")
        self.utts = store.utts
        self.conds = torch.from_numpy(np.stack([store.label_vector(u) for u in store.utts]))
        self.probs = draw_probabilities(store, self.conds, np.where(usable, frames, 0.0),
                                        label_weights)

    def batch(self, batch_size: int, gen: torch.Generator) -> Batch:
        picks = torch.multinomial(self.probs, batch_size, replacement=True, generator=gen)
        starts = torch.rand(batch_size, generator=gen, dtype=torch.float64)
        T = self.length - 1
        codes = torch.full((batch_size, self.length), self.start, dtype=torch.long)
        for row, (utt_i, frac) in enumerate(zip(picks.tolist(), starts.tolist(), strict=True)):
            ids = self.units.units(self.utts[utt_i])
            k = int(frac * (ids.size - T + 1))
            codes[row, 1:] = units_to_codes(np.asarray(ids[k:k + T], dtype=np.int64),
                                            self.n_units)
        return codes, self.conds[picks]  # (B, T + 1), (B, C)
