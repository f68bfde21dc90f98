import json

import pytest

from mnistlib.benchmarking import (HEADLINE_END, HEADLINE_START, bench, format_table,
                                   headline_table, readme_with_headline, ratio_stats, stats,
                                   time_call)
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


def test_bench_gives_a_slow_reference_fewer_seeds_in_the_last_rounds(tiny_mnist):
    seen = []
    result = bench([TINY.replace(epochs=1), TINY.replace(name="ref", epochs=1)], tiny_mnist,
                   seeds=3, device="cpu", progress=seen.append, seeds_for={"ref": 1})
    tiny, ref = result["results"]
    assert (tiny["seeds"], ref["seeds"]) == (3, 1)
    assert [x["seed"] for x in ref["runs"]] == [0]
    assert seen[-1].startswith("ref seed 0")  # its one run comes in the last round
    assert "ref" in format_table(result)
    with pytest.raises(ValueError, match="nope"):
        bench([TINY], tiny_mnist, seeds=1, device="cpu", seeds_for={"nope": 2})


def fake_result(device: str, rows: dict[str, tuple[list[float], float]]) -> dict:
    """A benchmark result as bench() writes it: recipe -> (times, accuracy of every run)."""
    out = []
    for name, (times, acc) in rows.items():
        out.append({"recipe": name, "epochs": 1, "seeds": len(times), "seconds": stats(times),
                    "test_accuracy": stats([acc] * len(times)), "reaches_99": acc >= 0.99,
                    "runs": [{"seed": i, "train_seconds": t, "test_accuracy": acc}
                             for i, t in enumerate(times)]})
    return {"device": device, "date": "2026-11-24T00:00:00+00:00", "seeds": 5, "results": out}


def test_headline_table_gives_speedups_and_time_to_99_only_where_reached():
    res = fake_result("CPU X", {"tmf": ([4.0, 4.0], 0.989), "fast": ([1.0, 2.0], 0.991),
                                "baseline": ([300.0], 0.9905)})
    table = headline_table([res]).splitlines()
    assert len(table) == 2 + 3 and all(line.count("|") == 8 for line in table)
    fast = next(line for line in table[2:] if "`fast`" in line)
    assert "CPU X (2026-11-24)" in fast and "2.7× (2.0–4.0)" in fast  # 4 / 1.5
    assert "200× (150–300)" in fast  # baseline's 300 s over the median 1.5 s
    tmf = next(line for line in table[2:] if "`tmf`" in line)
    assert tmf.split("|")[6:8] == [" reference ", "  "]  # tmf below 99 %: no time to 99 %
    base = next(line for line in table[2:] if "`baseline`" in line)
    assert base.split("|")[6:8] == [" 75× slower ", " reference "]  # 300 s / tmf's 4 s
    res_slow = fake_result("CPU X", {"tmf": ([4.0], 0.989), "fast": ([1.0], 0.991),
                                     "baseline": ([300.0], 0.985)})
    assert "×" not in headline_table([res_slow]).splitlines()[3].split("|")[7]


def test_readme_headline_is_replaced_between_its_markers():
    readme = f"intro\n{HEADLINE_START}\nold table\n{HEADLINE_END}\nrest\n"
    new = readme_with_headline(readme, "| new |")
    assert new == f"intro\n{HEADLINE_START}\n| new |\n{HEADLINE_END}\nrest\n"
    with pytest.raises(ValueError, match="headline"):
        readme_with_headline("no markers", "| new |")
