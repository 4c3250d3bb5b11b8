"""``wavegen report EXP``: one self-contained HTML page about an experiment.

Reads ``EXP/train_log.csv`` and every ``EXP/eval/<system>/eval.json`` (see
:mod:`wavegen.eval.evaluate`), and writes ``EXP/report/`` with ``index.html``, ``img/`` (PNG
plots: training curves, confusion matrices, spectrograms) and ``audio/`` (copies of the clips).
Every link is relative, so the folder can be zipped, mailed or served as is.
"""

from __future__ import annotations

import csv
import html
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wavegen.audio import read_audio, write_wav  # noqa: E402
from wavegen.errors import WavegenError  # noqa: E402

log = logging.getLogger(__name__)

CLIP_SECONDS = 5.0


def _read_log(path: Path) -> dict[str, list[tuple[int, float]]]:
    curves: dict[str, list[tuple[int, float]]] = {"loss_bits": [], "valid_bits": [], "lr": []}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            for key in curves:
                if row.get(key):
                    curves[key].append((int(row["step"]), float(row[key])))
    return curves


def plot_training(log_csv: Path, png: Path) -> bool:
    """Training and validation bits/sample (and the learning rate) against step."""
    curves = _read_log(log_csv)
    if not curves["loss_bits"]:
        return False
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for key, label in (("loss_bits", "train"), ("valid_bits", "validation")):
        if curves[key]:
            x, y = zip(*curves[key], strict=True)
            ax.plot(x, y, label=label, marker="o" if key == "valid_bits" else None, ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("bits / sample")
    ax.grid(alpha=0.3)
    if curves["lr"]:
        twin = ax.twinx()
        x, y = zip(*curves["lr"], strict=True)
        twin.plot(x, y, color="grey", lw=0.8, ls="--", label="learning rate")
        twin.set_ylabel("learning rate", color="grey")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)
    return True


def plot_confusion(confusion: list[list[int]], vocab: list[str], png: Path, title: str) -> None:
    """Rows: requested genre; columns: the classifier's answer."""
    m = np.asarray(confusion, dtype=float)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.imshow(m / np.maximum(1, m.sum(1, keepdims=True)), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(vocab)), vocab, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(vocab)), vocab, fontsize=7)
    for i in range(len(vocab)):
        for j in range(len(vocab)):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=6)
    ax.set_xlabel("classifier says")
    ax.set_ylabel("requested")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def plot_spectrogram(samples: np.ndarray, rate: int, png: Path) -> None:
    fig, ax = plt.subplots(figsize=(3.2, 1.6))
    ax.specgram(samples + 1e-9, NFFT=512, Fs=rate, noverlap=384, cmap="magma")
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    fig.savefig(png, dpi=80)
    plt.close(fig)


def _clip(src: str, name: str, out: Path) -> tuple[str, str]:
    """Copy the first seconds of ``src`` to ``out/audio/name.wav`` with its spectrogram."""
    samples, rate = read_audio(src)
    samples = samples[: int(CLIP_SECONDS * rate)]
    write_wav(out / "audio" / f"{name}.wav", samples, rate)
    plot_spectrogram(samples, rate, out / "img" / f"{name}.png")
    return f"audio/{name}.wav", f"img/{name}.png"


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "&ndash;"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def _metrics_table(systems: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, ev in systems.items():
        g, r, fd = ev["generated"], ev["real"], ev["frechet"]
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{g['n']}</td>"
            f"<td>{_fmt(g['conditional_accuracy'], True)}</td><td>{_fmt(r['accuracy'], True)}</td>"
            f"<td>{_fmt(g['inception_score'])}</td><td>{_fmt(r['inception_score'])}</td>"
            f"<td>{_fmt(fd['generated_vs_real']['fd'])}</td>"
            f"<td>{_fmt(fd['generated_vs_real'].get('fd_inf'))}</td>"
            f"<td>{_fmt(fd['real_vs_real']['fd'])}</td>"
            f"<td>{_fmt(ev.get('nll_bits_per_sample'))}</td></tr>")
    return ("<table><tr><th>system</th><th>clips</th><th>conditional accuracy</th>"
            "<th>real-clip accuracy (ceiling)</th><th>IS generated</th><th>IS real</th>"
            "<th>FD gen vs real</th><th>FD&infin; (1/n fit)</th><th>FD real vs real</th>"
            "<th>test NLL (bits/sample)</th></tr>" + "".join(rows) + "</table>")


