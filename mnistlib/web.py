"""The model in the reader's browser: a self-contained page to draw a digit on, and its timing.

``write_demo`` writes a folder that any static server can serve (``python -m http.server``),
with no network needed: ``index.html`` and its scripts (``webapp/``), the model as ONNX (int8
when that keeps its validation accuracy), and ONNX Runtime Web's JavaScript and WebAssembly,
taken from the npm package ``onnxruntime-web`` that ``npm ci`` installs from the repository's
``package-lock.json``. The page reads a drawing as ``predict`` does: ``webapp/preprocess.js``
repeats ``mnistlib.images`` step by step.

``browser_latency`` serves such a folder on localhost and times the page in headless Chromium
(Debian's ``chromium``, driven by the npm package ``playwright-core``).
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from mnistlib import __version__
from mnistlib.data import MNIST, load
from mnistlib.errors import MnistlibError
from mnistlib.evaluation import Classifier

WEBAPP = Path(__file__).parent / "webapp"
DRIVER = Path(__file__).parent / "chromium.mjs"
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"  # the repository's
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MANIFEST = "demo.json"     # what the folder holds; also marks it as ours to replace
INT8_TOLERANCE = 0.001     # int8 is shipped when it loses at most this much validation accuracy
CALIBRATION = 1000         # training digits that calibrate the int8 activation ranges
CHROMIUM = os.environ.get("MNISTLIB_CHROMIUM", "/usr/bin/chromium")  # Debian's, or another


class WebError(MnistlibError, ValueError):
    """A demo folder that cannot be written or measured, with a one-line reason."""


def ort_web(node_modules: str | Path | None = None) -> tuple[Path, str]:
    """ONNX Runtime Web's ``dist`` folder in ``node_modules`` and its version."""
    root = Path(node_modules or NODE_MODULES)
    package = root / "onnxruntime-web"
    missing = [f for f in ORT_FILES if not (package / "dist" / f).is_file()]
    if missing:
        raise WebError(f"onnxruntime-web is not installed in {root} (no {missing[0]}): run "
                       "`npm ci` in the repository root (tests/env.sh does it)")
    return package / "dist", json.loads((package / "package.json").read_text())["version"]


def check_out(out: Path) -> None:
    """Refuse an OUT that is a file, or a folder that holds something other than a demo."""
    if out.is_file() or (out.exists() and not out.is_dir()):
        raise WebError(f"{out}: is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise WebError(f"{out}: a folder that holds other files than a demo; "
                       "choose a new or empty folder")


