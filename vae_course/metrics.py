"""Reconstruction losses and anomaly scores in plain NumPy.

These are the reference answers of chapter 01's exercises and the scores the
later chapters reuse. They take NumPy arrays (or anything
:func:`numpy.asarray` accepts) of images of any shape ``(N, ...)``: the first
axis indexes images, every other axis indexes pixels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bce_loss", "mse_loss", "reconstruction_errors", "anomaly_threshold"]


def _pixels_per_image(x: np.ndarray, x_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    x_hat = np.asarray(x_hat, dtype=np.float64)
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {x.shape} and {x_hat.shape}.")
    if x.ndim < 2:
        raise ValueError(f"Expected a batch of images of shape (N, ...), got shape {x.shape}.")
    return x.reshape(len(x), -1), x_hat.reshape(len(x_hat), -1)


def bce_loss(x: np.ndarray, x_hat: np.ndarray, eps: float = 1e-7) -> float:
    """Binary cross-entropy, summed over the pixels of each image and averaged over images.

    ``x`` holds the targets in [0, 1], ``x_hat`` the reconstructed
    probabilities; ``x_hat`` is clipped to ``[eps, 1 - eps]`` so that a
    confident wrong pixel costs ``-log(eps)`` instead of infinity.
    """
    x, x_hat = _pixels_per_image(x, x_hat)
    p = np.clip(x_hat, eps, 1.0 - eps)
    per_image = -np.sum(x * np.log(p) + (1.0 - x) * np.log(1.0 - p), axis=1)
    return float(np.mean(per_image))


def mse_loss(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Squared error, summed over the pixels of each image and averaged over images."""
    x, x_hat = _pixels_per_image(x, x_hat)
    return float(np.mean(np.sum((x - x_hat) ** 2, axis=1)))


def reconstruction_errors(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Anomaly score of each image: its mean squared reconstruction error, shape (N,)."""
    x, x_hat = _pixels_per_image(x, x_hat)
    return np.mean((x - x_hat) ** 2, axis=1)


def anomaly_threshold(normal_scores: np.ndarray, false_positive_rate: float) -> float:
    """The score above which an image is flagged, so that a fraction ``false_positive_rate`` of normal images is.

    It is the ``1 - false_positive_rate`` quantile of scores measured on normal
    data (:func:`numpy.quantile`, linear interpolation).
    """
    return float(np.quantile(np.asarray(normal_scores, dtype=np.float64), 1.0 - false_positive_rate))
