"""The command line: ``python -m mnistlib data | train | evaluate | predict``.

Every user error (a bad name, a missing file, a device that is not there: the library's
``MnistlibError``) ends as one line on stderr and a non-zero exit status. Anything else is a
bug, and shows its traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from mnistlib import __version__, checkpoints
from mnistlib.data import DIGESTS, fetch, load
from mnistlib.devices import DEVICES, describe, resolve_device
from mnistlib.errors import MnistlibError
from mnistlib.evaluation import Predictor, evaluate
from mnistlib.files import atomic_write
from mnistlib.images import ImageError, load_digit
from mnistlib.recipes import RECIPES, get_recipe
from mnistlib.training import fit


class CLIError(MnistlibError):
    """A user error the command line reports in one line."""


@contextlib.contextmanager
def user_files() -> Iterator[None]:
    """Around work on paths the user named: an OSError there is theirs to fix, in one line."""
    try:
        yield
    except OSError as e:
        raise CLIError(f"{e.filename}: {e.strerror}" if e.filename else str(e)) from None


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit status 2) like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(text: str, kind: type, ok: Callable[[Any], bool], why: str) -> Any:
    """``text`` as a number of ``kind`` (float or int) for which ``ok`` holds; otherwise a usage
    error, ``why`` (formatted with ``text`` and the number ``x``) if it is a number at all."""
    try:
        x = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a {'whole ' if kind is int else ''}number: {text!r}") from None
    if not ok(x):
        raise argparse.ArgumentTypeError(why.format(text=text, x=x))
    return x


def _fraction(text: str) -> float:
    """A target accuracy as a fraction: 0.99 and 99 (percent) both mean 0.99."""
    a = _number(text, float, lambda a: 0 < a <= 100, "{text} is not an accuracy: give a "
                "fraction up to 1 or a percentage up to 100")
    return a / 100 if a > 1 else a


def _count(text: str) -> int:
    return _number(text, int, lambda n: n >= 1, "must be at least 1, not {x}")


def _finite(x: object) -> object:
    """NaN and infinity as JSON null, so metrics.json is strict JSON."""
    return None if isinstance(x, float) and not math.isfinite(x) else x


def cmd_data(args: argparse.Namespace) -> int:
    raw = fetch(args.root, args.mirror)
    for name, digest in DIGESTS.items():
        path = raw / name
        print(f"{path}  {path.stat().st_size:>10,} bytes  verified sha256 {digest}")
    data = load(args.root, args.mirror)
    print(f"train {len(data.train):,} / validation {len(data.val):,} / "
          f"test {len(data.test):,} images")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    changes = {k: getattr(args, k) for k in ("epochs", "seed", "target_acc")}
    recipe = get_recipe(args.recipe).replace(**{k: v for k, v in changes.items() if v is not None})
    device = resolve_device(args.device)
    out = Path(args.out or Path("runs") / recipe.name)
    with user_files():  # an unwritable --out fails now, not after training
        out.mkdir(parents=True, exist_ok=True)
    data = load(args.root, args.mirror)
    result = fit(recipe, data.train, data.val, device, progress=not args.quiet)
    test = evaluate(result.classifier, data.test)
    metrics = {
        "recipe": recipe.name, "seed": recipe.seed, "epochs": recipe.epochs,
        "device": describe(device), "device_type": device.type,
        "torch": torch.__version__, "mnistlib": __version__,
        "epochs_run": result.epochs_run, "train_seconds": result.train_seconds,
        "eval_seconds": result.eval_seconds, "val_accuracy": result.val_accuracy,
        "test_accuracy": test["accuracy"], "target_acc": recipe.target_acc,
        "time_to_target_seconds": result.time_to_target_seconds,
        "stopped_early": result.stopped_early,
        "history": [{k: _finite(v) for k, v in row.items()} for row in result.history],
    }
    with user_files():
        checkpoints.save(out, result.model, recipe, metrics)
    n = result.epochs_run
    print(f"{recipe.name}: test accuracy {test['accuracy']:.2%}{_views(len(recipe.views))} "
          f"after {n:g} epoch"
          f"{'' if n == 1 else 's'}, {result.train_seconds:.1f} s of training "
          f"on {describe(device)}")
    if recipe.target_acc is not None:
        t = result.time_to_target_seconds
        print(f"validation target {recipe.target_acc:.2%}: "
              + (f"reached after {t:.1f} s" if t is not None else "not reached"))
    print(f"saved to {out}")
    return 0


def _views(n: int) -> str:
    """`` (9 test-time views averaged)`` for a classifier with test-time augmentation."""
    return f" ({n} test-time views averaged)" if n > 1 else ""


def format_confusion(cm: list[list[int]], per_class: list[float]) -> str:
    """The confusion matrix as a table: rows true digit, columns predicted, then accuracy."""
    lines = ["true\\pred" + "".join(f"{d:>6}" for d in range(len(cm))) + "  accuracy"]
    for d, (row, acc) in enumerate(zip(cm, per_class)):
        lines.append(f"{d:>9}" + "".join(f"{n:>6}" for n in row) + f"  {acc:>8.2%}")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    clf = checkpoints.load(args.checkpoint, device)
    data = load(args.root, args.mirror)
    r = evaluate(clf, data.test)
    print(f"{args.checkpoint}: test accuracy {r['accuracy']:.2%}{_views(len(clf.views))} on "
          f"{len(data.test):,} images ({clf.meta['model']})")
    print(format_confusion(r["confusion_matrix"], r["per_class_accuracy"]))
    if args.corruptions:
        from mnistlib.corruptions import SEVERITY, corruption_accuracy
        accs = corruption_accuracy(clf, data.test)
        print(f"\n{'corruption':<16}{'severity':>10}{'accuracy':>10}")
        for name, acc in accs.items():
            print(f"{name:<16}{str(SEVERITY.get(name, '')):>10}{acc:>10.2%}")
        mean = sum(a for n, a in accs.items() if n != "clean") / (len(accs) - 1)
        print(f"{'mean corrupted':<26}{mean:>10.2%}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from mnistlib import web
    from mnistlib.export import OnnxModel, check_onnx, export_onnx, quantize_int8
    if not (args.onnx or args.web):
        raise CLIError("nothing to write: give --onnx OUT, --web OUT or both")
    if args.web:  # fail now, not after the export: a bad OUT, or no ONNX Runtime Web
        web.check_out(Path(args.web))
        web.ort_web()
    clf = checkpoints.load(args.checkpoint, "cpu")
    data = load(args.root, args.mirror)
    if args.web:
        with user_files():
            demo = web.write_demo(clf, args.web, data)
        q = demo["quantization"]
        print(f"{args.web}: browser demo, {len(demo['files'])} files, "
              f"{demo['total_bytes'] / 1e6:.1f} MB: model.onnx {q} "
              f"({demo['files']['model.onnx'] / 1e3:.0f} kB, validation accuracy "
              f"{demo['val_accuracy'][q]:.2%}; fp32 {demo['val_accuracy']['fp32']:.2%}), "
              f"ONNX Runtime Web {demo['onnxruntime_web']}")
        print(f"serve it with `python -m http.server -d {args.web}` and open "
              "http://localhost:8000/")
    if not args.onnx:
        return 0
    out = Path(args.onnx)
    with user_files():
        export_onnx(clf, out)
    check = check_onnx(clf, out, data.test.images)
    print(f"{out}: fp32, largest |logit difference| vs PyTorch {check['max_abs_diff']:.2e}, "
          f"predictions agree on {check['agreement']:.2%} of {check['n']:,} test images")
    if args.int8:
        q = out.with_name(out.stem + ".int8.onnx")
        with user_files():
            quantize_int8(out, q, data.train.images[:1000])
        acc_q, acc_f = (OnnxModel(p).accuracy(data.test) for p in (q, out))
        print(f"{q}: int8, test accuracy {acc_q:.2%} (fp32 {acc_f:.2%})")
    return 0


def _seeds_for(text: str) -> dict[str, int]:
    """``baseline=2,tmf=5`` → {"baseline": 2, "tmf": 5}."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, n = item.partition("=")
        if not name or not n.isdigit() or int(n) < 1:
            raise argparse.ArgumentTypeError(f"expected NAME=N with N >= 1, not {item!r}")
        out[name.strip()] = int(n)
    return out


