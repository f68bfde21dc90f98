"""MNIST files: fetch, verify, load, split, and the two loaders the book compares.

The files land in torchvision's layout (``ROOT/MNIST/raw/*-ubyte``) so that
``torchvision.datasets.MNIST(ROOT)`` reads the very same verified bytes.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from mnistlib.augmentation import Augment, augment
from mnistlib.errors import ConfigError, MnistlibError
from mnistlib.files import atomic_write

# Published SHA-256 digests of the decompressed canonical files.
DIGESTS = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MIRRORS = (  # the same mirrors torchvision tries, in its order
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# Customary normalization constants (chapter 1 recomputes them from the training split).
MEAN, STD = 0.1307, 0.3081
NORMALIZATIONS = ("none", "unit", "standard")
VAL_SIZE, SPLIT_SEED = 5000, 0


class DataError(MnistlibError, RuntimeError):
    """A data problem with a one-line message that says what to do."""


def raw_folder(root: str | Path | None = None) -> Path:
    """``ROOT/MNIST/raw``, where ROOT is, unless told otherwise, ``$MNIST_ROOT`` or
    ``~/.cache/mnistlib``."""
    root = root or os.environ.get("MNIST_ROOT", Path.home() / ".cache" / "mnistlib")
    return Path(root).expanduser() / "MNIST" / "raw"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _install(source: Path, target: Path, name: str) -> None:
    """Decompress ``source`` next to ``target``, verify it, and only then move it into place."""
    def write(tmp: str) -> None:
        opener = gzip.open if source.suffix == ".gz" else open
        try:
            with opener(source, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise DataError(f"{source}: cannot be read ({e}); replace it with a good copy") from None
        if sha256_file(Path(tmp)) != DIGESTS[name]:
            raise DataError(
                f"{source}: SHA-256 of its content does not match the published digest of {name} "
                "(corrupted or truncated); replace it with a good copy"
            )
    atomic_write(target, write)


def _download(name: str, workdir: Path) -> Path:
    from torchvision.datasets.utils import download_url

    errors = []
    for base in MIRRORS:
        try:
            download_url(base + f"{name}.gz", str(workdir), filename=f"{name}.gz")
            return workdir / f"{name}.gz"
        except (urllib.error.URLError, OSError) as e:
            errors.append(f"{base}: {getattr(e, 'reason', e)}")
    raise DataError(
        f"cannot download {name}.gz ({'; '.join(errors)}); without internet, point MNIST_MIRROR "
        "(or --mirror) at a folder holding the four .gz files"
    )


def fetch(root: str | Path | None = None, mirror: str | Path | None = None,
          download: bool = True) -> Path:
    """Make sure the four verified files are in ``ROOT/MNIST/raw``; return that folder.

    Sources, in order: files already there (verified), the mirror folder (``mirror`` or
    ``$MNIST_MIRROR``), the standard download mirrors. Nothing unverified gets a final name.
    """
    raw = raw_folder(root)
    mirror = mirror or os.environ.get("MNIST_MIRROR") or None
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create data folder {raw}: {e.strerror}") from None
    for name, digest in DIGESTS.items():
        target = raw / name
        if target.is_file():
            if sha256_file(target) != digest:
                raise DataError(
                    f"{target}: SHA-256 does not match the published digest (corrupted or "
                    "truncated); delete it and fetch again"
                )
            continue
        if mirror:
            folder = Path(mirror).expanduser()
            source = next((p for p in (folder / f"{name}.gz", folder / name) if p.is_file()), None)
            if source is None:
                raise DataError(f"mirror folder {mirror} has no {name}.gz; check MNIST_MIRROR "
                                "or --mirror")
            _install(source, target, name)
        elif download:
            with tempfile.TemporaryDirectory(dir=raw) as tmp:
                _install(_download(name, Path(tmp)), target, name)
        else:
            raise DataError(f"{target} is missing; run `python -m mnistlib data` to fetch it")
    return raw


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (the MNIST container format) into a numpy array."""
    data = path.read_bytes()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise DataError(f"{path}: truncated IDX file")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


