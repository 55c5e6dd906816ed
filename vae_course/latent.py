"""Probing a latent space in plain NumPy and SciPy (chapters 02 and 04).

Chapter 02's exercises: where to draw codes from when there is no prior
(:func:`bounding_box_sample`), a straight path between two codes
(:func:`interpolate`) and how much of a region of a 2-D code space the data
actually occupies (:func:`coverage`). Chapter 04's: grids of 2-D codes to
decode, spaced evenly (:func:`even_grid`) or by the prior's quantiles
(:func:`inverse_cdf_grid`), how much prior mass lies between neighbouring grid
values (:func:`prior_mass_between`), and the share of codes outside the
region that holds most of the prior (:func:`share_outside_prior`). Codes are
arrays of shape ``(N, latent_dim)``, one row per image.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "bounding_box", "bounding_box_sample", "interpolate", "occupancy", "coverage",
    "grid_from_axis", "even_grid", "inverse_cdf_grid", "prior_mass_between", "share_outside_prior",
]


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


# --- chapter 04: grids of 2-D codes and the prior ---------------------------------------------------


def grid_from_axis(values: ArrayLike) -> np.ndarray:
    """The (n, n, 2) grid of 2-D codes laid out as a picture: ``grid[i, j] = (values[j], values[n - 1 - i])``.

    ``values`` (increasing, shape (n,)) are used for both coordinates: z_1 grows
    from left to right along a row, z_2 from the bottom row to the top row, as on
    the axes of a scatter plot. ``grid.reshape(-1, 2)`` lists the codes row by
    row, the order an image grid of ``n`` columns shows them in.
    """
    axis = np.asarray(values, dtype=np.float64)
    if axis.ndim != 1 or len(axis) == 0:
        raise ValueError(f"values must be a non-empty 1-D array of coordinates, got shape {axis.shape}.")
    if not np.all(np.isfinite(axis)):
        raise ValueError("values contains NaN or infinite coordinates: a grid point must be a finite code.")
    z1, z2 = np.meshgrid(axis, axis[::-1])
    return np.stack([z1, z2], axis=-1)


def even_grid(n: int, limit: float) -> np.ndarray:
    """An (n, n, 2) grid of evenly spaced codes over [-limit, limit]^2 (layout of :func:`grid_from_axis`)."""
    if int(n) != n or n < 1:
        raise ValueError(f"n (grid points per axis) must be a positive integer, got {n!r}.")
    if not limit > 0:
        raise ValueError(f"limit must be positive, got {limit!r}.")
    return grid_from_axis(np.linspace(-limit, limit, int(n)))


def inverse_cdf_grid(n: int, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    """An (n, n, 2) grid of codes at the N(0, 1) quantiles ``norm.ppf(np.linspace(low, high, n))`` on each axis.

    Neighbouring values on an axis are separated by the same prior probability,
    ``(high - low) / (n - 1)``, so the grid spends its points where the prior puts
    its mass. ``0 < low < high < 1``: the 0 and 1 quantiles are infinite.
    Layout of :func:`grid_from_axis`.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n (grid points per axis) must be a positive integer, got {n!r}.")
    if not 0.0 < low < high < 1.0:
        raise ValueError(f"need 0 < low < high < 1 (the 0 and 1 quantiles of N(0, 1) are infinite), got low={low}, high={high}.")
    values = stats.norm.ppf(np.linspace(low, high, int(n)))
    z1, z2 = np.meshgrid(values, values[::-1])  # as grid_from_axis, written out: it is an exercise's reference answer
    return np.stack([z1, z2], axis=-1)


def prior_mass_between(values: ArrayLike) -> np.ndarray:
    """The N(0, 1) probability between each pair of neighbouring coordinates, shape (n - 1,).

    ``norm.cdf(values[k + 1]) - norm.cdf(values[k])``: how much of the prior one
    step of a grid axis covers. Constant for :func:`inverse_cdf_grid`, tiny at the
    edges of a wide :func:`even_grid`.
    """
    axis = np.asarray(values, dtype=np.float64)
    if axis.ndim != 1 or len(axis) < 2:
        raise ValueError(f"values must be a 1-D array of at least two coordinates, got shape {axis.shape}.")
    if np.any(np.diff(axis) < 0):
        raise ValueError("values must be sorted in increasing order.")
    return np.diff(stats.norm.cdf(axis))


def share_outside_prior(codes: ArrayLike, mass: float = 0.99) -> float:
    """The share of ``codes`` outside the smallest ball that holds ``mass`` of the prior N(0, I), a float in [0, 1].

    For z ~ N(0, I) in d dimensions, ``|z|^2`` follows a chi-squared law with d
    degrees of freedom, so that ball has radius ``sqrt(chi2.ppf(mass, d))``
    (3.03 for d = 2 and mass 0.99). Codes exactly on the sphere count as inside.
    ``codes`` has shape (N, d); an (n, n, 2) grid is flattened first.
    """
    z = np.asarray(codes, dtype=np.float64)
    if z.ndim == 3:
        z = z.reshape(-1, z.shape[-1])
    z = _codes(z)
    if not 0.0 < mass < 1.0:
        raise ValueError(f"mass must lie strictly between 0 and 1, got {mass!r}.")
    squared_radius = stats.chi2.ppf(mass, df=z.shape[1])
    return float(np.mean(np.sum(z**2, axis=1) > squared_radius))
