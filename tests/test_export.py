import time

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from conftest import synthetic_split
from mnistlib import export as ex
from mnistlib.evaluation import IDENTITY, Classifier, tta_views
from mnistlib.data import normalize
from mnistlib.models import FastCNN
from mnistlib.recipes import Recipe
from mnistlib.training import fit

TINY = Recipe(name="tiny", model="fast_cnn", model_args={"width": 8, "hidden": 32},
              loader="device", batch_size=64, optimizer="adam", lr=0.01, schedule="constant",
              epochs=1)


def tiny_model(seed: int = 0) -> FastCNN:
    torch.manual_seed(seed)
    return FastCNN(width=4, hidden=16).eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small network that has learnt the synthetic digits, exported, with its data."""
    train, test = synthetic_split(600, 0), synthetic_split(200, 2)
    model = fit(TINY, train, test, device="cpu", progress=False).model.eval()
    path = ex.export_onnx(Classifier(model), tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return model, path, train, test


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


def test_export_round_trip_matches_pytorch(tmp_path):
    model = tiny_model()
    path = ex.export_onnx(Classifier(model), tmp_path / "m.onnx")
    images = synthetic_split(50, 5).images
    check = ex.check_onnx(Classifier(model), path, images)
    assert check["max_abs_diff"] < 1e-4 and check["agreement"] == 1.0 and check["n"] == 50
    # The file's own signature: named input, symbolic batch, 10 logits.
    proto = onnx.load(path)
    (inp,) = proto.graph.input
    assert inp.name == ex.INPUT and inp.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [o.name for o in proto.graph.output] == [ex.OUTPUT]
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary left behind


def test_export_carries_the_test_time_views(tmp_path):
    tta = Classifier(tiny_model(), views=tta_views(1.0, diagonals=True))
    path = ex.export_onnx(tta, tmp_path / "tta.onnx")
    images = synthetic_split(50, 5).images
    check = ex.check_onnx(tta, path, images)
    assert check["max_abs_diff"] < 1e-4 and check["agreement"] == 1.0
    # the file's probabilities are the classifier's: nine moved copies averaged, not one
    got = ex.OnnxModel(path).probabilities(images)
    assert torch.allclose(got, tta.probabilities(images), atol=1e-5)
    assert not torch.allclose(got, tta.probabilities(images, views=IDENTITY), atol=1e-4)
    with pytest.raises(ex.ExportError, match="whole pixels"):  # a turn is not a pad and a slice
        ex.export_onnx(Classifier(tiny_model(), views=tta_views(1.0, angles=[5])),
                       tmp_path / "turned.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["tta.onnx"]  # nothing written for it


def test_check_onnx_notices_a_different_network(tmp_path):
    path = ex.export_onnx(Classifier(tiny_model(0)), tmp_path / "m.onnx")
    check = ex.check_onnx(Classifier(tiny_model(1)), path, synthetic_split(50, 5).images)
    assert check["max_abs_diff"] > 1e-3


def test_export_keeps_training_mode_and_fails_atomically(tmp_path, monkeypatch):
    model = tiny_model().train()
    ex.export_onnx(Classifier(model), tmp_path / "m.onnx")
    assert model.training

    def fail(proto):  # the export fails after the exporter has written its file
        raise onnx.checker.ValidationError("boom")

    monkeypatch.setattr(onnx.checker, "check_model", fail)
    with pytest.raises(onnx.checker.ValidationError, match="boom"):
        ex.export_onnx(Classifier(model), tmp_path / "broken.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no half-written file
    assert model.training


def test_onnx_model_reads_normalization_from_metadata(tmp_path):
    model = tiny_model()
    path = ex.export_onnx(Classifier(model, "unit"), tmp_path / "unit.onnx")
    onnx_model = ex.OnnxModel(path)  # no normalization given: it comes from the file
    assert onnx_model.normalization == "unit"
    images = synthetic_split(30, 6).images
    with torch.no_grad():
        want = model(normalize(images.unsqueeze(1), "unit"))
    assert torch.allclose(onnx_model.logits(images), want, atol=1e-4)
    assert torch.equal(onnx_model.predict(images), want.argmax(1))
    probs = onnx_model.probabilities(images.unsqueeze(1))  # [N, 1, 28, 28] works too
    assert torch.allclose(probs.sum(1), torch.ones(30), atol=1e-5)
    # Float input counts as already normalized and passes through unchanged.
    x = normalize(images.unsqueeze(1), "unit")
    assert torch.allclose(onnx_model.logits(x), want, atol=1e-4)
    # An explicit normalization overrides the file's.
    assert ex.OnnxModel(path, normalization="standard").normalization == "standard"
    with pytest.raises(ValueError, match="images must be"):
        onnx_model.logits(torch.zeros(2, 3, 28, 28, dtype=torch.uint8))


def test_int8_model_runs_agrees_and_is_smaller(trained, tmp_path):
    model, path, train, test = trained
    out = ex.quantize_int8(path, tmp_path / "int8.onnx", train.images[:200])
    q, fp32 = ex.OnnxModel(out), ex.OnnxModel(path)
    assert q.metadata[ex.QUANTIZATION_KEY] == "int8 static" and q.normalization == "standard"
    agreement = float((q.predict(test.images) == fp32.predict(test.images)).double().mean())
    assert agreement >= 0.95
    assert float((q.predict(test.images) == test.labels).double().mean()) >= 0.9
    assert ex.file_size(out) < 0.5 * ex.file_size(path)
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(out).graph.node)
    with pytest.raises(ValueError, match="calibration"):
        ex.quantize_int8(path, tmp_path / "x.onnx", train.images[:0])


def foreign_model(path, shape=(1, 3), metadata=None) -> None:
    """A valid ONNX model that is not an MNIST classifier: y = relu(x)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "foreign", [x], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    for key, value in (metadata or {}).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, path)


