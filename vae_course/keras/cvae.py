"""Conditional VAEs in Keras 3: a label-conditioned MLP VAE and the auxiliary-classifier VAE.

The PyTorch models of :mod:`vae_course.torch.cvae` have the same class names,
constructor arguments, methods and parameter counts, and compute the same
numbers once their weights are copied (:mod:`vae_course.parity`).

- :class:`CVAE` is told the digit: the one-hot label is concatenated to the
  flat image at the encoder's input and to z at the decoder's input, so it
  models p(x|y) and generates a chosen digit by decoding z ~ N(0, I) with it.
- :class:`AuxiliaryCVAE` is not told the digit: a classifier reads it from the
  image, and its softmax is concatenated to z at the decoder's input. Trained
  with the labels as an auxiliary target, those 10 inputs come to mean "which
  digit", and the latent code is left with the rest, the *style*: decoding
  one z with each one-hot vector draws every digit in the same style.

Labels are integer class ids of shape (N,); the one-hot vectors are made
inside. Training: ``compile(optimizer=...)`` then ``fit(x, y)`` with ``y``
the labels; ``fit`` and ``evaluate`` report ``loss``, ``reconstruction`` and
``kl`` (plus ``classification`` and ``accuracy`` for the auxiliary model).
``CVAE.predict([x, labels])`` and ``AuxiliaryCVAE.predict(x)`` return
reconstructions as pixel values. Every quantity is in nats per image, as in
:mod:`vae_course.keras.vae`.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

from vae_course import inputs  # noqa: E402
from vae_course.convert import Port  # noqa: E402
from vae_course.keras.vae import (  # noqa: E402
    VAE, _heads, _is_concrete, _to_numpy, check_inputs, gaussian_kl, mlp_decoder_layers, mlp_encoder_layers,
)

__all__ = ["AuxiliaryCVAE", "CVAE", "check_labels"]


def check_labels(labels: Any, num_classes: int, n: int | None = None, *, name: str = "labels") -> None:
    """Raise a ``ValueError`` unless ``labels`` are integer class ids in ``[0, num_classes)``, shape (N,).

    ``n`` is the number of images they label, when known. One-hot rows and
    float labels are refused with a hint. Symbolic tensors get the dtype and
    rank checks only.
    """
    if isinstance(labels, keras.KerasTensor) or (ops.is_tensor(labels) and not _is_concrete(labels)):
        if "int" not in keras.backend.standardize_dtype(labels.dtype):
            raise ValueError(f"{name} has dtype {labels.dtype}; expected integer class ids in [0, {num_classes}).")
        return
    array = _to_numpy(labels) if ops.is_tensor(labels) else np.asarray(labels)
    inputs.check_labels(array, num_classes, n, name=name)

def _check_settings(latent_dim: int, hidden: int, num_classes: int) -> None:
    for name, value in (("latent_dim", latent_dim), ("hidden", hidden), ("num_classes", num_classes)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _pair(data: Any) -> tuple[Any, Any]:
    """``(x, labels)`` of a batch ``(x, y)`` / ``(x, y, sample_weight)``."""
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    return x, y


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) or ops.is_tensor(x) or isinstance(x, (list, tuple))


class _Conditional(VAE):
    """What both conditional VAEs share: labels, their checks, ``fit(x, y)``/``evaluate(x, y)`` and the metrics."""

    num_classes: int
    extra_metrics: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_trackers = [keras.metrics.Mean(name=name) for name in self.extra_metrics]

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker, *self.extra_trackers]

    def check_labels(self, labels: Any, n: int | None = None, name: str = "labels") -> None:
        """Raise a ``ValueError`` saying what is wrong with ``labels``: see :func:`check_labels`."""
        check_labels(labels, self.num_classes, n, name=name)

    def _check_shape(self, x: Any) -> None:
        """The dtype and shape checks of :meth:`check_inputs`, without the range check (for ``encode``, ``call``)."""
        check_inputs(x, self.data_shape, value_range=None, model_name=type(self).__name__)

    def one_hot(self, labels: Any):
        """(N, num_classes) float32 one-hot rows of integer labels."""
        return ops.one_hot(ops.cast(labels, "int32"), self.num_classes)

    def _check_labelled(self, x: Any, y: Any, what: str) -> None:
        if not _is_array(x):
            return  # a tf.data.Dataset or a generator carries its own labels
        if y is None:
            raise ValueError(
                f"{type(self).__name__}.{what} needs the labels: {what}(x, y) with y the integer class id of every image."
            )
        self.check_labels(y, len(x), name="y")

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        """``keras.Model.fit(x, y)`` with ``y`` the integer labels, after checking both; adds :class:`StopOnNaN`."""
        self._check_labelled(x, y, "fit")
        if validation_data is not None and _is_array(validation_data):
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise ValueError("validation_data must be a pair (x_val, y_val) of images and their integer labels.")
            self.check_labels(validation_data[1], len(validation_data[0]), name="validation labels")
        return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate(x, y)`` with ``y`` the integer labels, after checking both."""
        if kwargs.get("_use_cached_eval_dataset"):  # fit's validation: data already checked and prepared by fit
            return keras.Model.evaluate(self, x, y, *args, **kwargs)
        self._check_labelled(x, y, "evaluate")
        return super().evaluate(x, y, *args, **kwargs)

    def log_weights(self, *args: Any, **kwargs: Any):
        raise NotImplementedError(f"{type(self).__name__} has no importance-weighted bound; use elbo.")

    def iwae_bound(self, *args: Any, **kwargs: Any):
        raise NotImplementedError(f"{type(self).__name__} has no importance-weighted bound; use elbo.")


