"""Backend-neutral helpers for the Keras tests, so they run under ``KERAS_BACKEND=tensorflow`` and ``torch`` alike."""

from __future__ import annotations

import sys
from typing import Any, Callable, Sequence

import keras
import numpy as np


def gradients(loss_fn: Callable[[], Any], variables: Sequence[keras.Variable]) -> list[np.ndarray]:
    """The gradient of the scalar ``loss_fn()`` with respect to each Keras variable, as NumPy (zeros if unconnected)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, list(variables))
    elif backend == "torch":
        import torch

        grads = torch.autograd.grad(loss_fn(), [v.value for v in variables], allow_unused=True)
    else:
        raise NotImplementedError(f"no gradient helper for the {backend} backend")
    return [np.zeros(v.shape, np.float32) if g is None else keras.ops.convert_to_numpy(g) for v, g in zip(variables, grads)]


# --- the same models, the same weights, under any backend: what tests/test_keras_backends.py compares ---------


def fixed_weights(model: keras.Model, seed: int = 0) -> None:
    """Set every weight of ``model`` from NumPy's generator (not the backend's), so every backend gets the same ones."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in model.weights:
        shape, name = tuple(weight.shape), weight.name
        if name in ("gamma", "moving_variance"):
            value = 1.0 + 0.1 * rng.random(shape)
        elif name in ("beta", "moving_mean") or len(shape) < 2:
            value = 0.1 * rng.standard_normal(shape)
        else:
            value = rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))
        values.append(value.astype(np.float32))
    model.set_weights(values)


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(value), np.float64)


def _nearly_deterministic(model: keras.Model) -> None:
    """z_log_var = -30 for every input: the sampled z is z_mean within 3e-7, so one training step is the same anywhere."""
    head = model.encoder.get_layer("z_log_var")
    head.kernel.assign(np.zeros(head.kernel.shape, np.float32))
    head.bias.assign(np.full(head.bias.shape, -30.0, np.float32))


def _sgd_step(model: keras.Model, data: tuple, out: dict[str, np.ndarray], key: str, **compile_kwargs: Any) -> None:
    """One eager ``train_step`` of Keras's trainer with SGD: the weight updates and the metrics it reports."""
    before = [_numpy(w) for w in model.trainable_weights]
    model.compile(**compile_kwargs)
    logs = model.train_step(data)
    for name, value in logs.items():
        out[f"{key}.step.{name}"] = _numpy(value)
    out[f"{key}.step.update"] = np.concatenate(
        [(_numpy(w) - b).ravel() for w, b in zip(model.trainable_weights, before)]
    )


