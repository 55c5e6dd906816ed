"""Synthetic test images shared by the model tests."""

from __future__ import annotations

import numpy as np


def blobs(n: int = 8, seed: int = 0) -> np.ndarray:
    """Blurry Gaussian blobs in [0, 1], (n, 28, 28) float32: easy to reconstruct, so a few training steps lower the loss."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(8, 20, (n, 2, 1, 1))
    return np.exp(-((yy - centres[:, 0]) ** 2 + (xx - centres[:, 1]) ** 2) / 30.0).astype(np.float32)