class CVAE(_Conditional):
    """A conditional MLP VAE on flat (N, 784) images: q(z|x, y) and p(x|z, y).

    Encoder: concat(x, one_hot(y)) -> ``hidden`` ReLU -> (z_mean, z_log_var).
    Decoder: concat(z, one_hot(y)) -> ``hidden`` ReLU -> 784 outputs, logits
    for ``likelihood="bernoulli"`` and Gaussian means (fixed ``std``) for
    ``"gaussian"``. The prior is N(0, I) whatever the label, so the KL term
    and the sampling are those of the unconditional VAE. The sub-models
    ``encoder`` and ``decoder`` take the one-hot rows as their second input.
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden: int = 512,
        num_classes: int = 10,
        likelihood: str = "bernoulli",
        std: float = 0.5,
        beta: float = 1.0,
        **kwargs,
    ) -> None:
        kwargs.setdefault("name", "cvae")
        super().__init__(likelihood, std, beta, **kwargs)
        _check_settings(latent_dim, hidden, num_classes)
        self.latent_dim, self.hidden, self.num_classes = latent_dim, hidden, num_classes
        self.input_dim, self.data_shape = 784, (784,)
        image, label = keras.Input((784,), name="image"), keras.Input((num_classes,), name="label")
        h = layers.Concatenate(name="image_and_label")([image, label])
        h = layers.Dense(hidden, activation="relu", name="hidden")(h)
        self.encoder = keras.Model([image, label], _heads(h, latent_dim), name="encoder")
        z, label = keras.Input((latent_dim,), name="z"), keras.Input((num_classes,), name="label")
        h = layers.Concatenate(name="z_and_label")([z, label])
        h = layers.Dense(hidden, activation="relu", name="hidden")(h)
        output = layers.Dense(784, name="output")(h)  # logits or Gaussian means: no activation
        self.decoder = keras.Model([z, label], output, name="decoder")
        self._finish()

    def get_config(self) -> dict:
        return {**super().get_config(), "hidden": self.hidden, "num_classes": self.num_classes}

    # -- the model ------------------------------------------------------------------------------------

    def encode(self, x, y) -> tuple[Any, Any]:
        """``(z_mean, z_log_var)`` of q(z|x, y), each of shape (N, latent_dim)."""
        self._check_shape(x)
        self.check_labels(y, x.shape[0])
        z_mean, z_log_var = self.encoder([ops.cast(x, "float32"), self.one_hot(y)])
        return z_mean, z_log_var

    def decode(self, z, y):
        """The decoder's raw output for codes ``z`` and labels ``y``: logits (Bernoulli) or means (Gaussian)."""
        if tuple(z.shape[1:]) != (self.latent_dim,) or len(z.shape) != 2:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        self.check_labels(y, z.shape[0])
        return self.decoder([ops.cast(z, "float32"), self.one_hot(y)])

    def call(self, inputs, training: bool = False):
        """Reconstructions as pixel values at z = z_mean for ``inputs = [x, labels]``: what ``predict`` returns.

        In training mode (how Keras's ``train_step`` calls it) it returns the
        loss and its terms at a sampled z instead, as :meth:`VAE.call` does.
        """
        x, labels = self._split(inputs)
        if training:
            return self._training_forward(inputs)
        self._check_shape(x)
        one_hot = self.one_hot(labels)
        z_mean, _ = self.encoder([ops.cast(x, "float32"), one_hot], training=training)
        return self.output_to_image(self.decoder([z_mean, one_hot], training=training))

    @staticmethod
    def _split(inputs: Any) -> tuple[Any, Any]:
        if not (isinstance(inputs, (list, tuple)) and len(inputs) == 2):
            raise ValueError(
                "A CVAE is called on a pair [x, labels]: the images and their integer class ids. fit(x, y) and "
                "evaluate(x, y) with arrays pass that pair on; a dataset must yield ((x, labels), labels)."
            )
        return inputs[0], inputs[1]

    def _keras_data(self, x, y) -> tuple[Any, Any]:
        """Keras calls the model on its ``x`` alone, so arrays ``x, y`` go to Keras as ``((x, y), y)``."""
        return ((x, y), y) if _is_array(x) and not isinstance(x, (list, tuple)) else (x, y)

    def _training_forward(self, inputs) -> dict[str, Any]:
        x, labels = self._split(inputs)
        return self._loss(self._binarized(x), labels, None, check=False, training=True)

    def _evaluation_loss(self, inputs, y) -> dict[str, Any]:
        x, labels = self._split(inputs)
        return self._loss(x, labels, None, check=False, training=False)

    def reconstruct(self, x, y):
        """Reconstructed pixels at z = z_mean: probabilities for the Bernoulli likelihood, means for the Gaussian."""
        self.check_labels(y, x.shape[0])
        return self([x, y])

    def generate(self, labels, seed: int | None = None):
        """One new image per label: decode z ~ N(0, I) with that label, as pixel values (``seed``: reproducible)."""
        self.check_labels(labels)
        labels = np.asarray(labels)
        z = keras.random.normal((len(labels), self.latent_dim), seed=self.seed_generator if seed is None else seed)
        return self.output_to_image(self.decode(z, labels))

    def predict(self, x, *args, **kwargs):
        """``predict([x, labels])``: reconstructions as pixel values (see :meth:`call`), after checking the inputs."""
        if not (isinstance(x, (list, tuple)) and len(x) == 2):
            raise ValueError("CVAE.predict needs the labels too: predict([x, labels]), labels the integer class ids.")
        images, labels = x
        self.check_inputs(images, "x")
        self.check_labels(labels, len(images))
        return keras.Model.predict(self, (images, labels), *args, **kwargs)

    def predict_step(self, data):
        inputs, _ = _pair(data)
        return self(inputs, training=False)

    # -- the bound ------------------------------------------------------------------------------------

    def _terms(self, x, y, eps, check: bool, training: bool = False) -> dict[str, Any]:  # type: ignore[override]
        if check:
            self.check_inputs(x)
            self.check_labels(y, x.shape[0])
        x, one_hot = ops.cast(x, "float32"), self.one_hot(y)
        z_mean, z_log_var = self.encoder([x, one_hot], training=training)
        z = self.reparameterize(z_mean, z_log_var, eps)
        output = self.decoder([z, one_hot], training=training)
        return {"reconstruction": self.negative_log_likelihood(x, output), "kl": gaussian_kl(z_mean, z_log_var)}

    def elbo(self, x, y, *, eps=None, check: bool = True):  # type: ignore[override]
        """One-sample estimate of the conditional ELBO, a lower bound on log p(x|y), per image (N,) in nats.

        ``log p(x|z, y) - KL(q(z|x, y) || N(0, I))`` at z = z_mean + exp(z_log_var / 2) * eps.
        """
        terms = self._terms(x, y, eps, check)
        return -terms["reconstruction"] - terms["kl"]

    def vae_loss(  # type: ignore[override]
        self, x, y, *, eps=None, beta: float | None = None, check: bool = True
    ) -> dict[str, Any]:
        """``loss = reconstruction + beta * kl`` and its terms for one batch, means over the images.

        ``beta`` defaults to ``model.beta``; ``check=False`` skips the checks of ``x`` and ``y``.
        """
        return self._loss(x, y, eps, check, beta=beta)

    def _loss(  # type: ignore[override]
        self, x, y, eps, check: bool, training: bool = False, beta: float | None = None
    ) -> dict[str, Any]:
        terms = self._terms(x, y, eps, check, training)
        reconstruction, kl = ops.mean(terms["reconstruction"]), ops.mean(terms["kl"])
        return {"loss": reconstruction + self._kl_factor(beta, training) * kl, "reconstruction": reconstruction, "kl": kl}

    def weight_layers(self) -> list[tuple[str, Port, keras.layers.Layer]]:
        """Every weight layer in order, with its name and how to port it to PyTorch (:mod:`vae_course.convert`)."""
        return mlp_encoder_layers(self.encoder) + mlp_decoder_layers(self.decoder)


