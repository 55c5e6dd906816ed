"""The per-user cache: downloaded datasets and trained models.

Trained models are keyed on everything that changes them (model name and
architecture, configuration, dataset, run profile, seed), so re-running a
notebook cell or building the book loads a model instead of retraining it.
Set ``VAE_COURSE_CACHE`` to move the cache, and ``VAE_COURSE_RETRAIN=1`` (or
pass ``force=True``) to retrain anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import platformdirs

CACHE_ENV_VAR = "VAE_COURSE_CACHE"
RETRAIN_ENV_VAR = "VAE_COURSE_RETRAIN"

Model = TypeVar("Model")
History = dict[str, list[float]]


def cache_dir() -> Path:
    """Root of the cache: ``$VAE_COURSE_CACHE`` or the platform's user cache folder."""
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    return platformdirs.user_cache_path("vae_course")


def cache_key(config: Mapping[str, Any]) -> str:
    """A short, stable digest of a JSON-serialisable configuration."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_or_load(
    model: Model,
    train: Callable[[Model], History],
    *,
    name: str,
    config: Mapping[str, Any],
    save: Callable[[Model, Path], None],
    load: Callable[[Model, Path], None],
    suffix: str,
    force: bool = False,
) -> History:
    """Train ``model`` in place with ``train(model)``, or load its weights from the cache.

    ``config`` must hold everything that changes the trained weights. A cached
    file that cannot be loaded (corrupt, or from a different architecture) is
    reported and retrained, never used silently. Returns the training history.
    """
    folder = cache_dir() / "models"
    stem = f"{name}-{cache_key({'name': name, **config})}"
    weights, history_file = folder / f"{stem}{suffix}", folder / f"{stem}.history.json"
    force = force or os.environ.get(RETRAIN_ENV_VAR, "") not in ("", "0")
    if not force and weights.exists() and history_file.exists():
        try:
            load(model, weights)
            history = json.loads(history_file.read_text())
            print(f"Loaded trained {name} from the cache ({weights.name}); pass force=True to retrain.")
            return history
        except Exception as error:  # noqa: BLE001 - any failure means: retrain
            print(f"The cached {name} at {weights} could not be loaded ({error}); retraining it.")
    history = train(model)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_name(f".{weights.stem}.tmp{suffix}")
    save(model, tmp)
    os.replace(tmp, weights)
    history_file.write_text(json.dumps(history))
    return history
