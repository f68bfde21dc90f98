"""Batched augmentation with per-sample random parameters: each image gets its own draw.

Works on float images in [0, 1] of shape ``[B, 1, H, W]`` on any device. A strength of zero
is exactly the identity (the operation is skipped, not approximated).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """Strengths: rotation in degrees (±), scale as a relative change (±), translation in
    pixels (±), Gaussian noise as a standard deviation in [0, 1] pixel units."""

    rotation: float = 0.0
    scale: float = 0.0
    translate: float = 0.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rotation", "scale", "translate", "noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"augmentation {name} must be >= 0")
        if self.scale >= 1:
            raise ValueError("augmentation scale must be < 1 (a relative change)")

    @property
    def geometric(self) -> bool:
        return bool(self.rotation or self.scale or self.translate)

    @property
    def enabled(self) -> bool:
        return self.geometric or bool(self.noise)


def _uniform(n: int, bound: float, generator: torch.Generator | None,
             device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * bound


def sample_params(n: int, aug: Augment, generator: torch.Generator | None = None,
                  device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Per-sample parameters: angle (degrees), scale factor, shift (pixels, x and y)."""
    device = torch.device(device)
    return {
        "angle": _uniform(n, aug.rotation, generator, device),
        "scale": 1 + _uniform(n, aug.scale, generator, device),
        "shift": torch.stack([_uniform(n, aug.translate, generator, device) for _ in range(2)], 1),
    }


def affine(x: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor,
           shift: torch.Tensor) -> torch.Tensor:
    """Rotate (degrees), scale and shift (pixels) each image about its centre; zeros outside."""
    b, _, h, w = x.shape
    a = angle.to(x.dtype) * (math.pi / 180)
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale  # output -> input mapping: inverse
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = -sin * w / h, cos
    theta[:, 0, 2] = -(theta[:, 0, 0] * shift[:, 0] * 2 / w + theta[:, 0, 1] * shift[:, 1] * 2 / h)
    theta[:, 1, 2] = -(theta[:, 1, 0] * shift[:, 0] * 2 / w + theta[:, 1, 1] * shift[:, 1] * 2 / h)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(x: torch.Tensor, aug: Augment, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply ``aug`` to a batch of [0, 1] images, each sample with its own random draw."""
    if not aug.enabled:
        return x
    if aug.geometric:
        p = sample_params(len(x), aug, generator, x.device)
        x = affine(x, p["angle"], p["scale"], p["shift"])
    if aug.noise:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = (x + noise * aug.noise).clamp_(0, 1)
    return x
