"""A small, generic PyTorch training loop, batched inference, and the model cache.

:func:`train` works for any model and any loss function with the signature
``loss_fn(model, x_batch, target_batch) -> scalar tensor`` (the autoencoder's
:func:`~vae_course.torch.autoencoders.ae_loss`, and later the VAE's loss). The
whole dataset is moved to the device once and sliced into batches, which is
much faster than a ``DataLoader`` for arrays that fit in memory. On the CPU,
image batches and convolution weights are kept in the channels-last memory
format while training (oneDNN's convolutions are faster in it): the model
computes the same numbers, and gets its usual layout back afterwards
(:data:`CHANNELS_LAST` turns this off). ``python -m vae_course.bench``
measures what each of these choices gives.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from vae_course import cache
from vae_course.inputs import check_shape, check_values
from vae_course.profiles import get_profile
from vae_course.progress import tqdm

History = dict[str, list[float]]
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], "torch.Tensor | Mapping[str, torch.Tensor]"]
"""``loss_fn(model, x_batch, target_batch)``: the batch's mean loss, or a dict of mean terms with it under ``"loss"``."""
EvaluateFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], Mapping[str, float]]
ArrayLike = np.ndarray | torch.Tensor

CHANNELS_LAST = True
"""Train models on (N, C, H, W) images in ``torch.channels_last`` memory format on the CPU (see the module docstring)."""


def device() -> torch.device:
    """The GPU when PyTorch can use one, else the CPU."""
    return _default_device()


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _model_device(model: nn.Module) -> torch.device:
    return next(iter(model.parameters()), torch.empty(0)).device


