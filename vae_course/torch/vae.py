"""Variational autoencoders in PyTorch: an MLP one and the classic convolutional one.

The Keras models of :mod:`vae_course.keras.vae` have the same class names,
constructor arguments, methods and parameter counts, and compute the same
numbers once their weights are copied (:mod:`vae_course.parity`).

Conventions:

- inputs are float32: flat ``(N, 784)`` for :class:`MLPVAE`, channels-first
  ``(N, 1, 28, 28)`` for :class:`ConvVAE`; in [0, 1] for the Bernoulli
  likelihood;
- ``model.encode(x)`` gives ``(z_mean, z_log_var)``, the mean and the
  *log-variance* of the diagonal Gaussian q(z|x);
- ``model.decode(z)`` gives the decoder's raw output: **logits** for the
  Bernoulli likelihood, the **mean** of the Gaussian for the Gaussian one;
- ``model(x)`` is ``decode(z_mean)`` (a deterministic reconstruction, raw
  outputs) and ``model.reconstruct(x)`` the same as pixel values (sigmoid of
  the logits, or the Gaussian mean);
- every quantity is in **nats**: the reconstruction term is the negative
  log-likelihood summed over the pixels of an image, the KL is summed over the
  latent dimensions, and batch values are means over images. They agree with
  the NumPy references of :mod:`vae_course.theory`.

The ELBO is always estimated at a *sampled* z = z_mean + exp(z_log_var / 2) * eps,
never at z_mean; pass ``eps`` to make it a deterministic function of the noise.

Two kinds of MNIST are in use, and their numbers differ by tens of nats: the
default trains on the continuous pixels in [0, 1] (the binary cross-entropy
of pytorch/examples and Keras), ``binarize=True`` on **dynamically binarised**
images, each training batch redrawn as Bernoulli(pixel intensity) (the
benchmark of the VAE and IWAE papers). Evaluate a binarised model on a test
set binarised once, ``vae_course.data.binarize(x_test, rng)``, and say which
kind a number is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vae_course.convert import Port
from vae_course.inputs import LIKELIHOODS, check_vae_settings
from vae_course.torch.training import History, as_tensor, check_images, evaluate_terms, train

__all__ = [
    "CONV_FEATURE_SHAPE",
    "ConvVAE",
    "LIKELIHOODS",
    "MLPVAE",
    "VAE",
    "bernoulli_nll",
    "gaussian_kl",
    "gaussian_nll",
    "iwae_bound",
    "negative_elbo",
    "reparameterize",
    "train_epoch",
    "vae_evaluate",
    "vae_loss_fn",
    "vae_train",
]

CONV_FEATURE_SHAPE = (64, 14, 14)
"""Channels-first shape of the last feature map of :class:`ConvVAE`'s encoder (and of its decoder's first)."""
LOG_2PI = math.log(2.0 * math.pi)
ArrayLike = np.ndarray | torch.Tensor


# --- the three terms, one value per image -----------------------------------------------------------


def gaussian_kl(z_mean: torch.Tensor, z_log_var: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(N(z_mean, diag(exp(z_log_var))) || N(0, I)) per example, summed over the last axis.

    ``0.5 * sum(exp(z_log_var) - 1 - z_log_var + z_mean**2)``, with ``expm1``
    so that it stays accurate when q is close to the prior.
    """
    return 0.5 * (torch.expm1(z_log_var) - z_log_var + z_mean.square()).sum(-1)


