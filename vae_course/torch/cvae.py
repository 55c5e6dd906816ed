"""Conditional VAEs in PyTorch: a label-conditioned MLP VAE and the auxiliary-classifier VAE.

The Keras models of :mod:`vae_course.keras.cvae` have the same class names,
constructor arguments, methods and parameter counts, and compute the same
numbers once their weights are copied (:mod:`vae_course.parity`).

- :class:`CVAE` is told the digit: the one-hot label is concatenated to the
  flat image at the encoder's input and to z at the decoder's input, so it
  models p(x|y) and generates a chosen digit by decoding z ~ N(0, I) with it.
- :class:`AuxiliaryCVAE` is not told the digit: a classifier reads it from the
  image, and its softmax is concatenated to z at the decoder's input. Trained
  with the labels as an auxiliary target, those 10 inputs come to mean "which
  digit", and the latent code is left with the rest, the *style*: decoding
  one z with each one-hot vector draws every digit in the same style.

Labels are integer class ids of shape (N,); the one-hot vectors are made
inside. Every quantity is in nats per image, as in :mod:`vae_course.torch.vae`.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vae_course import inputs
from vae_course.convert import Port
from vae_course.torch.training import History, evaluate_terms, train
from vae_course.torch.vae import VAE, _Encoder, gaussian_kl, mlp_decoder_layers, mlp_encoder_layers

__all__ = [
    "AuxiliaryCVAE", "CVAE", "auxiliary_loss", "check_labels", "condition", "cvae_evaluate", "cvae_train", "digit_grid",
]

ArrayLike = np.ndarray | torch.Tensor


def check_labels(labels: Any, num_classes: int, n: int | None = None, *, name: str = "labels") -> torch.Tensor:
    """``labels`` as an int64 tensor of class ids, or a ``ValueError`` saying what is wrong.

    Expects a 1-D array of integers in ``[0, num_classes)``, one per image
    (``n`` of them, when given). One-hot rows and float labels are refused
    with a hint.
    """
    array = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    inputs.check_labels(array, num_classes, n, name=name)
    return torch.from_numpy(array.astype(np.int64))


def _check_settings(latent_dim: int, hidden: int, num_classes: int) -> None:
    for name, value in (("latent_dim", latent_dim), ("hidden", hidden), ("num_classes", num_classes)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _generator(seed: int | None) -> torch.Generator | None:
    return None if seed is None else torch.Generator().manual_seed(seed)


def condition(x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``x`` (N, D) with the one-hot rows of ``labels`` (N,) appended: (N, D + num_classes), in ``x``'s dtype.

    What a :class:`CVAE` feeds its encoder (``x`` an image) and its decoder
    (``x`` a code ``z``). ``labels`` may have any integer dtype.
    """
    return torch.cat([x, F.one_hot(labels.long(), num_classes).to(x.dtype)], dim=1)


def auxiliary_loss(
    reconstruction: torch.Tensor, kl: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, weight: float
) -> torch.Tensor:
    """The :class:`AuxiliaryCVAE`'s objective: ``mean(reconstruction) + mean(kl) + weight * cross-entropy``.

    ``reconstruction`` and ``kl`` hold one value per image (N,) in nats, ``logits``
    the classifier's raw scores (N, num_classes), ``labels`` the integer classes
    (N,); the cross-entropy is the mean over the images, computed from the
    logits (``F.cross_entropy`` applies the log-softmax itself).
    """
    return reconstruction.mean() + kl.mean() + weight * F.cross_entropy(logits, labels.long())


def digit_grid(model: "CVAE", n_styles: int, generator: torch.Generator) -> torch.Tensor:
    """Every class drawn in ``n_styles`` shared styles: (n_styles * num_classes, 784) pixel values.

    Row ``r`` of the grid (images ``r * num_classes`` to ``(r + 1) * num_classes - 1``)
    decodes one code z_r ~ N(0, I) with each label 0, 1, ..., num_classes - 1;
    the codes are drawn at once, ``torch.randn(n_styles, latent_dim, generator=generator)``.
    """
    device = next(model.parameters()).device
    z = torch.randn(n_styles, model.latent_dim, generator=generator).to(device)
    z = z.repeat_interleave(model.num_classes, dim=0)
    labels = torch.arange(model.num_classes).repeat(n_styles)
    return model.output_to_image(model.decode(z, labels))


