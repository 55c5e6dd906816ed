"""NumPy reference implementations of the quantities of VAE theory (chapter 03).

Everything here works in **nats** and returns **one value per example**: a
quantity defined for a single example is summed over its event axis (the last
axis: latent dimensions or pixels), never averaged, so that values add up to
log-densities. Leading axes are batch (and, where documented, sample) axes.

These functions are the ground truth the framework code of later chapters is
tested against, and the references of chapter 03's exercises.

Notation: ``z_mean`` and ``z_log_var`` are the mean and the *log-variance* of
a diagonal Gaussian q(z|x) = N(z_mean, diag(exp(z_log_var))); its standard
deviation is ``exp(0.5 * z_log_var)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.special import logsumexp

LOG_2PI = float(np.log(2.0 * np.pi))

__all__ = [
    "LOG_2PI",
    "LinearGaussianModel",
    "bernoulli_log_likelihood",
    "elbo",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "importance_weighted_bound",
    "monte_carlo_kl",
    "reparameterize",
    "standard_normal_log_density",
]


def gaussian_kl(z_mean: ArrayLike, z_log_var: ArrayLike) -> np.ndarray:
    """Closed-form KL(N(z_mean, diag(exp(z_log_var))) || N(0, I)), summed over the last axis.

    Equal to ``0.5 * sum(exp(z_log_var) + z_mean**2 - 1 - z_log_var)``;
    computed with ``expm1`` so that it stays accurate when q is close to the
    prior. Shape ``(..., d) -> (...)``.
    """
    z_mean = np.asarray(z_mean)
    z_log_var = np.asarray(z_log_var)
    return 0.5 * np.sum(np.expm1(z_log_var) - z_log_var + np.square(z_mean), axis=-1)


def reparameterize(
    z_mean: ArrayLike,
    z_log_var: ArrayLike,
    rng: np.random.Generator | int | None = None,
    *,
    eps: ArrayLike | None = None,
) -> np.ndarray:
    """A sample z = z_mean + exp(0.5 * z_log_var) * eps of q(z|x), with eps ~ N(0, I).

    Pass ``eps`` to make the result a deterministic function of the noise
    (``eps`` may carry extra leading sample axes); otherwise eps is drawn as
    ``rng.standard_normal(z_mean.shape)`` (``rng`` a Generator, a seed or None).
    """
    z_mean = np.asarray(z_mean)
    z_log_var = np.asarray(z_log_var)
    if eps is None:
        eps = np.random.default_rng(rng).standard_normal(np.broadcast_shapes(z_mean.shape, z_log_var.shape))
    return z_mean + np.exp(0.5 * z_log_var) * np.asarray(eps)


def standard_normal_log_density(z: ArrayLike) -> np.ndarray:
    """log N(z; 0, I), summed over the last axis. Shape ``(..., d) -> (...)``."""
    z = np.asarray(z)
    return -0.5 * np.sum(np.square(z) + LOG_2PI, axis=-1)


def bernoulli_log_likelihood(x: ArrayLike, logits: ArrayLike) -> np.ndarray:
    """log p(x | logits) of independent Bernoulli pixels, summed over the last axis.

    ``x`` holds targets in [0, 1] and ``logits`` the decoder's pre-sigmoid
    outputs. Uses log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) =
    -softplus(l), so it is finite and exact for any logits (try +-1000).
    This is minus the binary cross-entropy summed over pixels.
    """
    x = np.asarray(x)
    logits = np.asarray(logits)
    return -np.sum(x * np.logaddexp(0.0, -logits) + (1.0 - x) * np.logaddexp(0.0, logits), axis=-1)


def gaussian_log_likelihood(x: ArrayLike, mean: ArrayLike, std: ArrayLike) -> np.ndarray:
    """log N(x; mean, std**2 I) with a fixed standard deviation, summed over the last axis.

    Equals ``-sum((x - mean)**2) / (2 std**2) - D log(std) - D/2 log(2 pi)``
    for a scalar ``std``: a weighted squared error plus a constant.
    """
    x, mean, std = np.asarray(x), np.asarray(mean), np.asarray(std)
    z = (x - mean) / std
    return -np.sum(0.5 * np.square(z) + np.log(std) + 0.5 * LOG_2PI, axis=-1)


def elbo(
    x: ArrayLike,
    z_mean: ArrayLike,
    z_log_var: ArrayLike,
    decode: Callable[[np.ndarray], ArrayLike],
    eps: ArrayLike,
    log_likelihood: Callable[[np.ndarray, np.ndarray], np.ndarray] = bernoulli_log_likelihood,
) -> np.ndarray:
    """Reparameterised Monte Carlo estimate of the ELBO, one value per example.

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I)): the first term is
    estimated at z = z_mean + exp(0.5 * z_log_var) * eps, the KL is in closed
    form. ``decode`` maps z to the decoder's output (logits for the default
    Bernoulli ``log_likelihood``). ``eps`` has the shape of ``z_mean`` (one
    sample) or extra leading sample axes, over which the estimate is averaged.
    """
    x = np.asarray(x)
    z_mean = np.asarray(z_mean)
    eps = np.asarray(eps)
    z = reparameterize(z_mean, z_log_var, eps=eps)
    reconstruction = np.asarray(log_likelihood(x, np.asarray(decode(z))))
    extra = eps.ndim - z_mean.ndim
    if extra > 0:
        reconstruction = reconstruction.mean(axis=tuple(range(extra)))
    return reconstruction - gaussian_kl(z_mean, z_log_var)


def monte_carlo_kl(z_mean: ArrayLike, z_log_var: ArrayLike, eps: ArrayLike) -> np.ndarray:
    """Monte Carlo estimate of KL(q(z|x) || N(0, I)) = E_q[log q(z|x) - log p(z)].

    The samples are z = z_mean + exp(0.5 * z_log_var) * eps, with ``eps`` of
    shape ``(S,) + z_mean.shape`` (or just ``z_mean.shape`` for S = 1). Per
    sample, log q(z) - log p(z) = sum(0.5 * z**2 - 0.5 * eps**2 - 0.5 * z_log_var);
    the estimate averages it over the S samples. Unbiased, and exactly 0 for
    every eps when q is the prior.
    """
    z_mean, z_log_var, eps = np.asarray(z_mean), np.asarray(z_log_var), np.asarray(eps)
    z = z_mean + np.exp(0.5 * z_log_var) * eps
    log_ratio = 0.5 * np.sum(np.square(z) - np.square(eps) - z_log_var, axis=-1)
    extra = eps.ndim - z_mean.ndim
    return log_ratio.mean(axis=tuple(range(extra))) if extra > 0 else log_ratio


def importance_weighted_bound(log_weights: ArrayLike, axis: int = 0) -> np.ndarray:
    """The importance-weighted bound log((1/K) sum_k w_k) from K log-weights.

    ``log_weights[k] = log p(x, z_k) - log q(z_k|x)`` with z_k ~ q(z|x),
    stacked along ``axis`` (K = its length). Computed with logsumexp, so
    log-weights of -1000 nats are fine. K = 1 gives the (one-sample) ELBO.
    """
    log_weights = np.asarray(log_weights)
    k = log_weights.shape[axis]
    return logsumexp(log_weights, axis=axis) - np.log(k)


@dataclass(frozen=True, eq=False)
class LinearGaussianModel:
    """A linear-Gaussian latent variable model (probabilistic PCA).

    z ~ N(0, I_k) and x | z ~ N(W z + b, sigma^2 I_D). Everything a VAE can
    only bound is exact here: the marginal

        p(x) = N(x; b, W W^T + sigma^2 I),

    and the posterior p(z|x) = N(S W^T (x - b) / sigma^2, S) with
    S = (I + W^T W / sigma^2)^-1. Arrays of data have shape ``(..., D)``,
    latent arrays ``(..., k)``.
    """

    weight: np.ndarray
    """W, shape (D, k)."""
    bias: np.ndarray
    """b, shape (D,)."""
    sigma: float
    """Standard deviation of the observation noise."""

    def __post_init__(self) -> None:
        weight = np.atleast_2d(np.asarray(self.weight, dtype=float))
        bias = np.asarray(self.bias, dtype=float).reshape(-1)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias has shape {bias.shape}; expected ({weight.shape[0]},) to match weight {weight.shape}.")
        if not self.sigma > 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}.")
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "sigma", float(self.sigma))

    @classmethod
    def random(
        cls, data_dim: int, latent_dim: int, sigma: float, rng: np.random.Generator | int | None = None, scale: float = 1.0
    ) -> "LinearGaussianModel":
        """A model with W and b drawn from N(0, scale^2)."""
        rng = np.random.default_rng(rng)
        return cls(scale * rng.standard_normal((data_dim, latent_dim)), scale * rng.standard_normal(data_dim), sigma)

    @property
    def data_dim(self) -> int:
        """D, the number of observed dimensions."""
        return self.weight.shape[0]

    @property
    def latent_dim(self) -> int:
        """k, the number of latent dimensions."""
        return self.weight.shape[1]

    def decode(self, z: ArrayLike) -> np.ndarray:
        """The mean W z + b of p(x|z)."""
        return np.asarray(z) @ self.weight.T + self.bias

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs from the generative model; returns ``(z, x)``."""
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((n, self.latent_dim))
        x = self.decode(z) + self.sigma * rng.standard_normal((n, self.data_dim))
        return z, x

    def marginal_cov(self) -> np.ndarray:
        """Covariance W W^T + sigma^2 I of p(x), shape (D, D)."""
        return self.weight @ self.weight.T + self.sigma**2 * np.eye(self.data_dim)

    def log_marginal(self, x: ArrayLike) -> np.ndarray:
        """Exact log p(x), one value per example."""
        x = np.asarray(x, dtype=float)
        chol = cholesky(self.marginal_cov(), lower=True)
        diff = (x - self.bias).reshape(-1, self.data_dim)
        white = solve_triangular(chol, diff.T, lower=True)
        log_det = 2.0 * np.sum(np.log(np.diag(chol)))
        out = -0.5 * (np.sum(white**2, axis=0) + log_det + self.data_dim * LOG_2PI)
        return out.reshape(x.shape[:-1])

    def posterior_precision(self) -> np.ndarray:
        """I + W^T W / sigma^2, the precision of p(z|x) (the same for every x)."""
        return np.eye(self.latent_dim) + self.weight.T @ self.weight / self.sigma**2

    def posterior(self, x: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Exact posterior p(z|x): ``(mean, cov)`` with mean of shape (..., k), cov (k, k)."""
        x = np.asarray(x, dtype=float)
        chol = cholesky(self.posterior_precision(), lower=True)
        cov = cho_solve((chol, True), np.eye(self.latent_dim))
        mean = (x - self.bias) @ self.weight @ cov / self.sigma**2
        return mean, cov

    def log_likelihood(self, x: ArrayLike, z: ArrayLike) -> np.ndarray:
        """log p(x|z), one value per (sample, example); broadcasts over leading axes."""
        return gaussian_log_likelihood(x, self.decode(z), self.sigma)

    def log_joint(self, x: ArrayLike, z: ArrayLike) -> np.ndarray:
        """log p(x, z) = log p(z) + log p(x|z)."""
        return standard_normal_log_density(z) + self.log_likelihood(x, z)

    def expected_log_likelihood(self, x: ArrayLike, q_mean: ArrayLike, q_log_var: ArrayLike) -> np.ndarray:
        """E_q[log p(x|z)] in closed form for q = N(q_mean, diag(exp(q_log_var)))."""
        x, q_mean, q_var = np.asarray(x, dtype=float), np.asarray(q_mean, dtype=float), np.exp(q_log_var)
        residual = np.sum(np.square(x - self.decode(q_mean)), axis=-1)
        spread = np.sum(q_var * np.sum(self.weight**2, axis=0), axis=-1)
        return -0.5 * (residual + spread) / self.sigma**2 - self.data_dim * (np.log(self.sigma) + 0.5 * LOG_2PI)

    def elbo(
        self,
        x: ArrayLike,
        q_mean: ArrayLike,
        q_log_var: ArrayLike,
        rng: np.random.Generator | int | None = None,
        n_samples: int | None = None,
    ) -> np.ndarray:
        """ELBO of a diagonal Gaussian q, one value per example.

        Exact (expectation in closed form) when ``n_samples`` is None; otherwise
        a reparameterised Monte Carlo estimate from ``n_samples`` draws of ``rng``.
        """
        if n_samples is None:
            return self.expected_log_likelihood(x, q_mean, q_log_var) - gaussian_kl(q_mean, q_log_var)
        q_mean = np.asarray(q_mean, dtype=float)
        eps = np.random.default_rng(rng).standard_normal((n_samples, *q_mean.shape))
        return elbo(x, q_mean, q_log_var, self.decode, eps, lambda x_, mean: gaussian_log_likelihood(x_, mean, self.sigma))

    def kl_to_posterior(self, x: ArrayLike, q_mean: ArrayLike, q_log_var: ArrayLike) -> np.ndarray:
        """KL(q(z) || p(z|x)) for q = N(q_mean, diag(exp(q_log_var))): exactly log p(x) - ELBO."""
        post_mean, post_cov = self.posterior(x)
        precision = self.posterior_precision()
        q_var = np.exp(np.asarray(q_log_var, dtype=float))
        diff = np.asarray(q_mean, dtype=float) - post_mean
        trace = np.sum(q_var * np.diag(precision), axis=-1)
        maha = np.einsum("...i,ij,...j->...", diff, precision, diff)
        log_det_post = np.linalg.slogdet(post_cov)[1]
        return 0.5 * (trace + maha - self.latent_dim + log_det_post - np.sum(np.log(q_var), axis=-1))

    def log_weights(
        self, x: ArrayLike, q_mean: ArrayLike, q_log_var: ArrayLike, k: int, rng: np.random.Generator | int | None = None
    ) -> np.ndarray:
        """log p(x, z_k) - log q(z_k) for K draws z_k ~ q; shape (K, ...) for x of shape (..., D)."""
        q_mean, q_log_var = np.asarray(q_mean, dtype=float), np.asarray(q_log_var, dtype=float)
        eps = np.random.default_rng(rng).standard_normal((k, *np.broadcast_shapes(q_mean.shape, q_log_var.shape)))
        z = q_mean + np.exp(0.5 * q_log_var) * eps
        log_q = -0.5 * np.sum(np.square(eps) + q_log_var + LOG_2PI, axis=-1)
        return self.log_joint(x, z) - log_q

    def importance_weighted_bound(
        self,
        x: ArrayLike,
        q_mean: ArrayLike,
        q_log_var: ArrayLike,
        k: int,
        rng: np.random.Generator | int | None = None,
        n_repeats: int = 1,
    ) -> np.ndarray:
        """Estimate of the K-sample importance-weighted bound, averaged over ``n_repeats`` independent draws."""
        rng = np.random.default_rng(rng)
        return np.mean(
            [importance_weighted_bound(self.log_weights(x, q_mean, q_log_var, k, rng)) for _ in range(n_repeats)], axis=0
        )

    def optimal_diagonal_q(self, x: ArrayLike, beta: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """The diagonal Gaussian maximising E_q[log p(x|z)] - beta * KL(q || N(0, I)); returns (mean, log_var).

        For beta = 1 its mean is the exact posterior mean and its variances
        are the inverse diagonal of the posterior precision.
        """
        gram = self.weight.T @ self.weight / self.sigma**2
        x = np.asarray(x, dtype=float)
        mean = np.linalg.solve(gram + beta * np.eye(self.latent_dim), ((x - self.bias) @ self.weight / self.sigma**2).T).T
        log_var = -np.log1p(np.diag(gram) / beta)
        return mean, np.broadcast_to(log_var, mean.shape).copy()
