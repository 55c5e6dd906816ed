"""Probing an autoencoder's latent space in plain NumPy (chapter 02).

These are the reference answers of chapter 02's exercises: where to draw
codes from when there is no prior (:func:`bounding_box_sample`), a straight
path between two codes (:func:`interpolate`) and how much of a region of a
2-D code space the data actually occupies (:func:`coverage`). Codes are
arrays of shape ``(N, latent_dim)``, one row per image.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["bounding_box", "bounding_box_sample", "interpolate", "occupancy", "coverage"]


def _codes(codes: ArrayLike, name: str = "codes") -> np.ndarray:
    z = np.asarray(codes, dtype=np.float64)
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"{name} must have shape (N, latent_dim) with N >= 1 (one code per row), got shape {z.shape}.")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return z


def bounding_box(codes: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """The smallest axis-aligned box holding every code: per-dimension minimum and maximum, each (latent_dim,)."""
    z = _codes(codes)
    return z.min(axis=0), z.max(axis=0)


def bounding_box_sample(codes: ArrayLike, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` codes drawn uniformly in the bounding box of ``codes``, shape (n, latent_dim).

    All numbers come from one call ``rng.uniform(low, high, size=(n, latent_dim))``,
    so a generator seeded the same way gives the same codes.
    """
    low, high = bounding_box(codes)
    if int(n) != n or n < 0:
        raise ValueError(f"n (the number of codes to draw) must be a non-negative integer, got {n!r}.")
    return rng.uniform(low, high, size=(int(n), len(low)))


def interpolate(z_start: ArrayLike, z_end: ArrayLike, steps: int) -> np.ndarray:
    """``steps`` evenly spaced codes on the segment from ``z_start`` to ``z_end``, both included: (steps, latent_dim).

    Row ``k`` is ``(1 - t_k) * z_start + t_k * z_end`` with ``t = np.linspace(0, 1, steps)``.
    """
    a, b = np.asarray(z_start, dtype=np.float64), np.asarray(z_end, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"z_start and z_end must be two codes of the same shape (latent_dim,), got {a.shape} and {b.shape}.")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps (the number of codes on the path) must be a positive integer, got {steps!r}.")
    t = np.linspace(0.0, 1.0, int(steps))[:, None]
    return (1.0 - t) * a + t * b


def occupancy(codes: ArrayLike, bins: int, low: float, high: float) -> np.ndarray:
    """How many 2-D codes fall in each cell of a ``bins`` x ``bins`` grid over [low, high]^2, shape (bins, bins).

    Counted by :func:`numpy.histogram2d` with ``range=[[low, high], [low, high]]``:
    row ``i`` is the i-th interval of z_1, column ``j`` of z_2; a code exactly at
    ``high`` counts in the last cell, codes outside the square are left out.
    """
    z = _codes(codes)
    if z.shape[1] != 2:
        raise ValueError(f"occupancy() and coverage() need 2-D codes of shape (N, 2), got shape {z.shape}.")
    if int(bins) != bins or bins < 1:
        raise ValueError(f"bins (cells per axis) must be a positive integer, got {bins!r}.")
    if not low < high:
        raise ValueError(f"The grid needs low < high, got low={low}, high={high}.")
    counts, _, _ = np.histogram2d(z[:, 0], z[:, 1], bins=int(bins), range=[[low, high], [low, high]])
    return counts


def coverage(codes: ArrayLike, bins: int, low: float, high: float) -> float:
    """Share of the ``bins**2`` cells of a grid over [low, high]^2 that hold at least one code (a float in [0, 1])."""
    return float(np.mean(occupancy(codes, bins, low, high) > 0))
