"""The unit tokenizer: k-means over standardized frame features, fitted on a dump.

``fit_tokenizer(DUMP/train)`` computes the features of :mod:`wavegen.units.features` for a
random subset of the training frames (at most ``max_frames``, spread evenly over at most
``max_clips`` clips), standardizes them and clusters them with scikit-learn's seeded
``MiniBatchKMeans``; :meth:`Tokenizer.encode` gives each frame of a clip the id of its nearest
centroid.

The file ``tokenizer.pt`` (:meth:`Tokenizer.save`) is a dict of plain types and tensors, safe
for ``torch.load(weights_only=True)``::

    format      "wavegen-tokenizer"
    version     1
    identity    {"name", "sample_rate", "hop", "n_units", "features", "hash"}: JSON-able,
                also stored in every unit table and plan made with it
    spec        FeatureSpec.to_dict(): rate, hop, feature groups and their weights
    mean, std, scale   (D,) float32: the Standardizer
    centroids   (K, D) float32, in standardized units

``hash`` is a digest of everything fitted (spec, standardizer, centroids), so two tokenizers
share an identity only if they encode alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from typing import Any

import numpy as np
import torch

from wavegen.errors import WavegenError
from wavegen.outputs import atomic_output
from wavegen.progress import progress
from wavegen.units.features import GROUPS, FeatureSpec, Standardizer, frame_features, single_thread
from wavegen.units.files import input_file

log = logging.getLogger(__name__)

FORMAT = "wavegen-tokenizer"
VERSION = 1
NAME = "kmeans"
N_UNITS_RANGE = (64, 1024)
MAX_FRAMES = 200_000  # frames the k-means is fitted on (memory and time bound)
MAX_CLIPS = 2000  # clips those frames are drawn from (feature time bound on large corpora)
KMEANS_BATCH = 4096
KMEANS_ITER = 100
KMEANS_INIT = 3
ENCODE_BLOCK = 8192  # frames whose distances are computed at once


def dump_audio(samples: np.ndarray) -> np.ndarray:
    """A dump's int16 samples ``(N,)`` as float32 in [-1, 1), as training reads them."""
    return np.asarray(samples, dtype=np.float32) / 32768.0


def _state_hash(spec: FeatureSpec, std: Standardizer, centroids: torch.Tensor) -> str:
    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode())
    for t in (std.mean, std.std, std.scale, centroids):
        digest.update(np.ascontiguousarray(t.numpy(), dtype="<f4").tobytes())
    return digest.hexdigest()[:16]


