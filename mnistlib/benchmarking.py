"""Timings that can be trusted: synchronize, warm up, repeat, and report median and spread.

``bench`` runs recipes side by side in one process, seeds interleaved (recipe A seed 0,
recipe B seed 0, A seed 1, …) so that drift in the machine's speed hits every recipe alike.
What is timed is ``fit``'s training time: every step of the training loop, data included;
loading the files into memory, building the model and the validation passes are not.
"""
from __future__ import annotations

import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

from mnistlib.data import MNIST, Split
from mnistlib.devices import describe, resolve_device, synchronize
from mnistlib.evaluation import evaluate
from mnistlib.recipes import Recipe
from mnistlib.training import fit

WARMUP_IMAGES = 4096


def stats(values: Sequence[float]) -> dict[str, float]:
    """n, median, mean, standard deviation, min and max of a sample."""
    v = list(values)
    return {"n": len(v), "median": statistics.median(v), "mean": statistics.fmean(v),
            "std": statistics.stdev(v) if len(v) > 1 else 0.0, "min": min(v), "max": max(v)}


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


def ratio_stats(numerator: Sequence[float], denominator: Sequence[float]) -> dict[str, float]:
    """A ratio of medians, with the spread of the ratio over all pairs of runs (min, max)."""
    pairs = [a / b for a in numerator for b in denominator]
    return {"ratio": statistics.median(numerator) / statistics.median(denominator),
            "min": min(pairs), "max": max(pairs)}


def warm_up(recipe: Recipe, data: MNIST, device: torch.device,
            images: int = WARMUP_IMAGES) -> None:
    """One short untimed run on ``images`` training images, so kernels, allocators and caches
    are ready before timing."""
    small = MNIST(data.train.subset(images), Split(data.val.images[:1000], data.val.labels[:1000]),
                  data.test, data.train_indices[:images], data.val_indices[:1000], data.root)
    fit(recipe.replace(epochs=1, patience=None, target_acc=None, evals_per_epoch=1), small,
        device=str(device), progress=False)


