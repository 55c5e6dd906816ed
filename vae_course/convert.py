"""Port weights between Keras and PyTorch layers, with NumPy only.

The two frameworks compute the same functions with differently laid-out
weights. Every helper here takes NumPy arrays and returns new (contiguous)
NumPy arrays; it never imports a framework. Layouts, checked by
``tests/test_vae_parity.py`` on real layers:

=====================  ==========================  ================================
layer                  Keras 3 (``layer.kernel``)  PyTorch (``module.weight``)
=====================  ==========================  ================================
dense                  ``(in, out)``               ``Linear``: ``(out, in)``
convolution            ``(H, W, in, out)`` (HWIO)  ``Conv2d``: ``(out, in, H, W)`` (OIHW)
transposed conv        ``(H, W, out, in)``         ``ConvTranspose2d``: ``(in, out, H, W)``
=====================  ==========================  ================================

Biases are ``(out,)`` in both. Neither framework flips the kernel: both
compute a cross-correlation, so the spatial axes are copied as they are.

**Flatten and Reshape.** Keras flattens a channels-last feature map
``(H, W, C)`` so that the channel index runs fastest; PyTorch flattens
``(C, H, W)`` so that the column index runs fastest. The same 12,544 numbers
therefore come out in a different order, and a dense layer right after a
``Flatten`` (its *input* rows) or right before a ``Reshape`` (its *output*
columns and its bias) has to be permuted, not just transposed. Those two
cases have their own helpers, which take ``feature_shape = (H, W, C)``, the
Keras (channels-last) shape of the feature map.

**Padding.** Not a weight question, but it decides whether ported weights
give the same outputs: on an even-sized input, Keras/TensorFlow ``"same"``
padding with stride 2 pads only at the bottom and right. A PyTorch
``Conv2d(..., stride=2, padding=1)`` pads both sides and
``ConvTranspose2d(..., stride=2, padding=1, output_padding=1)`` crops the
first row and column instead of the last: right shapes, outputs shifted by
one pixel. :mod:`vae_course.torch.vae` reproduces the TensorFlow alignment.

For whole models, describe each weight layer by a :class:`Port` and use
:func:`keras_to_torch` / :func:`torch_to_keras`; the VAEs of
:mod:`vae_course.keras.vae` and :mod:`vae_course.torch.vae` list theirs with
``model.weight_layers()`` and :mod:`vae_course.parity` copies whole models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "KINDS",
    "Port",
    "conv2d_keras_to_torch",
    "conv2d_torch_to_keras",
    "conv2d_transpose_keras_to_torch",
    "conv2d_transpose_torch_to_keras",
    "dense_keras_to_torch",
    "dense_reshape_keras_to_torch",
    "dense_reshape_torch_to_keras",
    "dense_torch_to_keras",
    "flatten_dense_keras_to_torch",
    "flatten_dense_torch_to_keras",
    "keras_to_torch",
    "nchw_to_nhwc",
    "nhwc_to_nchw",
    "torch_to_keras",
]

KINDS = ("dense", "conv2d", "conv2d_transpose", "flatten_dense", "dense_reshape")
"""The kinds of weight layer :class:`Port` knows."""


def _array(value: ArrayLike, ndim: int, name: str, layout: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} axes {layout}, got shape {array.shape}.")
    return array


def _bias(bias: ArrayLike | None, size: int, name: str) -> np.ndarray | None:
    if bias is None:
        return None
    bias = np.asarray(bias)
    if bias.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {bias.shape}.")
    return bias.copy()


def _feature_shape(feature_shape: tuple[int, int, int], size: int, what: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in feature_shape)
    if len(shape) != 3:
        raise ValueError(f"feature_shape must be the channels-last (H, W, C) of the feature map, got {feature_shape}.")
    if int(np.prod(shape)) != size:
        raise ValueError(f"feature_shape {shape} holds {int(np.prod(shape))} values but {what} has {size}.")
    return shape  # type: ignore[return-value]


# --- plain layers -------------------------------------------------------------------------------


def dense_keras_to_torch(kernel: ArrayLike, bias: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Keras ``Dense`` kernel ``(in, out)`` -> PyTorch ``Linear`` weight ``(out, in)``; the bias is copied."""
    kernel = _array(kernel, 2, "A Keras Dense kernel", "(in, out)")
    return np.ascontiguousarray(kernel.T), _bias(bias, kernel.shape[1], "The bias")