def cmd_bench(args: argparse.Namespace) -> int:
    from mnistlib.benchmarking import add_result, bench, format_table
    recipes = [get_recipe(n.strip()) for n in args.recipes.split(",") if n.strip()]
    missing = set(args.seeds_for) - {r.name for r in recipes}
    if missing:
        raise CLIError("--seeds-for names recipes not in --recipes: " + ", ".join(sorted(missing)))
    if args.epochs is not None:
        recipes = [r.replace(epochs=args.epochs) for r in recipes]
    device = resolve_device(args.device)
    data = load(args.root, args.mirror)
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = bench(recipes, data, seeds=args.seeds, device=str(device), progress=log,
                   seeds_for=args.seeds_for, targets=args.targets)
    print(format_table(result))
    if args.out:
        with user_files():
            runs = add_result(args.out, result)
        print(f"saved to {args.out} ({len(runs)} benchmark run(s) in it)")
    return 0


def load_predictor(path: str | Path, device: torch.device) -> Predictor:
    """The classifier in a checkpoint folder, or in an exported ``.onnx`` file."""
    if Path(path).suffix == ".onnx":
        from mnistlib.export import OnnxModel
        return OnnxModel(path)
    return checkpoints.load(path, device)


def cmd_headline(args: argparse.Namespace) -> int:
    from mnistlib.benchmarking import load_results, readme_tables, readme_with_headline
    with user_files():
        results = load_results(args.results)
        if not results:
            raise CLIError(f"{args.results}: no benchmark results (*.json) there")
        readme = Path(args.readme)
        text = readme_with_headline(readme.read_text(), readme_tables(results))
        atomic_write(readme, lambda tmp: Path(tmp).write_text(text))
    print(f"{readme}: headline table from {len(results)} result file(s)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    predictor = load_predictor(args.model, resolve_device(args.device))
    good, images, failed = [], [], 0
    for path in args.images:
        try:
            images.append(load_digit(path))
            good.append(path)
        except ImageError as e:
            print(e, file=sys.stderr)
            failed += 1
    if good:
        conf, digit = predictor.probabilities(torch.stack(images)).max(1)
        for path, d, c in zip(good, digit.tolist(), conf.tolist()):
            print(f"{path}\t{d}\t{c:.3f}")
    return 2 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mnistlib", description="Fast MNIST: fetch the data, train a recipe, "
                "evaluate a checkpoint, read digits from images.")
    p.add_argument("--version", action="version", version=f"mnistlib {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data_opts = _Parser(add_help=False)
    data_opts.add_argument("--root", metavar="DIR",
                           help="data folder (default $MNIST_ROOT or ~/.cache/mnistlib)")
    data_opts.add_argument("--mirror", metavar="DIR", help="folder holding the four .gz files "
                           "(default $MNIST_MIRROR; else download)")
    dev_opts = _Parser(add_help=False)
    dev_opts.add_argument("--device", default="auto", choices=DEVICES,
                          help="auto (the default) picks cuda, then mps, then cpu")

    s = sub.add_parser("data", parents=[data_opts], help="fetch and verify the MNIST files")
    s.set_defaults(run=cmd_data)
    s = sub.add_parser("train", parents=[data_opts, dev_opts], help="train a named recipe")
    s.add_argument("--recipe", required=True, metavar="NAME", help=f"one of: {', '.join(RECIPES)}")
    s.add_argument("--epochs", type=_count, metavar="N", help="override the recipe's epochs")
    s.add_argument("--seed", type=int, metavar="S", help="override the recipe's seed")
    s.add_argument("--target-acc", type=_fraction, metavar="A",
                   help="stop at this validation accuracy: 0.99 or 99 (percent)")
    s.add_argument("--out", metavar="DIR", help="checkpoint folder (default runs/RECIPE)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(run=cmd_train)
    s = sub.add_parser("evaluate", parents=[data_opts, dev_opts],
                       help="test accuracy, per-class accuracy and confusion matrix")
    s.add_argument("checkpoint", metavar="DIR", help="checkpoint folder written by train")
    s.add_argument("--corruptions", action="store_true",
                   help="also accuracy under each corruption of the suite (MNIST-C style)")
    s.set_defaults(run=cmd_evaluate)
    s = sub.add_parser("export", parents=[data_opts], help="export a checkpoint to ONNX")
    s.add_argument("checkpoint", metavar="DIR", help="checkpoint folder written by train")
    s.add_argument("--onnx", metavar="OUT", help="the .onnx file to write")
    s.add_argument("--int8", action="store_true", help="also an int8-quantized OUT.int8.onnx")
    s.add_argument("--web", metavar="OUT", help="a folder with a page to draw digits on, the "
                   "model and ONNX Runtime Web: serve it with any static server")
    s.set_defaults(run=cmd_export)
    s = sub.add_parser("bench", parents=[data_opts, dev_opts],
                       help="time recipes side by side in one process")
    s.add_argument("--recipes", default="tmf,fast", metavar="A,B,…",
                   help="recipes to compare; speed-ups are against the first (default tmf,fast)")
    s.add_argument("--seeds", type=_count, default=5, metavar="N", help="seeds per recipe")
    s.add_argument("--targets", type=lambda t: [_fraction(x) for x in t.split(",")],
                   default=[0.99], metavar="A,B,…",
                   help="test accuracies to report the time to (default 0.99)")
    s.add_argument("--seeds-for", type=_seeds_for, default={}, metavar="NAME=N,…",
                   help="other seed counts for some recipes (a slow reference: baseline=2)")
    s.add_argument("--epochs", type=_count, metavar="N", help="override every recipe's epochs")
    s.add_argument("--out", metavar="FILE", help="write the results as JSON")
    s.add_argument("--quiet", action="store_true", help="no line per run on stderr")
    s.set_defaults(run=cmd_bench)
    s = sub.add_parser("headline", help="rewrite the README's headline table from results/")
    s.add_argument("--results", default="results", metavar="DIR",
                   help="folder of benchmark JSON files (default results)")
    s.add_argument("--readme", default="README.md", metavar="FILE", help="default README.md")
    s.set_defaults(run=cmd_headline)
    s = sub.add_parser("predict", parents=[dev_opts], help="read one digit from each image")
    s.add_argument("model", metavar="MODEL", help="checkpoint folder written by train, or .onnx")
    s.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG, one digit each")
    s.set_defaults(run=cmd_predict)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status (0 ok, 1 error, 2 usage or failed images)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("mnistlib: interrupted", file=sys.stderr)
        return 130
    except MnistlibError as e:  # a user error; anything else is a bug, with its traceback
        print(f"mnistlib: error: {e}", file=sys.stderr)
        return 1
