"""``wavegen listen build|serve|report``: argparse definitions and their thin command functions."""

from __future__ import annotations

import argparse

from wavegen.cliargs import number, output_dir, seed
from wavegen.errors import WavegenError


def _systems(specs: list[str]) -> dict[str, str]:
    systems: dict[str, str] = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            raise WavegenError(f"--systems takes NAME=DIR items, got '{spec}'")
        if name in systems:
            raise WavegenError(f"system '{name}' is given twice in --systems")
        systems[name] = folder
    return systems


def _build(a: argparse.Namespace) -> None:
    from wavegen.listen.build import build_test

    genres = [g for g in a.genres.split(",") if g] if a.genres else None
    print(build_test(a.type, _systems(a.systems), a.out, a.ref, max_seconds=a.max_seconds,
                     items_per_genre=a.items_per_genre, genres=genres,
                     sample_rate=a.sample_rate, loudness=a.loudness, seed=a.seed,
                     force=a.force))


def _serve(a: argparse.Namespace) -> None:
    from wavegen.listen.server import serve

    serve(a.test, host=a.host, port=a.port)


def _report(a: argparse.Namespace) -> None:
    from wavegen.listen.report import report, summary_lines

    result = report(a.test, out=a.out, webmushra_csv=a.webmushra_csv or (),
                    screening=not a.no_screening)
    print("\n".join(summary_lines(result)))


def add_listen_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``listen`` with its ``build``, ``serve`` and ``report`` subcommands to ``sub``."""
    text = "Listening tests: build one from WAV folders, serve it on localhost, report results."
    lp = sub.add_parser("listen", help=text, description=text)
    lsub = lp.add_subparsers(dest="listen_command", metavar="<step>", required=True)

    text = "Build a blind test (stimuli, private manifest, webMUSHRA config, test page)."
    sp = lsub.add_parser("build", help=text, description=text)
    sp.set_defaults(func=_build)
    sp.add_argument("--type", required=True, choices=["mushra", "mos", "ab", "genre-id"],
                    help="test type")
    sp.add_argument("--systems", required=True, nargs="+", metavar="NAME=DIR",
                    help="systems under test: folders of <genre>_<k>.wav or Kaldi data dirs")
    sp.add_argument("--ref", default=None,
                    help="reference clips (folder or Kaldi data dir with wav.scp, utt2genre); "
                         "required for MUSHRA")
    sp.add_argument("--out", required=True, type=output_dir, help="test folder to create")
    number(sp, "--max-seconds", float, 0.0, 600.0, lo_open=True, default=None,
           help="cap on the common clip length (MUSHRA: at most 12)")
    number(sp, "--items-per-genre", int, 1, 10000, default=None,
           help="cap on trials per genre (default: all matching clips)")
    sp.add_argument("--genres", default=None, help="comma-separated genres to use")
    sp.add_argument("--sample-rate", type=int, default=None,
                    choices=(16000, 22050, 32000, 44100, 48000),
                    help="stimulus rate: 16000, 22050, 32000, 44100 or 48000 "
                         "(default: the lowest of these >= every input)")
    number(sp, "--loudness", float, -70.0, 0.0, default=-23.0,
           help="target loudness in LUFS (lowered if a clip would clip)")
    seed(sp, default=None, help="seed for clip selection and keys (default: random)")
    sp.add_argument("--force", action="store_true",
                    help="if --out holds answers, move it aside instead of refusing")

    text = "Serve a test to listeners; answers are saved in <test>/answers.sqlite at once."
    sp = lsub.add_parser("serve", help=text, description=text)
    sp.set_defaults(func=_serve)
    sp.add_argument("test", help="test folder made by 'wavegen listen build'")
    sp.add_argument("--host", default="127.0.0.1",
                    help="address to bind (%(default)s); anything but loopback exposes the test "
                         "(warns)")
    number(sp, "--port", int, 1, 65535, default=8000, help="TCP port (%(default)s)")

    text = "Statistics, CSV and plots of a test's answers (and webMUSHRA result CSVs)."
    sp = lsub.add_parser("report", help=text, description=text)
    sp.set_defaults(func=_report)
    sp.add_argument("test", help="test folder")
    sp.add_argument("--out", default=None, type=output_dir,
                    help="output folder (default: <test>/report)")
    sp.add_argument("--webmushra-csv", action="append", metavar="CSV",
                    help="a webMUSHRA mushra.csv of this test to include (repeatable)")
    sp.add_argument("--no-screening", action="store_true",
                    help="MUSHRA: report every listener, without post-screening (the summary "
                         "says so)")
    return lp
