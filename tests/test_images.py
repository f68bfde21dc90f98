"""A user's image of one digit becomes an MNIST-like 28×28 digit, whatever its style."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from scipy import ndimage

from mnistlib.images import ImageError, load_digit

SEVEN = [(0.1, 0.05), (0.9, 0.05), (0.4, 0.95)]  # a "7" in a unit box


def drawing(strokes=SEVEN, size=(600, 800), box=(150, 150, 300, 500), width=30, ink=0, page=255,
            mode="L") -> Image.Image:
    im = Image.new(mode, size, page)
    left, top, w, h = box
    ImageDraw.Draw(im).line([(left + x * w, top + y * h) for x, y in strokes], fill=ink,
                            width=width, joint="curve")
    return im


def photo_like(im: Image.Image, seed: int = 0) -> Image.Image:
    """Textured grey paper, light falling off across the page, blur and sensor noise."""
    rng = np.random.default_rng(seed)
    a = np.asarray(im, np.float32) / 255
    paper = ndimage.gaussian_filter(215 + 12 * rng.standard_normal(a.shape), 1.0)
    v = (paper * a + 60 * (1 - a)) * np.linspace(0.5, 1.0, a.shape[1])[None, :]
    v = ndimage.gaussian_filter(v, 1.5) + 6 * rng.standard_normal(a.shape)
    return Image.fromarray(np.clip(v, 0, 255).astype(np.uint8))


def digit(tmp_path, im: Image.Image, name: str = "digit.png", **save) -> torch.Tensor:
    path = tmp_path / name
    im.save(path, **save)
    return load_digit(path)


def ink_box(x: torch.Tensor) -> tuple[int, int]:
    rows, cols = np.nonzero(x.numpy())
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def test_output_is_mnist_shaped_20x20_box_centred_by_mass(tmp_path):
    x = digit(tmp_path, drawing())
    assert x.shape == (28, 28) and x.dtype == torch.uint8
    assert max(ink_box(x)) == 20
    assert int(x.max()) == 255  # stroke cores saturate, as in MNIST
    cy, cx = ndimage.center_of_mass(x.numpy().astype(float))
    assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75


def test_aspect_ratio_is_kept(tmp_path):
    bar = [(0.5, 0.0), (0.5, 1.0)]
    tall = drawing(bar, (400, 400), (100, 80, 0, 200), width=50)  # 50 × 250 pixels
    h, w = ink_box(digit(tmp_path, tall, "tall.png"))
    assert h == 20 and 3 <= w <= 5
    wide = digit(tmp_path, tall.rotate(90), "wide.png")
    assert ink_box(wide)[1] == 20 and 3 <= ink_box(wide)[0] <= 5


def test_polarity_dark_on_light_equals_light_on_dark(tmp_path):
    dark_ink = digit(tmp_path, drawing(ink=0, page=255), "a.png").int()
    light_ink = digit(tmp_path, drawing(ink=230, page=30), "b.png").int()
    assert (dark_ink - light_ink).abs().max() <= 8


@pytest.mark.parametrize("ink", [(0, 0, 0, 255), (30, 60, 200, 255)], ids=["black", "blue"])
def test_ink_on_a_transparent_page(tmp_path, ink):
    grey = digit(tmp_path, drawing(), "grey.png").int()
    # As drawing apps export it: the transparent page's hidden colour is black, so only
    # compositing onto white tells black ink from the page.
    rgba = drawing(ink=ink, page=(0, 0, 0, 0), mode="RGBA")
    assert (digit(tmp_path, rgba, "rgba.png").int() - grey).abs().float().mean() < 4


def test_photo_with_uneven_light_texture_and_jpeg_matches_the_drawing(tmp_path):
    clean = digit(tmp_path, drawing(), "clean.png").float()
    shot = digit(tmp_path, photo_like(drawing()), "shot.jpg", quality=60).float()
    assert torch.corrcoef(torch.stack([clean.flatten(), shot.flatten()]))[0, 1] > 0.85
    assert (shot > 0).sum() < 1.5 * (clean > 0).sum()  # paper texture did not become ink


def test_specks_are_ignored(tmp_path):
    clean = digit(tmp_path, drawing(), "clean.png")
    im = drawing()
    ImageDraw.Draw(im).ellipse((20, 720, 32, 732), fill=0)  # dust, far from the digit
    assert torch.equal(digit(tmp_path, im, "speck.png"), clean)


def test_a_thin_pen_is_thickened_to_an_mnist_stroke(tmp_path):
    x = digit(tmp_path, drawing(size=(1600, 1600), box=(500, 400, 300, 500), width=3))
    assert int(x.max()) == 255 and int((x > 127).sum()) >= 40


@pytest.mark.parametrize("case", ["missing", "empty", "not an image", "blank", "blank photo",
                                  "folder"])
def test_unusable_files_raise_one_line_image_errors(tmp_path, case):
    path = tmp_path / "x.png"
    if case == "empty":
        path.touch()
    elif case == "not an image":
        path.write_text("hello, I am text\n")
    elif case == "blank":
        Image.new("RGB", (300, 200), (240, 240, 235)).save(path)
    elif case == "blank photo":
        path = tmp_path / "x.jpg"
        photo_like(Image.new("L", (400, 300), 255)).save(path, quality=60)
    elif case == "folder":
        path.mkdir()
    with pytest.raises(ImageError) as e:
        load_digit(path)
    message = str(e.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("inverted", [False, True], ids=["bright ink", "dark ink"])
def test_a_digit_already_in_mnist_format_passes_through_unchanged(tmp_path, inverted):
    mnist = digit(tmp_path, drawing(), "big.png").numpy()  # 20×20 box, centred by mass
    saved = 255 - mnist if inverted else mnist
    assert torch.equal(digit(tmp_path, Image.fromarray(saved), "small.png"),
                       torch.from_numpy(mnist))


def test_a_small_image_that_is_not_in_mnist_format_is_refitted(tmp_path):
    im = drawing(size=(28, 28), box=(1, 1, 26, 26), width=3)  # fills the frame: no 20×20 box
    x = digit(tmp_path, im)
    assert max(ink_box(x)) == 20
