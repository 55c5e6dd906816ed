"""Framework-free checks of model inputs and labels, shared by :mod:`vae_course.keras` and :mod:`vae_course.torch`.

Each raises a ``ValueError`` that says what was expected and how to fix it,
with the hints that matter when moving between the two frameworks (channel
order, a missing channel axis, flat versus square images).
"""

from __future__ import annotations

import math
from typing import Sequence

_LAYOUTS = {
    # layout: (framework, what the other layout looks like, this layout's name, how to convert to it)
    "nchw": ("PyTorch", "channels-last (NHWC, the Keras layout)", "channels-first (NCHW)", "x.transpose(0, 3, 1, 2)"),
    "nhwc": ("Keras", "channels-first (NCHW, the PyTorch layout)", "channels-last (NHWC)", "x.transpose(0, 2, 3, 1)"),
}


LIKELIHOODS = ("bernoulli", "gaussian")
"""The decoder likelihoods p(x|z) the VAEs of both frameworks support."""


def check_vae_settings(likelihood: str, std: float, beta: float, binarize: bool) -> None:
    """Raise a ``ValueError`` for VAE settings no model here accepts (both frameworks' VAEs call this)."""
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {', '.join(map(repr, LIKELIHOODS))}, got {likelihood!r}.")
    if not std > 0:
        raise ValueError(f"std (the fixed standard deviation of the Gaussian decoder) must be positive, got {std}.")
    if not beta >= 0:
        raise ValueError(f"beta (the weight of the KL term) must be >= 0, got {beta}.")
    if binarize and likelihood != "bernoulli":
        raise ValueError(
            f"binarize=True draws binary images, which only the Bernoulli likelihood models; got likelihood={likelihood!r}."
        )


def check_shape(name: str, shape: Sequence[int | None], expected: Sequence[int], *, model_name: str, layout: str) -> None:
    """Raise unless ``shape`` is ``(N, *expected)``; ``layout`` is the model's image layout, "nchw" or "nhwc"."""
    shape, expected = tuple(shape), tuple(expected)
    if shape[1:] == expected:
        return
    framework, other, ours, transpose = _LAYOUTS[layout]
    swapped = expected[1:] + expected[:1] if layout == "nchw" else expected[2:] + expected[:2]
    without_channel = expected[1:] if layout == "nchw" else expected[:2]
    hint = ""
    if len(expected) == 3 and shape[1:] == swapped:
        hint = (
            f" It looks {other}, but {framework} models are {ours}: use {transpose}, "
            f"or vae_course.data.add_channel(x, '{layout}') on (N, 28, 28) images."
        )
    elif len(expected) == 3 and shape[1:] == without_channel:
        hint = f" It has no channel axis: use vae_course.data.add_channel(x, '{layout}')."
    elif len(expected) == 1 and None not in shape[1:] and math.prod(shape[1:]) == expected[0]:
        hint = f" Flatten the images first: x.reshape(len(x), {expected[0]})."
    raise ValueError(f"{name} has shape {shape}, but {model_name} expects (N, {', '.join(map(str, expected))}).{hint}")


def check_values(
    name: str, x_min: float, x_max: float, *, finite: bool, value_range: tuple[float, float] | None, purpose: str
) -> None:
    """Raise on NaN/infinite values, or values outside ``value_range`` (None: any), which ``purpose`` needs."""
    if not finite:
        raise ValueError(f"{name} contains NaN or infinite values.")
    if value_range is not None:
        low, high = value_range
        if x_min < low or x_max > high:
            raise ValueError(
                f"{name} has values in [{x_min:.4g}, {x_max:.4g}], outside [{low:g}, {high:g}]. "
                f"Pixels must be scaled to [0, 1] (vae_course.data.scale) for {purpose}."
            )


def check_labels(array: "np.ndarray", num_classes: int, n: int | None = None, *, name: str = "labels") -> None:
    """Raise unless ``array`` holds integer class ids in ``[0, num_classes)``, shape (N,), ``n`` of them when given.

    One-hot rows and float labels are refused with a hint (the conditional
    models make the one-hot vectors themselves).
    """
    import numpy as np

    if array.ndim == 2 and array.shape[1] == num_classes:
        raise ValueError(
            f"{name} has shape {array.shape}: it looks one-hot. Pass integer class ids of shape (N,), "
            "e.g. labels.argmax(1); the model makes the one-hot vectors itself."
        )
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integer class ids, shape (N,), got shape {array.shape}.")
    if not (np.issubdtype(array.dtype, np.integer) and array.dtype != np.bool_):
        raise ValueError(
            f"{name} has dtype {array.dtype}; expected integer class ids in [0, {num_classes}). "
            "Convert them with labels.astype(int) (NumPy) or labels.long() (PyTorch)."
        )
    if n is not None and len(array) != n:
        raise ValueError(f"{name} holds {len(array)} labels but there are {n} images: pass one label per image.")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(
            f"{name} has values in [{array.min()}, {array.max()}], outside the class ids 0 .. {num_classes - 1}."
        )
