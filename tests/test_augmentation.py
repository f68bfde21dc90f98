import pytest
import torch

from mnistlib.augmentation import Augment, affine, augment, sample_params


def batch(n=8, seed=0):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_zero_strength_is_exactly_the_identity():
    x = batch()
    assert augment(x, Augment()) is x
    assert torch.equal(augment(x, Augment(noise=0.0, rotation=0.0)), x)


@pytest.mark.parametrize("aug", [Augment(rotation=15), Augment(scale=0.1), Augment(translate=2),
                                 Augment(noise=0.2)])
def test_each_sample_gets_its_own_draw(aug):
    x = batch(1).repeat(6, 1, 1, 1)
    y = augment(x, aug, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    diffs = [(y[0] - y[i]).abs().max().item() for i in range(1, 6)]
    assert min(diffs) > 1e-3


def test_parameters_stay_within_their_ranges():
    aug = Augment(rotation=10, scale=0.15, translate=3)
    p = sample_params(10000, aug, torch.Generator().manual_seed(0))
    assert p["angle"].abs().max() <= 10 and p["angle"].abs().max() > 9.5
    assert (p["scale"] - 1).abs().max() <= 0.15 and (p["scale"] - 1).abs().max() > 0.14
    assert p["shift"].abs().max() <= 3 and p["shift"].abs().max() > 2.9
    assert p["angle"].mean().abs() < 0.5  # symmetric


def test_affine_moves_a_dot_where_it_should():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 20] = 1.0  # row 10, column 20
    one, zero = torch.ones(1), torch.zeros(1)
    moved = affine(x, zero, one, torch.tensor([[3.0, -2.0]]))  # 3 right, 2 up
    assert moved[0, 0, 8, 23] == pytest.approx(1.0, abs=1e-4)
    turned = affine(x, torch.tensor([90.0]), one, torch.zeros(1, 2))
    r, c = divmod(int(turned.flatten().argmax()), 28)
    # a quarter turn about the centre (13.5, 13.5) moves (row 10, col 20) to (20, 17) or (7, 10)
    assert (r, c) in {(20, 17), (7, 10)}
    assert turned.max() == pytest.approx(1.0, abs=1e-5)
    block = torch.zeros(1, 1, 28, 28)
    block[0, 0, 12:16, 12:16] = 1.0
    doubled = affine(block, zero, torch.tensor([2.0]), torch.zeros(1, 2))
    assert doubled.sum() == pytest.approx(64.0, rel=0.1)  # area grows by the scale squared


def test_noise_has_the_asked_strength_and_stays_in_range():
    x = torch.full((64, 1, 28, 28), 0.5)
    y = augment(x, Augment(noise=0.1), torch.Generator().manual_seed(0))
    assert (y - x).std().item() == pytest.approx(0.1, rel=0.05)
    assert y.min() >= 0 and y.max() <= 1


def test_bad_strengths_are_refused():
    with pytest.raises(ValueError):
        Augment(rotation=-1)
    with pytest.raises(ValueError):
        Augment(scale=1.0)


def test_elastic_moves_pixels_smoothly_and_keeps_the_ink():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0
    y = augment(x, Augment(elastic=8), torch.Generator().manual_seed(0))
    assert not torch.allclose(y[0], x[0]) and not torch.allclose(y[0], y[1])
    assert (y.sum((1, 2, 3)) / x.sum((1, 2, 3)) - 1).abs().max() < 0.25


def test_new_strengths_default_to_off_so_recipes_train_as_before():
    x = batch()
    aug = Augment(rotation=10, scale=0.1, translate=2)
    assert Augment().elastic == 0
    p = sample_params(len(x), aug, torch.Generator().manual_seed(3))
    before = affine(x, p["angle"], p["scale"], p["shift"])
    assert torch.equal(augment(x, aug, torch.Generator().manual_seed(3)), before)
    with pytest.raises(ValueError):
        Augment(elastic=-1)
