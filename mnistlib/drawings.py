"""Digits as people draw them on a canvas, to test how a model reads drawings.

A finger or a mouse on a canvas makes digits unlike MNIST's pen on paper: a thick round pen of
one width whatever the digit's size, so that a small digit has fat strokes; curly 6s and 9s
whose tails end in a ball; 1s with a flag and a foot; crossed 7s; open and closed 4s; drawn
anywhere on the canvas, at any size, dark on light or light on dark. Each digit here is a few
strokes in a unit box, varied by a random draw (shape, slant, aspect), then rendered with a
round, antialiased pen. The same ``seed`` gives the same set: keep the seeds a model was tuned
on apart from the seed that gives the final figure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from mnistlib.data import Split
from mnistlib.images import digit_from_grey

Stroke = np.ndarray  # [N, 2] points (x, y) in the digit's unit box, y pointing down
TRAINING_SEED, HELD_OUT_SEED = 3, 2  # train, report once; the canvas recipe was chosen on seed 1
CANVASES = ((280, 280), (360, 640), (640, 360), (400, 400))  # (width, height): square, phone


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float,
         n: int = 40) -> Stroke:
    """Points on an ellipse from angle ``a0`` to ``a1`` (degrees; 0 right, 90 down)."""
    t = np.radians(np.linspace(a0, a1, max(2, int(n * abs(a1 - a0) / 180) + 2)))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _line(*points: tuple[float, float]) -> Stroke:
    return np.asarray(points, float)


def _bezier(p0, p1, p2, p3, n: int = 24) -> Stroke:
    t = np.linspace(0, 1, n)[:, None]
    p0, p1, p2, p3 = (np.asarray(p, float) for p in (p0, p1, p2, p3))
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3


def _join(*pieces: Stroke) -> Stroke:
    return np.concatenate(pieces)


def _ball(point: Stroke, size: float) -> Stroke:
    """A small filled ball at a stroke's end: a tight spiral the round pen fills in."""
    x, y = point
    t = np.linspace(0, 4 * math.pi, 40)
    r = size * np.linspace(1, 0, 40)
    return np.stack([x + r * np.cos(t), y + r * np.sin(t)], 1)