@dataclass(frozen=True)
class Split:
    """Images as uint8 ``[N, 28, 28]`` and labels as int64 ``[N]``, both on the CPU."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int) -> "Split":
        """The first ``n`` images."""
        return Split(self.images[:n], self.labels[:n])

    def take(self, indices: torch.Tensor) -> "Split":
        return Split(self.images[indices], self.labels[indices])


@dataclass(frozen=True)
class MNIST:
    """The train / validation / test splits, plus the indices of the training and validation
    splits among the 60,000 original training images."""

    train: Split
    val: Split
    test: Split
    train_indices: torch.Tensor
    val_indices: torch.Tensor

    def subset(self, n_train: int | None = None, n_val: int | None = None) -> "MNIST":
        """The first ``n_train`` training and ``n_val`` validation images (None: all); the
        test split stays whole. A profile that shrinks a chapter shrinks every variant alike."""
        n_train, n_val = n_train or len(self.train), n_val or len(self.val)
        return MNIST(self.train.subset(n_train), self.val.subset(n_val), self.test,
                     self.train_indices[:n_train], self.val_indices[:n_val])


def stratified_split(labels: torch.Tensor, size: int = VAL_SIZE, seed: int = SPLIT_SEED,
                     per_class: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint sorted indices (rest, chosen): ``size`` chosen with every class in the same
    proportion as in ``labels`` (largest remainders), or ``per_class`` of every class."""
    g = torch.Generator().manual_seed(seed)
    classes, counts = labels.unique(return_counts=True)
    if per_class is not None:
        if per_class < 1:
            raise ConfigError("per_class must be >= 1")
        if int(counts.min()) < per_class:
            c = int(classes[counts.argmin()])
            raise ConfigError(f"class {c} has only {int(counts.min())} examples, not {per_class}")
        take = torch.full_like(counts, per_class)
    else:
        quota = counts.double() * size / len(labels)
        take = quota.floor().long()
        remainder = size - int(take.sum())
        take[torch.argsort(quota - take, descending=True)[:remainder]] += 1  # largest remainders
    chosen = [torch.nonzero(labels == c).flatten()[torch.randperm(int(n), generator=g)[:int(k)]]
              for c, n, k in zip(classes, counts, take)]
    chosen_idx = torch.cat(chosen).sort().values
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[chosen_idx] = False
    return torch.nonzero(mask).flatten(), chosen_idx


def load(root: str | Path | None = None, mirror: str | Path | None = None,
         val_size: int = VAL_SIZE, split_seed: int = SPLIT_SEED) -> MNIST:
    """Fetch, verify and load MNIST: 55,000 train / 5,000 validation (stratified) / 10,000 test."""
    raw = fetch(root, mirror)

    def tensor(name: str) -> torch.Tensor:
        return torch.from_numpy(read_idx(raw / name).copy())

    x, y = tensor("train-images-idx3-ubyte"), tensor("train-labels-idx1-ubyte").long()
    tr, va = stratified_split(y, val_size, split_seed)
    test = Split(tensor("t10k-images-idx3-ubyte"), tensor("t10k-labels-idx1-ubyte").long())
    return MNIST(Split(x[tr], y[tr]), Split(x[va], y[va]), test, tr, va)


def normalize(x: torch.Tensor, mode: str = "standard") -> torch.Tensor:
    """uint8 or [0, 1] float pixels to the network's input scale: none, unit or standard."""
    if mode not in NORMALIZATIONS:
        raise ConfigError(f"normalization must be one of {NORMALIZATIONS}, not {mode!r}")
    if x.dtype == torch.uint8:
        x = x.float() if mode == "none" else x.float().div(255)
    elif mode == "none":
        x = x * 255
    return x.sub(MEAN).div(STD) if mode == "standard" else x


