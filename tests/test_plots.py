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
    lambda imgs, labels: plots.image_rows({str(c): imgs[labels == c][:3] for c in range(10)},
                                          title="Gallery"),
    lambda imgs, labels: plots.grouped_bars(
        {str(d): {"train": 10.0, "test": 9.0 + d / 5} for d in range(10)}, fmt=None,
        xlabel="digit", ylabel="share (%)", title="Balance", hlines={"uniform (10 %)": 10}),
    lambda imgs, labels: plots.learning_curves(history()),
    lambda imgs, labels: plots.bars({"seconds per epoch": {
        f"epoch {r['epoch']}": {"computing": r["compute_seconds"], "waiting": r["data_seconds"]}
        for r in plots.per_epoch_times(history(4, 2.5))}}, title="Epochs", stacked=True),
    lambda imgs, labels: plots.bars({"time (s)": {"a": {"median": 1, "min": 0.5, "max": 2},
                                                  "b": {"median": 0.1, "min": 0.1, "max": 0.2}}},
                                    title="Timing", unit="s", log=True),
    lambda imgs, labels: plots.confusion_matrix(torch.eye(10, dtype=torch.long) * 5 + 1),
    lambda imgs, labels: plots.misclassified(imgs, labels, torch.softmax(
        torch.randn(len(labels), 10, generator=torch.Generator().manual_seed(0)), 1), n=6),
], ids=["gallery", "balance", "curves", "time", "timing", "confusion", "errors"])
def test_every_figure_has_a_title_and_labels(make) -> None:
    labels = torch.arange(40) % 10
    imgs = (torch.rand(40, 28, 28, generator=torch.Generator().manual_seed(1)) * 255).byte()
    fig = make(imgs, labels)
    _labelled(fig)
    plt.close(fig)


def test_stacked_bars_stack_waiting_on_computing() -> None:
    s = lambda m: {"median": m, "min": m * 0.9, "max": m * 1.1}
    panels = {"plain": {"conventional": {"computing": 10.0, "waiting": s(2.0)},
                        "device": {"computing": 10.0, "waiting": s(0.1)}},
              "augmented": {"conventional": {"computing": 10.0, "waiting": s(4.0)},
                            "device": {"computing": 10.0, "waiting": s(0.3)}}}
    fig = plots.bars(panels, title="Where the time goes", xlabel="seconds per epoch",
                     unit="s", stacked=True)
    _labelled(fig)
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "augmented"
    ax = fig.axes[0]
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == [0.1, 2.0, 10.0, 10.0]
    lefts = {round(p.get_width(), 6): round(p.get_x(), 6) for p in ax.patches}
    assert lefts[2.0] == lefts[0.1] == 10.0  # waiting starts where computing ends
    assert [t.get_text() for t in ax.texts] == ["  12 s", "  10.1 s"]  # the whole bar
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["computing", "waiting"]
    plt.close(fig)


def test_bars_write_mean_and_std_and_say_which_runs_missed() -> None:
    s = {"n": 3, "mean": 2.0, "std": 0.5, "missed": 1, "median": 2, "min": 1.5, "max": 2.5}
    miss = {"n": 0, "mean": float("nan"), "std": float("nan"), "missed": 2}
    fig = plots.bars({"seconds to 98 %": {"a": s, "b": miss}, "test accuracy (%)": {"a": s}},
                     title="One change at a time", center="mean")
    _labelled(fig)
    a, b = fig.axes
    assert [t.get_text() for t in a.texts] == ["  2 ± 0.5 (missed 1 of 4)",
                                               "  not reached (missed 2 of 2)"]
    assert len(b.patches) == 1  # no bar where a panel has no value
    assert [t.get_text() for t in b.get_yticklabels()] == ["a", "b"]  # every panel names rows
    plt.close(fig)


def test_curves_without_a_ylabel_draw_one_quantity_per_panel() -> None:
    x = [32, 64, 128]
    fig = plots.curves({"throughput (images/s)": {"": (x, [1.0, 2.0, 3.0])},
                        "accuracy (%)": {"": (x, [99.0, 98.5, float("nan")])}},
                       "Batch-size sweep", xlabel="batch size")
    _labelled(fig)
    assert [ax.get_ylabel() for ax in fig.axes] == ["throughput (images/s)", "accuracy (%)"]
    assert list(fig.axes[0].lines[0].get_ydata()) == [1.0, 2.0, 3.0]
    assert fig.axes[0].get_legend() is None  # an unnamed line needs no legend
    plt.close(fig)


