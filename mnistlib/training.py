"""One ``fit`` driven by a ``Recipe``: the training loop the whole book reuses.

Timing protocol, one for every device: the clock is read around every step, each time after
synchronizing the device. ``data_seconds`` is time spent waiting for the next batch,
``compute_seconds`` the forward pass, backward pass and optimizer step; their sum is
``train_seconds``. (On a GPU the synchronization costs the overlap of one step with the next,
alike for every recipe compared; it buys the split into data and compute that chapters 2 and 3
measure.) Validation passes are timed separately (``eval_seconds``) and are not part of the
training time. Loading the files into memory and building the model happen before the clock
starts.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnistlib.data import Split, make_loader
from mnistlib.devices import autocast, resolve_device, synchronize
from mnistlib.errors import ConfigError
from mnistlib.evaluation import Classifier
from mnistlib.models import body_frozen, create_model
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

    @property
    def classifier(self) -> Classifier:
        return Classifier(self.model, self.recipe.normalization,
                          {"recipe": self.recipe.name, "seed": self.recipe.seed},
                          views=self.recipe.views)


def time_to(history: Sequence[Mapping[str, float]], acc: float, key: str = "train_seconds"
            ) -> float | None:
    """``key`` (training seconds, or ``epoch``) at the first evaluation that reached ``acc``
    validation accuracy; None if none did. Only the validation split chooses."""
    return next((h[key] for h in history if h["val_accuracy"] >= acc), None)


class Stopper:
    """``fit``'s stopping rules on the validation split: stop once accuracy reaches ``target``,
    or after ``patience`` evaluations without improvement (the best weights are kept)."""

    def __init__(self, patience: int | None = None, target: float | None = None) -> None:
        self.patience, self.target = patience, target
        self.best, self.since_best, self.improved = -1.0, 0, False

    def __call__(self, val_accuracy: float) -> bool:
        """Record one evaluation; True when training should stop here."""
        self.improved = val_accuracy > self.best
        self.best, self.since_best = ((val_accuracy, 0) if self.improved
                                      else (self.best, self.since_best + 1))
        return ((self.target is not None and val_accuracy >= self.target)
                or (self.patience is not None and self.since_best >= self.patience))


def delivered_accuracy(history: Sequence[Mapping[str, float]], patience: int | None = None,
                       target: float | None = None) -> float:
    """Validation accuracy of the model ``fit`` would deliver under these rules: with patience
    it keeps the best weights seen up to the stop, otherwise the weights at the stop."""
    stop = stop_point(history, patience, target)
    if patience is None:
        return stop["val_accuracy"]
    return max(h["val_accuracy"] for h in history if h["epoch"] <= stop["epoch"])


def stop_point(history: Sequence[Mapping[str, float]], patience: int | None = None,
               target: float | None = None) -> Mapping[str, float]:
    """The history row at which ``fit`` would have stopped with these rules; the last row if
    neither fires. The steps before a stop are the same whether or not the run stops there, so
    one run of a fixed length shows what every rule would have saved."""
    stop = Stopper(patience, target)
    return next((h for h in history if stop(h["val_accuracy"])), history[-1])


def make_optimizer(recipe: Recipe, params) -> torch.optim.Optimizer:
    params = list(params)
    if recipe.optimizer == "adadelta":
        return torch.optim.Adadelta(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    # Adam's fused kernel, one pass over all parameters, on the devices that have it: on a CPU
    # its step took 0.17 ms for the fast network's parameters, the per-tensor loop's 0.58 ms
    fused = all(p.device.type in ("cpu", "cuda") for p in params) or None
    if recipe.optimizer in ("adam", "adamw"):
        adam = torch.optim.Adam if recipe.optimizer == "adam" else torch.optim.AdamW
        return adam(params, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay,
                    fused=fused)
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


def lr_fractions(recipe: Recipe, steps_per_epoch: int, steps: int) -> list[float]:
    """The learning rate of each of the first ``steps`` steps, as a fraction of its peak."""
    opt = make_optimizer(recipe, [torch.zeros(1, requires_grad=True)])
    sched, lrs = make_schedule(recipe, opt, steps_per_epoch), []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"] / recipe.lr)
        opt.step()
        sched.step()
    return lrs


def _grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm([p.grad for p in params])))


def _freeze(model: nn.Module, prefixes: tuple[str, ...], params: list[torch.Tensor]
            ) -> list[torch.Tensor]:
    """Stop training the parameters named with one of ``prefixes``; return those still trained.
    A frozen layer needs no weight gradient, and the layer below it none for its input."""
    frozen = [p for n, p in model.named_parameters() if n.startswith(prefixes)]
    if not frozen:
        raise ConfigError(f"no parameter of the model starts with {prefixes}")
    for p in frozen:
        p.requires_grad_(False)
        p.grad = None
    return [p for p in params if p.requires_grad]


def _encode(batches, model: nn.Module, dev: torch.device, bf16: bool) -> None:
    """The training split through the frozen body once, in eval mode (batch norm with its
    running statistics, as validation sees it); the loader yields the features from now on."""
    model.eval()
    with autocast(dev, bf16):
        batches.encode(model.body)
    model.train()


class WeightAverage:
    """An exponential moving average of a model's weights and float buffers (Polyak averaging):
    the average of the last few thousand steps generalizes better than the last step. The decay
    warms up as (1 + n) / (10 + n), so the random start is forgotten quickly."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model, self.decay, self.updates = copy.deepcopy(model), decay, 0
        self.model.requires_grad_(False)
        self.pairs = [(a, b) for a, b in zip(self.model.state_dict().values(),
                                               model.state_dict().values())]

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        floats = [(a, b) for a, b in self.pairs if a.is_floating_point()]
        torch._foreach_lerp_([a for a, _ in floats], [b for _, b in floats], 1 - d)
        for a, b in self.pairs:
            if not a.is_floating_point():
                a.copy_(b)


