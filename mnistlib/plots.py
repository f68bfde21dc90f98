"""The book's figures, so that a notebook cell asks for a picture in one line.

Every function returns a matplotlib ``Figure`` with a title, labelled axes and units. The
figures are made with ``pyplot``, so a notebook shows each one when its cell ends; assign the
result (``fig = plots.…``) rather than ending the cell with it, or it is shown twice.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

DATA_COLOR, COMPUTE_COLOR = "tab:orange", "tab:blue"


def _pixels(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """``[N, 28, 28]`` or ``[N, 1, 28, 28]`` images as a float numpy array."""
    x = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    return x.reshape(len(x), x.shape[-2], x.shape[-1]).astype(np.float32)


def digit_grid(images: torch.Tensor | np.ndarray, captions: Sequence[str] | None = None,
               ncols: int = 10, title: str = "", caption_colors: Sequence[str] | None = None,
               size: float = 1.1) -> Figure:
    """Digits in a grid, dark ink on a light page, with an optional caption under each."""
    x = _pixels(images)
    nrows = max(1, math.ceil(len(x) / ncols))
    extra = 0.3 if captions is not None else 0.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + extra) + 0.5),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= len(x):
            continue
        ax.imshow(x[i], cmap="gray_r", vmin=0, vmax=x.max() or 1)
        if captions is not None:
            color = caption_colors[i] if caption_colors is not None else "black"
            ax.set_title(captions[i], fontsize=9, color=color, pad=2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def class_gallery(images: torch.Tensor, labels: torch.Tensor, per_class: int = 12,
                  title: str = "Training digits, one row per class") -> Figure:
    """The first ``per_class`` images of every digit, one row per class."""
    picks = [torch.nonzero(labels == c).flatten()[:per_class] for c in range(10)]
    fig = digit_grid(images[torch.cat(picks)], ncols=per_class, title=title, size=0.8)
    for c, row in enumerate(fig.axes[::per_class]):
        row.text(-4, 14, str(c), fontsize=12, ha="right", va="center")
    return fig


def class_balance(counts: Mapping[str, Sequence[int]],
                  title: str = "Class balance per split") -> Figure:
    """Share of each digit in each split (grouped bars), with the uniform 10 % for reference."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    width = 0.8 / len(counts)
    for k, (name, c) in enumerate(counts.items()):
        c = np.asarray(c, dtype=float)
        ax.bar(np.arange(10) + (k - (len(counts) - 1) / 2) * width, 100 * c / c.sum(), width,
               label=f"{name} ({int(c.sum()):,} images)")
    ax.axhline(10, color="gray", lw=1, ls="--", label="uniform (10 %)")
    ax.set(xticks=range(10), xlabel="digit", ylabel="share of the split (%)", title=title,
           ylim=(0, 15))
    ax.legend(fontsize=8, ncols=4, loc="upper center")
    fig.tight_layout()
    return fig


def mean_digits(images: torch.Tensor, labels: torch.Tensor,
                title: str = "Mean training image per digit") -> Figure:
    """The pixel-wise mean image of every class."""
    means = torch.stack([images[labels == c].float().mean(0) for c in range(10)])
    return digit_grid(means, captions=[f"mean of {c}" for c in range(10)], ncols=5,
                      title=title, size=1.6)


def learning_curves(history: Sequence[Mapping[str, float]],
                    targets: Sequence[float] = (0.98, 0.99), title: str = "Learning curves") -> Figure:
    """Training loss, validation accuracy (against epochs and against training seconds) and
    the learning rate, from ``fit``'s history."""
    epoch = [h["epoch"] for h in history]
    acc = [100 * h["val_accuracy"] for h in history]
    fig, ((a, b), (c, d)) = plt.subplots(2, 2, figsize=(10, 7.5))
    a.plot(epoch, [h["train_loss"] for h in history], "o-", ms=3)
    a.set(xlabel="epoch", ylabel="training loss (cross-entropy)", ylim=(0, None),
          title="Training loss (mean since the last evaluation)")
    b.plot(epoch, acc, "o-", ms=3, color="tab:green")
    b.set(xlabel="epoch", ylabel="validation accuracy (%)", title="Validation accuracy")
    c.plot([h["train_seconds"] for h in history], acc, "o-", ms=3, color="tab:green")
    c.set(xlabel="training time (s)", ylabel="validation accuracy (%)",
          title="Validation accuracy against training time")
    d.plot(epoch, [h["lr"] for h in history], "o-", ms=3, color="tab:purple")
    d.set(xlabel="epoch", ylabel="learning rate", ylim=(0, None),
          title="Learning rate (at each evaluation)")
    for ax in (b, c):
        for t in targets:
            ax.axhline(100 * t, color="gray", lw=1, ls="--")
            ax.annotate(f"{100 * t:g} %", (0, 100 * t), xycoords=("axes fraction", "data"),
                        xytext=(3, 2), textcoords="offset points", fontsize=8, color="gray")
    for ax in (a, b, c, d):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def per_epoch_times(history: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    """Seconds per epoch waiting for data and computing, from ``fit``'s cumulative history.

    A final partial epoch is scaled up to a whole one; ``fraction`` says how much of it ran.
    """
    rows, last, start = [], {"data_seconds": 0.0, "compute_seconds": 0.0}, 0.0
    for h in history:
        end = h["epoch"]
        whole = math.isclose(end, round(end), abs_tol=1e-9)
        if not whole and h is not history[-1]:
            continue  # an evaluation inside an epoch: keep accumulating
        fraction = end - start if not whole else round(end) - start
        rows.append({"epoch": math.ceil(end - 1e-9), "fraction": fraction,
                     "data_seconds": (h["data_seconds"] - last["data_seconds"]) / fraction,
                     "compute_seconds": (h["compute_seconds"] - last["compute_seconds"]) / fraction})
        last, start = h, end
    return rows


def epoch_time_bars(history: Sequence[Mapping[str, float]],
                    title: str = "Where an epoch's time goes") -> Figure:
    """Stacked bars per epoch: waiting for data vs computing (partial epochs extrapolated)."""
    rows = per_epoch_times(history)
    x = [r["epoch"] for r in rows]
    d = [r["data_seconds"] for r in rows]
    c = [r["compute_seconds"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(rows) + 3), 4.2))
    hatch = ["//" if r["fraction"] < 0.999 else "" for r in rows]
    ax.bar(x, c, color=COMPUTE_COLOR, label="computing (forward, backward, step)", hatch=hatch)
    ax.bar(x, d, bottom=c, color=DATA_COLOR, label="waiting for data", hatch=hatch)
    xlabel = "epoch"
    partial = [r for r in rows if r["fraction"] < 0.999]
    if partial:
        xlabel += " (hatched: extrapolated from " + ", ".join(
            f"{100 * r['fraction']:.0f} % of epoch {r['epoch']}" for r in partial) + ")"
    ax.set(xlabel=xlabel, ylabel="seconds per epoch", title=title, xticks=x,
           ylim=(0, 1.3 * max(a + b for a, b in zip(c, d))))
    ax.legend(fontsize=8, loc="upper center", ncols=2)
    fig.tight_layout()
    return fig


