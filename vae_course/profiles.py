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
    """Sizes of named experiments, e.g. ``profile.sizes["ch04_settings"]``: read a training subset with
    :meth:`size` and a number of test images (or of samples compared with them) with :meth:`test_images`."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "epochs", MappingProxyType(dict(self.epochs)))
        object.__setattr__(self, "sizes", MappingProxyType(dict(self.sizes)))

    def size(self, experiment: str) -> int:
        """The size of ``experiment``: its entry in ``sizes``, else ``train_size``, never more than ``train_size``."""
        return min(self.sizes.get(experiment, self.train_size), self.train_size)

    def test_images(self, experiment: str) -> int:
        """The number of test images for ``experiment``: its entry in ``sizes``, else ``test_size``, never more than
        ``test_size``."""
        return min(self.sizes.get(experiment, self.test_size), self.test_size)

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
                "ch02_models": 1,
                "ch04_main": 1,
                "ch04_main_warmup": 0,
                "ch04_main_lr_decay": 0,
                "ch04_fashion": 1,
                "ch04_settings": 1,
                "ch05_loop": 1,
                "ch05_conv": 1,
                "ch05_mlp": 1,
                "ch05_collapse": 1,
                "ch06_cvae": 1,
                "ch07_models": 1,
            },
            sizes={
                "ch04_main": 512,
                "ch04_fashion": 256,
                "ch04_settings": 128,
                "ch04_mlp": 256,
                "ch04_iwae_images": 32,
                "ch04_validation": 128,
                "ch04_settings_test": 128,
                "ch04_test": 512,
                "ch05_loop": 256,
                "ch05_conv": 512,
                "ch05_mlp": 2_048,
                "ch05_collapse": 1_024,
                "ch05_gaussian": 2_048,
                "ch06_probe": 2_048,
                "ch07_train": 512,
                "ch07_samples": 300,
                "ch07_failure": 128,
                "ch07_iwae": 16,
            },
        ),
        "standard": Profile(
            name="standard",
            description="at most 5 minutes per chapter on a 2-core laptop CPU",
            train_size=20_000,
            test_size=10_000,
            epochs={
                "dense_ae": 10,
                "conv_ae": 3,
                "vae": 10,
                "conv_vae": 10,
                "cvae": 10,
                "gan": 10,
                "classifier": 8,
                "ch02_models": 6,
                "ch04_main": 2,
                "ch04_main_warmup": 1,
                "ch04_main_lr_decay": 0,  # a two-epoch run is still far from its optimum: smaller steps only slow it
                "ch04_fashion": 4,
                "ch04_settings": 3,
                "ch05_loop": 2,
                "ch05_conv": 3,
                "ch05_mlp": 10,
                "ch05_collapse": 10,
                "ch06_cvae": 14,
                "ch07_models": 3,
            },
            sizes={
                "ch04_main": 12_000,
                "ch04_fashion": 2_000,
                "ch04_settings": 500,
                "ch04_mlp": 3_000,
                "ch04_iwae_images": 200,
                "ch04_validation": 500,
                "ch04_settings_test": 2_000,
                "ch04_test": 3_000,
                "ch05_loop": 4_000,
                "ch05_conv": 10_000,
                "ch05_mlp": 20_000,
                "ch05_collapse": 6_000,
                "ch05_gaussian": 6_000,
                "ch06_probe": 10_000,
                "ch07_train": 4_500,
                "ch07_samples": 1_500,
                "ch07_failure": 1_024,
                "ch07_iwae": 200,
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
                "ch02_models": 50,
                "ch04_main": 50,
                "ch04_main_warmup": 2,
                "ch04_main_lr_decay": 50,  # the last epochs, over which the learning rate falls along a cosine
                "ch04_fashion": 50,
                "ch04_settings": 10,
                "ch05_loop": 10,
                "ch05_conv": 50,
                "ch05_mlp": 10,  # pytorch/examples' configuration, whose 105.6 nats the chapter compares with
                "ch05_collapse": 30,
                "ch06_cvae": 20,
                "ch07_models": 30,
            },
            sizes={
                "ch04_main": 60_000,
                "ch04_fashion": 60_000,
                "ch04_settings": 60_000,
                "ch04_mlp": 60_000,
                "ch04_iwae_images": 10_000,
                "ch04_validation": 10_000,
                "ch04_settings_test": 10_000,
                "ch04_test": 10_000,
                "ch05_loop": 60_000,
                "ch05_conv": 60_000,
                "ch05_mlp": 60_000,
                "ch05_collapse": 60_000,
                "ch05_gaussian": 60_000,
                "ch06_probe": 20_000,
                "ch07_train": 60_000,
                "ch07_samples": 10_000,
                "ch07_failure": 8_192,
                "ch07_iwae": 5_000,
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
        if "tensorflow" in sys.modules:
            sys.modules["keras"].utils.set_random_seed(seed)
        else:  # Keras's own function would import TensorFlow to seed it, even under the torch backend
            _reset_keras_seed(seed)


def _reset_keras_seed(seed: int) -> None:
    """The part of ``keras.utils.set_random_seed`` that is Keras's own: the seed of ``keras.random`` calls made
    without a ``SeedGenerator``."""
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
