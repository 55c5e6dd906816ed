"""The frameworks' VAE bounds against a model where everything is exact.

A linear-Gaussian model (probabilistic PCA, :class:`vae_course.theory.LinearGaussianModel`)
has a closed-form log p(x) and posterior. We build a Keras and a PyTorch VAE
whose decoder *is* that model (a linear layer, Gaussian likelihood with its
sigma) and whose encoder is a linear map, and check the package's own
``elbo`` and ``iwae_bound``:

- the ELBO estimate never exceeds log p(x), and the gap is KL(q || p(z|x));
- with q the exact posterior, every importance weight is p(x) and the ELBO's mean is log p(x);
- the importance-weighted bound rises with K towards log p(x).
"""

from __future__ import annotations

import numpy as np
import pytest

from vae_course.theory import LinearGaussianModel

DATA_DIM, LATENT_DIM, SIGMA = 6, 2, 0.5


def _torch_vae(model: LinearGaussianModel, a: np.ndarray, c: np.ndarray, log_var: np.ndarray):
    import torch
    from torch import nn

    from vae_course.torch.vae import VAE, _Encoder

    class LinearVAE(VAE):
        def __init__(self) -> None:
            super().__init__("gaussian", std=model.sigma)
            self.input_shape, self.latent_dim = (DATA_DIM,), LATENT_DIM
            self.encoder = _Encoder(nn.Identity(), DATA_DIM, LATENT_DIM)
            self.decoder = nn.Linear(LATENT_DIM, DATA_DIM)

    vae = LinearVAE()
    with torch.no_grad():
        for layer, weight, bias in (
            (vae.encoder.z_mean, a, c),
            (vae.encoder.z_log_var, np.zeros_like(a), log_var),
            (vae.decoder, model.weight, model.bias),
        ):
            layer.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

    def as_numpy(t) -> np.ndarray:
        return t.detach().numpy().astype(np.float64)

    return vae, as_numpy


def _keras_vae(model: LinearGaussianModel, a: np.ndarray, c: np.ndarray, log_var: np.ndarray):
    import keras
    from keras import layers

    from vae_course.keras.vae import VAE

    class LinearVAE(VAE):
        def __init__(self) -> None:
            super().__init__("gaussian", std=model.sigma)
            self.data_shape, self.latent_dim = (DATA_DIM,), LATENT_DIM
            inputs = keras.Input((DATA_DIM,))
            heads = [layers.Dense(LATENT_DIM, name="z_mean")(inputs), layers.Dense(LATENT_DIM, name="z_log_var")(inputs)]
            self.encoder = keras.Model(inputs, heads)
            self.decoder = keras.Sequential([keras.Input((LATENT_DIM,)), layers.Dense(DATA_DIM, name="output")])
            self._finish()

    vae = LinearVAE()
    vae.encoder.get_layer("z_mean").set_weights([a.T, c])
    vae.encoder.get_layer("z_log_var").set_weights([np.zeros_like(a.T), log_var])
    vae.decoder.get_layer("output").set_weights([model.weight.T, model.bias])
    return vae, lambda t: np.asarray(keras.ops.convert_to_numpy(t), dtype=np.float64)


BUILDERS = {"torch": _torch_vae, "keras": _keras_vae}