class DeviceLoader:
    """The whole split as one tensor on the device; reshuffled by index each epoch;
    normalization and augmentation done per batch on the device."""

    def __init__(self, split: Split, batch_size: int, device: str | torch.device = "cpu",
                 shuffle: bool = True, augmentation: Augment | None = None,
                 normalization: str = "standard", seed: int = 0,
                 channels_last: bool = False) -> None:
        self.device = torch.device(device)
        self.images = split.images.to(self.device).unsqueeze(1)
        self.labels = split.labels.to(self.device)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.augmentation, self.normalization = augmentation or Augment(), normalization
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.generator = torch.Generator(self.device).manual_seed(seed)
        self.encoded = False

    @torch.no_grad()
    def encode(self, body: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """From now on, yield ``body``'s output for each image instead of the image (from the
        next batch on, mid-epoch too): the whole split passes through ``body`` once. For a
        network's frozen layers, which would otherwise compute the same features every epoch.
        It runs in chunks of the batch size, the shape the CPU's kernels were already made for
        (4,096 at a time took 2–4× as long), into one tensor allocated once, kept in the dtype
        the body gives (bf16 under autocast: what the next layer would cast them to anyway)."""
        if self.augmentation.enabled:
            raise ConfigError("augmented images change every epoch: their features cannot be "
                              "computed once")
        features = None
        for i in range(0, len(self.images), self.batch_size):
            f = body(normalize(self.images[i:i + self.batch_size], self.normalization)
                     .contiguous(memory_format=self.memory_format))
            if features is None:
                features = torch.empty((len(self.images), *f.shape[1:]), dtype=f.dtype,
                                       device=self.device)
            features[i:i + len(f)] = f
        self.images, self.encoded = features, True

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)  # the last batch may be smaller

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = (torch.randperm(n, device=self.device, generator=self.generator)
                 if self.shuffle else torch.arange(n, device=self.device))
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = self.images[idx]
            if not self.encoded:
                if self.augmentation.enabled:
                    x = augment(x.float().div(255), self.augmentation, self.generator)
                x = normalize(x, self.normalization).contiguous(memory_format=self.memory_format)
            yield x, self.labels[idx]


class _AugmentOne:
    """Per-sample augmentation for the conventional pipeline (runs in the workers)."""

    def __init__(self, augmentation: Augment) -> None:
        self.augmentation = augmentation

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return augment(x.unsqueeze(0), self.augmentation)[0]


class _PILDigits(torch.utils.data.Dataset):
    """torchvision's ``datasets.MNIST`` over a split already in memory: each item becomes a PIL
    image and goes through the transforms one by one, as ``datasets.MNIST.__getitem__`` does."""

    def __init__(self, split: Split, transform) -> None:
        self.images, self.labels, self.transform = split.images, split.labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image
        return self.transform(Image.fromarray(self.images[i].numpy(), mode="L")), int(self.labels[i])


class ConventionalLoader:
    """The PyTorch example's pipeline, which the book starts from: a torchvision-style dataset
    with per-sample transforms (PIL image, to tensor, normalize) and a ``DataLoader``."""

    def __init__(self, split: Split, batch_size: int, device: str | torch.device = "cpu",
                 shuffle: bool = True, augmentation: Augment | None = None,
                 normalization: str = "standard", seed: int = 0, num_workers: int = 0,
                 pin_memory: bool = False, channels_last: bool = False) -> None:
        from torchvision import transforms

        steps: list = ([transforms.PILToTensor(), transforms.Lambda(lambda t: t.float())]
                       if normalization == "none" else [transforms.ToTensor()])
        augmentation = augmentation or Augment()
        if augmentation.enabled:
            if normalization == "none":
                raise ConfigError("augmentation works on [0, 1] pixels; use normalization "
                                  "'unit' or 'standard'")
            steps.append(_AugmentOne(augmentation))
        if normalization == "standard":
            steps.append(transforms.Normalize((MEAN,), (STD,)))
        self.device = torch.device(device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.loader = torch.utils.data.DataLoader(
            _PILDigits(split, transforms.Compose(steps)), batch_size=batch_size, shuffle=shuffle,
            num_workers=num_workers,
            pin_memory=pin_memory and self.device.type == "cuda",
            generator=torch.Generator().manual_seed(seed), persistent_workers=num_workers > 0)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        nb = self.loader.pin_memory
        for x, y in self.loader:
            yield (x.to(self.device, non_blocking=nb).contiguous(memory_format=self.memory_format),
                   y.to(self.device, non_blocking=nb))


LOADERS = {"conventional": ConventionalLoader, "device": DeviceLoader}


def make_loader(kind: str, split: Split, batch_size: int, device: str | torch.device,
                **kwargs) -> DeviceLoader | ConventionalLoader:
    """One interface for both loaders over a split."""
    if kind not in LOADERS:
        raise ConfigError(f"loader must be one of {tuple(LOADERS)}, not {kind!r}")
    return LOADERS[kind](split, batch_size, device, **kwargs)
