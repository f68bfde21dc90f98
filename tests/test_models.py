import pytest
import torch

from mnistlib.models import MODELS, count_parameters, create_model


def test_seed_cnn_is_the_blogs_network():
    model = create_model("seed_cnn")
    assert count_parameters(model) == 1_199_882
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes[:4] == [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,)]
    assert (128, 9216) in shapes and (10, 128) in shapes


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_maps_a_batch_to_ten_logits(name):
    model = create_model(name).eval()
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    assert model.__doc__ and len(model.__doc__) > 20  # each variant says what idea it adds


def test_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match="seed_cnn"):
        create_model("resnet9000")
