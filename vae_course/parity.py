"""Copy a VAE's weights between Keras and PyTorch, for tests and for the notebooks that compare frameworks.

This module imports **both** frameworks; :mod:`vae_course.keras` and
:mod:`vae_course.torch` never import it, so importing one of them still never
imports the other. The arithmetic of each layer's conversion lives in the
framework-free :mod:`vae_course.convert`; this module only reads and writes
the weights, layer by layer, in the order both models list them with
``model.weight_layers()``.

After :func:`keras_to_torch` (or :func:`torch_to_keras`) the two models
compute the same encoder outputs, decoder outputs and ELBO for the same
inputs and the same eps, up to float32 rounding; images are NHWC for Keras and
NCHW for PyTorch (:func:`vae_course.convert.nhwc_to_nchw`).
"""

from __future__ import annotations

import numpy as np
import torch

from vae_course import convert
from vae_course.keras import vae as keras_vae
from vae_course.torch import vae as torch_vae

__all__ = ["keras_to_torch", "torch_to_keras"]


def _pairs(keras_model: keras_vae.VAE, torch_model: torch_vae.VAE) -> list[tuple[str, convert.Port, object, torch.nn.Module]]:
    if type(keras_model).__name__ != type(torch_model).__name__:
        raise TypeError(f"Cannot copy a Keras {type(keras_model).__name__} into a PyTorch {type(torch_model).__name__}.")
    keras_layers, torch_layers = keras_model.weight_layers(), torch_model.weight_layers()
    if [(n, p) for n, p, _ in keras_layers] != [(n, p) for n, p, _ in torch_layers]:
        raise ValueError("The two models list different weight layers; were they built with the same arguments?")
    return [(name, port, k, t) for (name, port, k), (_, _, t) in zip(keras_layers, torch_layers)]


def _same_settings(source, target) -> None:
    for attribute in ("latent_dim", "likelihood", "std"):
        if getattr(source, attribute) != getattr(target, attribute):
            raise ValueError(
                f"The models differ in {attribute}: {getattr(source, attribute)!r} vs {getattr(target, attribute)!r}."
            )


def keras_to_torch(keras_model: keras_vae.VAE, torch_model: torch_vae.VAE) -> torch_vae.VAE:
    """Copy every weight of a Keras VAE into the PyTorch VAE of the same class and sizes; returns ``torch_model``."""
    _same_settings(keras_model, torch_model)
    with torch.no_grad():
        for name, port, k_layer, t_layer in _pairs(keras_model, torch_model):
            weight, bias = convert.keras_to_torch(port, np.asarray(k_layer.kernel), np.asarray(k_layer.bias))
            for param, value, what in ((t_layer.weight, weight, "weight"), (t_layer.bias, bias, "bias")):
                if tuple(param.shape) != value.shape:
                    raise ValueError(f"{name}.{what}: PyTorch has shape {tuple(param.shape)}, converted Keras {value.shape}.")
                param.copy_(torch.from_numpy(value).to(param.dtype))
    return torch_model


def torch_to_keras(torch_model: torch_vae.VAE, keras_model: keras_vae.VAE) -> keras_vae.VAE:
    """Copy every weight of a PyTorch VAE into the Keras VAE of the same class and sizes; returns ``keras_model``."""
    _same_settings(torch_model, keras_model)
    for name, port, k_layer, t_layer in _pairs(keras_model, torch_model):
        kernel, bias = convert.torch_to_keras(
            port, t_layer.weight.detach().cpu().numpy(), t_layer.bias.detach().cpu().numpy()
        )
        for variable, value, what in ((k_layer.kernel, kernel, "kernel"), (k_layer.bias, bias, "bias")):
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"{name}.{what}: Keras has shape {tuple(variable.shape)}, converted PyTorch {value.shape}.")
            variable.assign(value.astype(np.float32))
    return keras_model
