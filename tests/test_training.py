import math

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from mnistlib import checkpoints
from mnistlib.augmentation import Augment
from mnistlib.errors import ConfigError
from mnistlib.recipes import RECIPES, Recipe, get_recipe
from mnistlib.training import fit, time_to

SMALL = Recipe(name="small", model="fast_cnn", loader="device", batch_size=32, optimizer="adam",
               lr=0.003, schedule="constant", epochs=2, evals_per_epoch=2)


def test_fit_lowers_the_loss_and_learns(tiny_mnist):
    r = fit(SMALL, tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    losses = [h["train_loss"] for h in r.history]
    assert len(r.history) == 4 and r.epochs_run == 2
    assert losses[-1] < 0.5 * losses[0]
    assert r.val_accuracy > 0.9
    h = r.history[-1]
    assert h["train_seconds"] == pytest.approx(h["data_seconds"] + h["compute_seconds"])
    assert all(k in h for k in ("epoch", "val_accuracy", "lr", "grad_norm"))


def test_same_seed_same_numbers_on_cpu(tiny_mnist):
    a = fit(SMALL.replace(epochs=1), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    b = fit(SMALL.replace(epochs=1), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    c = fit(SMALL.replace(epochs=1, seed=1), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    key = lambda r: [(h["train_loss"], h["val_accuracy"]) for h in r.history]
    assert key(a) == key(b)
    assert key(a) != key(c)


def test_target_accuracy_stops_training(tiny_mnist):
    r = fit(SMALL.replace(epochs=10, target_acc=0.9), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    assert r.stopped_early and r.epochs_run < 10
    assert r.history[-1]["val_accuracy"] >= 0.9
    assert r.time_to_target_seconds == r.history[-1]["train_seconds"]
    assert time_to(r.history, 0.9) == r.time_to_target_seconds


def test_patience_stops_when_validation_stalls(tiny_mnist):
    # a learning rate of zero: validation accuracy never improves after the first evaluation
    r = fit(SMALL.replace(lr=0.0, epochs=10, patience=2), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    assert r.stopped_early
    assert len(r.history) == 3  # the first evaluation, then two without improvement


def test_clipping_bounds_the_gradient_norm_at_every_step(tiny_mnist):
    seen = []

    def hook(opt, args, kwargs):
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    handle = register_optimizer_step_pre_hook(hook)
    try:
        r = fit(SMALL.replace(epochs=1, clip_norm=0.05), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    finally:
        handle.remove()
    assert len(seen) == math.ceil(600 / 32)
    assert max(seen) <= 0.05 * 1.001
    assert r.history[0]["grad_norm"] > 0.05  # the norms before clipping were larger


@pytest.mark.parametrize("schedule", ["step", "cosine", "onecycle", "constant"])
def test_schedules_start_and_end_where_they_should(tiny_mnist, schedule):
    r = fit(SMALL.replace(schedule=schedule, epochs=2, evals_per_epoch=1, lr=0.01), tiny_mnist.train, tiny_mnist.val,
            device="cpu", progress=False)
    end = r.history[-1]["lr"]
    expected = {"step": 0.01 * 0.7 ** 2, "cosine": 0.0, "constant": 0.01}.get(schedule)
    if expected is None:
        assert end < 0.01 * 0.01  # one-cycle anneals far below its peak
    else:
        assert end == pytest.approx(expected, abs=1e-9)


def test_named_recipes_are_registered_and_valid():
    assert {"baseline", "fast", "tmf"} <= set(RECIPES)
    base = get_recipe("baseline")
    assert (base.model, base.loader, base.batch_size, base.optimizer, base.lr, base.schedule,
            base.step_gamma, base.epochs) == ("seed_cnn", "conventional", 64, "adadelta", 1.0,
                                              "step", 0.7, 14)
    assert get_recipe("fast").epochs <= 3  # seconds, not minutes
    with pytest.raises(KeyError, match="baseline"):
        get_recipe("nope")
    with pytest.raises(ValueError):
        Recipe(optimizer="lbfgs")


def test_recipe_round_trips_through_a_dict():
    r = get_recipe("fast").replace(clip_norm=1.0)
    assert Recipe.from_dict(r.to_dict()) == r


def test_checkpoint_round_trip(tiny_mnist, tmp_path):
    r = fit(SMALL.replace(epochs=1), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    checkpoints.save(tmp_path / "run", r.model, SMALL, {"val_accuracy": r.val_accuracy})
    clf = checkpoints.load(tmp_path / "run")
    model, meta = clf.model, clf.meta
    x = torch.randn(4, 1, 28, 28)
    r.model.eval()
    assert torch.equal(model(x), r.model(x))
    assert Recipe.from_dict(meta["recipe"]) == SMALL
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".part")]


def test_a_checkpoint_saved_with_thicken_loads_while_it_is_zero(tmp_path):
    """Checkpoints saved before stroke thickening was dropped carry ``thicken: 0.0``."""
    import json
    from mnistlib.models import create_model
    recipe = SMALL.replace(augment=Augment(rotation=10, elastic=8))
    folder = checkpoints.save(tmp_path / "run", create_model(SMALL.model), recipe)
    meta = json.loads((folder / checkpoints.META).read_text())
    for thicken, loads in ((0.0, True), (2.0, False)):
        meta["recipe"]["augment"]["thicken"] = thicken
        (folder / checkpoints.META).write_text(json.dumps(meta))
        if loads:
            assert Recipe.from_dict(checkpoints.load(folder).meta["recipe"]) == recipe
        else:
            with pytest.raises(checkpoints.CheckpointError, match="thickens strokes") as e:
                checkpoints.load(folder)
            assert "\n" not in str(e.value)


def test_a_recipe_with_tta_shift_predicts_with_its_views_and_keeps_them(tiny_mnist, tmp_path):
    recipe = SMALL.replace(epochs=1, tta_shift=1.0)
    r = fit(recipe, tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    clf, images = r.classifier, tiny_mnist.test.images
    assert len(clf.views) == 5 and clf.views == recipe.views
    each = torch.stack([clf.probabilities(images, [v]) for v in clf.views])
    assert torch.allclose(clf.probabilities(images), each.mean(0), atol=1e-6)  # its own views
    assert not torch.allclose(clf.probabilities(images), each[0], atol=1e-4)
    assert r.val_accuracy == pytest.approx(clf.accuracy(tiny_mnist.val))  # judged with them
    loaded = checkpoints.load(checkpoints.save(tmp_path / "run", r.model, recipe))
    assert loaded.views == clf.views
    assert torch.allclose(loaded.probabilities(images), clf.probabilities(images), atol=1e-6)
    with pytest.raises(ConfigError, match="tta_shift"):
        SMALL.replace(tta_shift=-1.0)


def test_tta_diagonals_add_the_four_diagonal_moves_and_survive_a_checkpoint(tiny_mnist, tmp_path):
    recipe = SMALL.replace(epochs=1, tta_shift=1.0, tta_diagonals=True)
    assert recipe.views[:5] == SMALL.replace(tta_shift=1.0).views
    assert sorted(recipe.views[5:]) == [(0.0, -1.0, -1.0), (0.0, -1.0, 1.0), (0.0, 1.0, -1.0),
                                        (0.0, 1.0, 1.0)]
    r = fit(recipe, tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    loaded = checkpoints.load(checkpoints.save(tmp_path / "run", r.model, recipe))
    assert loaded.views == r.classifier.views == recipe.views and len(loaded.views) == 9
    with pytest.raises(ConfigError, match="tta_diagonals"):
        SMALL.replace(tta_diagonals=True)  # no shift to move by


def test_corrupt_checkpoint_is_one_clear_error(tiny_mnist, tmp_path):
    r = fit(SMALL.replace(epochs=1), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    folder = checkpoints.save(tmp_path / "run", r.model, SMALL)
    weights = folder / checkpoints.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(checkpoints.CheckpointError, match="cannot load weights") as e:
        checkpoints.load(folder)
    assert "\n" not in str(e.value)
    with pytest.raises(checkpoints.CheckpointError, match="no such"):
        checkpoints.load(tmp_path / "absent")


def test_on_step_sees_every_step_and_the_norm_before_clipping(tiny_mnist):
    seen = []
    r = fit(SMALL.replace(epochs=2, clip_norm=0.05), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False,
            on_step=lambda step, norm, loss: seen.append((step, float(norm), float(loss))))
    steps = [s for s, _, _ in seen]
    assert steps == list(range(1, 2 * math.ceil(600 / 32) + 1))
    assert seen[0][1] > 0.05  # the norm before clipping, as the history reports it
    first = [n for s, n, _ in seen if s <= round(math.ceil(600 / 32) / 2)]
    assert r.history[0]["grad_norm"] == pytest.approx(sum(first) / len(first), rel=1e-5)
    assert all(math.isfinite(x) for _, _, x in seen)
    assert r.epochs_run == 2


def test_onecycle_works_with_an_optimizer_without_momentum(tiny_mnist):
    r = fit(SMALL.replace(optimizer="adadelta", lr=1.0, schedule="onecycle", epochs=1),
            tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    assert r.history[-1]["lr"] < 0.01  # annealed far below the peak of 1.0


def test_freeze_stops_a_layer_learning_at_its_epoch(tiny_mnist):
    """FreezeOut: a layer frozen after half an epoch keeps its mid-epoch weights; the rest
    goes on learning; frozen parameters get no gradient."""
    seen = {}

    def snapshot(step, _norm, _loss):
        if step == 2:  # after the freeze point's step: the weights of the layer stay put
            seen["conv1"] = r_model.conv1.weight.detach().clone()
            seen["fc1"] = r_model.fc1.weight.detach().clone()

    from mnistlib.models import create_model
    torch.manual_seed(0)
    r_model = create_model("fast_cnn")
    steps = math.ceil(len(tiny_mnist.train.labels) / SMALL.batch_size)
    recipe = SMALL.replace(freeze={"conv1": 1 / steps})  # frozen after the first step
    r = fit(recipe, tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False, model=r_model, on_step=snapshot)
    assert torch.equal(r.model.conv1.weight, seen["conv1"])
    assert not torch.equal(r.model.fc1.weight, seen["fc1"])
    assert r.model.conv1.weight.grad is None
    assert r.model.conv1.weight.requires_grad  # trainable again: fine-tuning trains it
    assert r.val_accuracy > 0.8


def test_freeze_rejects_a_name_no_parameter_has(tiny_mnist):
    with pytest.raises(ValueError, match="conv9"):
        fit(SMALL.replace(freeze={"conv9": 0.5}), tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False)
    with pytest.raises(ValueError, match="epochs"):
        SMALL.replace(freeze={"conv1": -1})


def test_freeze_survives_a_round_trip_through_json():
    r = get_recipe("fast")
    assert Recipe.from_dict(r.to_dict()) == r and r.freeze


def test_cache_frozen_trains_the_head_on_features_computed_once(tiny_mnist):
    """Once the whole body is frozen, the loader yields the body's features (computed once, in
    eval mode), the head goes on learning on them, and the model fit returns is whole."""
    from mnistlib.models import create_model
    steps = math.ceil(len(tiny_mnist.train.labels) / SMALL.batch_size)
    recipe = SMALL.replace(model_args={"bn": True}, freeze={"conv1": 0.5, "conv2": 0.5},
                           cache_frozen=True)
    torch.manual_seed(0)
    model = create_model("fast_cnn", bn=True)
    calls = []
    model.body = (lambda body: lambda x: calls.append(len(x)) or body(x))(model.body)
    seen = {}

    def snapshot(step, _norm, _loss):
        if step == steps:  # the first epoch's last step: the body has been frozen for a while
            seen["fc1"] = model.fc1.weight.detach().clone()

    r = fit(recipe, tiny_mnist.train, tiny_mnist.val, device="cpu", progress=False, model=model,
            on_step=snapshot)
    # body calls while training: one per step until the freeze, then the split once (one chunk)
    frozen_at = round(0.5 * steps)
    train_calls = [n for n in calls if n != len(tiny_mnist.val)]
    assert sum(train_calls) == frozen_at * SMALL.batch_size + len(tiny_mnist.train)
    assert not torch.equal(model.fc1.weight, seen["fc1"])  # the head learned on the features
    assert r.val_accuracy > 0.8


def test_cache_frozen_needs_a_body_and_fixed_features(tiny_mnist):
    with pytest.raises(ValueError, match="cache_frozen"):
        SMALL.replace(cache_frozen=True, augment=SMALL.augment.__class__(rotation=10))
    with pytest.raises(ValueError, match="cache_frozen"):
        SMALL.replace(cache_frozen=True, loader="conventional")
    with pytest.raises(ValueError, match="BODY"):
        fit(Recipe(name="b", loader="device", batch_size=64, epochs=1, freeze={"conv": 0.5},
                   cache_frozen=True), tiny_mnist.train, tiny_mnist.val, device="cpu",
            progress=False)


def test_cache_frozen_flops_count_the_body_once():
    from mnistlib.flops import count_flops, training_flops
    from mnistlib.models import create_model
    r = get_recipe("fast_v3")  # the same network and schedule, without the cache
    cached = r.replace(cache_frozen=True)
    body = count_flops(create_model(r.model, **r.model_args).body)
    steps = math.ceil(55000 / r.batch_size)
    after = r.epochs * steps - round(1.5 * steps)  # steps with the whole body frozen
    assert training_flops(r, 55000) - training_flops(cached, 55000) == \
        body * (after * r.batch_size - 55000)
