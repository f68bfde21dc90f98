"""The experiment runner: stopping rules replayed on a history agree with fit's own stops, the
time to a target is read from the right evaluation, variants run interleaved over the same
seeds, the cache trains a run once and again when its recipe changes, and selection reads the
validation split only."""
import json
import math

import pytest

from mnistlib import experiments
from mnistlib.checkpoints import Cache
from mnistlib.recipes import Recipe
from mnistlib.training import fit, stop_point, time_to

SMALL = Recipe(name="small", model="fast_cnn", loader="device", batch_size=32, optimizer="adam",
               lr=0.003, schedule="constant", epochs=3, evals_per_epoch=4)


def rows(accs):
    return [{"epoch": (k + 1) / 4, "val_accuracy": a, "train_seconds": float(k + 1)}
            for k, a in enumerate(accs)]


def test_time_to_reads_the_first_evaluation_that_reached_the_target():
    h = rows([0.5, 0.8, 0.79, 0.9])
    assert time_to(h, 0.8) == 2.0
    assert time_to(h, 0.8, key="epoch") == 0.5
    assert time_to(h, 0.95) is None


def test_stop_point_rules():
    h = rows([0.5, 0.8, 0.79, 0.8, 0.7, 0.9])
    assert stop_point(h) is h[-1]
    assert stop_point(h, patience=2) is h[3]   # no improvement at 0.79, 0.8 (not >)
    assert stop_point(h, patience=3) is h[4]
    assert stop_point(h, target=0.8) is h[1]
    assert stop_point(h, patience=2, target=0.9) is h[3]


@pytest.mark.parametrize("patience,target", [(1, None), (2, None), (None, 0.9), (1, 0.95)])
def test_stop_point_agrees_with_fit(tiny_mnist, patience, target):
    d = tiny_mnist
    whole = fit(SMALL, d.train, d.val, device="cpu", progress=False)
    stopped = fit(SMALL.replace(patience=patience, target_acc=target), d.train, d.val,
                  device="cpu", progress=False)
    assert stop_point(whole.history, patience, target)["epoch"] == stopped.history[-1]["epoch"]


def test_summary_counts_missed_targets():
    s = experiments.summary([1.0, None, 3.0])
    assert s["n"] == 2 and s["missed"] == 1 and s["mean"] == 2.0
    assert math.isnan(experiments.summary([None])["mean"])


def test_run_trains_every_variant_with_every_seed_interleaved(tiny_mnist):
    variants = {"a": SMALL.replace(epochs=1), "b": SMALL.replace(epochs=1, lr=0.001)}
    seen = []
    runs = experiments.run(variants, tiny_mnist, seeds=[0, 1], device="cpu",
                           progress=seen.append)
    assert [line.split(" seed ")[0] + line.split(" seed ")[1][0] for line in seen] == \
        ["a0", "b0", "a1", "b1"]
    assert [r.seed for r in runs["a"]] == [0, 1] and len(runs["b"]) == 2
    assert runs["a"][0].history != runs["a"][1].history  # seeds differ
    for r in runs["a"] + runs["b"]:
        assert 0 <= r.test_accuracy <= 1 and r.epochs_run == 1 and not r.cached
        assert r.classifier.accuracy(tiny_mnist.test) == r.test_accuracy
    assert experiments.times_to(runs["a"], 0.0) == [r.history[0]["train_seconds"]
                                                    for r in runs["a"]]


def test_fewer_seeds_come_in_the_last_rounds(tiny_mnist):
    seen = []
    experiments.run([SMALL.replace(epochs=1), SMALL.replace(name="ref", epochs=1)], tiny_mnist,
                    seeds=[0, 1, 2], device="cpu", seeds_for={"ref": 1}, progress=seen.append)
    assert [s.split(":")[0] for s in seen] == ["small seed 0", "small seed 1", "small seed 2",
                                               "ref seed 0"]


def test_the_cache_trains_a_run_once_and_again_when_its_recipe_changes(tiny_mnist, tmp_path):
    cache = Cache(tmp_path / "models")
    r = SMALL.replace(epochs=1)
    first = experiments.run([r], tiny_mnist, device="cpu", cache=cache)["small"][0]
    again = experiments.run([r], tiny_mnist, device="cpu", cache=cache)["small"][0]
    assert not first.cached and again.cached and again.checkpoint == first.checkpoint
    assert json.dumps(again.history) == json.dumps(first.history)  # NaN-safe
    assert again.test_accuracy == first.test_accuracy
    assert again.classifier.accuracy(tiny_mnist.val) == first.val_accuracy
    changed = experiments.run([r.replace(lr=0.002)], tiny_mnist, device="cpu", cache=cache)
    assert not changed["small"][0].cached
    other_data = experiments.run([r], tiny_mnist.subset(300), device="cpu", cache=cache)
    assert not other_data["small"][0].cached


def test_the_cache_is_keyed_by_the_library_code(tiny_mnist, tmp_path, monkeypatch):
    cache = Cache(tmp_path / "models")
    r = SMALL.replace(epochs=1)
    experiments.run([r], tiny_mnist, device="cpu", cache=cache)
    monkeypatch.setattr(cache, "library", "another version of mnistlib.training")
    assert not experiments.run([r], tiny_mnist, device="cpu", cache=cache)["small"][0].cached


def test_selection_reads_validation_accuracy_only(tiny_mnist):
    runs = experiments.run({"a": SMALL.replace(epochs=1), "b": SMALL.replace(epochs=1, lr=1e-4)},
                           tiny_mnist, device="cpu")
    runs["a"][0].val_accuracy, runs["a"][0].test_accuracy = 0.1, 1.0
    runs["b"][0].val_accuracy, runs["b"][0].test_accuracy = 0.2, 0.0
    assert experiments.winner(runs) == "b"
    assert experiments.best_run(runs["a"] + runs["b"]) is runs["b"][0]
