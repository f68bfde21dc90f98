import numpy as np
import pytest
import torch

from mnistlib.images import CENTRE, to_mnist
from mnistlib.styles import uci_digits

R = torch.arange(28.0)


def centre_of_mass(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = images.float()
    mass = x.sum((1, 2))
    return (x.sum(2) * R).sum(1) / mass, (x.sum(1) * R).sum(1) / mass


def ink_box(image: torch.Tensor) -> tuple[int, int]:
    rows, cols = torch.nonzero(image, as_tuple=True)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.fixture(scope="module")
def uci():
    return uci_digits()


def test_uci_digits_come_in_mnists_format(uci):
    assert uci.images.shape == (1797, 28, 28) and uci.images.dtype == torch.uint8
    assert uci.labels.dtype == torch.int64
    assert sorted(uci.labels.unique().tolist()) == list(range(10))
    assert (uci.images.flatten(1).amax(1) >= 240).all()  # the strongest ink is (near) white
    assert (uci.images[:, [0, -1]] == 0).all() and (uci.images[:, :, [0, -1]] == 0).all()
    boxes = torch.tensor([ink_box(im) for im in uci.images])
    assert (boxes <= 20).all() and (boxes.amax(1) >= 19).all()  # fitted into the 20×20 box
    cy, cx = centre_of_mass(uci.images)
    assert ((cy - CENTRE).abs() <= 1).all() and ((cx - CENTRE).abs() <= 1).all()


def test_ink_is_bright_on_a_dark_field(uci):
    assert uci.images.float().mean() < 0.25 * 255  # mostly background, as in MNIST


@pytest.mark.parametrize("h,w", [(40, 10), (6, 30), (3, 3)])
def test_to_mnist_keeps_the_aspect_ratio(h, w):
    ink = np.zeros((50, 50), np.float32)
    ink[5:5 + h, 7:7 + w] = 1.0
    out = to_mnist(ink)
    box = ink_box(out)
    assert max(box) == 20
    assert abs(box[0] / box[1] - h / w) < 0.15 * h / w
    cy, cx = centre_of_mass(out[None])
    assert abs(float(cy) - CENTRE) <= 0.5 and abs(float(cx) - CENTRE) <= 0.5