def _genre_section(name: str, ev: dict[str, Any], out: Path, per_genre: int) -> str:
    g, r = ev["generated"], ev["real"]
    real_files = r.get("files") or []
    parts = []
    for genre in ev["vocab"]:
        gen = [f for f, q in zip(g["files"], g["requested"], strict=True) if q == genre]
        real = [f for f, lab in zip(real_files, r["labels"], strict=False)
                if genre in lab.split(",")]
        if not gen:
            continue
        acc = g["per_genre_accuracy"].get(genre)
        cells = []
        for kind, files in (("generated", gen[:per_genre]), ("real", real[:1])):
            for k, src in enumerate(files):
                tag = f"{name}-{genre}-{kind}-{k}".replace("/", "_")
                try:
                    audio, img = _clip(src, tag, out)
                except WavegenError as err:
                    log.warning("report: %s", err)
                    continue
                cells.append(f'<figure><figcaption>{kind}</figcaption><img src="{img}" alt="">'
                             f'<audio controls preload="none" src="{audio}"></audio></figure>')
        parts.append(f"<h3>{html.escape(genre)} <small>(classifier names it in "
                     f"{_fmt(acc, True)} of clips)</small></h3><div class=row>"
                     + "".join(cells) + "</div>")
    return "".join(parts)


CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f3f3}.row{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}
figure img{display:block;width:256px}audio{width:256px}small{color:#666;font-weight:normal}"""


def write_report(exp_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 clips_per_genre: int = 2) -> Path:
    """Write the HTML report of ``exp_dir``; returns the path of ``index.html``."""
    exp_dir = Path(exp_dir)
    out = Path(out) if out is not None else exp_dir / "report"
    evals = sorted((exp_dir / "eval").glob("*/eval.json"))
    log_csv = exp_dir / "train_log.csv"
    if not evals and not log_csv.is_file():
        raise WavegenError(f"{exp_dir} has neither eval/<system>/eval.json nor train_log.csv; "
                           "run the training and evaluation stages first")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "img").mkdir(parents=True)
    (tmp / "audio").mkdir()
    systems = {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in evals}
    body = [f"<h1>wavegen report: {html.escape(exp_dir.name)}</h1>"]
    if systems:
        body.append("<h2>Metrics</h2>" + _metrics_table(systems))
        first = next(iter(systems.values()))
        body.append(f"<p><small>Classifier: {html.escape(str(first['classifier']['path']))}"
                    f" ({first['classifier'].get('n_train', '?')} training clips). FD: "
                    f"{html.escape(first['frechet']['embedding'])}; comparable between rows "
                    "that share a classifier, not with published FAD.</small></p>")
    if log_csv.is_file() and plot_training(log_csv, tmp / "img" / "training.png"):
        body.append('<h2>Training</h2><img src="img/training.png" alt="training curves">')
    for name, ev in systems.items():
        png = f"img/confusion-{name}.png"
        plot_confusion(ev["generated"]["confusion"], ev["vocab"], tmp / png,
                       f"{name}: requested vs classified")
        body.append(f"<h2>{html.escape(name)}</h2><img src=\"{png}\" alt=\"confusion matrix\">")
        body.append(_genre_section(name, ev, tmp, clips_per_genre))
    page = ("<!doctype html><html><head><meta charset=utf-8><title>wavegen report</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
    (tmp / "index.html").write_text(page, encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    log.info("report: %s", out / "index.html")
    return out / "index.html"
