"""The browser demo (``export --web``): its folder, its preprocessing in JavaScript, and the
page itself in headless Chromium.

Without node the JavaScript tests skip; without Chromium and ``npm ci``'s node_modules the
browser tests skip, and say what is missing. The browser test on its own, the documented
command: ``source tests/env.sh && python -m pytest tests/test_web.py -q``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from conftest import synthetic_split
from mnistlib import cli, web
from mnistlib.data import MNIST
from mnistlib.drawings import drawn_digits
from mnistlib.evaluation import Classifier
from mnistlib.images import ImageError, digit_from_grey, load_digit, read_grey
from mnistlib.models import FastCNN

ROOT = Path(__file__).resolve().parent.parent
PREPROCESS = ROOT / "tests" / "browser" / "preprocess.mjs"
BROWSER_SEED = 4  # drawings for these tests: neither the tuning nor the held-out seed
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
needs_ort = pytest.mark.skipif(
    not (web.NODE_MODULES / "onnxruntime-web").is_dir(),
    reason="onnxruntime-web is not in node_modules: run `npm ci` (tests/env.sh does)")
needs_browser = pytest.mark.skipif(web.browser_missing() is not None,
                                   reason=f"no browser test here: {web.browser_missing()}")


def tiny_mnist() -> MNIST:
    train, val = synthetic_split(400, 0), synthetic_split(200, 1)
    return MNIST(train, val, synthetic_split(100, 2), torch.arange(400), torch.arange(400, 600))


def tiny_classifier() -> Classifier:
    torch.manual_seed(0)
    return Classifier(FastCNN(width=4, hidden=16).eval(), "standard", {"recipe": "tiny"})


# --- The JavaScript preprocessing is Python's, to the pixel -------------------------------------

def sample_images() -> list[Image.Image]:
    """Drawings of every kind the page may get: canvas drawings in both polarities and in three
    shapes, a thin pen, a photo-like page, RGBA with a transparent page, an RGB colour page, a
    digit that is already in MNIST's format (both polarities), and a blank page."""
    ims = [Image.fromarray(d.image) for d in drawn_digits(20, BROWSER_SEED)]
    thin = Image.new("L", (900, 700), 250)
    ImageDraw.Draw(thin).line([(300, 100), (500, 120), (350, 600)], fill=20, width=3)
    rgba = Image.new("RGBA", (300, 400), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).line([(80, 60), (220, 60), (120, 340)], fill=(30, 60, 200, 255), width=24)
    rgb = Image.new("RGB", (300, 200), (200, 220, 240))
    ImageDraw.Draw(rgb).line([(50, 20), (150, 180), (250, 30)], fill=(120, 20, 20), width=12)
    rng = np.random.default_rng(0)
    photo = np.asarray(Image.fromarray(drawn_digits(1, 5)[0].image).convert("L"), np.float32)
    photo = photo * np.linspace(0.6, 1.0, photo.shape[1]) + rng.normal(0, 6, photo.shape)
    mnist_like = digit_from_grey(np.asarray(ims[3], np.float32) / 255).numpy()
    faint_speck = mnist_like.copy()
    faint_speck[1, 1] = 40  # ink outside the 20×20 box: not MNIST's format any more
    odd = Image.new("L", (301, 257), 255)  # odd pixel counts: a median is one middle value
    ImageDraw.Draw(odd).ellipse((100, 40, 190, 220), outline=0, width=14)
    blank = Image.new("L", (60, 50), 200)
    return ims + [thin, rgba, rgb, Image.fromarray(photo.clip(0, 255).astype(np.uint8)),
                  Image.fromarray(mnist_like), Image.fromarray(255 - mnist_like),
                  Image.fromarray(faint_speck), odd, blank]


def python_and_javascript(tmp_path: Path, ims: list[Image.Image]) -> list[tuple]:
    """Each image as ``load_digit`` reads its PNG, and as preprocess.js reads its pixels."""
    rgba, py = [], []
    for i, im in enumerate(ims):
        path = tmp_path / f"{i}.png"
        im.save(path)
        with Image.open(path) as f:
            rgba.append(np.asarray(f.convert("RGBA")))
        try:
            py.append(load_digit(path).numpy())
        except ImageError as e:
            py.append(str(e).split(": ", 1)[1])
    batch = web.write_batch(rgba, tmp_path)
    out = tmp_path / "out.json"
    subprocess.run(["node", str(PREPROCESS), batch["json"], batch["bin"], str(out)], check=True)
    return list(zip(py, json.loads(out.read_text())))


