"""A DCGAN in Keras 3 (any backend: TensorFlow or PyTorch), trained with the non-saturating loss, for 28x28 images in [0, 1].

The PyTorch model of :mod:`vae_course.torch.gan` has the same class name,
constructor argument, methods and parameter counts.

Conventions:

- images are float32, channels-last ``(N, 28, 28, 1)`` (NHWC, the Keras
  layout), in [0, 1]: the generator ends with a sigmoid, so its samples live
  where the VAEs' do. (The other common choice is a tanh output with data
  scaled to [-1, 1].);
- ``model.generate(n, seed)`` gives images, ``model.discriminate(x)`` one
  **logit** per image (``sigmoid`` of it is D's probability that x is real);
- ``compile()`` (two Adam optimizers, lr 2e-4, beta_1 0.5, by default) then
  ``fit(x)`` trains both networks; no ``loss`` to compile and no targets (a
  ``y`` is accepted and ignored, so ``vae_course.keras.fit(model, x)``
  works). ``fit`` reports ``d_loss``, ``g_loss``, ``d_real`` and ``d_fake``;
- every loss is a binary cross-entropy in **nats per image**, averaged over
  the images of a batch, computed from logits in a numerically stable form;
- a training step is two gradient steps, each with its own optimizer. Each
  half is a small Keras model (:class:`DiscriminatorStep`,
  :class:`GeneratorStep`) with its loss in ``compute_loss``, and
  :meth:`DCGAN.train_step` calls Keras's own ``train_step`` of each in turn:
  Keras computes the gradients, so the model runs unchanged under the
  TensorFlow and the PyTorch backend (no ``tf.GradientTape``).

The two losses (Goodfellow et al. 2014, with the "non-saturating" generator loss):

- discriminator: ``BCE(D(x), 1) + BCE(D(G(z)), 0)`` = ``-log D(x) - log(1 - D(G(z)))``;
- generator: ``BCE(D(G(z)), 1)`` = ``-log D(G(z))``.

The minimax game would have the generator *minimise* ``log(1 - D(G(z)))``
instead. Early in training D rejects the fakes easily, D(G(z)) is near 0,
and that loss is flat there: its gradient with respect to D's logit is
``-D(G(z))``, close to 0, so the generator learns nothing (it *saturates*).
``-log D(G(z))`` has the same fixed point but a gradient of
``-(1 - D(G(z)))``, close to -1 exactly when the generator is worst.
"""

from __future__ import annotations

import math
import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

from vae_course.inputs import check_values  # noqa: E402
from vae_course.keras.vae import StopOnNaN, _is_concrete, _unpack, check_inputs  # noqa: E402

__all__ = ["DCGAN", "DiscriminatorStep", "GeneratorStep", "StopGANOnNaN", "discriminator_loss", "generator_loss"]

FEATURE_SHAPE = (7, 7, 128)
"""Channels-last shape of the generator's first feature map (and of the discriminator's last)."""
LEARNING_RATE, BETA_1 = 2e-4, 0.5
"""Adam's settings of Radford et al. (2015): a low learning rate and a short momentum."""
METRICS = ("d_loss", "g_loss", "d_real", "d_fake")


# --- the two losses, from logits ---------------------------------------------------------------------


def discriminator_loss(real_logits, fake_logits):
    """``BCE(real, 1) + BCE(fake, 0)`` from D's logits, averaged over the images: ``2 log 2`` when every logit is 0.

    ``BCE(l, 1) = softplus(-l)`` and ``BCE(l, 0) = softplus(l)``, finite for any logit.
    """
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def generator_loss(fake_logits):
    """The non-saturating ``BCE(D(G(z)), 1) = -log D(G(z))`` from D's logits on fakes, averaged: ``log 2`` at logit 0.

    Not ``log(1 - D(G(z)))``, whose gradient vanishes when D rejects the fakes.
    """
    return ops.mean(ops.softplus(-fake_logits))


class StopGANOnNaN(StopOnNaN):
    """Stop ``fit`` with a ``FloatingPointError`` that suggests the usual fixes when ``d_loss`` or ``g_loss`` is NaN/inf.

    :meth:`DCGAN.fit` adds it automatically.
    """

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for key in ("d_loss", "g_loss"):
            value = float((logs or {}).get(key, 0.0))
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"The GAN's {key} became {value} at batch {batch + 1}. Usual fixes: a lower learning rate "
                    "(2e-4 with Adam beta_1=0.5 is the DCGAN default); real images that are finite floats in [0, 1]; "
                    "a discriminator that returns logits (no sigmoid before a loss 'from logits'); and, if D wins "
                    "too easily, a weaker discriminator (dropout, fewer channels) or one-sided label smoothing."
                )