def test_corrupt_or_foreign_files_give_one_clear_error(tmp_path, trained):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(ex.ExportError) as e:
        ex.OnnxModel(bad)
    assert str(bad) in one_line_error(e)
    with pytest.raises(ex.ExportError) as e:
        ex.OnnxModel(tmp_path / "missing.onnx")
    assert "no such file" in one_line_error(e)
    foreign = tmp_path / "foreign.onnx"
    foreign_model(foreign)
    with pytest.raises(ex.ExportError) as e:
        ex.OnnxModel(foreign)
    assert "not an MNIST classifier" in one_line_error(e) and "[1, 3]" in str(e.value)
    # Shaped like ours but without our metadata: the normalization is unknown.
    shaped = tmp_path / "shaped.onnx"
    foreign_model(shaped, shape=("n", 1, 28, 28))
    with pytest.raises(ex.ExportError):
        ex.OnnxModel(shaped)
    # The functions built on OnnxModel fail the same way.
    model, path, train, _ = trained
    with pytest.raises(ex.ExportError):
        ex.check_onnx(Classifier(model), bad, train.images[:10])
    with pytest.raises(ex.ExportError):
        ex.quantize_int8(bad, tmp_path / "q.onnx", train.images[:10])
    assert not (tmp_path / "q.onnx").exists()


def test_latency_percentiles_in_milliseconds():
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.002 if len(calls) % 10 == 0 else 0.0005)

    lat = ex.latency(work, n=50, warmup=5)
    assert len(calls) == 55 and lat["n"] == 50
    assert 0.4 <= lat["min_ms"] <= lat["p50_ms"] <= lat["p99_ms"]
    assert lat["p50_ms"] < 1.9 <= lat["p99_ms"] < 100  # one call in ten is slow: the tail
    assert lat["min_ms"] <= lat["mean_ms"] <= lat["p99_ms"]


def test_throughput_counts_images_per_second():
    t = ex.throughput(lambda: time.sleep(0.005), batch_size=100, n=5, warmup=1)
    assert t["batch_size"] == 100 and 100 / 0.1 < t["images_per_s"] <= 100 / 0.005
