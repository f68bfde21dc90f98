"""Timings that can be trusted: synchronize, warm up, repeat, and report median and spread.

``bench`` runs recipes side by side in one process through ``experiments.run`` (seeds
interleaved, one warm-up per pipeline, never the cache). What is timed is ``fit``'s training
time: every step of the training loop, data included; loading the files into memory, building
the model and the evaluations are not. Every run's test accuracy is also scored at each epoch's
end, for the record only: a recipe's **time to an accuracy** is, as DAWNBench defines it, its
training time at the first epoch's end where the mean test accuracy over its seeds reaches it.
"""
from __future__ import annotations

import datetime
import json
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from mnistlib.data import MNIST
from mnistlib.devices import describe, resolve_device, synchronize
from mnistlib.errors import ConfigError
from mnistlib.experiments import ratio_stats, run, stats
from mnistlib.files import write_json
from mnistlib.recipes import Recipe

__all__ = ["stats", "ratio_stats", "time_call", "bench", "time_to_accuracy"]


def time_call(fn: Callable[[], object], device: str | torch.device = "cpu", repeats: int = 5,
              warmup: int = 1) -> dict[str, float]:
    """Seconds per call of ``fn``: ``warmup`` untimed calls, then ``repeats`` timed ones, each
    closed by a device synchronization. Returns ``stats`` plus the raw ``times``."""
    dev = torch.device(device)
    for _ in range(warmup):
        fn()
    synchronize(dev)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        synchronize(dev)
        times.append(time.perf_counter() - t)
    return {**stats(times), "times": times}


def _training_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                   bf16: bool = False, compile: bool = False) -> Callable[[], None]:
    """One training step of ``model`` on the batch ``x``, ``y``, as a call: the forward pass
    (with ``compile``, through ``torch.compile(model)``; with ``bf16``, under bf16 autocast),
    the backward pass, and an Adam step on the parameters that learn."""
    net = torch.compile(model) if compile else model
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)

    def step() -> None:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def train_step_time(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                    device: str | torch.device = "cpu", repeats: int = 20, warmup: int = 3,
                    bf16: bool = False, compile: bool = False) -> dict[str, float]:
    """Seconds per training step (forward, backward, an Adam step on the parameters that
    learn) of ``model`` on one batch ``x``, ``y``: ``time_call``'s statistics. ``bf16``: under
    bf16 autocast, whether or not the device computes bf16 natively (to measure what it costs);
    ``compile``: the model through ``torch.compile``, whose first call (the compilation) is timed
    on its own as ``compile_seconds`` and not counted in the steps."""
    dev = torch.device(device)
    model, x, y = model.to(dev), x.to(dev), y.to(dev)
    step = _training_step(model, x, y, bf16, compile)
    first = time_call(step, dev, repeats=1, warmup=0)["median"]
    return {**time_call(step, dev, repeats=repeats, warmup=warmup),
            "compile_seconds": first if compile else 0.0}


MATRIX_OPS = ("conv", "mm", "addmm", "bmm", "linear")  # the work a FLOP count counts


def step_profile(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                 steps: int = 10) -> dict[str, float]:
    """Where a training step's CPU time goes, from PyTorch's profiler: the share spent in
    convolutions and matrix products (``matrix``), and the rest (elementwise work, the
    optimizer, copies), over ``steps`` steps after two untimed ones."""
    from torch.profiler import ProfilerActivity, profile
    step = _training_step(model, x, y)
    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    total = sum(e.self_cpu_time_total for e in events)
    matrix = sum(e.self_cpu_time_total for e in events
                 if any(k in e.key.split("::")[1] for k in MATRIX_OPS))
    return {"matrix": matrix / total, "other": 1 - matrix / total}