def bernoulli_nll(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """-log p(x | logits) of independent Bernoulli pixels, summed over every axis but the first.

    Binary cross-entropy from logits in its stable form
    ``max(l, 0) - l*x + log(1 + exp(-|l|))``: finite and exact for logits of +-1000.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, std: float) -> torch.Tensor:
    """-log N(x; mean, std**2 I) summed over every axis but the first: a true negative log-density.

    ``sum((x - mean)**2) / (2 std**2) + D log(std) + D/2 log(2 pi)`` for ``D`` pixels.
    """
    z = (x - mean) / std
    return (0.5 * z.square() + math.log(std) + 0.5 * LOG_2PI).flatten(1).sum(1)


# --- the models -------------------------------------------------------------------------------------


class _Encoder(nn.Module):
    """A body followed by two linear heads; returns ``(z_mean, z_log_var)``."""

    def __init__(self, body: nn.Module, width: int, latent_dim: int) -> None:
        super().__init__()
        self.body = body
        self.z_mean = nn.Linear(width, latent_dim)
        self.z_log_var = nn.Linear(width, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.z_mean(h), self.z_log_var(h)


class _CropBottomRight(nn.Module):
    """Drop the last row and column of a feature map.

    ``ConvTranspose2d(k=3, stride=2, padding=0)`` maps a side n to 2n + 1;
    Keras/TensorFlow's ``"same"`` keeps the first 2n positions. (PyTorch's
    ``padding=1, output_padding=1`` also gives 2n, but keeps positions 1..2n:
    the same shape, shifted by one pixel.)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., :-1, :-1]


