"""A corruption suite in the spirit of MNIST-C (Mu & Gilmer 2019): how a model trained on clean
digits fares when they are noisy, blurred, moved, faded or scribbled on.

Every corruption has one fixed severity, stated in ``SEVERITY`` below, and is deterministic given
a seed: its random draws come from a seeded CPU ``torch.Generator``, so the same seed gives the
same images on every device. Each works on a batch of float images ``[N, 1, 28, 28]`` in [0, 1].
"""
from __future__ import annotations

import math
from typing import Callable, Hashable, Mapping

import torch
import torch.nn.functional as F

from mnistlib.augmentation import warp
from mnistlib.data import Split
from mnistlib.errors import UnknownName
from mnistlib.evaluation import Predictor

# The severities, in one place. Units are pixels and [0, 1] grey levels unless stated.
SEVERITY: dict[str, float] = {
    "shot_noise": 4.0,       # Poisson noise: photon count of full-white ink (fewer = noisier)
    "impulse_noise": 0.1,    # salt and pepper: fraction of pixels set to black or white
    "gaussian_noise": 0.3,   # standard deviation of additive noise
    "gaussian_blur": 1.2,    # standard deviation of the blur kernel
    "motion_blur": 6.0,      # length of the streak, in a random direction
    "rotate": 35.0,          # degrees, in a random direction
    "scale": 1.4,            # enlarge or shrink by this factor (random which)
    "shear": 0.5,            # horizontal shear factor, random sign
    "translate": 6.0,        # shift length, in a random direction
    "brightness": 0.4,       # added to every pixel
    "contrast": 0.3,         # contrast kept (1 = unchanged)
    "stripe": 5.0,           # width of an inverted vertical band at a random place
    "dotted_line": 2.0,      # dash length (and gap) of a random straight dashed line
    "zigzag": 4.0,           # height of a random zigzag line's teeth above its middle
    "fog": 0.6,              # strength of added smooth (low-frequency) random haze
    "elastic": 34.0,         # displacement scale α of Simard et al.'s elastic distortion (σ = 4)
    "edges": 0.25,           # Sobel edge map: gradient magnitude drawn at full white
}

CORRUPTIONS: dict[str, Callable[[torch.Tensor, torch.Generator, float], torch.Tensor]] = {}


def register(name: str) -> Callable:
    def wrap(fn: Callable) -> Callable:
        CORRUPTIONS[name] = fn
        return fn
    return wrap


def _rand(g: torch.Generator, *shape: int, like: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) draws from the CPU generator, moved to ``like``'s device and dtype."""
    return torch.rand(shape, generator=g).to(like.device, like.dtype)


