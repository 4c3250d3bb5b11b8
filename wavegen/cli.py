"""``wavegen <command>``: a thin layer over typed functions in the package.

Each subcommand maps its flags one-to-one onto a library function's keyword arguments. Bad
input raises :class:`~wavegen.errors.WavegenError`: printed on one line, exit status 2. An
operating-system failure (full disk, permission denied) is printed the same way. SIGTERM
unwinds like Ctrl-C, so no temporary file is left behind (exit status 143).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from wavegen import __version__
from wavegen.cliargs import Parser, number, output_dir, output_file, sampling_flags, seed
from wavegen.errors import WavegenError
from wavegen.outputs import Terminated

MAX_CLIPS = 100_000  # clips per genre of a generated corpus
MAX_JOBS = 10_000  # parts of a split data dir
MAX_SYNTH_SECONDS = 3600.0  # one hour per clip; split longer pieces into several runs


def _toy_corpus(a: argparse.Namespace) -> None:
    from wavegen.data.toy import make_toy_corpus

    root = make_toy_corpus(a.out, clips_per_genre=a.clips_per_genre, duration=a.duration,
                           seed=a.seed)
    print(root)


def _render_corpus(a: argparse.Namespace) -> None:
    from wavegen.data.render import make_rendered_corpus

    print(make_rendered_corpus(a.out, clips_per_genre=a.clips_per_genre, seconds=a.duration,
                               seed=a.seed, jobs=a.jobs, recording_chain=a.recording_chain))


def _download(a: argparse.Namespace) -> None:
    from wavegen.data.download import download_corpus, specs_with_checksums

    specs = None if a.checksums is None else specs_with_checksums(a.corpus, a.checksums)
    print(download_corpus(a.corpus, a.dest, mirrors=a.mirror or (), specs=specs))


def _prepare(a: argparse.Namespace) -> None:
    from wavegen.data.gtzan import prepare_gtzan

    counts = prepare_gtzan(a.corpus, a.out, split=a.split, seed=a.seed,
                           valid_frac=a.valid_frac, test_frac=a.test_frac,
                           check=not a.no_check, channels=a.channels)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


def _prepare_mtat(a: argparse.Namespace) -> None:
    from wavegen.data.mtat import prepare_mtat

    counts = prepare_mtat(a.corpus, a.out, n_tags=a.n_tags, tag_list=a.tag_list,
                          check=not a.no_check, channels=a.channels)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


def _split_data(a: argparse.Namespace) -> None:
    from wavegen.data.split import split_data_dir

    split_data_dir(a.data_dir, nj=a.nj)


def _check_audio(a: argparse.Namespace) -> None:
    from wavegen.data.check import check_data_dir

    check_data_dir(a.data_dir, channels=a.channels)


def _merge_data(a: argparse.Namespace) -> None:
    from wavegen.data.split import merge_data_dir

    merge_data_dir(a.data_dir, nj=a.nj)


def _merge_dump(a: argparse.Namespace) -> None:
    from wavegen.data.split import merge_dumps

    merge_dumps(a.parts, a.out)


def _validate_data_dir(a: argparse.Namespace) -> None:
    from wavegen.data.kaldi import validate_data_dir

    print(f"{a.data_dir}: {len(validate_data_dir(a.data_dir))} utterances, valid")


def _dump(a: argparse.Namespace) -> None:
    from wavegen.data.dump import dump_data_dir

    dump_data_dir(a.data_dir, a.out, sample_rate=a.sample_rate)


def _train(a: argparse.Namespace) -> int:
    from wavegen.train.trainer import train

    metrics = train(a.config, a.data_dir, a.exp_dir, max_steps=a.max_steps)
    if "stopped_by" in metrics:  # a signal asked to stop; the checkpoint is written
        print(f"stopped at step {metrics['step']}; re-run the same command to resume",
              file=sys.stderr)
        return 128 + int(metrics["stopped_by"])
    print(f"valid_bits_per_sample={metrics.get('valid_bits', float('nan')):.4f}")
    return 0


def _synth(a: argparse.Namespace) -> None:
    from wavegen.synth import synthesize

    paths = synthesize(a.genre, a.duration, out=a.out, out_dir=a.out_dir, count=a.count,
                       model=a.model, seed=a.seed, temperature=a.temperature, top_p=a.top_p,
                       engine=a.engine, device=a.device, guidance=a.guidance, tags=a.tags,
                       prime=a.prime, automation=a.automation, threads=a.threads,
                       plan_out=a.plan_out, plan_in=a.plan)
    for p in paths:
        print(p)


def _pack(a: argparse.Namespace) -> None:
    from wavegen.models.two_level import pack

    print(pack(a.planner, a.renderer, a.out, {"temperature": a.temperature,
                                               "top_p": a.top_p, "guidance": a.guidance}))


def _resynth(a: argparse.Namespace) -> None:
    from wavegen.resynth import resynthesize

    print(resynthesize(a.input, a.out, genre=a.genre, model=a.model, seed=a.seed,
                       temperature=a.temperature, top_p=a.top_p, guidance=a.guidance,
                       engine=a.engine, device=a.device, threads=a.threads))


def _live(a: argparse.Namespace) -> None:
    from wavegen.live import start_live
    from wavegen.live.server import serve_forever

    serve_forever(start_live(a.model, host=a.host, port=a.port, engine=a.engine,
                             device=a.device, genre=a.genre, lead=a.lead_ms / 1000,
                             threads=a.threads))


def _bench(a: argparse.Namespace) -> None:
    from wavegen.bench import run_bench
    from wavegen.engine import resolve_device

    run_bench(a.config, engines=a.engines, batches=tuple(a.batch), samples=a.samples,
              repeats=a.repeats, json_path=a.json, device=resolve_device(a.device))


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="wavegen",
        description="Genre-conditioned raw-audio WaveNets: prepare data, train, synthesize.",
    )
    p.add_argument("--version", action="version", version=f"wavegen {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="<command>", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int | None], help: str):
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(func=fn)
        return sp

    sp = add("toy-corpus", _toy_corpus,
             "Write the procedural toy corpus in GTZAN's layout (OUT/genres/<genre>/...).")
    sp.add_argument("out", type=output_dir, help="output folder")
    number(sp, "--clips-per-genre", int, 1, MAX_CLIPS, default=20, help="clips per genre")
    number(sp, "--duration", float, 0.5, 600.0, default=5.0, help="seconds per clip")
    seed(sp, default=0, help="corpus seed (deterministic)")

    sp = add("render-corpus", _render_corpus,
             "Compose genre arrangements and render them with a General MIDI SoundFont, in "
             "GTZAN's layout (OUT/genres/<genre>/<genre>.000NN.wav, 22050 Hz mono).")
    sp.add_argument("out", type=output_dir, help="output folder")
    number(sp, "--clips-per-genre", int, 1, MAX_CLIPS, default=100, help="clips per genre")
    number(sp, "--duration", float, 0.5, 600.0, default=30.0,
           help="seconds per clip (GTZAN: 30)")
    seed(sp, default=0, help="corpus seed (deterministic)")
    number(sp, "--jobs", int, 1, 256, default=1, help="parallel rendering processes")
    sp.add_argument("--recording-chain", action="store_true",
                    help="add a room (reverberation) and a pink noise floor to every clip, "
                         "drawn per clip from the same ranges for every genre")

    sp = add("download", _download,
             "Download and extract a corpus (resumable, checksummed, several mirrors).")
    sp.add_argument("corpus", choices=["gtzan", "mtat"], help="which corpus")
    sp.add_argument("--dest", required=True, type=output_dir,
                    help="destination folder, e.g. downloads/gtzan")
    sp.add_argument("--mirror", action="append", metavar="URL",
                    help="base URL of a copy, tried before the built-in mirrors (repeatable)")
    sp.add_argument("--checksums", default=None, metavar="FILE",
                    help="'<file> <algorithm>:<digest> [<size>]' lines replacing the built-in "
                         "checksums, for a mirror with its own build of the files")

    sp = add("prepare", _prepare,
             "Make Kaldi data dirs OUT/{train,valid,test} from a GTZAN-layout corpus.")
    sp.add_argument("corpus", help="corpus root (with genres/<genre>/ or Data/genres_original/)")
    sp.add_argument("out", type=output_dir, help="output folder for the data dirs, e.g. data")
    sp.add_argument("--split", default="filtered", choices=["filtered", "random"],
                    help="filtered: GTZAN's artist-filtered split; random: stratified by genre")
    seed(sp, default=0, help="seed of the random split")
    number(sp, "--valid-frac", float, 0.0, 1.0, hi_open=True, default=0.1,
           help="fraction per genre for valid")
    number(sp, "--test-frac", float, 0.0, 1.0, hi_open=True, default=0.1,
           help="fraction per genre for test")
    _add_check_flags(sp)

    sp = add("prepare-mtat", _prepare_mtat,
             "Make Kaldi data dirs OUT/{train,valid,test} with utt2tags from MagnaTagATune.")
    sp.add_argument("corpus", help="corpus root (annotations_final.csv and the mp3 folders)")
    sp.add_argument("out", type=output_dir, help="output folder for the data dirs, e.g. data")
    number(sp, "--n-tags", int, 1, 1000, default=50,
           help="keep this many of the training folders' most frequent tags")
    sp.add_argument("--tag-list", default=None, metavar="FILE",
                    help="keep the tags of FILE (one a line) instead; 'standard': the commonly "
                         "used top-50 list")
    _add_check_flags(sp)

    sp = add("split-data", _split_data,
             "Cut a data dir into NJ parts DATA_DIR/split<NJ>/<1..NJ> for parallel jobs.")
    sp.add_argument("data_dir", help="Kaldi data dir")
    number(sp, "nj", int, 1, MAX_JOBS, help="number of parts")

    sp = add("check-audio", _check_audio,
             "Decode every file of a data dir; write utt2dur, drop bad files into bad_files.")
    sp.add_argument("data_dir", help="Kaldi data dir (or a part of a split one)")
    number(sp, "--channels", int, 0, 64, default=1, help="required channels (0: any)")

    sp = add("merge-data", _merge_data,
             "Merge the parts DATA_DIR/split<NJ>/* back into DATA_DIR and validate it.")
    sp.add_argument("data_dir", help="Kaldi data dir")
    number(sp, "nj", int, 1, MAX_JOBS, help="number of parts")

    sp = add("merge-dump", _merge_dump,
             "Concatenate the dumps of consecutive parts of a data dir into one dump.")
    sp.add_argument("out", type=output_dir, help="dump folder, e.g. dump/train")
    sp.add_argument("parts", nargs="+", help="part dumps, in order (removed once merged)")

    sp = add("validate-data-dir", _validate_data_dir,
             "Check a data dir as Kaldi's validate_data_dir.sh --no-feats --no-text does.")
    sp.add_argument("data_dir", help="Kaldi data dir")

    sp = add("dump", _dump, "Resample a data dir once into a memory-mapped dump for training.")
    sp.add_argument("data_dir", help="Kaldi data dir, e.g. data/train")
    sp.add_argument("out", type=output_dir, help="dump folder, e.g. dump/train")
    number(sp, "--sample-rate", int, 1000, 192000, default=16000, help="model sample rate in Hz")

    sp = add("train", _train, "Train a WaveNet; re-running resumes from the newest checkpoint.")
    sp.add_argument("--config", required=True, help="YAML experiment config")
    sp.add_argument("--data-dir", required=True, help="folder with train/ and valid/ dumps")
    sp.add_argument("--exp-dir", required=True, type=output_dir,
                    help="experiment folder (checkpoints, model.pt)")
    number(sp, "--max-steps", int, 1, 10**9, default=None, help="override train.max_steps")

    sp = add("synth", _synth, "Generate music for a genre and write 16-bit WAVs.")
    cond = sp.add_mutually_exclusive_group(required=True)
    cond.add_argument("--genre", default=None,
                      help="genre name, a mix like rock:0.7,jazz:0.3, 'all' (for a tag model: "
                           "one tag, or 'all'), or a morph over time like rock@0,jazz@4,metal@8 "
                           "(seconds; linear in between; a mix in a point: rock:0.7+jazz:0.3@2)")
    cond.add_argument("--tags", default=None,
                      help="tags of a tag-conditioned model (MagnaTagATune), e.g. rock,guitar,fast")
    cond.add_argument("--automation", default=None, metavar="FILE",
                      help="JSON time points of the genre (or tags), temperature, top_p and "
                           "guidance, e.g. {\"genre\": [[0, \"rock\"], [4, \"jazz\"]], "
                           "\"guidance\": [[0, 8], [4, 3]]} (linear in between)")
    number(sp, "--duration", float, 0.0, MAX_SYNTH_SECONDS, lo_open=True, default=None,
           help="seconds per clip (default 5; with --plan, the plan's length)")
    sp.add_argument("--out", default=None, type=output_file,
                    help="output file (one clip); its suffix picks the format: .wav (16-bit "
                         "PCM), .flac, .ogg or .mp3")
    sp.add_argument("--plan-out", default=None, metavar="PATH",
                    help="two-level model: write each clip's plan of units as JSON (the file "
                         "with --out, a folder of <clip>.plan.json with --out-dir)")
    sp.add_argument("--plan", default=None, metavar="FILE",
                    help="two-level model: render this plan file (from --plan-out or wavegen "
                         "units clip, edited or not) instead of drawing one from the planner")
    sp.add_argument("--out-dir", default=None, type=output_dir,
                    help="output folder (several clips)")
    number(sp, "--count", int, 1, 1000, default=1, help="clips per genre (with --out-dir)")
    sp.add_argument("--model", default=None,
                    help="model file or checkpoint (default: the packaged default model)")
    seed(sp, default=None, help="random seed for reproducible output")
    sampling_flags(sp, "classifier-free guidance scale: 1 = off, > 1 = stronger genre (needs "
                   "a model trained with cond_dropout)")
    sp.add_argument("--engine", default="auto",
                    help="auto, cpu, triton (GPU), graph (CUDA graphs, large models), cached "
                         "or reference")
    sp.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    sp.add_argument("--prime", default=None,
                    help="audio file to continue: it fills the engine's caches and the WAVs "
                         "hold the continuation only")
    number(sp, "--threads", int, 1, 1024, default=None,
           help="cores the cpu engine uses (default: all); its samples depend on the count, "
                "so a live take renders again with the take's count")

    sp = add("pack", _pack, "Pack a planner and a renderer into one two-level model file.")
    sp.add_argument("--planner", required=True,
                    help="the planner's model file or checkpoint (trained with level: plan)")
    sp.add_argument("--renderer", required=True,
                    help="the renderer's model file or checkpoint (model.n_units > 0), trained "
                         "on the same units")
    sp.add_argument("--out", required=True, type=output_file, help="the two-level model file")
    sampling_flags(sp, "classifier-free guidance", defaults="the planner file's")

    sp = add("resynth", _resynth, "Copy synthesis: extract a clip's units with a renderer's "
             "tokenizer and render them (any input rate and channel count).")
    sp.add_argument("input", help="audio file to re-synthesize")
    sp.add_argument("--out", required=True, type=output_file,
                    help="output file; its suffix picks the format (.wav, .flac, .ogg, .mp3)")
    sp.add_argument("--genre", default=None,
                    help="genre (or mix) to render with (default: none, the plan alone; needs "
                         "a model trained with cond_dropout)")
    sp.add_argument("--model", default=None,
                    help="renderer model file or checkpoint (default: the packaged model)")
    seed(sp, default=None, help="random seed for reproducible output")
    sampling_flags(sp, "classifier-free guidance on the genre")
    sp.add_argument("--engine", default="auto", help="generation engine, as for synth")
    sp.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    number(sp, "--threads", int, 1, 1024, default=None,
           help="cores the cpu engine uses (default: all)")

    sp = add("live", _live, "Play a model in the browser and steer it while it sounds: genre "
             "mix, temperature, top-p, guidance; record a take as WAV + automation file.")
    sp.add_argument("--model", default=None,
                    help="model file or checkpoint (default: the packaged default model)")
    sp.add_argument("--host", default="127.0.0.1",
                    help="address to bind (%(default)s); anything but loopback lets others "
                         "play it (warns)")
    number(sp, "--port", int, 1, 65535, default=8100, help="TCP port (%(default)s)")
    sp.add_argument("--genre", default=None,
                    help="the genre (or tag) a take starts with (default: the model's first)")
    number(sp, "--lead-ms", float, 50.0, 2000.0, default=150.0,
           help="audio generated ahead of the playhead, in ms: more survives CPU hiccups, "
                "less hears a change sooner (it lands within about this + 50 ms)")
    sp.add_argument("--engine", default="auto", help="generation engine, as for synth")
    sp.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    number(sp, "--threads", int, 1, 1024, default=1,
           help="cores the cpu engine uses (%(default)s: the browser playing it keeps the "
                "others; a small model runs as fast on one core as split over two)")

    sp = add("bench", _bench, "Measure generation speed per engine and batch size.")
    sp.add_argument("--config", default="BENCH",
                    help="BENCH (nv-wavenet's benchmark shape, random weights) or a model file")
    sp.add_argument("--engines", nargs="+", default=None,
                    help="engines to measure (default: every usable one)")
    number(sp, "--batch", int, 1, 4096, nargs="+", default=[1, 16], help="batch sizes")
    number(sp, "--samples", int, 1, 10**8, default=32000,
           help="aggregate samples per timed run, split over the batch (fewer for the "
                "reference and cached engines)")
    number(sp, "--repeats", int, 1, 1000, default=5, help="timed runs per point (median)")
    sp.add_argument("--json", default=None, type=output_file, help="also write the results here")
    sp.add_argument("--device", default="cpu",
                    help="cpu, or cuda / cuda:N to measure the GPU engines (triton, graph, "
                         "cached); default cpu")

    from wavegen.listen.cli import add_listen_parser  # argparse only: cheap to import

    add_listen_parser(sub)
    from wavegen.eval.cli import add_eval_parsers  # argparse only: cheap to import

    add_eval_parsers(sub)
    from wavegen.units.cli import add_units_parser  # argparse only: cheap to import

    add_units_parser(sub)
    return p


def _add_check_flags(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--no-check", action="store_true",
                    help="only list the clips; check them later (wavegen check-audio), e.g. in "
                         "parallel jobs on split data dirs")
    number(sp, "--channels", int, 0, 64, default=1, help="required channels (0: any)")


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
    )
    in_main = threading.current_thread() is threading.main_thread()
    # Training installs its own handler (finish the step, checkpoint) while it runs.
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        return _run(args)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _run(args: argparse.Namespace) -> int:
    try:
        code = args.func(args)
    except WavegenError as err:
        print(f"wavegen {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        print(f"wavegen {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wavegen {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"wavegen {args.command}: terminated (SIGTERM); nothing half-written was kept",
              file=sys.stderr)
        return 143
    return int(code or 0)
