"""Variational autoencoders in Keras 3 (any backend: TensorFlow or PyTorch): an MLP one and the classic convolutional one.

The PyTorch models of :mod:`vae_course.torch.vae` have the same class names,
constructor arguments, methods and parameter counts, and compute the same
numbers once their weights are copied (:mod:`vae_course.parity`).

Conventions:

- inputs are float32: flat ``(N, 784)`` for :class:`MLPVAE`, channels-last
  ``(N, 28, 28, 1)`` (NHWC, the Keras layout) for :class:`ConvVAE`; in [0, 1]
  for the Bernoulli likelihood;
- ``model.encode(x)`` gives ``(z_mean, z_log_var)``, the mean and the
  *log-variance* of the diagonal Gaussian q(z|x);
- ``model.decode(z)`` gives the decoder's raw output: **logits** for the
  Bernoulli likelihood, the **mean** of the Gaussian for the Gaussian one;
- ``model(x)``, and so ``model.predict(x)``, returns reconstructions as
  **pixel values**: ``sigmoid(decode(z_mean))`` (probabilities) for the
  Bernoulli likelihood, ``decode(z_mean)`` for the Gaussian one. They are
  decoded at the posterior mean, so they are deterministic;
- ``compile(optimizer=...)`` then ``fit(x)`` trains on the ELBO (no ``loss``
  to compile and no targets: a ``y`` is accepted and ignored, so
  ``vae_course.keras.fit(model, x)`` works); ``fit`` and ``evaluate`` report
  ``loss``, ``reconstruction`` and ``kl`` (and ``val_`` versions);
- every quantity is in **nats**: the reconstruction term is the negative
  log-likelihood summed over the pixels of an image, the KL is summed over the
  latent dimensions, and batch values are means over images. They agree with
  the NumPy references of :mod:`vae_course.theory`.

The ELBO is always estimated at a *sampled* z = z_mean + exp(z_log_var / 2) * eps,
never at z_mean, in training and in evaluation alike.

Training uses Keras's own ``train_step`` and ``test_step``, so the same model
trains under ``KERAS_BACKEND=tensorflow`` and ``KERAS_BACKEND=torch``: only
``keras.ops`` and ``keras.random``, no ``tf.GradientTape``. Keras's step calls
the model in training mode, ``model(x, training=True)``, which here is the
forward pass of the loss: it samples z and returns the loss and its terms
(a dict), and the overridden :meth:`VAE.compute_loss` hands the loss to
Keras's backend-specific gradient code. ``model(x)`` (inference mode) returns
reconstructions as before.

``binarize=True`` trains on **dynamically binarised** images: every training step
redraws every batch as Bernoulli(pixel intensity), as in the VAE and IWAE
papers, instead of using the continuous pixels (the default, as in keras.io).
The two give numbers tens of nats apart: evaluate a binarised model on a test
set binarised once (``vae_course.data.binarize``), and say which kind a number is.
"""

from __future__ import annotations

import math
import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers, ops  # noqa: E402

from vae_course.convert import Port  # noqa: E402
from vae_course.inputs import LIKELIHOODS, check_shape, check_values, check_vae_settings  # noqa: E402

__all__ = [
    "CONV_FEATURE_SHAPE",
    "ConvVAE",
    "LIKELIHOODS",
    "MLPVAE",
    "StopOnNaN",
    "VAE",
    "bernoulli_nll",
    "check_inputs",
    "fan_in_uniform",
    "gaussian_kl",
    "gaussian_nll",
    "iwae_bound",
]

CONV_FEATURE_SHAPE = (14, 14, 64)
"""Channels-last shape of the last feature map of :class:`ConvVAE`'s encoder (and of its decoder's first)."""
LOG_2PI = math.log(2.0 * math.pi)


def fan_in_uniform() -> keras.initializers.Initializer:
    """PyTorch's default ``Linear`` weights, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as a Keras initializer.

    Keras's default, Glorot uniform, divides by fan_in + fan_out. For a layer
    that expands a 2-D code to 12,544 units that limit is 0.022 against 0.71
    here, so at the start the code barely reaches the decoder. Trained on all
    of MNIST with batches of 128, a ``ConvVAE(2)`` started from Glorot's
    weights stood at a test -ELBO of 151.7 after 30 epochs, against 146.5
    from PyTorch's initial weights.
    """
    return keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform")


