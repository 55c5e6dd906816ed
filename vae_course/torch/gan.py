"""A DCGAN in PyTorch, trained with the non-saturating loss, for 28x28 one-channel images in [0, 1].

The Keras model of :mod:`vae_course.keras.gan` has the same class name,
constructor argument, methods and parameter counts.

Conventions:

- images are float32, channels-first ``(N, 1, 28, 28)``, in [0, 1]: the
  generator ends with a sigmoid, so its samples live where the VAEs' do and
  the two can be compared pixel for pixel. (The other common choice is a tanh
  output with data scaled to [-1, 1].);
- ``model.generate(n, seed)`` gives images, ``model.discriminate(x)`` one
  **logit** per image (``sigmoid`` of it is D's probability that x is real);
- every loss is a binary cross-entropy in **nats per image**, averaged over
  the images of a batch, computed from logits in a numerically stable form.

The two losses (Goodfellow et al. 2014, with the "non-saturating" generator loss):

- discriminator: ``BCE(D(x), 1) + BCE(D(G(z)), 0)`` = ``-log D(x) - log(1 - D(G(z)))``;
- generator: ``BCE(D(G(z)), 1)`` = ``-log D(G(z))``.

The minimax game would have the generator *minimise* ``log(1 - D(G(z)))``
instead. Early in training D rejects the fakes easily, D(G(z)) is near 0,
and that loss is flat there: its gradient with respect to D's logit is
``-D(G(z))``, close to 0, so the generator learns nothing (it *saturates*).
``-log D(G(z))`` has the same fixed point but a gradient of
``-(1 - D(G(z)))``, close to -1 exactly when the generator is worst.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vae_course.inputs import check_shape, check_values
from vae_course.progress import tqdm
from vae_course.torch.training import History, as_tensor, device as default_device

__all__ = ["DCGAN", "discriminator_loss", "gan_train", "generator_loss", "saturating_generator_loss", "truncated_normal"]

ArrayLike = np.ndarray | torch.Tensor
FEATURE_SHAPE = (128, 7, 7)
"""Channels-first shape of the generator's first feature map (and of the discriminator's last)."""
LEARNING_RATE, BETA_1 = 2e-4, 0.5
"""Adam's settings of Radford et al. (2015): a low learning rate and a short momentum."""