# --- the two halves of a training step, as models Keras can train ------------------------------------


class _Step(keras.Model):
    """Half of a GAN training step: calls the generator and the discriminator, trains only the weights of ``trains``.

    ``record(**values)`` receives the values to report (the GAN's metric
    trackers). Keras's backend-specific ``train_step`` of this model computes
    the gradient of :meth:`compute_loss` for ``trainable_weights`` and applies
    the compiled optimizer.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, trains: str, record, **kwargs) -> None:
        super().__init__(**kwargs)
        self.generator, self.discriminator, self.trains = generator, discriminator, trains
        self.record = record
        self.built = True  # the two networks are built; this model adds no weights

    @property
    def trainable_weights(self) -> list:
        return getattr(self, self.trains).trainable_weights

    @property
    def trainable_variables(self) -> list:
        return self.trainable_weights


class DiscriminatorStep(_Step):
    """D's half of a step: on ``(x, z)``, D learns real -> 1 and fake -> 0 on G(z) held fixed (no gradient to G)."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, record, **kwargs) -> None:
        super().__init__(generator, discriminator, "discriminator", record, name="discriminator_step", **kwargs)

    def call(self, inputs, training: bool = False):
        """D's logits ``(real_logits, fake_logits)`` for real images ``x`` and the fakes G(z), ``inputs = (x, z)``."""
        x, z = inputs
        fake = ops.stop_gradient(self.generator(z, training=training))
        return self.discriminator(x, training=training), self.discriminator(fake, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training: bool = True):
        real_logits, fake_logits = y_pred
        d_loss = discriminator_loss(real_logits, fake_logits)
        self.record(d_loss=d_loss, d_real=ops.mean(ops.sigmoid(real_logits)), d_fake=ops.mean(ops.sigmoid(fake_logits)))
        return d_loss


class GeneratorStep(_Step):
    """G's half of a step: on codes ``z``, G learns to make D (not trained here) say "real" (non-saturating loss)."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, record, **kwargs) -> None:
        super().__init__(generator, discriminator, "generator", record, name="generator_step", **kwargs)

    def call(self, z, training: bool = False):
        """D's logits for the fakes G(z)."""
        return self.discriminator(self.generator(z, training=training), training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training: bool = True):
        g_loss = generator_loss(y_pred)
        self.record(g_loss=g_loss)
        return g_loss


# --- the model --------------------------------------------------------------------------------------


