"""The book's figures, so that a notebook cell asks for a picture in one line.

Every function returns a matplotlib ``Figure`` with a title, labelled axes and units. The
figures are made with ``pyplot``, so a notebook shows each one when its cell ends; assign the
result (``fig = plots.…``) rather than ending the cell with it, or it is shown twice.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure


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


def _levels(ax, hlines: Mapping[str, float] | None = None, targets: Sequence[float] = ()
            ) -> None:
    """Grey reference levels named in the legend, dashed, dotted, dash-dotted in turn:
    ``hlines[name] = level``, and a line at each target accuracy (a fraction; the axis is in %)."""
    levels = {**{f"target {100 * t:g} %": 100 * t for t in targets}, **(hlines or {})}
    for k, (label, level) in enumerate(levels.items()):
        ax.axhline(level, color="gray", lw=1, ls=("--", ":", "-.")[k % 3], label=label)


def learning_curves(history: Sequence[Mapping[str, float]],
                    targets: Sequence[float] = (0.98, 0.99), title: str = "Learning curves") -> Figure:
    """Training loss, validation accuracy (against epochs and against training seconds) and
    the learning rate, from ``fit``'s history."""
    epoch, acc = accuracy_curve(history, "epoch")
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
        _levels(ax, targets=targets)
        ax.legend(fontsize=8, loc="lower right")
    for ax in (a, b, c, d):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def curves(panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]
                                      | Sequence[float]]],
           title: str, xlabel: str, ylabel: str | None = None, logx: bool = False,
           logy: bool = False, xticks: Mapping[float, str] | None = None, ncols: int = 2,
           hlines: Mapping[str, float] | None = None, targets: Sequence[float] = (),
           ylim: tuple[float | None, float | None] | None = None) -> Figure:
    """Named lines in panels, ``panels[panel][line] = (x, y)``, or ``y`` alone against 1, 2,
    …; a line keeps its colour in every panel, NaN leaves a gap, and a line named "" stays out
    of the legend. With ``ylabel``, the panels share that y-axis and are titled by their keys
    (e.g. ensemble accuracy against the number of members, one line per method, one panel per
    split; or one panel, named ""); without, each key is its panel's y-axis label (e.g. a
    sweep: one measured quantity per panel). ``xticks`` maps positions to labels; ``hlines``
    and ``targets`` (see ``_levels``) draw reference levels in every panel."""
    names = list(panels)
    ncols = min(ncols, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(8.0, 5.2 * ncols), 3.8 * nrows + 0.4),
                             squeeze=False, sharey=ylabel is not None)
    colors = {}
    for ax, name in zip(axes.flat, names):
        for label, line in panels[name].items():
            x, y = line if isinstance(line, tuple) else (range(1, len(line) + 1), line)
            color = colors.setdefault(label, f"C{len(colors) % 10}")
            ax.plot(x, y, "o-" if len(x) <= 30 else "-", ms=4, color=color, label=label)
        _levels(ax, hlines, targets)
        ax.set(xscale="log" if logx else "linear", yscale="log" if logy else "linear")
        if xticks:
            ax.set_xticks(list(xticks), list(xticks.values()))
            ax.set_xticks([], minor=True)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set(title=name if ylabel is not None else "", xlabel=xlabel, ylabel=ylabel or name)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_curve(history: Sequence[Mapping[str, float]], x: str = "train_seconds"
                   ) -> tuple[list[float], list[float]]:
    """Validation accuracy (%) against ``x`` (``train_seconds`` or ``epoch``), from ``fit``'s
    history: a line for ``curves``."""
    return [h[x] for h in history], [100 * h["val_accuracy"] for h in history]


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


