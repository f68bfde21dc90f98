"""The library's error boundary: its own types for user errors.

A user error (a bad name, a missing or corrupt file, a device that is not there) is a
``MnistlibError``, and the command line reports it in one line. Anything else is a bug, and
shows its traceback.
"""
from __future__ import annotations


class MnistlibError(Exception):
    """A user error with a one-line message that says what to do."""


class UnknownName(MnistlibError, KeyError):
    """A name that is not in a registry (recipe, model, corruption, …)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(MnistlibError, ValueError):
    """A setting out of its range: an option, a recipe field, a profile."""
