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
    a, b = (np.asarray(f, dtype=np.float64) for f in (features_a, features_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"Expected two arrays of shape (N, D) with the same D, got {a.shape} and {b.shape}.")
    if min(len(a), len(b)) < 2:
        raise ValueError("Each set needs at least 2 feature vectors to estimate a covariance.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("The features contain NaN or infinite values.")
    # dead ReLU features make the covariances singular: gaussian_frechet_distance copes
    return gaussian_frechet_distance(a.mean(axis=0), np.cov(a, rowvar=False), b.mean(axis=0), np.cov(b, rowvar=False))


# --- chapter 07: precision, recall and class coverage of generated samples ---------------------------------

__all__ += [
    "gaussian_frechet_distance", "knn_radii", "knn_precision_recall", "class_histogram", "class_coverage_entropy",
]


def gaussian_frechet_distance(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu_a, cov_a) and N(mu_b, cov_b).

    ``||mu_a - mu_b||^2 + Tr(cov_a + cov_b - 2 (cov_a cov_b)^(1/2))``, with the
    matrix square root of the product (:func:`scipy.linalg.sqrtm`) and its
    round-off imaginary part dropped. :func:`frechet_distance` computes it from
    two sets of feature vectors.
    """
    from scipy import linalg

    mu_a, mu_b = np.atleast_1d(np.asarray(mu_a, dtype=np.float64)), np.atleast_1d(np.asarray(mu_b, dtype=np.float64))
    cov_a, cov_b = np.atleast_2d(np.asarray(cov_a, dtype=np.float64)), np.atleast_2d(np.asarray(cov_b, dtype=np.float64))
    d = len(mu_a)
    if mu_a.shape != (d,) or mu_b.shape != (d,) or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise ValueError(
            f"Expected two means of shape (D,) and two covariances of shape (D, D), got {mu_a.shape}, {cov_a.shape}, "
            f"{mu_b.shape} and {cov_b.shape}."
        )
    if not all(np.isfinite(v).all() for v in (mu_a, mu_b, cov_a, cov_b)):
        raise ValueError("The means and covariances must be finite.")
    with warnings.catch_warnings():  # singular covariances: sqrtm copes, and warns
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # a singular product: regularise as pytorch-fid does
        offset = 1e-6 * np.eye(d)
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    distance = np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(np.real(covmean))
    return float(max(distance, 0.0))


def _features(features: np.ndarray, name: str) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) == 0:
        raise ValueError(f"{name} must have shape (N, D) with N >= 1, got shape {f.shape}.")
    if not np.isfinite(f).all():
        raise ValueError(f"{name} contain NaN or infinite values.")
    return f


def _distances(a: np.ndarray, b: np.ndarray, chunk: int = 1024):
    """Row blocks ``(start, distances)`` of the Euclidean distance matrix between the rows of ``a`` and ``b``."""
    from scipy.spatial.distance import cdist

    for start in range(0, len(a), chunk):
        yield start, cdist(a[start: start + chunk], b)


def knn_radii(features: np.ndarray, k: int = 3) -> np.ndarray:
    """Distance from each feature vector to its ``k``-th nearest neighbour in the same set, itself not counted: (N,).

    The radius of the ball around each point in the k-NN estimate of a manifold
    (Kynkäänniemi et al. 2019). Needs ``1 <= k < N``.
    """
    return _knn_radii(_features(features, "features"), k)


def _knn_radii(f: np.ndarray, k: int) -> np.ndarray:
    if int(k) != k or not 1 <= k < len(f):
        raise ValueError(f"k must be an integer with 1 <= k < N = {len(f)}, got {k!r}.")
    radii = np.empty(len(f))
    for start, d in _distances(f, f):
        radii[start: start + len(d)] = np.partition(d, int(k), axis=1)[:, int(k)]  # column 0 is the point itself
    return radii


def _share_inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Share of ``points`` that lie in at least one ball ``||p - centre_i|| <= radius_i``."""
    inside = np.zeros(len(points), dtype=bool)
    for start, d in _distances(points, centres):
        inside[start: start + len(d)] = np.any(d <= radii[None, :], axis=1)
    return float(np.mean(inside))


def knn_precision_recall(real_features: np.ndarray, fake_features: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): ``(precision, recall)``, each in [0, 1].

    Each set's manifold is the union of balls around its points, of radius the
    distance to the point's ``k``-th nearest neighbour in the same set
    (:func:`knn_radii`). **Precision** is the share of generated samples inside
    the real manifold (are the samples realistic?); **recall** the share of
    real samples inside the generated manifold (is all of the data covered?).
    """
    real, fake = _features(real_features, "real_features"), _features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"The two sets must have the same feature dimension, got {real.shape} and {fake.shape}.")
    precision = _share_inside(fake, real, _knn_radii(real, k))
    recall = _share_inside(real, fake, _knn_radii(fake, k))
    return precision, recall


def class_histogram(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of each class among integer ``labels`` in ``[0, n_classes)``: shape (n_classes,), zeros included."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D array of integers, got dtype {labels.dtype} and shape {labels.shape}.")
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values from {labels.min()} to {labels.max()}.")
    return np.bincount(labels, minlength=n_classes)


def class_coverage_entropy(counts: np.ndarray, base: float = 2.0) -> float:
    """Entropy of the class distribution ``counts / counts.sum()``, in units of log ``base`` (bits by default).

    ``-sum_c p_c log(p_c) / log(base)`` with ``0 log 0 = 0``: empty classes add
    nothing. ``log_base(K)`` for K equally frequent classes, 0 when every sample
    falls in one class (mode collapse).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or len(counts) == 0 or not np.isfinite(counts).all() or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(f"counts must be a 1-D histogram of non-negative counts with a positive sum, got {counts!r}.")
    if not (base > 0 and base != 1):
        raise ValueError(f"base must be positive and not 1, got {base!r}.")
    p = counts / counts.sum()
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)) / np.log(base))
