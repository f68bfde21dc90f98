"""A photo or drawing of one digit, made to look like an MNIST digit.

MNIST's digits are bright ink on a black field, fitted into a 20×20 box with the aspect ratio
kept, antialiased, and placed in a 28×28 image so that their centre of mass is at the centre
(LeCun et al.). A model trained on MNIST reads a user's image only after the same treatment.

An image that is already in that format (an MNIST digit saved as a 28×28 PNG, in either
polarity) passes through unchanged: cropping and refitting it again would only blur it.
The browser demo (``mnistlib/webapp/preprocess.js``) repeats every step here exactly.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from mnistlib.errors import MnistlibError

WORK_SIDE = 1024       # larger images are shrunk first: plenty for one digit, and fast
BOX, SIDE = 20, 28     # MNIST: the digit fits in 20×20, placed in 28×28
CENTRE = 14.0          # mean centre of mass of MNIST's digits, (row, column) in pixel indices
STROKE = 2.8           # typical MNIST stroke width in pixels (2·area / outline, ink > 0.5)
MIN_CONTRAST = 0.1     # ink must differ from the page by this much of the full [0, 1] range
NOISE_SIGMAS = 5       # and stand this many noise standard deviations above the page
SPECK_FRACTION = 0.1   # blobs with less ink than this fraction of the largest are specks
PAGE_LEVEL = 2 / 255   # an MNIST-format page: every pixel this close to black (or white)
CENTRE_TOLERANCE = 1.0 # and the centre of mass this close to the centre, in pixels


class ImageError(MnistlibError, ValueError):
    """An image file that cannot be read as a digit, with a one-line reason."""


def read_grey(path: str | Path) -> np.ndarray:
    """The image as float grey levels in [0, 1]; transparency is composited onto white."""
    path = Path(path)
    if not path.exists():
        raise ImageError("no such file")
    if path.is_dir():
        raise ImageError("is a folder, not an image")
    if path.stat().st_size == 0:
        raise ImageError("empty file")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
            im.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                im = Image.alpha_composite(Image.new("RGBA", im.size, "white"), im.convert("RGBA"))
            return np.asarray(im.convert("L"), dtype=np.float32) / 255
    except UnidentifiedImageError:
        raise ImageError("not an image (PIL cannot identify it; PNG or JPEG expected)") from None
    except (OSError, Image.DecompressionBombError) as e:
        raise ImageError(f"cannot read the image ({e})") from None


def ink_map(grey: np.ndarray) -> np.ndarray:
    """Ink as bright values on 0, whatever the polarity, lighting and paper texture.

    Raises ``ImageError`` when nothing stands out from the page (a blank image).
    """
    smooth = ndimage.uniform_filter(grey, 3)  # lone noisy pixels are not ink
    b = max(1, min(grey.shape) // 20)
    page = np.median(np.concatenate([grey[:b].ravel(), grey[-b:].ravel(),
                                     grey[:, :b].ravel(), grey[:, -b:].ravel()]))
    if page - smooth.min() > smooth.max() - page:  # the extreme farthest from the page is ink
        grey, smooth = 1 - grey, 1 - smooth
    # The page level, even under uneven light: an opening wider than any stroke erases the ink.
    size = max(3, min(grey.shape) // 4)
    background = ndimage.uniform_filter(ndimage.grey_opening(smooth, size=size), size)
    ink = grey - background
    level = np.median(ink)
    noise = 1.4826 * np.median(np.abs(ink - level))  # robust standard deviation of the page
    peak = float(ndimage.uniform_filter(ink, 3).max())
    if peak - level <= max(MIN_CONTRAST, NOISE_SIGMAS * noise):
        raise ImageError("no digit found: the image is blank (nearly uniform)")
    low = max(level + NOISE_SIGMAS * noise, level + 0.25 * (peak - level))
    high = np.percentile(ink[ink >= low], 75)  # a typical stroke core becomes full-bright ink
    return np.clip((ink - low) / max(high - low, 1e-6), 0, 1)


def drop_specks(ink: np.ndarray) -> np.ndarray:
    """Keep the connected blobs that carry at least ``SPECK_FRACTION`` of the largest's ink."""
    labels, n = ndimage.label(ink > 0, structure=np.ones((3, 3)))
    mass = np.asarray(ndimage.sum(ink, labels, range(1, n + 1)))
    keep = np.concatenate([[False], mass >= SPECK_FRACTION * mass.max()])
    return np.where(keep[labels], ink, 0)


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(ink)
    return ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def to_mnist(ink: np.ndarray) -> torch.Tensor:
    """Crop to the ink, fit into 20×20 keeping the aspect ratio, centre by mass in 28×28."""
    ink = _crop(ink)
    # A thin pen would shrink to a faint hairline: thicken it to MNIST's stroke width first.
    mask = ink > 0.5
    width = 2 * mask.sum() / max(1, (mask & ~ndimage.binary_erosion(mask)).sum())
    grow = int(round(STROKE * max(ink.shape) / BOX - width))
    if grow > 0:
        ink = _crop(ndimage.grey_dilation(np.pad(ink, grow), size=(grow + 1, grow + 1)))
    scale = BOX / max(ink.shape)
    h, w = (max(1, round(n * scale)) for n in ink.shape)
    small = Image.fromarray(ink.astype(np.float32)).resize((w, h), Image.Resampling.LANCZOS)
    small = np.clip(np.asarray(small), 0, 1)  # Lanczos overshoots a little at edges
    cy, cx = ndimage.center_of_mass(small)
    top = min(max(int(round(CENTRE - cy)), 0), SIDE - h)
    left = min(max(int(round(CENTRE - cx)), 0), SIDE - w)
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top:top + h, left:left + w] = small
    return torch.from_numpy(np.round(out * 255).astype(np.uint8))


def as_mnist(grey: np.ndarray) -> torch.Tensor | None:
    """The image itself (bright ink on black; inverted if it is dark ink on white) when it is
    already in MNIST's format, else None.

    MNIST's format, measured on its 55,000 training digits: 28×28; the page exactly black
    (every digit's ink fits in 20×20, and everything outside that box is 0); the centre of
    mass within half a pixel of the centre (14, 14), the rounding of its placement. We accept
    a page within ``PAGE_LEVEL`` of black and a centre within ``CENTRE_TOLERANCE`` pixels.
    """
    if grey.shape != (SIDE, SIDE):
        return None
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    x = 1 - grey if np.median(border) > 0.5 else grey  # the page is the border's side
    rows, cols = np.nonzero(x > PAGE_LEVEL)
    if not len(rows) or max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 > BOX:
        return None
    cy, cx = ndimage.center_of_mass(x.astype(np.float64))
    if max(abs(cy - CENTRE), abs(cx - CENTRE)) > CENTRE_TOLERANCE:
        return None
    return torch.from_numpy(np.round(x * 255).astype(np.uint8))


def digit_from_grey(grey: np.ndarray) -> torch.Tensor:
    """Grey levels in [0, 1] (``read_grey``) to an MNIST-like uint8 ``[28, 28]`` digit."""
    mnist = as_mnist(grey)
    return mnist if mnist is not None else to_mnist(drop_specks(ink_map(grey)))


def load_digit(path: str | Path) -> torch.Tensor:
    """One digit from a PNG or JPEG file, as an MNIST-like uint8 ``[28, 28]`` tensor."""
    try:
        return digit_from_grey(read_grey(path))
    except ImageError as e:  # the reason, prefixed with the file it is about
        raise ImageError(f"{path}: {e}") from None