def as_tensor(x: ArrayLike, *, name: str = "x") -> torch.Tensor:
    """float32 CPU tensor of a NumPy array or tensor, refusing integer pixels (they need scaling first)."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:
        t = torch.from_numpy(np.ascontiguousarray(np.asarray(x)))
    if not t.is_floating_point():
        raise ValueError(
            f"{name} has dtype {str(t.dtype).removeprefix('torch.')}; the models expect float32 pixels in [0, 1]. "
            "Scale uint8 images with vae_course.data.scale(x) first."
        )
    return t.float()


def check_images(
    x: torch.Tensor,
    model: nn.Module,
    *,
    name: str = "x",
    value_range: tuple[float, float] | None = (0.0, 1.0),
) -> None:
    """Raise a ``ValueError`` that says what to do when ``x`` does not suit ``model``.

    Checks the shape against ``model.input_shape`` (when the model has one),
    that every value is finite and, unless ``value_range`` is None, that the
    values lie in ``value_range``.
    """
    if len(x) == 0:
        raise ValueError(f"{name} is empty.")
    expected = getattr(model, "input_shape", None)
    if expected is not None:
        check_shape(name, tuple(x.shape), expected, model_name=type(model).__name__, layout="nchw")
    finite = bool(torch.isfinite(x).all())
    check_values(
        name, float(x.min()), float(x.max()), finite=finite, value_range=value_range, purpose="a sigmoid/BCE autoencoder"
    )


def _prepare(x: ArrayLike, model: nn.Module, name: str, value_range: tuple[float, float] | None) -> torch.Tensor:
    t = as_tensor(x, name=name)
    check_images(t, model, name=name, value_range=value_range)
    return t


def _prepare_target(y: ArrayLike, x: torch.Tensor, model: nn.Module, name: str, value_range: tuple[float, float] | None) -> torch.Tensor:
    """Targets shaped like the inputs are checked like images; others (labels, say) only for length and finiteness."""
    t = y.detach().cpu() if isinstance(y, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(np.asarray(y)))
    if len(t) != len(x):
        raise ValueError(f"The inputs hold {len(x)} examples but {name} holds {len(t)}.")
    if tuple(t.shape) == tuple(x.shape):
        return _prepare(t, model, name, value_range)
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return t


def _use_channels_last(model: nn.Module, x: torch.Tensor, dev: torch.device) -> bool:
    """Whether to train in channels-last: images (N, C, H, W) on the CPU, and a model with 4-D (convolution) weights."""
    return CHANNELS_LAST and dev.type == "cpu" and x.dim() == 4 and any(p.dim() == 4 for p in model.parameters())


def _to_channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def train(
    model: nn.Module,
    x_train: ArrayLike,
    *,
    epochs: int,
    batch_size: int,
    loss_fn: LossFn,
    lr: float = 1e-3,
    x_target: ArrayLike | None = None,
    validation: ArrayLike | tuple[ArrayLike, ArrayLike] | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    evaluate_fn: EvaluateFn | None = None,
    progress: bool = True,
) -> History:
    """Train ``model`` in place with Adam; return the per-epoch means of every loss term.

    The history holds ``loss`` (and every other term ``loss_fn`` returns,
    e.g. a VAE's ``reconstruction`` and ``kl``), and with ``validation`` the
    same keys prefixed ``val_``.

    Args:
        x_train: the inputs, e.g. (N, 1, 28, 28) images in [0, 1].
        loss_fn: ``loss_fn(model, x_batch, target_batch)``: the mean loss of a
            batch, or a dict of mean terms with the loss under ``"loss"``.
        x_target: the target of each input, passed to ``loss_fn``: ``x_train``
            itself when None (a plain autoencoder), the clean images for a
            denoising one. Targets shaped like the inputs are checked like them.
        validation: validation inputs, or a pair (inputs, targets); its loss is
            computed after every epoch.
        device: where to train; :func:`device` (the GPU if any) when None.
        seed: seeds the shuffling of the batches.
        value_range: the range every input and target must lie in (None: any).
        evaluate_fn: ``evaluate_fn(model, x_val, target_val)`` -> mean terms of the
            validation set; :func:`evaluate_terms` with ``loss_fn`` when None.
        progress: show a progress bar per epoch.

    Raises:
        ValueError: inputs of the wrong shape, dtype or range.
        FloatingPointError: the loss became NaN or infinite.
    """
    dev = torch.device(device) if device is not None else _default_device()
    x = _prepare(x_train, model, "x_train", value_range)
    target = x if x_target is None else _prepare_target(x_target, x, model, "x_target", value_range)
    x, target = x.to(dev), target.to(dev)
    x_val = t_val = None
    if isinstance(validation, tuple):
        x_val = _prepare(validation[0], model, "validation inputs", value_range)
        t_val = _prepare_target(validation[1], x_val, model, "validation targets", value_range).to(dev)
        x_val = x_val.to(dev)
    elif validation is not None:
        x_val = t_val = _prepare(validation, model, "validation", value_range).to(dev)

    model.to(dev)
    channels_last = _use_channels_last(model, x, dev)
    if channels_last:
        x, target = _to_channels_last(x), _to_channels_last(target)
        if x_val is not None:
            x_val, t_val = _to_channels_last(x_val), _to_channels_last(t_val)
        model.to(memory_format=torch.channels_last)
    try:
        return _train_loop(
            model, x, target, x_val, t_val, epochs=epochs, batch_size=batch_size, loss_fn=loss_fn, lr=lr, dev=dev, seed=seed,
            evaluate_fn=evaluate_fn, progress=progress,
        )
    finally:
        if channels_last:
            model.to(memory_format=torch.contiguous_format)  # the usual layout back: same values
        model.eval()


def _train_loop(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    x_val: torch.Tensor | None,
    t_val: torch.Tensor | None,
    *,
    epochs: int,
    batch_size: int,
    loss_fn: LossFn,
    lr: float,
    dev: torch.device,
    seed: int,
    evaluate_fn: EvaluateFn | None,
    progress: bool,
) -> History:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    if evaluate_fn is None:
        def evaluate_fn(m: nn.Module, x_v: torch.Tensor, t_v: torch.Tensor) -> dict[str, float]:
            return evaluate_terms(m, x_v, t_v, loss_fn=loss_fn, batch_size=max(batch_size, 512))
    history: History = {"loss": []} if x_val is None else {"loss": [], "val_loss": []}
    n_batches = math.ceil(len(x) / batch_size)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator).to(dev)
        totals: dict[str, float] = {}
        seen = 0
        bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress)
        for b in range(n_batches):
            index = order[b * batch_size: (b + 1) * batch_size]
            terms = _terms(loss_fn(model, x[index], target[index]))
            values = {key: float(term.detach()) for key, term in terms.items()}
            if not math.isfinite(values["loss"]):
                bar.close()
                raise FloatingPointError(
                    f"The loss became {values['loss']} at epoch {epoch + 1}, batch {b + 1}. Try a lower learning rate "
                    f"(lr={lr:g}), check that the inputs and targets are finite and in the range the loss expects "
                    "([0, 1] for binary cross-entropy), and that the loss gets what it expects (logits or probabilities). "
                    "For a VAE whose z_log_var explodes, clip the gradients or clamp z_log_var."
                )
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            seen += len(index)
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value * len(index)
            bar.update()
            bar.set_postfix({key: f"{total / seen:.4g}" for key, total in totals.items()}, refresh=False)
        for key, total in totals.items():
            history.setdefault(key, []).append(total / seen)
        if x_val is not None:
            for key, value in evaluate_fn(model, x_val, t_val).items():
                history.setdefault(f"val_{key}", []).append(value)
            bar.set_postfix(loss=f"{history['loss'][-1]:.4g}", val_loss=f"{history['val_loss'][-1]:.4g}")
        bar.close()
    return history


def _terms(output: torch.Tensor | Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
    return output if isinstance(output, Mapping) else {"loss": output}


@torch.no_grad()
def evaluate_terms(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, loss_fn: LossFn, batch_size: int = 512
) -> dict[str, float]:
    """Mean of every loss term over a dataset (tensors already on the model's device), in eval mode."""
    model.eval()
    totals: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        n = len(x[i: i + batch_size])
        for key, term in _terms(loss_fn(model, x[i: i + batch_size], target[i: i + batch_size])).items():
            totals[key] = totals.get(key, 0.0) + float(term) * n
    return {key: total / len(x) for key, total in totals.items()}


def evaluate(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, loss_fn: LossFn, batch_size: int = 512) -> float:
    """Mean loss over a dataset (tensors already on the model's device), in eval mode."""
    return evaluate_terms(model, x, target, loss_fn=loss_fn, batch_size=batch_size)["loss"]


@torch.no_grad()
def predict(
    model: nn.Module,
    x: ArrayLike,
    *,
    fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 512,
    check: bool = True,
) -> np.ndarray:
    """``fn(model, batch)`` (default: ``model(batch)``) over ``x`` in batches, in eval mode, as one NumPy array."""
    model.eval()
    dev = _model_device(model)
    t = _prepare(x, model, "x", None) if check else as_tensor(x)
    fn = fn or (lambda m, batch: m(batch))
    outputs = [fn(model, t[i: i + batch_size].to(dev)).cpu() for i in range(0, len(t), batch_size)]
    return torch.cat(outputs).numpy()


def encode(model: nn.Module, x: ArrayLike, *, batch_size: int = 512) -> np.ndarray:
    """Codes ``z = model.encoder(x)`` as a NumPy array."""
    return predict(model, x, fn=lambda m, batch: m.encoder(batch), batch_size=batch_size)


def decode(model: nn.Module, z: ArrayLike, *, batch_size: int = 512) -> np.ndarray:
    """Images in [0, 1], ``sigmoid(model.decoder(z))``, as a NumPy array."""
    return predict(model, z, fn=lambda m, batch: torch.sigmoid(m.decoder(batch)), batch_size=batch_size, check=False)


def reconstruct(model: nn.Module, x: ArrayLike, *, batch_size: int = 512) -> np.ndarray:
    """Reconstructions in [0, 1], ``sigmoid(model(x))``, as a NumPy array."""
    return predict(model, x, fn=lambda m, batch: torch.sigmoid(m(batch)), batch_size=batch_size)


def _save(model: nn.Module, path: Any) -> None:
    torch.save(model.state_dict(), path)


def _load(model: nn.Module, path: Any) -> None:
    state = torch.load(path, map_location=_model_device(model), weights_only=True)
    model.load_state_dict(state)
    model.eval()


def train_or_load(
    model: nn.Module,
    train_fn: Callable[[nn.Module], History],
    *,
    name: str,
    config: Mapping[str, Any],
    force: bool = False,
) -> History:
    """Train ``model`` with ``train_fn(model)``, or load its weights if this exact model was trained before.

    The cache key is ``name``, ``config`` (put in it everything else that
    changes the weights: dataset, epochs, seed, ...), the run profile and the
    architecture (``str(model)``). Weights are a ``state_dict`` saved with
    ``torch.save`` and read back with ``torch.load(weights_only=True)``.
    Returns the training history.
    """
    full_config = {"profile": get_profile().name, **config, "framework": "torch", "architecture": str(model)}
    return cache.train_or_load(
        model, train_fn, name=name, config=full_config, save=_save, load=_load, suffix=".pt", force=force
    )
