"""A prediction browser: step through test digits, or only the misclassified ones, and see each
image beside the model's probability for every digit.

The browser is an ipywidgets widget, so it needs a live Jupyter kernel; in a static page (the
built book) only what a cell drew is there, which is why ``prediction_figure`` draws one state
of the browser as a plain figure.
"""
from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

RIGHT, WRONG, TRUE = "tab:blue", "tab:red", "tab:green"


def browse_order(labels: torch.Tensor, probs: torch.Tensor, only_wrong: bool = False
                 ) -> torch.Tensor:
    """The indices the browser steps through: every digit in order, or only the misclassified
    ones, the error the model was surest of first."""
    if not only_wrong:
        return torch.arange(len(labels))
    conf, pred = probs.max(1)
    wrong = torch.nonzero(pred != labels).flatten()
    return wrong[torch.argsort(conf[wrong], descending=True, stable=True)]


def caption(index: int, label: int, probs: torch.Tensor) -> str:
    """One line under the digit: which test digit, its true class, the prediction and how sure."""
    conf, pred = (float(v) for v in probs.max(0))
    verdict = "right" if int(pred) == label else "wrong"
    return (f"test digit {index}: true {label}, predicted {int(pred)} "
            f"({100 * conf:.1f} % sure, {verdict})")


def draw_prediction(fig: Figure, image: torch.Tensor | np.ndarray, label: int,
                    probs: torch.Tensor, title: str = "") -> Figure:
    """Fill ``fig`` with the digit (left) and the probability of each class (right): the
    predicted class's bar blue when right, red when wrong; the true class's tick green."""
    p = probs.detach().cpu().float().numpy()
    pred = int(p.argmax())
    img = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    a, b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    a.imshow(img.reshape(28, 28), cmap="gray_r", vmin=0, vmax=max(float(img.max()), 1))
    a.set_axis_off()
    a.set_title(f"true {label}, predicted {pred}", color=RIGHT if pred == label else WRONG,
                fontsize=10)
    colors = ["lightgray"] * len(p)
    colors[pred] = RIGHT if pred == label else WRONG
    b.bar(range(len(p)), 100 * p, color=colors)
    b.set(xticks=range(len(p)), ylim=(0, 105), xlabel="digit",
          ylabel="probability (%)", title="The model's probabilities")
    b.get_xticklabels()[label].set_color(TRUE)
    b.get_xticklabels()[label].set_fontweight("bold")
    b.grid(alpha=0.3, axis="y")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def prediction_figure(image: torch.Tensor | np.ndarray, label: int, probs: torch.Tensor,
                      title: str = "") -> Figure:
    """One state of the browser as a pyplot figure, which a notebook shows (and a static page
    keeps)."""
    return draw_prediction(plt.figure(figsize=(7, 2.8)), image, label, probs, title)


def _png(image, label: int, probs: torch.Tensor) -> bytes:
    fig = Figure(figsize=(7, 2.8))  # not pyplot: the browser shows it, the notebook must not
    draw_prediction(fig, image, label, probs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def prediction_browser(images: torch.Tensor, labels: torch.Tensor, probs: torch.Tensor,
                       only_wrong: bool = False):
    """An ipywidgets box: a checkbox (only the misclassified), previous and next buttons, a
    slider over the digits, a one-line caption and the figure of ``draw_prediction``.
    ``images`` uint8 ``[N, 28, 28]``, ``labels`` ``[N]``, ``probs`` ``[N, 10]``."""
    import ipywidgets as w

    only = w.Checkbox(value=only_wrong, description="only the misclassified", indent=False)
    prev, nxt = w.Button(description="◀ previous"), w.Button(description="next ▶")
    slider = w.IntSlider(min=0, max=0, description="position", continuous_update=False)
    text, picture = w.HTML(), w.Image(format="png")
    box = w.VBox([w.HBox([only, prev, nxt, slider]), text, picture])
    box.order = browse_order(labels, probs, only_wrong)
    box.only, box.prev, box.next, box.slider = only, prev, nxt, slider
    box.text, box.picture = text, picture

    def show(*_) -> None:
        n = len(box.order)
        if n == 0:
            text.value, picture.value = "no digits to show: none is misclassified", b""
            return
        i = int(box.order[slider.value])
        label = int(labels[i])
        text.value = f"{slider.value + 1} of {n:,}: {caption(i, label, probs[i])}"
        picture.value = _png(images[i], label, probs[i])

    def choose(change) -> None:
        box.order = browse_order(labels, probs, change["new"])
        with slider.hold_trait_notifications():
            slider.value, slider.max = 0, max(len(box.order) - 1, 0)
        show()

    def step(by: int) -> None:
        slider.value = min(max(slider.value + by, 0), slider.max)

    slider.max = max(len(box.order) - 1, 0)
    only.observe(choose, names="value")
    slider.observe(show, names="value")
    prev.on_click(lambda _: step(-1))
    nxt.on_click(lambda _: step(+1))
    show()
    return box