def bars(panels: Mapping[str, Mapping[str, Any]], title: str, xlabel: str | None = None,
         unit: str = "", center: str = "median", log: bool = False, stacked: bool = False
         ) -> Figure:
    """Horizontal bars, one panel per key, one bar per row, each written at its end (with
    ``unit``). A value is a number or a ``benchmarking.stats`` (or ``experiments.summary``)
    dict: its median with min–max whiskers, or with ``center="mean"`` its mean ± one standard
    deviation; a summary's ``missed`` runs are counted, and a row a panel lacks has no bar.
    With ``xlabel`` the panels share that x-axis and are titled by their keys; without, each
    key is its panel's x-axis label. ``stacked``: a row maps segments (named in the legend) to
    values, drawn one after the other, e.g. computing, then waiting for data."""
    names = list(dict.fromkeys(n for p in panels.values() for n in p))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(8.0, 5.2 * len(panels)),
                                                      0.5 * len(names) + 1.8),
                             sharex=xlabel is not None, sharey=True, squeeze=False)
    for ax, (key, rows) in zip(axes[0], panels.items()):
        for i, name in enumerate(names):
            if name not in rows:
                continue
            segments, total = rows[name] if stacked else {"": rows[name]}, 0.0
            for k, (segment, v) in enumerate(segments.items()):
                s = v if isinstance(v, Mapping) else {center: v}  # a number: no whiskers
                x = float(np.nan_to_num(s[center]))
                if center == "median":
                    lo, hi = x - s.get("min", x), s.get("max", x) - x
                else:
                    lo = hi = float(np.nan_to_num(s.get("std", 0.0)))
                ax.barh(i, x, left=total, xerr=[[lo], [hi]] if s is v else None, capsize=3,
                        label=segment, color=f"C{(k if stacked else i) % 10}")
                total += x
            note = "not reached" if np.isnan(s[center]) else f"{total:.3g} {unit}".rstrip()
            if center == "mean" and s.get("n", 1) > 1:
                note += f" ± {s['std']:.2g}"
            if s.get("missed"):
                note += f" (missed {s['missed']} of {s['missed'] + s.get('n', 0)})"
            ax.text(total + hi, i, "  " + note, va="center", fontsize=8)
        ax.set(title=key if xlabel is not None else "", xlabel=xlabel or key,
               xscale="log" if log else "linear", yticks=range(len(names)), yticklabels=names)
        ax.tick_params(labelleft=True)  # every panel names its rows
        ax.margins(x=0.3)
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].invert_yaxis()  # shared y: once inverts them all
    fig.suptitle(title)
    if stacked:  # one legend entry per segment
        handles, labels = axes[0][0].get_legend_handles_labels()
        legend = dict(zip(labels, handles))
        fig.legend(legend.values(), legend.keys(), loc="lower center", ncols=len(legend),
                   fontsize=8)
    fig.tight_layout(rect=(0, 0.07 if stacked else 0, 1, 1))
    return fig


def confusion_matrix(cm: torch.Tensor | Sequence[Sequence[int]],
                     title: str = "Confusion matrix (test split)") -> Figure:
    """Counts of true against predicted digit, on a log colour scale so errors stand out (a
    ``heatmap`` whose empty cells stay blank)."""
    m = np.asarray(cm.tolist() if isinstance(cm, torch.Tensor) else cm, dtype=float)
    digits = [str(d) for d in range(10)]
    return heatmap(np.where(m > 0, m, np.nan), digits, digits, title, xlabel="predicted digit",
                   ylabel="true digit", colorbar="images (log scale)", fmt="{:.0f}", vmin=1,
                   vmax=m.max(), cmap="Blues", log=True, size=(6.4, 5.4))


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


def pareto_front(points: Mapping[str, tuple[float, float]]) -> list[str]:
    """The names of the points that no other point beats, cheapest first: ``points[name]`` is
    ``(cost, value)``; a point is beaten by one that costs no more and is worth no less, and is
    strictly better in one of the two."""
    front = [n for n, (c, v) in points.items()
             if not any((c2 <= c and v2 >= v) and (c2 < c or v2 > v)
                        for m, (c2, v2) in points.items() if m != n)]
    return sorted(front, key=lambda n: points[n])


