"""The command line: ``python -m mnistlib data | train | evaluate | predict``.

Every user error (a bad name, a missing file, a device that is not there) ends as one line on
stderr and a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Callable, Sequence

import torch

from mnistlib import __version__, checkpoints
from mnistlib.checkpoints import CheckpointError
from mnistlib.data import DIGESTS, DataError, fetch, load, normalize
from mnistlib.devices import DEVICES, describe, resolve_device
from mnistlib.evaluation import evaluate
from mnistlib.images import ImageError, load_digit
from mnistlib.recipes import RECIPES, get_recipe
from mnistlib.training import fit

Predictor = Callable[[torch.Tensor], torch.Tensor]  # uint8 [N, 28, 28] -> probabilities [N, 10]


class CLIError(Exception):
    """A user error the command line reports in one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (exit status 2) like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fraction(text: str) -> float:
    """A target accuracy as a fraction: 0.99 and 99 (percent) both mean 0.99."""
    try:
        a = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    a = a / 100 if 1 < a <= 100 else a
    if not 0 < a <= 1:
        raise argparse.ArgumentTypeError(
            f"{text} is not an accuracy: give a fraction up to 1 or a percentage up to 100")
    return a


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _device(name: str) -> torch.device:
    try:
        return resolve_device(name)
    except (RuntimeError, ValueError) as e:
        raise CLIError(str(e)) from None


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
    recipe = get_recipe(args.recipe)
    changes = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed),
                                 ("target_acc", args.target_acc)) if v is not None}
    recipe = recipe.replace(**changes)
    device = _device(args.device)
    out = Path(args.out or Path("runs") / recipe.name)
    out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails now, not after training
    data = load(args.root, args.mirror)
    result = fit(recipe, data, device, progress=not args.quiet)
    test = evaluate(result.model, data.test, device, recipe.normalization)
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
    checkpoints.save(out, result.model, recipe, metrics)
    n = result.epochs_run
    print(f"{recipe.name}: test accuracy {test['accuracy']:.2%} after {n:g} epoch"
          f"{'' if n == 1 else 's'}, {result.train_seconds:.1f} s of training "
          f"on {describe(device)}")
    if recipe.target_acc is not None:
        t = result.time_to_target_seconds
        print(f"validation target {recipe.target_acc:.2%}: "
              + (f"reached after {t:.1f} s" if t is not None else "not reached"))
    print(f"saved to {out}")
    return 0


