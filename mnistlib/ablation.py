"""One change at a time: train recipe variants side by side and read what each run reached.

``run_variants`` trains every variant for the same seeds, seeds interleaved (variant A seed 0,
variant B seed 0, A seed 1, …) so that drift in the machine's speed hits every variant alike,
after one short untimed warm-up per distinct pipeline. The clock is ``fit``'s: training steps,
data included; evaluations are not counted. ``stop_point`` replays ``fit``'s stopping rules
(patience, target) on a finished history, so one run of a fixed length shows what every rule
would have saved: the steps up to the stop are the same whether or not the run stops there.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch

from mnistlib import benchmarking
from mnistlib.benchmarking import stats
from mnistlib.data import MNIST
from mnistlib.devices import resolve_device
from mnistlib.evaluation import evaluate
from mnistlib.recipes import Recipe
from mnistlib.training import fit


def time_to(history: Sequence[Mapping[str, float]], acc: float, key: str = "train_seconds"
            ) -> float | None:
    """``key`` (training seconds, or ``epoch``) at the first evaluation that reached ``acc``
    validation accuracy; None if none did."""
    return next((h[key] for h in history if h["val_accuracy"] >= acc), None)


def stop_point(history: Sequence[Mapping[str, float]], patience: int | None = None,
               target: float | None = None) -> Mapping[str, float]:
    """The history row at which ``fit`` would have stopped with this ``patience`` (evaluations
    without improvement) and ``target`` (validation accuracy); the last row if neither fires."""
    best, since = -1.0, 0
    for h in history:
        if h["val_accuracy"] > best:
            best, since = h["val_accuracy"], 0
        else:
            since += 1
        if target is not None and h["val_accuracy"] >= target:
            return h
        if patience is not None and since >= patience:
            return h
    return history[-1]


def summary(values: Sequence[float | None]) -> dict[str, float]:
    """``benchmarking.stats`` of the values that exist, plus ``missed``: how many are None
    (a target not reached). All None gives NaN statistics."""
    got = [v for v in values if v is not None]
    nan = float("nan")
    base = stats(got) if got else {"n": 0, "median": nan, "mean": nan, "std": nan,
                                   "min": nan, "max": nan}
    return {**base, "missed": len(values) - len(got)}


def _pipeline(r: Recipe) -> tuple:
    return r.model, r.loader, r.batch_size, r.optimizer, r.num_workers


def warm_up(recipes: Sequence[Recipe], data: MNIST, device: torch.device,
            images: int = 1024) -> None:
    """``benchmarking.warm_up`` once per distinct pipeline (model, loader, batch size,
    optimizer)."""
    for r in {_pipeline(r): r for r in recipes}.values():
        benchmarking.warm_up(r, data, device, images=images)


def run_variants(variants: Mapping[str, Recipe], data: MNIST, seeds: Sequence[int],
                 device: str = "auto", test: bool = False,
                 progress: Callable[[str], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Train every variant with every seed, interleaved; one record per run: ``seed``,
    ``history``, ``train_seconds``, ``epochs_run``, ``val_accuracy``, ``stopped_early`` and,
    with ``test=True``, ``test_accuracy`` of the model the run delivers (report only)."""
    dev = resolve_device(device)
    warm_up(list(variants.values()), data, dev)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for seed in seeds:
        for name, r in variants.items():
            res = fit(r.replace(seed=seed), data, device=str(dev), progress=False)
            row = {"seed": seed, "history": res.history, "train_seconds": res.train_seconds,
                   "epochs_run": res.epochs_run, "val_accuracy": res.val_accuracy,
                   "stopped_early": res.stopped_early}
            if test:
                row["test_accuracy"] = evaluate(res.model, data.test, dev,
                                                r.normalization)["accuracy"]
            runs[name].append(row)
            if progress:
                progress(f"{name} seed {seed}: {res.train_seconds:.1f} s, "
                         f"{res.epochs_run:.3g} epochs, val {res.val_accuracy:.2%}")
    return runs


def times_to(runs: Sequence[Mapping[str, Any]], acc: float) -> list[float | None]:
    """Each run's training seconds to ``acc`` validation accuracy (None where not reached)."""
    return [time_to(r["history"], acc) for r in runs]