def _strokes(digit: int, r: np.random.Generator) -> tuple[list[Stroke], str]:
    """One digit's strokes in the unit box (about 0.6 wide, 1 tall) and its style's name."""
    u = lambda a, b: float(r.uniform(a, b))  # noqa: E731
    if digit == 0:
        start = u(-120, -60)
        s = [_arc(0.3, 0.5, u(0.22, 0.32), 0.5, start, start + 360 + u(-15, 35))]
        return s, "oval"
    if digit == 1:
        style = r.choice(["stick", "flag", "flag and foot"])
        x = u(0.28, 0.36)
        s = [_line((x, 0.0), (x + u(-0.08, 0.02), 1.0))]
        if style != "stick":
            s = [_join(_line((x - u(0.15, 0.28), u(0.15, 0.35)), (x, 0.0)), s[0])]
        if style == "flag and foot":
            w = u(0.18, 0.3)
            s.append(_line((x - w, 1.0), (x + w, 1.0)))
        return s, str(style)
    if digit == 2:
        top = _arc(0.3, 0.28, u(0.24, 0.3), 0.27, u(190, 215), 360 + u(25, 55))
        if r.random() < 0.4:  # a loop at the bottom left
            bottom = _join(_line(top[-1], (0.12, 0.88)), _arc(0.12, 0.92, 0.08, 0.08, -90, 270),
                           _line((0.14, 0.98), (u(0.55, 0.7), 1.0)))
            return [_join(top, bottom)], "curly"
        return [_join(top, _line(top[-1], (0.02, 1.0), (u(0.55, 0.7), u(0.95, 1.02))))], "plain"
    if digit == 3:
        lower = _arc(0.3, 0.74, u(0.26, 0.32), 0.26, -90, u(130, 160))
        if r.random() < 0.3:  # a flat top
            upper = _line((0.05, 0.0), (0.55, 0.0), (0.25, 0.45))
            return [_join(upper, _arc(0.3, 0.74, 0.28, 0.28, -100, u(130, 160)))], "flat top"
        upper = _arc(0.3, 0.25, u(0.22, 0.28), 0.24, u(190, 220), 360 + 90)
        return [_join(upper, lower)], "two bumps"
    if digit == 4:
        bar = u(0.58, 0.7)
        stem = _line((0.45, u(0.0, 0.2)), (0.45 + u(-0.05, 0.03), 1.0))
        if r.random() < 0.5:
            return [_line((0.1, 0.0), (u(0.0, 0.08), bar), (0.65, bar)), stem], "open"
        return [_line((0.45, 0.0), (0.0, bar), (0.65, bar)), _line((0.45, 0.0), (0.45, 1.0))], "closed"
    if digit == 5:
        belly = _arc(0.28, 0.68, u(0.26, 0.32), 0.3, u(205, 230), 360 + u(120, 150))
        body = _join(_line((0.08, 0.0), (0.06, 0.42)), belly)
        return [body, _line((0.08, 0.0), (u(0.5, 0.62), u(-0.03, 0.03)))], "two strokes"
    if digit == 6:
        rx, ry, cy = u(0.24, 0.3), u(0.2, 0.27), u(0.7, 0.75)
        loop = _arc(0.3, cy, rx, ry, 180, 180 - 360 - u(0, 25))
        stem = _bezier((u(0.45, 0.6), u(0.0, 0.08)), (0.15, 0.05), (0.3 - rx, 0.35), loop[0])
        style = str(r.choice(["plain", "ball", "curl", "curl and ball"]))
        first = [stem]
        if style == "ball":
            first = [_ball(stem[0], u(0.04, 0.09)), stem]
        elif style.startswith("curl"):  # the tail curls round into a small loop
            c = u(0.06, 0.11)
            curl = _arc(stem[0][0] - c, stem[0][1] + c, c, c, u(60, 120), -180)
            first = [curl, stem]
            if style == "curl and ball":
                first = [_ball(curl[0], u(0.04, 0.08)), *first]
        return [_join(*first, loop)], style
    if digit == 7:
        top = _line((0.0, u(0.0, 0.05)), (0.6, 0.0), (u(0.15, 0.3), 1.0))
        if r.random() < 0.3:  # a small tick down at the top left
            top = _join(_line((0.0, 0.15)), top)
        strokes = [top]
        style = "plain"
        if r.random() < 0.5:
            strokes.append(_line((u(0.1, 0.2), 0.5), (u(0.5, 0.6), 0.5)))
            style = "crossed"
        return strokes, style
    if digit == 8:
        s = np.linspace(0, 2 * math.pi + u(0, 0.4), 160)
        top, bottom = u(0.2, 0.26), u(0.26, 0.32)
        y = 0.5 - 0.5 * np.cos(s)
        amp = np.where(y < 0.5, top, bottom)
        x = 0.3 + amp * np.sin(2 * s) * (1 if r.random() < 0.5 else -1)
        return [np.stack([x, y], 1)], "figure eight"
    # 9: a loop at the top, then a straight or curly stem
    rx, ry = u(0.24, 0.3), u(0.2, 0.26)
    loop = _arc(0.3, ry + 0.02, rx, ry, u(-10, 20), -360 + u(-10, 20))
    style = str(r.choice(["straight", "curly", "ball", "curl and ball"]))
    right = (0.3 + rx, ry + 0.02)
    if style == "straight":
        stem = _line(right, (0.3 + rx - u(0.0, 0.1), 1.0))
        return [_join(loop, stem)], style
    stem = _bezier(right, (0.3 + rx, 0.8), (0.4, 1.02), (u(0.05, 0.15), u(0.85, 0.92)))
    if style == "ball":
        return [_join(loop, stem, _ball(stem[-1], u(0.04, 0.09)))], style
    c = u(0.06, 0.11)  # the tail curls up into a small loop
    curl = _arc(stem[-1][0], stem[-1][1] - c, c, c, 90, u(300, 420))
    if style == "curl and ball":
        return [_join(loop, stem, curl, _ball(curl[-1], u(0.04, 0.08)))], style
    return [_join(loop, stem, curl)], style


def _transform(strokes: list[Stroke], r: np.random.Generator) -> list[Stroke]:
    """A person's slant, aspect and rotation, and a little wobble of the hand."""
    angle = math.radians(r.uniform(-12, 12))
    shear, aspect = r.uniform(-0.3, 0.15), r.uniform(0.75, 1.35)
    m = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    m = m @ np.array([[aspect, shear], [0, 1]])
    out = []
    for s in strokes:
        t = np.linspace(0, 1, len(s))[:, None]
        wobble = sum(r.uniform(0, 0.012, 2) * np.sin(2 * math.pi * (f * t + r.uniform(0, 1, 2)))
                     for f in (1.5, 3.5))
        out.append((s - 0.5) @ m.T + wobble)
    return out