def format_confusion(cm: list[list[int]], per_class: list[float]) -> str:
    """The confusion matrix as a table: rows true digit, columns predicted, then accuracy."""
    lines = ["true\\pred" + "".join(f"{d:>6}" for d in range(len(cm))) + "  accuracy"]
    for d, (row, acc) in enumerate(zip(cm, per_class)):
        lines.append(f"{d:>9}" + "".join(f"{n:>6}" for n in row) + f"  {acc:>8.2%}")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    device = _device(args.device)
    model, meta = checkpoints.load(args.checkpoint, device)
    data = load(args.root, args.mirror)
    r = evaluate(model, data.test, device, meta.get("normalization", "standard"))
    print(f"{args.checkpoint}: test accuracy {r['accuracy']:.2%} on {len(data.test):,} images "
          f"({meta['model']})")
    print(format_confusion(r["confusion_matrix"], r["per_class_accuracy"]))
    if args.corruptions:
        from mnistlib.corruptions import SEVERITY, corruption_accuracy
        accs = corruption_accuracy(model, data.test, device, meta.get("normalization", "standard"))
        print(f"\n{'corruption':<16}{'severity':>10}{'accuracy':>10}")
        for name, acc in accs.items():
            print(f"{name:<16}{str(SEVERITY.get(name, '')):>10}{acc:>10.2%}")
        mean = sum(a for n, a in accs.items() if n != "clean") / (len(accs) - 1)
        print(f"{'mean corrupted':<26}{mean:>10.2%}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from mnistlib.export import check_onnx, export_onnx, quantize_int8
    model, meta = checkpoints.load(args.checkpoint, "cpu")
    mode = meta.get("normalization", "standard")
    data = load(args.root, args.mirror)
    out = Path(args.onnx)
    export_onnx(model, out, mode)
    check = check_onnx(model, out, data.test.images, mode)
    print(f"{out}: fp32, largest |logit difference| vs PyTorch {check['max_abs_diff']:.2e}, "
          f"predictions agree on {check['agreement']:.2%} of {check['n']:,} test images")
    if args.int8:
        q = out.with_name(out.stem + ".int8.onnx")
        quantize_int8(out, q, data.train.images[:1000])
        from mnistlib.export import OnnxModel
        acc_q = float((OnnxModel(q).predict(data.test.images) == data.test.labels).double().mean())
        acc_f = float((OnnxModel(out).predict(data.test.images) == data.test.labels).double().mean())
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
    from mnistlib.benchmarking import bench, format_table
    recipes = [get_recipe(n.strip()) for n in args.recipes.split(",") if n.strip()]
    missing = set(args.seeds_for) - {r.name for r in recipes}
    if missing:
        raise CLIError("--seeds-for names recipes not in --recipes: " + ", ".join(sorted(missing)))
    if args.epochs is not None:
        recipes = [r.replace(epochs=args.epochs) for r in recipes]
    device = _device(args.device)
    data = load(args.root, args.mirror)
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = bench(recipes, data, seeds=args.seeds, device=str(device), progress=log,
                   seeds_for=args.seeds_for)
    print(format_table(result))
    if args.out:
        checkpoints.write_json(Path(args.out), result)
        print(f"saved to {args.out}")
    return 0


def load_predictor(path: str | Path, device: torch.device) -> Predictor:
    """A function from uint8 digits to probabilities. Here new model formats plug in
    (an exported ``.onnx`` file, say); today it reads a checkpoint folder."""
    path = Path(path)
    if path.suffix == ".onnx":
        from mnistlib.export import OnnxModel
        return OnnxModel(path).probabilities
    model, meta = checkpoints.load(path, device)
    mode = meta.get("normalization", "standard")

    @torch.no_grad()
    def predict(x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(normalize(x.unsqueeze(1).to(device), mode)).float(), 1).cpu()
    return predict


def cmd_headline(args: argparse.Namespace) -> int:
    from mnistlib.benchmarking import headline_table, load_results, readme_with_headline
    results = load_results(args.results)
    if not results:
        raise CLIError(f"{args.results}: no benchmark results (*.json) there")
    readme = Path(args.readme)
    text = readme_with_headline(readme.read_text(), headline_table(results))
    checkpoints.atomic_write(readme, lambda tmp: Path(tmp).write_text(text))
    print(f"{readme}: headline table from {len(results)} result file(s)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    predict = load_predictor(args.model, _device(args.device))
    good, images, failed = [], [], 0
    for path in args.images:
        try:
            images.append(load_digit(path))
            good.append(path)
        except ImageError as e:
            print(e, file=sys.stderr)
            failed += 1
    if good:
        conf, digit = predict(torch.stack(images)).max(1)
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
    s.add_argument("--onnx", required=True, metavar="OUT", help="the .onnx file to write")
    s.add_argument("--int8", action="store_true", help="also an int8-quantized OUT.int8.onnx")
    s.set_defaults(run=cmd_export)
    s = sub.add_parser("bench", parents=[data_opts, dev_opts],
                       help="time recipes side by side in one process")
    s.add_argument("--recipes", default="tmf,fast", metavar="A,B,…",
                   help="recipes to compare; speed-ups are against the first (default tmf,fast)")
    s.add_argument("--seeds", type=_count, default=5, metavar="N", help="seeds per recipe")
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
    except KeyError as e:  # the registries' "unknown name" errors
        message = e.args[0] if e.args else str(e)
    except (CLIError, DataError, CheckpointError, ImageError, ValueError) as e:
        message = str(e)
    except OSError as e:
        message = f"{e.filename}: {e.strerror}" if e.filename else str(e)
    print(f"mnistlib: error: {message}", file=sys.stderr)
    return 1