def dense_torch_to_keras(weight: ArrayLike, bias: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """PyTorch ``Linear`` weight ``(out, in)`` -> Keras ``Dense`` kernel ``(in, out)``; the bias is copied."""
    weight = _array(weight, 2, "A PyTorch Linear weight", "(out, in)")
    return np.ascontiguousarray(weight.T), _bias(bias, weight.shape[0], "The bias")


def conv2d_keras_to_torch(kernel: ArrayLike) -> np.ndarray:
    """Keras ``Conv2D`` kernel ``(H, W, in, out)`` -> PyTorch ``Conv2d`` weight ``(out, in, H, W)``."""
    kernel = _array(kernel, 4, "A Keras Conv2D kernel", "(H, W, in, out)")
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


def conv2d_torch_to_keras(weight: ArrayLike) -> np.ndarray:
    """PyTorch ``Conv2d`` weight ``(out, in, H, W)`` -> Keras ``Conv2D`` kernel ``(H, W, in, out)``."""
    weight = _array(weight, 4, "A PyTorch Conv2d weight", "(out, in, H, W)")
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


def conv2d_transpose_keras_to_torch(kernel: ArrayLike) -> np.ndarray:
    """Keras ``Conv2DTranspose`` kernel ``(H, W, out, in)`` -> PyTorch ``ConvTranspose2d`` weight ``(in, out, H, W)``.

    Note the order of the channel axes: Keras keeps the convolution's
    ``(..., in, out)`` order of the *forward* convolution whose gradient the
    transposed one is, so its last axis is the transposed layer's *input*.
    The permutation is therefore the same as for :func:`conv2d_keras_to_torch`.
    """
    kernel = _array(kernel, 4, "A Keras Conv2DTranspose kernel", "(H, W, out, in)")
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


def conv2d_transpose_torch_to_keras(weight: ArrayLike) -> np.ndarray:
    """PyTorch ``ConvTranspose2d`` weight ``(in, out, H, W)`` -> Keras ``Conv2DTranspose`` kernel ``(H, W, out, in)``."""
    weight = _array(weight, 4, "A PyTorch ConvTranspose2d weight", "(in, out, H, W)")
    return np.ascontiguousarray(weight.transpose(2, 3, 1, 0))


# --- dense layers next to Flatten / Reshape -------------------------------------------------------


def flatten_dense_keras_to_torch(
    kernel: ArrayLike, bias: ArrayLike | None, feature_shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The dense layer after ``Flatten``: Keras kernel ``(H*W*C, out)`` -> PyTorch weight ``(out, C*H*W)``.

    Its input rows are in channels-last flatten order in Keras and must be
    reordered to the channels-first order of ``torch.nn.Flatten``.
    ``feature_shape`` is the Keras ``(H, W, C)`` of the flattened map.
    """
    kernel = _array(kernel, 2, "A Keras Dense kernel", "(in, out)")
    h, w, c = _feature_shape(feature_shape, kernel.shape[0], "the kernel's input axis")
    rows = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)
    return np.ascontiguousarray(rows.T), _bias(bias, kernel.shape[1], "The bias")


def flatten_dense_torch_to_keras(
    weight: ArrayLike, bias: ArrayLike | None, feature_shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverse of :func:`flatten_dense_keras_to_torch`: PyTorch ``(out, C*H*W)`` -> Keras ``(H*W*C, out)``."""
    weight = _array(weight, 2, "A PyTorch Linear weight", "(out, in)")
    h, w, c = _feature_shape(feature_shape, weight.shape[1], "the weight's input axis")
    kernel = weight.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, -1)
    return np.ascontiguousarray(kernel), _bias(bias, weight.shape[0], "The bias")


def dense_reshape_keras_to_torch(
    kernel: ArrayLike, bias: ArrayLike | None, feature_shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The dense layer before ``Reshape``: Keras kernel ``(in, H*W*C)`` -> PyTorch weight ``(C*H*W, in)``.

    Its output columns (and its bias) are in channels-last order in Keras and
    must be reordered for ``torch.nn.Unflatten(1, (C, H, W))``.
    ``feature_shape`` is the Keras ``(H, W, C)`` of the ``Reshape`` target.
    """
    kernel = _array(kernel, 2, "A Keras Dense kernel", "(in, out)")
    h, w, c = _feature_shape(feature_shape, kernel.shape[1], "the kernel's output axis")
    columns = kernel.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(-1, c * h * w)
    if bias is not None:
        bias = _bias(bias, h * w * c, "The bias").reshape(h, w, c).transpose(2, 0, 1).reshape(-1)
    return np.ascontiguousarray(columns.T), bias


def dense_reshape_torch_to_keras(
    weight: ArrayLike, bias: ArrayLike | None, feature_shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverse of :func:`dense_reshape_keras_to_torch`: PyTorch ``(C*H*W, in)`` -> Keras ``(in, H*W*C)``."""
    weight = _array(weight, 2, "A PyTorch Linear weight", "(out, in)")
    h, w, c = _feature_shape(feature_shape, weight.shape[0], "the weight's output axis")
    kernel = weight.T.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(-1, h * w * c)
    if bias is not None:
        bias = _bias(bias, h * w * c, "The bias").reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
    return np.ascontiguousarray(kernel), bias


# --- activations ----------------------------------------------------------------------------------


def nhwc_to_nchw(x: ArrayLike) -> np.ndarray:
    """A batch of channels-last images ``(N, H, W, C)`` (Keras) as channels-first ``(N, C, H, W)`` (PyTorch)."""
    return np.ascontiguousarray(_array(x, 4, "x", "(N, H, W, C)").transpose(0, 3, 1, 2))


def nchw_to_nhwc(x: ArrayLike) -> np.ndarray:
    """A batch of channels-first images ``(N, C, H, W)`` (PyTorch) as channels-last ``(N, H, W, C)`` (Keras)."""
    return np.ascontiguousarray(_array(x, 4, "x", "(N, C, H, W)").transpose(0, 2, 3, 1))


# --- whole layers by kind -------------------------------------------------------------------------


@dataclass(frozen=True)
class Port:
    """How one weight layer is ported: its ``kind`` (one of :data:`KINDS`) and, for the
    dense layers next to ``Flatten``/``Reshape``, the channels-last ``feature_shape`` (H, W, C)."""

    kind: str
    feature_shape: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown layer kind {self.kind!r}: choose one of {', '.join(KINDS)}.")
        needs_shape = self.kind in ("flatten_dense", "dense_reshape")
        if needs_shape != (self.feature_shape is not None):
            raise ValueError(
                f"A {self.kind!r} port {'needs' if needs_shape else 'takes no'} feature_shape (H, W, C)."
            )


def keras_to_torch(port: Port, kernel: ArrayLike, bias: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A Keras layer's ``(kernel, bias)`` as the PyTorch ``(weight, bias)`` of the same layer."""
    if port.kind == "dense":
        return dense_keras_to_torch(kernel, bias)
    if port.kind == "flatten_dense":
        return flatten_dense_keras_to_torch(kernel, bias, port.feature_shape)  # type: ignore[arg-type]
    if port.kind == "dense_reshape":
        return dense_reshape_keras_to_torch(kernel, bias, port.feature_shape)  # type: ignore[arg-type]
    convert = conv2d_keras_to_torch if port.kind == "conv2d" else conv2d_transpose_keras_to_torch
    weight = convert(kernel)
    size = weight.shape[0] if port.kind == "conv2d" else weight.shape[1]
    return weight, _bias(bias, size, "The bias")


def torch_to_keras(port: Port, weight: ArrayLike, bias: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """A PyTorch layer's ``(weight, bias)`` as the Keras ``(kernel, bias)`` of the same layer."""
    if port.kind == "dense":
        return dense_torch_to_keras(weight, bias)
    if port.kind == "flatten_dense":
        return flatten_dense_torch_to_keras(weight, bias, port.feature_shape)  # type: ignore[arg-type]
    if port.kind == "dense_reshape":
        return dense_reshape_torch_to_keras(weight, bias, port.feature_shape)  # type: ignore[arg-type]
    convert = conv2d_torch_to_keras if port.kind == "conv2d" else conv2d_transpose_torch_to_keras
    kernel = convert(weight)
    return kernel, _bias(bias, kernel.shape[3] if port.kind == "conv2d" else kernel.shape[2], "The bias")