def environment(device: torch.device) -> dict[str, object]:
    import torchvision
    return {"device": describe(device), "device_type": device.type,
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu_threads": torch.get_num_threads(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)}


def bench(recipes: Sequence[Recipe], data: MNIST, seeds: int = 5, device: str = "auto",
          progress: Callable[[str], None] | None = None,
          seeds_for: dict[str, int] | None = None) -> dict:
    """Train every recipe for ``seeds`` seeds; report time and test accuracy per recipe, and
    each recipe's speed-up over the first (the first's median time over this one's).
    ``seeds_for`` gives some recipes another number of seeds (a slow reference, say); the runs
    stay interleaved, seed by seed, so slow drifts of the machine touch every recipe alike."""
    seeds_for = dict(seeds_for or {})
    unknown = set(seeds_for) - {r.name for r in recipes}
    if unknown:
        raise ValueError(f"seeds given for recipes not benchmarked: {', '.join(sorted(unknown))}")
    n_seeds = {r.name: seeds_for.get(r.name, seeds) for r in recipes}
    dev = resolve_device(device)
    split_time = dev.type == "cpu"  # on accelerators, let the host queue work ahead
    for r in recipes:
        warm_up(r, data, dev)
    runs: dict[str, list[dict]] = {r.name: [] for r in recipes}
    rounds = max(n_seeds.values())
    for round_ in range(rounds):
        for r in recipes:
            seed = round_ - (rounds - n_seeds[r.name])  # fewer seeds: the last rounds
            if seed < 0:
                continue
            res = fit(r.replace(seed=seed), data, device=str(dev), progress=False,
                      split_time=split_time)
            test = evaluate(res.model, data.test, dev, r.normalization)["accuracy"]
            runs[r.name].append({"seed": seed, "train_seconds": res.train_seconds,
                                 "test_accuracy": test, "val_accuracy": res.val_accuracy,
                                 "epochs_run": res.epochs_run})
            if progress:
                progress(f"{r.name} seed {seed}: {res.train_seconds:.2f} s, test {test:.2%}")
    first = [x["train_seconds"] for x in runs[recipes[0].name]]
    rows = []
    for r in recipes:
        times = [x["train_seconds"] for x in runs[r.name]]
        accs = [x["test_accuracy"] for x in runs[r.name]]
        rows.append({"recipe": r.name, "epochs": r.epochs, "seeds": n_seeds[r.name],
                     "seconds": stats(times),
                     "test_accuracy": stats(accs), "reaches_99": statistics.fmean(accs) >= 0.99,
                     "speedup_vs_first": ratio_stats(first, times), "runs": runs[r.name],
                     "config": r.to_dict()})
    return {**environment(dev), "seeds": seeds, "results": rows}


def format_table(result: dict) -> str:
    """The benchmark as a plain-text table."""
    first = result["results"][0]["recipe"]
    head = (f"{'recipe':<12}{'epochs':>7}{'seeds':>6}{'median s':>10}{'spread s':>16}{'mean acc':>10}"
            f"{'min acc':>9}{'vs ' + first:>16}")
    lines = [f"{result['device']} · torch {result['torch']} · {result['seeds']} seeds", head]
    for row in result["results"]:
        s, a, x = row["seconds"], row["test_accuracy"], row["speedup_vs_first"]
        lines.append(f"{row['recipe']:<12}{row['epochs']:>7}"
                     f"{row.get('seeds', result['seeds']):>6}{s['median']:>10.2f}"
                     f"{s['min']:>8.2f}–{s['max']:<7.2f}{a['mean']:>10.2%}{a['min']:>9.2%}"
                     f"{x['ratio']:>9.1f}× ({x['min']:.1f}–{x['max']:.1f})")
    return "\n".join(lines)


# --- The committed results: results/<device>.json, rendered in the book and the README --------

HEADLINE_START, HEADLINE_END = "<!-- headline:start -->", "<!-- headline:end -->"


def load_results(folder: str | Path) -> list[dict]:
    """Every benchmark JSON under ``folder`` (one per device), sorted by file name."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]


def row_of(result: dict, recipe: str) -> dict | None:
    """The row of ``recipe`` in a benchmark result, or None."""
    return next((r for r in result["results"] if r["recipe"] == recipe), None)


def speedup(result: dict, slow: str, fast: str) -> dict[str, float] | None:
    """How many times faster ``fast`` trains than ``slow`` in one benchmark run (ratio of
    medians, with the spread over all pairs of runs), or None if either is missing."""
    a, b = row_of(result, slow), row_of(result, fast)
    if a is None or b is None:
        return None
    return ratio_stats([x["train_seconds"] for x in a["runs"]],
                       [x["train_seconds"] for x in b["runs"]])


def _times(r: dict[str, float] | None, fmt: str) -> str:
    """``2.8× (2.5–3.1)`` for a speed-up, ``81× slower`` for a slow-down, blank for none."""
    if r is None:
        return ""
    if r["ratio"] < 1:
        return f"{1 / r['ratio']:.0f}× slower"
    return f"{r['ratio']:{fmt}}× ({r['min']:{fmt}}–{r['max']:{fmt}})"


def headline_table(results: Sequence[dict], reference: str = "tmf",
                   baseline: str = "baseline") -> str:
    """A Markdown table of every committed benchmark: per device and recipe, the median
    training time with its spread, the test accuracy, and the speed-ups over ``reference`` and
    over ``baseline``'s time to 99 % (only where ``baseline`` reached 99 % mean accuracy)."""
    lines = [f"| device | recipe | seeds | training time, median (min–max) | test accuracy, "
             f"mean (min) | faster than `{reference}` | faster than `{baseline}` to 99 % |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for res in results:
        base = row_of(res, baseline)
        for row in res["results"]:
            s, a = row["seconds"], row["test_accuracy"]
            ref = speedup(res, reference, row["recipe"])
            to99 = (speedup(res, baseline, row["recipe"])
                    if base and base["reaches_99"] and row["reaches_99"] else None)
            cells = [f"{res['device']} ({res['date'][:10]})", f"`{row['recipe']}`",
                     str(row.get("seeds", res["seeds"])),
                     f"{s['median']:.2f} s ({s['min']:.2f}–{s['max']:.2f})",
                     f"{a['mean']:.2%} ({a['min']:.2%})",
                     _times(ref, ".1f") if row["recipe"] != reference else "reference",
                     _times(to99, ".0f") if row["recipe"] != baseline else "reference"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readme_with_headline(readme: str, table: str) -> str:
    """``readme`` with the text between the headline markers replaced by ``table``."""
    start, end = readme.find(HEADLINE_START), readme.find(HEADLINE_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {HEADLINE_START} … {HEADLINE_END} section")
    return readme[:start + len(HEADLINE_START)] + "\n" + table + "\n" + readme[end:]
