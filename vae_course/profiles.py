"""Run profiles: the one place that decides data sizes and epochs.

Choose a profile with the environment variable ``VAE_COURSE_PROFILE``:

``ci``
    seconds per chapter; used by the test suite and for autograding.
``standard`` (default)
    minutes per chapter on a laptop CPU, with figures worth looking at.
``full``
    best quality; uses a GPU when one is present.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

ENV_VAR = "VAE_COURSE_PROFILE"
DEFAULT = "standard"


@dataclass(frozen=True)
class Profile:
    """How much work a notebook does: data sizes, epochs and batch size."""

    name: str
    description: str
    train_size: int
    """Number of training images used (the full training sets have 60,000)."""
    test_size: int
    """Number of test images used (the full test sets have 10,000)."""
    epochs: Mapping[str, int]
    """Epochs per model family, e.g. ``profile.epochs["conv_ae"]``."""
    batch_size: int = 128
    sizes: Mapping[str, int] = field(default_factory=dict)
    """Training-set sizes of named experiments smaller than ``train_size``, e.g.
    ``profile.sizes["ch04_settings"]``; read them with :meth:`size`."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "epochs", MappingProxyType(dict(self.epochs)))
        object.__setattr__(self, "sizes", MappingProxyType(dict(self.sizes)))

    def size(self, experiment: str) -> int:
        """Training images for ``experiment``: its entry in ``sizes``, else ``train_size``."""
        return min(self.sizes.get(experiment, self.train_size), self.train_size)

    def __str__(self) -> str:
        epochs = ", ".join(f"{family} {n}" for family, n in self.epochs.items())
        return (
            f"Run profile '{self.name}' ({self.description}): {self.train_size:,} training and "
            f"{self.test_size:,} test images, batch size {self.batch_size}; epochs: {epochs}."
        )


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "ci": Profile(
            name="ci",
            description="smoke test: tiny data, one or two epochs",
            train_size=2_048,
            test_size=512,
            epochs={
                "dense_ae": 2,
                "conv_ae": 1,
                "vae": 1,
                "conv_vae": 1,
                "cvae": 1,
                "gan": 1,
                "classifier": 2,
                # ci epochs · 04_vae_keras
                # ci epochs · 05_vae_pytorch
                # ci epochs · 06_conditional_vae
                # ci epochs · 07_vae_vs_gan
            },
            sizes={
                # ci sizes · 04_vae_keras
                # ci sizes · 05_vae_pytorch
                # ci sizes · 06_conditional_vae
                # ci sizes · 07_vae_vs_gan
            },
        ),
        "standard": Profile(
            name="standard",
            description="minutes on a laptop CPU, good figures",
            train_size=60_000,
            test_size=10_000,
            epochs={
                "dense_ae": 10,
                "conv_ae": 5,
                "vae": 10,
                "conv_vae": 10,
                "cvae": 10,
                "gan": 10,
                "classifier": 8,
                # standard epochs · 04_vae_keras
                # standard epochs · 05_vae_pytorch
                # standard epochs · 06_conditional_vae
                # standard epochs · 07_vae_vs_gan
            },
            sizes={
                # standard sizes · 04_vae_keras
                # standard sizes · 05_vae_pytorch
                # standard sizes · 06_conditional_vae
                # standard sizes · 07_vae_vs_gan
            },
        ),
        "full": Profile(
            name="full",
            description="best quality, all data, many epochs (use a GPU if you have one)",
            train_size=60_000,
            test_size=10_000,
            epochs={
                "dense_ae": 50,
                "conv_ae": 30,
                "vae": 50,
                "conv_vae": 50,
                "cvae": 50,
                "gan": 50,
                "classifier": 15,
                # full epochs · 04_vae_keras
                # full epochs · 05_vae_pytorch
                # full epochs · 06_conditional_vae
                # full epochs · 07_vae_vs_gan
            },
            sizes={
                # full sizes · 04_vae_keras
                # full sizes · 05_vae_pytorch
                # full sizes · 06_conditional_vae
                # full sizes · 07_vae_vs_gan
            },
        ),
    }
)


def get_profile(name: str | None = None) -> Profile:
    """Return the profile called ``name``, or the one chosen by ``VAE_COURSE_PROFILE``.

    Raises:
        ValueError: for a name that is not a profile.
    """
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or DEFAULT
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"Unknown run profile {name!r} (from {ENV_VAR}). "
            f"Choose one of: {', '.join(PROFILES)}."
        ) from None


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and every deep learning framework already imported.

    Frameworks that are not imported yet are left alone, so calling this never
    imports TensorFlow or PyTorch as a side effect.
    """
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)