@pytest.fixture(params=list(BUILDERS))
def framework(request) -> str:
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _posterior_encoder(model: LinearGaussianModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The linear map x -> posterior mean, and the log of the posterior variances."""
    _, cov = model.posterior(np.zeros(DATA_DIM))
    a = cov @ model.weight.T / model.sigma**2
    return a, -a @ model.bias, np.log(np.diag(cov))


def _batch(x: np.ndarray, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``m`` copies of every example, with independent eps for each copy."""
    return np.repeat(x, m, axis=0).astype(np.float32), rng.standard_normal((len(x) * m, LATENT_DIM)).astype(np.float32)


def test_elbo_stays_below_log_px_and_the_gap_is_the_kl_to_the_posterior(framework, rng):
    model = LinearGaussianModel.random(DATA_DIM, LATENT_DIM, SIGMA, rng)
    a, c, log_var = _posterior_encoder(model)
    a, c, log_var = a + 0.3 * rng.standard_normal(a.shape), c + 0.3, log_var + 0.7  # a q that is off
    vae, to_numpy = BUILDERS[framework](model, a, c, log_var)
    x = model.sample(3, rng)[1]
    m = 4000
    x_rep, eps = _batch(x, m, rng)
    estimates = to_numpy(vae.elbo(x_rep, eps=eps)).reshape(len(x), m)
    mean, stderr = estimates.mean(1), estimates.std(1) / np.sqrt(m)

    q_mean = x @ a.T + c
    q_log_var = np.broadcast_to(log_var, q_mean.shape)
    exact_elbo = model.elbo(x, q_mean, q_log_var)
    log_px = model.log_marginal(x)
    gap = model.kl_to_posterior(x, q_mean, q_log_var)
    assert np.all(gap > 0.5)  # the test means something only if q is clearly off
    assert np.all(np.abs(mean - exact_elbo) < 4 * stderr + 1e-3)
    assert np.all(mean < log_px)
    np.testing.assert_allclose(log_px - mean, gap, atol=float(4 * stderr.max() + 1e-3))


def test_bounds_are_exact_when_q_is_the_posterior(framework, rng):
    # Orthogonal columns in W make the posterior covariance diagonal, so the encoder can match it exactly.
    basis, _ = np.linalg.qr(rng.standard_normal((DATA_DIM, LATENT_DIM)))
    model = LinearGaussianModel(basis * np.array([2.0, 0.7]), rng.standard_normal(DATA_DIM), SIGMA)
    vae, to_numpy = BUILDERS[framework](model, *_posterior_encoder(model))
    x = model.sample(4, rng)[1]
    log_px = model.log_marginal(x)
    # Every importance weight p(x, z) / q(z|x) is then p(x) itself: the bound is exact for any eps and any K.
    for k in (1, 7):
        eps = rng.standard_normal((k, len(x), LATENT_DIM)).astype(np.float32)
        np.testing.assert_allclose(to_numpy(vae.iwae_bound(x.astype(np.float32), k, eps=eps)), log_px, rtol=2e-5)
    # The ELBO with the KL in closed form still varies with eps, but its mean is log p(x).
    m = 4000
    x_rep, eps = _batch(x, m, rng)
    elbo = to_numpy(vae.elbo(x_rep, eps=eps)).reshape(len(x), m)
    assert np.all(np.abs(elbo.mean(1) - log_px) < 4 * elbo.std(1) / np.sqrt(m) + 1e-3)


def test_importance_weighted_bound_rises_with_k_towards_log_px(framework, rng):
    model = LinearGaussianModel.random(DATA_DIM, LATENT_DIM, SIGMA, rng)
    a, c, log_var = _posterior_encoder(model)
    vae, to_numpy = BUILDERS[framework](model, a + 0.2 * rng.standard_normal(a.shape), c, log_var + 1.0)
    x = model.sample(2, rng)[1]
    log_px = model.log_marginal(x)
    repeats = 400
    x_rep = np.repeat(x, repeats, axis=0).astype(np.float32)
    gaps = []
    for k in (1, 10, 100):
        eps = rng.standard_normal((k, len(x_rep), LATENT_DIM)).astype(np.float32)
        bound = to_numpy(vae.iwae_bound(x_rep, k, eps=eps)).reshape(len(x), repeats)
        mean, stderr = bound.mean(1), bound.std(1) / np.sqrt(repeats)
        assert np.all(mean < log_px + 4 * stderr)
        gaps.append(log_px - mean)
    gaps = np.array(gaps)
    assert np.all(gaps[0] > gaps[1]) and np.all(gaps[1] > gaps[2])
    assert np.all(gaps[2] < 0.25 * gaps[0])
