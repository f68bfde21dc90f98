"""``python -m mnistlib``: every user error is one line on stderr and a non-zero status, and
train → evaluate → predict works end to end."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

import mnistlib.cli as cli
from mnistlib.data import MNIST, Split

FIXTURES = Path(__file__).parent / "fixtures" / "digits"


def run(capsys, *argv: str) -> tuple[int, list[str], list[str]]:
    """Exit status, stdout lines and stderr lines of ``mnistlib ARGV``, in this process."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def assert_one_error_line(code: int, err: list[str], *words: str) -> None:
    assert code != 0
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    for w in words:
        assert w in err[0]


def random_mnist(n: int = 1280) -> MNIST:
    """Random stand-in for MNIST: enough to exercise the plumbing in a fraction of a second
    (five batches of 256: one-cycle needs a few steps per phase)."""
    g = torch.Generator().manual_seed(0)

    def split(m: int) -> Split:
        return Split(torch.randint(0, 256, (m, 28, 28), generator=g, dtype=torch.uint8),
                     torch.arange(m) % 10)
    return MNIST(split(n), split(100), split(200), torch.arange(n), torch.arange(n, n + 100))


def seven(path: Path) -> Path:
    im = Image.new("L", (300, 400), 255)
    ImageDraw.Draw(im).line([(80, 60), (220, 60), (130, 340)], fill=0, width=18, joint="curve")
    im.save(path)
    return path


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(cli, "load", lambda *a, **k: random_mnist())


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, list[str]]:
    """One tiny training run for the whole module (checkpoint folder, stdout lines)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as m, contextlib.redirect_stdout(stdout):
        m.setattr(cli, "load", lambda *a, **k: random_mnist())
        code = cli.main(["train", "--recipe", "fast", "--epochs", "1", "--seed", "7",
                         "--target-acc", "100", "--device", "cpu", "--out", str(out), "--quiet"])
    assert code == 0
    return out, stdout.getvalue().splitlines()


@pytest.fixture
def run_dir(trained, tmp_path) -> Path:
    """A copy of the trained checkpoint that a test may damage."""
    return Path(shutil.copytree(trained[0], tmp_path / "run"))


def test_train_writes_checkpoint_and_metrics(trained):
    out, lines = trained
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "model.json",
                                               "metrics.json"}  # nothing half-written left
    metrics = json.loads((out / "metrics.json").read_text(),
                         parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    for key in ("recipe", "seed", "device", "device_type", "epochs_run", "train_seconds",
                "val_accuracy", "test_accuracy", "time_to_target_seconds", "history", "torch"):
        assert key in metrics
    assert metrics["recipe"] == "fast" and metrics["epochs_run"] == 1
    assert json.loads((out / "model.json").read_text())["recipe"]["epochs"] == 1
    assert metrics["seed"] == 7 and metrics["device_type"] == "cpu"
    # --target-acc 100 is percent: 1.0, which random labels never reach
    assert metrics["target_acc"] == 1.0 and metrics["time_to_target_seconds"] is None
    assert f"test accuracy {metrics['test_accuracy']:.2%} (9 test-time views averaged)" in lines[0]
    assert "not reached" in lines[1] and lines[-1] == f"saved to {out}"
    assert cli._fraction("99") == pytest.approx(0.99) == cli._fraction("0.99")


def test_evaluate_and_predict_read_the_checkpoint(run_dir, tmp_path, tiny, capsys):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    code, out, _ = run(capsys, "evaluate", run_dir, "--device", "cpu")
    assert code == 0
    assert f"test accuracy {metrics['test_accuracy']:.2%} (9 test-time views averaged)" in out[0]
    assert out[1].split() == ["true\\pred", *map(str, range(10)), "accuracy"]
    counts = [list(map(int, line.split()[1:11])) for line in out[2:12]]
    assert sum(map(sum, counts)) == 200  # the confusion matrix covers the whole test split

    code, out, err = run(capsys, "predict", run_dir, seven(tmp_path / "7.png"))
    assert code == 0 and not err
    path, digit, confidence = out[0].split("\t")
    assert path == str(tmp_path / "7.png") and digit in "0123456789"
    assert 0 <= float(confidence) <= 1 and len(confidence) == 5


@pytest.mark.parametrize("argv, words", [
    (["train", "--recipe", "nope"], ["unknown recipe 'nope'", "fast"]),
    (["train", "--recipe", "fast", "--device", "tpu"], ["--device"]),
    (["train", "--recipe", "fast", "--epochs", "0"], ["--epochs"]),
    (["train", "--recipe", "fast", "--epochs", "two"], ["--epochs"]),
    (["train", "--recipe", "fast", "--target-acc", "150"], ["--target-acc"]),
    (["train", "--recipe", "fast", "--target-acc", "0"], ["--target-acc"]),
    (["train"], ["--recipe"]),
    (["fly"], ["invalid choice"]),
])
def test_bad_arguments_are_one_line(capsys, tiny, argv, words):
    code, _, err = run(capsys, *argv)
    assert_one_error_line(code, err, *words)
    assert code == (1 if "nope" in argv else 2)  # 2: a usage error, caught by argparse


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_absent_device_is_one_line(tmp_path, capsys, tiny, command):
    argv = {"train": ["train", "--recipe", "fast"], "evaluate": ["evaluate", tmp_path],
            "predict": ["predict", tmp_path, tmp_path / "7.png"]}[command]
    code, _, err = run(capsys, *argv, "--device", "cuda")
    assert_one_error_line(code, err, "cuda")


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_missing_or_corrupt_checkpoint_is_one_line(run_dir, tmp_path, tiny, capsys, command):
    image = seven(tmp_path / "7.png")
    extra = [image] if command == "predict" else []
    code, _, err = run(capsys, command, tmp_path / "nowhere", *extra)
    assert_one_error_line(code, err, "nowhere", "no such checkpoint folder")
    (run_dir / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    code, _, err = run(capsys, command, run_dir, *extra)
    assert_one_error_line(code, err, "model.safetensors")
    (run_dir / "model.json").write_text("{not json")
    code, _, err = run(capsys, command, run_dir, *extra)
    assert_one_error_line(code, err, "model.json")


def test_predict_answers_good_images_and_names_each_bad_one(run_dir, tmp_path, capsys):
    good = seven(tmp_path / "good.png")
    (tmp_path / "empty.png").touch()
    (tmp_path / "text.jpg").write_text("not a picture")
    Image.new("L", (200, 200), 250).save(tmp_path / "blank.png")
    bad = [tmp_path / "missing.png", tmp_path / "text.jpg", tmp_path / "empty.png",
           tmp_path / "blank.png"]
    code, out, err = run(capsys, "predict", run_dir, bad[0], bad[1], good, bad[2], bad[3])
    assert code == 2
    assert len(out) == 1 and out[0].startswith(f"{good}\t")
    assert len(err) == len(bad) and "Traceback" not in "".join(err)
    for path, line, reason in zip(bad, err, ["no such file", "not an image", "empty", "blank"]):
        assert line.startswith(f"{path}: ") and reason in line


def test_export_then_predict_with_the_onnx_file(run_dir, tmp_path, tiny, capsys):
    onnx_path = tmp_path / "model.onnx"
    code, out, err = run(capsys, "export", run_dir, "--onnx", onnx_path, "--int8")
    assert code == 0 and not err
    assert "agree on 100.00%" in out[0] and "int8" in out[1]
    assert onnx_path.is_file() and (tmp_path / "model.int8.onnx").is_file()
    image = seven(tmp_path / "7.png")
    _, from_torch, _ = run(capsys, "predict", run_dir, image, "--device", "cpu")
    code, from_onnx, err = run(capsys, "predict", onnx_path, image)
    assert code == 0 and not err
    digit, conf = from_onnx[0].split("\t")[1:]
    assert digit == from_torch[0].split("\t")[1]
    assert float(conf) == pytest.approx(float(from_torch[0].split("\t")[2]), abs=2e-3)


def test_corrupt_or_foreign_onnx_is_one_line(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper
    image = seven(tmp_path / "7.png")
    (tmp_path / "random.onnx").write_bytes(os.urandom(300))
    code, out, err = run(capsys, "predict", tmp_path / "random.onnx", image)
    assert_one_error_line(code, err, "random.onnx", "ONNX")
    assert not out
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    onnx.save(helper.make_model(graph), tmp_path / "foreign.onnx")
    code, _, err = run(capsys, "predict", tmp_path / "foreign.onnx", image)
    assert_one_error_line(code, err, "foreign.onnx")
    code, _, err = run(capsys, "predict", tmp_path / "absent.onnx", image)
    assert_one_error_line(code, err, "absent.onnx")


def test_bench_prints_a_table_and_writes_json(tmp_path, tiny, capsys):
    out_file = tmp_path / "bench.json"
    code, out, err = run(capsys, "bench", "--recipes", "tmf,fast", "--seeds", "2", "--epochs",
                         "1", "--device", "cpu", "--out", out_file)
    assert code == 0
    assert len(err) == 4  # one progress line per run
    (result,) = json.loads(out_file.read_text())
    assert [r["recipe"] for r in result["results"]] == ["tmf", "fast"]
    assert all(len(r["runs"]) == 2 for r in result["results"])
    assert any(line.startswith("fast") for line in out)
    assert out[-1] == f"saved to {out_file} (1 benchmark run(s) in it)"
    assert result["command"].startswith("python -m mnistlib ") or "pytest" in result["command"]
    code, _, err = run(capsys, "bench", "--recipes", "tmf,nope", "--device", "cpu")
    assert_one_error_line(code, err, "nope")


def test_unwritable_output_is_one_line(tmp_path, tiny, capsys):
    (tmp_path / "file").write_text("in the way")
    code, _, err = run(capsys, "train", "--recipe", "fast", "--epochs", "1", "--device", "cpu",
                       "--out", tmp_path / "file" / "run", "--quiet")
    assert_one_error_line(code, err, "file")


def test_data_errors_are_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "data", "--root", tmp_path / "root", "--mirror", tmp_path / "none")
    assert_one_error_line(code, err, "mirror")
    assert not list((tmp_path / "root").rglob("*-ubyte"))  # nothing unverified got a final name


def test_interrupt_exits_130_with_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_data", interrupted)
    code, _, err = run(capsys, "data")
    assert code == 130 and err == ["mnistlib: interrupted"]


def test_python_dash_m_reports_the_exit_status(tmp_path):
    p = subprocess.run([sys.executable, "-m", "mnistlib", "train", "--recipe", "nope"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert p.stderr.splitlines() == ["mnistlib: error: unknown recipe 'nope'; known: "
                                     + ", ".join(cli.RECIPES)]


# Real MNIST: only where MNIST_MIRROR points at the four files (CI sets it).
@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory) -> str:
    if not os.environ.get("MNIST_MIRROR"):
        pytest.skip("MNIST_MIRROR is not set")
    return os.environ.get("MNIST_ROOT") or str(tmp_path_factory.mktemp("mnist"))


def test_data_command_lists_the_verified_files(mnist_root, capsys):
    code, out, _ = run(capsys, "data", "--root", mnist_root)
    assert code == 0
    assert sum("verified sha256" in line for line in out) == 4
    assert out[-1] == "train 55,000 / validation 5,000 / test 10,000 images"


def test_fast_recipe_reads_the_fixture_digits(mnist_root, tmp_path, capsys):
    """One epoch of ``fast`` on real MNIST reads drawings and photo-like shots of digits."""
    out = tmp_path / "fast"
    code, _, err = run(capsys, "train", "--recipe", "fast", "--epochs", "1", "--device", "cpu",
                       "--root", mnist_root, "--out", out, "--quiet")
    assert code == 0, err
    images = sorted(FIXTURES.iterdir())
    code, lines, err = run(capsys, "predict", out, "--device", "cpu", *images)
    assert code == 0 and not err
    right = [Path(p).name[0] == d for p, d, _ in (line.split("\t") for line in lines)]
    assert len(right) == len(images) and sum(right) >= len(images) - 1, lines


def test_a_bug_inside_a_command_shows_its_traceback(monkeypatch):
    """Only the library's user errors become one-line messages; a bug is not hidden."""
    import subprocess
    import sys

    from mnistlib import cli

    def broken(args):
        return {}["a key the code forgot"]  # a KeyError that is no unknown name

    monkeypatch.setattr(cli, "cmd_data", broken)
    with pytest.raises(KeyError):
        cli.main(["data"])
    code = ("import mnistlib.cli as c\n"
            "def broken(args): raise ValueError('a bug, not a user error')\n"
            "c.cmd_data = broken\nraise SystemExit(c.main(['data']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "ValueError: a bug, not a user error" in done.stderr