class VAE(nn.Module):
    """What every VAE here shares: sampling, the ELBO and its terms, input checks.

    Subclasses set ``encoder`` (returning ``(z_mean, z_log_var)``), ``decoder``
    (returning logits or Gaussian means), ``input_shape`` (the shape of one
    example, used by :func:`vae_course.torch.training.check_images`) and
    ``latent_dim``. ``data_shape`` is ``input_shape``, under the name the
    Keras models use.
    """

    encoder: nn.Module
    decoder: nn.Module
    input_shape: tuple[int, ...]
    latent_dim: int

    def __init__(self, likelihood: str = "bernoulli", std: float = 0.5, beta: float = 1.0, binarize: bool = False) -> None:
        super().__init__()
        check_vae_settings(likelihood, std, beta, binarize)
        self.likelihood, self.std, self.beta, self.binarize = likelihood, float(std), float(beta), bool(binarize)

    @property
    def data_shape(self) -> tuple[int, ...]:
        """The shape of one example: (784,) or (1, 28, 28)."""
        return self.input_shape

    def extra_repr(self) -> str:
        # part of str(model), hence of the train_or_load cache key
        std = f", std={self.std:g}" if self.likelihood == "gaussian" else ""
        binarize = ", binarize=True" if self.binarize else ""
        return f"likelihood={self.likelihood!r}{std}, beta={self.beta:g}{binarize}"

    # -- input checks --------------------------------------------------------------------------------

    @property
    def value_range(self) -> tuple[float, float] | None:
        """The range inputs must lie in: [0, 1] for the Bernoulli likelihood, any for the Gaussian one."""
        return (0.0, 1.0) if self.likelihood == "bernoulli" else None

    def _check_shape(self, x: Any, name: str = "x") -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            x = as_tensor(x, name=name)
        elif not x.is_floating_point():
            raise ValueError(
                f"{name} has dtype {str(x.dtype).removeprefix('torch.')}; the models expect float32 pixels in [0, 1]. "
                "Scale uint8 images with vae_course.data.scale(x) first."
            )
        elif x.dtype == torch.float64:
            x = x.float()
        if tuple(x.shape[1:]) != self.input_shape:
            check_images(x, self, name=name, value_range=None)  # raises with a hint (channels-last, flatten, ...)
        return x

    def check_inputs(self, x: Any, name: str = "x") -> torch.Tensor:
        """``x`` as a float tensor, or a ``ValueError`` saying what is wrong: dtype, shape, NaN, range."""
        x = self._check_shape(x, name)
        check_images(x.detach(), self, name=name, value_range=self.value_range)
        return x

    # -- the model ------------------------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z_mean, z_log_var)`` of q(z|x), each of shape (N, latent_dim)."""
        return self.encoder(self._check_shape(x))

    def reparameterize(
        self, z_mean: torch.Tensor, z_log_var: torch.Tensor, eps: ArrayLike | None = None
    ) -> torch.Tensor:
        """A sample z = z_mean + exp(0.5 * z_log_var) * eps of q(z|x), differentiable in z_mean and z_log_var.

        ``eps`` defaults to fresh N(0, I) noise (``torch.randn_like``); it may
        carry extra leading sample axes.
        """
        if eps is None:
            eps = torch.randn_like(z_mean)
        else:
            eps = torch.as_tensor(eps, dtype=z_mean.dtype, device=z_mean.device)
        return z_mean + torch.exp(0.5 * z_log_var) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output for codes ``z``: logits (Bernoulli) or means (Gaussian)."""
        if not isinstance(z, torch.Tensor):
            z = torch.as_tensor(np.asarray(z), dtype=torch.float32, device=next(self.parameters()).device)
        return self.decoder(z)

    def output_to_image(self, output: torch.Tensor) -> torch.Tensor:
        """Pixel values from the decoder's raw output: ``sigmoid(logits)`` or the Gaussian mean itself."""
        return torch.sigmoid(output) if self.likelihood == "bernoulli" else output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw decoder output (logits or means) at z = z_mean: a deterministic reconstruction."""
        z_mean, _ = self.encode(x)
        return self.decode(z_mean)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructed pixels (the image of :meth:`forward`): probabilities for the Bernoulli likelihood."""
        return self.output_to_image(self(x))

    def generate(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` new images: decode z ~ N(0, I) and return pixel values (``seed`` makes them reproducible)."""
        device = next(self.parameters()).device
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.output_to_image(self.decode(z))

    # -- the bound ------------------------------------------------------------------------------------

    def negative_log_likelihood(self, x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per image in nats, from the decoder's output for z."""
        if self.likelihood == "bernoulli":
            return bernoulli_nll(x, output)
        return gaussian_nll(x, output, self.std)

    def _terms(self, x: Any, eps: ArrayLike | None, check: bool) -> dict[str, torch.Tensor]:
        x = self.check_inputs(x) if check else x
        z_mean, z_log_var = self.encoder(x)
        z = self.reparameterize(z_mean, z_log_var, eps)
        return {
            "reconstruction": self.negative_log_likelihood(x, self.decode(z)),
            "kl": gaussian_kl(z_mean, z_log_var),
        }

    def elbo(self, x: Any, *, eps: ArrayLike | None = None, check: bool = True) -> torch.Tensor:
        """One-sample reparameterised ELBO estimate per image, shape (N,), in nats (beta is not applied).

        ``log p(x|z) - KL(q(z|x) || N(0, I))`` at z = z_mean + exp(z_log_var / 2) * eps,
        the KL in closed form.
        """
        terms = self._terms(x, eps, check)
        return -terms["reconstruction"] - terms["kl"]

    def vae_loss(
        self, x: Any, *, eps: ArrayLike | None = None, beta: float | None = None, check: bool = True
    ) -> dict[str, torch.Tensor]:
        """The training objective and its parts for one batch, each a mean over the images (scalar tensors).

        ``reconstruction``: -log p(x|z) at a sampled z, summed over pixels;
        ``kl``: closed-form KL summed over latent dimensions;
        ``loss = reconstruction + beta * kl``, which is -ELBO for beta = 1
        (``beta`` defaults to ``model.beta``). ``check=False`` skips the input
        checks (for a training loop that checked the whole dataset). A model
        with ``binarize=True`` in training mode first redraws the batch as
        Bernoulli(x), a fresh binary image at every call.
        """
        if self.binarize and self.training:
            x = torch.bernoulli(self.check_inputs(x) if check else x)
            check = False
        terms = self._terms(x, eps, check)
        beta = self.beta if beta is None else float(beta)
        reconstruction, kl = terms["reconstruction"].mean(), terms["kl"].mean()
        return {"loss": reconstruction + beta * kl, "reconstruction": reconstruction, "kl": kl}

    def log_weights(self, x: Any, k: int, *, eps: ArrayLike | None = None, check: bool = True) -> torch.Tensor:
        """Importance log-weights ``log p(x, z_k) - log q(z_k|x)`` for K samples z_k ~ q(z|x): shape (K, N).

        ``eps`` (shape (K, N, latent_dim)) fixes the noise. Since
        z = z_mean + sigma * eps, log p(z) - log q(z|x) = 0.5 * sum(eps**2 + z_log_var - z**2)
        (the log 2 pi terms cancel).
        """
        x = self.check_inputs(x) if check else x
        if k < 1:
            raise ValueError(f"k (the number of importance samples) must be at least 1, got {k}.")
        z_mean, z_log_var = self.encoder(x)
        if eps is None:
            eps = torch.randn(k, *z_mean.shape, device=z_mean.device, dtype=z_mean.dtype)
        eps = torch.as_tensor(eps, dtype=z_mean.dtype, device=z_mean.device)
        if eps.shape != (k, *z_mean.shape):
            raise ValueError(f"eps must have shape (k, N, latent_dim) = {(k, *z_mean.shape)}, got {tuple(eps.shape)}.")
        z = self.reparameterize(z_mean, z_log_var, eps)  # (K, N, d)
        output = self.decode(z.reshape(-1, z.shape[-1]))
        x_k = x.unsqueeze(0).expand(k, *x.shape).reshape(-1, *x.shape[1:])
        log_px_z = -self.negative_log_likelihood(x_k, output).reshape(k, -1)
        log_pz_minus_log_q = 0.5 * (eps.square() + z_log_var - z.square()).sum(-1)
        return log_px_z + log_pz_minus_log_q

    def iwae_bound(self, x: Any, k: int, *, eps: ArrayLike | None = None, check: bool = True) -> torch.Tensor:
        """The K-sample importance-weighted bound per image, shape (N,): see :func:`iwae_bound`."""
        log_w = self.log_weights(x, k, eps=eps, check=check)
        return torch.logsumexp(log_w, dim=0) - math.log(k)

    def weight_layers(self) -> list[tuple[str, Port, nn.Module]]:
        """Every weight layer in order, with its name and how to port it to Keras (:mod:`vae_course.convert`)."""
        raise NotImplementedError


class MLPVAE(VAE):
    """784 -> ``hidden`` ReLU -> (z_mean, z_log_var); ``latent_dim`` -> ``hidden`` ReLU -> 784 outputs.

    The outputs are logits for ``likelihood="bernoulli"`` and the means of a
    Gaussian of fixed standard deviation ``std`` for ``likelihood="gaussian"``.
    Inputs are flat images, (N, 784).
    """

    def __init__(
        self,
        hidden: int = 400,
        latent_dim: int = 20,
        likelihood: str = "bernoulli",
        std: float = 0.5,
        beta: float = 1.0,
        input_dim: int = 784,
        binarize: bool = False,
    ) -> None:
        super().__init__(likelihood, std, beta, binarize)
        self.hidden, self.latent_dim, self.input_dim, self.input_shape = hidden, latent_dim, input_dim, (input_dim,)
        self.encoder = _Encoder(nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU()), hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, input_dim))

    def weight_layers(self) -> list[tuple[str, Port, nn.Module]]:
        return mlp_encoder_layers(self.encoder) + mlp_decoder_layers(self.decoder)


def mlp_encoder_layers(encoder: nn.Module) -> list[tuple[str, Port, nn.Module]]:
    """The :meth:`VAE.weight_layers` entries of a one-hidden-layer encoder with its two heads."""
    dense = Port("dense")
    return [
        ("encoder.hidden", dense, encoder.body[0]),
        ("encoder.z_mean", dense, encoder.z_mean),
        ("encoder.z_log_var", dense, encoder.z_log_var),
    ]


def mlp_decoder_layers(decoder: nn.Module) -> list[tuple[str, Port, nn.Module]]:
    """The :meth:`VAE.weight_layers` entries of a decoder ``Linear, activation, Linear``."""
    dense = Port("dense")
    return [("decoder.hidden", dense, decoder[0]), ("decoder.output", dense, decoder[2])]


class ConvVAE(VAE):
    """The convolutional VAE of *Deep Learning with Python* (8.4), channels-first.

    Encoder: 3x3 convolutions with 32, 64 (stride 2: 28 -> 14), 64 and 64
    channels, ReLU, ``Flatten`` (64 * 14 * 14 = 12,544), ``Linear(32)`` ReLU,
    then the two heads z_mean and z_log_var. Decoder: ``Linear(14*14*64)``
    ReLU, ``Unflatten`` to (64, 14, 14), a 3x3 stride-2 transposed
    convolution to 32 channels (14 -> 28) ReLU, and a 3x3 transposed
    convolution to one channel of logits. 550,629 parameters for
    ``latent_dim=2``, as the Keras model.

    The stride-2 layers reproduce Keras's ``padding="same"`` exactly, so that
    weights ported from Keras give the same outputs: the convolution pads one
    row and column at the bottom and right only (``ZeroPad2d((0, 1, 0, 1))``),
    and the transposed convolution keeps the first 28 of its 29 rows and
    columns. The common PyTorch spellings ``Conv2d(padding=1)`` and
    ``ConvTranspose2d(padding=1, output_padding=1)`` give the same shapes but
    a one-pixel shift.
    """

    def __init__(
        self, latent_dim: int = 2, likelihood: str = "bernoulli", std: float = 0.5, beta: float = 1.0, binarize: bool = False
    ) -> None:
        super().__init__(likelihood, std, beta, binarize)
        self.latent_dim, self.input_shape = latent_dim, (1, 28, 28)
        c, h, w = CONV_FEATURE_SHAPE
        body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(32, 64, 3, stride=2), nn.ReLU(),  # 28 -> 14, TF "same"
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
            nn.Flatten(),  # channels-first order: (64, 14, 14) -> 12,544
            nn.Linear(c * h * w, 32), nn.ReLU(),
        )
        self.encoder = _Encoder(body, 32, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, c * h * w), nn.ReLU(),
            nn.Unflatten(1, CONV_FEATURE_SHAPE),  # channels-first: (64, 14, 14), not (14, 14, 64)
            nn.ConvTranspose2d(64, 32, 3, stride=2), _CropBottomRight(), nn.ReLU(),  # 14 -> 29 -> 28, TF "same"
            nn.ConvTranspose2d(32, 1, 3, padding=1),  # 28 -> 28, one channel of logits
        )

    def weight_layers(self) -> list[tuple[str, Port, nn.Module]]:
        body, conv = self.encoder.body, Port("conv2d")
        keras_feature_shape = CONV_FEATURE_SHAPE[1:] + CONV_FEATURE_SHAPE[:1]  # (14, 14, 64)
        return [
            ("encoder.conv1", conv, body[0]),
            ("encoder.conv2", conv, body[3]),
            ("encoder.conv3", conv, body[5]),
            ("encoder.conv4", conv, body[7]),
            ("encoder.hidden", Port("flatten_dense", keras_feature_shape), body[10]),
            ("encoder.z_mean", Port("dense"), self.encoder.z_mean),
            ("encoder.z_log_var", Port("dense"), self.encoder.z_log_var),
            ("decoder.hidden", Port("dense_reshape", keras_feature_shape), self.decoder[0]),
            ("decoder.upsample", Port("conv2d_transpose"), self.decoder[3]),
            ("decoder.output", Port("conv2d_transpose"), self.decoder[6]),
        ]


# --- functions --------------------------------------------------------------------------------------


def iwae_bound(model: VAE, x: Any, k: int, *, eps: ArrayLike | None = None) -> torch.Tensor:
    """The K-sample importance-weighted bound log((1/K) sum_k p(x, z_k) / q(z_k|x)) **per image**, shape (N,).

    A lower bound on log p(x) in nats that tightens as K grows; K = 1 is the
    one-sample ELBO with the KL estimated by Monte Carlo (same expectation as
    :meth:`VAE.elbo`). Take ``.mean()`` for a dataset estimate, and call it
    under ``torch.no_grad()`` and in batches for evaluation (it decodes K * N
    samples at once). ``eps`` of shape (K, N, latent_dim) fixes the noise.
    """
    return model.iwae_bound(x, k, eps=eps)


def vae_loss_fn(model: VAE, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """The VAE loss in the form the generic :func:`vae_course.torch.training.train` expects (``target`` is ignored).

    The generic loop records only ``loss``; :func:`vae_train` also records the
    reconstruction and KL terms.
    """
    return model.vae_loss(x, check=False)["loss"]


@torch.no_grad()
def vae_evaluate(
    model: VAE, x: ArrayLike, *, batch_size: int = 512, beta: float | None = None, seed: int = 0
) -> dict[str, float]:
    """Mean ``loss``, ``reconstruction`` and ``kl`` over a dataset, in eval mode, in nats per image.

    The reconstruction term uses sampled z, drawn from a generator seeded with
    ``seed``, so the result is reproducible and the global RNG is left alone.
    """
    x = model.check_inputs(x)
    x = x.to(next(model.parameters()).device)
    generator = torch.Generator().manual_seed(seed)

    def seeded_loss(m: VAE, batch: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        eps = torch.randn(len(batch), m.latent_dim, generator=generator).to(batch.device)
        return m.vae_loss(batch, eps=eps, beta=beta, check=False)

    return evaluate_terms(model, x, x, loss_fn=seeded_loss, batch_size=batch_size)


def vae_train(
    model: VAE,
    x_train: ArrayLike,
    *,
    epochs: int,
    batch_size: int,
    lr: float = 1e-3,
    beta: float | None = None,
    validation: ArrayLike | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train a VAE in place with Adam (the generic :func:`~vae_course.torch.training.train`); return per-epoch means of every term.

    The history has ``loss``, ``reconstruction`` and ``kl`` (means over the
    epoch's batches, weighted by batch size) and, with ``validation``,
    ``val_loss``, ``val_reconstruction`` and ``val_kl`` (from
    :func:`vae_evaluate` after each epoch): the keys Keras's ``fit`` reports
    for :class:`vae_course.keras.vae.ConvVAE`. The noise eps comes from the
    global PyTorch RNG (seed it with :func:`vae_course.profiles.set_seed`);
    ``seed`` seeds the shuffling.

    Raises:
        ValueError: inputs of the wrong shape, dtype or range.
        FloatingPointError: the loss became NaN or infinite.
    """
    return train(
        model, x_train, epochs=epochs, batch_size=batch_size, lr=lr, validation=validation, device=device,
        seed=seed, progress=progress, value_range=model.value_range,
        loss_fn=lambda m, batch, target: m.vae_loss(batch, beta=beta, check=False),
        evaluate_fn=lambda m, x_val, target: vae_evaluate(m, x_val, batch_size=max(batch_size, 512), beta=beta, seed=seed),
    )


# --- the pieces of chapter 05's hand-written training loop -----------------------------------------


def reparameterize(z_mean: torch.Tensor, z_log_var: torch.Tensor) -> torch.Tensor:
    """A sample z = z_mean + exp(0.5 * z_log_var) * eps of q(z|x), eps = ``torch.randn_like(z_mean)``.

    Differentiable in ``z_mean`` and ``z_log_var``; the noise comes from the
    global PyTorch generator (``torch.manual_seed`` makes it reproducible).
    """
    return z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)


def negative_elbo(x: torch.Tensor, logits: torch.Tensor, z_mean: torch.Tensor, z_log_var: torch.Tensor) -> torch.Tensor:
    """The Bernoulli VAE's loss in nats per image: a scalar tensor.

    ``mean over images of [ BCE(x, logits) summed over pixels + KL summed over latent dimensions ]``,
    the decoder's ``logits`` taken at a sampled z.
    """
    return (bernoulli_nll(x, logits) + gaussian_kl(z_mean, z_log_var)).mean()


def train_epoch(
    model: VAE, optimizer: torch.optim.Optimizer, x: torch.Tensor, batch_size: int, beta: float | None = None
) -> float:
    """One epoch of the plain training loop over ``x`` in shuffled batches; returns the mean loss per image.

    ``model.train()``; per batch: ``optimizer.zero_grad()``, ``loss =
    model.vae_loss(batch, beta=beta)["loss"]``, ``loss.backward()``,
    ``optimizer.step()``. The result weights each batch by its size, so it is
    the mean over the images even when the last batch is smaller.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    model.train()
    order = torch.randperm(len(x))
    total = 0.0
    for start in range(0, len(x), batch_size):
        batch = x[order[start: start + batch_size]]
        optimizer.zero_grad()
        loss = model.vae_loss(batch, beta=beta)["loss"]
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    return total / len(x)
