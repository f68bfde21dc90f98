"""Checkpoints: weights in safetensors plus JSON. Loading never unpickles anything."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from mnistlib.models import create_model
from mnistlib.recipes import Recipe

WEIGHTS, META, METRICS = "model.safetensors", "model.json", "metrics.json"


class CheckpointError(RuntimeError):
    """A checkpoint folder that cannot be used, with a one-line reason."""


def atomic_write(path: Path, write) -> None:
    """Write via a temporary file in the same folder, then rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes owner-only files; give the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: Path, obj: Any) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    atomic_write(Path(path), write)


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


def load(folder: str | Path, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The model (in eval mode) and its ``model.json`` metadata."""
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
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{folder / META}: not a valid model description ({e})") from None
    try:
        state = load_file(str(folder / WEIGHTS), device=str(device))
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{folder / WEIGHTS}: cannot load weights ({first})") from None
    return model.to(device).eval(), meta
