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


def _target_lines(ax, targets: Sequence[float], right: bool = False) -> None:
    """A dashed grey line at each target accuracy (a fraction; the axis is in %), labelled at
    the axis's left edge, or its right one."""
    for t in targets:
        ax.axhline(100 * t, color="gray", lw=1, ls="--")
        ax.annotate(f"{100 * t:g} %", (1 if right else 0, 100 * t),
                    xycoords=("axes fraction", "data"), xytext=(-30 if right else 3, 2),
                    textcoords="offset points", fontsize=8, color="gray")


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
        _target_lines(ax, targets)
    for ax in (a, b, c, d):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves(panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
           xlabel: str, ylabel: str, title: str, logx: bool = False,
           xticks: Mapping[float, str] | None = None, ncols: int = 2,
           hlines: Mapping[str, float] | None = None) -> Figure:
    """Several named lines per panel, ``panels[panel][line] = (x, y)``, panels side by side
    with a shared y-axis; a line keeps its colour in every panel. ``xticks`` maps positions to
    labels; ``hlines`` draws labelled dashed reference levels in every panel. E.g. ensemble
    accuracy against the number of members, one line per method, one panel per split."""
    names = list(panels)
    ncols = min(ncols, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows + 0.4),
                             squeeze=False, sharey=True)
    colors = {}
    for ax, name in zip(axes.flat, names):
        for label, (x, y) in panels[name].items():
            color = colors.setdefault(label, f"C{len(colors) % 10}")
            ax.plot(x, y, "o-" if len(x) <= 30 else "-", ms=4, color=color, label=label)
        for k, (label, level) in enumerate((hlines or {}).items()):
            ax.axhline(level, color="gray", lw=1, ls=("--", ":", "-.")[k % 3], label=label)
        if logx:
            ax.set_xscale("log")
        if xticks:
            ax.set_xticks(list(xticks), list(xticks.values()))
            ax.set_xticks([], minor=True)
        ax.set(title=name, xlabel=xlabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
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


def pareto_front(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """The names of the points that no other point beats, cheapest first: ``points[name]`` is
    ``(cost, value)``; a point is beaten by one that costs no more and is worth no less, and is
    strictly better in one of the two."""
    front = [n for n, (c, v) in points.items()
             if not any((c2 <= c and v2 >= v) and (c2 < c or v2 > v)
                        for m, (c2, v2) in points.items() if m != n)]
    return sorted(front, key=lambda n: points[n])


def pareto(points: Mapping[str, Mapping[str, float]], xlabel: str = "training time (s)",
           ylabel: str = "test accuracy (%)", title: str = "Accuracy against training time",
           logx: bool = False) -> Figure:
    """Each variant as a point, ``points[name]`` holding ``x`` (a cost, lower is better) and
    ``y`` (a value, higher is better), with optional whiskers ``x_min``/``x_max`` and a
    symmetric ``y_err``; the Pareto front (``pareto_front``) is joined by a dashed line."""
    names = list(points)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for i, n in enumerate(names):
        p = points[n]
        xerr = None
        if "x_min" in p and "x_max" in p:
            xerr = [[p["x"] - p["x_min"]], [p["x_max"] - p["x"]]]
        ax.errorbar([p["x"]], [p["y"]], xerr=xerr, yerr=p.get("y_err"), fmt="o", capsize=4,
                    color=f"C{i % 10}", label=n)
        ax.annotate(n, (p["x"], p["y"]), xytext=(6, 4), textcoords="offset points", fontsize=9)
    front = pareto_front({n: (points[n]["x"], points[n]["y"]) for n in names})
    ax.plot([points[n]["x"] for n in front], [points[n]["y"] for n in front], "--",
            color="gray", lw=1, zorder=0, label="Pareto front")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logx:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def image_rows(rows: Mapping[str, torch.Tensor | np.ndarray], title: str = "",
               size: float = 0.9) -> Figure:
    """Digits in rows, each row named at its left: e.g. the same digits under one
    augmentation or corruption per row. Every row holds the same number of images."""
    names = list(rows)
    ncols = len(rows[names[0]])
    if any(len(rows[n]) != ncols for n in names):
        raise ValueError("every row must hold the same number of images")
    fig = digit_grid(np.concatenate([_pixels(rows[n]) for n in names]), ncols=ncols,
                     title=title, size=size)
    width = max(len(n) for n in names)
    fig.set_size_inches(fig.get_figwidth() + 0.09 * width, fig.get_figheight())
    fig.tight_layout()
    fig.subplots_adjust(left=0.09 * width / fig.get_figwidth() + 0.02)
    for name, ax in zip(names, fig.axes[::ncols]):
        ax.text(-0.12, 0.5, name, transform=ax.transAxes, ha="right", va="center", fontsize=9)
    return fig


def heatmap(values: Sequence[Sequence[float]] | np.ndarray, rows: Sequence[str],
            cols: Sequence[str], title: str, xlabel: str, ylabel: str, colorbar: str,
            fmt: str = "{:.1f}", vmin: float | None = None, vmax: float | None = None,
            cmap: str = "viridis") -> Figure:
    """A table of numbers as coloured cells, each cell annotated with its value (``fmt``):
    e.g. accuracy (%) per corruption (rows) and model (columns)."""
    m = np.asarray(values, dtype=float)
    if m.shape != (len(rows), len(cols)):
        raise ValueError(f"values are {m.shape}, labels say {(len(rows), len(cols))}")
    fig, ax = plt.subplots(figsize=(1.1 * len(cols) + 3.2, 0.32 * len(rows) + 1.8))
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    lo, hi = im.norm.vmin, im.norm.vmax
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            light = (m[i, j] - lo) / ((hi - lo) or 1) > 0.6  # dark text on light cells
            ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8,
                    color="black" if light else "white")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.colorbar(im, ax=ax, label=colorbar)
    fig.tight_layout()
    return fig


def grouped_bars(groups: Mapping[str, Mapping[str, float]], ylabel: str, title: str,
                 xlabel: str = "", spread: Mapping[str, Mapping[str, tuple[float, float]]]
                 | None = None, fmt: str = "{:.1f}", ylim: tuple[float, float] | None = None
                 ) -> Figure:
    """Bars grouped along x by the outer key, one colour per inner key (same inner keys in
    every group), each bar labelled with its value; ``spread[group][bar]`` = (min, max)
    draws whiskers, e.g. over seeds."""
    names, bars = list(groups), list(next(iter(groups.values())))
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) * len(bars) / 2 + 2), 4.2))
    for k, bar in enumerate(bars):
        x = np.arange(len(names)) + (k - (len(bars) - 1) / 2) * width
        y = np.array([groups[n][bar] for n in names])
        err = None
        if spread is not None:
            lo_hi = np.array([spread[n][bar] for n in names])
            err = [y - lo_hi[:, 0], lo_hi[:, 1] - y]
        ax.bar(x, y, width, yerr=err, capsize=3, label=bar)
        for xi, yi in zip(x, y):
            ax.annotate(fmt.format(yi), (xi, yi), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def accuracy_vs_time(points: Mapping[str, Mapping[str, Mapping[str, float]]],
                     targets: Sequence[float] = (),
                     title: str = "Test accuracy against training time") -> Figure:
    """One point per recipe: median training time (whiskers: min–max) against mean test
    accuracy (bars: ± one standard deviation), time on a log scale. ``points[name]`` holds
    ``seconds`` and ``accuracy`` (a fraction) ``benchmarking.stats`` dicts."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for name, p in points.items():
        s, a = p["seconds"], p["accuracy"]
        x, y = s["median"], 100 * a["mean"]
        ax.errorbar(x, y, xerr=[[x - s["min"]], [s["max"] - x]], yerr=100 * a["std"], fmt="o",
                    capsize=4, label=f"{name} ({a['n']} run{'s' if a['n'] != 1 else ''})")
        ax.annotate(name, (x, y), xytext=(6, 6), textcoords="offset points", fontsize=9)
    _target_lines(ax, targets)
    ax.set_xscale("log")
    ax.set(xlabel="training time (s, log scale); point: median, whiskers: min–max",
           ylabel="test accuracy (%); point: mean, bars: ± 1 std", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def predictions(images: torch.Tensor | np.ndarray, labels: torch.Tensor,
                predicted: Mapping[str, torch.Tensor], ncols: int = 10, title: str = "",
                size: float = 1.25) -> Figure:
    """Digits captioned with the true digit and each model's prediction (``predicted[name]``,
    one per image), the caption red where any model is wrong."""
    wrong = torch.zeros(len(labels), dtype=torch.bool)
    for p in predicted.values():
        wrong |= p.cpu() != labels.cpu()
    captions = ["\n".join([f"true: {int(labels[i])}"] + [f"{name}: {int(p[i])}" for name, p
                                                        in predicted.items()])
                for i in range(len(labels))]
    return digit_grid(images, captions, ncols=ncols, title=title, size=size,
                      caption_colors=["tab:red" if w else "black" for w in wrong])


def ablation_bars(panels: Mapping[str, Mapping[str, Mapping[str, float]]],
                  title: str = "One change at a time") -> Figure:
    """One panel per measured quantity, one horizontal bar per variant: the mean with a
    whisker of one standard deviation, from ``experiments.summary`` (or ``stats``)
    dicts. A panel's key is its x-axis label (with its unit); a variant that missed the
    target in some runs (``missed``) says so, and one with no value is left without a bar."""
    names = list(dict.fromkeys(n for p in panels.values() for n in p))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 0.5 * len(names) + 1.8),
                             sharey=True, squeeze=False)
    for ax, (label, rows) in zip(axes[0], panels.items()):
        mean = np.array([rows[n]["mean"] if n in rows else np.nan for n in names], dtype=float)
        std = np.array([rows[n].get("std", 0.0) if n in rows else 0.0 for n in names], dtype=float)
        ax.barh(names, np.nan_to_num(mean), xerr=np.nan_to_num(std), capsize=3,
                color=[f"C{i % 10}" for i in range(len(names))])
        for i, n in enumerate(names):
            if n not in rows:
                continue
            r, top = rows[n], np.nan_to_num(mean[i] + std[i])
            note = "not reached" if np.isnan(mean[i]) else f"{mean[i]:.3g}"
            if r.get("n", 1) > 1:
                note += f" ± {std[i]:.2g}"
            if r.get("missed"):
                note += f" (missed {r['missed']} of {r['missed'] + r.get('n', 0)})"
            ax.text(top, i, "  " + note, va="center", fontsize=8)
        ax.set(xlabel=label)
        ax.tick_params(labelleft=True)  # every panel names its variants
        ax.margins(x=0.35)
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].invert_yaxis()  # shared y: once inverts them all
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def target_bars(runs: Mapping[str, Sequence], names: Sequence[str], targets: Sequence[float],
                title: str) -> Figure:
    """``ablation_bars`` of ``experiments.run``'s runs: per variant, the training seconds to
    each validation target and, where it was scored, the delivered model's test accuracy."""
    from mnistlib.experiments import summary, times_to
    panels = {f"training seconds to {t:.0%} validation accuracy":
              {n: summary(times_to(runs[n], t)) for n in names} for t in targets}
    if runs[names[0]][0].test_accuracy is not None:
        panels["test accuracy of the model delivered (%)"] = {
            n: summary([100 * r.test_accuracy for r in runs[n]]) for n in names}
    return ablation_bars(panels, title=title)


