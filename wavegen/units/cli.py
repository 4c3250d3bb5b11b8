"""Argument parser of ``wavegen units fit | extract | clip``.

Only argparse is imported here; the commands import their modules when they run.
"""

from __future__ import annotations

import argparse
import json

from wavegen.cliargs import number, output_file, seed

FEATURES_DEFAULT = "onset,chroma,mel"


def _fit(a: argparse.Namespace) -> None:
    from wavegen.units.features import parse_features
    from wavegen.units.tokenizer import fit_tokenizer

    groups, weights = parse_features(a.features)
    bounds = {k: v for k, v in (("max_frames", a.max_frames), ("max_clips", a.max_clips))
              if v is not None}
    tok = fit_tokenizer(a.dump, n_units=a.n_units, hop=a.hop, features=groups,
                        weights=weights, seed=a.seed, **bounds)
    tok.save(a.out)
    print(json.dumps(tok.identity()))


def _extract(a: argparse.Namespace) -> None:
    from wavegen.units.extract import extract_units

    frames = extract_units(a.dump, a.tokenizer, hop=a.hop)
    print(f"{a.dump}/units: {frames} frames")


def _clip(a: argparse.Namespace) -> None:
    from wavegen.units.extract import clip_plan

    plan = clip_plan(a.audio, a.tokenizer, a.out)
    print(f"{a.out}: {plan.n_frames} frames, {plan.seconds:.2f} s")


def add_units_parser(sub) -> None:
    """Register ``wavegen units`` on the top-level subparsers."""
    h = ("Unit tokenizer: fit it on a dump, write the unit tables beside a dump, turn a clip "
         "into a plan file.")
    sp = sub.add_parser("units", help=h, description=h)
    usub = sp.add_subparsers(dest="units_command", metavar="<command>", required=True)

    h = ("Fit a k-means tokenizer on the frame features (onset strength per band, chroma, "
         "log-mel) of DUMP (normally DUMP/train), at the dump's rate.")
    fp = usub.add_parser("fit", help=h, description=h)
    fp.set_defaults(func=_fit)
    fp.add_argument("dump", help="dump folder to fit on, e.g. dump/train")
    fp.add_argument("--out", required=True, type=output_file,
                    help="tokenizer file to write, e.g. dump/tokenizer.pt")
    number(fp, "--n-units", int, 64, 1024, default=256, help="units (k-means clusters)")
    number(fp, "--hop", int, 1, 192000 // 25, default=160,
           help="samples per unit frame (the rate / hop must be 25-100 frames/s)")
    seed(fp, default=0, help="seed of the frame subset and the k-means")
    fp.add_argument("--features", default=FEATURES_DEFAULT,
                    help="feature groups, each optionally weighted, e.g. onset:2,chroma,mel "
                         "(default %(default)s; unweighted groups: onset 1, chroma 1, mel 2)")
    # The defaults of these two bounds live in wavegen.units.tokenizer (MAX_FRAMES, MAX_CLIPS).
    number(fp, "--max-frames", int, 1000, 10**7, default=None,
           help="frames the k-means is fitted on, drawn at random (default 200000)")
    number(fp, "--max-clips", int, 1, 10**6, default=None,
           help="clips those frames are drawn from, chosen at random (default 2000)")

    h = "Write DUMP/units: every utterance's unit ids, aligned to the dump's audio."
    ep = usub.add_parser("extract", help=h, description=h)
    ep.set_defaults(func=_extract)
    ep.add_argument("dump", help="dump folder, e.g. dump/valid")
    ep.add_argument("--tokenizer", required=True, help="tokenizer file (wavegen units fit)")
    number(ep, "--hop", int, 1, 192000 // 25, default=None,
           help="refuse a tokenizer with another hop (default: take the tokenizer's)")

    h = ("Turn an audio file (any rate and channel count) into a plan file: its unit ids at "
         "the tokenizer's rate, as JSON.")
    cp = usub.add_parser("clip", help=h, description=h)
    cp.set_defaults(func=_clip)
    cp.add_argument("audio", help="audio file (wav, flac, mp3, ...)")
    cp.add_argument("--tokenizer", required=True, help="tokenizer file (wavegen units fit)")
    cp.add_argument("--out", required=True, type=output_file, help="plan file to write (JSON)")