def timing_bars(timings: Mapping[str, Mapping[str, float]], unit: str = "s",
                title: str = "Time", xlabel: str | None = None, log: bool = False) -> Figure:
    """Horizontal bars of medians with min–max whiskers, from ``benchmarking.stats`` dicts."""
    names = list(timings)
    med = np.array([timings[n]["median"] for n in names])
    lo = med - np.array([timings[n]["min"] for n in names])
    hi = np.array([timings[n]["max"] for n in names]) - med
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(names) + 1.4))
    ax.barh(names, med, xerr=[lo, hi], capsize=4, color=[DATA_COLOR, COMPUTE_COLOR] * len(names))
    for i, (m, top) in enumerate(zip(med, med + hi)):
        ax.text(top, i, f"  {m:.3g} {unit}", va="center", fontsize=9)
    ax.set(xlabel=xlabel or f"time ({unit}); bar: median, whiskers: min–max", title=title)
    if log:
        ax.set_xscale("log")
    ax.invert_yaxis()
    ax.margins(x=0.25)
    fig.tight_layout()
    return fig


def confusion_matrix(cm: torch.Tensor | Sequence[Sequence[int]],
                     title: str = "Confusion matrix (test split)") -> Figure:
    """Counts of true against predicted digit, on a log colour scale so errors stand out."""
    m = np.asarray(cm.tolist() if isinstance(cm, torch.Tensor) else cm)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    im = ax.imshow(np.where(m > 0, m, np.nan), cmap="Blues", norm=LogNorm(vmin=1, vmax=m.max()))
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j]:
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > m.max() ** 0.5 * 3 else "black")
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="true digit",
           title=title)
    fig.colorbar(im, ax=ax, label="images (log scale)")
    fig.tight_layout()
    return fig


def misclassified(images: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor,
                  n: int = 30, ncols: int = 10,
                  title: str = "Misclassified test digits, most confident first") -> Figure:
    """The wrong predictions the model was surest of: true label, prediction and confidence."""
    conf, pred = probs.max(1)
    wrong = torch.nonzero(pred != labels).flatten()
    wrong = wrong[torch.argsort(conf[wrong], descending=True)][:n]
    captions = [f"true {int(labels[i])} → {int(pred[i])}\n{100 * float(conf[i]):.0f} % sure"
                for i in wrong]
    return digit_grid(images[wrong], captions=captions, ncols=ncols, title=title, size=1.35)


def stacked_time_bars(panels: Mapping[str, Mapping[str, Mapping[str, Mapping[str, float]]]],
                      unit: str = "s", title: str = "Where the time goes") -> Figure:
    """One panel per setting, one horizontal bar per pipeline: computing, then waiting for
    data stacked on it. ``panels[setting][pipeline]`` holds ``data`` and ``compute``
    ``benchmarking.stats`` dicts; bars are medians, whiskers the min–max of waiting for data."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 0.55 * max(
        len(p) for p in panels.values()) + 2.2), sharex=True, sharey=True, squeeze=False)
    for ax, (setting, rows) in zip(axes[0], panels.items()):
        names = list(rows)
        c = np.array([rows[n]["compute"]["median"] for n in names])
        d = np.array([rows[n]["data"]["median"] for n in names])
        err = [d - [rows[n]["data"]["min"] for n in names],
               np.array([rows[n]["data"]["max"] for n in names]) - d]
        ax.barh(names, c, color=COMPUTE_COLOR, label="computing (forward, backward, step)")
        ax.barh(names, d, left=c, xerr=err, capsize=3, color=DATA_COLOR, label="waiting for data")
        ax.set(title=setting, xlabel=f"time per epoch ({unit}); median of runs")
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].invert_yaxis()  # shared y: once inverts them all
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncols=2, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def sweep(x: Sequence[float], panels: Mapping[str, Sequence[float]], xlabel: str,
          title: str = "Sweep", logx: bool = True) -> Figure:
    """One small line plot per measured quantity against a swept setting; a panel's key is its
    y-axis label (with its unit). NaN values (not measured) leave a panel empty."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (label, y) in zip(axes[0], panels.items()):
        ax.plot(x, y, "o-")
        ax.set(xlabel=xlabel, ylabel=label)
        if logx:
            ax.set_xscale("log", base=2)
            ax.set_xticks(list(x), [str(v) for v in x])
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