def matmul_throughput(dtype: torch.dtype = torch.float32, n: int = 2048,
                      device: str | torch.device = "cpu", repeats: int = 5) -> dict[str, float]:
    """The machine's dense matrix-product throughput, GFLOP/s (2n³ FLOPs per n×n product): the
    ceiling that the convolutions and linear layers of a training step run on."""
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    t = time_call(lambda: a @ b, device, repeats=repeats, warmup=1)
    return {**t, "gflops": 2 * n ** 3 / t["median"] / 1e9,
            "gflops_max": 2 * n ** 3 / t["min"] / 1e9}


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as a user types it: ``python -m mnistlib …``, without machine paths."""
    argv = list(sys.argv if argv is None else argv)
    if argv and Path(argv[0]).name in ("__main__.py", "mnistlib", "cli.py"):
        argv = ["python", "-m", "mnistlib", *argv[1:]]
    return shlex.join(argv)


def environment(device: torch.device) -> dict[str, object]:
    import torchvision
    return {"device": describe(device), "device_type": device.type,
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "python": platform.python_version(), "platform": platform.system(),
            "cpu_threads": torch.get_num_threads(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": command_line()}


def time_to_accuracy(records: Sequence[dict], acc: float) -> dict[str, float] | None:
    """DAWNBench's time to ``acc``: at the first epoch end where the mean test accuracy over the
    runs reaches ``acc``, the median (and spread) of their training times; None if none does."""
    # each run's history rows at whole epochs, where the test accuracy was scored
    ends = [[h for h in r["history"] if "test_accuracy" in h] for r in records]
    for e in range(min(len(x) for x in ends)):
        if statistics.fmean(x[e]["test_accuracy"] for x in ends) >= acc:
            times = [x[e]["train_seconds"] for x in ends]
            return {**stats(times), "epoch": ends[0][e]["epoch"], "times": times}
    return None


def bench(recipes: Sequence[Recipe], data: MNIST, seeds: int = 5, device: str = "auto",
          progress: Callable[[str], None] | None = None,
          seeds_for: dict[str, int] | None = None, targets: Sequence[float] = (0.99,)) -> dict:
    """Train every recipe for ``seeds`` seeds; report time and test accuracy per recipe, each
    recipe's speed-up over the first (the first's median time over this one's), and its time
    to each of ``targets`` (DAWNBench's definition, see the module docstring)."""
    unknown = set(seeds_for or {}) - {r.name for r in recipes}
    if unknown:
        raise ConfigError(f"seeds given for recipes not benchmarked: {', '.join(sorted(unknown))}")
    dev = resolve_device(device)
    runs = run(recipes, data, range(seeds), str(dev), seeds_for=seeds_for, test=True,
               test_per_epoch=True, progress=progress)
    records = {name: [r.record() for r in rs] for name, rs in runs.items()}
    ensemble, predict = {}, {}  # the ensemble of each recipe's seeds; seconds to score the test
    for name, rs in runs.items():  # split (test-time augmentation's cost is counted here)
        probs, seconds = [], []
        for r in rs:
            start = time.perf_counter()
            probs.append(r.classifier.probabilities(data.test.images))  # on the CPU: synchronized
            seconds.append(time.perf_counter() - start)
        ensemble[name] = float((torch.stack(probs).mean(0).argmax(1) == data.test.labels)
                               .double().mean())
        predict[name] = stats(seconds)
    first = [x["train_seconds"] for x in records[recipes[0].name]]
    rows = []
    for r in recipes:
        times = [x["train_seconds"] for x in records[r.name]]
        accs = [x["test_accuracy"] for x in records[r.name]]
        rows.append({"recipe": r.name, "epochs": r.epochs, "seeds": len(times),
                     "seconds": stats(times), "test_accuracy": stats(accs),
                     "reaches_99": statistics.fmean(accs) >= 0.99,
                     "time_to": {f"{t:g}": time_to_accuracy(records[r.name], t) for t in targets},
                     "ensemble_test_accuracy": ensemble[r.name],
                     "predict_seconds": predict[r.name], "test_views": len(r.views),
                     "speedup_vs_first": ratio_stats(first, times), "runs": records[r.name],
                     "config": r.to_dict()})
    return {**environment(dev), "seeds": seeds, "targets": list(targets), "results": rows}


def format_table(result: dict) -> str:
    """The benchmark as a plain-text table."""
    first = result["results"][0]["recipe"]
    head = (f"{'recipe':<12}{'epochs':>7}{'seeds':>6}{'median s':>10}{'spread s':>16}{'mean acc':>10}"
            f"{'min acc':>9}{'vs ' + first:>16}{'predict s':>11}")
    lines = [f"{result['device']} · torch {result['torch']} · {result['seeds']} seeds", head]
    for row in result["results"]:
        s, a, x = row["seconds"], row["test_accuracy"], row["speedup_vs_first"]
        lines.append(f"{row['recipe']:<12}{row['epochs']:>7}"
                     f"{row.get('seeds', result['seeds']):>6}{s['median']:>10.2f}"
                     f"{s['min']:>8.2f}–{s['max']:<7.2f}{a['mean']:>10.2%}{a['min']:>9.2%}"
                     f"{x['ratio']:>9.1f}× ({x['min']:.1f}–{x['max']:.1f})"
                     + (f"{row['predict_seconds']['median']:>9.2f}"
                        f" ×{row.get('test_views', 1)}" if "predict_seconds" in row else ""))
    return "\n".join(lines)


# --- The committed results: results/<device>.json, rendered in the book and the README --------

HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"


def _runs(path: Path) -> list[dict]:
    """The benchmark runs in one results file: a list of runs, or a single run."""
    data = json.loads(path.read_text())
    return data if isinstance(data, list) else [data]


def load_results(folder: str | Path) -> list[dict]:
    """Every benchmark run in the JSON files under ``folder`` (one file per device, each a
    list of runs), sorted by file name, then as stored."""
    return [r for p in sorted(Path(folder).glob("*.json")) for r in _runs(p)]


def add_result(path: str | Path, result: dict) -> list[dict]:
    """Add one benchmark run to a results file, replacing a run of the same recipes; the
    file's other runs stay. Written atomically."""
    path = Path(path)
    runs = _runs(path) if path.is_file() else []
    names = [r["recipe"] for r in result["results"]]
    runs = [r for r in runs if [x["recipe"] for x in r["results"]] != names] + [result]
    write_json(path, runs)
    return runs


def row_of(result: dict, recipe: str) -> dict | None:
    """The row of ``recipe`` in a benchmark result, or None."""
    return next((r for r in result["results"] if r["recipe"] == recipe), None)


def speedup(result: dict, slow: str, fast: str, to: float | None = None
            ) -> dict[str, float] | None:
    """How many times faster ``fast`` trains than ``slow`` in one benchmark run (ratio of
    medians, with the spread over all pairs of runs), or None if either is missing. With
    ``to``, the ratio of their times to that test accuracy (None if either never got there)."""
    a, b = row_of(result, slow), row_of(result, fast)
    if a is None or b is None:
        return None
    if to is None:
        return ratio_stats([x["train_seconds"] for x in a["runs"]],
                           [x["train_seconds"] for x in b["runs"]])
    ta, tb = (row.get("time_to", {}).get(f"{to:g}") for row in (a, b))
    return ratio_stats(ta["times"], tb["times"]) if ta and tb else None


def _times(r: dict[str, float] | None, fmt: str) -> str:
    """``2.8× (2.5–3.1)`` for a speed-up, ``81× slower`` for a slow-down, blank for none."""
    if r is None:
        return ""
    if r["ratio"] < 1:
        return f"{1 / r['ratio']:.0f}× slower"
    return f"{r['ratio']:{fmt}}× ({r['min']:{fmt}}–{r['max']:{fmt}})"


def _s(x: float) -> str:
    """Seconds to three significant digits, trailing zeros kept (``8.20``), whole seconds from
    1,000 on (``1,190``): a run's time wanders by several per cent, so more digits say nothing."""
    return f"{x:#.3g}".rstrip(".") if x < 1000 else f"{x:,.0f}"


def _spread(s: dict[str, float]) -> str:
    """``2.68 s (1.76–3.13)``, or ``2,357 s`` for a single run."""
    return f"{_s(s['median'])} s" + (f" ({_s(s['min'])}–{_s(s['max'])})" if s["n"] > 1 else "")


def _seconds(s: dict[str, float] | None) -> str:
    return "not reached" if s is None else f"{_spread(s)} at epoch {s['epoch']:g}"


def _markdown_table(head: Sequence[str], results: Sequence[dict], targets: Sequence[float],
                    cells: Callable[[dict, dict], list[str]]) -> str:
    """A Markdown table with a row per recipe of every benchmark run whose row has a time to
    each of ``targets``: the run's device (and date), the recipe and its seeds, then
    ``cells(run, row)`` under ``head``."""
    head = ["device", "recipe", "seeds", *head]
    lines = ["| " + " | ".join(head) + " |", "| --- " * len(head) + "|"]
    for res in results:
        for row in res["results"]:
            if all(f"{t:g}" in row.get("time_to", {}) for t in targets):
                lines.append("| " + " | ".join([f"{res['device']} ({res['date'][:10]})",
                                                f"`{row['recipe']}`", str(row["seeds"]),
                                                *cells(res, row)]) + " |")
    return "\n".join(lines)


def headline_table(results: Sequence[dict], reference: str = "tmf",
                   baseline: str = "baseline", to: float = 0.99) -> str:
    """A Markdown table of every committed benchmark: per device and recipe, the median
    training time with its spread, the test accuracy, the speed-up over ``reference``, the time
    to ``to`` test accuracy (DAWNBench) and the speed-up over ``baseline`` in that time."""
    def cells(res: dict, row: dict) -> list[str]:
        a, name = row["test_accuracy"], row["recipe"]
        return [_spread(row["seconds"]), f"{a['mean']:.2%} ({a['min']:.2%})",
                _times(speedup(res, reference, name), ".1f") if name != reference
                else "reference", _seconds(row["time_to"][f"{to:g}"]),
                _times(speedup(res, baseline, name, to), ".0f") if name != baseline
                else "reference"]
    return _markdown_table(["training time, median (min–max)", "test accuracy, mean (min)",
                            f"faster than `{reference}`", f"time to {to:.0%}",
                            f"faster than `{baseline}` to {to:.0%}"], results, [to], cells)


def accuracy_table(results: Sequence[dict], targets: Sequence[float] = (0.995, 0.996)) -> str:
    """A Markdown table of the accuracy record: per device and recipe, the test accuracy of one
    model (mean, min) and of the ensemble of all its seeds, and the time to each target."""
    def cells(res: dict, row: dict) -> list[str]:
        a = row["test_accuracy"]
        return [f"{a['mean']:.2%} ({a['min']:.2%})", f"{row['ensemble_test_accuracy']:.2%}",
                *(_seconds(row["time_to"][f"{t:g}"]) for t in targets)]
    return _markdown_table(["test accuracy, mean (min)", "ensemble of the seeds",
                            *(f"time to {t:.1%}" for t in targets)], results, targets, cells)


def readme_tables(results: Sequence[dict]) -> str:
    """What the README shows between its headline markers: the speed table, then the accuracy
    table when a committed run has accuracy targets."""
    accuracy = accuracy_table(results)
    return headline_table(results) + ("\n\n" + accuracy if accuracy.count("\n") > 1 else "")


def readme_with_headline(readme: str, table: str) -> str:
    """``readme`` with the text between the headline markers replaced by ``table``."""
    start, end = readme.find(HEADLINE_START), readme.find(HEADLINE_END)
    if start < 0 or end < start:
        raise ConfigError(f"the README has no {HEADLINE_START} … {HEADLINE_END} section")
    return readme[:start + len(HEADLINE_START)] + "\n" + table + "\n" + readme[end:]
