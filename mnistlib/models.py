"""The CNNs, in a registry by name. Each variant adds one idea and says so."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from mnistlib.errors import ConfigError, UnknownName

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable:
    def wrap(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        MODELS[name] = cls
        return cls
    return wrap


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; raises ``UnknownName`` naming the known models."""
    if name not in MODELS:
        raise UnknownName(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
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
    border and on full-resolution maps. It crops a frame (``crop`` pixels on each side) that
    MNIST's 20×20 digit box, centred by mass in 28×28, leaves nearly empty, and downsamples with
    strided convolutions instead of max-pooling. ``bn=True`` adds batch normalization after
    both convolutions (the ``fast`` recipe: it steadies the worst seeds)."""

    def __init__(self, width: int = 32, hidden: int = 128, crop: int = 2,
                 width2: int | None = None, bn: bool = False) -> None:
        super().__init__()
        self.crop = crop
        width2 = width2 or 2 * width  # the second convolution's channels
        side = 28 - 2 * crop
        side = ((side - 5) // 2 + 1 - 3) // 2 + 1
        self.conv1 = nn.Conv2d(1, width, 5, stride=2, bias=not bn)
        self.conv2 = nn.Conv2d(width, width2, 3, stride=2, bias=not bn)
        # batch norm after each convolution when asked; named after its convolution, so that
        # freezing "conv1" freezes its normalization too
        self.conv1_bn = nn.BatchNorm2d(width) if bn else nn.Identity()
        self.conv2_bn = nn.BatchNorm2d(width2) if bn else nn.Identity()
        self.fc1 = nn.Linear(width2 * side * side, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    # the convolutional body, by parameter-name prefix: once it is frozen, a recipe with
    # ``cache_frozen`` computes its features once and trains the head on them
    BODY = ("conv1", "conv2")

    def body(self, x: torch.Tensor) -> torch.Tensor:
        if self.crop:
            x = x[:, :, self.crop:-self.crop, self.crop:-self.crop]
        x = F.relu(self.conv1_bn(self.conv1(x)))
        # conv2's output in the standard layout before the normalization: with channels-last
        # inputs the gradient that comes back through the flatten is in the standard layout,
        # and a ReLU whose output and gradient disagree in layout runs its backward ~30× slower
        return torch.flatten(F.relu(self.conv2_bn(self.conv2(x).contiguous())), 1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(features)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def body_frozen(model: nn.Module) -> bool:
    """Whether every parameter of the model's convolutional body (its ``BODY`` prefixes) is
    frozen: from then on, a recipe with ``cache_frozen`` trains the head on stored features."""
    body = getattr(model, "BODY", None)
    if body is None:
        raise ConfigError(f"cache_frozen: {type(model).__name__} names no BODY to cache")
    return not any(p.requires_grad for n, p in model.named_parameters() if n.startswith(body))


# Chapter 5: one backbone, one idea per variant. ``cnn`` → ``cnn_bn`` → ``cnn_res`` → ``cnn_se``
# → ``cnn_cbam``: each adds one idea to the one before, so an ablation table reads top to bottom.

def conv3x3(c_in: int, c_out: int, bn: bool) -> nn.Sequential:
    """A padded 3×3 convolution, with batch norm after it when asked (then without a bias)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not bn),
                         *([nn.BatchNorm2d(c_out)] if bn else []))