@needs_node
def test_javascript_preprocessing_gives_pythons_digits_exactly(tmp_path):
    pairs = python_and_javascript(tmp_path, sample_images())
    for i, (py, js) in enumerate(pairs):
        if isinstance(py, str):
            assert js.get("error") == py, f"image {i}"
            continue
        assert "error" not in js, f"image {i}: {js.get('error')}"
        assert np.array_equal(np.array(js["digit28"]).reshape(28, 28), py), f"image {i}"
    assert isinstance(pairs[-1][0], str) and "blank" in pairs[-1][0]


@needs_node
def test_javascript_shrinks_a_large_image_as_python_does_within_a_level(tmp_path):
    big = Image.new("L", (1600, 1300), 255)
    ImageDraw.Draw(big).line([(500, 200), (900, 220), (650, 1100)], fill=0, width=60)
    (py, js), = python_and_javascript(tmp_path, [big])
    assert np.abs(np.array(js["digit28"]).reshape(28, 28) - py.astype(int)).mean() < 1


# --- The folder export --web writes ---------------------------------------------------------

@needs_ort
def test_write_demo_writes_a_self_contained_folder(tmp_path):
    out = tmp_path / "demo"
    manifest = web.write_demo(tiny_classifier(), out, tiny_mnist())
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"index.html", "app.js", "preprocess.js", "style.css", "model.onnx", "demo.json",
            "ort/ort.wasm.min.js", "ort/ort-wasm-simd-threaded.wasm"} <= names
    assert json.loads((out / "demo.json").read_text()) == manifest
    assert manifest["quantization"] in ("int8", "fp32") and manifest["recipe"] == "tiny"
    html = (out / "index.html").read_text() + (out / "app.js").read_text()
    assert "http" not in html.replace("http.server", "")  # nothing from a CDN
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left


@needs_ort
def test_write_demo_replaces_an_earlier_demo_whole_but_refuses_other_folders(tmp_path):
    out = tmp_path / "demo"
    web.write_demo(tiny_classifier(), out, tiny_mnist())
    (out / "stale.txt").write_text("from an earlier export")
    web.write_demo(tiny_classifier(), out, tiny_mnist())
    assert not (out / "stale.txt").exists() and (out / "index.html").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(web.WebError, match="other files"):
        web.write_demo(tiny_classifier(), mine, tiny_mnist())
    assert (mine / "notes.txt").read_text() == "keep me"


def test_without_onnxruntime_web_the_error_says_to_run_npm_ci(tmp_path):
    with pytest.raises(web.WebError, match="npm ci") as e:
        web.write_demo(tiny_classifier(), tmp_path / "demo", tiny_mnist(),
                       node_modules=tmp_path / "node_modules")
    assert "\n" not in str(e.value) and not (tmp_path / "demo").exists()


@pytest.mark.parametrize("case", ["out is a file", "no checkpoint", "nothing to write"])
def test_export_web_errors_are_one_line_and_non_zero(tmp_path, capsys, case):
    (tmp_path / "file").write_text("x")
    argv = {"out is a file": ["export", str(tmp_path), "--web", str(tmp_path / "file")],
            "no checkpoint": ["export", str(tmp_path / "none"), "--web", str(tmp_path / "d")],
            "nothing to write": ["export", str(tmp_path)]}[case]
    if case == "no checkpoint" and not (web.NODE_MODULES / "onnxruntime-web").is_dir():
        pytest.skip("needs onnxruntime-web in node_modules to get as far as the checkpoint")
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("mnistlib: error: ") and err.count("\n") == 1 and "Traceback" not in err


# --- The page in headless Chromium --------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist():
    from mnistlib.data import DataError, load
    try:
        return load()
    except DataError as e:
        pytest.skip(f"needs MNIST (set MNIST_MIRROR): {e}")