def pareto(points: Mapping[str, tuple[Mapping[str, float], Mapping[str, float]]], title: str,
           xlabel: str = "training time (s); point: median, whiskers: min–max",
           ylabel: str = "test accuracy (%); point: mean, bars: ± 1 std", logx: bool = False,
           targets: Sequence[float] = ()) -> Figure:
    """Accuracy against cost, one point per variant: ``points[name]`` = (cost, accuracy), two
    ``benchmarking.stats`` dicts, e.g. of training seconds (drawn at the median, whiskers
    min–max) and of an accuracy as a fraction (drawn in % at the mean, bars ± one std). The
    Pareto front (``pareto_front``) is joined by a dashed line; ``targets`` as in ``_levels``."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for i, (name, (c, a)) in enumerate(points.items()):
        x, y = c["median"], 100 * a["mean"]
        ax.errorbar(x, y, xerr=[[x - c["min"]], [c["max"] - x]], yerr=100 * a["std"], fmt="o",
                    capsize=4, color=f"C{i % 10}",
                    label=f"{name} ({a['n']} run{'s' if a['n'] != 1 else ''})")
        ax.annotate(name, (x, y), xytext=(6, 4), textcoords="offset points", fontsize=9)
    front = pareto_front({n: (c["median"], a["mean"]) for n, (c, a) in points.items()})
    ax.plot([points[n][0]["median"] for n in front], [100 * points[n][1]["mean"] for n in front],
            "--", color="black", lw=1, zorder=0, label="Pareto front")  # levels are grey
    _levels(ax, targets=targets)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title, xscale="log" if logx else "linear")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
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
            cmap: str = "viridis", log: bool = False, size: tuple[float, float] | None = None
            ) -> Figure:
    """A table of numbers as coloured cells (``log``: on a log colour scale), each cell
    annotated with its value (``fmt``; NaN leaves a cell blank): e.g. accuracy (%) per
    corruption (rows) and model (columns)."""
    m = np.asarray(values, dtype=float)
    if m.shape != (len(rows), len(cols)):
        raise ValueError(f"values are {m.shape}, labels say {(len(rows), len(cols))}")
    fig, ax = plt.subplots(figsize=size or (1.1 * len(cols) + 3.2, 0.32 * len(rows) + 1.8))
    im = ax.imshow(m, cmap=cmap, norm=(LogNorm if log else Normalize)(vmin, vmax), aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if not np.isnan(m[i, j]):
                r, g, b, _ = im.cmap(im.norm(m[i, j]))  # dark text on light cells
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8,
                        color="black" if 0.3 * r + 0.6 * g + 0.1 * b > 0.5 else "white")
    slant = max(map(len, cols)) > 2  # slanted names; digits stand upright
    ax.set_xticks(range(len(cols)), cols, rotation=30 if slant else 0,
                  ha="right" if slant else "center")
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    fig.colorbar(im, ax=ax, label=colorbar)
    fig.tight_layout()
    return fig


def grouped_bars(groups: Mapping[str, Mapping[str, float]], ylabel: str, title: str,
                 xlabel: str = "", spread: Mapping[str, Mapping[str, tuple[float, float]]]
                 | None = None, fmt: str | None = "{:.1f}",
                 ylim: tuple[float, float] | None = None,
                 hlines: Mapping[str, float] | None = None) -> Figure:
    """Bars grouped along x by the outer key, one colour per inner key (same inner keys in
    every group), each bar labelled with its value (unless ``fmt`` is None);
    ``spread[group][bar]`` = (min, max) draws whiskers, e.g. over seeds; ``hlines`` draws
    named reference levels (``_levels``). E.g. the share of each digit (groups) per split."""
    names, series = list(groups), list(next(iter(groups.values())))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.0, 0.55 * len(names) * len(series) + 2)), 4.2))
    for k, bar in enumerate(series):
        x = np.arange(len(names)) + (k - (len(series) - 1) / 2) * width
        y = np.array([groups[n][bar] for n in names])
        err = None
        if spread is not None:
            lo_hi = np.array([spread[n][bar] for n in names])
            err = [y - lo_hi[:, 0], lo_hi[:, 1] - y]
        ax.bar(x, y, width, yerr=err, capsize=3, label=bar)
        for xi, yi in zip(x, y):
            if fmt is not None:
                ax.annotate(fmt.format(yi), (xi, yi), xytext=(0, 2), textcoords="offset points",
                            ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    _levels(ax, hlines)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(alpha=0.3, axis="y")
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


def target_bars(runs: Mapping[str, Sequence], names: Sequence[str], targets: Sequence[float],
                title: str) -> Figure:
    """``bars`` of ``experiments.run``'s runs: per variant, the mean training seconds to
    each validation target and, where it was scored, the delivered model's test accuracy."""
    from mnistlib.experiments import summary, times_to
    panels = {f"training seconds to {t:.0%} validation accuracy":
              {n: summary(times_to(runs[n], t)) for n in names} for t in targets}
    if runs[names[0]][0].test_accuracy is not None:
        panels["test accuracy of the model delivered (%)"] = {
            n: summary([100 * r.test_accuracy for r in runs[n]]) for n in names}
    return bars(panels, title, center="mean")
