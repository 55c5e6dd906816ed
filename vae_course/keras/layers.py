"""The two Keras 3 pieces chapter 04 builds by hand: a ``Sampling`` layer and the per-image VAE loss.

Both use ``keras.ops`` and ``keras.random`` only, so they run under every
Keras backend. The models of :mod:`vae_course.keras.vae` do the same work
inside ``VAE.reparameterize`` and ``VAE.vae_loss``; these stand-alone versions
are the reference answers of chapter 04's exercises 1 and 2.

Importing this module selects the TensorFlow backend unless ``KERAS_BACKEND``
is already set.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
from keras import ops  # noqa: E402

__all__ = ["Sampling", "vae_loss"]


class Sampling(keras.layers.Layer):
    """``z = z_mean + exp(0.5 * z_log_var) * eps`` with fresh ``eps ~ N(0, I)`` at every call.

    Call it on ``[z_mean, z_log_var]`` (each (N, latent_dim)). The noise comes
    from ``keras.random.normal`` and the layer's own ``SeedGenerator``: each
    call draws new noise, and two layers built with the same ``seed`` draw the
    same sequence.
    """

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


def vae_loss(x, logits, z_mean, z_log_var, beta: float = 1.0):
    """The negative ELBO of each image in nats, shape (N,): summed Bernoulli NLL plus ``beta`` times the KL.

    ``x``: images in [0, 1], (N, ...); ``logits``: the decoder's output for a
    sampled z, same shape; ``z_mean``, ``z_log_var``: (N, latent_dim). The
    reconstruction term is summed over pixels, the closed-form KL over latent
    dimensions. Average it over the batch for a training loss. (The same
    terms as ``bernoulli_nll`` and ``gaussian_kl`` of :mod:`vae_course.keras.vae`,
    written out here because this is an exercise's reference answer.)
    """
    x, logits = ops.cast(x, "float32"), ops.cast(logits, "float32")
    z_mean, z_log_var = ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")
    per_pixel = ops.relu(logits) - logits * x + ops.log1p(ops.exp(-ops.abs(logits)))
    reconstruction = ops.sum(ops.reshape(per_pixel, (ops.shape(x)[0], -1)), axis=1)
    kl = -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
    return reconstruction + beta * kl
