"""Run profiles: how much work a notebook does, so the same chapter runs on a GPU, a laptop
CPU and in CI.

A profile shrinks seeds, epochs or sweep sizes, never the honesty of a comparison: both sides
of a ratio get the same treatment, and every page says which profile produced its figures.
Each chapter keeps its own per-profile settings at its top (``pick``), next to the reason
for them.
"""
from __future__ import annotations

import os
from typing import TypeVar

import torch

from mnistlib.errors import ConfigError

PROFILES = {
    "full": "the complete experiments, as the chapter describes them (made for a GPU)",
    "cpu": "the same experiments at full size, with fewer seeds and narrower sweeps, for a CPU",
    "ci": "the smallest run that still tests every claim, a few minutes per chapter on 2 CPU cores",
}
ENV_PROFILE, ENV_DEVICE = "MNISTLIB_PROFILE", "MNISTLIB_DEVICE"

T = TypeVar("T")


def check(profile: str) -> str:
    """Return ``profile`` if it is known, else raise a ``ConfigError`` naming the known ones."""
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    return profile


def default_profile() -> str:
    """``$MNISTLIB_PROFILE`` if set, else ``full`` with a CUDA GPU and ``cpu`` without."""
    return check(os.environ.get(ENV_PROFILE) or ("full" if torch.cuda.is_available() else "cpu"))


def default_device() -> str:
    """``$MNISTLIB_DEVICE`` if set, else ``auto`` (cuda, then mps, then cpu)."""
    return os.environ.get(ENV_DEVICE) or "auto"


def pick(profile: str, **settings: T) -> T:
    """The settings of ``profile``: ``pick(profile, full=..., cpu=..., ci=...)``."""
    check(profile)
    missing = set(PROFILES) - set(settings)
    if missing:
        raise ConfigError(f"no settings for profile(s) {', '.join(sorted(missing))}")
    return settings[profile]
