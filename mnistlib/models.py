"""The CNNs, in a registry by name. Each variant adds one idea and says so."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable:
    def wrap(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS[name] = cls
        return cls
    return wrap


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; raises ``KeyError`` naming the known models."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@register("seed_cnn")
class SeedCNN(nn.Module):
    """The blog's network, which is the PyTorch MNIST example's ``Net``: two 3×3 convolutions,
    max-pooling, dropout and two fully connected layers (1,199,882 parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(torch.flatten(F.max_pool2d(x, 2), 1))
        x = self.dropout2(F.relu(self.fc1(x)))
        return self.fc2(x)  # logits; the example's log_softmax lives in the loss


@register("tmf_cnn")
class TMFCNN(nn.Module):
    """train_mnist_fast's final network, kept as the speed benchmark's yardstick: conv 1→24 5×5
    and 24→32 3×3, each with max-pooling, then fc 800→256→10."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 24, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(24, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(800, 256), nn.ReLU(), nn.Linear(256, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register("fast_cnn")
class FastCNN(nn.Module):
    """The ``fast`` recipe's network. One idea against the seed: spend no work on the empty
    border and on full-resolution maps. It crops the 2-pixel frame that MNIST's 20×20 digit box
    leaves empty, and downsamples with strided convolutions instead of max-pooling."""

    def __init__(self, width: int = 32, hidden: int = 128, crop: int = 2) -> None:
        super().__init__()
        self.crop = crop
        side = 28 - 2 * crop
        side = ((side - 5) // 2 + 1 - 3) // 2 + 1
        self.conv1 = nn.Conv2d(1, width, 5, stride=2)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, stride=2)
        self.fc1 = nn.Linear(2 * width * side * side, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.crop:
            x = x[:, :, self.crop:-self.crop, self.crop:-self.crop]
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))
