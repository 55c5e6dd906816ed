"""Autoencoders in PyTorch: a dense one and a convolutional one for 28x28 images.

Conventions of every model here:

- images are channels-first float32 in [0, 1]: ``(N, 1, 28, 28)`` for the
  convolutional models, flat ``(N, 784)`` for the dense one;
- ``model.encoder(x)`` gives the code ``z``, ``model.decoder(z)`` gives
  **logits**, and ``model(x)`` is ``decoder(encoder(x))``, also logits. The
  loss applies the sigmoid itself (:func:`ae_loss` uses
  ``binary_cross_entropy_with_logits``), which is more accurate than taking
  the log of a sigmoid that has rounded to 0 or 1;
- ``model.reconstruct(x)`` applies the sigmoid and gives pixels in [0, 1];
- ``model.l1`` is the weight of an L1 penalty on the code (0: a plain
  autoencoder; > 0: a sparse one), added by :func:`ae_loss`;
- :class:`DenoisingAE` corrupts its inputs itself, with fresh noise at every
  training step and none in evaluation mode.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
"""Channels-first shape of one image."""
CONV_SHAPE = (128, 4, 4)
"""Channels-first shape of the last feature map of :class:`ConvEncoder` (28 -> 14 -> 7 -> 4)."""


def check_channels_first(x: torch.Tensor) -> None:
    """Raise a clear ``ValueError`` unless ``x`` is a batch of (N, 1, 28, 28) images."""
    if x.ndim == 4 and tuple(x.shape[1:]) == IMAGE_SHAPE:
        return
    if x.ndim == 4 and tuple(x.shape[1:]) == (28, 28, 1):
        raise ValueError(
            f"Got images of shape {tuple(x.shape)}: that is channels-last (NHWC, the Keras layout). "
            "PyTorch convolutions are channels-first, (N, 1, 28, 28): use x.permute(0, 3, 1, 2), "
            "or vae_course.data.add_channel(x, 'nchw') on (N, 28, 28) images."
        )
    if x.ndim == 3 and tuple(x.shape[1:]) == (28, 28):
        raise ValueError(
            f"Got images of shape {tuple(x.shape)} without a channel axis: the model expects (N, 1, 28, 28); "
            "use x.unsqueeze(1), or vae_course.data.add_channel(x, 'nchw')."
        )
    raise ValueError(f"Expected a batch of images of shape (N, 1, 28, 28), got shape {tuple(x.shape)}.")


class ConvEncoder(nn.Module):
    """Three 3x3 stride-2 convolutions (32, 64, 128 channels; 28 -> 14 -> 7 -> 4), then a linear map to the code."""

    def __init__(self, latent_dim: int = 2) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.input_shape = IMAGE_SHAPE
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, stride=2, padding=1),  # 28 -> 14
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=3, stride=2, padding=1),  # 14 -> 7
            nn.ReLU(),
            nn.Conv2d(64, 128, kernel_size=3, stride=2, padding=1),  # 7 -> 4
            nn.ReLU(),
            nn.Flatten(),  # (128, 4, 4) -> 2048
        )
        self.to_code = nn.Linear(128 * 4 * 4, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Codes ``z`` of shape (N, latent_dim) for images of shape (N, 1, 28, 28)."""
        check_channels_first(x)
        return self.to_code(self.features(x))


class ConvDecoder(nn.Module):
    """The mirror image of :class:`ConvEncoder`: code -> (128, 4, 4) -> 7 -> 14 -> 28, returning logits.

    Each 3x3 stride-2 transposed convolution with ``padding=1`` maps a side
    ``n`` to ``2n - 1 + output_padding``, so ``output_padding`` is 0 for
    4 -> 7 and 1 for 7 -> 14 and 14 -> 28.
    """

    def __init__(self, latent_dim: int = 2) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.from_code = nn.Linear(latent_dim, 128 * 4 * 4)
        self.upsample = nn.Sequential(
            nn.Unflatten(1, CONV_SHAPE),  # channels-first: (128, 4, 4), not (4, 4, 128)
            nn.ConvTranspose2d(128, 64, kernel_size=3, stride=2, padding=1, output_padding=0),  # 4 -> 7
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, kernel_size=3, stride=2, padding=1, output_padding=1),  # 7 -> 14
            nn.ReLU(),
            nn.ConvTranspose2d(32, 32, kernel_size=3, stride=2, padding=1, output_padding=1),  # 14 -> 28
            nn.ReLU(),
            nn.Conv2d(32, 1, kernel_size=3, padding=1),  # 28 -> 28, one channel of logits
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, 1, 28, 28) for codes of shape (N, latent_dim)."""
        return self.upsample(self.from_code(z))


class Autoencoder(nn.Module):
    """An encoder and a decoder; ``forward`` returns the decoder's logits."""

    encoder: nn.Module
    decoder: nn.Module
    input_shape: tuple[int, ...]
    l1: float

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits of ``x``."""
        return self.decoder(self.encoder(x))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructed pixels in [0, 1] (the sigmoid of :meth:`forward`)."""
        return torch.sigmoid(self(x))