def val_curves(histories: Mapping[str, Sequence[Mapping[str, float]]],
               targets: Sequence[float] = (0.98, 0.99), x: str = "train_seconds",
               title: str = "Validation accuracy against training time",
               ymin: float = 95.0) -> Figure:
    """Validation accuracy of several runs on one axis, against training seconds (``x`` =
    ``train_seconds``) or epochs (``x`` = ``epoch``), from ``fit``'s histories."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for i, (name, hist) in enumerate(histories.items()):
        ax.plot([h[x] for h in hist], [100 * h["val_accuracy"] for h in hist], ".-", ms=4,
                color=f"C{i % 10}", label=name)
    _target_lines(ax, targets, right=True)
    ax.set(xlabel="training time (s)" if x == "train_seconds" else "epoch",
           ylabel="validation accuracy (%)", title=title, ylim=(ymin, 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def lines(series: Mapping[str, Sequence[float]], xlabel: str, ylabel: str, title: str,
          x: Sequence[float] | None = None, logx: bool = False, logy: bool = False) -> Figure:
    """Several named series on one axis, against ``x`` (1, 2, … when None): e.g. a gradient
    norm per training step, or accuracy against a swept learning rate. NaN leaves a gap."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, (name, y) in enumerate(series.items()):
        xs = list(x) if x is not None else list(range(1, len(y) + 1))
        ax.plot(xs, list(y), "o-" if len(y) <= 30 else "-", ms=4, lw=1, color=f"C{i % 10}",
                label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
