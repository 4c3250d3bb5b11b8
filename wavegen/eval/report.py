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
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wavegen.audio import read_audio, write_wav  # noqa: E402
from wavegen.errors import WavegenError  # noqa: E402
from wavegen.machine import run_facts  # noqa: E402
from wavegen.outputs import atomic_output_dir  # noqa: E402
from wavegen.progress import progress  # noqa: E402
from wavegen.units.plan import read_plan  # noqa: E402

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
    fig, ax = plt.subplots(figsize=(10, 5))
    for key, label in (("loss_bits", "train"), ("valid_bits", "validation")):
        if curves[key]:
            x, y = zip(*curves[key], strict=True)
            ax.plot(x, y, label=label, marker="o" if key == "valid_bits" else None, ms=3)
    ax.set_xlabel("step")
    ax.set_ylabel("bits / sample")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if curves["lr"]:
        twin = ax.twinx()
        x, y = zip(*curves["lr"], strict=True)
        (line,) = twin.plot(x, y, color="grey", lw=0.8, ls="--", label="learning rate")
        twin.set_ylabel("learning rate", color="grey")
        handles, labels = handles + [line], labels + ["learning rate (right axis)"]
    ax.legend(handles, labels, loc="upper right")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return True


def plot_confusion(confusion: list[list[int]], vocab: list[str], png: Path, title: str) -> None:
    """Rows: requested genre; columns: the classifier's answer."""
    m = np.asarray(confusion, dtype=float)
    share = m / np.maximum(1, m.sum(1, keepdims=True))
    fig, ax = plt.subplots(figsize=(7, 6.2))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(vocab)), vocab, rotation=60, ha="right", fontsize=9)
    ax.set_yticks(range(len(vocab)), vocab, fontsize=9)
    for i in range(len(vocab)):
        for j in range(len(vocab)):
            if m[i, j]:  # white on dark cells, so every count stays readable
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=9,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xlabel("classifier says")
    ax.set_ylabel("requested")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def plot_spectrogram(samples: np.ndarray, rate: int, png: Path,
                     plan: tuple[np.ndarray, float, int] | None = None) -> None:
    """Power spectrogram in dB (re full scale) with time and frequency axes and a colour bar;
    the colour range is fixed (-100..0 dB) so that clips compare across the page. With
    ``plan`` = (unit ids (F,), frames per second, K), the plan the clip was rendered from is
    drawn under it on the same time axis: one mark per frame at its unit id."""
    if plan is None:
        fig, ax = plt.subplots(figsize=(4.2, 2.4))
    else:
        fig, (ax, below) = plt.subplots(2, 1, figsize=(4.2, 3.4), sharex=True,
                                        gridspec_kw={"height_ratios": [2.4, 1.0]})
    with np.errstate(divide="ignore"):  # digital silence: -inf dB, drawn at the floor colour
        *_, image = ax.specgram(samples, NFFT=512, Fs=rate, noverlap=384, cmap="magma",
                                vmin=-100, vmax=0)
    ax.set_xlabel("time (s)", fontsize=7)
    ax.set_ylabel("frequency (Hz)", fontsize=7)
    ax.tick_params(labelsize=6)
    bar = fig.colorbar(image, ax=ax, pad=0.02)
    bar.set_label("dB", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    if plan is not None:
        units, frame_rate, k = plan
        ax.set_xlabel("")
        below.scatter(np.arange(units.size) / frame_rate, units, s=3, c=units, cmap="tab20",
                      vmin=0, vmax=k, marker="s", linewidths=0)
        below.set_ylim(-0.5, k - 0.5)
        below.set_xlim(0, samples.size / rate)
        below.set_ylabel("plan: unit", fontsize=7)
        below.set_xlabel("time (s)", fontsize=7)
        below.tick_params(labelsize=6)
        fig.colorbar(image, ax=below, pad=0.02).ax.set_visible(False)  # aligned time axes
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def _slug(text: str) -> str:
    """A file name made only of letters, digits, ``.``, ``_`` and ``-`` (``text`` may come from
    any folder or file name: it must not be able to break out of an HTML attribute)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".") or "_"


def _clip(src: str, name: str, out: Path, start: float = 0.0) -> tuple[str, str]:
    """Copy ``CLIP_SECONDS`` of ``src`` from ``start`` seconds to ``out/audio/name.wav``, with
    its spectrogram in ``out/img/name.png``; returns both relative links."""
    samples, rate = read_audio(src)
    first = min(int(start * rate), max(0, samples.size - 1))
    samples = samples[first: first + int(CLIP_SECONDS * rate)]
    write_wav(out / "audio" / f"{name}.wav", samples, rate)
    plot_spectrogram(samples, rate, out / "img" / f"{name}.png",
                     _plan_window(src, start, samples.size / rate))
    return f"audio/{name}.wav", f"img/{name}.png"


def plan_file_of(clip: str | os.PathLike[str]) -> Path:
    """Where a two-level model's clip keeps its plan: ``DIR/plans/<clip stem>.plan.json``
    (``wavegen synth --out-dir DIR --plan-out DIR/plans``, as recipe stage 6 writes them)."""
    clip = Path(clip)
    return clip.parent / "plans" / f"{clip.stem}.plan.json"


def _plan_window(src: str, start: float, seconds: float
                 ) -> tuple[np.ndarray, float, int] | None:
    """The frames of ``src``'s plan under the excerpt shown, if the clip has a plan file."""
    path = plan_file_of(src)
    if not path.is_file():
        return None
    try:
        plan = read_plan(path)
    except WavegenError as err:
        log.warning("report: %s", err)
        return None
    frame_rate = plan.sample_rate / plan.hop
    first = int(start * frame_rate)
    return (plan.units[first:first + max(1, round(seconds * frame_rate))], frame_rate,
            plan.n_units)


def _fmt(value: Any, pct: bool = False, digits: int = 3) -> str:
    if value is None:
        return "&ndash;"
    return f"{100 * value:.1f}%" if pct else f"{value:.{digits}f}"


def _metrics_table(systems: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, ev in systems.items():
        g, r, fd = ev["generated"], ev["real"], ev["frechet"]
        copies = (f"{ev['copies']['n_flagged']} / {g['n']}" if "copies" in ev else "&ndash;")
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{g['n']}</td>"
            f"<td>{_fmt(g['conditional_accuracy'], True)}</td><td>{_fmt(r['accuracy'], True)}</td>"
            f"<td>{_fmt(g['inception_score'])}</td><td>{_fmt(r['inception_score'])}</td>"
            f"<td>{_fmt(fd['generated_vs_real']['fd'])}</td>"
            f"<td>{_fmt(fd['real_vs_real']['fd'])}</td>"
            f"<td>{_fmt(fd['generated_vs_real'].get('fd_inf'))}</td>"
            f"<td>{_fmt(fd['real_vs_real'].get('fd_inf'))}</td>"
            f"<td>{_fmt(ev.get('nll_bits_per_sample'))}</td><td>{copies}</td></tr>")
    return ("<table><tr><th>system</th><th>clips</th><th>conditional accuracy</th>"
            "<th>real-clip accuracy (ceiling)</th><th>IS generated</th><th>IS real</th>"
            "<th>FD gen vs real</th><th>FD real vs real</th>"
            "<th>FD&infin; gen vs real</th><th>FD&infin; real vs real</th>"
            "<th>test NLL (bits/sample)</th><th>copies flagged</th></tr>" + "".join(rows)
            + "</table>")


def _figure(src: str, tag: str, caption: str, out: Path, start: float = 0.0) -> str:
    """A spectrogram and a player for ``src``, or "" (with a warning) when it cannot be read."""
    try:
        audio, img = _clip(src, _slug(tag), out, start)
    except WavegenError as err:
        log.warning("report: %s", err)
        return ""
    return (f'<figure><figcaption>{html.escape(caption)}</figcaption>'
            f'<img src="{html.escape(img)}" alt="">'
            f'<audio controls preload="none" src="{html.escape(audio)}"></audio></figure>')


def _attacks_table(entry: dict[str, Any]) -> str:
    """Real vs generated rhythm statistics of one genre (``eval.json`` ``attacks``)."""
    rows = []
    for side in ("real", "generated"):
        s = entry[side]
        rows.append(f"<tr><td>{side}</td><td>{s['n']}</td>"
                    f"<td>{_fmt(s['onset_rate'], digits=2)}</td>"
                    f"<td>{_fmt(s['onset_strength'], digits=2)}</td>"
                    f"<td>{_fmt(s['tempo_median'], digits=0)}</td></tr>")
    cells = []
    for key in ("onset_rate", "onset_strength"):
        ok = entry[key]["within_0.5x_2x"]
        mark = "" if ok is None else (" (within 0.5-2x)" if ok else " (outside 0.5-2x)")
        cls = " class=flag" if ok is False else ""
        cells.append(f"<td{cls}>{_fmt(entry[key]['ratio'], digits=2)}{mark}</td>")
    rows.append("<tr><td>generated / real</td><td></td>" + "".join(cells) + "<td></td></tr>")
    return ("<table><tr><th></th><th>clips</th><th>onsets / s</th><th>onset strength</th>"
            "<th>median tempo (bpm)</th></tr>" + "".join(rows) + "</table>")


def _genre_section(name: str, ev: dict[str, Any], out: Path, per_genre: int) -> str:
    """Per genre: the classifier's accuracy, the rhythm table, and real and generated clips
    side by side."""
    g, r = ev["generated"], ev["real"]
    real_files = r.get("files") or []
    attacks = ev.get("attacks", {}).get("per_genre", {})
    parts = []
    for genre in ev["vocab"]:
        gen = [f for f, q in zip(g["files"], g["requested"], strict=True) if q == genre]
        real = [(u, f) for u, f, lab in zip(r["utts"], real_files, r["labels"], strict=False)
                if genre in lab.split(",")]
        if not gen:
            continue
        acc = g["per_genre_accuracy"].get(genre)
        cells = [_figure(f, f"{name}-{genre}-real-{k}", f"real: {u}", out)
                 for k, (u, f) in enumerate(real[:1])]
        cells += [_figure(f, f"{name}-{genre}-generated-{k}", f"generated: {Path(f).name}", out)
                  for k, f in enumerate(gen[:per_genre])]
        table = _attacks_table(attacks[genre]) if genre in attacks else ""
        parts.append(f"<h3>{html.escape(genre)} <small>(classifier names it in "
                     f"{_fmt(acc, True)} of clips)</small></h3>{table}<div class=row>"
                     + "".join(cells) + "</div>")
    if not real_files:
        parts.append("<p><small>No real clips to play: the reference was a dump.</small></p>")
    return "".join(parts)


def _copies_section(name: str, copies: dict[str, Any], out: Path, max_pairs: int = 4) -> str:
    """Each generated clip's closeness to the training audio; flagged rows highlighted, and
    the first flagged clips next to the training stretch they match."""
    base = copies["real_vs_train"]
    rows: list[str] = []
    pairs: list[Any] = []
    for c in sorted(copies["clips"], key=lambda c: -c["max_ncc"]):
        at = ("&ndash;" if c["ncc_offset_seconds"] is None else
              f"{c['ncc_window_seconds']:.1f} s &rarr; {c['ncc_offset_seconds']:.2f} s")
        rows.append(f"<tr{' class=flag' if c['flagged'] else ''}>"
                    f"<td>{html.escape(Path(c['file']).name)}</td>"
                    f"<td>{html.escape(str(c['nearest_train_utt']))}</td>"
                    f"<td>{_fmt(c['embedding_distance'])}</td><td>{_fmt(c['max_ncc'])}</td>"
                    f"<td>{html.escape(str(c['ncc_train_utt'] or '-'))}</td><td>{at}</td>"
                    f"<td>{'yes' if c['flagged'] else 'no'}</td></tr>")
        if c["flagged"] and c["ncc_train_file"] and len(pairs) < max_pairs:
            k = len(pairs)
            start = max(0.0, c["ncc_offset_seconds"] - c["ncc_window_seconds"])
            pairs.append("<div class=row>" + _figure(
                c["file"], f"{name}-copy-{k}-generated", f"generated: {Path(c['file']).name}",
                out) + _figure(c["ncc_train_file"], f"{name}-copy-{k}-train",
                               f"training: {c['ncc_train_utt']} from {start:.1f} s", out,
                               start) + "</div>")
    note = (f"<p><small>{copies['n_flagged']} of {len(copies['clips'])} clips flagged: max "
            f"normalized cross-correlation of a {copies['window_seconds']:g} s window with the "
            f"training audio ({copies['n_train']} clips) above {_fmt(copies['threshold'])} "
            f"({html.escape(copies['threshold_rule'])}). "
            + (f"Held-out real excerpts (n={base['n']}) reach median {_fmt(base['median'])}, "
               f"max {_fmt(base['max'])}. " if base["n"] else "")
            + f"Embedding distance: {html.escape(copies['embedding_distance'])}.</small></p>")
    return ("<h3>Copies of training audio</h3>" + note
            + "<table><tr><th>clip</th><th>nearest training clip (embedding)</th>"
            "<th>embedding distance</th><th>max NCC</th><th>NCC training clip</th>"
            "<th>window &rarr; training offset</th><th>flagged</th></tr>" + "".join(rows)
            + "</table>" + "".join(pairs))


def _run_section(exp_dir: Path) -> str:
    """What produced this experiment: steps and validation NLL, model size, the training runs
    (command, wavegen commit, device, date, from ``runs.jsonl``), the config, and this
    report's own provenance."""
    items = []
    log_csv = exp_dir / "train_log.csv"
    if log_csv.is_file():
        curves = _read_log(log_csv)
        if curves["loss_bits"]:
            items.append(f"steps trained: {curves['loss_bits'][-1][0]:,}")
        if curves["valid_bits"]:
            step, bits = curves["valid_bits"][-1]
            items.append(f"validation NLL at step {step:,}: {bits:.4f} bits/sample")
    model = exp_dir / "model.pt"
    if model.is_file():
        try:
            from wavegen.models.io import load_model

            net, info = load_model(model)
            n = sum(p.numel() for p in net.parameters())
            items.append(f"model: {n:,} parameters, {net.cfg.n_layers} layers, receptive "
                         f"field {net.cfg.receptive_field:,} samples at {info.sample_rate} Hz")
        except (WavegenError, OSError, RuntimeError) as err:
            items.append(f"model: unreadable ({html.escape(str(err))})")
    runs = exp_dir / "runs.jsonl"
    if runs.is_file():
        for line in runs.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            items.append(
                f"training run {html.escape(str(r.get('date', '?')))}: steps "
                f"{r.get('from_step', '?')} to {r.get('to_step', '?')} on "
                f"{html.escape(str(r.get('device', '?')))} ({r.get('processes', 1)} process(es), "
                f"precision {html.escape(str(r.get('precision', '?')))}), wavegen "
                f"{html.escape(str(r.get('wavegen', '?')))} commit "
                f"{html.escape(str(r.get('commit') or 'unknown'))}: "
                f"<code>{html.escape(str(r.get('command', '')))}</code>")
    me = run_facts()
    items.append(f"this report: {html.escape(str(me['date']))}, wavegen {me['wavegen']} commit "
                 f"{html.escape(str(me['commit'] or 'unknown'))}: "
                 f"<code>{html.escape(str(me['command']))}</code>")
    out = "<h2>Run</h2><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
    config = exp_dir / "config.yaml"
    if config.is_file():
        out += ("<details><summary>config.yaml</summary><pre>"
                + html.escape(config.read_text(encoding="utf-8", errors="replace"))
                + "</pre></details>")
    return out


CSS = """body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f3f3}.row{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}
figure img{display:block;width:336px}audio{width:336px}pre{background:#f6f6f6;padding:.6em;
font-size:.8em;overflow:auto;max-height:24em}small{color:#666;font-weight:normal}
tr.flag td,td.flag{background:#fdd}"""


# The report runs no script: only its own images and audio and its inline style may load.
CSP = ("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
       "script-src 'none'; base-uri 'none'; form-action 'none'")
REPORT_FILES = frozenset({"index.html", "img", "audio"})  # what a report folder holds


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
    systems = {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in evals}
    with atomic_output_dir(out, REPORT_FILES) as tmp:
        (tmp / "img").mkdir()
        (tmp / "audio").mkdir()
        body = [f"<h1>wavegen report: {html.escape(exp_dir.name)}</h1>", _run_section(exp_dir)]
        if systems:
            body.append("<h2>Metrics</h2>" + _metrics_table(systems))
            first = next(iter(systems.values()))
            body.append(f"<p><small>Classifier: {html.escape(str(first['classifier']['path']))}"
                        f" ({first['classifier'].get('n_train', '?')} training clips). FD: "
                        f"{html.escape(first['frechet']['embedding'])}; comparable between rows "
                        "that share a classifier, not with published FAD. FD falls as the "
                        "number of clips grows, so compare FD with FD and FD&infin; (each "
                        "extrapolated to infinitely many clips of its first set by a 1/n fit) "
                        "with FD&infin;.</small></p>")
        if log_csv.is_file() and plot_training(log_csv, tmp / "img" / "training.png"):
            body.append('<h2>Training</h2><img src="img/training.png" alt="training curves">')
        for name, ev in progress(systems.items(), total=len(systems), desc="report",
                                 unit="system"):
            png = f"img/confusion-{_slug(name)}.png"
            plot_confusion(ev["generated"]["confusion"], ev["vocab"], tmp / png,
                           f"{name}: requested vs classified")
            body.append(f"<h2>{html.escape(name)}</h2><img src=\"{html.escape(png)}\" "
                        "alt=\"confusion matrix\">")
            body.append(_genre_section(name, ev, tmp, clips_per_genre))
            if "copies" in ev:
                body.append(_copies_section(name, ev["copies"], tmp))
        page = ("<!doctype html><html><head><meta charset=utf-8>"
                f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
                "<title>wavegen report</title>"
                f"<style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")
        (tmp / "index.html").write_text(page, encoding="utf-8")
    log.info("report: %s", out / "index.html")
    return out / "index.html"
