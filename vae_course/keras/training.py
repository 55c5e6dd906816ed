"""Training, inference and the model cache for Keras models."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vae_course import cache, diagnostics  # noqa: E402
from vae_course.profiles import get_profile  # noqa: E402

History = dict[str, list[float]]


def _require_int(name: str, value: object, low: int, high: int | None = None) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is an int (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}.")


def fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    epochs: int,
    batch_size: int = 128,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    verbose: int = 2,
    **kwargs: Any,
) -> History:
    """``model.fit(x, y)`` (``y = x`` when None) and its history as a plain dict of lists of floats.

    ``verbose=2`` prints one line per epoch with the losses, which reads well
    in a notebook and in the book; ``verbose=1`` shows Keras's live progress bar.
    The model must be compiled.
    """
    result = model.fit(
        x, x if y is None else y,
        epochs=epochs, batch_size=batch_size, validation_data=validation_data, shuffle=True, verbose=verbose, **kwargs,
    )
    return {key: [float(v) for v in values] for key, values in result.history.items()}


class KLWarmup(keras.callbacks.Callback):
    """A linear KL warm-up for ``fit``: epoch e (from 0) trains with the KL weighted by ``beta * min(1, e / warmup_epochs)``.

    Starting without the KL charge lets the encoder put information into every
    latent dimension before the KL can switch one off (posterior collapse;
    chapter 05 measures it). Only training steps are affected: validation and
    ``evaluate`` report the loss with the model's own ``beta`` (the -ELBO for
    beta = 1), and the model trains with its full ``beta`` again once ``fit``
    ends. TensorFlow compiles the weight into the training step, so the step is
    rebuilt whenever the weight changes (a few seconds, once per warm-up epoch).
    """

    def __init__(self, warmup_epochs: int) -> None:
        super().__init__()
        _require_int("warmup_epochs", warmup_epochs, 0)
        self.warmup_epochs = warmup_epochs

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not getattr(self.model, "supports_kl_warmup", False):
            raise TypeError(f"KLWarmup needs a VAE whose training loss weighs the KL; {type(self.model).__name__} has none.")

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._set_weight(diagnostics.kl_warmup(epoch, self.warmup_epochs))

    def on_train_end(self, logs: dict | None = None) -> None:
        self._set_weight(1.0)

    def _set_weight(self, weight: float) -> None:
        if weight != self.model.kl_weight:
            self.model.kl_weight = weight
            self.model.make_train_function(force=True)


def constant_then_cosine(
    learning_rate: float, *, total_steps: int, decay_steps: int, final_fraction: float = 0.01
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """A learning rate that stays at ``learning_rate``, then falls along half a cosine over the last ``decay_steps``
    optimizer steps of a run of ``total_steps``, to ``final_fraction * learning_rate``.

    With ``decay_steps = 0`` it is the constant ``learning_rate`` itself; with
    ``decay_steps = total_steps`` it is Keras's ``CosineDecay`` over the whole run.
    """
    _require_int("total_steps", total_steps, 1)
    _require_int("decay_steps (at most total_steps)", decay_steps, 0, total_steps)
    if not (learning_rate > 0 and 0 <= final_fraction <= 1):
        raise ValueError(f"need learning_rate > 0 and 0 <= final_fraction <= 1, got {learning_rate!r} and {final_fraction!r}.")
    if decay_steps == 0:
        return learning_rate
    # CosineDecay's linear warm-up from learning_rate to the same learning_rate is the constant stretch.
    return keras.optimizers.schedules.CosineDecay(
        learning_rate, decay_steps, alpha=final_fraction,
        warmup_target=learning_rate, warmup_steps=total_steps - decay_steps,
    )


def predict(model: keras.Model, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """``model(x)`` in inference mode, in batches, as one NumPy array.

    Unlike ``model.predict`` it shows no progress bar and compiles no graph, so
    calling it on many models (or submodels) does not trigger TensorFlow's
    retracing warnings.
    """
    x = np.asarray(x)
    if len(x) == 0:
        raise ValueError("predict() got no inputs.")
    outputs = [keras.ops.convert_to_numpy(model(x[i: i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(outputs)


def _strip_names(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, (list, tuple)):
        return [_strip_names(v) for v in value]
    return value


def _leaf_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    children = getattr(layer, "layers", None)
    if not children:
        return [layer]
    return [leaf for child in children for leaf in _leaf_layers(child)]


def architecture(model: keras.Model) -> str:
    """A description of a model that changes with its layers and sizes but not with Keras's automatic layer names.

    For every layer: its class and its config without names; then the shape of every weight, and
    the model's own settings (e.g. a VAE's ``likelihood`` and ``beta``) when its class defines them.
    """
    described = []
    for layer in _leaf_layers(model):
        try:
            config = _strip_names(layer.get_config())
        except (NotImplementedError, TypeError):
            config = None
        described.append([type(layer).__name__, config])
    shapes = [list(w.shape) for w in model.weights]
    # Only the course's own classes: a functional model's config names its auto-named layers.
    own_config = type(model).get_config
    settings = _strip_names(model.get_config()) if own_config.__module__.startswith("vae_course.") else None
    return json.dumps(
        {"model": type(model).__name__, "layers": described, "weights": shapes, "settings": settings},
        sort_keys=True, default=str,
    )


def _save(model: keras.Model, path: Any) -> None:
    model.save_weights(path)


def _load(model: keras.Model, path: Any) -> None:
    model.load_weights(path)


def train_or_load(
    model: keras.Model,
    train_fn: Callable[[keras.Model], History],
    *,
    name: str,
    config: Mapping[str, Any],
    force: bool = False,
) -> History:
    """Train ``model`` with ``train_fn(model)``, or load its weights if this exact model was trained before.

    The cache key is ``name``, ``config`` (put in it everything else that
    changes the weights: dataset, epochs, seed, ...), the run profile and the
    architecture (:func:`architecture`). Weights are saved as ``.weights.h5``.
    The model must be built (it is, for the models of this package).
    Returns the training history.
    """
    full_config = {"profile": get_profile().name, **config, "framework": "keras", "architecture": architecture(model)}
    return cache.train_or_load(
        model, train_fn, name=name, config=full_config, save=_save, load=_load, suffix=".weights.h5", force=force
    )
