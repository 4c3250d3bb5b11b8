"""Argument parsers of ``wavegen classifier train``, ``wavegen eval`` and ``wavegen report``.

Only argparse is imported here; the commands import their modules when they run.
"""

from __future__ import annotations

import argparse
import json

from wavegen.cliargs import number, output_dir, output_file, sampling_flags, seed


def _classifier_train(a: argparse.Namespace) -> None:
    from wavegen.eval.classifier import train_classifier_on_dumps

    metrics = train_classifier_on_dumps(a.dump_dir, a.out, steps=a.steps, seed=a.seed,
                                        max_seconds=a.max_seconds)
    print(f"test_accuracy={metrics['test_accuracy']:.4f} n_test={metrics['n_test']}")


def _eval(a: argparse.Namespace) -> None:
    from wavegen.eval.evaluate import evaluate

    result = evaluate(a.gen, a.ref, a.classifier, a.out, model=a.model,
                      nll_seconds=a.nll_seconds, max_seconds=a.max_seconds, seed=a.seed,
                      train=a.train, copy_threshold=a.copy_threshold)
    summary = {"conditional_accuracy": result["generated"]["conditional_accuracy"],
               "real_accuracy": result["real"]["accuracy"],
               "fd": result["frechet"]["generated_vs_real"]["fd"],
               "fd_real_vs_real": result["frechet"]["real_vs_real"]["fd"]}
    if "nll_bits_per_sample" in result:
        summary["nll_bits_per_sample"] = result["nll_bits_per_sample"]
    if "copies" in result:
        summary["copies_flagged"] = result["copies"]["n_flagged"]
    print(json.dumps(summary))


def _eval_resynth(a: argparse.Namespace) -> None:
    from wavegen.eval.copy_synthesis import copy_synthesis

    result = copy_synthesis(a.ref, a.model, a.classifier, a.out, seconds=a.seconds,
                            start=a.start, seeds=tuple(a.seeds), guidance=a.guidance,
                            temperature=a.temperature, top_p=a.top_p, label_only=a.label_only,
                            engine=a.engine, threads=a.threads)
    print(json.dumps({k: v["value"] for k, v in result["bars"].items()}))


def _eval_plans(a: argparse.Namespace) -> None:
    from wavegen.eval.plans import evaluate_plans

    result = evaluate_plans(a.model, a.ref, a.train, a.out, seconds=a.seconds, count=a.count,
                            seeds=tuple(a.seeds), guidance=a.guidance,
                            temperature=a.temperature, top_p=a.top_p, engine=a.engine)
    print(json.dumps({k: v for k, v in result.items()
                      if k not in ("per_genre", "clips", "settings")}))


def _report(a: argparse.Namespace) -> None:
    from wavegen.eval.report import write_report

    print(write_report(a.exp_dir, out=a.out, clips_per_genre=a.clips_per_genre))


def _plot_training(a: argparse.Namespace) -> None:
    from pathlib import Path

    from wavegen.errors import WavegenError
    from wavegen.eval.report import plot_training

    log_csv = Path(a.exp_dir) / "train_log.csv"
    if not log_csv.is_file():
        raise WavegenError(f"{log_csv} not found: is {a.exp_dir} a training experiment?")
    out = Path(a.out) if a.out else Path(a.exp_dir) / "training.png"
    if not plot_training(log_csv, out):
        raise WavegenError(f"{log_csv} has no rows yet")
    print(out)


