"""What a model costs in floating-point operations: per image, and for a whole training run
(its parameters: ``models.count_parameters``).

FLOPs are PyTorch's own count (``torch.utils.flop_counter``) of one forward pass at batch 1:
convolutions and matrix products at 2 FLOPs per multiply-add. Elementwise work (activations,
batch norm, pooling, attention gates) is not counted; it is a few percent for these networks.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from mnistlib.models import body_frozen, create_model


@torch.no_grad()
def count_flops(model: nn.Module) -> int:
    """Forward FLOPs of ``model`` on one 28×28 image, in eval mode."""
    owner = getattr(model, "__self__", model)  # a bound method (a network's body) or a module
    was_training = owner.training
    owner.eval()
    param = next(owner.parameters())
    x = torch.zeros(1, 1, 28, 28, dtype=param.dtype, device=param.device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    owner.train(was_training)
    return counter.get_total_flops()


def training_flops(recipe, images_per_epoch: int) -> int:
    """FLOPs of a whole training run of ``recipe``: forward and backward of every step, counted
    by PyTorch on one image of each phase of the schedule, with frozen layers discounted (a
    frozen layer computes no weight gradient, and the layers below it need no input gradient).
    With ``cache_frozen``, once the body is frozen a step runs the head alone, and the body's
    forward pass over the training split is counted once."""
    from math import ceil
    steps = ceil(images_per_epoch / recipe.batch_size)
    total = recipe.epochs * steps
    cuts = sorted({0, total, *(min(total, round(e * steps)) for e in recipe.freeze.values())})
    model, flops = create_model(recipe.model, **recipe.model_args), 0
    x, y = torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long)
    cached = False
    for start, end in zip(cuts, cuts[1:]):
        for prefix, epochs in recipe.freeze.items():
            for name, p in model.named_parameters():
                if name.startswith(prefix):
                    p.requires_grad_(round(epochs * steps) > start)
        if recipe.cache_frozen and not cached and body_frozen(model):
            cached = True
            flops += count_flops(model.body) * images_per_epoch
        features = model.body(x).detach() if cached else None
        counter = FlopCounterMode(display=False)
        with counter:
            logits = model(x) if features is None else model.head(features)
            torch.nn.functional.cross_entropy(logits, y).backward()
        flops += counter.get_total_flops() * (end - start) * recipe.batch_size
    return flops

