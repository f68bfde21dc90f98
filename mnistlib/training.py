"""One ``fit`` driven by a ``Recipe``: the training loop the whole book reuses.

Timing protocol: the clock is read only after synchronizing the device. ``data_seconds`` is
time spent waiting for the next batch, ``compute_seconds`` the forward pass, backward pass and
optimizer step; their sum is ``train_seconds``. Validation passes are timed separately
(``eval_seconds``) and are not part of the training time. Loading the files into memory and
building the model happen before the clock starts.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnistlib.data import MNIST, make_loader
from mnistlib.devices import autocast, resolve_device, synchronize
from mnistlib.evaluation import accuracy
from mnistlib.models import create_model
from mnistlib.recipes import Recipe

GRAD_NORM_EVERY = 10  # without clipping, the gradient norm is sampled every this many steps


@dataclass
class FitResult:
    """The trained model (best validation weights when early stopping) and its history."""

    model: nn.Module
    recipe: Recipe
    device: str
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    val_accuracy: float = 0.0
    time_to_target_seconds: float | None = None
    stopped_early: bool = False

    @property
    def epochs_run(self) -> float:
        return self.history[-1]["epoch"] if self.history else 0.0

    def time_to(self, acc: float) -> float | None:
        """Training seconds until validation accuracy first reached ``acc`` (None if never)."""
        return next((h["train_seconds"] for h in self.history if h["val_accuracy"] >= acc), None)


def make_optimizer(recipe: Recipe, params) -> torch.optim.Optimizer:
    if recipe.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, betas=recipe.betas,
                                weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, betas=recipe.betas,
                                 weight_decay=recipe.weight_decay)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, nesterov=True,
                           weight_decay=recipe.weight_decay)


def make_schedule(recipe: Recipe, opt: torch.optim.Optimizer, steps_per_epoch: int):
    """A per-step scheduler: step decay happens at epoch boundaries, the others every step."""
    total = recipe.epochs * steps_per_epoch
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: recipe.step_gamma ** (s // steps_per_epoch))
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    if recipe.schedule == "onecycle":
        # OneCycleLR needs a few steps per phase; tiny runs get them (they end early anyway)
        steps = max(total + 1, math.ceil(2 / min(recipe.onecycle_pct_start, 0.5)) + 1)
        # momentum is cycled where the optimizer has one (Adadelta has none)
        cycle = "momentum" in opt.defaults or "betas" in opt.defaults
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, recipe.lr, total_steps=steps, pct_start=recipe.onecycle_pct_start,
            cycle_momentum=cycle)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)


def _grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm([p.grad for p in params])))


def _freeze(model: nn.Module, prefixes: tuple[str, ...], params: list[torch.Tensor]
            ) -> list[torch.Tensor]:
    """Stop training the parameters named with one of ``prefixes``; return those still trained.
    A frozen layer needs no weight gradient, and the layer below it none for its input."""
    frozen = [p for n, p in model.named_parameters() if n.startswith(prefixes)]
    if not frozen:
        raise ValueError(f"no parameter of the model starts with {prefixes}")
    for p in frozen:
        p.requires_grad_(False)
        p.grad = None
    return [p for p in params if p.requires_grad]


def fit(recipe: Recipe, data: MNIST, device: str = "auto", progress: bool | Callable = True,
        model: nn.Module | None = None, split_time: bool = True,
        on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None) -> FitResult:
    """Train as ``recipe`` says on ``data.train``, validating on ``data.val``.

    ``progress``: True shows a tqdm bar, False is silent, a callable receives each history row.
    Pass ``model`` to fine-tune an existing network instead of building ``recipe.model``.
    ``split_time=False`` synchronizes only at evaluations, so an accelerator can queue work
    ahead; the history then counts all training time as compute.
    ``on_step(step, grad_norm, loss)``, if given, is called after every backward pass with the
    step's number (from 1) and two 0-d tensors: the gradient norm before any clipping, and the
    loss. It is for per-step traces, not timings: without clipping it adds a norm per step.
    """
    dev = resolve_device(device)
    torch.manual_seed(recipe.seed)
    model = (model or create_model(recipe.model, **recipe.model_args)).to(dev)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loader_args = dict(normalization=recipe.normalization, channels_last=recipe.channels_last)
    if recipe.loader == "conventional":
        loader_args.update(num_workers=recipe.num_workers, pin_memory=recipe.pin_memory)
    train = make_loader(recipe.loader, data, "train", recipe.batch_size, dev, shuffle=True,
                        augmentation=recipe.augment, seed=recipe.seed, **loader_args)
    val = make_loader("device", data, "val", 1000, dev, shuffle=False,
                      normalization=recipe.normalization, channels_last=recipe.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(recipe, params)
    steps_per_epoch = len(train)
    freeze_at: dict[int, tuple[str, ...]] = {}  # step after which to freeze: name prefixes
    frozen: list[torch.Tensor] = []
    for prefix, epochs in recipe.freeze.items():
        step = round(epochs * steps_per_epoch)
        freeze_at[step] = freeze_at.get(step, ()) + (prefix,)
    sched = make_schedule(recipe, opt, steps_per_epoch)
    eval_at = {round(steps_per_epoch * (k + 1) / recipe.evals_per_epoch) for k in
               range(recipe.evals_per_epoch)}
    result = FitResult(model, recipe, str(dev))
    bar = None
    if progress is True:
        from tqdm.auto import tqdm
        bar = tqdm(total=recipe.epochs * steps_per_epoch, desc=recipe.name, unit="step",
                   leave=False)
    best, best_state, since_best = -1.0, None, 0
    data_s = compute_s = 0.0
    loss_sum, loss_n, norms = torch.zeros((), device=dev), 0, []
    done = False
    for epoch in range(recipe.epochs):
        model.train()
        it = iter(train)
        t2 = time.perf_counter()
        for step in range(1, steps_per_epoch + 1):
            global_step = epoch * steps_per_epoch + step
            if global_step - 1 in freeze_at:
                trained = _freeze(model, freeze_at[global_step - 1], params)
                frozen += [p for p in params if not p.requires_grad]
                params = trained
            if split_time:
                synchronize(dev)
                t0 = time.perf_counter()
            else:
                t0 = t2
            x, y = next(it)
            if split_time:
                synchronize(dev)
                t1 = time.perf_counter()
            else:
                t1 = t0
            with autocast(dev, recipe.bf16):
                loss = F.cross_entropy(model(x), y, label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.clip_norm is not None:
                norms.append(nn.utils.clip_grad_norm_(params, recipe.clip_norm).detach())
            elif step % GRAD_NORM_EVERY == 1 or on_step is not None:
                norms.append(_grad_norm(params).detach())
            if on_step is not None:
                on_step(global_step, norms[-1], loss.detach())
            opt.step()
            sched.step()
            loss_sum += loss.detach()
            loss_n += 1
            if split_time or step in eval_at:
                synchronize(dev)
                t2 = time.perf_counter()
                data_s += t1 - t0
                compute_s += t2 - t1
            if bar is not None:
                bar.update()
            if step not in eval_at:
                continue
            t3 = time.perf_counter()
            val_acc = accuracy(model, val)
            model.train()
            result.eval_seconds += time.perf_counter() - t3
            t2 = time.perf_counter()  # the clock restarts after the evaluation
            row = {
                "epoch": epoch + step / steps_per_epoch,
                "train_loss": float(loss_sum) / loss_n,
                "val_accuracy": val_acc,
                "lr": opt.param_groups[0]["lr"],
                "grad_norm": float(torch.stack(norms).mean()) if norms else float("nan"),
                "data_seconds": data_s,
                "compute_seconds": compute_s,
                "train_seconds": data_s + compute_s,
            }
            result.history.append(row)
            loss_sum, loss_n, norms = torch.zeros((), device=dev), 0, []
            if callable(progress):
                progress(row)
            if bar is not None:
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{val_acc:.4f}")
            if val_acc > best:
                best, since_best = val_acc, 0
                if recipe.patience is not None:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
            if recipe.target_acc is not None and val_acc >= recipe.target_acc:
                result.time_to_target_seconds = row["train_seconds"]
                done = True
            elif recipe.patience is not None and since_best >= recipe.patience:
                done = True
            if done:
                break
        if done:
            result.stopped_early = epoch + 1 < recipe.epochs or step < steps_per_epoch
            break
    if bar is not None:
        bar.close()
    if best_state is not None and best > result.history[-1]["val_accuracy"]:
        model.load_state_dict(best_state)
    for p in frozen:  # freezing is part of the schedule, not of the model fit returns
        p.requires_grad_(True)
    result.train_seconds = data_s + compute_s
    result.val_accuracy = max(best, result.history[-1]["val_accuracy"]) if best_state else \
        result.history[-1]["val_accuracy"]
    return result
