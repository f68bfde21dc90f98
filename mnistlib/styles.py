"""Another digit style: the UCI handwritten digits, made to look like MNIST's.

scikit-learn ships them (``sklearn.datasets.load_digits``: 1,797 digits by 43 other writers,
each an 8×8 grid of ink counts 0..16), so no download is needed. To be read by an MNIST model
they get MNIST's own treatment (LeCun et al.): bright ink on black, cropped to the ink, fitted
into a 20×20 box with the aspect ratio kept, and placed in 28×28 with the centre of mass at the
centre. The model sees them as it saw MNIST, only written by other people with other pens.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mnistlib.data import Split

BOX, SIDE = 20, 28     # MNIST: the digit fits in 20×20, placed in 28×28
CENTRE = 14.0          # MNIST's mean centre of mass, (row, column) in pixel indices (measured)


def fit_and_centre(ink: torch.Tensor) -> torch.Tensor:
    """One digit as float ink ``[H, W]`` (bright on 0) to MNIST's uint8 ``[28, 28]``: crop to
    the ink, fit into 20×20 keeping the aspect ratio, centre by mass, strongest ink at 255."""
    rows, cols = torch.nonzero(ink > 0, as_tuple=True)
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1].float()
    scale = BOX / max(ink.shape)
    h, w = (max(1, round(n * scale)) for n in ink.shape)
    small = F.interpolate(ink[None, None], size=(h, w), mode="bilinear", align_corners=False,
                          antialias=True)[0, 0].clamp(min=0)
    small = small / small.max()
    mass = small.sum()
    cy = float((small.sum(1) * torch.arange(h)).sum() / mass)
    cx = float((small.sum(0) * torch.arange(w)).sum() / mass)
    top = min(max(round(CENTRE - cy), 0), SIDE - h)
    left = min(max(round(CENTRE - cx), 0), SIDE - w)
    out = torch.zeros(SIDE, SIDE)
    out[top:top + h, left:left + w] = small
    return (out * 255).round().to(torch.uint8)


def uci_digits() -> Split:
    """The 1,797 UCI digits in MNIST's format: uint8 images ``[1797, 28, 28]``, labels 0..9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    ink = torch.from_numpy(digits.images).float() / 16  # 8×8 counts of inked pixels, 0..16
    images = torch.stack([fit_and_centre(x) for x in ink])
    return Split(images, torch.from_numpy(digits.target).long())
