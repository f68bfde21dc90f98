"""The chapter harness: what every notebook of the book does first.

A chapter imports its tools, then a cell tagged ``parameters`` (papermill injects its values)
sets ``profile = default_profile()``, ``device = default_device()`` and ``seed``; the chapter's
per-profile settings follow in one place, and ``start`` resolves the device, glues the page's
"profile on device" note and prints it. ``glue`` pastes computed values into the prose.
"""
from __future__ import annotations

import subprocess
import sys

import torch

from mnistlib.devices import describe, resolve_device
from mnistlib.errors import MnistlibError
from mnistlib.profiles import check


def glue(**values: object) -> None:
    """Paste these values into the prose (myst-nb glue); show nothing here."""
    from myst_nb import glue as myst_glue
    for key, value in values.items():
        myst_glue(key, value, display=False)


def start(profile: str, device: str, run: str = "", **values: object) -> torch.device:
    """The page's device, with the note every page carries: ``profile``, ``device_name`` and
    ``profile_run`` (what this profile runs), glued with ``values``."""
    dev = resolve_device(device)
    glue(profile=check(profile), device_name=describe(dev), profile_run=run, **values)
    print(f"profile {profile} on {describe(dev)}" + (f": {run}" if run else ""))
    return dev


def cli(*args: object) -> str:
    """``python -m mnistlib ARGS`` as a user runs it: its output, or its one-line error."""
    done = subprocess.run([sys.executable, "-m", "mnistlib", *map(str, args)],
                          capture_output=True, text=True)
    if done.returncode:
        raise MnistlibError(done.stderr.strip() or f"exit status {done.returncode}")
    return done.stdout
