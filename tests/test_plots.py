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


def test_pareto_front_keeps_only_unbeaten_points_cheapest_first() -> None:
    points = {"slow_good": (10.0, 99.5), "fast_ok": (2.0, 98.0), "beaten": (5.0, 97.0),
              "tie_cost_worse": (2.0, 97.5), "mid": (4.0, 99.0)}
    assert plots.pareto_front(points) == ["fast_ok", "mid", "slow_good"]
    assert plots.pareto_front({"a": (1.0, 1.0), "b": (1.0, 1.0)}) == ["a", "b"]  # equals: both


def test_pareto_plots_every_point_and_the_front() -> None:
    points = {"a": {"x": 1.0, "y": 98.0, "x_min": 0.9, "x_max": 1.2, "y_err": 0.1},
              "b": {"x": 3.0, "y": 99.0, "y_err": 0.2}, "c": {"x": 4.0, "y": 97.0}}
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


def test_accuracy_vs_time_puts_each_recipe_at_its_median_time_and_mean_accuracy() -> None:
    s = lambda med, lo, hi: {"n": 3, "median": med, "mean": med, "std": 0.001, "min": lo,
                             "max": hi}
    points = {"slow": {"seconds": s(100.0, 90.0, 120.0), "accuracy": s(0.995, 0.994, 0.996)},
              "quick": {"seconds": s(2.0, 1.5, 2.5), "accuracy": s(0.99, 0.989, 0.991)}}
    fig = plots.accuracy_vs_time(points, targets=(0.99,))
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


def test_chapter_4_figures_have_titles_and_labels() -> None:
    s = {"n": 3, "mean": 2.0, "std": 0.5, "missed": 0, "median": 2, "min": 1.5, "max": 2.5}
    miss = {"n": 0, "mean": float("nan"), "std": float("nan"), "missed": 2}
    fig = plots.ablation_bars({"seconds to 98 %": {"a": s, "b": miss},
                               "test accuracy (%)": {"a": s}})
    assert len(fig.axes) == 2
    _labelled(fig)
    _labelled(plots.val_curves({"a": history(), "b": history(2, 1)}))
    fig = plots.lines({"clip": [1.0, 2.0, float("nan")], "none": [1, 3, 9]}, xlabel="step",
                      ylabel="gradient norm", title="Norms", logy=True)
    assert fig.axes[0].get_yscale() == "log"
    _labelled(fig)
    plt.close("all")


def test_curves_share_colours_and_label_every_panel() -> None:
    panels = {"validation": {"average": ([1, 2, 3], [99.0, 99.2, 99.3]),
                             "vote": ([1, 2, 3], [99.0, 99.1, 99.2])},
              "test": {"vote": ([1, 2, 3], [98.9, 99.0, 99.1])}}
    fig = plots.curves(panels, xlabel="members (N)", ylabel="accuracy (%)", title="Ensembles",
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
    five = plots.curves({str(k): {"x": ([0, 1], [0, 1])} for k in range(5)}, "x", "y", "t",
                        ncols=2)
    assert sum(ax.axison for ax in five.axes) == 5  # a 3×2 grid, the sixth cell empty
    plt.close("all")