def _replace(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` in place of ``out`` whole: rename, never merge."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / out.name)
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:  # put the user's folder back
            os.replace(old / out.name, out)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _onnx_models(clf: Classifier, data: MNIST, folder: Path) -> dict[str, Any]:
    """model.onnx in ``folder``: int8 if it keeps the validation accuracy, else fp32."""
    from mnistlib.export import OnnxModel, export_onnx, quantize_int8

    fp32, int8 = folder / "model.fp32.onnx", folder / "model.int8.onnx"
    export_onnx(clf, fp32)
    # 7-bit weights: with 8, x86 CPUs without VNNI saturate in ONNX Runtime's int8 kernels, so
    # that the native runtime would judge another model than the browser's WebAssembly runs.
    quantize_int8(fp32, int8, data.train.images[:CALIBRATION], reduce_range=True)
    acc = {name: OnnxModel(path).accuracy(data.val) for name, path in
           (("fp32", fp32), ("int8", int8))}
    chosen = "int8" if acc["fp32"] - acc["int8"] <= INT8_TOLERANCE + 1e-9 else "fp32"
    os.replace(int8 if chosen == "int8" else fp32, folder / "model.onnx")
    for path in (fp32, int8):
        path.unlink(missing_ok=True)
    return {"quantization": chosen, "val_accuracy": acc,
            "normalization": clf.normalization}


def write_demo(model: str | Path | Classifier, out: str | Path, data: MNIST | None = None,
               node_modules: str | Path | None = None) -> dict[str, Any]:
    """Write the browser demo for ``model`` (a checkpoint folder or a ``Classifier``) into the
    folder ``out``, which is replaced whole (it must be new, empty, or an earlier demo).

    ``data`` (default: ``load()``) calibrates the int8 copy on training digits and compares it
    with fp32 on the validation split. Returns the folder's manifest (``demo.json``): the
    model's quantization, its validation accuracies, and each file's size in bytes."""
    from mnistlib import checkpoints

    out = Path(out)
    check_out(out)
    dist, ort_version = ort_web(node_modules)
    clf = model if isinstance(model, Classifier) else checkpoints.load(model, "cpu")
    data = data if data is not None else load()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        recipe = clf.meta.get("recipe")
        manifest: dict[str, Any] = {
            "mnistlib": __version__, "onnxruntime_web": ort_version,
            "recipe": recipe.get("name") if isinstance(recipe, dict) else recipe,
            **_onnx_models(clf, data, tmp)}
        for f in WEBAPP.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        (tmp / "ort").mkdir()
        for name in ORT_FILES:
            shutil.copy2(dist / name, tmp / "ort" / name)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        manifest["files"] = {str(p.relative_to(tmp)): p.stat().st_size for p in files}
        manifest["total_bytes"] = sum(manifest["files"].values())
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes an owner-only folder; a server must read it
        _replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


class _Handler(http.server.SimpleHTTPRequestHandler):
    """A static server that remembers every path asked of it and logs nothing."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript",
                      ".wasm": "application/wasm", ".onnx": "application/octet-stream"}

    def __init__(self, *args, requests: list[str], **kwargs) -> None:
        self.requests = requests
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serve(folder: str | Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``folder`` on a free localhost port: yields its URL and the list of requested
    paths, which grows as the page asks for files."""
    requests: list[str] = []
    handler = functools.partial(_Handler, directory=str(folder), requests=requests)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", requests
    finally:
        server.shutdown()
        server.server_close()


def browser_missing() -> str | None:
    """Why the page cannot be measured in a browser here, or None when it can."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    if shutil.which("node") is None:
        return "no node on PATH (the browser driver is a node script)"
    if not (NODE_MODULES / "playwright-core" / "package.json").is_file():
        return (f"playwright-core is not installed in {NODE_MODULES}: run `npm ci` in the "
                "repository root")
    return None


def drive(folder: str | Path, job: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    """Serve ``folder`` and run one job of ``chromium.mjs`` on it (see that file): returns the
    job's result, with ``requests``, every URL the page asked for, and ``served``, every path
    the local server was asked for."""
    reason = browser_missing()
    if reason:
        raise WebError(reason)
    with serve(folder) as (url, served), tempfile.TemporaryDirectory() as scratch:
        job_file, result_file = Path(scratch) / "job.json", Path(scratch) / "result.json"
        job_file.write_text(json.dumps({"url": url, "chromium": CHROMIUM, **job}))
        run = subprocess.run(["node", str(DRIVER), str(job_file), str(result_file)],
                             capture_output=True, text=True, timeout=timeout)
        if run.returncode != 0 or not result_file.is_file():
            lines = run.stderr.strip().splitlines() or ["no output"]
            why = next((line.strip() for line in lines if "Error" in line), lines[-1])
            raise WebError(f"the browser driver failed ({why})")
        result = json.loads(result_file.read_text())
    result["served"] = list(served)
    result["origin"] = url.rstrip("/")
    return result


def write_batch(images: list[np.ndarray], folder: str | Path) -> dict[str, str]:
    """Images for the driver's ``batch``: grey ``[H, W]`` or RGBA ``[H, W, 4]`` uint8 arrays,
    written as ``batch.json`` (their sizes) and ``batch.bin`` (their RGBA bytes)."""
    folder = Path(folder)
    meta, offset = [], 0
    with open(folder / "batch.bin", "wb") as f:
        for im in images:
            im = np.asarray(im, np.uint8)
            if im.ndim == 2:
                im = np.dstack([im, im, im, np.full_like(im, 255)])
            meta.append({"width": im.shape[1], "height": im.shape[0], "offset": offset})
            f.write(np.ascontiguousarray(im).tobytes())
            offset += im.size
    (folder / "batch.json").write_text(json.dumps({"images": meta}))
    return {"json": str(folder / "batch.json"), "bin": str(folder / "batch.bin")}


def browser_latency(folder: str | Path, n: int = 200, warmup: int = 20) -> dict[str, Any] | None:
    """Milliseconds per digit in headless Chromium for the demo in ``folder``: the median of
    ``n`` timed ``classifyDigit`` calls on 280×280 drawings (``total_p50_ms``, of which
    ``preprocess_p50_ms``) after ``warmup`` untimed ones, and of the model's run alone
    (``model_p50_ms``: the median over ``n`` blocks of ten calls, since a browser's clock
    counts in steps of 0.1 ms). ``offline``: every request stayed on the local server. None
    when no browser is here (``browser_missing`` says why)."""
    from mnistlib.drawings import drawn_digits

    if browser_missing() is not None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        drawings = drawn_digits(20, seed=0, canvases=[(280, 280)])
        batch = write_batch([d.image for d in drawings], scratch)
        result = drive(folder, {"batch": batch, "latency": {"n": n, "warmup": warmup}})
    return {**result["latency"], "user_agent": result.get("user_agent"),
            "offline": all(u.startswith(result["origin"]) for u in result["requests"])}