class CVAE(VAE):
    """A conditional MLP VAE on flat (N, 784) images: q(z|x, y) and p(x|z, y).

    Encoder: concat(x, one_hot(y)) -> ``hidden`` ReLU -> (z_mean, z_log_var).
    Decoder: concat(z, one_hot(y)) -> ``hidden`` ReLU -> 784 outputs, logits
    for ``likelihood="bernoulli"`` and Gaussian means (fixed ``std``) for
    ``"gaussian"``. The prior is N(0, I) whatever the label, so the KL term
    and the sampling are those of the unconditional VAE.
    """

    def __init__(
        self,
        latent_dim: int = 2,
        hidden: int = 512,
        num_classes: int = 10,
        likelihood: str = "bernoulli",
        std: float = 0.5,
        beta: float = 1.0,
    ) -> None:
        super().__init__(likelihood, std, beta)
        _check_settings(latent_dim, hidden, num_classes)
        self.latent_dim, self.hidden, self.num_classes = latent_dim, hidden, num_classes
        self.input_dim, self.input_shape = 784, (784,)
        body = nn.Sequential(nn.Linear(784 + num_classes, hidden), nn.ReLU())
        self.encoder = _Encoder(body, hidden, latent_dim)
        self.decoder = nn.Sequential(nn.Linear(latent_dim + num_classes, hidden), nn.ReLU(), nn.Linear(hidden, 784))

    # -- labels --------------------------------------------------------------------------------------

    def check_labels(self, labels: Any, n: int | None = None, name: str = "labels") -> torch.Tensor:
        """``labels`` as int64 class ids, or a ``ValueError``: see :func:`check_labels`."""
        return check_labels(labels, self.num_classes, n, name=name)

    def one_hot(self, labels: torch.Tensor, device: torch.device) -> torch.Tensor:
        """(N, num_classes) float one-hot rows of checked integer labels."""
        return F.one_hot(labels.to(device).long(), self.num_classes).float()

    # -- the model ------------------------------------------------------------------------------------

    def encode(self, x: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z_mean, z_log_var)`` of q(z|x, y), each of shape (N, latent_dim)."""
        x = self._check_shape(x)
        y = self.check_labels(y, len(x))
        return self.encoder(torch.cat([x, self.one_hot(y, x.device)], dim=1))

    def decode(self, z: Any, y: Any) -> torch.Tensor:
        """The decoder's raw output for codes ``z`` and labels ``y``: logits (Bernoulli) or means (Gaussian)."""
        if not isinstance(z, torch.Tensor):
            z = torch.as_tensor(np.asarray(z), dtype=torch.float32, device=next(self.parameters()).device)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        y = self.check_labels(y, len(z))
        return self.decoder(torch.cat([z, self.one_hot(y, z.device)], dim=1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Raw decoder output (logits or means) at z = z_mean: a deterministic reconstruction."""
        z_mean, _ = self.encode(x, y)
        return self.decode(z_mean, y)

    def reconstruct(self, x: Any, y: Any) -> torch.Tensor:
        """Reconstructed pixels at z = z_mean: probabilities for the Bernoulli likelihood, means for the Gaussian."""
        return self.output_to_image(self(x, y))

    def generate(self, labels: Any, seed: int | None = None) -> torch.Tensor:
        """One new image per label: decode z ~ N(0, I) with that label, as pixel values (``seed``: reproducible)."""
        labels = self.check_labels(labels)
        z = torch.randn(len(labels), self.latent_dim, generator=_generator(seed))
        return self.output_to_image(self.decode(z.to(next(self.parameters()).device), labels))

    # -- the bound ------------------------------------------------------------------------------------

    def _terms(self, x: Any, y: Any, eps: ArrayLike | None, check: bool) -> dict[str, torch.Tensor]:  # type: ignore[override]
        if check:
            x = self.check_inputs(x)
            y = self.check_labels(y, len(x))
        one_hot = self.one_hot(y, x.device)
        z_mean, z_log_var = self.encoder(torch.cat([x, one_hot], dim=1))
        z = self.reparameterize(z_mean, z_log_var, eps)
        output = self.decoder(torch.cat([z, one_hot], dim=1))
        return {"reconstruction": self.negative_log_likelihood(x, output), "kl": gaussian_kl(z_mean, z_log_var)}

    def elbo(  # type: ignore[override]
        self, x: Any, y: Any, *, eps: ArrayLike | None = None, check: bool = True
    ) -> torch.Tensor:
        """One-sample estimate of the conditional ELBO, a lower bound on log p(x|y), per image (N,) in nats.

        ``log p(x|z, y) - KL(q(z|x, y) || N(0, I))`` at z = z_mean + exp(z_log_var / 2) * eps.
        """
        terms = self._terms(x, y, eps, check)
        return -terms["reconstruction"] - terms["kl"]

    def vae_loss(  # type: ignore[override]
        self, x: Any, y: Any, *, eps: ArrayLike | None = None, beta: float | None = None, check: bool = True
    ) -> dict[str, torch.Tensor]:
        """``loss = reconstruction + beta * kl`` and its terms for one batch, means over the images.

        ``beta`` defaults to ``model.beta``; ``check=False`` skips the checks of
        ``x`` and ``y`` (they must then be tensors on the model's device).
        """
        terms = self._terms(x, y, eps, check)
        beta = self.beta if beta is None else float(beta)
        reconstruction, kl = terms["reconstruction"].mean(), terms["kl"].mean()
        return {"loss": reconstruction + beta * kl, "reconstruction": reconstruction, "kl": kl}

    def log_weights(self, *args: Any, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} has no importance-weighted bound; use elbo(x, y).")

    def iwae_bound(self, *args: Any, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} has no importance-weighted bound; use elbo(x, y).")

    def weight_layers(self) -> list[tuple[str, Port, nn.Module]]:
        """Every weight layer in order, with its name and how to port it to Keras (:mod:`vae_course.convert`)."""
        return mlp_encoder_layers(self.encoder) + mlp_decoder_layers(self.decoder)


class AuxiliaryCVAE(VAE):
    """The VAE with an auxiliary digit classifier (Yoel Zeldes, *Variational Autoencoders Explained in Detail*).

    It learns to draw a chosen digit without being told it.

    - encoder: 784 -> ``hidden`` sigmoid -> (z_mean, z_log_var);
    - classifier: 784 -> ``hidden`` sigmoid -> ``num_classes`` logits, on the *image*;
    - decoder: concat(z, softmax(logits)) -> ``hidden`` sigmoid -> 784 sigmoid,
      the pixel means of a Gaussian p(x|z, c) of fixed ``std`` (0.5).

    ``loss = reconstruction + kl + classifier_weight * classification``: the
    Gaussian negative log-likelihood summed over pixels, the closed-form KL,
    and the classifier's mean cross-entropy with the labels. The decoder never
    sees the labels, only the classifier's probabilities, so at test time the
    model needs an image alone; to *generate* a digit, feed the decoder a
    one-hot vector instead.

    Zeldes' encoder outputs a variance, ``1e-5 + exp(dense)``, and takes
    its log in the KL. Here the head outputs the **log-variance** itself, as in
    every other VAE of the course: the KL and the sampling are the shared
    :func:`gaussian_kl` and :meth:`reparameterize`, there is no log of a
    nearly-zero number to overflow, and the two frameworks port the same
    layers. His 1e-5 floor on the variance (z_log_var >= -11.5) is
    dropped: exp(z_log_var) stays positive without it.
    """

    def __init__(
        self, latent_dim: int = 10, hidden: int = 128, num_classes: int = 10, classifier_weight: float = 10.0, std: float = 0.5
    ) -> None:
        super().__init__("gaussian", std, 1.0)
        _check_settings(latent_dim, hidden, num_classes)
        if not classifier_weight >= 0:
            raise ValueError(
                f"classifier_weight (the weight of the classification loss) must be >= 0, got {classifier_weight}."
            )
        self.latent_dim, self.hidden, self.num_classes = latent_dim, hidden, num_classes
        self.classifier_weight = float(classifier_weight)
        self.input_dim, self.input_shape = 784, (784,)
        self.encoder = _Encoder(nn.Sequential(nn.Linear(784, hidden), nn.Sigmoid()), hidden, latent_dim)
        self.classifier = nn.Sequential(nn.Linear(784, hidden), nn.Sigmoid(), nn.Linear(hidden, num_classes))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim + num_classes, hidden), nn.Sigmoid(), nn.Linear(hidden, 784), nn.Sigmoid()
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, classifier_weight={self.classifier_weight:g}"

    @property
    def value_range(self) -> tuple[float, float]:
        """Images in [0, 1]: the decoder's means are sigmoids."""
        return (0.0, 1.0)

    def check_labels(self, labels: Any, n: int | None = None, name: str = "labels") -> torch.Tensor:
        """``labels`` as int64 class ids, or a ``ValueError``: see :func:`check_labels`."""
        return check_labels(labels, self.num_classes, n, name=name)

    # -- the model ------------------------------------------------------------------------------------

    def classify(self, x: Any) -> torch.Tensor:
        """The classifier's logits for the images ``x``, shape (N, num_classes)."""
        return self.classifier(self._check_shape(x))

    def decode(self, z: Any, class_probs: Any) -> torch.Tensor:  # type: ignore[override]
        """Pixel means for codes ``z`` (N, latent_dim) and class probabilities (N, num_classes), e.g. one-hot rows."""
        device = next(self.parameters()).device
        z, class_probs = (
            v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v), dtype=torch.float32, device=device)
            for v in (z, class_probs)
        )
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        if tuple(class_probs.shape) != (len(z), self.num_classes):
            raise ValueError(
                f"class_probs must have shape (N, {self.num_classes}) = {(len(z), self.num_classes)} (one row per z), "
                f"got {tuple(class_probs.shape)}."
            )
        return self.decoder(torch.cat([z, class_probs.to(z.dtype)], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel means at z = z_mean, with the classifier's probabilities: a deterministic reconstruction."""
        x = self._check_shape(x)
        z_mean, _ = self.encoder(x)
        return self.decoder(torch.cat([z_mean, torch.softmax(self.classifier(x), dim=1)], dim=1))

    def generate(self, labels: Any, seed: int | None = None) -> torch.Tensor:  # type: ignore[override]
        """One image per label: decode an independent z ~ N(0, I) with that label's one-hot vector."""
        labels = self.check_labels(labels)
        device = next(self.parameters()).device
        z = torch.randn(len(labels), self.latent_dim, generator=_generator(seed)).to(device)
        return self.decode(z, F.one_hot(labels, self.num_classes).float().to(device))

    def generate_digits(self, style: Any = None, seed: int | None = None) -> torch.Tensor:
        """One image per class, (num_classes, 784), all decoded from the same style z.

        ``style`` is a code of shape (latent_dim,) or (1, latent_dim); when None
        it is drawn from N(0, I) (``seed`` makes it reproducible). It is tiled
        to every row and concatenated with the identity matrix, so image k is
        digit k in that one style.
        """
        if style is None:
            style = torch.randn(1, self.latent_dim, generator=_generator(seed))
        style = torch.as_tensor(style if isinstance(style, torch.Tensor) else np.asarray(style), dtype=torch.float32)
        if style.numel() != self.latent_dim:
            raise ValueError(f"style must have shape ({self.latent_dim},) or (1, {self.latent_dim}), got {tuple(style.shape)}.")
        z = style.reshape(1, -1).to(next(self.parameters()).device).expand(self.num_classes, -1)
        return self.decode(z, torch.eye(self.num_classes, device=z.device))

    # -- the loss -------------------------------------------------------------------------------------

    def _terms(self, x: Any, eps: ArrayLike | None, check: bool) -> dict[str, torch.Tensor]:
        x = self.check_inputs(x) if check else x
        z_mean, z_log_var = self.encoder(x)
        z = self.reparameterize(z_mean, z_log_var, eps)
        logits = self.classifier(x)
        means = self.decoder(torch.cat([z, torch.softmax(logits, dim=1)], dim=1))
        reconstruction = self.negative_log_likelihood(x, means)
        return {"reconstruction": reconstruction, "kl": gaussian_kl(z_mean, z_log_var), "logits": logits}

    def elbo(self, x: Any, *, eps: ArrayLike | None = None, check: bool = True) -> torch.Tensor:
        """``log p(x|z, c(x)) - KL`` per image (N,), in nats; c(x), the classifier's softmax, is the decoder's class input."""
        terms = self._terms(x, eps, check)
        return -terms["reconstruction"] - terms["kl"]

    def vae_loss(  # type: ignore[override]
        self, x: Any, y: Any, *, eps: ArrayLike | None = None, check: bool = True
    ) -> dict[str, torch.Tensor]:
        """The training objective and its parts for one batch, each a mean over the images.

        ``reconstruction`` (Gaussian NLL summed over pixels) and ``kl`` in nats
        per image, ``classification`` the mean cross-entropy of the classifier
        with the labels ``y`` (nats), ``loss = reconstruction + kl +
        classifier_weight * classification``, and ``accuracy`` (not trained on).
        """
        if check:
            x = self.check_inputs(x)
            y = self.check_labels(y, len(x)).to(x.device)
        terms = self._terms(x, eps, check=False)
        reconstruction, kl = terms["reconstruction"].mean(), terms["kl"].mean()
        classification = F.cross_entropy(terms["logits"], y.long())
        accuracy = (terms["logits"].argmax(1) == y).float().mean()
        loss = auxiliary_loss(terms["reconstruction"], terms["kl"], terms["logits"], y, self.classifier_weight)
        return {
            "loss": loss, "reconstruction": reconstruction, "kl": kl, "classification": classification, "accuracy": accuracy,
        }

    def log_weights(self, *args: Any, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} has no importance-weighted bound; use elbo(x).")

    def iwae_bound(self, *args: Any, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} has no importance-weighted bound; use elbo(x).")

    def weight_layers(self) -> list[tuple[str, Port, nn.Module]]:
        """Every weight layer in order, with its name and how to port it to Keras (:mod:`vae_course.convert`)."""
        dense = Port("dense")
        classifier = [("classifier.hidden", dense, self.classifier[0]), ("classifier.logits", dense, self.classifier[2])]
        return mlp_encoder_layers(self.encoder) + classifier + mlp_decoder_layers(self.decoder)


_ConditionalVAE = CVAE | AuxiliaryCVAE


@torch.no_grad()
def cvae_evaluate(
    model: _ConditionalVAE, x: ArrayLike, y: ArrayLike, *, batch_size: int = 512, seed: int = 0
) -> dict[str, float]:
    """Mean of every loss term over a labelled dataset, in eval mode, in nats per image.

    ``loss``, ``reconstruction`` and ``kl`` (and ``classification`` and
    ``accuracy`` for :class:`AuxiliaryCVAE`). The noise is drawn from a
    generator seeded with ``seed``: reproducible, and the global RNG is left alone.
    """
    x = model.check_inputs(x)
    device = next(model.parameters()).device
    x, y = x.to(device), model.check_labels(y, len(x)).to(device)
    generator = torch.Generator().manual_seed(seed)

    def seeded_loss(m: _ConditionalVAE, batch: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        eps = torch.randn(len(batch), m.latent_dim, generator=generator).to(batch.device)
        return m.vae_loss(batch, labels, eps=eps, check=False)

    return evaluate_terms(model, x, y, loss_fn=seeded_loss, batch_size=batch_size)


def cvae_train(
    model: _ConditionalVAE,
    x: ArrayLike,
    y: ArrayLike,
    *,
    epochs: int,
    batch_size: int,
    lr: float = 1e-3,
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    on_epoch_end: Callable[[int, _ConditionalVAE], None] | None = None,
) -> History:
    """Train a conditional VAE in place with Adam (the generic :func:`~vae_course.torch.training.train`).

    ``y`` holds the integer label of every image; ``validation`` is a pair
    ``(x_val, y_val)``. The history has the per-epoch means of every term of
    ``model.vae_loss`` (``loss``, ``reconstruction``, ``kl``, and
    ``classification`` and ``accuracy`` for :class:`AuxiliaryCVAE`) and their
    ``val_`` twins from :func:`cvae_evaluate`: the keys Keras's ``fit`` reports.

    ``on_epoch_end(epoch, model)``, if given, is called after every epoch
    (numbered from 1) and its validation, with the model in eval mode and
    gradients off: the place to decode a sample grid while training. It
    needs ``validation``.

    Raises:
        ValueError: images of the wrong shape, dtype or range, or bad labels.
        FloatingPointError: the loss became NaN or infinite.
    """
    labels = model.check_labels(y, len(x), name="y")
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise ValueError("validation must be a pair (x_val, y_val) of images and their integer labels.")
        validation = (validation[0], model.check_labels(validation[1], len(validation[0]), name="validation labels"))
    elif on_epoch_end is not None:
        raise ValueError("on_epoch_end runs after each epoch's validation: pass validation=(x_val, y_val) too.")
    epochs_done = 0

    def evaluate_fn(m: _ConditionalVAE, x_val: torch.Tensor, y_val: torch.Tensor) -> dict[str, float]:
        nonlocal epochs_done
        terms = cvae_evaluate(m, x_val, y_val, batch_size=max(batch_size, 512), seed=seed)
        epochs_done += 1
        if on_epoch_end is not None:
            m.eval()
            with torch.no_grad():
                on_epoch_end(epochs_done, m)
        return terms

    return train(
        model, x, epochs=epochs, batch_size=batch_size, lr=lr, x_target=labels, validation=validation, device=device,
        seed=seed, progress=progress, value_range=model.value_range,
        loss_fn=lambda m, batch, target: m.vae_loss(batch, target, check=False),
        evaluate_fn=evaluate_fn,
    )