class Tokenizer:
    """A fitted tokenizer. ``encode(audio (N,)) -> ids (ceil(N / hop),)``.

    Args:
        spec: the features it computes.
        standardizer: their scaling.
        centroids: ``(K, D)`` float32 in standardized units.
    """

    def __init__(self, spec: FeatureSpec, standardizer: Standardizer,
                 centroids: torch.Tensor) -> None:
        self.spec = spec
        self.standardizer = standardizer
        self.centroids = centroids.float().contiguous()  # (K, D)
        self._sq_norms = self.centroids.square().sum(dim=1)  # (K,)
        self.hash = _state_hash(spec, standardizer, self.centroids)

    @property
    def n_units(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def sample_rate(self) -> int:
        return self.spec.sample_rate

    @property
    def hop(self) -> int:
        return self.spec.hop

    def identity(self) -> dict[str, Any]:
        """JSON-able identity, stored in unit tables and plans."""
        return {"name": NAME, "sample_rate": self.sample_rate, "hop": self.hop,
                "n_units": self.n_units, "features": list(self.spec.groups), "hash": self.hash}

    def check(self, sample_rate: int, hop: int | None = None, what: str = "the audio") -> None:
        """Refuse audio at another rate, or a caller that expects another hop.

        Raises:
            WavegenError: naming both values and what to do.
        """
        if sample_rate != self.sample_rate:
            raise WavegenError(f"the tokenizer was fitted at {self.sample_rate} Hz, {what} is "
                               f"at {sample_rate} Hz; fit a tokenizer on a dump at "
                               f"{sample_rate} Hz (wavegen units fit)")
        if hop is not None and hop != self.hop:
            raise WavegenError(f"the tokenizer has a hop of {self.hop} samples, {what} asks "
                               f"for {hop}; fit a tokenizer with --hop {hop}")

    def embed(self, audio: np.ndarray | torch.Tensor, what: str = "audio") -> torch.Tensor:
        """Standardized features ``(F, D)`` of mono audio ``(N,)`` at the tokenizer's rate."""
        return self.standardizer.apply(frame_features(audio, self.spec, what))

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest centroid of each standardized frame.

        Args:
            z: ``(F, D)`` standardized features.

        Returns:
            ``ids (F,)`` int64 and the squared distances ``(F,)`` to their centroids.
        """
        ids, dist = [], []
        with single_thread():
            for block in torch.split(z.float(), ENCODE_BLOCK):
                d = (self._sq_norms[None, :] - 2.0 * block @ self.centroids.T
                     + block.square().sum(dim=1, keepdim=True))  # (b, K)
                best, arg = d.min(dim=1)
                ids.append(arg)
                dist.append(best.clamp_min(0.0))
        return torch.cat(ids), torch.cat(dist)

    def encode(self, audio: np.ndarray | torch.Tensor, what: str = "audio") -> np.ndarray:
        """Unit ids ``(ceil(N / hop),)`` int64 of mono audio ``(N,)`` at the tokenizer's rate."""
        with single_thread():
            return self.quantize(self.embed(audio, what))[0].numpy()

    def decode(self, ids: np.ndarray | torch.Tensor) -> dict[str, torch.Tensor]:
        """The centroids of a unit sequence, per feature group, in raw feature units.

        Args:
            ids: ``(F,)`` ids in ``[0, K)``.

        Returns:
            ``{group: (F, D_g)}``: e.g. ``decode(ids)["onset"].sum(1)`` is an onset envelope.
        """
        ids = torch.as_tensor(np.asarray(ids), dtype=torch.long)
        if ids.ndim != 1 or (ids.numel() and (ids.min() < 0 or ids.max() >= self.n_units)):
            raise WavegenError(f"unit ids must be a 1-D sequence in [0, {self.n_units})")
        raw = self.standardizer.invert(self.centroids[ids])  # (F, D)
        return {g: raw[:, s] for g, s in self.spec.slices.items()}

    def centroids_by_group(self) -> dict[str, torch.Tensor]:
        """Every unit's centroid per feature group, in raw feature units: ``{group: (K, D_g)}``."""
        return self.decode(torch.arange(self.n_units))

    def state(self) -> dict[str, Any]:
        """The dict that :meth:`save` writes (plain types and tensors)."""
        return {"format": FORMAT, "version": VERSION, "identity": self.identity(),
                "spec": self.spec.to_dict(), "mean": self.standardizer.mean.clone(),
                "std": self.standardizer.std.clone(), "scale": self.standardizer.scale.clone(),
                "centroids": self.centroids.clone()}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``tokenizer.pt`` atomically."""
        with atomic_output(path, suffix=".pt") as tmp:
            torch.save(self.state(), tmp)

    @classmethod
    def from_state(cls, state: Any, where: str = "tokenizer") -> Tokenizer:
        """Rebuild from :meth:`state`, checking every field.

        Raises:
            WavegenError: another format or version, a missing or malformed field, or a hash
                that does not match the fitted state (a damaged file).
        """
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise WavegenError(f"{where} is not a wavegen tokenizer file; fit one with "
                               "wavegen units fit")
        if state.get("version") != VERSION:
            raise WavegenError(f"{where} is a tokenizer of version {state.get('version')!r}; "
                               f"this wavegen reads version {VERSION}: fit it again")
        try:
            spec = FeatureSpec.from_dict(state["spec"])
            tensors = [state[k] for k in ("mean", "std", "scale", "centroids")]
            if not all(isinstance(t, torch.Tensor) and t.dtype == torch.float32
                       for t in tensors):
                raise TypeError("mean, std, scale and centroids must be float32 tensors")
            mean, std, scale, centroids = tensors
            if any(t.shape != (spec.dim,) for t in (mean, std, scale)) or (
                    centroids.ndim != 2 or centroids.shape[1] != spec.dim):
                raise ValueError(f"tensor shapes do not fit {spec.dim} feature dimensions")
            if not all(bool(torch.isfinite(t).all()) for t in tensors) or bool(
                    (std <= 0).any()):
                raise ValueError("non-finite values or a non-positive std")
            identity = dict(state["identity"])
        except (KeyError, TypeError, ValueError, WavegenError) as err:
            raise WavegenError(f"{where} is a damaged tokenizer file ({err}); fit it again "
                               "with wavegen units fit") from None
        tok = cls(spec, Standardizer(mean, std, scale), centroids)
        if identity != tok.identity():
            raise WavegenError(f"{where} is a damaged tokenizer file (its identity does not "
                               "match its fitted state); fit it again with wavegen units fit")
        return tok

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Tokenizer:
        """Read ``tokenizer.pt``.

        Raises:
            WavegenError: a missing path, a folder or FIFO, or a file that is not an intact
                tokenizer (one line naming the file and the cause).
        """
        path = input_file(path, "tokenizer file", "fit one with wavegen units fit")
        try:
            with warnings.catch_warnings():  # torch's notes on a foreign pickle
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # pickle, zip and torch errors alike: not a tokenizer file
            raise WavegenError(f"{path} is not a wavegen tokenizer file ({type(err).__name__});"
                               " fit one with wavegen units fit") from None
        return cls.from_state(state, str(path))


def check_n_units(n_units: int) -> None:
    """Raises WavegenError unless ``n_units`` is an integer in ``N_UNITS_RANGE``."""
    lo, hi = N_UNITS_RANGE
    if isinstance(n_units, bool) or not isinstance(n_units, int) or not lo <= n_units <= hi:
        raise WavegenError(f"n_units must be an integer in [{lo}, {hi}], got {n_units!r}")


def collect_frames(store: Any, spec: FeatureSpec, max_frames: int = MAX_FRAMES,
                   max_clips: int = MAX_CLIPS, seed: int = 0) -> torch.Tensor:
    """Raw features of a random, seeded subset of a dump's frames.

    Args:
        store: a :class:`~wavegen.data.dump.DumpStore` at ``spec.sample_rate``.
        max_frames: at most this many frames, an equal share from each chosen clip.
        max_clips: draw them from at most this many clips (chosen at random).

    Returns:
        ``(M, D)`` float32 raw features.
    """
    gen = np.random.default_rng(seed)
    utts = list(store.utts)
    if len(utts) > max_clips:
        utts = [utts[i] for i in sorted(gen.choice(len(utts), max_clips, replace=False))]
    per_clip = max(1, max_frames // max(1, len(utts)))
    picked = []
    for utt in progress(utts, desc="unit features", unit="utt"):
        feats = frame_features(dump_audio(store.audio(utt)), spec, what=f"utterance {utt}")
        if feats.shape[0] > per_clip:
            feats = feats[np.sort(gen.choice(feats.shape[0], per_clip, replace=False))]
        picked.append(feats)
    return torch.cat(picked)


def fit_on_frames(frames: torch.Tensor, spec: FeatureSpec, n_units: int,
                  seed: int = 0) -> Tokenizer:
    """Standardize raw frames ``(M, D)`` and cluster them into ``n_units`` units.

    Raises:
        WavegenError: ``n_units`` outside ``N_UNITS_RANGE`` or more units than frames.
    """
    check_n_units(n_units)
    if frames.shape[0] < n_units:
        raise WavegenError(f"only {frames.shape[0]} frames to fit {n_units} units; use fewer "
                           "units (--n-units) or more audio")
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.exceptions import ConvergenceWarning

    standardizer = Standardizer.fit(frames, spec)
    z = standardizer.apply(frames).numpy().astype(np.float64)  # (M, D)
    km = MiniBatchKMeans(n_clusters=n_units, batch_size=KMEANS_BATCH, max_iter=KMEANS_ITER,
                         n_init=KMEANS_INIT, random_state=seed, init_size=max(
                             3 * KMEANS_BATCH, 3 * n_units))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # duplicate frames (silence)
        km.fit(z)
    centroids = torch.from_numpy(km.cluster_centers_.astype(np.float32))
    tok = Tokenizer(spec, standardizer, centroids)
    log.info("fitted %d units on %d frames (%s, %g Hz): mean squared error %.4f of %.4f",
             n_units, frames.shape[0], ",".join(spec.groups), spec.frame_rate,
             float(km.inertia_) / frames.shape[0], float(np.square(z - z.mean(0)).sum(1).mean()))
    return tok


def fit_tokenizer(dump_dir: str | os.PathLike[str], n_units: int = 256, hop: int = 160,
                  features: tuple[str, ...] = GROUPS, weights: tuple[float, ...] = (),
                  seed: int = 0, max_frames: int = MAX_FRAMES,
                  max_clips: int = MAX_CLIPS) -> Tokenizer:
    """Fit a tokenizer on a dump (normally ``DUMP/train``) at the dump's rate.

    Raises:
        WavegenError: not a dump, a bad hop, K or feature list, or too little audio.
    """
    from wavegen.data.dump import DumpStore

    store = DumpStore(dump_dir)
    spec = FeatureSpec(store.sample_rate, hop, tuple(features), tuple(weights))
    check_n_units(n_units)  # before the feature pass
    if not store.utts:
        raise WavegenError(f"{dump_dir} holds no utterances; nothing to fit a tokenizer on")
    frames = collect_frames(store, spec, max_frames, max_clips, seed)
    return fit_on_frames(frames, spec, n_units, seed)
