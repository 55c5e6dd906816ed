"""A small classifier per dataset: the course's judge of generated images.

Generated images have no labels and no single right answer, so the course
measures them with a classifier trained once on the real data:

- the **confident-sample rate**: the share of samples the classifier assigns
  to some class with probability at least 0.9 (a blob between two digits gets
  a hedged, low-confidence answer);
- the **Fréchet distance** between the classifier's hidden features of the
  samples and of real test images (the idea of FID, with a dataset-specific
  network instead of Inception);
- the **conditional accuracy**: how often a sample generated for class *c*
  is classified as *c* (for the conditional models of chapter 06).

The classifier is a scikit-learn multilayer perceptron (784-256-64-11, ReLU),
so that Keras and PyTorch chapters share one judge without importing either
framework. Besides the ten classes it has an eleventh, *none of them*,
trained on blends of two images of different classes and on noise: a plain
ten-way softmax is famously over-confident far from its data (it calls pure
noise a bag with 100% certainty), which would make it a lenient judge of
samples from empty regions of a latent space. With blends alone it would be
too strict the other way: the slightly blurry images every VAE decodes look
more like a blend than like a sharp training image. So blurred copies of real
images are trained too, under their own class (:func:`blurred_examples`):
a blurry 7 is still a 7, a 7 over a 1 is neither. It is trained on the run
profile's training data for ``profile.epochs["classifier"]`` epochs and
cached like the models.

Example::

    from vae_course.classifier import dataset_classifier
    judge = dataset_classifier("mnist")
    judge.confident_rate(samples)
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from vae_course import cache, metrics
from vae_course.data import class_names, load_profile, scale
from vae_course.profiles import Profile, get_profile

HIDDEN = (256, 64)
PIXELS = 28 * 28
NONE = 10
"""The label of the extra class, *none of the ten*."""

BLUR_SIGMAS = (0.5, 0.8, 1.1, 1.4)
"""Standard deviations, in pixels, of the Gaussian blurs in :func:`blurred_examples`."""

__all__ = ["NONE", "DatasetClassifier", "dataset_classifier", "as_flat_images", "blurred_examples", "non_examples"]


def as_flat_images(images: object, name: str = "images") -> np.ndarray:
    """(N, 784) float64 of images shaped (N, 784), (N, 28, 28), (N, 28, 28, 1) or (N, 1, 28, 28) in [0, 1].

    Accepts NumPy arrays and CPU tensors of either framework.
    """
    x = np.asarray(images)
    if x.dtype == np.uint8:
        raise ValueError(f"{name} are uint8 pixels in [0, 255]; scale them to [0, 1] first (vae_course.data.scale).")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be float pixels in [0, 1], got dtype {x.dtype}.")
    if x.ndim < 2 or len(x) == 0 or int(np.prod(x.shape[1:])) != PIXELS:
        raise ValueError(
            f"{name} must be N >= 1 images of 28x28 pixels, shaped (N, 784), (N, 28, 28), (N, 28, 28, 1) "
            f"or (N, 1, 28, 28); got shape {x.shape}."
        )
    x = x.reshape(len(x), PIXELS).astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contain NaN or infinite values.")
    if x.min() < -1e-6 or x.max() > 1 + 1e-6:
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]. "
            "Did you pass logits instead of probabilities (apply a sigmoid), or images in [-1, 1]?"
        )
    return x


@dataclass
class DatasetClassifier:
    """A trained :class:`~sklearn.neural_network.MLPClassifier` of one dataset, with sample-quality scores."""

    dataset: str
    model: MLPClassifier
    test_accuracy: float
    """Accuracy on the profile's test images, measured right after training."""

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_names(self.dataset)

    def predict_proba(self, images: object) -> np.ndarray:
        """Class probabilities, shape (N, 11): the ten classes, then *none of them* (:data:`NONE`)."""
        return self.model.predict_proba(as_flat_images(images))

    def predict(self, images: object) -> np.ndarray:
        """The most likely class of each image, shape (N,); :data:`NONE` (10) for *none of them*."""
        return self.predict_proba(images).argmax(axis=1)

    def features(self, images: object) -> np.ndarray:
        """The last hidden layer's activations, shape (N, 64): the space of :meth:`frechet_distance`."""
        h = as_flat_images(images)
        for weights, bias in zip(self.model.coefs_[:-1], self.model.intercepts_[:-1]):
            h = np.maximum(h @ weights + bias, 0.0)
        return h

    def confident_rate(self, images: object, threshold: float = 0.9) -> float:
        """Share of images recognised as one of the ten classes with probability at least ``threshold``."""
        return metrics.confident_rate(self.predict_proba(images)[:, :NONE], threshold)

    def frechet_distance(self, images: object, reference_images: object) -> float:
        """Fréchet distance between the features of ``images`` and of ``reference_images`` (lower is better)."""
        return metrics.frechet_distance(self.features(images), self.features(reference_images))

    def conditional_accuracy(self, images: object, labels: np.ndarray) -> float:
        """Share of images classified as the class they were generated for."""
        labels = np.asarray(labels)
        if labels.shape != (len(np.asarray(images)),):
            raise ValueError(f"labels must have shape ({len(np.asarray(images))},), got {labels.shape}.")
        return float(np.mean(self.predict(images) == labels))