@pytest.fixture(scope="module")
def demo(mnist, tmp_path_factory):
    """The `fast` recipe trained once (one thread, about ten seconds), as a demo folder."""
    from mnistlib.recipes import get_recipe
    from mnistlib.training import fit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = fit(get_recipe("fast"), mnist.train, mnist.val, "cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    out = tmp_path_factory.mktemp("web") / "demo"
    web.write_demo(result.classifier, out, mnist)
    return out


@needs_browser
def test_the_page_reads_digits_as_predict_does_offline(demo, mnist, tmp_path):
    """240 digits through window.classifyDigit in Chromium against Python's predict with the
    same model.onnx: MNIST test digits and canvas drawings, each in both polarities."""
    from mnistlib.export import OnnxModel
    grey = [mnist.test.images[i].numpy() for i in range(60)]
    grey += [d.image for d in drawn_digits(60, BROWSER_SEED, [(280, 280), (240, 400)])]
    grey += [255 - g for g in grey]
    pairs = python_and_javascript_in_chromium(demo, grey, tmp_path)
    model = OnnxModel(demo / "model.onnx")
    py_images = torch.stack([torch.from_numpy(p) for p, _ in pairs])
    py_digits = model.predict(py_images).tolist()
    js_digits = [r["digit"] for _, r in pairs]
    agreement = np.mean([a == b for a, b in zip(py_digits, js_digits)])
    mad = np.mean([np.abs(np.array(r["image"]) - p.ravel().astype(int)).mean() / 255
                   for p, r in pairs])
    assert len(pairs) == 240 and agreement >= 0.99 and mad <= 1 / 255
    probs = np.array([r["probabilities"] for _, r in pairs])
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    assert np.abs(probs - model.probabilities(py_images).numpy()).max() < 2e-3


def python_and_javascript_in_chromium(folder: Path, grey: list[np.ndarray], tmp_path: Path
                                      ) -> list[tuple[np.ndarray, dict]]:
    for i, g in enumerate(grey):
        Image.fromarray(g).save(tmp_path / f"{i}.png")
    py = [load_digit(tmp_path / f"{i}.png").numpy() for i in range(len(grey))]
    result = web.drive(folder, {"batch": web.write_batch(grey, tmp_path)})
    assert not result["errors"], result["errors"]
    assert not result["refused"] and all(u.startswith(result["origin"] + "/")
                                          for u in result["requests"])
    assert "/model.onnx" in result["served"]  # and nothing but the folder's own files:
    assert all(p == "/" or (folder / p.lstrip("/")).is_file() for p in result["served"])
    return list(zip(py, result["results"]))


DESKTOP, PHONE = (1280, 800), (390, 844)  # viewports (CSS pixels): a laptop, a phone


def draw_on_page(folder: Path, strokes: list[np.ndarray], screenshot: Path, phone: bool
                 ) -> dict:
    """Draw ``strokes`` (points in the 280×280 canvas's pixels) on the demo page with pointer
    events (a mouse on a desktop viewport; a finger on a phone's, with touch events), and save
    a screenshot of the page. Returns what the page then shows (``drawn``)."""
    job = {"viewport": list(PHONE if phone else DESKTOP), "touch": phone,
           "draw": {"strokes": [np.asarray(s, float).round(1).tolist() for s in strokes],
                    "screenshot": str(screenshot)}}
    return web.drive(folder, job)


@needs_browser
@pytest.mark.parametrize("phone", [False, True], ids=["mouse on a desktop", "finger on a phone"])
def test_drawing_on_the_canvas_shows_the_answer(demo, tmp_path, phone):
    one = [np.array([[140.0, 50.0], [140.0, 140.0], [138.0, 230.0]])]
    shot = tmp_path / "page.png"
    result = draw_on_page(demo, one, shot, phone=phone)
    assert result["drawn"]["digit"] == "1" and "% sure" in result["drawn"]["confidence"]
    assert "model" in result["drawn"]["timing"] and shot.stat().st_size > 10_000
    assert not result["errors"] and not result["refused"]


@needs_browser
def test_browser_latency_is_measured_offline(demo):
    lat = web.browser_latency(demo, n=30, warmup=5)
    assert lat["offline"] and lat["n"] == 30
    assert 0 < lat["model_p50_ms"] < 100 and 0 < lat["total_p50_ms"] < 2000


def test_browser_latency_is_none_without_a_browser(tmp_path, monkeypatch):
    monkeypatch.setattr(web, "CHROMIUM", str(tmp_path / "no-chromium"))
    assert web.browser_latency(tmp_path) is None
    assert "Chromium" in web.browser_missing()
