"""The classifier contract, and what every page asks of a trained model: probabilities,
predictions, accuracy, per-class accuracy and the confusion matrix.

A ``Classifier`` is a trained network with the input normalization it was trained with, so
that every caller hands it raw uint8 digits ``[N, 28, 28]`` and nobody passes the
normalization around. Evaluation, corruptions, ensembles, export, the prediction browser and
the CLI all use it; an exported ONNX file (``export.OnnxModel``) honours the same contract.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn as nn

from mnistlib.augmentation import affine
from mnistlib.data import Split, normalize

View = tuple[float, float, float]  # rotation in degrees, shift right and shift down in pixels
IDENTITY: tuple[View, ...] = ((0.0, 0.0, 0.0),)


def apply_view(x: torch.Tensor, view: View) -> torch.Tensor:
    """``[B, 1, H, W]`` images in [0, 1], rotated and moved as ``view`` says."""
    angle, dx, dy = view
    if not (angle or dx or dy):
        return x  # the identity is skipped, not interpolated
    b = len(x)
    return affine(x, torch.full((b,), float(angle), device=x.device),
                  torch.ones(b, device=x.device),
                  torch.tensor([[dx, dy]], dtype=x.dtype, device=x.device).expand(b, 2))


def tta_views(shift: float = 1.0, angles: Sequence[float] = (), diagonals: bool = False
              ) -> tuple[View, ...]:
    """The unchanged digit, the digit moved by ``shift`` pixels left, right, up and down (with
    ``diagonals``, also along the four diagonals: the 3×3 grid of moves), and the digit rotated
    by each of ``angles`` degrees."""
    views = list(IDENTITY)
    if shift:
        views += [(0.0, shift, 0.0), (0.0, -shift, 0.0), (0.0, 0.0, shift), (0.0, 0.0, -shift)]
        if diagonals:
            views += [(0.0, dx, dy) for dx in (shift, -shift) for dy in (shift, -shift)]
    views += [(float(a), 0.0, 0.0) for a in angles if a]
    return tuple(views)


class Predictor:
    """The contract: ``probabilities`` of uint8 digits; predictions and accuracy follow."""

    def probabilities(self, images: torch.Tensor, views: Sequence[View] | None = None
                      ) -> torch.Tensor:
        """``views``: the test-time augmentation to average over; None: the predictor's own."""
        raise NotImplementedError

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted digits, int64 ``[N]``."""
        return self.probabilities(images).argmax(1)

    def accuracy(self, split: Split, views: Sequence[View] | None = None) -> float:
        pred = self.probabilities(split.images, views).argmax(1)
        return float((pred == split.labels).double().mean()) if len(split) else float("nan")


@dataclass
class Classifier(Predictor):
    """A trained network (evaluated on the device its weights are on) and the normalization
    it was trained with; ``meta`` says what made it (recipe, seed, …)."""

    model: nn.Module
    normalization: str = "standard"
    meta: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 1000
    views: tuple[View, ...] = IDENTITY  # its own test-time augmentation (the recipe's tta_shift)

    @property
    def device(self) -> torch.device:
        p = next(iter([*self.model.parameters(), *self.model.buffers()]), None)
        return p.device if p is not None else torch.device("cpu")

    @torch.no_grad()
    def probabilities(self, images: torch.Tensor, views: Sequence[View] | None = None
                      ) -> torch.Tensor:
        """Softmax probabilities ``[N, 10]`` on the CPU of uint8 digits (or float ones in
        [0, 1]), averaged over ``views`` (test-time augmentation; ``IDENTITY``: none; None: the
        classifier's own ``views``)."""
        views = self.views if views is None else views
        if not views:
            raise ValueError("views must hold at least one view (IDENTITY for none)")
        was_training = self.model.training
        self.model.eval()
        out = []
        for i in range(0, len(images), self.batch_size):
            x = images[i:i + self.batch_size].to(self.device)
            x = x.unsqueeze(1) if x.dim() == 3 else x
            x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
            p = sum(torch.softmax(self.model(normalize(apply_view(x, v), self.normalization))
                                  .float(), 1) for v in views)
            out.append((p / len(views)).cpu())
        self.model.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, 10)


def confusion_matrix(pred: torch.Tensor, labels: torch.Tensor, n: int = 10) -> torch.Tensor:
    """``[true, predicted]`` counts."""
    return torch.bincount(labels * n + pred, minlength=n * n).reshape(n, n)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    return cm.diag().double() / cm.sum(1).clamp(min=1)


def evaluate(classifier: Predictor, split: Split, views: Sequence[View] | None = None) -> dict:
    """Accuracy, per-class accuracy, confusion matrix and probabilities on ``split``."""
    probs = classifier.probabilities(split.images, views)
    pred = probs.argmax(1)
    cm = confusion_matrix(pred, split.labels)
    return {"accuracy": float((pred == split.labels).double().mean()),
            "per_class_accuracy": per_class_accuracy(cm).tolist(),
            "confusion_matrix": cm.tolist(), "probs": probs, "labels": split.labels}
