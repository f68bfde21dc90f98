"""The book's figures: each has a title and labelled axes, and the per-epoch time split is right."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mnistlib import plots  # noqa: E402


def history(evals_per_epoch: int = 4, epochs: float = 2.5) -> list[dict]:
    """A fake fit history: 1 s of data and 9 s of compute per epoch, cumulative."""
    rows = []
    for k in range(1, int(epochs * evals_per_epoch) + 1):
        e = k / evals_per_epoch
        rows.append({"epoch": e, "train_loss": 1 / k, "val_accuracy": 0.9 + 0.01 * k,
                     "lr": 0.7 ** int(e), "data_seconds": 1.0 * e, "compute_seconds": 9.0 * e,
                     "train_seconds": 10.0 * e})
    return rows


def test_per_epoch_times_splits_whole_and_extrapolates_partial_epochs() -> None:
    rows = plots.per_epoch_times(history(4, 2.5))
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["fraction"] for r in rows] == pytest.approx([1, 1, 0.5])
    for r in rows:  # a partial epoch is scaled up to a whole one
        assert r["data_seconds"] == pytest.approx(1.0)
        assert r["compute_seconds"] == pytest.approx(9.0)


def _labelled(fig) -> None:
    assert fig._suptitle is not None or any(ax.get_title() for ax in fig.axes), "no title"
    for ax in fig.axes:
        if ax.axison and ax.get_label() != "<colorbar>":  # plots, not digit thumbnails
            name = ax.get_title() or fig._suptitle.get_text()
            assert ax.get_xlabel(), f"unlabelled x axis in {name!r}"
            categories = any(t.get_text() for t in ax.get_yticklabels()) and not ax.get_ylabel()
            assert ax.get_ylabel() or categories, f"unlabelled y axis in {name!r}"


@pytest.mark.parametrize("make", [
    lambda imgs, labels: plots.class_gallery(imgs, labels, per_class=3),
    lambda imgs, labels: plots.mean_digits(imgs, labels),
    lambda imgs, labels: plots.class_balance({"train": torch.bincount(labels, minlength=10)}),
    lambda imgs, labels: plots.learning_curves(history()),
    lambda imgs, labels: plots.epoch_time_bars(history(4, 2.5)),
    lambda imgs, labels: plots.timing_bars({"a": {"median": 1, "min": 0.5, "max": 2},
                                            "b": {"median": 0.1, "min": 0.1, "max": 0.2}}),
    lambda imgs, labels: plots.confusion_matrix(torch.eye(10, dtype=torch.long) * 5 + 1),
    lambda imgs, labels: plots.misclassified(imgs, labels, torch.softmax(
        torch.randn(len(labels), 10, generator=torch.Generator().manual_seed(0)), 1), n=6),
], ids=["gallery", "mean", "balance", "curves", "time", "timing", "confusion", "errors"])
def test_every_figure_has_a_title_and_labels(make) -> None:
    labels = torch.arange(40) % 10
    imgs = (torch.rand(40, 28, 28, generator=torch.Generator().manual_seed(1)) * 255).byte()
    fig = make(imgs, labels)
    _labelled(fig)
    plt.close(fig)


def test_stacked_time_bars_stack_waiting_on_computing() -> None:
    s = lambda m: {"median": m, "min": m * 0.9, "max": m * 1.1}
    panels = {"plain": {"conventional": {"data": s(2.0), "compute": s(10.0)},
                        "device": {"data": s(0.1), "compute": s(10.0)}},
              "augmented": {"conventional": {"data": s(4.0), "compute": s(10.0)},
                            "device": {"data": s(0.3), "compute": s(10.0)}}}
    single = plots.stacked_time_bars({"plain": panels["plain"]})
    _labelled(single)  # (with several panels, the shared pipeline names show on the first)
    plt.close(single)
    fig = plots.stacked_time_bars(panels)
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == [0.1, 2.0, 10.0, 10.0]
    lefts = {round(p.get_width(), 6): round(p.get_x(), 6) for p in ax.patches}
    assert lefts[2.0] == lefts[0.1] == 10.0  # waiting starts where computing ends
    plt.close(fig)


def test_sweep_draws_one_panel_per_quantity() -> None:
    fig = plots.sweep([32, 64, 128], {"throughput (images/s)": [1.0, 2.0, 3.0],
                                      "accuracy (%)": [99.0, 98.5, float("nan")]},
                      "batch size", title="Batch-size sweep")
    _labelled(fig)
    assert len(fig.axes) == 2
    assert list(fig.axes[0].lines[0].get_ydata()) == [1.0, 2.0, 3.0]
    plt.close(fig)