class AuxiliaryCVAE(_Conditional):
    """The VAE with an auxiliary digit classifier of Yoel Zeldes' post: it learns to draw a chosen digit without being told it.

    - encoder: 784 -> ``hidden`` sigmoid -> (z_mean, z_log_var);
    - classifier: 784 -> ``hidden`` sigmoid -> ``num_classes`` logits, on the *image*;
    - decoder: concat(z, softmax(logits)) -> ``hidden`` sigmoid -> 784 sigmoid,
      the pixel means of a Gaussian p(x|z, c) of fixed ``std`` (0.5).

    ``loss = reconstruction + kl + classifier_weight * classification``: the
    Gaussian negative log-likelihood summed over pixels, the closed-form KL,
    and the classifier's mean cross-entropy with the labels. The decoder never
    sees the labels, only the classifier's probabilities, so ``predict(x)``
    needs images alone; to *generate* a digit, feed the decoder a one-hot
    vector instead.

    Zeldes' encoder outputs a variance, ``1e-5 + exp(dense)``, and takes
    its log in the KL. Here the head outputs the **log-variance** itself, as in
    every other VAE of the course: the KL and the sampling are the shared
    :func:`gaussian_kl` and :meth:`reparameterize`, there is no log of a
    nearly-zero number to overflow, and the two frameworks port the same
    layers. His 1e-5 floor on the variance (z_log_var >= -11.5) is
    dropped: exp(z_log_var) stays positive without it.
    """

    supports_kl_warmup = False  # its loss always weighs the KL by 1

    extra_metrics = ("classification", "accuracy")

    def __init__(
        self,
        latent_dim: int = 10,
        hidden: int = 128,
        num_classes: int = 10,
        classifier_weight: float = 10.0,
        std: float = 0.5,
        **kwargs,
    ) -> None:
        kwargs.setdefault("name", "auxiliary_cvae")
        super().__init__("gaussian", std, 1.0, **kwargs)
        _check_settings(latent_dim, hidden, num_classes)
        if not classifier_weight >= 0:
            raise ValueError(
                f"classifier_weight (the weight of the classification loss) must be >= 0, got {classifier_weight}."
            )
        self.latent_dim, self.hidden, self.num_classes = latent_dim, hidden, num_classes
        self.classifier_weight = float(classifier_weight)
        self.input_dim, self.data_shape = 784, (784,)
        image = keras.Input((784,), name="image")
        h = layers.Dense(hidden, activation="sigmoid", name="hidden")(image)
        self.encoder = keras.Model(image, _heads(h, latent_dim), name="encoder")
        self.classifier = keras.Sequential(
            [
                keras.Input((784,), name="image"),
                layers.Dense(hidden, activation="sigmoid", name="hidden"),
                layers.Dense(num_classes, name="logits"),
            ],
            name="classifier",
        )
        z, class_probs = keras.Input((latent_dim,), name="z"), keras.Input((num_classes,), name="class_probs")
        h = layers.Concatenate(name="z_and_class")([z, class_probs])
        h = layers.Dense(hidden, activation="sigmoid", name="hidden")(h)
        means = layers.Dense(784, activation="sigmoid", name="output")(h)
        self.decoder = keras.Model([z, class_probs], means, name="decoder")
        self._finish()

    def get_config(self) -> dict:
        config = {**super().get_config(), "hidden": self.hidden, "num_classes": self.num_classes}
        for fixed in ("likelihood", "beta"):  # not constructor arguments here
            config.pop(fixed)
        return {**config, "classifier_weight": self.classifier_weight}

    @property
    def value_range(self) -> tuple[float, float]:
        """Images in [0, 1]: the decoder's means are sigmoids."""
        return (0.0, 1.0)

    # -- the model ------------------------------------------------------------------------------------

    def classify(self, x):
        """The classifier's logits for the images ``x``, shape (N, num_classes)."""
        self._check_shape(x)
        return self.classifier(ops.cast(x, "float32"))

    def decode(self, z, class_probs):
        """Pixel means for codes ``z`` (N, latent_dim) and class probabilities (N, num_classes), e.g. one-hot rows."""
        if len(z.shape) != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        if tuple(class_probs.shape) != (z.shape[0], self.num_classes):
            raise ValueError(
                f"class_probs must have shape (N, {self.num_classes}) = {(z.shape[0], self.num_classes)} (one row per z), "
                f"got {tuple(class_probs.shape)}."
            )
        return self.decoder([ops.cast(z, "float32"), ops.cast(class_probs, "float32")])

    def call(self, x, training: bool = False):
        """Pixel means at z = z_mean, with the classifier's probabilities: what ``predict`` returns.

        In training mode (how Keras's ``train_step`` calls it) it returns the
        per-image terms and the classifier's logits at a sampled z instead;
        :meth:`compute_loss` adds the classification loss with the labels.
        """
        if training:
            return self._training_forward(x)
        self._check_shape(x)
        x = ops.cast(x, "float32")
        z_mean, _ = self.encoder(x, training=training)
        class_probs = ops.softmax(self.classifier(x, training=training), axis=-1)
        return self.decoder([z_mean, class_probs], training=training)

    def generate(self, labels, seed: int | None = None):  # type: ignore[override]
        """One image per label: decode an independent z ~ N(0, I) with that label's one-hot vector."""
        self.check_labels(labels)
        labels = np.asarray(labels)
        z = keras.random.normal((len(labels), self.latent_dim), seed=self.seed_generator if seed is None else seed)
        return self.decode(z, self.one_hot(labels))

    def generate_digits(self, style=None, seed: int | None = None):
        """One image per class, (num_classes, 784), all decoded from the same style z.

        ``style`` is a code of shape (latent_dim,) or (1, latent_dim); when None
        it is drawn from N(0, I) (``seed`` makes it reproducible). It is tiled
        to every row and concatenated with the identity matrix, so image k is
        digit k in that one style.
        """
        if style is None:
            style = keras.random.normal((1, self.latent_dim), seed=self.seed_generator if seed is None else seed)
        style = ops.cast(style, "float32")
        if int(np.prod(style.shape)) != self.latent_dim:
            raise ValueError(f"style must have shape ({self.latent_dim},) or (1, {self.latent_dim}), got {tuple(style.shape)}.")
        z = ops.tile(ops.reshape(style, (1, self.latent_dim)), (self.num_classes, 1))
        return self.decode(z, ops.eye(self.num_classes))

    # -- the loss -------------------------------------------------------------------------------------

    def _terms(self, x, eps, check: bool, training: bool = False) -> dict[str, Any]:
        if check:
            self.check_inputs(x)
        x = ops.cast(x, "float32")
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.reparameterize(z_mean, z_log_var, eps)
        logits = self.classifier(x, training=training)
        means = self.decoder([z, ops.softmax(logits, axis=-1)], training=training)
        reconstruction = self.negative_log_likelihood(x, means)
        return {"reconstruction": reconstruction, "kl": gaussian_kl(z_mean, z_log_var), "logits": logits}

    def elbo(self, x, *, eps=None, check: bool = True):
        """``log p(x|z, c(x)) - KL`` per image (N,), in nats; c(x), the classifier's softmax, is the decoder's class input."""
        terms = self._terms(x, eps, check)
        return -terms["reconstruction"] - terms["kl"]

    def vae_loss(self, x, y, *, eps=None, check: bool = True) -> dict[str, Any]:  # type: ignore[override]
        """The training objective and its parts for one batch, each a mean over the images.

        ``reconstruction`` (Gaussian NLL summed over pixels) and ``kl`` in nats
        per image, ``classification`` the mean cross-entropy of the classifier
        with the labels ``y`` (nats), ``loss = reconstruction + kl +
        classifier_weight * classification``, and ``accuracy`` (not trained on).
        """
        return self._loss(x, y, eps, check)

    def _loss(self, x, y, eps, check: bool, training: bool = False) -> dict[str, Any]:  # type: ignore[override]
        if check:
            self.check_inputs(x)
            self.check_labels(y, x.shape[0])
        return self._reduce(self._terms(x, eps, check=False, training=training), y)

    def _training_forward(self, x) -> dict[str, Any]:
        return self._terms(x, None, check=False, training=True)

    def _training_loss(self, y_pred: dict[str, Any], y) -> dict[str, Any]:
        return self._reduce(y_pred, y)

    def _evaluation_loss(self, x, y) -> dict[str, Any]:
        return self._loss(x, y, None, check=False, training=False)

    def _reduce(self, terms: dict[str, Any], y) -> dict[str, Any]:
        """The batch means of the per-image ``terms``, the classification loss and accuracy against labels ``y``."""
        labels = ops.cast(ops.reshape(y, (-1,)), "int32")
        reconstruction, kl = ops.mean(terms["reconstruction"]), ops.mean(terms["kl"])
        classification = ops.mean(
            keras.losses.sparse_categorical_crossentropy(labels, terms["logits"], from_logits=True)
        )
        accuracy = ops.mean(ops.cast(ops.equal(ops.cast(ops.argmax(terms["logits"], axis=-1), "int32"), labels), "float32"))
        return {
            "loss": reconstruction + kl + self.classifier_weight * classification,
            "reconstruction": reconstruction, "kl": kl, "classification": classification, "accuracy": accuracy,
        }

    def weight_layers(self) -> list[tuple[str, Port, keras.layers.Layer]]:
        """Every weight layer in order, with its name and how to port it to PyTorch (:mod:`vae_course.convert`)."""
        classifier = [(f"classifier.{name}", Port("dense"), self.classifier.get_layer(name)) for name in ("hidden", "logits")]
        return mlp_encoder_layers(self.encoder) + classifier + mlp_decoder_layers(self.decoder)
