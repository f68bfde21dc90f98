"""Batched augmentation with per-sample random parameters: each image gets its own draw.

Works on float images in [0, 1] of shape ``[B, 1, H, W]`` on any device. A strength of zero
is exactly the identity (the operation is skipped, not approximated).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnistlib.errors import ConfigError

ELASTIC_SIGMA = 4.0  # pixels: Simard et al.'s smoothing of the elastic displacement field


@dataclass(frozen=True)
class Augment:
    """Strengths: rotation in degrees (±), scale as a relative change (±), translation in
    pixels (±), Gaussian noise as a standard deviation in [0, 1] pixel units; ``elastic``: the
    displacement α in pixels of Simard et al.'s elastic distortion (σ = ``ELASTIC_SIGMA``), the
    wobble of a hand."""

    rotation: float = 0.0
    scale: float = 0.0
    translate: float = 0.0
    noise: float = 0.0
    elastic: float = 0.0

    def __post_init__(self) -> None:
        for name in ("rotation", "scale", "translate", "noise", "elastic"):
            if getattr(self, name) < 0:
                raise ConfigError(f"augmentation {name} must be >= 0")
        if self.scale >= 1:
            raise ConfigError("augmentation scale must be < 1 (a relative change)")

    @property
    def geometric(self) -> bool:
        return bool(self.rotation or self.scale or self.translate)

    @property
    def enabled(self) -> bool:
        return self.geometric or bool(self.noise or self.elastic)


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
    return warp(x, affine_theta(x, angle, scale, shift))


def affine_theta(x: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor,
                 shift: torch.Tensor) -> torch.Tensor:
    """``affine``'s maps ``[N, 2, 3]`` for ``warp``, output pixel to input pixel."""
    b, _, h, w = x.shape
    a = angle.to(x.dtype) * (math.pi / 180)
    cos, sin = torch.cos(a) / scale, torch.sin(a) / scale  # output -> input mapping: inverse
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = -sin * w / h, cos
    theta[:, 0, 2] = -(theta[:, 0, 0] * shift[:, 0] * 2 / w + theta[:, 0, 1] * shift[:, 1] * 2 / h)
    theta[:, 1, 2] = -(theta[:, 1, 0] * shift[:, 0] * 2 / w + theta[:, 1, 1] * shift[:, 1] * 2 / h)
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor, field: torch.Tensor | None = None) -> torch.Tensor:
    """Resample each image through its own affine map ``theta`` ``[N, 2, 3]`` (output pixel →
    input pixel, in grid_sample's normalized coordinates, x then y), plus an optional
    displacement ``field`` ``[N, H, W, 2]``; bilinear, zeros outside."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid if field is None else grid + field, mode="bilinear",
                         padding_mode="zeros", align_corners=False)


def elastic_field(n: int, h: int, w: int, alpha: float, generator: torch.Generator | None,
                  device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Simard et al.'s (2003) displacement field ``[N, H, W, 2]`` for ``warp``: uniform noise
    smoothed by a Gaussian of σ = ``ELASTIC_SIGMA`` pixels, scaled to ``alpha`` pixels."""
    noise = torch.rand(n, 2, h, w, generator=generator, device=device, dtype=dtype) * 2 - 1
    r = math.ceil(3 * ELASTIC_SIGMA)
    g = torch.exp(-torch.arange(-r, r + 1, device=device, dtype=dtype) ** 2
                  / (2 * ELASTIC_SIGMA ** 2))
    g = g / g.sum()
    flat = noise.reshape(n * 2, 1, h, w)
    flat = F.conv2d(F.pad(flat, (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, r, r), mode="reflect"), g.view(1, 1, -1, 1))
    field = flat.reshape(n, 2, h, w).permute(0, 2, 3, 1) * alpha
    return field * torch.tensor([2 / w, 2 / h], device=device, dtype=dtype)  # to grid units


def augment(x: torch.Tensor, aug: Augment, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply ``aug`` to a batch of [0, 1] images, each sample with its own random draw."""
    if not aug.enabled:
        return x
    if aug.geometric or aug.elastic:
        p = sample_params(len(x), aug, generator, x.device)
        theta = affine_theta(x, p["angle"], p["scale"], p["shift"])
        field = (elastic_field(len(x), *x.shape[-2:], aug.elastic, generator, x.device, x.dtype)
                 if aug.elastic else None)
        x = warp(x, theta, field)
    if aug.noise:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        x = (x + noise * aug.noise).clamp_(0, 1)
    return x
