"""``wavegen listen report``: statistics, a CSV and PNG plots from the answers of a test.

Answers come from the test's SQLite store and, optionally, from webMUSHRA ``mushra.csv`` files.
Outputs go to ``<test>/report/`` (or ``out``): ``summary.csv``, ``report.json`` and plots.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wavegen.errors import WavegenError
from wavegen.listen import plots, stats
from wavegen.listen.layout import (
    ANCHOR35,
    ANCHOR70,
    REFERENCE,
    SCORE_RANGE,
    load_manifest,
    write_json,
)
from wavegen.listen.store import AnswerStore, count_answers
from wavegen.listen.webmushra import read_results
from wavegen.outputs import atomic_output

log = logging.getLogger(__name__)

COLUMNS = ["measure", "system", "versus", "genre", "n", "listeners", "value", "ci95_low",
           "ci95_high", "p_value"]


def _rows(test_dir: Path, manifest: Mapping[str, Any], imports: Sequence[str | os.PathLike[str]]
          ) -> list[dict]:
    """Answers joined with the manifest: each row gains ``system`` and ``genre``."""
    answers = AnswerStore(test_dir).answers() if count_answers(test_dir) else []
    for path in imports:
        answers.extend(read_results(path, manifest))
    keys, trials = manifest["keys"], manifest["trials"]
    rows = []
    for a in answers:
        entry = keys.get(a["item"])
        rows.append({**a, "genre": trials[a["trial"]]["genre"],
                     "system": entry["system"] if entry else None})
    return rows


def _score_report(rows: list[dict], test_type: str, out: Path, result: dict,
                  screening: bool = True) -> list[dict]:
    csv_rows = []
    if test_type == "mushra":
        screen = stats.mushra_post_screen(
            (r["listener"], r["score"]) for r in rows if r["system"] == REFERENCE)
        result["screening"] = {"applied": screening,
                               "listeners_before": len(screen.fail_rate),
                               "listeners_after": len(screen.kept), "dropped": screen.dropped,
                               "fail_rate": screen.fail_rate}
        if screening:
            if not screen.kept:
                result["screening"]["all_dropped"] = True
                log.warning("every listener failed MUSHRA post-screening: no scores to report; "
                            "'wavegen listen report --no-screening' reports them unscreened")
            rows = [r for r in rows if r["listener"] in set(screen.kept)]
    result["ci_method"] = ("95% t interval over listeners: each listener's ratings averaged "
                           "first (n = listeners)")
    order = [REFERENCE, ANCHOR70, ANCHOR35] if test_type == "mushra" else [REFERENCE]
    systems = sorted({r["system"] for r in rows}, key=lambda s: (s in order, s))
    genres = sorted({r["genre"] for r in rows})
    overall = {}
    by_genre = {}
    answers = {}
    for (system, genre), group in stats.group(rows, "system", "genre").items():
        by_genre[(system, genre)] = stats.listener_mean_ci(
            (r["listener"], r["score"]) for r in group)
        answers[(system, genre)] = len(group)
    for system in systems:
        group = [r for r in rows if r["system"] == system]
        overall[system] = stats.listener_mean_ci((r["listener"], r["score"]) for r in group)
        answers[(system, "all")] = len(group)
        csv_rows.append(_ci_row(system, "all", overall[system], len(group)))
        for genre in genres:
            if (system, genre) in by_genre:
                csv_rows.append(_ci_row(system, genre, by_genre[(system, genre)],
                                        answers[(system, genre)]))
    result["systems"] = {s: {**dataclasses.asdict(ci), "answers": answers[(s, "all")]}
                         for s, ci in overall.items()}
    result["by_genre"] = {f"{s}/{g}": {**dataclasses.asdict(ci), "answers": answers[(s, g)]}
                          for (s, g), ci in by_genre.items()}
    if rows:
        scale = SCORE_RANGE[test_type]
        scores = {s: [r["score"] for r in rows if r["system"] == s] for s in systems}
        plots.score_plot(scores, overall, scale, f"{test_type.upper()}: scores per system",
                         out / "scores.png")
        plots.genre_ci_plot(by_genre, systems, genres, scale, out / "scores_by_genre.png")
    return csv_rows


def _ci_row(system: str, genre: str, ci: stats.MeanCI, answers: int) -> dict:
    """A CSV row: ``n`` answers, ``listeners`` (the CI's sample), the mean of listener means."""
    return {"measure": "mean_score", "system": system, "versus": "", "genre": genre, "n": answers,
            "listeners": ci.n, "value": ci.mean, "ci95_low": ci.low, "ci95_high": ci.high,
            "p_value": ""}


def _ab_report(rows: list[dict], manifest: Mapping[str, Any], out: Path, result: dict
               ) -> list[dict]:
    keys = manifest["keys"]
    systems = sorted({e["system"] for e in keys.values()})
    a, b = systems
    csv_rows = []
    winners = [(keys[r["label"]]["system"], r["genre"], r["listener"]) for r in rows]
    for genre in ["all", *manifest["genres"]]:
        chosen = [(w, lst) for w, g, lst in winners if genre in ("all", g)]
        pref = stats.preference(a, b, [w for w, _ in chosen])
        if genre == "all":
            result["preference"] = dataclasses.asdict(pref)
            if pref.n:
                plots.preference_plot(pref, out / "preference.png")
        elif pref.n:
            result.setdefault("preference_by_genre", {})[genre] = dataclasses.asdict(pref)
        if pref.n or genre == "all":
            csv_rows.append({"measure": "preference", "system": a, "versus": b, "genre": genre,
                             "n": pref.n, "listeners": len({lst for _, lst in chosen}),
                             "value": pref.rate_a, "ci95_low": "", "ci95_high": "",
                             "p_value": pref.p_value})
    return csv_rows


def _genre_report(rows: list[dict], manifest: Mapping[str, Any], out: Path, result: dict
                  ) -> list[dict]:
    labels = manifest["genres"]
    csv_rows = []
    result["accuracy"] = {}
    for system, group in sorted(stats.group(rows, "system").items()):
        acc = stats.accuracy([(r["genre"], r["label"]) for r in group], labels)
        result["accuracy"][system[0]] = dataclasses.asdict(acc)
        csv_rows.append({"measure": "accuracy", "system": system[0], "versus": "",
                         "genre": "all", "n": acc.n,
                         "listeners": len({r["listener"] for r in group}), "value": acc.accuracy,
                         "ci95_low": acc.low, "ci95_high": acc.high, "p_value": ""})
        plots.confusion_plot(acc, system[0], out / f"confusion_{system[0]}.png")
        with open(out / f"confusion_{system[0]}.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["true\\chosen", *labels])
            for label, counts in zip(labels, acc.confusion, strict=True):
                w.writerow([label, *counts])
    return csv_rows


def report(test_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
           webmushra_csv: Sequence[str | os.PathLike[str]] = (),
           screening: bool = True) -> dict[str, Any]:
    """Compute the statistics of a test and write ``summary.csv``, ``report.json`` and plots.

    Args:
        test_dir: the test folder.
        out: output folder (default ``<test>/report``; created if missing).
        webmushra_csv: webMUSHRA ``mushra.csv`` files to include (MUSHRA tests only).
        screening: apply MUSHRA post-screening (drop listeners who rate the hidden reference
            below 90 in more than 15% of trials); off, every listener is reported.

    Returns:
        The content of ``report.json``: per-system (and per-genre) means of listener means
        with 95% t intervals over listeners, and MUSHRA screening counts, the A/B
        preference, or genre-id accuracies and confusions.
    """
    test_dir = Path(test_dir)
    manifest = load_manifest(test_dir)
    test_type = manifest["type"]
    if webmushra_csv and test_type != "mushra":
        raise WavegenError(f"webMUSHRA results can be imported into MUSHRA tests only; "
                           f"{test_dir} is a {test_type} test")
    rows = _rows(test_dir, manifest, webmushra_csv)
    if not rows:
        raise WavegenError(f"{test_dir} has no answers yet; serve it with 'wavegen listen serve "
                           f"{test_dir}' and collect some first")
    out = Path(out) if out is not None else test_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"type": test_type, "answers": len(rows),
                              "listeners": len({r["listener"] for r in rows})}
    if test_type in SCORE_RANGE:
        csv_rows = _score_report(rows, test_type, out, result, screening)
    elif test_type == "ab":
        csv_rows = _ab_report(rows, manifest, out, result)
    else:
        csv_rows = _genre_report(rows, manifest, out, result)
    with atomic_output(out / "summary.csv") as tmp, \
            open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        for r in csv_rows:
            writer.writerow({k: _fmt(v) for k, v in r.items()})
    write_json(out / "report.json", _clean(result))
    log.info("report of %d answers by %d listeners -> %s", result["answers"],
             result["listeners"], out)
    return result


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v


def _num(v: Any) -> str:
    """A bound for the summary: ``n/a`` where one listener gives no interval."""
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def _clean(obj: Any) -> Any:
    """JSON-safe copy: NaN becomes null."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """A short human-readable summary of :func:`report`'s result."""
    lines = [f"{result['type']} test: {result['answers']} answers, "
             f"{result['listeners']} listeners"]
    if "screening" in result:
        s = result["screening"]
        if not s.get("applied", True):
            lines.append(f"post-screening NOT applied (--no-screening): all "
                         f"{s['listeners_before']} listeners reported; it would keep "
                         f"{s['listeners_after']}")
        else:
            lines.append(f"post-screening (hidden reference < 90 in > 15% of trials): "
                         f"{s['listeners_before']} listeners before, {s['listeners_after']} after")
        if s.get("all_dropped"):
            lines.append("  every listener failed post-screening: no scores to report; "
                         "'wavegen listen report --no-screening TEST' reports them unscreened "
                         "(say so wherever they are quoted)")
    if result.get("systems"):
        lines.append(f"  ({result.get('ci_method', '95% t intervals')})")
    for system, ci in result.get("systems", {}).items():
        lines.append(f"  {system:>12}: mean {ci['mean']:.2f}  95% CI [{_num(ci['low'])}, "
                     f"{_num(ci['high'])}]  {ci['n']} listeners, {ci.get('answers', '?')} "
                     "answers")
    if "preference" in result:
        p = result["preference"]
        lines.append(f"  {p['a']} preferred over {p['b']} in {p['wins_a']}/{p['n']} "
                     f"({p['rate_a']:.1%}), two-sided binomial p={p['p_value']:.3g}")
    for system, acc in result.get("accuracy", {}).items():
        lines.append(f"  {system:>12}: genre accuracy {acc['correct']}/{acc['n']} "
                     f"({acc['accuracy']:.1%}), 95% CI [{acc['low']:.2f}, {acc['high']:.2f}]")
    return lines