# --- the two losses, from logits ---------------------------------------------------------------------


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``BCE(real, 1) + BCE(fake, 0)`` from D's logits, averaged over the images: ``2 log 2`` when every logit is 0."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating ``BCE(D(G(z)), 1) = -log D(G(z))`` from D's logits on fakes, averaged: ``log 2`` at logit 0.

    Not ``log(1 - D(G(z)))``, whose gradient vanishes when D rejects the fakes.
    """
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def saturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax game's generator loss ``mean log(1 - D(G(z)))`` from D's logits on fakes (``-log 2`` at logit 0).

    ``= -BCE(D(G(z)), 0)``, stable for any logit. Its gradient with respect to a
    logit is ``-D(G(z)) / N``: it vanishes when D rejects the fakes. Kept to show
    why :func:`generator_loss` replaces it.
    """
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def truncated_normal(n: int, dim: int, truncation: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, dim)`` draws of N(0, 1) restricted to ``[-truncation, truncation]`` (out-of-range values redrawn).

    The "truncation trick" (Brock et al. 2018): smaller thresholds give more typical,
    less varied samples.
    """
    if not truncation > 0:
        raise ValueError(f"truncation must be a positive threshold, got {truncation!r}.")
    z = torch.randn(n, dim, generator=generator)
    outside = z.abs() > truncation
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > truncation
    return z


# --- the model --------------------------------------------------------------------------------------


class DCGAN(nn.Module):
    """Radford et al. (2015)'s guidelines, cut down to 28x28 MNIST: a generator and a discriminator.

    Generator (z of ``latent_dim`` -> image): ``Linear(7*7*128)``, ``Unflatten``
    to (128, 7, 7), BatchNorm, ReLU; a 4x4 stride-2 transposed convolution to
    64 channels (7 -> 14), BatchNorm, ReLU; a 4x4 stride-2 transposed
    convolution to 1 channel (14 -> 28); sigmoid. Layers followed by a
    BatchNorm have no bias (the BatchNorm's shift replaces it).

    Discriminator (image -> one logit): a 4x4 stride-2 convolution to 64
    channels (28 -> 14), LeakyReLU(0.2); a 4x4 stride-2 convolution to 128
    channels (14 -> 7), LeakyReLU(0.2); ``Flatten``; ``Linear(1)``, no
    sigmoid: the losses work from logits. No BatchNorm in D, no pooling
    anywhere (strided convolutions do the resampling). Its convolutions have
    no bias, as in PyTorch's DCGAN example (in Keras, a bias between a
    convolution and a LeakyReLU makes TensorFlow's graph optimizer log an error).

    With kernel 4, stride 2 and padding 1, PyTorch's layers pad exactly as
    Keras's ``padding="same"``, so both frameworks build the same model
    (533,889 trainable generator parameters and 138,369 discriminator ones for
    ``latent_dim=64``).
    """

    input_shape = (1, 28, 28)

    def __init__(self, latent_dim: int = 64) -> None:
        super().__init__()
        if int(latent_dim) != latent_dim or latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {latent_dim!r}.")
        self.latent_dim = int(latent_dim)
        c, h, w = FEATURE_SHAPE
        self.generator = nn.Sequential(
            nn.Linear(self.latent_dim, c * h * w, bias=False),
            nn.Unflatten(1, FEATURE_SHAPE),
            nn.BatchNorm2d(c), nn.ReLU(),
            nn.ConvTranspose2d(c, 64, 4, stride=2, padding=1, bias=False),  # 7 -> 14
            nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, stride=2, padding=1),  # 14 -> 28
            nn.Sigmoid(),
        )
        self.discriminator = nn.Sequential(
            nn.Conv2d(1, 64, 4, stride=2, padding=1, bias=False), nn.LeakyReLU(0.2),  # 28 -> 14
            nn.Conv2d(64, c, 4, stride=2, padding=1, bias=False), nn.LeakyReLU(0.2),  # 14 -> 7
            nn.Flatten(),
            nn.Linear(c * h * w, 1),  # one logit
        )

    @property
    def data_shape(self) -> tuple[int, ...]:
        """The shape of one image, (1, 28, 28)."""
        return self.input_shape

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # -- input checks --------------------------------------------------------------------------------

    def check_inputs(self, x: Any, name: str = "x") -> torch.Tensor:
        """``x`` as a float32 tensor, or a ``ValueError`` saying what is wrong: dtype, shape (channel order), NaN, range."""
        # as_tensor refuses integer pixels with a hint; float tensors stay on their device
        t = x.float() if isinstance(x, torch.Tensor) and x.is_floating_point() else as_tensor(x, name=name)
        if len(t) == 0:
            raise ValueError(f"{name} is empty.")
        check_shape(name, tuple(t.shape), self.input_shape, model_name="DCGAN", layout="nchw")
        values = t.detach()
        check_values(
            name, float(values.min()), float(values.max()), finite=bool(torch.isfinite(values).all()),
            value_range=(0.0, 1.0), purpose="a GAN whose generator ends with a sigmoid",
        )
        return t

    # -- the model ------------------------------------------------------------------------------------

    def noise(self, n: int, seed: int | None = None, truncation: float | None = None) -> torch.Tensor:
        """``n`` codes z ~ N(0, I) on the model's device: the same ones for the same ``seed`` (global RNG when None).

        With ``truncation``, every coordinate is drawn from N(0, 1) truncated to
        ``[-truncation, truncation]`` (:func:`truncated_normal`).
        """
        if int(n) != n or n < 1:
            raise ValueError(f"n (the number of images) must be a positive integer, got {n!r}.")
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        if truncation is not None:
            return truncated_normal(int(n), self.latent_dim, truncation, generator).to(self._device())
        return torch.randn(int(n), self.latent_dim, generator=generator).to(self._device())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images G(z) in [0, 1], (N, 1, 28, 28), for codes z of shape (N, latent_dim)."""
        return self.generator(z)

    @torch.no_grad()
    def generate(self, n: int, seed: int | None = None, truncation: float | None = None) -> torch.Tensor:
        """``n`` new images (N, 1, 28, 28) in [0, 1], in eval mode (BatchNorm's running statistics).

        The same ``seed`` gives the same images: keep one seed for a sample grid
        drawn after every epoch to watch the same codes improve. The codes differ
        from the Keras model's for the same seed (another random generator).
        ``truncation`` draws the codes from a truncated normal (:meth:`noise`).
        """
        z = self.noise(n, seed, truncation)
        was_training = self.training
        self.eval()
        try:
            return self.generator(z)
        finally:
            self.train(was_training)

    def discriminate(self, x: Any) -> torch.Tensor:
        """D's logits for images ``x`` (N, 1, 28, 28) in [0, 1], shape (N,): ``sigmoid`` gives P(real)."""
        x = self.check_inputs(x).to(self._device())
        return self.discriminator(x).squeeze(1)

    def gan_loss(self, x: Any, *, z: ArrayLike | None = None, check: bool = True) -> dict[str, torch.Tensor]:
        """Both losses on a batch of real images and the fakes G(z) (fresh noise when ``z`` is None), as scalar tensors.

        ``d_loss``: :func:`discriminator_loss`; ``g_loss``: :func:`generator_loss`
        (differentiable in the generator's weights); ``d_real`` and ``d_fake``:
        D's mean probability that the real images and the fakes are real. The
        generator's BatchNorm runs in the model's current mode: call
        ``model.eval()`` first for its running statistics (what Keras's
        ``gan_loss`` uses).
        """
        x = (self.check_inputs(x) if check else x).to(self._device())
        z = self.noise(len(x)) if z is None else torch.as_tensor(z, dtype=torch.float32, device=self._device())
        real_logits, fake_logits = self.discriminator(x), self.discriminator(self.generator(z))
        return {
            "d_loss": discriminator_loss(real_logits, fake_logits),
            "g_loss": generator_loss(fake_logits),
            "d_real": torch.sigmoid(real_logits).mean(),
            "d_fake": torch.sigmoid(fake_logits).mean(),
        }


# --- training ---------------------------------------------------------------------------------------


def _nan_message(key: str, value: float, epoch: int, batch: int, lr: float) -> str:
    return (
        f"The GAN's {key} became {value} at epoch {epoch}, batch {batch}. Usual fixes: a lower learning rate "
        f"(lr={lr:g}; 2e-4 with Adam beta_1=0.5 is the DCGAN default); real images that are finite floats in [0, 1]; "
        "a discriminator that returns logits (no sigmoid before a loss 'with logits'); and, if D wins too easily, "
        "a weaker discriminator (dropout, fewer channels) or one-sided label smoothing."
    )


def gan_train(
    model: DCGAN,
    x: ArrayLike,
    *,
    epochs: int,
    batch_size: int,
    lr: float = LEARNING_RATE,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    d_lr: float | None = None,
    g_lr: float | None = None,
    d_steps: int = 1,
    g_steps: int = 1,
    saturating: bool = False,
    log_steps: bool = False,
) -> History:
    """Train a DCGAN in place, alternating one discriminator and one generator step per batch; return per-epoch means.

    Each step draws codes z, then

    1. updates D on ``discriminator_loss(D(x), D(G(z)))``, with G(z) held fixed;
    2. updates G on ``generator_loss(D(G(z)))`` with the updated D (D's
       weights get gradients but only G's optimizer steps).

    Two Adam optimizers with ``lr`` and beta_1 = 0.5 (Radford et al. 2015).
    The history holds ``d_loss``, ``g_loss``, ``d_real`` and ``d_fake`` (D's
    mean probability of "real" on real images and on fakes, taken in step 1):
    the metrics Keras's ``fit`` reports for :class:`vae_course.keras.gan.DCGAN`.
    ``seed`` seeds the shuffling and the codes; ``device`` defaults to the GPU
    if there is one. A progress bar per epoch shows the running means.

    Settings for the chapter on failure modes (the defaults are the usual GAN):
    ``d_lr`` and ``g_lr`` override ``lr`` for one player (``d_lr=0`` freezes D);
    ``d_steps`` and ``g_steps`` repeat a player's update on each batch (fresh
    codes each time); ``saturating=True`` trains G on the minimax game's
    :func:`saturating_generator_loss`. ``log_steps=True`` adds one value per
    generator step under ``step_d_loss``, ``step_g_loss``, ``step_d_real``,
    ``step_d_fake`` and ``step_g_grad_norm`` (the L2 norm of the generator's
    gradient), and the epoch mean ``g_grad_norm``.

    Raises:
        ValueError: images of the wrong shape (channel order), dtype or range.
        FloatingPointError: a loss became NaN or infinite.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got epochs={epochs}, batch_size={batch_size}.")
    if d_steps < 1 or g_steps < 1:
        raise ValueError(f"d_steps and g_steps must be >= 1, got d_steps={d_steps}, g_steps={g_steps}.")
    d_lr = lr if d_lr is None else d_lr
    g_lr = lr if g_lr is None else g_lr
    if d_lr < 0 or g_lr < 0:
        raise ValueError(f"learning rates must be >= 0, got d_lr={d_lr}, g_lr={g_lr}.")
    g_loss_fn = saturating_generator_loss if saturating else generator_loss
    dev = torch.device(device) if device is not None else default_device()
    images = model.check_inputs(x, "x").to(dev)
    model.to(dev)
    d_optimizer = torch.optim.Adam(model.discriminator.parameters(), lr=d_lr, betas=(BETA_1, 0.999))
    g_optimizer = torch.optim.Adam(model.generator.parameters(), lr=g_lr, betas=(BETA_1, 0.999))
    rng = torch.Generator().manual_seed(seed)
    history: History = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
    steps: History = {"step_d_loss": [], "step_g_loss": [], "step_d_real": [], "step_d_fake": [], "step_g_grad_norm": []}
    if log_steps:
        history["g_grad_norm"] = []
    n_batches = math.ceil(len(images) / batch_size)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=rng).to(dev)
        totals = dict.fromkeys(history, 0.0)
        seen = 0
        bar = tqdm(total=n_batches, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress)
        for b in range(n_batches):
            real = images[order[b * batch_size: (b + 1) * batch_size]]
            for d_step in range(d_steps):
                z = torch.randn(len(real), model.latent_dim, generator=rng).to(dev)
                # 1. the discriminator: real -> 1, fake -> 0, the generator held fixed
                with torch.no_grad():
                    fake = model.generator(z)
                real_logits, fake_logits = model.discriminator(real), model.discriminator(fake)
                d_loss = discriminator_loss(real_logits, fake_logits)
                d_optimizer.zero_grad(set_to_none=True)
                d_loss.backward()
                values = {
                    "d_loss": float(d_loss.detach()),
                    "d_real": float(torch.sigmoid(real_logits.detach()).mean()),
                    "d_fake": float(torch.sigmoid(fake_logits.detach()).mean()),
                }
                if not math.isfinite(values["d_loss"]):
                    bar.close()
                    raise FloatingPointError(_nan_message("d_loss", values["d_loss"], epoch + 1, b + 1, d_lr))
                d_optimizer.step()
            # 2. the generator: make the updated D say "real" (non-saturating loss unless `saturating`)
            for g_step in range(g_steps):
                if g_step > 0:
                    z = torch.randn(len(real), model.latent_dim, generator=rng).to(dev)
                g_loss = g_loss_fn(model.discriminator(model.generator(z)))
                g_optimizer.zero_grad(set_to_none=True)
                g_loss.backward()
                values["g_loss"] = float(g_loss.detach())
                if not math.isfinite(values["g_loss"]):
                    bar.close()
                    raise FloatingPointError(_nan_message("g_loss", values["g_loss"], epoch + 1, b + 1, g_lr))
                if log_steps:
                    grads = [p.grad.detach().flatten() for p in model.generator.parameters() if p.grad is not None]
                    values["g_grad_norm"] = float(torch.cat(grads).norm())
                    for key in ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm"):
                        steps[f"step_{key}"].append(values[key])
                g_optimizer.step()
            seen += len(real)
            for key, value in values.items():
                totals[key] += value * len(real)
            bar.update()
            bar.set_postfix({key: f"{total / seen:.3g}" for key, total in totals.items()}, refresh=False)
        for key, total in totals.items():
            history[key].append(total / seen)
        bar.close()
    model.eval()
    return {**history, **steps} if log_steps else history
