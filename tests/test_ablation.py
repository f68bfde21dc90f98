"""Ablations: the stopping rules replayed on a history agree with fit's own stops, the time to
a target is read from the right evaluation, and variants run interleaved over the same seeds."""
import math

import pytest

from mnistlib import ablation
from mnistlib.recipes import Recipe
from mnistlib.training import fit

SMALL = Recipe(name="small", model="fast_cnn", loader="device", batch_size=32, optimizer="adam",
               lr=0.003, schedule="constant", epochs=3, evals_per_epoch=4)


def rows(accs):
    return [{"epoch": (k + 1) / 4, "val_accuracy": a, "train_seconds": float(k + 1)}
            for k, a in enumerate(accs)]


def test_time_to_reads_the_first_evaluation_that_reached_the_target():
    h = rows([0.5, 0.8, 0.79, 0.9])
    assert ablation.time_to(h, 0.8) == 2.0
    assert ablation.time_to(h, 0.8, key="epoch") == 0.5
    assert ablation.time_to(h, 0.95) is None


def test_stop_point_rules():
    h = rows([0.5, 0.8, 0.79, 0.8, 0.7, 0.9])
    assert ablation.stop_point(h) is h[-1]
    assert ablation.stop_point(h, patience=2) is h[3]   # no improvement at 0.79, 0.8 (not >)
    assert ablation.stop_point(h, patience=3) is h[4]
    assert ablation.stop_point(h, target=0.8) is h[1]
    assert ablation.stop_point(h, patience=2, target=0.9) is h[3]


@pytest.mark.parametrize("patience,target", [(1, None), (2, None), (None, 0.9), (1, 0.95)])
def test_stop_point_agrees_with_fit(tiny_mnist, patience, target):
    whole = fit(SMALL, tiny_mnist, device="cpu", progress=False)
    stopped = fit(SMALL.replace(patience=patience, target_acc=target), tiny_mnist,
                  device="cpu", progress=False)
    assert ablation.stop_point(whole.history, patience, target)["epoch"] == \
        stopped.history[-1]["epoch"]


def test_summary_counts_missed_targets():
    s = ablation.summary([1.0, None, 3.0])
    assert s["n"] == 2 and s["missed"] == 1 and s["mean"] == 2.0
    assert math.isnan(ablation.summary([None])["mean"])


def test_run_variants_runs_every_variant_with_every_seed(tiny_mnist):
    variants = {"a": SMALL.replace(epochs=1), "b": SMALL.replace(epochs=1, lr=0.001)}
    runs = ablation.run_variants(variants, tiny_mnist, seeds=[0, 1], device="cpu", test=True)
    assert [r["seed"] for r in runs["a"]] == [0, 1] and len(runs["b"]) == 2
    assert runs["a"][0]["history"] != runs["a"][1]["history"]  # seeds differ
    for r in runs["a"] + runs["b"]:
        assert 0 <= r["test_accuracy"] <= 1 and r["epochs_run"] == 1
    assert ablation.times_to(runs["a"], 0.0) == [r["history"][0]["train_seconds"]
                                                 for r in runs["a"]]