def fit(recipe: Recipe, train: Split, val: Split, device: str = "auto",
        progress: bool | Callable = True, model: nn.Module | None = None,
        on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
        test: Split | None = None) -> FitResult:
    """Train as ``recipe`` says on ``train``, validating on ``val``.

    ``progress``: True shows a tqdm bar, False is silent, a callable receives each history row.
    Pass ``model`` to fine-tune an existing network instead of building ``recipe.model``.
    ``on_step(step, grad_norm, loss)``, if given, is called after every backward pass with the
    step's number (from 1) and two 0-d tensors: the gradient norm before any clipping, and the
    loss. It is for per-step traces, not timings: without clipping it adds a norm per step.
    ``recipe.drawings`` canvas drawings join ``train`` first (not timed, as loading the files).
    ``test``, if given, is scored at every epoch's end for the record (``test_accuracy`` in
    that history row, untimed); nothing stops or is chosen on it.
    """
    dev = resolve_device(device)
    if recipe.drawings:  # data, prepared before the clock starts as loading the files is
        from mnistlib.drawings import with_drawings
        train = with_drawings(train, recipe.drawings)
    torch.manual_seed(recipe.seed)
    model = (model or create_model(recipe.model, **recipe.model_args)).to(dev)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loader_args = dict(normalization=recipe.normalization, channels_last=recipe.channels_last)
    if recipe.loader == "conventional":
        loader_args.update(num_workers=recipe.num_workers, pin_memory=recipe.pin_memory)
    batches = make_loader(recipe.loader, train, recipe.batch_size, dev, shuffle=True,
                          augmentation=recipe.augment, seed=recipe.seed, **loader_args)
    params = learning = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(recipe, params)
    steps_per_epoch = len(batches)
    sched = make_schedule(recipe, opt, steps_per_epoch)
    eval_at = {round(steps_per_epoch * (k + 1) / recipe.evals_per_epoch) for k in
               range(recipe.evals_per_epoch)}
    result = FitResult(model, recipe, str(dev))
    average = WeightAverage(model, recipe.ema) if recipe.ema else None
    # what validation sees and fit returns: the average of the weights, if the recipe keeps one
    judged = Classifier(average.model if average else model, recipe.normalization,
                        views=recipe.views)
    from tqdm.auto import tqdm
    bar = tqdm(total=recipe.epochs * steps_per_epoch, desc=recipe.name, unit="step",
               leave=False, disable=progress is not True)
    stopper, best_state = Stopper(recipe.patience, recipe.target_acc), None
    data_s = compute_s = 0.0
    loss_sum, loss_n, norms = torch.zeros((), device=dev), 0, []
    done = False
    for epoch in range(recipe.epochs):
        model.train()
        it = iter(batches)
        for step in range(1, steps_per_epoch + 1):
            global_step = epoch * steps_per_epoch + step
            # the name prefixes in recipe.freeze that stop learning now, after global_step - 1 steps
            prefixes = tuple(prefix for prefix, epochs in recipe.freeze.items()
                             if round(epochs * steps_per_epoch) == global_step - 1)
            if prefixes:
                learning = _freeze(model, prefixes, learning)
                if recipe.cache_frozen and not batches.encoded and body_frozen(model):
                    t0 = time.perf_counter()
                    _encode(batches, model, dev, recipe.bf16)
                    synchronize(dev)
                    compute_s += time.perf_counter() - t0
            synchronize(dev)
            t0 = time.perf_counter()
            x, y = next(it)
            synchronize(dev)
            t1 = time.perf_counter()
            with autocast(dev, recipe.bf16):
                logits = model.head(x) if recipe.cache_frozen and batches.encoded else model(x)
                loss = F.cross_entropy(logits, y, label_smoothing=recipe.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.clip_norm is not None:
                norms.append(nn.utils.clip_grad_norm_(learning, recipe.clip_norm).detach())
            elif step % GRAD_NORM_EVERY == 1 or on_step is not None:
                norms.append(_grad_norm(learning).detach())
            if on_step is not None:
                on_step(global_step, norms[-1], loss.detach())
            opt.step()
            sched.step()
            if average is not None:
                average.update()
            loss_sum += loss.detach()
            loss_n += 1
            synchronize(dev)
            t2 = time.perf_counter()
            data_s += t1 - t0
            compute_s += t2 - t1
            bar.update()
            if step not in eval_at:
                continue
            t3 = time.perf_counter()
            val_acc = judged.accuracy(val)
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
            if test is not None and step == steps_per_epoch:
                row["test_accuracy"] = judged.accuracy(test)
            result.eval_seconds += time.perf_counter() - t3
            model.train()
            result.history.append(row)
            loss_sum, loss_n, norms = torch.zeros((), device=dev), 0, []
            if callable(progress):
                progress(row)
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{val_acc:.4f}")
            done = stopper(val_acc)
            if stopper.improved and recipe.patience is not None:
                best_state = copy.deepcopy(judged.model.state_dict())
            if recipe.target_acc is not None and val_acc >= recipe.target_acc:
                result.time_to_target_seconds = row["train_seconds"]
            if done:
                break
        if done:
            result.stopped_early = epoch + 1 < recipe.epochs or step < steps_per_epoch
            break
    bar.close()
    if average is not None:
        model.load_state_dict(average.model.state_dict())
    last = result.history[-1]["val_accuracy"]
    if best_state is not None and stopper.best > last:
        model.load_state_dict(best_state)
    for p in params:  # freezing is part of the schedule, not of the model fit returns
        p.requires_grad_(True)
    result.train_seconds = data_s + compute_s
    result.val_accuracy = stopper.best if best_state is not None else last
    return result
