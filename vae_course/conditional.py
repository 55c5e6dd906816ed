"""Measures of conditional generators in NumPy and scikit-learn (chapter 06): no deep learning framework.

- :func:`conditional_accuracy`: the share of samples generated for class *c*
  that the judge (:func:`vae_course.classifier.dataset_classifier`) assigns
  to *c*, averaged over the classes;
- :func:`style_attributes` and :func:`style_kept`: how much of an image's
  style (stroke thickness, width, height, slant) survives when its code is
  decoded with another label;
- :func:`label_probe`: how well a linear classifier reads the label from a
  model's codes, i.e. what the code still knows about the class.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "STYLE_ATTRIBUTES",
    "conditional_accuracy",
    "label_probe",
    "per_class_accuracy",
    "style_attributes",
    "style_kept",
]

STYLE_ATTRIBUTES = ("thickness", "width", "height", "slant")
"""The columns of :func:`style_attributes`."""


def _labels(labels: object, n: int, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be {n} integer class ids, shape ({n},); got shape {labels.shape}, dtype {labels.dtype}.")
    return labels


def _probs(probs: object) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError(f"probs must be the judge's class probabilities, shape (N, classes), got shape {probs.shape}.")
    return probs


def per_class_accuracy(probs: object, labels: object, num_classes: int = 10) -> np.ndarray:
    """(num_classes,) share of the samples generated for each class that the judge assigns to it; NaN for a class with none.

    ``probs`` are the judge's probabilities, shape (N, num_classes + 1): the
    classes, then *none of them*. The judge's answer is the argmax over **all**
    columns, so a sample it calls *none of them* counts as a miss.
    """
    probs = _probs(probs)
    labels = _labels(labels, len(probs))
    predicted = probs.argmax(axis=1)
    rates = np.full(num_classes, np.nan)
    for c in range(num_classes):
        mine = labels == c
        if mine.any():
            rates[c] = np.mean(predicted[mine] == c)
    return rates


def conditional_accuracy(probs: object, labels: object) -> float:
    """Mean over the classes present in ``labels`` of :func:`per_class_accuracy`: every class weighs the same.

    ``probs``: the judge's probabilities (N, classes + 1), the last column
    *none of them*; ``labels``: the class each sample was generated for.
    """
    probs = _probs(probs)
    labels = _labels(labels, len(probs))
    predicted = probs.argmax(axis=1)
    return float(np.mean([np.mean(predicted[labels == c] == c) for c in np.unique(labels)]))


def style_attributes(images: object) -> np.ndarray:
    """(N, 4) style of each 28x28 image from its ink's moments: thickness, width, height, slant.

    - thickness: the mean pixel value (the amount of ink: thick strokes, filled garments);
    - width and height: the standard deviations of the ink's column and row coordinates, in pixels;
    - slant: the shear ``cov(column, row) / var(row)``, how far the ink moves sideways per row
      (positive: the top leans right).
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != 784:
        raise ValueError(f"images must be 28x28 images, shaped (N, 784) or (N, 28, 28), got shape {x.shape}.")
    x = np.clip(x.reshape(len(x), 28, 28), 0.0, None)
    ink = x.sum(axis=(1, 2)) + 1e-8
    rows, cols = np.mgrid[0:28, 0:28].astype(np.float64)
    rows = 27.0 - rows  # row coordinate upwards, so that a top leaning right is a positive slant

    def moment(f: np.ndarray) -> np.ndarray:
        return (x * f).sum(axis=(1, 2)) / ink

    mean_r, mean_c = moment(rows), moment(cols)
    var_r = moment(rows**2) - mean_r**2
    var_c = moment(cols**2) - mean_c**2
    cov = moment(rows * cols) - mean_r * mean_c
    return np.column_stack([x.mean(axis=(1, 2)), np.sqrt(np.maximum(var_c, 0)), np.sqrt(np.maximum(var_r, 0)),
                            cov / np.maximum(var_r, 1e-8)])


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a**2).sum() * (b**2).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def style_kept(source_images: object, source_labels: object, decoded: object) -> np.ndarray:
    """How much of each source image's style its code carries to the other classes: one correlation per attribute.

    ``decoded`` has shape (N, num_classes, 784): row ``i`` is the code of
    ``source_images[i]`` decoded with every label. For each attribute of
    :data:`STYLE_ATTRIBUTES` and each class ``c``, this is the Pearson
    correlation, over the source images of *other* classes, between the
    attribute of the source image and that of its decoding as ``c``; the
    result (4,) is its mean over the classes. 1: the style carries over
    exactly (up to a scale per class); 0: no more than random codes carry.
    """
    source = style_attributes(source_images)
    decoded = np.asarray(decoded, dtype=np.float64)
    if decoded.ndim != 3 or decoded.shape[0] != len(source) or decoded.shape[2] != 784:
        raise ValueError(f"decoded must have shape (N, num_classes, 784) = ({len(source)}, C, 784), got {decoded.shape}.")
    labels = _labels(source_labels, len(source), "source_labels")
    n, num_classes, _ = decoded.shape
    transferred = style_attributes(decoded.reshape(n * num_classes, 784)).reshape(n, num_classes, -1)
    kept = np.zeros((num_classes, len(STYLE_ATTRIBUTES)))
    for c in range(num_classes):
        other = labels != c
        for k in range(len(STYLE_ATTRIBUTES)):
            kept[c, k] = _correlation(source[other, k], transferred[other, c, k])
    return kept.mean(axis=0)


def label_probe(z_train: object, y_train: object, z_test: object, y_test: object, *, seed: int = 0) -> float:
    """Test accuracy of a logistic regression that reads the label from the codes (standardised first).

    A linear read-out: 1 means the codes say which class an image is, and
    the share of the most frequent test class means they say nothing a
    guess would not.
    """
    z_train, z_test = np.asarray(z_train, dtype=np.float64), np.asarray(z_test, dtype=np.float64)
    if z_train.ndim != 2 or z_test.ndim != 2 or z_train.shape[1] != z_test.shape[1]:
        raise ValueError(f"z_train and z_test must be codes (N, latent_dim) of one size, got {z_train.shape} and {z_test.shape}.")
    y_train, y_test = _labels(y_train, len(z_train), "y_train"), _labels(y_test, len(z_test), "y_test")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(z_train, y_train)
    return float(probe.score(z_test, y_test))
