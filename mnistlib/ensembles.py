"""Ensembles and test-time augmentation: several opinions on each digit, combined.

N models combine either by a majority vote of their predicted digits or by averaging their
probabilities; the average also uses how sure each model is. Test-time augmentation (TTA)
averages one model's probabilities over slightly moved copies of each digit ("views").
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnistlib.augmentation import affine
from mnistlib.data import normalize

View = tuple[float, float, float]  # rotation in degrees, shift right and shift down in pixels
IDENTITY: tuple[View, ...] = ((0.0, 0.0, 0.0),)
METHODS = ("vote", "average")


def tta_views(shift: float = 1.0, angles: Sequence[float] = ()) -> tuple[View, ...]:
    """The unchanged digit, the digit moved by ``shift`` pixels left, right, up and down, and
    the digit rotated by each of ``angles`` degrees."""
    views = list(IDENTITY)
    if shift:
        views += [(0.0, shift, 0.0), (0.0, -shift, 0.0), (0.0, 0.0, shift), (0.0, 0.0, -shift)]
    views += [(float(a), 0.0, 0.0) for a in angles if a]
    return tuple(views)


def _view(x: torch.Tensor, view: View) -> torch.Tensor:
    angle, dx, dy = view
    if not (angle or dx or dy):
        return x  # the identity is skipped, not interpolated
    b = len(x)
    return affine(x, torch.full((b,), float(angle), device=x.device),
                  torch.ones(b, device=x.device),
                  torch.tensor([[dx, dy]], dtype=x.dtype, device=x.device).expand(b, 2))


@torch.no_grad()
def probabilities(model: nn.Module, images: torch.Tensor, normalization: str = "standard",
                  views: Sequence[View] = IDENTITY, device: str | torch.device = "cpu",
                  batch_size: int = 1000) -> torch.Tensor:
    """Softmax probabilities ``[N, 10]`` of ``model`` on uint8 ``images`` ``[N, 28, 28]``,
    averaged over ``views`` (``IDENTITY``: no TTA). On the CPU."""
    if not views:
        raise ValueError("views must hold at least one view (IDENTITY for none)")
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device).unsqueeze(1).float().div(255)
        p = sum(torch.softmax(model(normalize(_view(x, v), normalization)).float(), 1)
                for v in views)
        out.append((p / len(views)).cpu())
    return torch.cat(out) if out else torch.zeros(0, 10)


def member_probabilities(models: Sequence[nn.Module], images: torch.Tensor,
                         normalization: str = "standard", views: Sequence[View] = IDENTITY,
                         device: str | torch.device = "cpu") -> torch.Tensor:
    """Every member's probabilities, stacked: ``[M, N, 10]``. Compute once, combine often."""
    return torch.stack([probabilities(m, images, normalization, views, device) for m in models])


def majority_vote(probs: torch.Tensor) -> torch.Tensor:
    """The digit most members predict, from ``[M, N, C]`` probabilities. A tie goes to the
    tied digit with the highest average probability."""
    votes = F.one_hot(probs.argmax(2), probs.shape[2]).sum(0)  # [N, C]
    tied = votes == votes.max(1, keepdim=True).values
    return probs.mean(0).masked_fill(~tied, -1.0).argmax(1)


def average_vote(probs: torch.Tensor) -> torch.Tensor:
    """The digit with the highest probability averaged over members, from ``[M, N, C]``."""
    return probs.mean(0).argmax(1)


def combine(probs: torch.Tensor, method: str = "average") -> torch.Tensor:
    """Predicted digits ``[N]`` of the ensemble, by ``vote`` or ``average``."""
    if method == "vote":
        return majority_vote(probs)
    if method == "average":
        return average_vote(probs)
    raise ValueError(f"method must be one of {METHODS}, not {method!r}")


def accuracy_vs_n(probs: torch.Tensor, labels: torch.Tensor,
                  methods: Sequence[str] = METHODS) -> dict[str, list]:
    """Accuracy of the ensemble of the first n members, for n = 1 … M, by each method: the
    data of the chapter's accuracy-against-N plot."""
    result: dict[str, list] = {"n": list(range(1, len(probs) + 1))}
    for method in methods:
        result[method] = [float((combine(probs[:n], method) == labels).double().mean())
                          for n in result["n"]]
    return result
