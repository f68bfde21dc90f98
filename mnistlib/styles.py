"""Another digit style: the UCI handwritten digits, made to look like MNIST's.

scikit-learn ships them (``sklearn.datasets.load_digits``: 1,797 digits by 43 other writers,
each an 8×8 grid of ink counts 0..16), so no download is needed. To be read by an MNIST model
they get MNIST's own treatment (LeCun et al.): bright ink on black, cropped to the ink, fitted
into a 20×20 box with the aspect ratio kept, and placed in 28×28 with the centre of mass at the
centre (``images.to_mnist``, the steps ``predict`` takes). The model sees them as it saw MNIST,
only written by other people with other pens.
"""
from __future__ import annotations

import torch

from mnistlib.data import Split
from mnistlib.images import to_mnist


def uci_digits() -> Split:
    """The 1,797 UCI digits in MNIST's format: uint8 images ``[1797, 28, 28]``, labels 0..9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    ink = digits.images / digits.images.max((1, 2), keepdims=True)  # 8×8 counts, strongest 1
    images = torch.stack([to_mnist(x) for x in ink])
    return Split(images, torch.from_numpy(digits.target).long())
