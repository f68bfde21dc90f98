"""Checkpoints: weights in safetensors plus JSON. Loading never unpickles anything.

A trained model is an artifact: ``Cache`` keeps checkpoints keyed by what made them (the
recipe with its seed, the digest of the data, the digest of the library code that trains), so
a model trained by one page is reused by every later page, and by the next build, and a change
to any of them trains it again.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mnistlib.errors import MnistlibError
from mnistlib.evaluation import IDENTITY, Classifier
from mnistlib.files import atomic_write, write_json
from mnistlib.models import create_model
from mnistlib.provenance import digest, library_digest
from mnistlib.recipes import Recipe

WEIGHTS, META, METRICS = "model.safetensors", "model.json", "metrics.json"
ENV_CACHE = "MNISTLIB_CACHE"


class CheckpointError(MnistlibError, RuntimeError):
    """A checkpoint folder that cannot be used, with a one-line reason."""


def save(folder: str | Path, model: nn.Module, recipe: Recipe,
         metrics: dict[str, Any] | None = None) -> Path:
    """Write ``model.safetensors``, ``model.json`` (model name, arguments, recipe) and
    ``metrics.json`` into ``folder``."""
    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / WEIGHTS, lambda tmp: save_file(state, tmp))
    write_json(folder / META, {"model": recipe.model, "model_args": recipe.model_args,
                               "normalization": recipe.normalization,
                               "recipe": recipe.to_dict()})
    if metrics is not None:
        write_json(folder / METRICS, metrics)
    return folder


def load(folder: str | Path, device: str = "cpu") -> Classifier:
    """The classifier (in eval mode) saved in ``folder``; ``meta`` is its ``model.json``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    for name in (WEIGHTS, META):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: missing {name}; train one with "
                                  f"`python -m mnistlib train --out {folder}`")
    try:
        meta = json.loads((folder / META).read_text())
        model = create_model(meta["model"], **meta.get("model_args", {}))
        # the recipe's own views: one definition of them, in Recipe.views
        views = Recipe.from_dict(meta["recipe"]).views if "recipe" in meta else IDENTITY
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / META}: not a valid model description ({e})") from None
    try:
        state = load_file(str(folder / WEIGHTS), device=str(device))
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{folder / WEIGHTS}: cannot load weights ({first})") from None
    return Classifier(model.to(device).eval(), meta.get("normalization", "standard"), meta,
                      views=views)


class Cache:
    """Trained models in ``root``, one folder per key (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self.library = library_digest("mnistlib.training")

    def key(self, recipe: Recipe, data_digest: str) -> str:
        return digest([], {"recipe": recipe.to_dict(), "data": data_digest,
                           "library": self.library})[:24]

    def folder(self, recipe: Recipe, data_digest: str) -> Path:
        return self.root / f"{recipe.name}-seed{recipe.seed}-{self.key(recipe, data_digest)}"

    def has(self, recipe: Recipe, data_digest: str) -> bool:
        return (self.folder(recipe, data_digest) / METRICS).is_file()

    def get(self, recipe: Recipe, data_digest: str, device: str = "cpu"
            ) -> tuple[Classifier, dict[str, Any]] | None:
        """The cached classifier and its run record, or None."""
        folder = self.folder(recipe, data_digest)
        if not self.has(recipe, data_digest):
            return None
        return load(folder, device), json.loads((folder / METRICS).read_text())

    def put(self, recipe: Recipe, data_digest: str, model: nn.Module,
            record: dict[str, Any]) -> Path:
        """Store a trained model: written beside its final place, then renamed whole."""
        final = self.folder(recipe, data_digest)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=self.root))
        try:
            save(tmp, model, recipe, record)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return final


def default_cache() -> Cache:
    """``$MNISTLIB_CACHE``, else ``~/.cache/mnistlib/models``."""
    return Cache(os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "mnistlib" / "models")
