import json

import pytest

from mnistlib.benchmarking import (HEADLINE_END, HEADLINE_START, accuracy_table, add_result,
                                   bench, command_line, format_table, headline_table,
                                   load_results, readme_with_headline, ratio_stats, stats,
                                   time_call, time_to_accuracy)
from mnistlib.recipes import Recipe

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
    # every epoch's end carries the test accuracy, for the time to a target
    assert [len([h for h in x["history"] if "test_accuracy" in h]) for x in one["runs"]] == [2, 2]
    assert 0 <= one["ensemble_test_accuracy"] <= 1
    assert one["predict_seconds"]["n"] == 2 and one["test_views"] == 1  # scoring, timed per seed


def test_time_to_accuracy_is_the_first_epoch_end_where_the_mean_reaches_it():
    def rec(accs, secs):
        return {"history": [{"epoch": e + 1, "test_accuracy": a, "train_seconds": s}
                            for e, (a, s) in enumerate(zip(accs, secs))]}
    records = [rec([0.97, 0.99, 0.995], [1, 2, 3]), rec([0.99, 0.985, 0.996], [1.5, 2.5, 3.5])]
    t = time_to_accuracy(records, 0.99)   # epoch 1: mean 0.98; epoch 2: 0.9875; epoch 3
    assert t["epoch"] == 3 and t["times"] == [3, 3.5] and t["median"] == 3.25
    assert time_to_accuracy(records, 0.98)["epoch"] == 1
    assert time_to_accuracy(records, 0.999) is None


def test_the_command_is_stored_as_typed_without_machine_paths():
    argv = ["/home/someone/venv/lib/python3.11/site-packages/mnistlib/__main__.py", "bench",
            "--recipes", "tmf,fast", "--out", "results/cpu.json"]
    assert command_line(argv) == "python -m mnistlib bench --recipes tmf,fast --out results/cpu.json"


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


def fake_result(device: str, rows: dict[str, tuple[list[float], float, float | None]]) -> dict:
    """A benchmark result as bench() writes it: recipe -> (times, accuracy of every run, the
    share of its time at which it reached 99 %, or None)."""
    out = []
    for name, (times, acc, at) in rows.items():
        to = None if at is None else {**stats([t * at for t in times]), "epoch": 1,
                                      "times": [t * at for t in times]}
        out.append({"recipe": name, "epochs": 1, "seeds": len(times), "seconds": stats(times),
                    "test_accuracy": stats([acc] * len(times)), "reaches_99": acc >= 0.99,
                    "time_to": {"0.99": to, "0.995": None, "0.996": None},
                    "ensemble_test_accuracy": acc + 0.001,
                    "runs": [{"seed": i, "train_seconds": t, "test_accuracy": acc}
                             for i, t in enumerate(times)]})
    return {"device": device, "date": "2026-11-24T00:00:00+00:00", "seeds": 5, "results": out}


def test_headline_table_gives_speedups_and_the_time_to_99_where_reached():
    res = fake_result("CPU X", {"tmf": ([4.0, 4.0], 0.989, None), "fast": ([1.0, 2.0], 0.991, 1),
                                "baseline": ([300.0], 0.9905, 0.5)})
    table = headline_table([res]).splitlines()
    assert len(table) == 2 + 3 and all(line.count("|") == 9 for line in table)
    fast = next(line for line in table[2:] if "`fast`" in line)
    assert "CPU X (2026-11-24)" in fast and "2.7× (2.0–4.0)" in fast  # 4 / 1.5
    assert "100× (75–150)" in fast  # baseline got to 99 % at 150 s: over the median 1.5 s
    tmf = next(line for line in table[2:] if "`tmf`" in line)
    assert tmf.split("|")[6:9] == [" reference ", " not reached ", "  "]
    assert " 4.00 s (4.00–4.00) | " in tmf  # three significant digits, trailing zeros kept
    base = next(line for line in table[2:] if "`baseline`" in line)
    assert base.split("|")[6] == " 75× slower " and base.split("|")[8] == " reference "
    assert " 300 s | " in base and " 150 s at epoch 1 |" in base  # one run: no spread
    slow = fake_result("CPU X", {"best": ([2356.7], 0.997, 0.5)})
    assert "| 2,357 s |" in headline_table([slow]) and "| 1,178 s at epoch 1 |" in \
        headline_table([slow])
    acc = accuracy_table([res]).splitlines()
    assert len(acc) == 5 and "99.20%" in acc[3] and acc[3].count("not reached") == 2


def test_a_results_file_keeps_one_run_per_set_of_recipes(tmp_path):
    a = fake_result("CPU X", {"tmf": ([4.0], 0.989, None)})
    b = fake_result("CPU X", {"accurate": ([40.0], 0.996, 1)})
    add_result(tmp_path / "cpu.json", a)
    add_result(tmp_path / "cpu.json", b)
    add_result(tmp_path / "cpu.json", {**a, "date": "2026-12-01T00:00:00+00:00"})
    runs = load_results(tmp_path)
    assert [r["results"][0]["recipe"] for r in runs] == ["accurate", "tmf"]
    assert runs[1]["date"].startswith("2026-12-01")


def test_readme_headline_is_replaced_between_its_markers():
    readme = f"intro\n{HEADLINE_START}\nold table\n{HEADLINE_END}\nrest\n"
    new = readme_with_headline(readme, "| new |")
    assert new == f"intro\n{HEADLINE_START}\n| new |\n{HEADLINE_END}\nrest\n"
    with pytest.raises(ValueError, match="headline"):
        readme_with_headline("no markers", "| new |")
