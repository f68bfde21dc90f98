"""Accuracy, predictions, per-class accuracy and the confusion matrix."""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn as nn

from mnistlib.data import Split, normalize


@torch.no_grad()
def predict(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities and labels for every batch, on the CPU."""
    model.eval()
    probs, labels = [], []
    for x, y in batches:
        probs.append(torch.softmax(model(x).float(), 1).cpu())
        labels.append(y.cpu())
    return torch.cat(probs), torch.cat(labels)


@torch.no_grad()
def accuracy(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    model.eval()
    correct = total = 0
    for x, y in batches:
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    return correct / total


def split_batches(split: Split, device: torch.device | str, normalization: str = "standard",
                  batch_size: int = 1000):
    """Unshuffled, unaugmented batches of a split, for evaluation."""
    for i in range(0, len(split), batch_size):
        x = normalize(split.images[i:i + batch_size].to(device).unsqueeze(1), normalization)
        yield x, split.labels[i:i + batch_size].to(device)


def confusion_matrix(pred: torch.Tensor, labels: torch.Tensor, n: int = 10) -> torch.Tensor:
    """``[true, predicted]`` counts."""
    return torch.bincount(labels * n + pred, minlength=n * n).reshape(n, n)


def per_class_accuracy(cm: torch.Tensor) -> torch.Tensor:
    return cm.diag().double() / cm.sum(1).clamp(min=1)


def evaluate(model: nn.Module, split: Split, device: torch.device | str,
             normalization: str = "standard") -> dict:
    """Accuracy, per-class accuracy and confusion matrix of ``model`` on ``split``."""
    probs, labels = predict(model, split_batches(split, device, normalization))
    pred = probs.argmax(1)
    cm = confusion_matrix(pred, labels)
    return {"accuracy": float((pred == labels).double().mean()),
            "per_class_accuracy": per_class_accuracy(cm).tolist(),
            "confusion_matrix": cm.tolist(), "probs": probs, "labels": labels}
