"""``wavegen synth``: render conditioned clips to 16-bit WAV files, streaming.

All requested clips run as one batch through one engine; each chunk of generated samples is
appended to its WAV as soon as it exists, so memory does not grow with clip length. Files are
written under temporary names and renamed when complete: an interrupted run leaves nothing under
the requested names.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import ExitStack
from pathlib import Path

import soundfile as sf
import torch
from tqdm import tqdm

from wavegen.audio import atomic_output, mu_law_decode
from wavegen.engine import stream
from wavegen.engine.sampling import check_sampling
from wavegen.errors import WavegenError
from wavegen.models.conditioning import parse_genre_mix
from wavegen.models.io import load_model

log = logging.getLogger(__name__)


def plan_outputs(
    genre: str, vocab: list[str], out: str | None, out_dir: str | None, count: int
) -> list[tuple[str, Path]]:
    """Resolve ``--genre`` / ``--out`` / ``--out-dir`` / ``--count`` into (genre spec, path)."""
    if count < 1:
        raise WavegenError(f"--count must be >= 1, got {count}")
    specs = list(vocab) if genre == "all" else [genre]
    if out is not None and (len(specs) > 1 or count > 1):
        raise WavegenError("--out names one file; for several clips use --out-dir DIR")
    if out is not None:
        return [(genre, Path(out))]
    if out_dir is None:
        raise WavegenError("give --out FILE.wav (one clip) or --out-dir DIR (several clips)")
    folder = Path(out_dir)
    if not folder.is_dir():
        raise WavegenError(f"output directory {folder} does not exist; create it first")
    safe = lambda s: s.replace(":", "-").replace(",", "+").replace(" ", "_")  # noqa: E731
    return [(spec, folder / f"{safe(spec)}_{k:03d}.wav") for spec in specs for k in range(count)]


def synthesize(
    genre: str,
    duration: float,
    out: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    count: int = 1,
    model: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    engine: str = "auto",
    device: str = "cpu",
) -> list[Path]:
    """Generate clips and write them as 16-bit PCM WAVs at the model's rate.

    Args:
        genre: a genre, a mix ``rock:0.7,jazz:0.3``, or ``all`` (every genre).
        duration: seconds per clip (exact: ``round(duration * rate)`` samples).
        out: the output file, for one clip.
        out_dir: the output folder, for several clips (``<genre>_<k>.wav``).
        count: clips per genre.
        model: model file or checkpoint; default the packaged toy model.
        seed: makes the output reproducible.

    Returns:
        The written paths.
    """
    if not duration > 0:
        raise WavegenError(f"--duration must be positive, got {duration}")
    check_sampling(temperature, top_p)
    net, info = load_model(model)
    plan = plan_outputs(genre, info.vocab, None if out is None else str(out),
                        None if out_dir is None else str(out_dir), count)
    cond = torch.stack([parse_genre_mix(spec, info.vocab) for spec, _ in plan])  # (B, C)
    n_samples = int(round(duration * info.sample_rate))
    if n_samples < 1:
        raise WavegenError(f"--duration {duration} is shorter than one sample")
    weights = net.export_weights()
    bar = tqdm(total=n_samples, unit="sample", unit_scale=True, desc="synth", dynamic_ncols=True)
    start = time.perf_counter()
    with ExitStack() as stack:
        files = []
        for _, path in plan:
            tmp = stack.enter_context(atomic_output(path, suffix=".wav"))
            files.append(stack.enter_context(
                sf.SoundFile(str(tmp), "w", info.sample_rate, 1, "PCM_16", format="WAV")))
        for chunk in stream(weights, cond, n_samples, engine=engine, temperature=temperature,
                            top_p=top_p, seed=seed, device=device):
            audio = mu_law_decode(chunk, info.config.n_classes).numpy()  # (B, n)
            for fh, row in zip(files, audio, strict=True):
                fh.write(row)
            bar.update(chunk.shape[1])
            rate = bar.n / (time.perf_counter() - start)
            bar.set_postfix(rtf=f"{rate / info.sample_rate:.2f}x")
        for fh in files:
            fh.close()
    bar.close()
    paths = [p for _, p in plan]
    log.info("wrote %d clip(s) of %.2f s at %d Hz", len(paths), n_samples / info.sample_rate,
             info.sample_rate)
    return paths
