"""Tiny synthetic MNIST look-alikes, so the unit tests never need the real files."""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
import torch

from mnistlib import data as mdata


def synthetic_split(n: int, seed: int = 0) -> mdata.Split:
    """Learnable fake digits: class c lights a 6×6 block at its own place, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    images = (torch.rand(n, 28, 28, generator=g) * 60).to(torch.uint8)
    for c in range(10):
        r, col = 4 + 6 * (c // 4), 4 + 6 * (c % 4)
        images[labels == c, r:r + 6, col:col + 6] = 255
    return mdata.Split(images, labels)


@pytest.fixture
def tiny_mnist() -> mdata.MNIST:
    train, val, test = synthetic_split(600, 0), synthetic_split(200, 1), synthetic_split(200, 2)
    return mdata.MNIST(train, val, test, torch.arange(600), torch.arange(600, 800))


def idx_bytes(t: torch.Tensor) -> bytes:
    header = bytes([0, 0, 8, t.dim()]) + b"".join(d.to_bytes(4, "big") for d in t.shape)
    return header + t.numpy().tobytes()


@pytest.fixture
def fake_files(tmp_path, monkeypatch):
    """A mirror folder of four small gzipped IDX files, with DIGESTS patched to match them."""
    split = synthetic_split(120, 3)
    test = synthetic_split(40, 4)
    contents = {
        "train-images-idx3-ubyte": idx_bytes(split.images),
        "train-labels-idx1-ubyte": idx_bytes(split.labels.to(torch.uint8)),
        "t10k-images-idx3-ubyte": idx_bytes(test.images),
        "t10k-labels-idx1-ubyte": idx_bytes(test.labels.to(torch.uint8)),
    }
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, raw in contents.items():
        (mirror / f"{name}.gz").write_bytes(gzip.compress(raw))
    monkeypatch.setattr(mdata, "DIGESTS", {k: hashlib.sha256(v).hexdigest() for k, v in contents.items()})
    monkeypatch.delenv("MNIST_MIRROR", raising=False)
    return mirror, contents, tmp_path / "root"