def test_pareto_front_keeps_only_unbeaten_points_cheapest_first() -> None:
    points = {"slow_good": (10.0, 99.5), "fast_ok": (2.0, 98.0), "beaten": (5.0, 97.0),
              "tie_cost_worse": (2.0, 97.5), "mid": (4.0, 99.0)}
    assert plots.pareto_front(points) == ["fast_ok", "mid", "slow_good"]
    assert plots.pareto_front({"a": (1.0, 1.0), "b": (1.0, 1.0)}) == ["a", "b"]  # equals: both


def test_pareto_plots_every_point_and_the_front() -> None:
    s = lambda med, lo, hi: {"n": 3, "median": med, "mean": med, "std": 0.001, "min": lo,
                             "max": hi}
    points = {"a": (s(1.0, 0.9, 1.2), s(0.98, 0.97, 0.99)),
              "b": (s(3.0, 3.0, 3.0), s(0.99, 0.99, 0.99)),
              "c": (s(4.0, 3.0, 5.0), s(0.97, 0.97, 0.97))}
    fig = plots.pareto(points, title="Pareto")
    _labelled(fig)
    ax = fig.axes[0]
    front = next(line for line in ax.lines if line.get_label() == "Pareto front")
    assert list(front.get_xdata()) == [1.0, 3.0]
    assert sorted(t.get_text() for t in ax.texts) == ["a", "b", "c"]
    plt.close(fig)


def test_image_rows_names_each_row_and_keeps_its_images_in_order() -> None:
    g = torch.Generator().manual_seed(2)
    rows = {"none": torch.rand(4, 28, 28, generator=g), "rotation ±20°": torch.rand(4, 28, 28, generator=g)}
    fig = plots.image_rows(rows, title="Augmentations")
    assert len(fig.axes) == 8
    names = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert names == ["none", "rotation ±20°"]
    assert fig.axes[4].images[0].get_array().data.tolist() == rows["rotation ±20°"][0].tolist()
    plt.close(fig)
    with pytest.raises(ValueError, match="same number"):
        plots.image_rows({"a": torch.rand(2, 28, 28), "b": torch.rand(3, 28, 28)})


