import pytest
import torch
import torch.nn as nn

from mnistlib.evaluation import Classifier

from mnistlib import corruptions as C
from mnistlib.corruptions import CORRUPTIONS, SEVERITY, corrupt, corruption_accuracy
from tests.conftest import synthetic_split

# Corruptions with no random draw: the seed cannot change them.
SEEDLESS = {"gaussian_blur", "brightness", "contrast", "edges"}


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return synthetic_split(20, 5).images


def test_at_least_ten_corruptions_each_with_one_stated_severity():
    assert len(CORRUPTIONS) >= 10
    assert set(SEVERITY) == set(CORRUPTIONS)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corruption_is_deterministic_uint8_and_changes_the_images(name, images):
    out = corrupt(images, name, seed=0)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert torch.equal(out, corrupt(images, name, seed=0))  # same seed, same images
    changed = (out.int() - images.int()).abs() > 8
    assert changed.flatten(1).any(1).all(), "every image is changed"
    assert changed.float().mean() > 0.02
    if name not in SEEDLESS:
        assert not torch.equal(out, corrupt(images, name, seed=1))  # another seed, other draws


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_the_severity_comes_from_the_table(name, images, monkeypatch):
    out = corrupt(images, name)
    monkeypatch.setitem(SEVERITY, name, SEVERITY[name] * 0.5)
    assert not torch.equal(out, corrupt(images, name))


def test_severities_mean_what_they_say():
    black = torch.zeros(50, 28, 28, dtype=torch.uint8)
    grey = torch.full((50, 28, 28), 128, dtype=torch.uint8)
    assert (corrupt(black, "brightness") == round(255 * SEVERITY["brightness"])).all()
    salted = corrupt(grey, "impulse_noise")
    hit = ((salted == 0) | (salted == 255)).float().mean()
    assert abs(hit - SEVERITY["impulse_noise"]) < 0.01
    noise = corrupt(grey, "gaussian_noise").float() - 128
    robust_std = 1.4826 * noise.abs().median() / 255  # unaffected by clipping at 0 and 255
    assert abs(robust_std - SEVERITY["gaussian_noise"]) < 0.01
    dot = torch.zeros(50, 28, 28, dtype=torch.uint8)
    dot[:, 13:15, 13:15] = 255
    moved = corrupt(dot, "translate").float()
    r = torch.arange(28.0)
    cy = (moved.sum(2) * r).sum(1) / moved.sum((1, 2))
    cx = (moved.sum(1) * r).sum(1) / moved.sum((1, 2))
    shift = torch.hypot(cy - 13.5, cx - 13.5)
    assert torch.allclose(shift, torch.full_like(shift, SEVERITY["translate"]), atol=0.1)


def test_unknown_corruption_names_the_known_ones(images):
    with pytest.raises(KeyError, match="shot_noise"):
        corrupt(images, "snow")


class BlockReader(nn.Module):
    """A perfect classifier of the synthetic digits: which of the ten blocks is lit."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks = [(4 + 6 * (c // 4), 4 + 6 * (c % 4)) for c in range(10)]
        return torch.stack([x[:, 0, r:r + 6, c:c + 6].mean((1, 2)) for r, c in blocks], 1)


def test_corruption_accuracy_scores_the_corrupted_images():
    split = synthetic_split(100, 6)
    acc = corruption_accuracy(Classifier(BlockReader().eval()), split,
                              names=["brightness", "translate"])
    assert list(acc) == ["clean", "brightness", "translate"]
    assert acc["clean"] == 1.0 and acc["brightness"] == 1.0  # a uniform shift keeps the argmax
    assert acc["translate"] < 0.9  # a 6-pixel move puts the block in its neighbour's place


def test_corruption_accuracies_match_one_model_at_a_time():
    split = synthetic_split(60, 7)
    models = {"reader": Classifier(BlockReader()),
              "shifted": Classifier(nn.Sequential(BlockReader(), nn.Identity()))}
    names = ["translate", "gaussian_noise"]
    table = C.corruption_accuracies(models, split, names=names, seed=3)
    assert list(table) == ["reader", "shifted"]
    for m, clf in models.items():
        assert table[m] == corruption_accuracy(clf, split, names=names, seed=3)