class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al. 2018): global average pool, a bottleneck MLP, and a sigmoid
    gate that rescales each channel by how much the whole image needs it."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class SpatialAttention(nn.Module):
    """CBAM's spatial attention (Woo et al. 2018): the channel-wise mean and max of the feature
    map, a 7×7 convolution and a sigmoid gate that rescales each position."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.conv(s))


class Stage(nn.Module):
    """Two 3×3 convolutions: ``conv_a`` changes the width, ``conv_b`` keeps it. The options put
    the chapter's ideas on ``conv_b``'s branch: out = relu([a +] attend(conv_b(a)))."""

    def __init__(self, c_in: int, c_out: int, bn: bool = False, residual: bool = False,
                 se: bool = False, spatial: bool = False) -> None:
        super().__init__()
        self.residual = residual
        self.conv_a = conv3x3(c_in, c_out, bn)
        self.conv_b = conv3x3(c_out, c_out, bn)
        gates = [SqueezeExcite(c_out)] if se else []
        gates += [SpatialAttention()] if spatial else []
        self.attention = nn.Sequential(*gates)  # empty: the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.conv_a(x))
        b = self.attention(self.conv_b(a))
        return F.relu(a + b if self.residual else b)


@register("cnn")
class CNN(nn.Module):
    """The chapter-5 backbone, plain: three stages of two padded 3×3 convolutions (widths w, 2w,
    4w) with 2×2 max-pooling after the first two (28→14→7), global average pooling and one
    linear layer. Small enough to train on a CPU, deep enough to profit from the ideas below.
    ``stem=c`` replaces the first stage by one 5×5 convolution of stride 2 with ``c`` channels
    (28→14), and the two stages that follow have widths w and 2w at 14×14 and 7×7: the work
    moves off the full-resolution maps, where a CPU spends most of its time (the `accurate`
    recipe). ``he_init=True`` replaces PyTorch's default initialization of the convolutions
    with He et al.'s (2015), chapter 5's control for why the plain network trains badly."""

    def __init__(self, width: int = 32, bn: bool = False, residual: bool = False,
                 se: bool = False, spatial: bool = False, he_init: bool = False,
                 stem: int | None = None) -> None:
        super().__init__()
        opts = dict(bn=bn, residual=residual, se=se, spatial=spatial)
        if stem:
            self.stem = nn.Sequential(nn.Conv2d(1, stem, 5, stride=2, padding=2, bias=not bn),
                                      *([nn.BatchNorm2d(stem)] if bn else []), nn.ReLU())
            w: tuple[int, ...] = (width, 2 * width)
            c_in: tuple[int, ...] = (stem, width)
        else:
            self.stem = nn.Identity()
            w, c_in = (width, 2 * width, 4 * width), (1, width, 2 * width)
        self.stages = nn.ModuleList([Stage(a, b, **opts) for a, b in zip(c_in, w)])
        self.fc = nn.Linear(w[-1], 10)
        if he_init:  # He et al. 2015: weights that keep the signal's scale through each ReLU
            convs = [m for m in self.stem.modules() if isinstance(m, nn.Conv2d)]
            for conv in convs + [c[0] for st in self.stages for c in (st.conv_a, st.conv_b)]:
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.stages) - 1:
                x = F.max_pool2d(x, 2)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


@register("cnn_bn")
class CNNBN(CNN):
    """``cnn`` + batch normalization (Ioffe & Szegedy 2015) after every convolution: each layer
    sees inputs of a steady scale, so larger learning rates train stably."""

    def __init__(self, width: int = 32, **kwargs) -> None:
        super().__init__(width, bn=True, **kwargs)


@register("cnn_res")
class CNNRes(CNN):
    """``cnn_bn`` + residual connections (He et al. 2016): each stage adds its first
    convolution's output back to its second's, so the second learns a correction and gradients
    have a short path to the early layers."""

    def __init__(self, width: int = 32, **kwargs) -> None:
        super().__init__(width, bn=True, residual=True, **kwargs)


@register("cnn_se")
class CNNSE(CNN):
    """``cnn_res`` + squeeze-and-excitation channel attention (Hu et al. 2018) on each residual
    branch: the network learns to weight its channels per image."""

    def __init__(self, width: int = 32, **kwargs) -> None:
        super().__init__(width, bn=True, residual=True, se=True, **kwargs)


@register("cnn_cbam")
class CNNCBAM(CNN):
    """``cnn_se`` + CBAM's spatial attention (Woo et al. 2018) after the channel attention on
    each residual branch: the network also learns where in the image to look."""

    def __init__(self, width: int = 32, **kwargs) -> None:
        super().__init__(width, bn=True, residual=True, se=True, spatial=True, **kwargs)


@register("seed_cnn_plus")
class SeedCNNPlus(SeedCNN):
    """The blog's "full system" network: ``seed_cnn`` + batch norm after both convolutions, and
    after the pooling one residual stage at 64 channels with channel (squeeze-and-excitation)
    and spatial (CBAM) attention on its branch. The same head: dropout, fc 9216→128→10."""

    def __init__(self) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(32), nn.BatchNorm2d(64)
        self.block = Stage(64, 64, bn=True, residual=True, se=True, spatial=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.block(F.max_pool2d(x, 2))  # 12×12×64: the seed's 9216 features
        x = self.dropout1(torch.flatten(x, 1))
        x = self.dropout2(F.relu(self.fc1(x)))
        return self.fc2(x)