def snapshot(path: str) -> None:
    """Run every model of vae_course.keras on fixed weights and inputs, write what they compute to ``path`` (.npz).

    Also trains each for two short epochs with ``fit`` (eagerly: tiny models, no time spent tracing):
    ``<model>.fit.<metric>`` hold the histories (their noise comes from the backend's generator, so they
    are checked for sense, not compared).
    """
    import vae_course.keras as vk
    from blobs import blobs

    rng = np.random.default_rng(1)
    images = blobs(8, 0)
    flat, square = images.reshape(8, -1), images[..., None]
    labels = np.arange(8) % 10
    out: dict[str, np.ndarray] = {}
    sgd = keras.optimizers.SGD

    def fit(key: str, model: keras.Model, x: Any, y: Any = None, **compile_kwargs: Any) -> None:
        model.compile(run_eagerly=True, **compile_kwargs)
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
        for name, values in history.items():
            out[f"{key}.fit.{name}"] = np.asarray(values)

    for key, model, x in [
        ("mlp_vae", vk.MLPVAE(hidden=64, latent_dim=4), flat),
        ("mlp_vae_gaussian", vk.MLPVAE(hidden=64, latent_dim=4, likelihood="gaussian"), flat),
        ("conv_vae", vk.ConvVAE(latent_dim=2), square),
    ]:
        fixed_weights(model)
        eps = rng.standard_normal((8, model.latent_dim)).astype(np.float32)
        eps_k = rng.standard_normal((5, 8, model.latent_dim)).astype(np.float32)
        z_mean, z_log_var = model.encode(x)
        out[f"{key}.z_mean"], out[f"{key}.z_log_var"] = _numpy(z_mean), _numpy(z_log_var)
        out[f"{key}.decode"] = _numpy(model.decode(eps))
        out[f"{key}.reconstruction"] = _numpy(model(x))
        out[f"{key}.elbo"] = _numpy(model.elbo(x, eps=eps))
        out[f"{key}.iwae_bound"] = _numpy(model.iwae_bound(x, 5, eps=eps_k))
        for name, value in model.vae_loss(x, eps=eps).items():
            out[f"{key}.vae_loss.{name}"] = _numpy(value)
        _nearly_deterministic(model)
        _sgd_step(model, (x,), out, key, optimizer=sgd(1e-3))
        fit(key, model, x, optimizer=keras.optimizers.Adam(3e-3))

    cvae = vk.CVAE(latent_dim=2, hidden=32)
    fixed_weights(cvae)
    eps = rng.standard_normal((8, 2)).astype(np.float32)
    out["cvae.elbo"] = _numpy(cvae.elbo(flat, labels, eps=eps))
    out["cvae.reconstruction"] = _numpy(cvae([flat, labels]))
    out["cvae.generate_decode"] = _numpy(cvae.decode(eps, labels))
    _nearly_deterministic(cvae)
    _sgd_step(cvae, ((flat, labels), labels), out, "cvae", optimizer=sgd(1e-3))
    fit("cvae", cvae, flat, labels, optimizer=keras.optimizers.Adam(3e-3))

    aux = vk.AuxiliaryCVAE(latent_dim=3, hidden=16)
    fixed_weights(aux)
    eps = rng.standard_normal((8, 3)).astype(np.float32)
    out["auxiliary_cvae.elbo"] = _numpy(aux.elbo(flat, eps=eps))
    out["auxiliary_cvae.reconstruction"] = _numpy(aux(flat))
    for name, value in aux.vae_loss(flat, labels, eps=eps).items():
        out[f"auxiliary_cvae.vae_loss.{name}"] = _numpy(value)
    _nearly_deterministic(aux)
    _sgd_step(aux, (flat, labels), out, "auxiliary_cvae", optimizer=sgd(1e-3))
    fit("auxiliary_cvae", aux, flat, labels, optimizer=keras.optimizers.Adam(3e-3))

    gan = vk.DCGAN(latent_dim=8)
    fixed_weights(gan)
    z = rng.standard_normal((8, 8)).astype(np.float32)
    out["dcgan.generator"] = _numpy(gan.generator(z, training=False))
    out["dcgan.discriminate"] = _numpy(gan.discriminate(square))
    for name, value in gan.gan_loss(square, z=z).items():
        out[f"dcgan.gan_loss.{name}"] = _numpy(value)
    gan._noise = lambda n, seed=None: keras.ops.convert_to_tensor(z)  # the codes of the step below
    _sgd_step(gan, (square,), out, "dcgan", d_optimizer=sgd(1e-2), g_optimizer=sgd(1e-2))
    out["dcgan.step.state"] = np.concatenate([_numpy(w).ravel() for w in gan.non_trainable_weights])  # BatchNorm statistics
    del gan._noise
    fit("dcgan", gan, square)

    for key, model, x in [
        ("dense_ae", vk.DenseAE(code_size=8), flat),
        ("sparse_dense_ae", vk.DenseAE(code_size=8, l1=1e-3), flat),
        ("denoising_ae", vk.DenoisingAE(code_size=8, seed=0), flat),
        ("mlp_ae", vk.MLPAE(hidden=32, latent_dim=2), flat),
        ("conv_ae", vk.ConvAE(latent_dim=2), square),
    ]:
        fixed_weights(model)
        out[f"{key}.reconstruction"] = _numpy(model(x))
        if key != "denoising_ae":  # its training step draws noise from the backend's generator
            _sgd_step(model, (x, x), out, key, optimizer=sgd(1e-1), loss="binary_crossentropy")
        fit(key, model, x, x, optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")

    from vae_course.keras import layers  # chapter 04's hand-built pieces

    z_mean, z_log_var = rng.standard_normal((8, 2)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    logits = rng.standard_normal((8, 784)).astype(np.float32)
    out["layers.vae_loss"] = _numpy(layers.vae_loss(flat, logits, z_mean, z_log_var, beta=0.5))
    many = np.zeros((20_000, 2), np.float32)  # its noise comes from the backend's generator: compare its statistics
    z = _numpy(layers.Sampling(seed=0)([many + 1.0, many + np.log(4.0)]))
    out["layers.sampling_mean_std"] = np.round([z.mean(), z.std()], 1)

    out["backend"] = np.asarray(keras.backend.backend())
    out["tensorflow_imported"] = np.asarray("tensorflow" in sys.modules)
    np.savez(path, **out)


if __name__ == "__main__":
    snapshot(sys.argv[1])
