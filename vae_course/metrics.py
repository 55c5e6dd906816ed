"""Reconstruction losses, anomaly scores and sample-quality measures in plain NumPy.

These are the reference answers of the chapters' exercises and the scores the
later chapters reuse. They take NumPy arrays (or anything
:func:`numpy.asarray` accepts) of images of any shape ``(N, ...)``: the first
axis indexes images, every other axis indexes pixels.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["bce_loss", "mse_loss", "reconstruction_errors", "anomaly_threshold", "confident_rate", "frechet_distance"]


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


def confident_rate(probs: np.ndarray, threshold: float = 0.9) -> float:
    """Share of images whose most likely class has probability ``>= threshold``.

    ``probs`` holds one row of class probabilities per image, shape (N, classes),
    as a classifier's ``predict_proba`` returns them. A generated image that a
    good classifier is sure about looks like a real example of some class.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probs must have shape (N, classes) with N >= 1, got shape {probs.shape}.")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold is a probability in (0, 1], got {threshold}.")
    return float(np.mean(probs.max(axis=1) >= threshold))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature vectors, shape (N, D) each.

    ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``: the FID of
    Heusel et al. (2017) when the features come from an Inception network; the
    course uses a small classifier of the dataset instead
    (:meth:`vae_course.classifier.DatasetClassifier.frechet_distance`). It is 0
    for identical statistics and grows as the samples drift from the data. The
    estimate is biased upwards for small N: compare values computed with the
    same number of samples.
    """
    from scipy import linalg

    a, b = (np.asarray(f, dtype=np.float64) for f in (features_a, features_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"Expected two arrays of shape (N, D) with the same D, got {a.shape} and {b.shape}.")
    if min(len(a), len(b)) < 2:
        raise ValueError("Each set needs at least 2 feature vectors to estimate a covariance.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("The features contain NaN or infinite values.")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # dead ReLU features make the covariances singular; sqrtm copes
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # a singular product: regularise as pytorch-fid does
        offset = 1e-6 * np.eye(len(cov_a))
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    distance = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean.real)
    return float(max(distance, 0.0))
