"""``wavegen <command>``: a thin layer over typed functions in the package.

Each subcommand maps its flags one-to-one onto a library function's keyword arguments. Bad
input raises :class:`~wavegen.errors.WavegenError`: printed on one line, exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from wavegen import __version__
from wavegen.errors import WavegenError


def _toy_corpus(a: argparse.Namespace) -> None:
    from wavegen.data.toy import make_toy_corpus

    root = make_toy_corpus(a.out, a.clips_per_genre, a.duration, a.seed)
    print(root)


def _download(a: argparse.Namespace) -> None:
    from wavegen.data.download import download_corpus

    print(download_corpus(a.corpus, a.dest, a.mirror or ()))


def _prepare(a: argparse.Namespace) -> None:
    from wavegen.data.gtzan import prepare_gtzan

    counts = prepare_gtzan(a.corpus, a.out, a.split, a.seed, a.valid_frac, a.test_frac)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


def _dump(a: argparse.Namespace) -> None:
    from wavegen.data.dump import dump_data_dir

    dump_data_dir(a.data_dir, a.out, a.sample_rate)


def _train(a: argparse.Namespace) -> None:
    from wavegen.train.trainer import train

    metrics = train(a.config, a.data_dir, a.exp_dir, a.max_steps)
    print(f"valid_bits_per_sample={metrics.get('valid_bits', float('nan')):.4f}")


def _synth(a: argparse.Namespace) -> None:
    from wavegen.engine.synth import synthesize

    paths = synthesize(a.genre, a.duration, a.out, a.out_dir, a.count, a.model, a.seed,
                       a.temperature, a.top_p, a.engine, a.device)
    for p in paths:
        print(p)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wavegen",
        description="Genre-conditioned raw-audio WaveNets: prepare data, train, synthesize.",
    )
    p.add_argument("--version", action="version", version=f"wavegen {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="<command>", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], None], help: str):
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=fn)
        return sp

    sp = add("toy-corpus", _toy_corpus,
             "Write the procedural toy corpus in GTZAN's layout (OUT/genres/<genre>/...).")
    sp.add_argument("out", help="output folder")
    sp.add_argument("--clips-per-genre", type=int, default=20, help="clips per genre")
    sp.add_argument("--duration", type=float, default=5.0, help="seconds per clip")
    sp.add_argument("--seed", type=int, default=0, help="corpus seed (deterministic)")

    sp = add("download", _download,
             "Download and extract a corpus (resumable, checksummed, several mirrors).")
    sp.add_argument("corpus", choices=["gtzan", "mtat"], help="which corpus")
    sp.add_argument("--dest", required=True, help="destination folder, e.g. downloads/gtzan")
    sp.add_argument("--mirror", action="append", metavar="URL",
                    help="base URL of a copy, tried before the built-in mirrors (repeatable)")

    sp = add("prepare", _prepare,
             "Make Kaldi data dirs OUT/{train,valid,test} from a GTZAN-layout corpus.")
    sp.add_argument("corpus", help="corpus root (with genres/<genre>/ or Data/genres_original/)")
    sp.add_argument("out", help="output folder for the data dirs, e.g. data")
    sp.add_argument("--split", default="filtered", choices=["filtered", "random"],
                    help="filtered: GTZAN's artist-filtered split; random: stratified by genre")
    sp.add_argument("--seed", type=int, default=0, help="seed of the random split")
    sp.add_argument("--valid-frac", type=float, default=0.1, help="fraction per genre for valid")
    sp.add_argument("--test-frac", type=float, default=0.1, help="fraction per genre for test")

    sp = add("dump", _dump, "Resample a data dir once into a memory-mapped dump for training.")
    sp.add_argument("data_dir", help="Kaldi data dir, e.g. data/train")
    sp.add_argument("out", help="dump folder, e.g. dump/train")
    sp.add_argument("--sample-rate", type=int, default=16000, help="model sample rate in Hz")

    sp = add("train", _train, "Train a WaveNet; re-running resumes from the newest checkpoint.")
    sp.add_argument("--config", required=True, help="YAML experiment config")
    sp.add_argument("--data-dir", required=True, help="folder with train/ and valid/ dumps")
    sp.add_argument("--exp-dir", required=True, help="experiment folder (checkpoints, model.pt)")
    sp.add_argument("--max-steps", type=int, default=None, help="override train.max_steps")

    sp = add("synth", _synth, "Generate music for a genre and write 16-bit WAVs.")
    sp.add_argument("--genre", required=True,
                    help="genre name, a mix like rock:0.7,jazz:0.3, or 'all'")
    sp.add_argument("--duration", type=float, default=5.0, help="seconds per clip")
    sp.add_argument("--out", default=None, help="output WAV (one clip)")
    sp.add_argument("--out-dir", default=None, help="output folder (several clips)")
    sp.add_argument("--count", type=int, default=1, help="clips per genre (with --out-dir)")
    sp.add_argument("--model", default=None,
                    help="model file or checkpoint (default: the packaged toy model)")
    sp.add_argument("--seed", type=int, default=None, help="random seed for reproducible output")
    sp.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (> 0)")
    sp.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (0, 1]")
    sp.add_argument("--engine", default="auto", help="auto, cached or reference")
    sp.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
    )
    try:
        args.func(args)
    except WavegenError as err:
        print(f"wavegen {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wavegen {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