def non_examples(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` flat images that belong to no class: blends of two images of different classes, and noise.

    Three quarters are blends ``w * a + (1 - w) * b`` with ``w`` uniform in
    [0.3, 0.7], the in-between images a latent space's empty regions decode
    to; the rest are uniform noise of random brightness.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), PIXELS)
    n_blend = (3 * n) // 4
    a, b = rng.integers(len(x), size=(2, 4 * n_blend))
    keep = np.flatnonzero(y[a] != y[b])[:n_blend]
    w = rng.uniform(0.3, 0.7, size=(len(keep), 1))
    blends = w * x[a[keep]] + (1 - w) * x[b[keep]]
    noise = rng.random((n - len(keep), PIXELS)) * rng.uniform(0.2, 1.0, size=(n - len(keep), 1))
    return np.concatenate([blends, noise])


def blurred_examples(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` flat images drawn from ``x`` and blurred, with their labels: ``(images, labels)``.

    Each image gets a Gaussian blur of a standard deviation from
    :data:`BLUR_SIGMAS`, in equal shares: soft, thick, dimmer strokes, like
    those a VAE's decoder draws.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), 28, 28)
    pick = rng.choice(len(x), size=n, replace=n > len(x))
    images = x[pick]
    for sigma, part in zip(BLUR_SIGMAS, np.array_split(np.arange(n), len(BLUR_SIGMAS))):
        images[part] = gaussian_filter(images[part], sigma=(0, sigma, sigma))
    return images.reshape(n, PIXELS), np.asarray(y)[pick]


def _save(model: MLPClassifier, path: Path) -> None:
    with open(path, "wb") as file:
        pickle.dump(model, file)


def _load(model: MLPClassifier, path: Path) -> None:
    with open(path, "rb") as file:
        loaded = pickle.load(file)
    if not isinstance(loaded, MLPClassifier) or loaded.hidden_layer_sizes != model.hidden_layer_sizes:
        raise TypeError(f"{path.name} does not hold an MLPClassifier with hidden layers {model.hidden_layer_sizes}.")
    model.__dict__.update(loaded.__dict__)


def dataset_classifier(
    dataset: str = "mnist", *, profile: Profile | None = None, seed: int = 0, force: bool = False
) -> DatasetClassifier:
    """The classifier of ``dataset`` ("mnist" or "fashion_mnist"): trained once, then loaded from the cache.

    Trains on the profile's training images for ``profile.epochs["classifier"]``
    epochs (Adam, batch size 128), which takes seconds under ``standard``.
    """
    profile = profile or get_profile()
    (x_train, y_train), (x_test, y_test) = load_profile(dataset, profile)
    epochs = profile.epochs["classifier"]
    model = MLPClassifier(hidden_layer_sizes=HIDDEN, batch_size=128, max_iter=epochs, random_state=seed)
    x_test = scale(x_test).reshape(len(x_test), PIXELS)

    def train(m: MLPClassifier) -> dict[str, list[float]]:
        x = scale(x_train).reshape(len(x_train), PIXELS)
        rng = np.random.default_rng(seed)
        fakes = non_examples(x, y_train, len(x) // 5, rng)
        blurred, y_blurred = blurred_examples(x, y_train, len(x) // 5, rng)
        print(
            f"Training the {dataset} classifier ({epochs} epochs on {len(x):,} images, {len(blurred):,} blurred copies "
            f"and {len(fakes):,} non-examples) ..."
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed epoch budget is intended
            m.fit(np.concatenate([x, blurred, fakes]), np.concatenate([y_train, y_blurred, np.full(len(fakes), NONE)]))
        return {"loss": [float(v) for v in m.loss_curve_]}

    config = {"dataset": dataset, "profile": profile.name, "epochs": epochs, "seed": seed,
              "hidden": HIDDEN, "train_size": len(x_train), "classes": NONE + 1, "blur_sigmas": BLUR_SIGMAS}
    cache.train_or_load(model, train, name=f"classifier-{dataset}", config=config,
                        save=_save, load=_load, suffix=".pkl", force=force)
    accuracy = float(np.mean(model.predict(x_test) == y_test))
    return DatasetClassifier(dataset=dataset, model=model, test_accuracy=accuracy)