class DCGAN(keras.Model):
    """Radford et al. (2015)'s guidelines, cut down to 28x28 MNIST: a generator and a discriminator.

    Generator (z of ``latent_dim`` -> image): ``Dense(7*7*128)``, ``Reshape``
    to (7, 7, 128), BatchNormalization, ReLU; a 4x4 stride-2
    ``Conv2DTranspose`` to 64 channels (7 -> 14), BatchNormalization, ReLU;
    a 4x4 stride-2 ``Conv2DTranspose`` to 1 channel (14 -> 28); sigmoid.
    Layers followed by a BatchNormalization have no bias. The
    BatchNormalization layers use PyTorch's defaults (momentum 0.9 in Keras's
    convention, epsilon 1e-5), like the twin model.

    Discriminator (image -> one logit): a 4x4 stride-2 ``Conv2D`` to 64
    channels (28 -> 14), LeakyReLU(0.2); a 4x4 stride-2 ``Conv2D`` to 128
    channels (14 -> 7), LeakyReLU(0.2); ``Flatten``; ``Dense(1)``, no
    sigmoid: the losses work from logits. No BatchNormalization in D, no
    pooling anywhere (strided convolutions do the resampling). Its
    convolutions have no bias, as in PyTorch's DCGAN example: with a bias
    between a ``Conv2D`` and a ``LeakyReLU``, TensorFlow's graph optimizer
    (grappler's remapper) logs a harmless but alarming "remapper failed" error.

    533,889 trainable generator parameters and 138,369 discriminator ones for
    ``latent_dim=64``, as the PyTorch model. Calling the model on codes z of
    shape (N, latent_dim) gives images G(z).
    """

    data_shape = (28, 28, 1)

    def __init__(self, latent_dim: int = 64, **kwargs) -> None:
        kwargs.setdefault("name", "dcgan")
        super().__init__(**kwargs)
        if int(latent_dim) != latent_dim or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}.")
        self.latent_dim = int(latent_dim)

        def batch_norm(name: str) -> layers.Layer:
            return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)

        self.generator = keras.Sequential(
            [
                keras.Input((self.latent_dim,), name="z"),
                layers.Dense(int(np.prod(FEATURE_SHAPE)), use_bias=False, name="hidden"),
                layers.Reshape(FEATURE_SHAPE, name="reshape"),
                batch_norm("hidden_bn"), layers.ReLU(name="hidden_relu"),
                layers.Conv2DTranspose(64, 4, strides=2, padding="same", use_bias=False, name="upsample"),  # 7 -> 14
                batch_norm("upsample_bn"), layers.ReLU(name="upsample_relu"),
                layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="sigmoid", name="output"),  # -> 28
            ],
            name="generator",
        )
        self.discriminator = keras.Sequential(
            [
                keras.Input(self.data_shape, name="image"),
                layers.Conv2D(64, 4, strides=2, padding="same", use_bias=False, name="conv1"),  # 28 -> 14
                layers.LeakyReLU(negative_slope=0.2, name="conv1_leaky_relu"),
                layers.Conv2D(FEATURE_SHAPE[-1], 4, strides=2, padding="same", use_bias=False, name="conv2"),  # 14 -> 7
                layers.LeakyReLU(negative_slope=0.2, name="conv2_leaky_relu"),
                layers.Flatten(name="flatten"),
                layers.Dense(1, name="logit"),
            ],
            name="discriminator",
        )
        # seeded from Python's global RNG, so vae_course.profiles.set_seed makes the noise reproducible
        self.seed_generator = keras.random.SeedGenerator()
        self.trackers = [keras.metrics.Mean(name=name) for name in METRICS]
        self.d_optimizer: keras.optimizers.Optimizer | None = None
        self.g_optimizer: keras.optimizers.Optimizer | None = None
        self.build((None, self.latent_dim))

    def get_config(self) -> dict:
        return {**super().get_config(), "latent_dim": self.latent_dim}

    # -- input checks --------------------------------------------------------------------------------

    def check_inputs(self, x: Any, name: str = "x") -> None:
        """Raise a ``ValueError`` saying what is wrong with ``x``: dtype, shape (channel order), NaN, range [0, 1]."""
        check_inputs(x, self.data_shape, name=name, value_range=None, model_name="DCGAN")
        if _is_concrete(x) or isinstance(x, (list, tuple)):
            values = np.asarray(x)
            check_values(
                name, float(values.min()), float(values.max()), finite=True, value_range=(0.0, 1.0),
                purpose="a GAN whose generator ends with a sigmoid",
            )

    # -- the model ------------------------------------------------------------------------------------

    def noise(self, n: int, seed: int | None = None):
        """``n`` codes z ~ N(0, I): the same ones for the same ``seed`` (the model's seed generator when None)."""
        if int(n) != n or n < 1:
            raise ValueError(f"n (the number of images) must be a positive integer, got {n!r}.")
        return self._noise(int(n), seed)

    def _noise(self, n, seed: int | None = None):
        # n may be a symbolic batch size inside train_step
        return keras.random.normal((n, self.latent_dim), seed=self.seed_generator if seed is None else seed)

    def call(self, z, training: bool = False):
        """Images G(z) in [0, 1], (N, 28, 28, 1), for codes z of shape (N, latent_dim)."""
        return self.generator(z, training=training)

    def generate(self, n: int, seed: int | None = None):
        """``n`` new images (N, 28, 28, 1) in [0, 1], in inference mode (BatchNormalization's moving statistics).

        The same ``seed`` gives the same images: keep one seed for a sample grid
        drawn after every epoch to watch the same codes improve. The codes differ
        from the PyTorch model's for the same seed (another random generator).
        """
        return self.generator(self.noise(n, seed), training=False)

    def discriminate(self, x):
        """D's logits for images ``x`` (N, 28, 28, 1) in [0, 1], shape (N,): ``sigmoid`` gives P(real)."""
        self.check_inputs(x)
        return ops.squeeze(self.discriminator(ops.cast(x, "float32"), training=False), axis=-1)

    def gan_loss(self, x, *, z=None, check: bool = True) -> dict[str, Any]:
        """Both losses on a batch of real images and the fakes G(z) (fresh noise when ``z`` is None), as scalar tensors.

        ``d_loss``: :func:`discriminator_loss`; ``g_loss``: :func:`generator_loss`;
        ``d_real`` and ``d_fake``: D's mean probability that the real images and
        the fakes are real. Inference mode (the BatchNormalization layers use
        their moving statistics); training uses batch statistics.
        """
        return self._gan_terms(x, z, check, training=False)

    def _gan_terms(self, x, z, check: bool, training: bool) -> dict[str, Any]:
        if check:
            self.check_inputs(x)
        x = ops.cast(x, "float32")
        z = self._noise(ops.shape(x)[0]) if z is None else ops.cast(z, "float32")
        real_logits = self.discriminator(x, training=training)
        fake_logits = self.discriminator(self.generator(z, training=training), training=training)
        return {
            "d_loss": discriminator_loss(real_logits, fake_logits),
            "g_loss": generator_loss(fake_logits),
            "d_real": ops.mean(ops.sigmoid(real_logits)),
            "d_fake": ops.mean(ops.sigmoid(fake_logits)),
        }

    # -- Keras training ----------------------------------------------------------------------------------

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer | None = None,
        g_optimizer: keras.optimizers.Optimizer | None = None,
        learning_rate: float = LEARNING_RATE,
        **kwargs,
    ) -> None:
        """Set one optimizer per network: by default Adam(``learning_rate``, beta_1=0.5) each (Radford et al. 2015).

        No loss to give: :meth:`train_step` computes both. Other keyword
        arguments go to ``keras.Model.compile`` (e.g. ``run_eagerly``).
        """
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(learning_rate, beta_1=BETA_1, name="d_adam")
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(learning_rate, beta_1=BETA_1, name="g_adam")
        if self.d_optimizer is self.g_optimizer:
            raise ValueError("d_optimizer and g_optimizer must be two different optimizers (each keeps its own state).")
        steps = (
            (DiscriminatorStep(self.generator, self.discriminator, self._record), self.d_optimizer),
            (GeneratorStep(self.generator, self.discriminator, self._record), self.g_optimizer),
        )
        for step, optimizer in steps:
            step.compile(optimizer=optimizer, run_eagerly=self.run_eagerly)
            if not optimizer.built:  # its slots exist before a traced train_step uses them
                optimizer.build(step.trainable_weights)
        # Not tracked as layers (object.__setattr__): the model's weights, saved files and cache key stay as they were.
        object.__setattr__(self, "_steps", tuple(step for step, _ in steps))

    def _record(self, **values: Any) -> None:
        for tracker in self.trackers:
            if tracker.name in values:
                tracker.update_state(values[tracker.name])

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listing the trackers here makes Keras reset them at the start of every epoch.
        return list(self.trackers)

    def train_step(self, data):
        """One discriminator step then one generator step on a batch, with the same codes z.

        1. D learns real -> 1, fake -> 0 on G(z) held fixed (no gradient to G);
        2. G learns to make the updated D say "real" (the non-saturating loss).

        Each is Keras's own ``train_step`` of :class:`DiscriminatorStep` and
        :class:`GeneratorStep`, with ``d_optimizer`` and ``g_optimizer``.
        """
        x = ops.cast(_unpack(data), "float32")
        z = self._noise(ops.shape(x)[0])
        discriminator_step, generator_step = self._steps
        discriminator_step.train_step(((x, z),))
        generator_step.train_step((z,))
        return {tracker.name: tracker.result() for tracker in self.trackers}

    def test_step(self, data):
        values = self._gan_terms(_unpack(data), None, check=False, training=False)
        for tracker in self.trackers:
            tracker.update_state(values[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}

    def fit(self, x=None, y=None, *args, validation_data=None, callbacks=None, **kwargs):
        """``keras.Model.fit`` after checking the images, with :class:`StopGANOnNaN` added. ``y`` is ignored."""
        if self.d_optimizer is None or self.g_optimizer is None:
            raise RuntimeError("Call model.compile() before model.fit(): it sets the two optimizers.")
        self.check_inputs(x, "x")
        if validation_data is not None:
            self.check_inputs(_unpack(validation_data), "validation_data")
        callbacks = list(callbacks or [])
        if not any(isinstance(c, StopGANOnNaN) for c in callbacks):
            callbacks.append(StopGANOnNaN())
        return super().fit(x, y, *args, validation_data=validation_data, callbacks=callbacks, **kwargs)
