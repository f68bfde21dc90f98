import json

import pytest

from mnistlib.benchmarking import bench, format_table, ratio_stats, stats, time_call
from mnistlib.recipes import Recipe
from mnistlib.training import fit

TINY = Recipe(name="tiny", model="fast_cnn", loader="device", batch_size=64, optimizer="adam",
              lr=0.003, schedule="constant", epochs=2)


def test_stats_and_ratios():
    s = stats([1.0, 2.0, 4.0])
    assert (s["n"], s["median"], s["min"], s["max"]) == (3, 2.0, 1.0, 4.0)
    r = ratio_stats([10.0, 12.0], [1.0, 2.0])
    assert r["ratio"] == pytest.approx(11.0 / 1.5)
    assert (r["min"], r["max"]) == (5.0, 12.0)


def test_time_call_warms_up_and_repeats():
    calls = []
    t = time_call(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6 and t["n"] == 4 and len(t["times"]) == 4


def test_bench_on_a_tiny_setting(tiny_mnist):
    seen = []
    result = bench([TINY, TINY.replace(name="tiny1", epochs=1)], tiny_mnist, seeds=2,
                   device="cpu", progress=seen.append)
    json.dumps(result)  # the JSON the CLI writes
    assert [r["recipe"] for r in result["results"]] == ["tiny", "tiny1"]
    assert len(seen) == 4 and all("seed" in line for line in seen)
    one, half = result["results"]
    assert [x["seed"] for x in one["runs"]] == [0, 1]
    assert one["speedup_vs_first"]["ratio"] == pytest.approx(1.0)
    t_one = [x["train_seconds"] for x in one["runs"]]
    t_half = [x["train_seconds"] for x in half["runs"]]
    assert half["speedup_vs_first"]["ratio"] == pytest.approx(
        (sum(t_one) / 2) / (sum(t_half) / 2))  # median of two = mean
    assert 0 <= half["test_accuracy"]["min"] <= half["test_accuracy"]["mean"] <= 1
    for key in ("device", "torch", "torchvision", "date", "command"):
        assert result[key]
    table = format_table(result)
    assert "tiny1" in table and "×" in table


def test_time_without_splitting_counts_everything_as_compute(tiny_mnist):
    r = fit(TINY, tiny_mnist, device="cpu", progress=False, split_time=False)
    assert r.history[-1]["data_seconds"] == 0
    assert r.train_seconds == pytest.approx(r.history[-1]["compute_seconds"]) and r.train_seconds > 0