# --- the three terms, one value per image -----------------------------------------------------------


def _per_image_sum(values):
    return ops.sum(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)


def gaussian_kl(z_mean, z_log_var):
    """Closed-form KL(N(z_mean, diag(exp(z_log_var))) || N(0, I)) per example, summed over the last axis.

    ``0.5 * sum(exp(z_log_var) - 1 - z_log_var + z_mean**2)``, with ``expm1``
    so that it stays accurate when q is close to the prior.
    """
    return 0.5 * ops.sum(ops.expm1(z_log_var) - z_log_var + ops.square(z_mean), axis=-1)


def bernoulli_nll(x, logits):
    """-log p(x | logits) of independent Bernoulli pixels, summed over every axis but the first.

    Binary cross-entropy from logits in its stable form
    ``max(l, 0) - l*x + log(1 + exp(-|l|))``: finite and exact for logits of +-1000.
    """
    logits = ops.cast(logits, logits.dtype)  # NumPy arrays become tensors: x and logits may be either, any backend
    x = ops.cast(x, logits.dtype)
    per_pixel = ops.relu(logits) - logits * x + ops.log1p(ops.exp(-ops.abs(logits)))
    return _per_image_sum(per_pixel)


def gaussian_nll(x, mean, std: float):
    """-log N(x; mean, std**2 I) summed over every axis but the first: a true negative log-density.

    ``sum((x - mean)**2) / (2 std**2) + D log(std) + D/2 log(2 pi)`` for ``D`` pixels.
    """
    mean = ops.cast(mean, mean.dtype)  # NumPy arrays become tensors: x and mean may be either, any backend
    z = (ops.cast(x, mean.dtype) - mean) / std
    return _per_image_sum(0.5 * ops.square(z) + (math.log(std) + 0.5 * LOG_2PI))


# --- input checks -----------------------------------------------------------------------------------


def _is_concrete(x: Any) -> bool:
    """Whether the values of ``x`` can be read now (NumPy, an eager tensor), not a symbolic one (a traced graph's).

    Any backend: TensorFlow's symbolic tensors inside ``tf.function`` have no
    ``numpy`` method; PyTorch tensors are always concrete.
    """
    if isinstance(x, np.ndarray):
        return True
    return ops.is_tensor(x) and not isinstance(x, keras.KerasTensor) and hasattr(x, "numpy")


def _to_numpy(x: Any) -> np.ndarray:
    """The values of a concrete array or tensor (any backend and device, with or without gradient) as NumPy."""
    return x if isinstance(x, np.ndarray) else np.asarray(ops.convert_to_numpy(x))


def check_inputs(
    x: Any,
    data_shape: tuple[int, ...],
    *,
    name: str = "x",
    value_range: tuple[float, float] | None = (0.0, 1.0),
    model_name: str = "the model",
) -> None:
    """Raise a ``ValueError`` that says what to do when ``x`` is not a batch of ``data_shape`` examples.

    Checks the dtype (floats; uint8 pixels need scaling) and the shape, with a
    hint for channels-first (PyTorch) images. For values that can be read now
    (NumPy arrays, eager tensors) it also checks that they are finite and in
    ``value_range`` (None: any). Symbolic tensors get the shape and dtype checks only.
    """
    if not (isinstance(x, np.ndarray) or ops.is_tensor(x) or isinstance(x, keras.KerasTensor)):
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        else:
            return  # a tf.data.Dataset, a generator, ...: Keras checks those itself
    dtype = np.dtype(x.dtype.as_numpy_dtype if hasattr(x.dtype, "as_numpy_dtype") else keras.backend.standardize_dtype(x.dtype))
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(
            f"{name} has dtype {dtype}; {model_name} expects float32 pixels in [0, 1]. "
            "Scale uint8 images with vae_course.data.scale(x) first."
        )
    check_shape(name, tuple(x.shape), data_shape, model_name=model_name, layout="nhwc")
    if not _is_concrete(x):
        return
    values = _to_numpy(x)
    if values.size == 0:
        raise ValueError(f"{name} is empty.")
    finite = bool(np.isfinite(values).all())
    check_values(
        name, float(values.min()), float(values.max()), finite=finite, value_range=value_range,
        purpose="the Bernoulli likelihood",
    )


