import pytest
import torch

from conftest import synthetic_split
from mnistlib import transfer as tr
from mnistlib.data import Split
from mnistlib.evaluation import Classifier, evaluate
from mnistlib.models import create_model

SMALL = tr.TRANSFER.replace(model_args={"width": 8, "hidden": 32}, lr=3e-3)


def indexed_split(n: int = 120) -> Split:
    """Uneven classes, each image stamped with its own index (pixels 0 and 1)."""
    counts = [35, 35, 25, 25]  # classes 0..3
    labels = torch.cat([torch.full((k,), c) for c, k in enumerate(counts)])
    labels = labels[torch.randperm(n, generator=torch.Generator().manual_seed(0))]
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    images[:, 0, 0], images[:, 0, 1] = torch.arange(n) // 256, torch.arange(n) % 256
    return Split(images, labels)


def ids(split: Split) -> set[int]:
    return set((split.images[:, 0, 0].long() * 256 + split.images[:, 0, 1].long()).tolist())


def test_few_shot_split_takes_k_per_class_and_leaves_the_rest():
    split = indexed_split()
    train, rest = tr.few_shot_split(split, 5, seed=0)
    assert torch.bincount(train.labels).tolist() == [5, 5, 5, 5]
    assert ids(train).isdisjoint(ids(rest)) and ids(train) | ids(rest) == set(range(120))
    # Every image keeps its own label.
    assert torch.equal(split.labels[sorted(ids(train))], train.labels)
    # Deterministic per seed, and the seed matters.
    assert ids(tr.few_shot_split(split, 5, seed=0)[0]) == ids(train)
    assert ids(tr.few_shot_split(split, 5, seed=1)[0]) != ids(train)
    everything, nothing = tr.few_shot_split(split, None)
    assert len(everything) == 120 and len(nothing) == 0
    with pytest.raises(ValueError, match="only 25"):
        tr.few_shot_split(split, 30)
    with pytest.raises(ValueError):
        tr.few_shot_split(split, 0)


def test_holdout_is_stratified_and_disjoint():
    split = indexed_split()
    pool, test = tr.holdout(split, 40, seed=0)
    assert len(pool) == 80 and len(test) == 40 and ids(pool).isdisjoint(ids(test))
    assert torch.bincount(test.labels).tolist() == [12, 12, 8, 8]  # a third of each class


def test_freeze_features_leaves_only_the_classifier_trainable():
    model = create_model("fast_cnn", width=4, hidden=16)
    tr.freeze_features(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc2.weight", "fc2.bias"}


def test_fine_tune_learns_and_leaves_the_original_alone():
    train, curve = synthetic_split(200, 0), synthetic_split(100, 1)
    torch.manual_seed(0)
    model = create_model("fast_cnn", width=8, hidden=32).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    untrained = evaluate(Classifier(model), curve)["accuracy"]
    result = tr.fine_tune(model, train, curve, recipe=SMALL, steps=60, evals=4)
    tuned = evaluate(result.classifier, curve)["accuracy"]
    assert untrained < 0.5 and tuned > 0.9
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())
    assert len(result.history) == 9  # 7 steps an epoch: 9 epochs, one point of the curve each
    assert result.history[-1]["val_accuracy"] == pytest.approx(tuned)


def test_frozen_fine_tune_changes_only_the_classifier():
    train = synthetic_split(100, 0)
    torch.manual_seed(0)
    model = create_model("fast_cnn", width=8, hidden=32)
    result = tr.fine_tune(model, train, freeze=True, recipe=SMALL, steps=5, evals=1)
    old, new = model.state_dict(), result.model.state_dict()
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed == {"fc2.weight", "fc2.bias"}


def test_from_scratch_is_deterministic_per_seed():
    train = synthetic_split(64, 0)
    run = tr.from_scratch(train, recipe=SMALL, steps=2, evals=2, seed=1)
    assert [h["epoch"] for h in run.history] == [0.5, 1.0]  # 2 steps an epoch, 2 evaluations
    a = run.model.state_dict()
    b = tr.from_scratch(train, recipe=SMALL, steps=2, evals=1, seed=1).model.state_dict()
    c = tr.from_scratch(train, recipe=SMALL, steps=2, evals=1, seed=2).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
