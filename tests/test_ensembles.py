import pytest
import torch

from conftest import synthetic_split
from mnistlib import ensembles as en
from mnistlib.data import normalize
from mnistlib.evaluation import IDENTITY, Classifier, tta_views
from mnistlib.models import FastCNN


def tiny_model(seed: int = 0) -> FastCNN:
    torch.manual_seed(seed)
    return FastCNN(width=4, hidden=16).eval()


def test_vote_and_average_can_disagree():
    # Two members say 1 weakly, one says 0 strongly: the vote picks 1, the average 0.
    probs = torch.tensor([[[0.9, 0.1, 0.0]], [[0.4, 0.6, 0.0]], [[0.4, 0.6, 0.0]]])
    assert en.majority_vote(probs).tolist() == [1]
    assert en.average_vote(probs).tolist() == [0]
    assert en.combine(probs, "vote").tolist() == [1]
    assert en.combine(probs, "average").tolist() == [0]
    with pytest.raises(ValueError, match="method"):
        en.combine(probs, "median")


def test_vote_ties_go_to_the_tied_digit_with_the_higher_mean():
    probs = torch.tensor([[[0.6, 0.4]], [[0.3, 0.7]]])  # one vote each; means 0.45 vs 0.55
    assert en.majority_vote(probs).tolist() == [1]
    # Digit 2 has the highest mean but no vote: the vote still picks between 0 and 1.
    probs = torch.tensor([[[0.40, 0.24, 0.36]], [[0.26, 0.40, 0.34]]])
    assert en.average_vote(probs).tolist() == [2]
    assert en.majority_vote(probs).tolist() == [0]


def test_accuracy_vs_n_uses_the_first_n_members():
    labels = torch.tensor([0, 1])
    probs = torch.tensor([
        [[0.9, 0.1], [0.6, 0.4]],    # member 1: right, wrong
        [[0.2, 0.8], [0.3, 0.7]],    # member 2: wrong, right
        [[0.45, 0.55], [0.1, 0.9]],  # member 3: wrong, right
    ])
    curve = en.accuracy_vs_n(probs, labels)
    assert curve["n"] == [1, 2, 3]
    assert curve["average"] == [0.5, 1.0, 1.0]  # sample 0's mean: 0.55, then 0.52
    assert curve["vote"] == [0.5, 1.0, 0.5]     # two ties won by the mean, then 1-2 on sample 0


def test_identity_view_is_plain_prediction():
    model, split = tiny_model(), synthetic_split(40, 3)
    with torch.no_grad():
        want = torch.softmax(model(normalize(split.images.unsqueeze(1), "standard")), 1)
    got = Classifier(model).probabilities(split.images, views=IDENTITY)
    assert got.shape == (40, 10) and torch.allclose(got, want, atol=1e-6)


def test_a_shift_view_sees_the_shifted_digit():
    model, images = tiny_model(), synthetic_split(20, 4).images
    shifted = torch.zeros_like(images)
    shifted[:, :, 1:] = images[:, :, :-1]  # one pixel to the right, zeros entering
    with torch.no_grad():
        want = torch.softmax(model(normalize(shifted.unsqueeze(1), "standard")), 1)
    got = Classifier(model).probabilities(images, views=[(0.0, 1.0, 0.0)])
    assert torch.allclose(got, want, atol=1e-5)


def test_tta_averages_its_views():
    model, images = tiny_model(), synthetic_split(20, 5).images
    views = tta_views(1, angles=[10])
    assert len(views) == 6 and views[0] == IDENTITY[0]
    tta = Classifier(model, batch_size=7).probabilities(images, views=views)
    each = torch.stack([Classifier(model).probabilities(images, views=[v]) for v in views])
    assert tta.shape == (20, 10) and torch.allclose(tta.sum(1), torch.ones(20), atol=1e-5)
    assert torch.allclose(tta, each.mean(0), atol=1e-6)
    assert not torch.allclose(tta, each[0], atol=1e-4)  # the views do change the input


def test_member_probabilities_stack_models():
    images = synthetic_split(10, 6).images
    probs = en.member_probabilities([Classifier(tiny_model(s)) for s in range(3)], images)
    assert probs.shape == (3, 10, 10)
    assert not torch.allclose(probs[0], probs[1])
