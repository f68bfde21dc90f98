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


# Chapter 5: one backbone, one idea per variant.
from mnistlib.flops import count_flops  # noqa: E402
from mnistlib.models import SpatialAttention, SqueezeExcite  # noqa: E402

CHAIN = ["cnn", "cnn_bn", "cnn_res", "cnn_se", "cnn_cbam"]  # each adds one idea to the previous


def _has(model: torch.nn.Module, kind: type) -> bool:
    return any(isinstance(m, kind) for m in model.modules())


def test_each_variant_contains_its_idea_and_only_the_ideas_before_it():
    ideas = {name: (_has(m := create_model(name), torch.nn.BatchNorm2d),
                    any(getattr(s, "residual", False) for s in m.modules()),
                    _has(m, SqueezeExcite), _has(m, SpatialAttention)) for name in CHAIN}
    assert ideas == {"cnn": (False, False, False, False), "cnn_bn": (True, False, False, False),
                     "cnn_res": (True, True, False, False), "cnn_se": (True, True, True, False),
                     "cnn_cbam": (True, True, True, True)}
    plus = create_model("seed_cnn_plus")
    assert _has(plus, torch.nn.BatchNorm2d) and plus.block.residual
    assert _has(plus, SqueezeExcite) and _has(plus, SpatialAttention)


def test_variants_share_one_backbone():
    p = {name: count_parameters(create_model(name)) for name in CHAIN}
    assert 100_000 < p["cnn"] < 500_000
    assert p["cnn_res"] == p["cnn_bn"]  # a skip connection costs no parameters
    assert abs(p["cnn_bn"] - p["cnn"]) < 0.01 * p["cnn"]
    assert p["cnn_res"] < p["cnn_se"] < p["cnn_cbam"] < 1.05 * p["cnn"]  # attention is cheap


def _zero_branches(model: torch.nn.Module) -> torch.nn.Module:
    """Make every stage's second-convolution branch output exactly zero (BN scale and shift 0)."""
    for m in model.modules():
        if hasattr(m, "conv_b"):
            bn = m.conv_b[1]
            torch.nn.init.zeros_(bn.weight)
            torch.nn.init.zeros_(bn.bias)
    return model.eval()


@pytest.mark.parametrize("name", ["cnn_res", "cnn_se", "cnn_cbam", "seed_cnn_plus"])
def test_the_skip_connection_carries_the_signal_past_a_dead_branch(name):
    torch.manual_seed(0)
    x = torch.randn(2, 1, 28, 28)
    model = create_model(name).eval()
    before = model(x)
    after = _zero_branches(model)(x)
    assert torch.isfinite(after).all()
    assert not torch.allclose(before, after)  # the branch mattered...
    assert not torch.allclose(after[0], after[1], atol=1e-4)  # ...but the skip still carries x


def test_without_the_skip_a_dead_branch_kills_the_signal():
    torch.manual_seed(0)
    out = _zero_branches(create_model("cnn_bn"))(torch.randn(2, 1, 28, 28))
    assert torch.allclose(out[0], out[1])  # the contrast that makes the test above meaningful


def test_he_init_keeps_the_signal_where_the_default_shrinks_it():
    """Chapter 5's control: through the plain network's six convolutions, He initialization
    keeps the scale of the activations that PyTorch's default initialization lets shrink."""
    x = torch.randn(64, 1, 28, 28)

    def last_stage_std(he: bool) -> float:
        torch.manual_seed(0)
        model = create_model("cnn", width=16, he_init=he)
        out = []
        model.stages[-1].register_forward_hook(lambda module, inputs, output: out.append(output))
        with torch.no_grad():
            model(x)
        return float(out[0].std())
    assert last_stage_std(True) > 10 * last_stage_std(False)


def test_attention_gates_rescale_channels_or_positions_by_a_factor_in_0_1():
    torch.manual_seed(0)
    x = torch.rand(2, 8, 5, 5) + 0.5
    se, sa = SqueezeExcite(8)(x) / x, SpatialAttention()(x) / x
    assert ((se > 0) & (se < 1)).all() and ((sa > 0) & (sa < 1)).all()
    assert torch.allclose(se, se[:, :, :1, :1].expand_as(se))  # one gate per channel
    assert torch.allclose(sa, sa[:, :1].expand_as(sa))  # one gate per position
    assert se.std() > 0 and sa.std() > 0


def test_attention_modules_are_on_the_forward_path():
    model = create_model("cnn_cbam").eval()
    calls = []
    for m in model.modules():
        if isinstance(m, (SqueezeExcite, SpatialAttention)):
            m.register_forward_hook(lambda *_: calls.append(1))
    model(torch.randn(1, 1, 28, 28))
    assert len(calls) == 6  # three stages, two gates each


def test_flops_are_two_per_multiply_add_per_image():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    assert count_flops(model) == 2 * 784 * 10
    conv = torch.nn.Conv2d(1, 4, 3, padding=1).train()
    assert count_flops(conv) == 2 * 9 * 4 * 28 * 28
    assert conv.training  # the counter puts the mode back


def test_flops_are_positive_and_ordered_sensibly():
    f = {name: count_flops(create_model(name)) for name in MODELS}  # chapter 5's cost table
    assert set(f) == set(MODELS) and all(v > 0 for v in f.values())
    assert f["fast_cnn"] < f["tmf_cnn"] < f["seed_cnn"] < f["seed_cnn_plus"] < f["cnn"]
    assert f["cnn"] == f["cnn_bn"] == f["cnn_res"] < f["cnn_se"] < f["cnn_cbam"] < 1.01 * f["cnn"]
    quarter = count_flops(create_model("cnn", width=16))
    assert 0.2 < quarter / f["cnn"] < 0.3  # FLOPs grow with the square of the width