def render(strokes: list[Stroke], canvas: tuple[int, int], pen: float, ink: int = 0,
           page: int = 255) -> np.ndarray:
    """Draw ``strokes`` (in pixels) with a round antialiased pen ``pen`` pixels wide on a
    ``canvas`` (width, height) page: uint8 grey ``[height, width]``. Drawn at 4× and averaged
    down, as a browser's canvas antialiases its strokes."""
    ss = 4
    w, h = canvas
    im = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(im)
    r = pen * ss / 2
    for s in strokes:
        p = s * ss
        draw.line([tuple(v) for v in p], fill=255, width=max(1, round(pen * ss)))
        for x, y in p:  # round caps and joins
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    cover = np.asarray(im.reduce(ss), np.float64) / 255
    return np.round(page + (ink - page) * cover).astype(np.uint8)


@dataclass(frozen=True)
class Drawing:
    """One drawn digit: the grey image, its label, and how it was drawn (the style, the
    canvas's width and height, dark ink on a light page or the reverse)."""

    image: np.ndarray
    label: int
    style: str
    canvas: tuple[int, int]
    dark_ink: bool


def draw_digit(digit: int, r: np.random.Generator,
               canvases: Sequence[tuple[int, int]] = CANVASES) -> Drawing:
    """One digit drawn at a random size and place on a random canvas (width, height) of
    ``canvases``, in either polarity."""
    canvas = tuple(canvases[int(r.integers(len(canvases)))])
    side = min(canvas)
    strokes, style = _strokes(digit, r)
    strokes = _transform(strokes, r)
    pen = float(r.uniform(0.035, 0.13)) * side  # one pen for the canvas, whatever the digit's size
    lo = np.min([s.min(0) for s in strokes], 0)
    extent = np.max([s.max(0) for s in strokes], 0) - lo
    # The digit's height on the canvas: a quarter of it to most of it, the pen at most a
    # quarter of that, and the whole digit on the canvas.
    tall = max(float(r.uniform(0.25, 0.85)) * side, 4 * pen)
    scale = min(tall / extent[1], (canvas[0] - 2 * pen) / extent[0],
                (canvas[1] - 2 * pen) / extent[1])
    strokes = [(s - lo) / extent[1] for s in strokes]
    height = scale * extent[1]
    free = np.maximum(np.asarray(canvas) - extent / extent[1] * height - pen, 0)
    corner = pen / 2 + r.uniform(0, 1, 2) * free
    dark_ink = bool(r.random() < 0.5)
    page, ink = (int(r.integers(225, 256)), int(r.integers(0, 60)))
    if not dark_ink:
        page, ink = int(r.integers(0, 40)), int(r.integers(200, 256))
    strokes = [s * height + corner for s in strokes]
    return Drawing(render(strokes, canvas, pen, ink, page), digit, style, canvas, dark_ink)


def drawn_digits(n: int, seed: int, canvases: Sequence[tuple[int, int]] = CANVASES
                 ) -> list[Drawing]:
    """``n`` drawings, the digits 0–9 in turn, each with its own random draw from ``seed``."""
    r = np.random.default_rng(seed)
    return [draw_digit(i % 10, r, canvases) for i in range(n)]


def as_split(drawings: list[Drawing]) -> Split:
    """The drawings as ``predict`` reads them (``images.load_digit``'s steps): uint8 digits
    ``[N, 28, 28]`` and their labels, for ``Predictor.accuracy``."""
    digits = [digit_from_grey(d.image.astype(np.float32) / 255) for d in drawings]
    return Split(torch.stack(digits), torch.tensor([d.label for d in drawings]))


def with_drawings(train: Split, n: int, seed: int = TRAINING_SEED,
                  canvases: Sequence[tuple[int, int]] = ((280, 280),)) -> Split:
    """``train`` and ``n`` drawings (``TRAINING_SEED``: never the tuning or held-out seed), as
    ``predict`` reads them: MNIST's pens on paper, and a finger's or a mouse's on a canvas."""
    drawn = as_split(drawn_digits(n, seed, canvases))
    return Split(torch.cat([train.images, drawn.images]), torch.cat([train.labels, drawn.labels]))
