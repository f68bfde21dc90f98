"""Real-time inference: ONNX export, its check against PyTorch, int8 quantization, timing.

An exported file carries all that ``predict`` needs: the network (with its classifier's
test-time views, if it has any), and in the model's metadata the input normalization it was
trained with. Exports use PyTorch's TorchScript-based exporter
(``dynamo=False``, deprecated but still in PyTorch): for these small CNNs it gives the same
Conv/Relu/Gemm graph as the newer ``torch.export`` one, in a tenth of a second instead of
seconds, and without that one's extra dependency, ``onnxscript``.
"""
from __future__ import annotations

import math
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F

from mnistlib.benchmarking import time_call
from mnistlib.data import NORMALIZATIONS, normalize
from mnistlib.errors import MnistlibError
from mnistlib.evaluation import IDENTITY, Classifier, Predictor, View
from mnistlib.files import atomic_write

INPUT, OUTPUT = "images", "logits"
OPSET = 17
NORMALIZATION_KEY = "mnistlib.normalization"  # metadata_props key
QUANTIZATION_KEY = "mnistlib.quantization"


class ExportError(MnistlibError, ValueError):
    """An .onnx file that cannot serve as an MNIST classifier, with a one-line reason."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return re.sub(r"^\[ONNXRuntimeError\] : \d+ : ", "", line)


def _set_metadata(proto: onnx.ModelProto, values: dict[str, str]) -> None:
    props = {**{p.key: p.value for p in proto.metadata_props}, **values}
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)


class ShiftedViews(nn.Module):
    """A network and its classifier's test-time views in one module, so that an exported file
    scores a digit as the classifier does: each view moves the (normalized) input by whole
    pixels, filling with what a blank pixel normalizes to; the views' probabilities are
    averaged. The output is the log of that average, which a softmax turns back into it."""

    def __init__(self, model: nn.Module, views: Sequence[View], normalization: str) -> None:
        super().__init__()
        if any(angle or dx != int(dx) or dy != int(dy) for angle, dx, dy in views):
            raise ExportError(f"only views that move the digit by whole pixels can be exported, "
                              f"not {list(views)}")
        self.model, self.shifts = model, [(int(dx), int(dy)) for _, dx, dy in views]
        self.fill = float(normalize(torch.zeros(1), normalization))
        self.pad = max(max(abs(dx), abs(dy)) for dx, dy in self.shifts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, n = self.pad, 28  # the side of every input (constant, so that the slices fold)
        padded = F.pad(x, (p, p, p, p), value=self.fill)
        # the views as one batch through one copy of the network: a graph with one network in
        # it, not one per view (whose quantization nodes made an int8 file of nine views larger
        # than half the fp32 one), and one call of each layer
        views = torch.cat([padded[:, :, p - dy:p - dy + n, p - dx:p - dx + n]
                           for dx, dy in self.shifts])
        logp = torch.log_softmax(self.model(views).float(), 1)
        # views × batch × ten digits, the ten a constant: a traced size there leaves the output's
        # width symbolic, and unflatten trips ONNX Runtime's shape inference for quantization
        logp = logp.reshape(len(self.shifts), -1, 10)
        return torch.logsumexp(logp, 0) - math.log(len(self.shifts))


def network(classifier: Classifier) -> nn.Module:
    """What an export of ``classifier`` computes from normalized images: its network, with its
    test-time views (``ShiftedViews``) if it has any."""
    if tuple(classifier.views) == IDENTITY:
        return classifier.model
    return ShiftedViews(classifier.model, classifier.views, classifier.normalization)


def export_onnx(classifier: Classifier, path: str | Path) -> Path:
    """Write the classifier's network (in eval mode) as ONNX: input ``[batch, 1, 28, 28]``
    float images, already normalized, output ``[batch, 10]`` logits (with test-time views, the
    log of their averaged probabilities: ``network``). The normalization goes into the file's
    metadata, so that ``OnnxModel`` can take raw uint8 digits. Written atomically."""
    model, normalization = network(classifier), classifier.normalization
    path = Path(path)
    device = next(model.parameters()).device
    # Batch 2: no size-1 dimension for the tracer to specialize on (the batch is dynamic).
    dummy = torch.zeros(2, 1, 28, 28, device=device)
    was_training = model.training
    model.eval()

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            # We chose the TorchScript exporter knowingly (see the module docstring).
            warnings.simplefilter("ignore", DeprecationWarning)
            # ShiftedViews' slices are left unfolded: harmless, and nothing a user can act on
            warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
            torch.onnx.export(model, (dummy,), tmp, dynamo=False, input_names=[INPUT],
                              output_names=[OUTPUT],
                              dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
                              opset_version=OPSET, do_constant_folding=True)
        proto = onnx.load(tmp)
        _set_metadata(proto, {NORMALIZATION_KEY: normalization})
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)

    try:
        atomic_write(path, write)
    finally:
        model.train(was_training)
    return path


def _session_options(threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads  # one thread is fastest for a single tiny image
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: the library does not print
    return opts


def _shape(dims: list) -> str:
    return "[" + ", ".join(d if isinstance(d, str) else str(d) for d in dims) + "]"


def _fits(dims: list, want: tuple) -> bool:
    """Does an ONNX shape match ``want``, where ``None`` stands for any (symbolic) size?"""
    return len(dims) == len(want) and all(w is None or d == w for d, w in zip(dims, want))


class OnnxModel(Predictor):
    """An exported MNIST classifier run by ONNX Runtime on the CPU.

    Takes uint8 digits ``[N, 28, 28]`` (or ``[N, 1, 28, 28]``), normalized as the file's
    metadata says, or float images that are already normalized."""

    def __init__(self, path: str | Path, normalization: str | None = None, threads: int = 1,
                 batch_size: int = 1000) -> None:
        self.path, self.batch_size = Path(path), batch_size
        if not self.path.is_file():
            raise ExportError(f"{self.path}: no such file")
        try:
            self.session = ort.InferenceSession(str(self.path), _session_options(threads),
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's own exception types derive from Exception only
            raise ExportError(f"{self.path}: not a usable ONNX model ({_first_line(e)})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if (len(inputs) != 1 or inputs[0].type != "tensor(float)"
                or not _fits(inputs[0].shape, (None, 1, 28, 28))
                or not outputs or not _fits(outputs[0].shape, (None, 10))):
            found = ", ".join(f"{a.name} {_shape(a.shape)} {a.type}" for a in inputs)
            out = ", ".join(f"{a.name} {_shape(a.shape)}" for a in outputs)
            raise ExportError(f"{self.path}: not an MNIST classifier: expected one float input "
                              f"[batch, 1, 28, 28] and output [batch, 10], found input {found} "
                              f"and output {out}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.normalization = normalization or self.metadata.get(NORMALIZATION_KEY)
        if self.normalization not in NORMALIZATIONS:
            raise ExportError(f"{self.path}: no mnistlib normalization in its metadata "
                              f"(found {self.normalization!r}); pass normalization= one of "
                              f"{NORMALIZATIONS}")

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits for a float32 ``[N, 1, 28, 28]`` array, already normalized: the bare call
        that latency timings measure."""
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def prepare(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """The network's input for ``images``: uint8 digits get the file's normalization."""
        x = torch.as_tensor(images)
        if x.dim() == 3:
            x = x.unsqueeze(1)
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"images must be [N, 28, 28] or [N, 1, 28, 28], not {list(x.shape)}")
        if x.dtype == torch.uint8:
            x = normalize(x, self.normalization)
        return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)

    def logits(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = self.prepare(images)
        parts = [self.run(x[i:i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return torch.from_numpy(np.concatenate(parts) if parts else np.zeros((0, 10), np.float32))

    def probabilities(self, images: torch.Tensor | np.ndarray,
                      views: Sequence[View] | None = None) -> torch.Tensor:
        if views is not None and tuple(views) != IDENTITY:
            raise ValueError("an exported model runs without test-time augmentation")
        return torch.softmax(self.logits(images), 1)


@torch.no_grad()
def check_onnx(classifier: Classifier, onnx_path: str | Path, images: torch.Tensor,
               batch_size: int = 1000) -> dict[str, Any]:
    """Compare the exported file with the PyTorch classifier on uint8 ``images``: the largest
    absolute difference of the logits, and the fraction of identical predictions."""
    onnx_model = OnnxModel(onnx_path, classifier.normalization, batch_size=batch_size)
    model, device = network(classifier), classifier.device
    was_training = model.training
    model.eval()
    worst, same = 0.0, 0
    try:
        for i in range(0, len(images), batch_size):
            batch = images[i:i + batch_size]
            x = onnx_model.prepare(batch)
            ours = torch.from_numpy(onnx_model.run(x))
            theirs = model(torch.from_numpy(x).to(device)).float().cpu()
            worst = max(worst, float((ours - theirs).abs().max()))
            same += int((ours.argmax(1) == theirs.argmax(1)).sum())
    finally:
        model.train(was_training)
    return {"max_abs_diff": worst, "agreement": same / max(len(images), 1), "n": len(images)}


class _Calibration:
    """Feeds ONNX Runtime's calibrator the calibration images, a batch at a time."""

    def __init__(self, name: str, x: np.ndarray, batch_size: int) -> None:
        self.batches = iter([{name: x[i:i + batch_size]} for i in range(0, len(x), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def quantize_int8(onnx_path: str | Path, out_path: str | Path, calibration_images: torch.Tensor,
                  normalization: str | None = None, reduce_range: bool = False,
                  batch_size: int = 100) -> Path:
    """Write an int8 copy of an exported model, with the same metadata.

    Static quantization: weights per output channel and activations, with activation ranges
    calibrated on ``calibration_images`` (uint8 training digits, never the test split); QDQ
    format, which ONNX Runtime fuses into integer Conv and Gemm kernels. (Dynamic quantization
    needs no calibration, but each call measures its activations' range and quantizes them on
    the fly, which costs more than the layers themselves at this size.) ``reduce_range``: 7-bit
    weights, for x86 CPUs without VNNI, whose int8 kernels can saturate otherwise."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if len(calibration_images) == 0:
        raise ValueError("static quantization needs calibration_images")
    source = OnnxModel(onnx_path, normalization)  # fails early, and clearly, on a bad file
    out_path = Path(out_path)

    def write(tmp: str) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            pre = str(Path(scratch) / "pre.onnx")
            # Shape inference and graph clean-up first, as ONNX Runtime recommends.
            quant_pre_process(str(source.path), pre)
            reader = _Calibration(source.input_name, source.prepare(calibration_images),
                                  batch_size)
            quantize_static(pre, tmp, reader, quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            reduce_range=reduce_range, calibrate_method=CalibrationMethod.MinMax)
        proto = onnx.load(tmp)
        _set_metadata(proto, {**source.metadata, NORMALIZATION_KEY: source.normalization,
                              QUANTIZATION_KEY: "int8 static"})
        onnx.save(proto, tmp)

    atomic_write(out_path, write)
    return out_path


def latency(run_fn: Callable[[], object], n: int = 1000, warmup: int = 100) -> dict[str, float]:
    """Milliseconds per call of ``run_fn`` (typically one image): p50, p99 and mean over ``n``
    timed calls after ``warmup`` untimed ones."""
    times = np.asarray(time_call(run_fn, "cpu", repeats=n, warmup=warmup)["times"]) * 1000
    return {"n": n, "p50_ms": float(np.percentile(times, 50)),
            "p99_ms": float(np.percentile(times, 99)), "mean_ms": float(times.mean()),
            "min_ms": float(times.min())}


def throughput(run_fn: Callable[[], object], batch_size: int, n: int = 20,
               warmup: int = 3) -> dict[str, float]:
    """Images per second of ``run_fn``, which handles one batch of ``batch_size`` images:
    the batch size over the median of ``n`` timed calls."""
    t = time_call(run_fn, "cpu", repeats=n, warmup=warmup)
    return {"n": n, "batch_size": batch_size, "images_per_s": batch_size / t["median"],
            "median_s": t["median"], "min_s": t["min"], "max_s": t["max"]}


def file_size(path: str | Path) -> int:
    """Bytes on disk: the size table compares the .safetensors and the two .onnx files."""
    return Path(path).stat().st_size
