"""Posterior-collapse diagnostics of a VAE, in NumPy: KL per latent dimension, active units, a KL warm-up.

Each function takes what an encoder returns for a dataset, ``z_mean`` and
``z_log_var`` of shape (N, latent_dim), as NumPy arrays (or anything
``np.asarray`` accepts: convert tensors with ``.detach().cpu().numpy()``).

- :func:`kl_per_dimension`: the KL term of the ELBO split by latent
  dimension and averaged over the images. Its sum is the model's KL term; a
  dimension whose share is near 0 nats carries no information about x.
- :func:`activity` and :func:`active_units`: the criterion of Burda, Grosse and
  Salakhutdinov, *Importance Weighted Autoencoders* (2015). A dimension d is
  **active** when ``Var_x(E_q[z_d | x]) > 0.01``: its posterior *mean* moves
  when the image changes. A collapsed dimension has q(z_d | x) = N(0, 1)
  whatever x, so its mean is the same for every image.
- :func:`kl_warmup`: the weight of the KL term per epoch for a linear warm-up
  (KL annealing, Bowman et al. 2016; Sønderby et al. 2016).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ACTIVE_THRESHOLD", "activity", "active_units", "kl_per_dimension", "kl_warmup"]

ACTIVE_THRESHOLD = 0.01
"""Burda et al.'s threshold on the variance over the data of a dimension's posterior mean."""


def _codes(z_mean: Any, z_log_var: Any | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    z_mean = np.asarray(z_mean, dtype=np.float64)
    if z_mean.ndim != 2 or len(z_mean) == 0:
        raise ValueError(f"z_mean must have shape (N, latent_dim) with N >= 1, got shape {z_mean.shape}.")
    if not np.all(np.isfinite(z_mean)):
        raise ValueError("z_mean contains NaN or infinite values.")
    if z_log_var is None:
        return z_mean, None
    z_log_var = np.asarray(z_log_var, dtype=np.float64)
    if z_log_var.shape != z_mean.shape:
        raise ValueError(f"z_mean and z_log_var must have the same shape, got {z_mean.shape} and {z_log_var.shape}.")
    if not np.all(np.isfinite(z_log_var)):
        raise ValueError("z_log_var contains NaN or infinite values.")
    return z_mean, z_log_var


def kl_per_dimension(z_mean: Any, z_log_var: Any) -> np.ndarray:
    """Mean over the images of KL(q(z_d | x) || N(0, 1)) for each latent dimension d, in nats: shape (latent_dim,).

    ``0.5 * (exp(z_log_var) - 1 - z_log_var + z_mean**2)`` averaged over axis 0.
    Summed over the dimensions it is the KL term of the ELBO.
    """
    z_mean, z_log_var = _codes(z_mean, z_log_var)
    return 0.5 * np.mean(np.expm1(z_log_var) - z_log_var + z_mean**2, axis=0)


def activity(z_mean: Any) -> np.ndarray:
    """``Var_x(E_q[z_d | x])`` for each dimension d: the variance over the images (axis 0) of the posterior means."""
    z_mean, _ = _codes(z_mean)
    return np.var(z_mean, axis=0)


def active_units(z_mean: Any, z_log_var: Any, threshold: float = ACTIVE_THRESHOLD) -> int:
    """The number of active latent dimensions after Burda et al. (2015): those with ``Var_x(E_q[z_d]) > threshold``.

    It takes both encoder outputs, but only the means enter the criterion:
    the posterior variance ``exp(z_log_var)`` of a collapsed dimension is 1
    and that of an active one small, but it is the *spread of the means over
    the data* that says whether z_d depends on x. ``z_log_var`` is checked
    for shape only.
    """
    z_mean, _ = _codes(z_mean, z_log_var)
    if not threshold >= 0:
        raise ValueError(f"threshold must be a non-negative number, got {threshold}.")
    return int(np.sum(np.var(z_mean, axis=0) > threshold))


def kl_warmup(epoch: int, warmup_epochs: int, beta: float = 1.0) -> float:
    """The KL weight of a linear warm-up at 0-based ``epoch``: ``beta * min(1, epoch / warmup_epochs)``.

    It starts at 0 (the first epoch trains an autoencoder with noise) and
    reaches ``beta`` at ``epoch == warmup_epochs``; ``warmup_epochs=0``
    means no warm-up.
    """
    if epoch < 0 or warmup_epochs < 0:
        raise ValueError(f"epoch and warmup_epochs must be non-negative, got {epoch} and {warmup_epochs}.")
    if not beta >= 0:
        raise ValueError(f"beta must be non-negative, got {beta}.")
    if warmup_epochs == 0:
        return float(beta)
    return float(beta) * min(1.0, epoch / warmup_epochs)
