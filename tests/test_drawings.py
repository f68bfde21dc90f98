"""Digits drawn as on a canvas: a fixed set for a seed, every digit, both polarities."""
import numpy as np

from mnistlib.drawings import CANVASES, HELD_OUT_SEED, TRAINING_SEED, drawn_digits

TUNING_SEED = 1  # the drawings the canvas recipe was chosen on (mnistlib.drawings)


def test_a_seed_gives_the_same_drawings_and_seeds_differ():
    a, b, c = drawn_digits(20, 7), drawn_digits(20, 7), drawn_digits(20, 8)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert not any(x.image.shape == y.image.shape and np.array_equal(x.image, y.image)
                   for x, y in zip(a, c))
    assert len({TRAINING_SEED, TUNING_SEED, HELD_OUT_SEED}) == 3


def test_drawings_cover_every_digit_both_polarities_and_every_canvas():
    d = drawn_digits(60, 0)
    assert [x.label for x in d[:10]] == list(range(10))
    assert {x.dark_ink for x in d} == {True, False}
    assert {x.canvas for x in d} == set(CANVASES)
    for x in d:
        assert x.image.shape == (x.canvas[1], x.canvas[0]) and x.image.dtype == np.uint8
        page = np.median(np.concatenate([x.image[0], x.image[-1]]))
        ink = x.image.min() if x.dark_ink else x.image.max()
        assert abs(int(ink) - int(page)) > 150  # the pen stands out from the page


def test_the_styles_people_draw_are_there():
    styles = {(x.label, x.style) for x in drawn_digits(400, 0)}
    for wanted in [(1, "flag and foot"), (7, "crossed"), (4, "open"), (4, "closed"),
                   (6, "curl and ball"), (9, "curl and ball"), (9, "ball")]:
        assert wanted in styles
