"""Experiments: train recipe variants for some seeds, side by side, one record per run.

Every comparison in the book goes through ``run``: each variant with each seed, the seeds
interleaved (variant A seed 0, variant B seed 0, A seed 1, …) so that drift in the machine's
speed hits every variant alike, after one short untimed warm-up per distinct pipeline; the
clock is ``fit``'s (one timing policy on every device). Each run becomes a ``Run``: its
history, training time, validation accuracy, test accuracy (reported, never chosen on), its
classifier and, when a cache is given, where its checkpoint is. With a cache a run that was
trained before (same recipe, seed, data and library) is loaded instead of trained again: its
record, times included, is the one from when it was trained.

The selection helpers below (which variant wins, when a target was reached) read the
validation split only.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from mnistlib.checkpoints import Cache
from mnistlib.data import MNIST
from mnistlib.devices import describe, resolve_device
from mnistlib.evaluation import Classifier
from mnistlib.provenance import tensor_digest
from mnistlib.recipes import Recipe
from mnistlib.training import fit, time_to

WARMUP_IMAGES = 1024
RECORD = ("history", "train_seconds", "epochs_run", "val_accuracy", "stopped_early",
          "test_accuracy", "device", "peak_memory_mib")


@dataclass
class Run:
    """One trained run of one variant with one seed."""

    variant: str
    recipe: Recipe
    history: list[dict[str, Any]]
    train_seconds: float
    epochs_run: float
    val_accuracy: float
    stopped_early: bool = False
    test_accuracy: float | None = None
    device: str = ""
    peak_memory_mib: float | None = None  # on a CUDA GPU: the most memory the run allocated
    grad_norms: list[float] | None = None  # with ``trace``: the gradient norm of every step
    classifier: Classifier | None = field(default=None, repr=False)
    checkpoint: Path | None = None
    cached: bool = False

    @property
    def seed(self) -> int:
        return self.recipe.seed

    def time_to(self, acc: float, key: str = "train_seconds") -> float | None:
        """Training seconds (or ``epoch``) to ``acc`` validation accuracy; None if never."""
        return time_to(self.history, acc, key)

    def record(self) -> dict[str, Any]:
        """What is kept of the run in JSON (benchmark files, the cache)."""
        return {"variant": self.variant, "seed": self.seed,
                **{k: getattr(self, k) for k in RECORD}}


Runs = dict[str, list[Run]]


def _pipeline(r: Recipe) -> tuple:
    return r.model, str(r.model_args), r.loader, r.batch_size, r.optimizer, r.num_workers, \
        r.channels_last, r.bf16, r.augment.enabled


def warm_up(recipes: Sequence[Recipe], data: MNIST, device: str = "auto",
            images: int = WARMUP_IMAGES) -> None:
    """One short untimed run on ``images`` training images per distinct pipeline (model,
    loader, batch size, optimizer, …), so kernels, allocators and caches are ready."""
    small = data.subset(images, min(1000, len(data.val)))
    for r in {_pipeline(r): r for r in recipes}.values():
        fit(r.replace(epochs=1, patience=None, target_acc=None, evals_per_epoch=1),
            small.train, small.val, device=device, progress=False)


def run(variants: Mapping[str, Recipe] | Sequence[Recipe], data: MNIST,
        seeds: Sequence[int] = (0,), device: str = "auto", *,
        seeds_for: Mapping[str, int] | None = None, test: bool = True,
        test_per_epoch: bool = False, cache: Cache | None = None, trace: bool = False,
        progress: Callable[[str], None] | None = None, bar: bool = False) -> Runs:
    """Train every variant with every seed, interleaved; the runs of each variant by name.

    ``variants``: names to recipes, or recipes (named by ``recipe.name``). ``seeds_for`` gives
    some variants fewer seeds (a slow reference): they take the first of ``seeds``, in the last
    rounds. ``test``: score each delivered model on the test split; ``test_per_epoch``: also
    at every epoch's end (the benchmark's time to a test accuracy). ``cache``: reuse and keep
    trained models (never for timings that are compared: those need one process). ``trace``:
    keep every step's gradient norm (before clipping), which costs a norm per step. ``bar``:
    a progress bar for each training run; ``progress`` receives a line per finished run."""
    if not isinstance(variants, Mapping):
        variants = {r.name: r for r in variants}
    seeds = list(seeds)
    n_seeds = {v: min(len(seeds), (seeds_for or {}).get(v, len(seeds))) for v in variants}
    dev = resolve_device(device)
    digest = tensor_digest(data.train.images, data.train.labels, data.val.images,
                           data.val.labels) if cache else ""
    # round k: every variant with the k-th seed; a variant with fewer seeds joins the last rounds
    todo = [(v, variants[v].replace(seed=seeds[k - len(seeds) + n_seeds[v]]))
            for k in range(len(seeds)) for v in variants if k >= len(seeds) - n_seeds[v]]
    fresh = [r for _, r in todo if not (cache and cache.has(r, digest))]
    if fresh:
        warm_up(fresh, data, str(dev))
    runs: Runs = {v: [] for v in variants}
    for v, r in todo:
        found = cache.get(r, digest, str(dev)) if cache else None
        if found is not None:
            clf, rec = found
            item = Run(v, r, **{k: rec.get(k) for k in RECORD}, classifier=clf,
                       checkpoint=cache.folder(r, digest), cached=True)
            if test and item.test_accuracy is None:
                item.test_accuracy = clf.accuracy(data.test)
        else:
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            norms: list = []
            res = fit(r, data.train, data.val, device=str(dev), progress=bar,
                      test=data.test if test_per_epoch else None,
                      on_step=(lambda step, norm, loss: norms.append(norm)) if trace else None)
            item = Run(v, r, res.history, res.train_seconds, res.epochs_run,
                       res.val_accuracy, res.stopped_early, device=describe(dev),
                       classifier=res.classifier)
            if trace:
                item.grad_norms = [float(n) for n in norms]
            if dev.type == "cuda":
                item.peak_memory_mib = torch.cuda.max_memory_allocated(dev) / 2 ** 20
            if test:
                item.test_accuracy = item.classifier.accuracy(data.test)
            if cache:
                item.checkpoint = cache.put(r, digest, res.model, item.record())
        runs[v].append(item)
        if progress:
            test_text = "" if item.test_accuracy is None else f", test {item.test_accuracy:.2%}"
            progress(f"{v} seed {r.seed}: {item.train_seconds:.1f} s, {item.epochs_run:.3g} "
                     f"epochs, val {item.val_accuracy:.2%}{test_text}"
                     + (" (from the cache)" if item.cached else ""))
    return runs


# --- Summaries, and selection: validation only --------------------------------------------

def stats(values: Sequence[float]) -> dict[str, float]:
    """n, median, mean, standard deviation, min and max of a sample."""
    v = list(values)
    return {"n": len(v), "median": statistics.median(v), "mean": statistics.fmean(v),
            "std": statistics.stdev(v) if len(v) > 1 else 0.0, "min": min(v), "max": max(v)}


def ratio_stats(numerator: Sequence[float], denominator: Sequence[float]) -> dict[str, float]:
    """A ratio of medians, with the spread of the ratio over all pairs of runs (min, max)."""
    pairs = [a / b for a in numerator for b in denominator]
    return {"ratio": statistics.median(numerator) / statistics.median(denominator),
            "min": min(pairs), "max": max(pairs)}


def summary(values: Sequence[float | None]) -> dict[str, float]:
    """``benchmarking.stats`` of the values that exist, plus ``missed``: how many are None
    (a target not reached). All None gives NaN statistics."""
    got = [v for v in values if v is not None]
    nan = float("nan")
    base = stats(got) if got else {"n": 0, "median": nan, "mean": nan, "std": nan,
                                   "min": nan, "max": nan}
    return {**base, "missed": len(values) - len(got)}


def times_to(runs: Sequence[Run], acc: float) -> list[float | None]:
    """Each run's training seconds to ``acc`` validation accuracy (None where not reached)."""
    return [r.time_to(acc) for r in runs]


def speedup_to(reference: Sequence[Run], variant: Sequence[Run], acc: float) -> dict[str, float]:
    """How many times sooner ``variant`` reaches ``acc`` validation accuracy than ``reference``:
    the ratio of the median times, with its spread over pairs of runs; NaN where a run of
    either never got there."""
    a, b = times_to(reference, acc), times_to(variant, acc)
    if None in a or None in b:
        return {"ratio": float("nan"), "min": float("nan"), "max": float("nan")}
    return ratio_stats(a, b)


def fastest(speedups: Mapping[str, Mapping[str, float]]) -> str:
    """The name with the largest speed-up ratio (NaN counts as never)."""
    return max(speedups, key=lambda n: -math.inf if math.isnan(speedups[n]["ratio"])
               else speedups[n]["ratio"])


def mean_val(runs: Sequence[Run]) -> float:
    return statistics.fmean(r.val_accuracy for r in runs)


def winner(runs: Runs) -> str:
    """The variant with the highest mean validation accuracy (on a tie, the first)."""
    return max(runs, key=lambda v: mean_val(runs[v]))


def best_run(runs: Sequence[Run]) -> Run:
    """The run with the highest validation accuracy (on a tie, the first)."""
    return max(runs, key=lambda r: r.val_accuracy)