def test_heatmap_colours_and_annotates_every_cell() -> None:
    values = [[99.0, 98.5], [60.0, 80.0], [75.5, 90.0]]
    fig = plots.heatmap(values, ["clean", "rotate", "noise"], ["plain", "augmented"],
                        title="Accuracy", xlabel="model", ylabel="corruption",
                        colorbar="accuracy (%)")
    _labelled(fig)
    ax = fig.axes[0]
    assert ax.images[0].get_array().tolist() == values
    assert [t.get_text() for t in ax.texts] == ["99.0", "98.5", "60.0", "80.0", "75.5", "90.0"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["clean", "rotate", "noise"]
    plt.close(fig)
    with pytest.raises(ValueError):
        plots.heatmap(values, ["a", "b"], ["c", "d"], "t", "x", "y", "c")


def test_grouped_bars_draw_one_bar_per_group_and_series_with_whiskers() -> None:
    groups = {"none": {"clean": 99.0, "corrupted": 70.0},
              "all": {"clean": 98.9, "corrupted": 80.0}}
    spread = {"none": {"clean": (98.8, 99.1), "corrupted": (69.0, 71.0)},
              "all": {"clean": (98.7, 99.0), "corrupted": (79.0, 81.0)}}
    fig = plots.grouped_bars(groups, ylabel="accuracy (%)", title="Ablation",
                             xlabel="augmentation", spread=spread)
    _labelled(fig)
    ax = fig.axes[0]
    heights = [round(p.get_height(), 6) for p in ax.patches]
    assert heights == [99.0, 98.9, 70.0, 80.0]  # series by series, groups in order
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["clean", "corrupted"]
    plt.close(fig)


def test_pareto_puts_each_recipe_at_its_median_time_and_mean_accuracy() -> None:
    s = lambda med, lo, hi: {"n": 3, "median": med, "mean": med, "std": 0.001, "min": lo,
                             "max": hi}
    points = {"slow": (s(100.0, 90.0, 120.0), s(0.995, 0.994, 0.996)),
              "quick": (s(2.0, 1.5, 2.5), s(0.99, 0.989, 0.991))}
    fig = plots.pareto(points, title="Accuracy against time", logx=True, targets=(0.99,))
    _labelled(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    centres = [float(v[0]) for c in ax.containers for v in c.lines[0].get_data()]
    assert centres == pytest.approx([100.0, 99.5, 2.0, 99.0])  # (median s, mean %) each
    xbars = ax.containers[0].lines[2][0].get_segments()[0]  # the time whisker: min to max
    assert [p[0] for p in xbars] == pytest.approx([90.0, 120.0])
    plt.close(fig)


def test_predictions_caption_every_model_and_mark_the_wrong_ones_red() -> None:
    labels = torch.tensor([1, 2, 3])
    imgs = torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(3))
    fig = plots.predictions(imgs, labels, {"plain": torch.tensor([1, 2, 5]),
                                           "aug": torch.tensor([1, 7, 3])}, ncols=3)
    titles = [ax.title for ax in fig.axes]
    assert [t.get_text() for t in titles] == ["true: 1\nplain: 1\naug: 1",
                                              "true: 2\nplain: 2\naug: 7",
                                              "true: 3\nplain: 5\naug: 3"]
    assert [t.get_color() for t in titles] == ["black", "tab:red", "tab:red"]
    plt.close(fig)


def test_curves_of_accuracy_and_of_a_series_per_step() -> None:
    fig = plots.curves({"": {n: plots.accuracy_curve(h) for n, h in
                             {"a": history(), "b": history(2, 1)}.items()}},
                       "Validation accuracy", xlabel="training time (s)",
                       ylabel="validation accuracy (%)", targets=(0.98, 0.99), ylim=(90, 100))
    _labelled(fig)
    ax = fig.axes[0]
    assert list(ax.lines[0].get_xdata()) == [h["train_seconds"] for h in history()]
    assert [line.get_label() for line in ax.lines] == ["a", "b", "target 98 %", "target 99 %"]
    assert ax.get_ylim() == (90, 100)
    fig = plots.curves({"": {"clip": [1.0, 2.0, float("nan")], "none": [1, 3, 9]}}, "Norms",
                       xlabel="step", ylabel="gradient norm", logy=True)
    assert fig.axes[0].get_yscale() == "log"
    assert list(fig.axes[0].lines[1].get_xdata()) == [1, 2, 3]  # y alone: against 1, 2, …
    _labelled(fig)
    plt.close("all")


def test_curves_share_colours_and_label_every_panel() -> None:
    panels = {"validation": {"average": ([1, 2, 3], [99.0, 99.2, 99.3]),
                             "vote": ([1, 2, 3], [99.0, 99.1, 99.2])},
              "test": {"vote": ([1, 2, 3], [98.9, 99.0, 99.1])}}
    fig = plots.curves(panels, "Ensembles", xlabel="members (N)", ylabel="accuracy (%)",
                       logx=True, xticks={1: "1", 3: "3"}, hlines={"zero-shot": 98.0})
    a, b = fig.axes
    assert [a.get_title(), b.get_title()] == ["validation", "test"]
    assert a.get_xlabel() == b.get_xlabel() == "members (N)" and a.get_ylabel() == "accuracy (%)"
    assert fig._suptitle.get_text() == "Ensembles" and a.get_xscale() == "log"
    vote = [next(line for line in ax.get_lines() if line.get_label() == "vote") for ax in (a, b)]
    assert vote[0].get_color() == vote[1].get_color() == "C1"  # a line keeps its colour
    assert list(b.get_lines()[0].get_ydata()) == [98.9, 99.0, 99.1]
    assert [t.get_text() for t in a.get_xticklabels()] == ["1", "3"]
    assert any(line.get_label() == "zero-shot" for line in b.get_lines())
    five = plots.curves({str(k): {"x": ([0, 1], [0, 1])} for k in range(5)}, "t", "x", "y",
                        ncols=2)
    assert sum(ax.axison for ax in five.axes) == 5  # a 3×2 grid, the sixth cell empty
    plt.close("all")
