"""Keras 3 reference code of the course: autoencoders, VAEs, conditional VAEs, a DCGAN, training, the model cache.

The sampling layer and the loss that chapter 04 builds by hand are in :mod:`vae_course.keras.layers`.

Importing this package selects the TensorFlow backend unless ``KERAS_BACKEND``
is already set. Every model runs unchanged under ``KERAS_BACKEND=tensorflow``
and ``KERAS_BACKEND=torch`` (``keras.ops`` and ``keras.random`` only); set the
variable before the first ``import keras``, e.g. ``os.environ["KERAS_BACKEND"] = "torch"``.
Under TensorFlow the package never imports PyTorch, under torch never TensorFlow.
Images are channels-last: (N, 28, 28, 1) float32 in [0, 1], or flat (N, 784) for dense models.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from vae_course.keras.autoencoders import (  # noqa: E402
    CONV_SHAPE,
    IMAGE_SHAPE,
    ClippedGaussianNoise,
    ConvAE,
    DenoisingAE,
    DenseAE,
    MLPAE,
    add_noise,
)
from vae_course.keras.training import (  # noqa: E402
    History,
    KLWarmup,
    architecture,
    constant_then_cosine,
    fit,
    predict,
    train_or_load,
)
from vae_course.keras.vae import ConvVAE, MLPVAE, StopOnNaN, iwae_bound  # noqa: E402
from vae_course.keras.cvae import CVAE, AuxiliaryCVAE  # noqa: E402
from vae_course.keras.gan import DCGAN, StopGANOnNaN  # noqa: E402

__all__ = [
    "CONV_SHAPE", "IMAGE_SHAPE", "ClippedGaussianNoise", "ConvAE", "DenoisingAE", "DenseAE", "MLPAE", "add_noise",
    "History", "KLWarmup", "architecture", "constant_then_cosine", "fit", "predict", "train_or_load",
    "ConvVAE", "MLPVAE", "StopOnNaN", "iwae_bound",
    "CVAE", "AuxiliaryCVAE", "DCGAN", "StopGANOnNaN",
]
