"""Autoencoders in Keras 3: a dense one (plain, sparse or denoising) and a convolutional one.

Conventions of every model here:

- images are float32 in [0, 1]: flat ``(N, 784)`` for :class:`DenseAE`,
  channels-last ``(N, 28, 28, 1)`` (NHWC, the Keras layout) for :class:`ConvAE`;
- ``model.encoder`` maps images to codes ``z``, ``model.decoder`` maps codes
  to images, and ``model(x)`` is ``decoder(encoder(x))``;
- the decoder ends in a sigmoid, so outputs are pixel probabilities in [0, 1]
  and the loss is Keras's ``"binary_crossentropy"`` (which averages over
  pixels: multiply by 784 to get the per-image sum).

A *denoising* autoencoder is the same model trained on noisy inputs with clean
targets: either ``model.fit(add_noise(x), x)`` (one fixed noisy copy), or a
:class:`DenoisingAE`, which draws fresh noise at every training step:
``DenoisingAE().fit(x, x)``. A *sparse* one adds an L1 penalty on the code:
``DenseAE(l1=1e-4)``.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

from vae_course.data import add_gaussian_noise  # noqa: E402

IMAGE_SHAPE = (28, 28, 1)
"""Channels-last shape of one image."""
CONV_SHAPE = (4, 4, 128)
"""Channels-last shape of the last feature map of the convolutional encoder (28 -> 14 -> 7 -> 4)."""


class DenseAE(keras.Model):
    """One ReLU ``Dense(code_size)`` layer as encoder, one sigmoid ``Dense(input_dim)`` layer as decoder.

    With the defaults, 784*32 + 32 + 32*784 + 784 = 50,992 parameters and a
    compression factor of 784 / 32 = 24.5. ``l1 > 0`` puts an L1 activity
    regulariser on the code, ``l1 * sum |z|`` averaged over the batch: a
    sparse autoencoder.
    """

    def __init__(self, code_size: int = 32, input_dim: int = 784, l1: float = 0.0, **kwargs) -> None:
        kwargs.setdefault("name", "sparse_dense_ae" if l1 else "dense_ae")
        super().__init__(**kwargs)
        self.code_size, self.input_dim, self.l1 = code_size, input_dim, l1
        regulariser = keras.regularizers.L1(l1) if l1 else None
        self.encoder = keras.Sequential(
            [
                keras.Input((input_dim,)),
                *self._corruption(),
                layers.Dense(code_size, activation="relu", activity_regularizer=regulariser, name="code"),
            ],
            name="encoder",
        )
        self.decoder = keras.Sequential(
            [keras.Input((code_size,)), layers.Dense(input_dim, activation="sigmoid", name="reconstruction")],
            name="decoder",
        )
        self.build((None, input_dim))

    def _corruption(self) -> list[layers.Layer]:
        """Layers that corrupt the inputs before the code layer: none here (see :class:`DenoisingAE`)."""
        return []

    def call(self, x):
        return self.decoder(self.encoder(x))

    def get_config(self) -> dict:
        return {**super().get_config(), "code_size": self.code_size, "input_dim": self.input_dim, "l1": self.l1}


class ClippedGaussianNoise(layers.GaussianNoise):
    """Keras's ``GaussianNoise`` (active in training only), clipped to [0, 1] so that noisy images stay images.

    The twin of :class:`vae_course.torch.ClippedGaussianNoise`; the clip is
    what :func:`add_noise` does too.
    """

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        return ops.clip(super().call(inputs, training=True), 0.0, 1.0)


class DenoisingAE(DenseAE):
    """A :class:`DenseAE` whose encoder starts with :class:`ClippedGaussianNoise` of standard deviation ``noise_std``.

    Train it with clean images as inputs and targets, ``model.fit(x, x)``:
    every training step corrupts the batch afresh, so the model never sees the
    same noisy image twice. ``predict`` and ``evaluate`` add no noise; to
    measure denoising, give them noisy images, e.g. ``add_noise(x)``. It has
    the weights of a :class:`DenseAE`, so ``set_weights`` works between the two.
    """

    def __init__(
        self, code_size: int = 32, input_dim: int = 784, noise_std: float = 0.5, l1: float = 0.0,
        seed: int | None = None, **kwargs,
    ) -> None:
        if not 0 <= noise_std <= 1:
            raise ValueError(
                f"The noise standard deviation must be between 0 and 1 (pixels are in [0, 1]), got {noise_std}."
            )
        self.noise_std, self.seed = noise_std, seed  # read by _corruption() while DenseAE builds the encoder
        kwargs.setdefault("name", "denoising_ae")
        super().__init__(code_size, input_dim, l1, **kwargs)

    def _corruption(self) -> list[layers.Layer]:
        return [ClippedGaussianNoise(self.noise_std, seed=self.seed, name="noise")]

    def get_config(self) -> dict:
        return {**super().get_config(), "noise_std": self.noise_std, "seed": self.seed}


class MLPAE(keras.Model):
    """784 -> ``hidden`` ReLU -> ``latent_dim``; ``latent_dim`` -> ``hidden`` ReLU -> 784 sigmoid.

    The Keras twin of :class:`vae_course.torch.MLPAE`: the layers of
    :class:`vae_course.keras.vae.MLPVAE` without its ``z_log_var`` head, as a
    plain autoencoder of the same size as that VAE. Inputs are flat images,
    (N, 784); 806,674 parameters with the defaults.
    """

    def __init__(self, hidden: int = 512, latent_dim: int = 2, input_dim: int = 784, **kwargs) -> None:
        kwargs.setdefault("name", "mlp_ae")
        super().__init__(**kwargs)
        self.hidden, self.latent_dim, self.input_dim = hidden, latent_dim, input_dim
        self.encoder = keras.Sequential(
            [
                keras.Input((input_dim,)),
                layers.Dense(hidden, activation="relu", name="hidden"),
                layers.Dense(latent_dim, name="code"),
            ],
            name="encoder",
        )
        self.decoder = keras.Sequential(
            [
                keras.Input((latent_dim,)),
                layers.Dense(hidden, activation="relu", name="hidden"),
                layers.Dense(input_dim, activation="sigmoid", name="reconstruction"),
            ],
            name="decoder",
        )
        self.build((None, input_dim))

    def call(self, x):
        return self.decoder(self.encoder(x))

    def get_config(self) -> dict:
        return {**super().get_config(), "hidden": self.hidden, "latent_dim": self.latent_dim, "input_dim": self.input_dim}


class ConvAE(keras.Model):
    """The PyTorch :class:`vae_course.torch.ConvAE`, channels-last.

    Encoder: three 3x3 stride-2 ``Conv2D`` (32, 64, 128 channels, ReLU,
    ``padding="same"``: 28 -> 14 -> 7 -> 4), ``Flatten``, ``Dense(latent_dim)``.
    Decoder: ``Dense(4*4*128)``, ``Reshape((4, 4, 128))`` (channels-last in
    Keras), three 3x3 stride-2 ``Conv2DTranspose`` (64, 32, 32 channels, ReLU;
    ``output_padding`` 0, 1, 1: 4 -> 7 -> 14 -> 28) and a sigmoid 3x3
    ``Conv2D`` to one channel. Same layer sizes and parameter count as the
    PyTorch model; "same" padding of an even side pads only at the end, so
    the pixel alignment differs slightly.
    """

    def __init__(self, latent_dim: int = 2, **kwargs) -> None:
        kwargs.setdefault("name", "conv_ae")
        super().__init__(**kwargs)
        self.latent_dim = latent_dim

        def conv(channels: int) -> layers.Layer:
            return layers.Conv2D(channels, 3, strides=2, padding="same", activation="relu")

        def up(channels: int, output_padding: int) -> layers.Layer:
            return layers.Conv2DTranspose(
                channels, 3, strides=2, padding="same", output_padding=output_padding, activation="relu"
            )

        self.encoder = keras.Sequential(
            [keras.Input(IMAGE_SHAPE), conv(32), conv(64), conv(128), layers.Flatten(), layers.Dense(latent_dim, name="code")],
            name="encoder",
        )
        self.decoder = keras.Sequential(
            [
                keras.Input((latent_dim,)),
                layers.Dense(int(np.prod(CONV_SHAPE))),
                layers.Reshape(CONV_SHAPE),
                up(64, 0),  # 4 -> 7
                up(32, 1),  # 7 -> 14
                up(32, 1),  # 14 -> 28
                layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
            ],
            name="decoder",
        )
        self.build((None, *IMAGE_SHAPE))

    def call(self, x):
        return self.decoder(self.encoder(x))

    def get_config(self) -> dict:
        return {**super().get_config(), "latent_dim": self.latent_dim}


def add_noise(x: np.ndarray, noise_std: float = 0.5, *, seed: int = 0) -> np.ndarray:
    """Inputs for a denoising autoencoder: ``x`` plus Gaussian noise, clipped to [0, 1] (float32).

    Train with ``model.fit(add_noise(x), x)``: noisy images in, clean ones as targets.
    """
    return add_gaussian_noise(x, noise_std, np.random.default_rng(seed))