class ConvAE(Autoencoder):
    """:class:`ConvEncoder` + :class:`ConvDecoder`, for images of shape (N, 1, 28, 28)."""

    def __init__(self, latent_dim: int = 2, l1: float = 0.0) -> None:
        super().__init__()
        self.latent_dim, self.l1, self.input_shape = latent_dim, l1, IMAGE_SHAPE
        self.encoder = ConvEncoder(latent_dim)
        self.decoder = ConvDecoder(latent_dim)


class DenseAE(Autoencoder):
    """One ReLU layer of ``code_size`` units as encoder, one linear layer as decoder (sigmoid in the loss).

    With the defaults it has 784*32 + 32 + 32*784 + 784 = 50,992 parameters,
    like the Keras :class:`vae_course.keras.DenseAE`. ``l1 > 0`` makes it a
    sparse autoencoder.
    """

    def __init__(self, code_size: int = 32, input_dim: int = 784, l1: float = 0.0) -> None:
        super().__init__()
        self.code_size, self.l1, self.input_shape = code_size, l1, (input_dim,)
        self.encoder = nn.Sequential(nn.Linear(input_dim, code_size), nn.ReLU())
        self.decoder = nn.Linear(code_size, input_dim)


class ClippedGaussianNoise(nn.Module):
    """Adds Gaussian noise of standard deviation ``std`` to every pixel and clips to [0, 1], in training mode only.

    Keras's ``GaussianNoise`` layer with a clip, so that the corrupted images
    are images again (as :func:`vae_course.data.add_gaussian_noise` makes
    them). In evaluation mode (``model.eval()``) it returns its input unchanged.
    """

    def __init__(self, std: float) -> None:
        super().__init__()
        if not 0 <= std <= 1:
            raise ValueError(f"The noise standard deviation must be between 0 and 1 (pixels are in [0, 1]), got {std}.")
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0:
            return x
        return (x + self.std * torch.randn_like(x)).clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"std={self.std}"


class DenoisingAE(DenseAE):
    """A :class:`DenseAE` that learns to remove noise: its encoder starts with :class:`ClippedGaussianNoise`.

    Train it on clean images, with the clean images as targets (the default
    of :func:`vae_course.torch.train`): every training step corrupts the
    batch afresh with noise of standard deviation ``noise_std``, so the model
    never sees the same noisy image twice. In evaluation mode there is no
    noise; to measure denoising, give it noisy images, e.g.
    ``vae_course.data.add_gaussian_noise(x, noise_std, rng)``. It has the
    parameters of a :class:`DenseAE` under the same names, so the weights of
    one load into the other.
    """

    def __init__(self, code_size: int = 32, input_dim: int = 784, noise_std: float = 0.5, l1: float = 0.0) -> None:
        super().__init__(code_size, input_dim, l1)
        self.noise_std = noise_std
        linear, relu = self.encoder
        self.encoder = nn.Sequential(OrderedDict([("noise", ClippedGaussianNoise(noise_std)), ("0", linear), ("1", relu)]))


class MLPAE(Autoencoder):
    """784 -> ``hidden`` ReLU -> ``latent_dim``; ``latent_dim`` -> ``hidden`` ReLU -> 784 logits.

    The layers of :class:`vae_course.torch.vae.MLPVAE` without its ``z_log_var``
    head: trained with :func:`ae_loss` instead of the ELBO, it is the plain
    autoencoder to compare a VAE of the same size with. Inputs are flat
    images, (N, 784); 806,674 parameters with the defaults.
    """

    def __init__(self, hidden: int = 512, latent_dim: int = 2, input_dim: int = 784) -> None:
        super().__init__()
        self.hidden, self.latent_dim, self.input_dim = hidden, latent_dim, input_dim
        self.l1, self.input_shape = 0.0, (input_dim,)
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, input_dim))


def bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy from logits, summed over the pixels of each image, averaged over images."""
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return per_pixel.flatten(1).sum(1).mean()


def ae_loss(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The autoencoder loss of one batch: BCE(target, decoder(encoder(x))) + l1 * sum |z|.

    ``target`` is ``x`` itself for a plain autoencoder and the clean images
    for a denoising one. The L1 term (averaged over images) is there only
    when ``model.l1 > 0``.
    """
    z = model.encoder(x)
    loss = bce_with_logits(model.decoder(z), target)
    l1 = getattr(model, "l1", 0.0)
    if l1:
        loss = loss + l1 * z.abs().flatten(1).sum(1).mean()
    return loss


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