def add_eval_parsers(sub) -> None:
    """Register the evaluation commands on the top-level subparsers."""
    sp = sub.add_parser("classifier", help="Train the evaluation classifier on real clips.",
                        description="Train the evaluation classifier on real clips.")
    csub = sp.add_subparsers(dest="classifier_command", metavar="<command>", required=True)
    h = ("Train a log-mel genre/tag classifier on DUMP/train at the dump's rate and report its "
         "accuracy on DUMP/test (the ceiling for generated clips).")
    tp = csub.add_parser("train", help=h, description=h)
    tp.set_defaults(func=_classifier_train)
    tp.add_argument("--dump-dir", required=True, help="folder with train/ and test/ dumps")
    tp.add_argument("--out", required=True, type=output_file,
                    help="classifier file to write, e.g. exp/clf.pt")
    number(tp, "--steps", int, 1, 10**7, default=600, help="training steps")
    seed(tp, default=0, help="random seed")
    number(tp, "--max-seconds", float, 0.5, 3600.0, default=30.0,
           help="use at most this much of each clip")

    h = ("Score generated <genre>_<k>.wav clips: conditional accuracy, confusion, inception "
         "score, Frechet distance to real clips, rhythm (onsets, tempo) against real clips, "
         "the model's test NLL and, with --train, closeness to the training audio; writes "
         "OUT/eval.json.")
    ep = sub.add_parser("eval", help=h, description=h)
    ep.set_defaults(func=_eval)
    ep.add_argument("--gen", required=True, help="folder of generated <genre>_<k>.wav clips")
    ep.add_argument("--ref", required=True, help="real clips: a data dir (data/test) or a dump")
    ep.add_argument("--classifier", required=True, help="classifier file")
    ep.add_argument("--out", required=True, type=output_dir, help="output folder for eval.json")
    ep.add_argument("--model", default=None, help="model file: also report its test NLL")
    number(ep, "--nll-seconds", float, 0.1, 600.0, default=4.0,
           help="seconds of each real clip scored for NLL")
    number(ep, "--max-seconds", float, 0.5, 3600.0, default=30.0,
           help="use at most this much of each real clip")
    seed(ep, default=0, help="seed of the FD subsets and halves")
    ep.add_argument("--train", default=None,
                    help="training data (data dir or dump): report each clip's nearest "
                         "training clip and flag clips that copy training audio")
    number(ep, "--copy-threshold", float, 0.0, 1.0, lo_open=True, default=None,
           help="flag clips whose max 1 s cross-correlation with the training audio exceeds "
                "this (default: max(0.8, what held-out real clips reach))")

    h = ("Copy synthesis of real clips through their plans: re-synthesize every clip of REF "
         "with a renderer (its own units, its genre) per seed and score it: conditional "
         "accuracy, FD, tempo and onset rate against each source, NLL with its own units vs "
         "another clip's vs a label-only model; writes OUT/copy_synthesis.json.")
    rs = sub.add_parser("eval-resynth", help=h, description=h)
    rs.set_defaults(func=_eval_resynth)
    rs.add_argument("--ref", required=True, help="real clips: a data dir (data/test) or a dump")
    rs.add_argument("--model", required=True, help="renderer model file or checkpoint")
    rs.add_argument("--classifier", required=True, help="classifier file")
    rs.add_argument("--out", required=True, type=output_dir, help="output folder")
    number(rs, "--seconds", float, 0.5, 600.0, default=8.0, help="seconds of each clip")
    number(rs, "--start", float, 0.0, 3600.0, default=0.0, help="where the excerpt starts (s)")
    number(rs, "--seeds", int, 0, 2**32 - 1, nargs="+", default=[1, 2, 3],
           help="synthesis seeds (one batch each)")
    sampling_flags(rs, "classifier-free guidance on the genre", defaults="the model's")
    rs.add_argument("--label-only", default=None,
                    help="label-only model of the NLL comparison (default: the packaged model)")
    rs.add_argument("--engine", default="auto", help="generation engine, as for synth")
    number(rs, "--threads", int, 1, 1024, default=None, help="cores of the cpu engine")

    h = ("A planner judged on its plans alone: COUNT plans per genre and seed, scored plan to "
         "plan against the real test clips' unit tables (tempo and onset rate of the decoded "
         "onset envelope, plan-level genre from unit histograms, first vs last seconds, the "
         "longest run copied from a training plan); writes OUT/plans.json and OUT/plans/.")
    pl = sub.add_parser("eval-plans", help=h, description=h)
    pl.set_defaults(func=_eval_plans)
    pl.add_argument("--model", default=None,
                    help="planner or two-level model file (default: the packaged model)")
    pl.add_argument("--ref", required=True, help="dump of the real test clips, with units/")
    pl.add_argument("--train", required=True, help="dump of the training clips, with units/")
    pl.add_argument("--out", required=True, type=output_dir, help="output folder")
    number(pl, "--seconds", float, 0.0, 600.0, lo_open=True, default=30.0,
           help="seconds of each plan (and of each real clip's plan)")
    number(pl, "--count", int, 1, 100, default=3, help="plans per genre and seed")
    number(pl, "--seeds", int, 0, 2**32 - 1, nargs="+", default=[1],
           help="sampling seeds (one batch each)")
    sampling_flags(pl, "classifier-free guidance on the genre", defaults="the planner's")
    pl.add_argument("--engine", default="auto", help="generation engine, as for synth")

    h = "Plot training and validation bits/sample and the learning rate of EXP to a PNG."
    pp = sub.add_parser("plot-training", help=h, description=h)
    pp.set_defaults(func=_plot_training)
    pp.add_argument("exp_dir", help="experiment folder (with train_log.csv)")
    pp.add_argument("--out", default=None, type=output_file,
                    help="PNG to write (default EXP/training.png)")

    h = ("Write EXP/report/index.html: metrics of every EXP/eval/<system>/eval.json, training "
         "curves, confusion matrices, clips with spectrograms (relative links only).")
    rp = sub.add_parser("report", help=h, description=h)
    rp.set_defaults(func=_report)
    rp.add_argument("exp_dir", help="experiment folder")
    rp.add_argument("--out", default=None, type=output_dir,
                    help="output folder (default EXP/report)")
    number(rp, "--clips-per-genre", int, 0, 100, default=2, help="generated clips per genre")
