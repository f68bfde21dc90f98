"""Transfer learning: MNIST-trained features on another set of digits, with few labels.

The question: with k labelled examples per class of a new digit style (scikit-learn's UCI
digits, brought to MNIST's 28×28 format), does fine-tuning a network trained on MNIST beat
training the same network from scratch? Both sides run through ``fit`` with the same recipe
and the same number of optimizer steps; only the starting weights (and, when asked, which of
them may change) differ.
"""
from __future__ import annotations

import copy
import math

import torch.nn as nn

from mnistlib.data import Split, stratified_split
from mnistlib.recipes import Recipe
from mnistlib.training import FitResult, fit

# Small data, so small batches; Adam with a cosine decay is forgiving across k = 1 … all.
# lr 1e-3 rather than the ``fast`` recipe's 1e-2: fine-tuning should move pretrained weights
# gently. No early stopping: with a handful of labels there is no validation split to spare.
TRANSFER = Recipe(name="transfer", model="fast_cnn", loader="device", batch_size=32,
                  optimizer="adam", lr=1e-3, schedule="cosine", epochs=1)
STEPS = 200  # optimizer steps per run, whatever k is


def holdout(split: Split, test_size: int, seed: int = 0) -> tuple[Split, Split]:
    """A labelled pool and a fixed test set, stratified: every k is then scored on the same
    test set, and few-shot training sets are drawn from the pool only."""
    pool, test = stratified_split(split.labels, test_size, seed)
    return split.take(pool), split.take(test)


def few_shot_split(split: Split, per_class: int | None, seed: int = 0) -> tuple[Split, Split]:
    """``per_class`` labelled examples of every class drawn at random (``None``: all of them),
    and the remainder. Deterministic for a given seed."""
    if per_class is None:
        return split, split.subset(0)
    rest, chosen = stratified_split(split.labels, seed=seed, per_class=per_class)
    return split.take(chosen), split.take(rest)


def freeze_features(model: nn.Module) -> nn.Module:
    """Freeze every parameter but those of the last linear layer (the classifier), so only
    the classifier learns: a linear probe of the pretrained features. In place. (Batch-norm
    running statistics, which are not parameters, still adapt to the new digits.)"""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ValueError("the model has no nn.Linear classifier to keep trainable")
    model.requires_grad_(False)
    last[-1].requires_grad_(True)
    return model


def _run(model: nn.Module | None, train: Split, curve: Split | None, recipe: Recipe,
         steps: int, evals: int, device: str, seed: int) -> FitResult:
    """``steps`` optimizer steps (rounded to whole epochs) and about ``evals`` points of the
    learning curve (at least one per epoch)."""
    steps_per_epoch = math.ceil(len(train) / recipe.batch_size)
    epochs = max(1, round(steps / steps_per_epoch))
    per_epoch = min(steps_per_epoch, max(1, round(evals / epochs)))
    # Never select on ``curve`` (it is usually the test set): no patience, no target.
    recipe = recipe.replace(loader="device", epochs=epochs, evals_per_epoch=per_epoch,
                            seed=seed, patience=None, target_acc=None)
    curve = curve if curve is not None and len(curve) else train
    return fit(recipe, train, curve, device=device, progress=False, model=model)


def fine_tune(model: nn.Module, train: Split, curve: Split | None = None, *,
              freeze: bool = False, recipe: Recipe = TRANSFER, steps: int = STEPS,
              evals: int = 10, device: str = "cpu", seed: int = 0) -> FitResult:
    """Fine-tune a copy of ``model`` (the original is left untouched) on ``train``: all
    weights, or with ``freeze`` only the classifier. ``recipe.normalization`` must be the
    one ``model`` was trained with. ``curve``, when given, is scored at least once an epoch
    for a training curve (nothing is selected on it); with few labels an epoch is one step,
    so leave it out when only the final accuracy matters."""
    tuned = copy.deepcopy(model).requires_grad_(True)
    if freeze:
        freeze_features(tuned)
    return _run(tuned, train, curve, recipe, steps, evals, device, seed)


def from_scratch(train: Split, curve: Split | None = None, *, recipe: Recipe = TRANSFER,
                 steps: int = STEPS, evals: int = 10, device: str = "cpu",
                 seed: int = 0) -> FitResult:
    """The same training from random weights (``recipe.model``): the comparison's baseline."""
    return _run(None, train, curve, recipe, steps, evals, device, seed)
