"""PNG plots of listening-test results (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)
import numpy as np  # noqa: E402

from wavegen.listen.stats import Accuracy, MeanCI, Preference  # noqa: E402
from wavegen.outputs import atomic_output  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> None:
    try:
        with atomic_output(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)


def score_plot(scores: Mapping[str, Sequence[float]], cis: Mapping[str, MeanCI],
               scale: tuple[float, float], title: str, path: Path) -> None:
    """Box plot of every system's scores with its mean and 95% CI drawn over it."""
    names = list(scores)
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 4))
    ax.boxplot([scores[n] for n in names], widths=0.5)
    x = np.arange(1, len(names) + 1)
    means = np.array([cis[n].mean for n in names])
    err = np.array([[cis[n].mean - cis[n].low for n in names],
                    [cis[n].high - cis[n].mean for n in names]])
    ax.errorbar(x + 0.3, means, yerr=np.nan_to_num(err), fmt="o", color="C3", capsize=4,
                label="mean, 95% CI")
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylim(scale[0] - 0.05 * (scale[1] - scale[0]), scale[1] + 0.05 * (scale[1] - scale[0]))
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(loc="lower right")
    _save(fig, path)


def genre_ci_plot(cis: Mapping[tuple[str, str], MeanCI], systems: Sequence[str],
                  genres: Sequence[str], scale: tuple[float, float], path: Path) -> None:
    """Mean and 95% CI per genre (x) and system (series)."""
    fig, ax = plt.subplots(figsize=(0.9 * len(genres) * max(1, len(systems) / 3) + 3, 4))
    width = 0.8 / max(1, len(systems))
    for i, system in enumerate(systems):
        x = np.arange(len(genres)) + (i - (len(systems) - 1) / 2) * width
        c = [cis.get((system, g)) for g in genres]
        means = np.array([ci.mean if ci else np.nan for ci in c])
        err = np.array([[ci.mean - ci.low if ci else np.nan for ci in c],
                        [ci.high - ci.mean if ci else np.nan for ci in c]])
        ax.errorbar(x, means, yerr=np.nan_to_num(err), fmt="o", capsize=3, label=system)
    ax.set_xticks(np.arange(len(genres)), genres, rotation=30)
    ax.set_ylim(scale)
    ax.set_ylabel("mean score, 95% CI")
    ax.legend(fontsize="small", ncol=2)
    _save(fig, path)


def preference_plot(pref: Preference, path: Path) -> None:
    """Preference rate of A over B with the 50% line of no preference."""
    fig, ax = plt.subplots(figsize=(6, 1.8))
    ax.barh([0], [pref.rate_a], color="C0")
    ax.barh([0], [1 - pref.rate_a], left=[pref.rate_a], color="C1")
    ax.axvline(0.5, color="k", lw=1, ls="--")
    ax.set_yticks([])
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{pref.a} preferred (left) vs {pref.b} (right); n={pref.n}, "
                  f"p={pref.p_value:.3g}")
    _save(fig, path)


def confusion_plot(acc: Accuracy, title: str, path: Path) -> None:
    """Confusion matrix heat map, rows true genre, columns chosen genre."""
    m = np.array(acc.confusion)
    k = len(acc.labels)
    fig, ax = plt.subplots(figsize=(0.55 * k + 2.5, 0.55 * k + 2))
    ax.imshow(m, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(k), acc.labels, rotation=45, ha="right")
    ax.set_yticks(range(k), acc.labels)
    ax.set_xlabel("chosen genre")
    ax.set_ylabel("true genre")
    ax.set_title(f"{title}: accuracy {acc.accuracy:.2f} (n={acc.n})")
    _save(fig, path)
