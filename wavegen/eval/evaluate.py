"""``wavegen eval``: score generated clips against real ones and the model's test NLL.

Generated clips are the WAVs ``wavegen synth --genre all --out-dir DIR`` writes:
``<genre>_<k>.wav``; the requested genre is the part before the last ``_``. Files whose
prefix is not in the vocabulary (mixes, primers) are skipped with a warning.

Writes ``eval.json`` (documented in :func:`evaluate` and docs/evaluation.md).
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wavegen.audio import mu_law_encode, read_audio, resample, silence_code
from wavegen.clipnames import parse_clip_name
from wavegen.data.dump import LABEL_FILES, DumpStore
from wavegen.data.kaldi import read_table, read_vocab
from wavegen.errors import WavegenError
from wavegen.eval.attacks import attacks_by_genre
from wavegen.eval.classifier import accuracy, embed, load_classifier, predict
from wavegen.eval.copies import BASELINE_CLIPS, baseline_excerpts, find_copies
from wavegen.eval.metrics import (
    confusion_matrix,
    frechet_between,
    frechet_extrapolated,
    inception_score,
)
from wavegen.models.two_level import TwoLevel, load_generator
from wavegen.models.wavenet import WaveNet
from wavegen.outputs import check_output_dir, write_text
from wavegen.progress import progress
from wavegen.units.codes import start_code, units_to_codes

log = logging.getLogger(__name__)


def load_labeled(ref: str | os.PathLike[str], rate: int, max_seconds: float | None = None
                 ) -> tuple[list[np.ndarray], list[str], list[list[str]], list[str], list[str]]:
    """Real clips of a Kaldi data dir (``wav.scp`` + ``utt2genre``/``utt2tags``) or a dump.

    Returns:
        ``(clips at rate, utterance ids, labels per clip, vocabulary, audio file per clip)``;
        the files are empty for a dump.
    """
    ref = Path(ref)
    limit = None if max_seconds is None else int(max_seconds * rate)
    if (ref / "meta.json").is_file():
        store = DumpStore(ref)
        clips = [resample(np.asarray(store.audio(u), np.float32) / 32768.0, store.sample_rate,
                          rate)[:limit] for u in store.utts]
        labels = [[x.strip() for x in store.labels[u].split(",")] for u in store.utts]
        return clips, list(store.utts), labels, store.vocab, []
    if not (ref / "wav.scp").is_file():
        raise WavegenError(f"{ref} is neither a Kaldi data dir (wav.scp) nor a dump (meta.json)")
    label_file, vocab_file = next(((lf, vf) for lf, vf in LABEL_FILES if (ref / lf).is_file()),
                                  (None, None))
    if label_file is None or vocab_file is None:
        raise WavegenError(f"{ref} has neither utt2genre nor utt2tags")
    wav_scp, table = read_table(ref / "wav.scp"), read_table(ref / label_file)
    vocab = read_vocab(ref / vocab_file) if (ref / vocab_file).is_file() else sorted(
        {x.strip() for v in table.values() for x in v.split(",")})
    clips, utts, labels = [], [], []
    for utt, path in wav_scp.items():
        samples, sr = read_audio(path)
        clips.append(resample(samples, sr, rate)[:limit])
        utts.append(utt)
        labels.append([x.strip() for x in table[utt].split(",")])
    # Absolute: eval.json is read later from other folders (wavegen report).
    return clips, utts, labels, vocab, [os.path.abspath(p) for p in wav_scp.values()]


def load_generated(gen_dir: str | os.PathLike[str], vocab: list[str], rate: int
                   ) -> tuple[list[np.ndarray], list[int], list[Path]]:
    """``<genre>_<k>.wav`` files -> (clips at rate, requested class, paths), sorted by name."""
    gen_dir = Path(gen_dir)
    if not gen_dir.is_dir():
        raise WavegenError(f"generated-clip folder {gen_dir} does not exist")
    clips, requested, paths = [], [], []
    for path in progress(sorted(gen_dir.glob("*.wav")), desc="read clips", unit="clip"):
        genre = parse_clip_name(path.name, vocab)
        if genre is None:
            log.warning("skipping %s: it names none of the classifier's labels", path)
            continue
        samples, sr = read_audio(path)
        clips.append(resample(samples, sr, rate))
        requested.append(vocab.index(genre))
        paths.append(path.resolve())  # absolute: eval.json is read from other folders
    if not clips:
        raise WavegenError(f"no <genre>_<k>.wav clips in {gen_dir}; write them with "
                           "'wavegen synth --genre all --out-dir DIR'")
    return clips, requested, paths


@torch.no_grad()
def nll_bits_per_sample(model: torch.nn.Module, n_classes: int, clips: list[np.ndarray],
                        conds: torch.Tensor, seconds: float, rate: int) -> float:
    """Mean NLL (bits/sample) of the first ``seconds`` of each clip (model rate), teacher
    forced from silence. conds (N, C)."""
    total, count = 0.0, 0
    n = int(seconds * rate)
    for clip, cond in zip(clips, conds, strict=True):
        x = torch.from_numpy(np.ascontiguousarray(clip[: n + 1], dtype=np.float32))
        if x.numel() < 2:
            continue
        codes = mu_law_encode(x, n_classes).unsqueeze(0)  # (1, T + 1)
        logits = model(codes[:, :-1], cond.unsqueeze(0))
        total += F.cross_entropy(logits, codes[:, 1:], reduction="sum").item()
        count += codes.shape[1] - 1
    return total / max(1, count) / math.log(2.0)


@torch.no_grad()
def plan_nll(net: WaveNet, clip: np.ndarray, cond: torch.Tensor,
             units: torch.Tensor | None) -> float:
    """Teacher-forced NLL (bits/sample) of a clip (N,) from silence under ``net``.

    Args:
        cond: (C,) the global label.
        units: (F,) long, the plan (for a renderer), or None (a label-only model).
    """
    n_classes = net.cfg.n_classes
    x = torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32))
    codes = mu_law_encode(x, n_classes)  # (N,)
    # Step t is fed sample t - 1 (silence at t = 0) and predicts sample t, as in generation.
    silence = torch.tensor([silence_code(n_classes)])
    inputs = torch.cat([silence, codes[:-1]])[None]  # (1, N)
    extra = {} if units is None else {"units": units[None]}
    logits = net(inputs, cond[None], **extra)  # (1, A, N)
    return float(F.cross_entropy(logits, codes[None])) / math.log(2.0)


@torch.no_grad()
def two_level_nll(two: TwoLevel, clips: list[np.ndarray], conds: torch.Tensor, seconds: float,
                  names: list[str]) -> dict[str, float]:
    """NLL of real clips (N,) at the model's rate under a two-level model: the planner's bits
    per frame of each clip's own plan (its tokenizer's units, from the start symbol), the
    renderer's bits per sample given that plan, and their sum per sample, an upper bound of the
    clip's NLL (the plan is a function of the audio: -log p(x) <= -log p(u) - log p(x | u)).
    Clips weigh by length. conds (N, C)."""
    from wavegen.resynth import plan_of_audio

    n = int(seconds * two.sample_rate)
    plan_bits, render_bits, samples, frames = 0.0, 0.0, 0, 0
    for clip, cond, name in zip(clips, conds, names, strict=True):
        clip = clip[:n]
        units = plan_of_audio(clip, two.tokenizer, name)  # (F,)
        render_bits += plan_nll(two.renderer, clip, cond, units) * clip.size
        codes = torch.cat([torch.tensor([start_code(two.n_units)]),
                           units_to_codes(units, two.n_units)])[None]  # (1, F + 1)
        logits = two.planner(codes[:, :-1], cond[None])  # (1, K + 1, F)
        plan_bits += F.cross_entropy(logits, codes[:, 1:], reduction="sum").item() / math.log(2)
        samples, frames = samples + clip.size, frames + units.numel()
    samples, frames = max(1, samples), max(1, frames)
    return {"nll_bits_per_sample": (plan_bits + render_bits) / samples,
            "nll_plan_bits_per_frame": plan_bits / frames,
            "nll_render_bits_per_sample": render_bits / samples}


def _split_halves(emb: np.ndarray, classes: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    """Random halves of real embeddings, balanced per class (clips of a class alternate between
    the halves, in random order), for the real-vs-real reference line."""
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(np.flatnonzero(classes == c))
                            for c in np.unique(classes)])
    return emb[order[0::2]], emb[order[1::2]]


def _fd(a: np.ndarray, b: np.ndarray) -> float | None:
    """Frechet distance, or None when either set has fewer than 2 clips (no covariance)."""
    return frechet_between(a, b) if len(a) >= 2 and len(b) >= 2 else None


def _copies(clf: Any, gen: list[np.ndarray], gen_paths: list[Path], gen_emb: np.ndarray,
            train: str | os.PathLike[str], real: list[np.ndarray], real_utts: list[str],
            real_labels: list[list[str]], rate: int, max_seconds: float | None,
            threshold: float | None) -> dict[str, Any]:
    """The ``copies`` entry: generated clips against the training audio. Without a given
    threshold, up to ``BASELINE_CLIPS`` held-out real excerpts as long as the generated clips
    set it (their windows join the cross-correlation scan)."""
    train_clips, train_utts, _, _, train_files = load_labeled(train, rate, max_seconds)
    length = int(np.median([c.size for c in gen]))
    n_real = 0 if threshold is not None else min(BASELINE_CLIPS, len(gen))
    excerpts, picked = baseline_excerpts(real, real_labels, n_real, length)
    result = find_copies(gen, [str(p) for p in gen_paths], gen_emb, train_clips, train_utts,
                         embed(clf, train_clips), rate, excerpts, [real_utts[i] for i in picked],
                         threshold, train_files)
    result["train"] = str(train)
    log.info("copies: %d of %d clips flagged (max NCC > %.3f against %d training clips)",
             result["n_flagged"], len(gen), result["threshold"], len(train_clips))
    return result


def evaluate(
    gen_dir: str | os.PathLike[str], ref: str | os.PathLike[str],
    classifier: str | os.PathLike[str], out: str | os.PathLike[str],
    model: str | os.PathLike[str] | None = None, nll_seconds: float = 4.0,
    max_seconds: float | None = 30.0, seed: int = 0,
    train: str | os.PathLike[str] | None = None, copy_threshold: float | None = None,
) -> dict[str, Any]:
    """Evaluate generated clips; write ``out/eval.json`` and return its contents.

    ``eval.json`` holds: ``vocab``; ``generated`` (n, conditional_accuracy, per-genre accuracy,
    confusion ``[requested][predicted]``, inception_score, files); ``real`` (the same
    classifier on the real clips: accuracy = the ceiling, inception score); ``frechet``
    (generated vs real overall and per genre with n, the 1/n-extrapolated FD_inf, and the
    real-vs-real line from two halves of the real clips); ``nll_bits_per_sample`` of the model on
    the real clips (when ``model`` is given); ``attacks`` (per genre: onset rate, onset
    strength and tempo of real vs generated clips, :mod:`wavegen.eval.attacks`); with
    ``train`` (the training data dir or dump), ``copies``: each generated clip's nearest
    training clip by embedding and its highest 1 s cross-correlation with the training audio
    (:mod:`wavegen.eval.copies`; ``copy_threshold`` None = the automatic threshold there);
    the inputs' paths.
    """
    if train is not None and (not str(train) or not Path(train).is_dir()):  # "" is not "."
        raise WavegenError(f"training data {train} is not a folder; pass the training data dir "
                           "(data/train) or its dump to --train")
    if copy_threshold is not None and not 0.0 < copy_threshold <= 1.0:
        raise WavegenError(f"copy threshold {copy_threshold} is not in (0, 1]; pass a "
                           "correlation such as 0.9, or leave it out for the automatic one")
    clf, clf_metrics = load_classifier(classifier)
    rate, vocab = clf.cfg.sample_rate, clf.vocab
    gen, requested, gen_paths = load_generated(gen_dir, vocab, rate)
    real, utts, real_labels, ref_vocab, real_files = load_labeled(ref, rate, max_seconds)
    if ref_vocab != vocab:
        raise WavegenError(f"{ref} has vocabulary {ref_vocab[:5]}..., the classifier "
                           f"{vocab[:5]}...; use the classifier trained on the same corpus")
    C = len(vocab)
    real_targets = np.zeros((len(real), C), dtype=np.float32)
    for i, labels in enumerate(real_labels):
        real_targets[i, [vocab.index(x) for x in labels]] = 1.0
    real_class = real_targets.argmax(1)

    gen_probs, real_probs = predict(clf, gen), predict(clf, real)
    req = np.asarray(requested)
    pred = gen_probs.argmax(1)
    per_genre = {vocab[c]: float(np.mean(pred[req == c] == c)) for c in np.unique(req)}
    gen_emb, real_emb = embed(clf, gen), embed(clf, real)
    real_a, real_b = _split_halves(real_emb, real_class, seed)
    fd_per_genre = {}
    for c in np.unique(req):
        g, r = gen_emb[req == c], real_emb[real_class == c]
        fd_per_genre[vocab[c]] = {"fd": _fd(g, r), "n_generated": len(g), "n_real": len(r)}
    result: dict[str, Any] = {
        "vocab": vocab,
        "classifier": {"path": str(classifier), **clf_metrics},
        "generated": {
            "dir": str(gen_dir), "n": len(gen),
            "conditional_accuracy": float(np.mean(pred == req)),
            "per_genre_accuracy": per_genre,
            "confusion": confusion_matrix(req, pred, C).tolist(),
            "inception_score": inception_score(gen_probs),
            "files": [str(p) for p in gen_paths],
            "requested": [vocab[i] for i in req], "predicted": [vocab[i] for i in pred],
        },
        "real": {
            "ref": str(ref), "n": len(real), "accuracy": accuracy(real_probs, real_targets),
            "inception_score": inception_score(real_probs),
            "utts": utts, "labels": [",".join(x) for x in real_labels], "files": real_files,
        },
        "frechet": {
            "embedding": "penultimate layer of the in-project classifier",
            "generated_vs_real": {"fd": _fd(gen_emb, real_emb),
                                  "n_generated": len(gen), "n_real": len(real),
                                  **(frechet_extrapolated(gen_emb, real_emb, seed=seed)
                                     if len(gen) >= 6 and len(real) >= 2 else {})},
            "real_vs_real": {"fd": _fd(real_a, real_b), "n_a": len(real_a),
                             "n_b": len(real_b),
                             # the same 1/n fit, so FD-infinity of both rows compare
                             **(frechet_extrapolated(real_a, real_b, seed=seed)
                                if len(real_a) >= 6 and len(real_b) >= 2 else {})},
            "per_genre": fd_per_genre,
        },
    }
    result["attacks"] = attacks_by_genre(real, real_labels, gen, [vocab[i] for i in req], rate)
    if train is not None:
        result["copies"] = _copies(clf, gen, gen_paths, gen_emb, train, real, utts,
                                   real_labels, rate, max_seconds, copy_threshold)
    loaded = None if model is None else load_generator(model)
    if isinstance(loaded, TwoLevel):
        two = loaded
        if two.vocab != vocab:
            raise WavegenError(f"model {model} and the classifier have different vocabularies")
        result.update(two_level_nll(two, [resample(c, rate, two.sample_rate) for c in real],
                                    torch.from_numpy(real_targets), nll_seconds,
                                    [f"clip {u} of {ref}" for u in utts]))
        result["model"] = str(model)
        result["nll_seconds_per_clip"] = nll_seconds
    elif loaded is not None:
        net, info = loaded
        if info.vocab != vocab:
            raise WavegenError(f"model {model} and the classifier have different vocabularies")
        model_clips = [resample(c, rate, info.sample_rate) for c in real]
        # As in training: one-hot genres, unnormalized multi-hot tags.
        conds = torch.from_numpy(real_targets)
        if info.config.n_units > 0:  # a renderer: each clip with its own plan
            from wavegen.resynth import plan_of_audio, renderer_tokenizer

            tok = renderer_tokenizer(info, f"model file {model}")
            n = int(nll_seconds * info.sample_rate)
            # Weighted by length, as nll_bits_per_sample weighs its clips.
            result["nll_bits_per_sample"] = float(np.average([
                plan_nll(net, c[:n], cond, plan_of_audio(c[:n], tok, f"clip {u} of {ref}"))
                for c, cond, u in zip(model_clips, conds, utts, strict=True)],
                weights=[min(n, c.size) for c in model_clips]))
        else:
            result["nll_bits_per_sample"] = nll_bits_per_sample(
                net, info.config.n_classes, model_clips, conds, nll_seconds, info.sample_rate)
        result["model"] = str(model)
        result["nll_seconds_per_clip"] = nll_seconds
    out = check_output_dir(out)
    write_text(out / "eval.json", json.dumps(result, indent=1) + "\n")
    g = result["generated"]
    log.info("conditional accuracy %.1f%% over %d clips (real ceiling %.1f%%); FD %s "
             "(real vs real %s)", 100 * g["conditional_accuracy"], g["n"],
             100 * result["real"]["accuracy"], result["frechet"]["generated_vs_real"]["fd"],
             result["frechet"]["real_vs_real"]["fd"])
    return result
