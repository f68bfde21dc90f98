"""Ensembles and test-time augmentation: several opinions on each digit, combined.

N models combine either by a majority vote of their predicted digits or by averaging their
probabilities; the average also uses how sure each model is. Test-time augmentation (TTA,
``evaluation.tta_views``) averages one model's probabilities over slightly moved copies of each
digit ("views").
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from mnistlib.errors import ConfigError
from mnistlib.evaluation import Predictor, View


def member_probabilities(members: Sequence[Predictor], images: torch.Tensor,
                         views: Sequence[View] | None = None) -> torch.Tensor:
    """Every member's probabilities, stacked: ``[M, N, 10]``. Compute once, combine often.
    ``views``: as in ``Classifier.probabilities`` (None: each member's own)."""
    return torch.stack([m.probabilities(images, views) for m in members])


def majority_vote(probs: torch.Tensor) -> torch.Tensor:
    """The digit most members predict, from ``[M, N, C]`` probabilities. A tie goes to the
    tied digit with the highest average probability."""
    votes = F.one_hot(probs.argmax(2), probs.shape[2]).sum(0)  # [N, C]
    tied = votes == votes.max(1, keepdim=True).values
    return probs.mean(0).masked_fill(~tied, -1.0).argmax(1)


def average_vote(probs: torch.Tensor) -> torch.Tensor:
    """The digit with the highest probability averaged over members, from ``[M, N, C]``."""
    return probs.mean(0).argmax(1)


METHODS = {"vote": majority_vote, "average": average_vote}


def combine(probs: torch.Tensor, method: str = "average") -> torch.Tensor:
    """Predicted digits ``[N]`` of the ensemble, by ``vote`` or ``average``."""
    if method not in METHODS:
        raise ConfigError(f"method must be one of {tuple(METHODS)}, not {method!r}")
    return METHODS[method](probs)


def accuracy_vs_n(probs: torch.Tensor, labels: torch.Tensor,
                  methods: Sequence[str] = tuple(METHODS)) -> dict[str, list]:
    """Accuracy of the ensemble of the first n members, for n = 1 … M, by each method: the
    data of the chapter's accuracy-against-N plot."""
    result: dict[str, list] = {"n": list(range(1, len(probs) + 1))}
    for method in methods:
        result[method] = [float((combine(probs[:n], method) == labels).double().mean())
                          for n in result["n"]]
    return result
