"""What made a result: the digest of the library code behind it and of the data it saw.

A trained model in the cache is keyed by these (with its recipe and seed), and so is an
executed page of the book: when the code or the data change, the result is made again.
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path
from typing import Iterable

import torch

PACKAGE = Path(__file__).resolve().parent


def imported_modules(source: str) -> set[str]:
    """The ``mnistlib`` modules a piece of Python imports. An IPython magic or shell line
    becomes ``pass`` where it stands, so a block whose body it is (the Colab cell's
    ``if …: %pip install …``) stays valid Python."""
    code = re.sub(r"^([ \t]*)[%!].*$", r"\1pass", source, flags=re.MULTILINE)
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnistlib"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mnistlib"))
    return {m for m in found if (PACKAGE / f"{m.split('.', 1)[-1]}.py").is_file()
            or m == "mnistlib"}


def closure(modules: Iterable[str]) -> list[Path]:
    """The source files of ``modules`` and of every ``mnistlib`` module they import, in turn."""
    todo, seen = [m.split(".", 1)[-1] if "." in m else "__init__" for m in modules], set()
    while todo:
        name = todo.pop()
        path = PACKAGE / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        todo += [m.split(".", 1)[-1] if "." in m else "__init__"
                 for m in imported_modules(path.read_text())]
    return sorted(PACKAGE / f"{n}.py" for n in seen)


def digest(paths: Iterable[Path], extra: object = None) -> str:
    """SHA-256 over the files' names and contents, and ``extra`` as JSON."""
    h = hashlib.sha256()
    for p in sorted(Path(p) for p in paths):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()


def library_digest(*modules: str) -> str:
    """The digest of ``modules`` and everything in ``mnistlib`` they import."""
    return digest(closure(modules))


def tensor_digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(str((t.dtype, tuple(t.shape))).encode())
        h.update(t.contiguous().cpu().numpy().tobytes())
    return h.hexdigest()