class StopOnNaN(keras.callbacks.Callback):
    """Stop ``fit`` with a ``FloatingPointError`` that suggests the usual fixes when the loss is NaN or infinite.

    Keras's own ``TerminateOnNaN`` stops quietly; this one raises, so a
    notebook cell fails visibly. :meth:`VAE.fit` adds it automatically.
    """

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        value = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(value):
            lr = getattr(self.model.optimizer, "learning_rate", None)
            lr_text = f"lr={float(np.asarray(lr)):g}" if lr is not None else "the optimizer's"
            raise FloatingPointError(
                f"The VAE loss became {value} at batch {batch + 1}. Usual fixes: a lower learning rate "
                f"({lr_text}); inputs that are finite floats in the range the likelihood expects ([0, 1] for the "
                "Bernoulli one); a decoder that returns logits, not probabilities; and, if z_log_var explodes, "
                "gradient clipping (e.g. Adam(clipnorm=1.0)) or a clamp on z_log_var."
            )


# --- the models -------------------------------------------------------------------------------------


def _unpack(data: Any):
    """The inputs of a batch: ``x``, or the first item of ``(x, y)`` / ``(x, y, sample_weight)``."""
    if isinstance(data, (tuple, list)):
        return data[0]
    return data


class VAE(keras.Model):
    """What every VAE here shares: sampling, the ELBO and its terms, the loss Keras trains on, input checks.

    Subclasses build ``self.encoder`` (images -> ``[z_mean, z_log_var]``) and
    ``self.decoder`` (codes -> logits or Gaussian means), set
    ``self.data_shape`` (the shape of one example) and ``self.latent_dim``,
    then call :meth:`_finish`.
    """

    data_shape: tuple[int, ...]
    latent_dim: int
    supports_kl_warmup: bool = True  # whether training steps scale the KL by ``kl_weight`` (KLWarmup)

    def __init__(
        self, likelihood: str = "bernoulli", std: float = 0.5, beta: float = 1.0, binarize: bool = False, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        check_vae_settings(likelihood, std, beta, binarize)
        self.likelihood, self.std, self.beta, self.binarize = likelihood, float(std), float(beta), bool(binarize)
        # The share of beta that training steps charge; KLWarmup (vae_course.keras.training) ramps it up to 1.
        self.kl_weight = 1.0
        # seeded from Python's global RNG, so vae_course.profiles.set_seed makes the noise reproducible
        self.seed_generator = keras.random.SeedGenerator()
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def _finish(self) -> None:
        self.build((None, *self.data_shape))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim, "likelihood": self.likelihood, "std": self.std, "beta": self.beta,
            **({"binarize": True} if self.binarize else {}),  # absent when False: older cache keys stay valid
        }

    # -- input checks --------------------------------------------------------------------------------

    @property
    def value_range(self) -> tuple[float, float] | None:
        """The range inputs must lie in: [0, 1] for the Bernoulli likelihood, any for the Gaussian one."""
        return (0.0, 1.0) if self.likelihood == "bernoulli" else None

    def check_inputs(self, x: Any, name: str = "x") -> None:
        """Raise a ``ValueError`` saying what is wrong with ``x``: dtype, shape (channel order), NaN, range."""
        check_inputs(x, self.data_shape, name=name, value_range=self.value_range, model_name=type(self).__name__)

    def _check_data(self, data: Any, name: str) -> None:
        if data is not None:
            self.check_inputs(_unpack(data), name)

    # -- the model ------------------------------------------------------------------------------------

    def encode(self, x) -> tuple[Any, Any]:
        """``(z_mean, z_log_var)`` of q(z|x), each of shape (N, latent_dim)."""
        check_inputs(x, self.data_shape, value_range=None, model_name=type(self).__name__)
        z_mean, z_log_var = self.encoder(x)
        return z_mean, z_log_var

    def reparameterize(self, z_mean, z_log_var, eps=None):
        """A sample z = z_mean + exp(0.5 * z_log_var) * eps of q(z|x), differentiable in z_mean and z_log_var.

        ``eps`` defaults to fresh N(0, I) noise from the model's seed
        generator; it may carry extra leading sample axes.
        """
        if eps is None:
            eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        else:
            eps = ops.cast(eps, z_mean.dtype)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def decode(self, z):
        """The decoder's raw output for codes ``z``: logits (Bernoulli) or means (Gaussian)."""
        return self.decoder(z)

    def output_to_image(self, output):
        """Pixel values from the decoder's raw output: ``sigmoid(logits)`` or the Gaussian mean itself."""
        return ops.sigmoid(output) if self.likelihood == "bernoulli" else output

    def call(self, x, training: bool = False):
        """Reconstructions as pixel values, decoded at z = z_mean: what ``predict`` returns.

        In training mode (``training=True``, how Keras's ``train_step`` calls
        the model) it is instead the forward pass of the loss: a dict with
        ``loss``, ``reconstruction`` and ``kl`` at a sampled z (see :meth:`compute_loss`).
        """
        if training:
            return self._training_forward(x)
        check_inputs(x, self.data_shape, value_range=None, model_name=type(self).__name__)
        z_mean, _ = self.encoder(x, training=training)
        return self.output_to_image(self.decoder(z_mean, training=training))

    def reconstruct(self, x):
        """Reconstructed pixels, decoded at z = z_mean (the same as calling the model)."""
        return self(x)

    def generate(self, n: int, seed: int | None = None):
        """``n`` new images: decode z ~ N(0, I) and return pixel values (``seed`` makes them reproducible)."""
        z = keras.random.normal((n, self.latent_dim), seed=self.seed_generator if seed is None else seed)
        return self.output_to_image(self.decode(z))

    # -- the bound ------------------------------------------------------------------------------------

    def negative_log_likelihood(self, x, output):
        """-log p(x|z) per image in nats, from the decoder's output for z."""
        if self.likelihood == "bernoulli":
            return bernoulli_nll(x, output)
        return gaussian_nll(x, output, self.std)

    def _terms(self, x, eps, check: bool, training: bool = False) -> dict[str, Any]:
        if check:
            self.check_inputs(x)
        x = ops.cast(x, "float32")
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.reparameterize(z_mean, z_log_var, eps)
        output = self.decoder(z, training=training)
        return {"reconstruction": self.negative_log_likelihood(x, output), "kl": gaussian_kl(z_mean, z_log_var)}

    def elbo(self, x, *, eps=None, check: bool = True):
        """One-sample reparameterised ELBO estimate per image, shape (N,), in nats (beta is not applied).

        ``log p(x|z) - KL(q(z|x) || N(0, I))`` at z = z_mean + exp(z_log_var / 2) * eps,
        the KL in closed form.
        """
        terms = self._terms(x, eps, check)
        return -terms["reconstruction"] - terms["kl"]

    def vae_loss(self, x, *, eps=None, beta: float | None = None, check: bool = True) -> dict[str, Any]:
        """The training objective and its parts for one batch, each a mean over the images (scalar tensors).

        ``reconstruction``: -log p(x|z) at a sampled z, summed over pixels;
        ``kl``: closed-form KL summed over latent dimensions;
        ``loss = reconstruction + beta * kl``, which is -ELBO for beta = 1
        (``beta`` defaults to ``model.beta``). ``check=False`` skips the input checks.
        """
        return self._loss(x, eps, beta, check, training=False)

    def _loss(self, x, eps, beta: float | None, check: bool, training: bool) -> dict[str, Any]:
        terms = self._terms(x, eps, check, training)
        reconstruction, kl = ops.mean(terms["reconstruction"]), ops.mean(terms["kl"])
        return {"loss": reconstruction + self._kl_factor(beta, training) * kl, "reconstruction": reconstruction, "kl": kl}

    def _kl_factor(self, beta: float | None, training: bool) -> float:
        """The weight of the KL in a loss: ``beta`` if given, else ``model.beta``, times ``kl_weight`` in training steps."""
        if beta is not None:
            return float(beta)
        return self.beta * self.kl_weight if training else self.beta

    def log_weights(self, x, k: int, *, eps=None, check: bool = True):
        """Importance log-weights ``log p(x, z_k) - log q(z_k|x)`` for K samples z_k ~ q(z|x): shape (K, N).

        ``eps`` (shape (K, N, latent_dim)) fixes the noise. Since
        z = z_mean + sigma * eps, log p(z) - log q(z|x) = 0.5 * sum(eps**2 + z_log_var - z**2)
        (the log 2 pi terms cancel).
        """
        if check:
            self.check_inputs(x)
        if k < 1:
            raise ValueError(f"k (the number of importance samples) must be at least 1, got {k}.")
        x = ops.cast(x, "float32")
        z_mean, z_log_var = self.encoder(x)
        n = ops.shape(z_mean)[0]
        if eps is None:
            eps = keras.random.normal((k, n, self.latent_dim), seed=self.seed_generator)
        else:
            eps = ops.cast(eps, z_mean.dtype)
            if tuple(eps.shape) != (k, *z_mean.shape):
                raise ValueError(f"eps must have shape (k, N, latent_dim) = {(k, *z_mean.shape)}, got {tuple(eps.shape)}.")
        z = self.reparameterize(z_mean, z_log_var, eps)  # (K, N, d)
        output = self.decoder(ops.reshape(z, (-1, self.latent_dim)))
        x_k = ops.reshape(ops.broadcast_to(x, (k, *ops.shape(x))), (-1, *self.data_shape))
        log_px_z = ops.reshape(-self.negative_log_likelihood(x_k, output), (k, n))
        log_pz_minus_log_q = 0.5 * ops.sum(ops.square(eps) + z_log_var - ops.square(z), axis=-1)
        return log_px_z + log_pz_minus_log_q

    def iwae_bound(self, x, k: int, *, eps=None, check: bool = True):
        """The K-sample importance-weighted bound per image, shape (N,): see :func:`iwae_bound`."""
        log_w = self.log_weights(x, k, eps=eps, check=check)
        return ops.logsumexp(log_w, axis=0) - math.log(k)

    # -- Keras training ----------------------------------------------------------------------------------

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listing the trackers here makes Keras reset them at the start of every epoch and of evaluate().
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def _training_forward(self, x) -> dict[str, Any]:
        """What ``model(x, training=True)`` returns: the loss and its terms at a sampled z, on binarised x if asked."""
        return self._loss(self._binarized(x), None, None, check=False, training=True)

    def _binarized(self, x):
        """``x`` as given, or with ``binarize=True`` a fresh Bernoulli(x) draw (dynamic binarisation, every step)."""
        if not self.binarize:
            return x
        return ops.cast(keras.random.uniform(ops.shape(x), seed=self.seed_generator) < ops.cast(x, "float32"), "float32")

    def _training_loss(self, y_pred: dict[str, Any], y) -> dict[str, Any]:
        """The loss and its terms of a training step, from the forward pass's output (``y`` unused here)."""
        return y_pred

    def _evaluation_loss(self, x, y) -> dict[str, Any]:
        """The loss and its terms of an evaluation step, on the inputs as given (``y`` unused here)."""
        return self._loss(x, None, None, check=False, training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training: bool = True):
        """The loss Keras's ``train_step``/``test_step`` differentiate or report, with every term recorded.

        Keras calls it with the model's output ``y_pred`` in training mode (the
        dict of :meth:`_training_forward`); in evaluation ``y_pred`` holds the
        reconstructions at z_mean, so the bound is computed here at a sampled z.
        ``sample_weight`` is not supported (ignored).
        """
        values = self._training_loss(y_pred, y) if training else self._evaluation_loss(x, y)
        for metric in self.metrics:
            metric.update_state(values[metric.name])
        return values["loss"]

    def _keras_data(self, x, y) -> tuple[Any, Any]:
        """The ``(x, y)`` handed to Keras's ``fit``/``evaluate``: as given here (see the conditional VAEs)."""
        return x, y

    def fit(self, x=None, y=None, *args, validation_data=None, callbacks=None, **kwargs):
        """``keras.Model.fit`` after checking the inputs, with :class:`StopOnNaN` added. ``y`` is ignored."""
        self.check_inputs(x, "x")
        self._check_data(validation_data, "validation_data")
        callbacks = list(callbacks or [])
        if not any(isinstance(c, StopOnNaN) for c in callbacks):
            callbacks.append(StopOnNaN())
        if isinstance(validation_data, (tuple, list)) and len(validation_data) >= 2:
            validation_data = self._keras_data(validation_data[0], validation_data[1])
        x, y = self._keras_data(x, y)
        return super().fit(x, y, *args, validation_data=validation_data, callbacks=callbacks, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.evaluate`` after checking the inputs. ``y`` is ignored."""
        if kwargs.get("_use_cached_eval_dataset"):  # fit's validation: data already checked and prepared by fit
            return keras.Model.evaluate(self, x, y, *args, **kwargs)
        self.check_inputs(x, "x")
        return super().evaluate(*self._keras_data(x, y), *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        """Reconstructions as pixel values (see :meth:`call`), after checking the inputs."""
        self.check_inputs(x, "x")
        return super().predict(x, *args, **kwargs)

    def weight_layers(self) -> list[tuple[str, Port, keras.layers.Layer]]:
        """Every weight layer in order, with its name and how to port it to PyTorch (:mod:`vae_course.convert`)."""
        raise NotImplementedError


def _heads(hidden, latent_dim: int) -> list:
    return [layers.Dense(latent_dim, name="z_mean")(hidden), layers.Dense(latent_dim, name="z_log_var")(hidden)]


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
        **kwargs,
    ) -> None:
        kwargs.setdefault("name", "mlp_vae")
        super().__init__(likelihood, std, beta, binarize, **kwargs)
        self.hidden, self.latent_dim, self.input_dim, self.data_shape = hidden, latent_dim, input_dim, (input_dim,)
        inputs = keras.Input((input_dim,), name="image")
        h = layers.Dense(hidden, activation="relu", name="hidden")(inputs)
        self.encoder = keras.Model(inputs, _heads(h, latent_dim), name="encoder")
        self.decoder = keras.Sequential(
            [
                keras.Input((latent_dim,), name="z"),
                layers.Dense(hidden, activation="relu", name="hidden"),
                layers.Dense(input_dim, name="output"),  # logits or Gaussian means: no activation
            ],
            name="decoder",
        )
        self._finish()

    def get_config(self) -> dict:
        return {**super().get_config(), "hidden": self.hidden, "input_dim": self.input_dim}

    def weight_layers(self) -> list[tuple[str, Port, keras.layers.Layer]]:
        return mlp_encoder_layers(self.encoder) + mlp_decoder_layers(self.decoder)


def mlp_encoder_layers(encoder: keras.Model) -> list[tuple[str, Port, keras.layers.Layer]]:
    """The :meth:`VAE.weight_layers` entries of an encoder with layers ``hidden``, ``z_mean`` and ``z_log_var``."""
    return [(f"encoder.{name}", Port("dense"), encoder.get_layer(name)) for name in ("hidden", "z_mean", "z_log_var")]


def mlp_decoder_layers(decoder: keras.Model) -> list[tuple[str, Port, keras.layers.Layer]]:
    """The :meth:`VAE.weight_layers` entries of a decoder with ``Dense`` layers ``hidden`` and ``output``."""
    return [(f"decoder.{name}", Port("dense"), decoder.get_layer(name)) for name in ("hidden", "output")]


class ConvVAE(VAE):
    """The convolutional VAE of *Deep Learning with Python* (8.4), channels-last.

    Encoder: 3x3 ``Conv2D`` with 32, 64 (stride 2: 28 -> 14), 64 and 64
    channels, ReLU, ``padding="same"``; ``Flatten`` (14 * 14 * 64 = 12,544);
    ``Dense(32)`` ReLU; the two heads ``z_mean`` and ``z_log_var``.
    Decoder: ``Dense(14*14*64)`` ReLU (weights from :func:`fan_in_uniform`, as in
    PyTorch, not Glorot's: see there), ``Reshape((14, 14, 64))``, a 3x3
    stride-2 ``Conv2DTranspose`` to 32 channels (14 -> 28) ReLU, and a 3x3
    ``Conv2DTranspose`` to one channel of logits (no sigmoid: the loss works
    from logits; :meth:`call` applies it). 550,629 parameters for
    ``latent_dim=2``, as in the book.
    """

    def __init__(
        self, latent_dim: int = 2, likelihood: str = "bernoulli", std: float = 0.5, beta: float = 1.0,
        binarize: bool = False, **kwargs,
    ) -> None:
        kwargs.setdefault("name", "conv_vae")
        super().__init__(likelihood, std, beta, binarize, **kwargs)
        self.latent_dim, self.data_shape = latent_dim, (28, 28, 1)

        def conv(channels: int, name: str, strides: int = 1) -> layers.Layer:
            return layers.Conv2D(channels, 3, strides=strides, padding="same", activation="relu", name=name)

        inputs = keras.Input(self.data_shape, name="image")
        h = conv(32, "conv1")(inputs)
        h = conv(64, "conv2", strides=2)(h)  # 28 -> 14
        h = conv(64, "conv3")(h)
        h = conv(64, "conv4")(h)
        h = layers.Flatten(name="flatten")(h)  # channels-last order: (14, 14, 64) -> 12,544
        h = layers.Dense(32, activation="relu", name="hidden")(h)
        self.encoder = keras.Model(inputs, _heads(h, latent_dim), name="encoder")
        self.decoder = keras.Sequential(
            [
                keras.Input((latent_dim,), name="z"),
                layers.Dense(
                    int(np.prod(CONV_FEATURE_SHAPE)), activation="relu", kernel_initializer=fan_in_uniform(), name="hidden"
                ),
                layers.Reshape(CONV_FEATURE_SHAPE, name="reshape"),
                layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", name="upsample"),  # 14 -> 28
                layers.Conv2DTranspose(1, 3, padding="same", name="output"),  # one channel of logits
            ],
            name="decoder",
        )
        self._finish()

    def weight_layers(self) -> list[tuple[str, Port, keras.layers.Layer]]:
        conv = Port("conv2d")
        return [
            ("encoder.conv1", conv, self.encoder.get_layer("conv1")),
            ("encoder.conv2", conv, self.encoder.get_layer("conv2")),
            ("encoder.conv3", conv, self.encoder.get_layer("conv3")),
            ("encoder.conv4", conv, self.encoder.get_layer("conv4")),
            ("encoder.hidden", Port("flatten_dense", CONV_FEATURE_SHAPE), self.encoder.get_layer("hidden")),
            ("encoder.z_mean", Port("dense"), self.encoder.get_layer("z_mean")),
            ("encoder.z_log_var", Port("dense"), self.encoder.get_layer("z_log_var")),
            ("decoder.hidden", Port("dense_reshape", CONV_FEATURE_SHAPE), self.decoder.get_layer("hidden")),
            ("decoder.upsample", Port("conv2d_transpose"), self.decoder.get_layer("upsample")),
            ("decoder.output", Port("conv2d_transpose"), self.decoder.get_layer("output")),
        ]


def iwae_bound(model: VAE, x, k: int, *, eps=None):
    """The K-sample importance-weighted bound log((1/K) sum_k p(x, z_k) / q(z_k|x)) **per image**, shape (N,).

    A lower bound on log p(x) in nats that tightens as K grows; K = 1 is the
    one-sample ELBO with the KL estimated by Monte Carlo (same expectation as
    :meth:`VAE.elbo`). Returns a tensor: take ``np.mean`` of it for a dataset
    estimate, and call it in batches (it decodes K * N samples at once).
    ``eps`` of shape (K, N, latent_dim) fixes the noise.
    """
    return model.iwae_bound(x, k, eps=eps)
