"""The prediction browser steps through the digits it says it does and redraws each one."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from conftest import synthetic_split  # noqa: E402
from mnistlib import browser  # noqa: E402


def predictions():
    """Six digits: 0, 2 and 5 wrong with confidence 0.6, 0.9 and 0.7; the rest right."""
    split = synthetic_split(6, 0)
    labels = split.labels
    probs = torch.full((6, 10), 0.01)
    for i in range(6):
        probs[i, labels[i]] = 0.91
    for i, conf in ((0, 0.6), (2, 0.9), (5, 0.7)):
        probs[i] = 0.01
        probs[i, (labels[i] + 1) % 10], probs[i, labels[i]] = conf, 0.3
    return split.images, labels, probs


def test_browse_order_is_all_or_the_confident_errors_first():
    _, labels, probs = predictions()
    assert browser.browse_order(labels, probs).tolist() == list(range(6))
    assert browser.browse_order(labels, probs, only_wrong=True).tolist() == [2, 5, 0]
    assert len(browser.browse_order(labels, torch.eye(10)[labels], only_wrong=True)) == 0


def test_prediction_figure_shows_digit_and_labelled_bars():
    images, labels, probs = predictions()
    fig = browser.prediction_figure(images[2], int(labels[2]), probs[2], title="a digit")
    image_ax, bars = fig.axes
    assert "predicted" in image_ax.get_title() and bars.get_ylabel() == "probability (%)"
    assert bars.get_xlabel() == "digit" and len(bars.patches) == 10
    assert bars.patches[int(probs[2].argmax())].get_facecolor()[:3] == \
        matplotlib.colors.to_rgb(browser.WRONG)
    plt.close(fig)


def test_browser_steps_and_filters_the_misclassified():
    images, labels, probs = predictions()
    box = browser.prediction_browser(images, labels, probs)
    assert box.slider.max == 5 and box.text.value.startswith("1 of 6: test digit 0")
    first = box.picture.value
    assert first[:4] == b"\x89PNG"
    box.next.click()
    assert box.slider.value == 1 and "test digit 1" in box.text.value
    assert box.picture.value != first
    box.prev.click()
    box.prev.click()  # stops at the first digit
    assert box.slider.value == 0
    box.only.value = True  # the errors, surest first: digits 2, 5, 0
    assert box.slider.max == 2 and box.text.value.startswith("1 of 3: test digit 2")
    assert "wrong" in box.text.value
    box.slider.value = 2
    assert "test digit 0" in box.text.value
    box.next.click()  # stops at the last
    assert box.slider.value == 2
    right = browser.prediction_browser(images, labels, torch.eye(10)[labels], only_wrong=True)
    assert "none is misclassified" in right.text.value