def _sign(g: torch.Generator, n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.where(_rand(g, n, like=like) < 0.5, -1.0, 1.0).to(like.dtype)


def _eye(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.eye(2, dtype=like.dtype, device=like.device).repeat(n, 1, 1)


def _warp(x: torch.Tensor, a: torch.Tensor, shift: torch.Tensor | None = None,
          field: torch.Tensor | None = None) -> torch.Tensor:
    """Each output pixel p samples its image at ``a @ p + shift`` ([N, 2, 2] and [N, 2], in
    grid_sample's normalized coordinates, x then y), plus ``field``; zeros outside."""
    t = torch.zeros(len(x), 2, dtype=x.dtype, device=x.device) if shift is None else shift
    return warp(x, torch.cat([a, t[..., None]], 2), field)


def _segments(a: torch.Tensor, b: torch.Tensor,
              side: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from every pixel to the segments a→b ([N, 2] in pixels, row then column), and
    the arc length along each segment of the nearest point; both [N, side, side]."""
    r = torch.arange(side, dtype=a.dtype, device=a.device)
    p = torch.stack(torch.meshgrid(r, r, indexing="ij"), -1)  # [side, side, 2]
    a, ab = a[:, None, None], (b - a)[:, None, None]
    t = (((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-6)).clamp(0, 1)
    dist = (p - a - t[..., None] * ab).norm(dim=-1)
    return dist, t * ab.norm(dim=-1)


def _draw(x: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """Draw a white line, about two pixels wide and antialiased, wherever ``dist`` is small."""
    return torch.maximum(x, (1.5 - dist).clamp(0, 1)[:, None])


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with zero padding, as two products with a banded matrix
    (much faster on a CPU than a convolution with one input channel)."""
    side, r = x.shape[-1], math.ceil(3 * sigma)
    i = torch.arange(side, dtype=x.dtype, device=x.device)
    band = torch.exp(-(i[:, None] - i[None, :]) ** 2 / (2 * sigma ** 2))
    band = band * ((i[:, None] - i[None, :]).abs() <= r)
    band = band / band.sum(1, keepdim=True).amax()  # the interior rows sum to one
    return band @ x @ band


@register("shot_noise")
def shot_noise(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    return (torch.poisson((x * s).cpu(), generator=g).to(x.device) / s).clamp(0, 1)


@register("impulse_noise")
def impulse_noise(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    u = _rand(g, *x.shape, like=x)
    return torch.where(u < s / 2, 0.0, torch.where(u < s, 1.0, x))


@register("gaussian_noise")
def gaussian_noise(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    return (x + torch.randn(x.shape, generator=g).to(x.device, x.dtype) * s).clamp(0, 1)


@register("gaussian_blur")
def gaussian_blur(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    return _blur(x, s)


@register("motion_blur")
def motion_blur(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    """Each image convolved with its own streak: a line of length ``s`` at a random angle."""
    n, k = len(x), 2 * math.ceil(s / 2) + 1
    phi = _rand(g, n, like=x) * math.pi
    half = torch.stack([torch.sin(phi), torch.cos(phi)], 1) * (s - 1) / 2
    dist, _ = _segments(k // 2 - half, k // 2 + half, k)
    w = (1 - dist).clamp(min=0)
    w = w / w.sum((1, 2), keepdim=True)
    return F.conv2d(x.transpose(0, 1), w[:, None], padding=k // 2, groups=n).transpose(0, 1)


@register("rotate")
def rotate(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    a = math.radians(s) * _sign(g, len(x), x)
    c, sn = torch.cos(a), torch.sin(a)
    return _warp(x, torch.stack([torch.stack([c, -sn], 1), torch.stack([sn, c], 1)], 1))


@register("scale")
def scale(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    factor = s ** _sign(g, len(x), x)
    return _warp(x, _eye(len(x), x) / factor[:, None, None])


@register("shear")
def shear(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    a = _eye(len(x), x)
    a[:, 0, 1] = s * _sign(g, len(x), x)
    return _warp(x, a)


@register("translate")
def translate(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    phi = _rand(g, len(x), like=x) * 2 * math.pi
    shift = torch.stack([torch.cos(phi), torch.sin(phi)], 1) * s * 2 / x.shape[-1]
    return _warp(x, _eye(len(x), x), -shift)


@register("brightness")
def brightness(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    return (x + s).clamp(0, 1)


@register("contrast")
def contrast(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    mean = x.mean((1, 2, 3), keepdim=True)
    return (mean + (x - mean) * s).clamp(0, 1)


@register("stripe")
def stripe(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    w = x.shape[-1]
    start = (_rand(g, len(x), like=x) * (w - s + 1)).floor()
    col = torch.arange(w, dtype=x.dtype, device=x.device)
    band = ((col >= start[:, None]) & (col < start[:, None] + s))[:, None, None, :]
    return torch.where(band, 1 - x, x)


@register("dotted_line")
def dotted_line(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    """A dashed line through a random point near the centre, at a random angle, edge to edge."""
    n = len(x)
    centre = 7 + _rand(g, n, 2, like=x) * 14
    phi = _rand(g, n, like=x) * math.pi
    d = torch.stack([torch.sin(phi), torch.cos(phi)], 1) * 20
    dist, arc = _segments(centre - d, centre + d)
    return _draw(x, torch.where(arc % (2 * s) < s, dist, math.inf))


@register("zigzag")
def zigzag(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    """A zigzag line across the image, its five vertices alternately ``s`` pixels above and
    below a random middle line (±1 pixel); horizontal or vertical at random."""
    n, k = len(x), 5
    across = torch.linspace(0, 27, k, dtype=x.dtype, device=x.device).expand(n, k)
    up = (torch.arange(k, device=x.device) % 2 == 0) ^ (_rand(g, n, 1, like=x) < 0.5)
    middle = 6 + 16 * _rand(g, n, 1, like=x)
    level = middle + torch.where(up, -s, s) + 2 * _rand(g, n, k, like=x) - 1
    pts = torch.stack([level, across], -1)
    pts = torch.where(_rand(g, n, 1, 1, like=x) < 0.5, pts, pts.flip(-1))
    dist = torch.stack([_segments(pts[:, i], pts[:, i + 1])[0] for i in range(k - 1)]).amin(0)
    return _draw(x, dist)


@register("fog")
def fog(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    """Smooth random haze: coarse noise at two scales, upsampled, each image's ranged to [0, s]."""
    side = x.shape[-2:]
    haze = sum(F.interpolate(_rand(g, len(x), 1, m, m, like=x), size=side, mode="bicubic",
                             align_corners=False) / m for m in (3, 6))
    lo, hi = haze.amin((2, 3), keepdim=True), haze.amax((2, 3), keepdim=True)
    return (x + s * (haze - lo) / (hi - lo)).clamp(0, 1)


@register("elastic")
def elastic(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    """Simard et al. (2003): a random displacement field, smoothed by a Gaussian of σ = 4 pixels
    and scaled by α = ``s`` pixels."""
    n, _, h, w = x.shape
    field = _blur(_rand(g, n, 2, h, w, like=x) * 2 - 1, 4.0) * s  # pixels
    field = field.permute(0, 2, 3, 1) * torch.tensor([2 / w, 2 / h], dtype=x.dtype, device=x.device)
    return _warp(x, _eye(n, x), field=field)


@register("edges")
def edges(x: torch.Tensor, g: torch.Generator, s: float) -> torch.Tensor:
    """Only the outline: the Sobel gradient magnitude, with ``s`` drawn at full white."""
    p = F.pad(x, (1, 1, 1, 1))
    dx, dy = p[..., :, 2:] - p[..., :, :-2], p[..., 2:, :] - p[..., :-2, :]
    gx = (dx[..., :-2, :] + 2 * dx[..., 1:-1, :] + dx[..., 2:, :]) / 8
    gy = (dy[..., :-2] + 2 * dy[..., 1:-1] + dy[..., 2:]) / 8
    return (torch.sqrt(gx ** 2 + gy ** 2) / s).clamp(0, 1)


def corrupt(images: torch.Tensor, name: str, seed: int = 0) -> torch.Tensor:
    """Corrupt uint8 images ``[N, 28, 28]`` with ``name`` at its fixed severity; uint8 out."""
    if name not in CORRUPTIONS:
        raise UnknownName(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")
    g = torch.Generator().manual_seed(seed)
    x = images.unsqueeze(1).float() / 255
    x = CORRUPTIONS[name](x, g, SEVERITY[name])
    return (x.squeeze(1) * 255).round().clamp(0, 255).to(torch.uint8)


def corruption_accuracy(classifier: Predictor, split: Split, names: list[str] | None = None,
                        seed: int = 0) -> dict[str, float]:
    """Accuracy on the clean split (key ``clean``) and under each corruption (all by default)."""
    return corruption_accuracies({0: classifier}, split, names, seed)[0]


def corruption_accuracies(classifiers: Mapping[Hashable, Predictor], split: Split,
                          names: list[str] | None = None, seed: int = 0
                          ) -> dict[Hashable, dict[str, float]]:
    """``corruption_accuracy`` for several classifiers, each corruption computed once for all:
    ``result[key][corruption]``, with ``clean`` first (keys: any hashable, e.g. a tuple)."""
    result = {m: {"clean": c.accuracy(split)} for m, c in classifiers.items()}
    for name in names or list(CORRUPTIONS):
        bad = Split(corrupt(split.images, name, seed), split.labels)
        for m, c in classifiers.items():
            result[m][name] = c.accuracy(bad)
    return result
