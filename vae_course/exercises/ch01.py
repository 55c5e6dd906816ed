"""Checks of chapter 01 (autoencoders).

Each ``check_<name>(fn, hidden=False)`` raises :class:`~vae_course.checks.ExerciseFailure`
with a message that names the mistake, or prints one success line.
``hidden=True`` adds edge cases and fails an answer that only calls the
package's reference implementation.

Importing this module imports neither PyTorch nor TensorFlow;
:func:`check_build_conv_encoder` imports PyTorch when it runs.
"""

from __future__ import annotations

import re
from statistics import NormalDist
from typing import Any, Callable

import numpy as np

from vae_course.checks import (
    Case, ExerciseFailure, Mistake, check_function, expect, forbid, passed, reject_reference, run, to_numpy,
)
from vae_course.data import add_gaussian_noise as reference_add_gaussian_noise
from vae_course.metrics import anomaly_threshold as reference_anomaly_threshold
from vae_course.metrics import bce_loss as reference_bce_loss

__all__ = [
    "check_bce_loss",
    "check_add_gaussian_noise",
    "check_build_conv_encoder",
    "check_anomaly_threshold",
    "BCE_MISTAKES",
    "THRESHOLD_MISTAKES",
]


# --- Exercise 1: binary cross-entropy -------------------------------------------------------------


def _per_pixel_bce(x: np.ndarray, x_hat: np.ndarray, eps: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    p = np.clip(np.asarray(x_hat, dtype=np.float64), eps, 1 - eps)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


def _unclipped_bce(x: np.ndarray, x_hat: np.ndarray, eps: float = 1e-7) -> float:
    x, x_hat = np.asarray(x, dtype=np.float64), np.asarray(x_hat, dtype=np.float64)
    with np.errstate(all="ignore"):
        per_pixel = -(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat))
    return float(per_pixel.reshape(len(x), -1).sum(1).mean())


BCE_MISTAKES = [
    Mistake(
        "you averaged over the pixels (as Keras's 'binary_crossentropy' does); "
        "sum over the pixels of each image, then average over the images.",
        lambda x, x_hat, eps=1e-7: float(np.mean(_per_pixel_bce(x, x_hat, eps))),
    ),
    Mistake(
        "you summed over the images as well; sum over the pixels of each image, then average over the images (divide by N).",
        lambda x, x_hat, eps=1e-7: float(np.sum(_per_pixel_bce(x, x_hat, eps))),
    ),
    Mistake(
        "you returned one loss per image; average them over the images into a single number.",
        lambda x, x_hat, eps=1e-7: _per_pixel_bce(x, x_hat, eps).reshape(len(x), -1).sum(1),
    ),
    Mistake(
        "the sign is flipped: the binary cross-entropy is -sum[x log x_hat + (1 - x) log(1 - x_hat)], which is never negative.",
        lambda x, x_hat, eps=1e-7: -reference_bce_loss(x, x_hat, eps),
    ),
    Mistake(
        "x and x_hat are swapped: the logarithms are of the reconstruction x_hat, weighted by the target pixels x.",
        lambda x, x_hat, eps=1e-7: reference_bce_loss(x_hat, x, eps),
    ),
    Mistake(
        "you kept only the x log(x_hat) term: add (1 - x) log(1 - x_hat), which penalises bright reconstructions of dark pixels.",
        lambda x, x_hat, eps=1e-7: float(
            np.mean(-np.sum((np.asarray(x) * np.log(np.clip(x_hat, eps, 1 - eps))).reshape(len(x), -1), axis=1))
        ),
    ),
    Mistake(
        "without clipping, a reconstruction of exactly 0 or 1 gives log(0) = -inf and an infinite or NaN loss: "
        "clip x_hat to [eps, 1 - eps] before taking logarithms.",
        _unclipped_bce,
    ),
]


def _bce_cases(hidden: bool) -> tuple[list[Case], list[Case]]:
    rng = np.random.default_rng(101)
    soft = Case((rng.random((4, 784)), rng.uniform(0.05, 0.95, (4, 784))))
    binary = Case(((rng.random((3, 28, 28)) < 0.3).astype(np.float64), rng.uniform(0.01, 0.99, (3, 28, 28))))
    edge = Case((np.array([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 0.0, 0.25]]), np.array([[1.0, 0.0, 0.0, 0.5], [1.0, 1.0, 0.0, 0.0]])))
    interior, extreme = [soft, binary], [edge]
    if hidden:
        interior += [
            Case((rng.random((2, 1, 28, 28)), rng.uniform(0.02, 0.98, (2, 1, 28, 28)))),  # NCHW images
            Case((rng.random((1, 784)), rng.uniform(0.1, 0.9, (1, 784)))),  # a single image
            Case((rng.random((5, 784)).astype(np.float32), rng.uniform(0.1, 0.9, (5, 784)).astype(np.float32))),
        ]
        extreme += [
            Case((np.array([[1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 1.0]])), {"eps": 1e-3}),  # eps is used
            Case((np.ones((2, 10)), np.ones((2, 10)))),  # a perfect reconstruction costs (almost) nothing
        ]
    return interior, extreme


def check_bce_loss(fn: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 1: ``bce_loss(x, x_hat, eps=1e-7)``, summed over pixels and averaged over images."""
    exercise = "bce_loss"
    forbidden = (reference_bce_loss,) if hidden else ()
    if hidden:
        reject_reference(exercise, fn, reference_bce_loss)
    interior, extreme = _bce_cases(hidden)
    with np.errstate(all="ignore"):
        # An answer that is right except for clipping passes the first cases: name that mistake whatever the output.
        for case in extreme:
            with forbid(*forbidden):
                value = to_numpy(run(exercise, fn, case))
            if isinstance(value, np.ndarray) and value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
                raise ExerciseFailure(
                    exercise, f"it returned {value} when some reconstructed pixels are exactly 0 or 1; " + BCE_MISTAKES[-1].message
                )
        check_function(
            exercise, fn, reference_bce_loss, interior + extreme, mistakes=BCE_MISTAKES, forbidden=forbidden, rtol=1e-4
        )


# --- Exercise 3: Gaussian noise -------------------------------------------------------------------


def _noise_runner(exercise: str, fn: Callable[..., Any]) -> Callable[[np.ndarray, float, int], np.ndarray]:
    """Call ``fn(x, noise_std, rng)`` with a fresh generator seeded ``seed``, checking the result's type, shape and dtype."""

    def call(x: np.ndarray, noise_std: float, seed: int) -> np.ndarray:
        out = run(exercise, lambda images, std: fn(images, std, np.random.default_rng(seed)), Case((x, noise_std)))
        expect(exercise, isinstance(out, np.ndarray), f"it returned {type(out).__name__}; return a NumPy array.")
        expect(exercise, out.shape == x.shape, f"it returned shape {out.shape} for images of shape {x.shape}; keep the shape.")
        expect(exercise, out.dtype == np.float32, f"it returned dtype {out.dtype}; return float32 (.astype(np.float32)).")
        return out

    return call


def check_add_gaussian_noise(fn: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 3: ``add_gaussian_noise(x, noise_std, rng)``, checked statistically."""
    exercise = "add_gaussian_noise"
    forbidden = (reference_add_gaussian_noise,) if hidden else ()
    if hidden:
        reject_reference(exercise, fn, reference_add_gaussian_noise)
    if not callable(fn):
        raise ExerciseFailure(exercise, f"expected a function, got {type(fn).__name__}.")
    call = _noise_runner(exercise, fn)
    with forbid(*forbidden):
        # Mid-grey images and a small std: clipping is negligible, so out - x is the noise itself.
        grey = np.full((100, 28, 28), 0.5, dtype=np.float32)
        std = 0.05
        noise = call(grey, std, 0).astype(np.float64) - 0.5
        expect(exercise, np.abs(noise).max() > 0, "it returned the images unchanged; add the noise.")
        expect(
            exercise,
            not np.allclose(noise[0], noise[1]),
            "every image got the same noise; draw noise of the full shape x.shape, not one image's shape.",
        )
        clipped = float(np.mean(np.abs(noise) >= 0.5))
        expect(
            exercise,
            clipped < 1e-3,
            f"the noise is far too strong: {clipped:.1%} of mid-grey (0.5) pixels ended up clipped at 0 or 1, "
            f"which Gaussian noise of standard deviation noise_std = {std} almost never does.",
        )
        centred = noise - noise.mean()
        kurtosis = float(np.mean(centred**4) / np.mean(centred**2) ** 2 - 3.0)
        expect(
            exercise,
            kurtosis > -0.6,
            f"the noise looks uniform, not Gaussian (its excess kurtosis is {kurtosis:.2f}; a Gaussian's is 0): "
            "use rng.normal or rng.standard_normal, not rng.random or rng.uniform.",
        )
        measured = float(noise.std())
        expect(
            exercise,
            abs(measured - std**2) > 0.2 * std**2,
            f"the noise has standard deviation {measured:.4f} = noise_std**2: you used the variance as the standard "
            "deviation. The scale of rng.normal is the standard deviation itself.",
        )
        expect(
            exercise,
            abs(measured / std - 1) < 0.03,
            f"the noise has standard deviation {measured:.4f}, expected noise_std = {std}.",
        )
        mean = float(noise.mean())
        expect(exercise, abs(mean) < 0.002, f"the noise has mean {mean:.4f}; it should have mean 0.")

        # Black and white images with strong noise: half the noise pushes pixels outside [0, 1].
        binary = np.zeros((50, 28, 28), dtype=np.float32)
        binary[:, :, 14:] = 1.0
        out = call(binary, 0.3, 1)
        expect(
            exercise,
            out.min() >= 0.0 and out.max() <= 1.0,
            f"the output has values in [{out.min():.3f}, {out.max():.3f}]: it is not clipped. "
            "Pixels must stay in [0, 1]: use np.clip(..., 0.0, 1.0).",
        )
        expect(
            exercise,
            0.4 < float(np.mean(out[:, :, :14] == 0.0)) < 0.6,
            "dark pixels should be clipped at 0 about half of the time (whenever their noise is negative); "
            "clip to [0, 1] after adding the noise.",
        )

        first, again, other = call(grey, std, 7), call(grey, std, 7), call(grey, std, 8)
        expect(
            exercise,
            np.array_equal(first, again),
            "two calls with generators seeded alike gave different noise: draw the noise from the rng argument "
            "(rng.normal(...)), not from the global np.random functions, so that results are reproducible.",
        )
        expect(
            exercise,
            not np.array_equal(first, other),
            "the noise is the same whatever the rng: draw it from the rng argument, not from a generator of your own.",
        )

        if hidden:
            zero = call(binary, 0.0, 2)
            expect(exercise, np.array_equal(zero, binary), "with noise_std = 0 the images must come back unchanged.")
            flat = np.random.default_rng(3).random((20, 784))  # float64, flat
            out = call(flat, 0.2, 4)  # float64 in, float32 out (checked by call)
            expect(exercise, out.min() >= 0.0 and out.max() <= 1.0, "for flat float64 images the output is not clipped to [0, 1].")
            nchw = np.random.default_rng(5).random((8, 1, 28, 28)).astype(np.float32)
            out = call(nchw, 0.05, 6)
            expect(exercise, float(np.abs(out - nchw).max()) < 0.5, "for (N, 1, 28, 28) images the noise is far too large.")
    passed(exercise, "shape, dtype, clipping, Gaussian statistics and reproducibility" + (" and edge cases" if hidden else ""))


# --- Exercise 2: convolutional encoder ------------------------------------------------------------

CONV_ENCODER_LAYERS = "Conv2d(1, 32): 320, Conv2d(32, 64): 18,496, Conv2d(64, 128): 73,856, Linear(2048, latent_dim): 2048*latent_dim + latent_dim"
PADDING_MESSAGE = (
    "every Conv2d needs padding=1: with kernel_size=3 and stride=2 the side then goes 28 -> 14 -> 7 -> 4, "
    "so the flattened feature map has 128*4*4 = 2048 values. Without padding it goes 28 -> 13 -> 6 -> 2."
)
CHANNELS_LAST_MESSAGE = (
    "your encoder treats its input as channels-last (N, 28, 28, 1), e.g. it permutes or reshapes it; "
    "PyTorch convolutions take channels-first images (N, 1, 28, 28), which is what the test gives it."
)
LINEAR_MESSAGE = (
    "your encoder is affine: f(a + b) - f(b) = f(a) - f(0). Without a ReLU after each convolution, the layers "
    "collapse into one linear map, and a linear autoencoder can do no better than PCA."
)


def _expected_encoder_parameters(latent_dim: int) -> int:
    return 320 + 18_496 + 73_856 + 2048 * latent_dim + latent_dim


def _layer_counts(module: Any) -> str:
    parts = []
    for name, child in module.named_modules():
        own = sum(p.numel() for p in child.parameters(recurse=False))
        if own:
            parts.append(f"{name or type(child).__name__} ({type(child).__name__}): {own:,}")
    return "; ".join(parts) or "no parameters"


def _forward(exercise: str, encoder: Any, x: Any) -> Any:
    """``encoder(x)``, translating shape errors into what went wrong in the architecture."""
    try:
        return run(exercise, lambda: encoder(x), Case(), check_inputs_unchanged=False)
    except ExerciseFailure as failure:
        cause = failure.__cause__
        text = str(cause) if cause is not None else ""
        channels = re.search(r"to have (\d+) channels, but got (\d+) channels", text)
        if channels and channels.group(2) == "28":
            raise ExerciseFailure(exercise, f"{CHANNELS_LAST_MESSAGE} (PyTorch said: {text})") from None
        if channels:
            raise ExerciseFailure(
                exercise,
                f"a convolution expected {channels.group(1)} input channels but got {channels.group(2)}: each Conv2d's "
                "in_channels must be the previous layer's out_channels (1 -> 32 -> 64 -> 128).",
            ) from None
        match = re.search(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)", text)
        if match:
            flat, expects = int(match.group(2)), int(match.group(3))
            raise ExerciseFailure(
                exercise,
                f"the flattened feature map has {flat} values but the Linear layer expects {expects}. With kernel_size=3, "
                "stride=2 and padding=1 the side goes 28 -> 14 -> 7 -> 4, so the Linear layer needs 128*4*4 = 2048 inputs.",
            ) from None
        raise


def check_build_conv_encoder(fn: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 2: ``build_conv_encoder(latent_dim=2)``, a PyTorch module mapping (N, 1, 28, 28) to (N, latent_dim)."""
    import torch
    from torch import nn

    from vae_course.torch.autoencoders import ConvAE, ConvEncoder

    exercise = "build_conv_encoder"
    forbidden = (ConvEncoder, ConvAE) if hidden else ()
    if hidden:
        reject_reference(exercise, fn, ConvEncoder)
    if not callable(fn):
        raise ExerciseFailure(exercise, f"expected a function, got {type(fn).__name__}.")
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(4, 1, 28, 28, generator=generator)
    with forbid(*forbidden):
        torch.manual_seed(0)
        encoder = run(exercise, fn, Case(kwargs={"latent_dim": 2}))
        expect(
            exercise,
            isinstance(encoder, nn.Module),
            f"it returned {type(encoder).__name__}; return an instance of an nn.Module (e.g. nn.Sequential(...)).",
        )
        if hidden:
            expect(
                exercise,
                not isinstance(encoder, ConvEncoder),
                "your answer uses the package's reference implementation (ConvEncoder); build the layers yourself (it earns no points).",
            )
        convs = [m for m in encoder.modules() if isinstance(m, nn.Conv2d)]
        if any(c.padding in ((0, 0), "valid") for c in convs):
            # Report it before the forward pass: the shapes may still fit a Linear layer sized for 2x2 maps.
            raise ExerciseFailure(exercise, PADDING_MESSAGE)
        with torch.no_grad():
            z = _forward(exercise, encoder, images)
        expect(exercise, isinstance(z, torch.Tensor), f"its output is {type(z).__name__}; return the tensor of codes.")
        expect(
            exercise,
            tuple(z.shape) == (4, 2),
            f"for 4 images and latent_dim=2 the code has shape {tuple(z.shape)}, expected (4, 2): "
            "flatten the (128, 4, 4) feature map and end with Linear(128 * 4 * 4, latent_dim).",
        )
        expect(
            exercise,
            [(c.in_channels, c.out_channels) for c in convs] == [(1, 32), (32, 64), (64, 128)],
            f"the convolutions map channels {[(c.in_channels, c.out_channels) for c in convs]}; "
            "expected three: 1 -> 32, 32 -> 64, 64 -> 128.",
        )
        expect(
            exercise,
            all(tuple(c.stride) == (2, 2) and tuple(c.kernel_size) == (3, 3) for c in convs),
            "each Conv2d must have kernel_size=3 and stride=2 (the stride does the downsampling, no pooling).",
        )
        with torch.no_grad():
            a, b = 0.5 * torch.rand(2, 4, 1, 28, 28, generator=generator)
            zero = torch.zeros_like(a)
            lhs = _forward(exercise, encoder, a + b) - _forward(exercise, encoder, b)
            rhs = _forward(exercise, encoder, a) - _forward(exercise, encoder, zero)
        expect(exercise, not torch.allclose(lhs, rhs, rtol=1e-4, atol=1e-5), LINEAR_MESSAGE)
        count = sum(p.numel() for p in encoder.parameters())
        expected = _expected_encoder_parameters(2)
        expect(
            exercise,
            count == expected,
            f"your encoder has {count:,} parameters, expected {expected:,} for latent_dim=2 ({CONV_ENCODER_LAYERS}). "
            f"Yours: {_layer_counts(encoder)}.",
        )
        other = run(exercise, fn, Case(kwargs={"latent_dim": 5}))
        with torch.no_grad():
            shape = tuple(_forward(exercise, other, images).shape)
        expect(exercise, shape == (4, 5), f"with latent_dim=5 the code has shape {shape}, expected (4, 5): use the latent_dim argument.")

        if hidden:
            with torch.no_grad():
                single = _forward(exercise, encoder, images[:1])
            expect(
                exercise,
                tuple(single.shape) == (1, 2),
                f"for a batch of one image the code has shape {tuple(single.shape)}, expected (1, 2): flatten with "
                "nn.Flatten() or x.flatten(1), not x.squeeze() or a view with a fixed batch size.",
            )
            z = _forward(exercise, encoder, images)
            expect(
                exercise,
                z.requires_grad,
                "the code does not depend on the parameters through autograd (detached or computed under no_grad): "
                "training could not update the encoder.",
            )
            big = run(exercise, fn, Case(kwargs={"latent_dim": 16}))
            count = sum(p.numel() for p in big.parameters())
            expect(
                exercise,
                count == _expected_encoder_parameters(16),
                f"with latent_dim=16 it has {count:,} parameters, expected {_expected_encoder_parameters(16):,}.",
            )
    passed(exercise, "shapes, layers, nonlinearity and parameter count" + (" and edge cases" if hidden else ""))


# --- Exercise 4: anomaly threshold ----------------------------------------------------------------


def _mean_plus_std(k: float, ddof: int = 0) -> Callable[..., float]:
    def threshold(scores: np.ndarray, false_positive_rate: float) -> float:
        s = np.asarray(scores, dtype=np.float64)
        return float(s.mean() + k * s.std(ddof=ddof))

    return threshold


def _gaussian_quantile(scores: np.ndarray, false_positive_rate: float) -> float:
    s = np.asarray(scores, dtype=np.float64)
    return float(s.mean() + s.std() * NormalDist().inv_cdf(1 - false_positive_rate))


def _order_statistic(index: Callable[[int, float], int]) -> Callable[..., float]:
    def threshold(scores: np.ndarray, false_positive_rate: float) -> float:
        s = np.sort(np.asarray(scores, dtype=np.float64))
        return float(s[index(len(s), false_positive_rate)])

    return threshold


_GAUSSIAN_MESSAGE = (
    "you assumed normally distributed scores (mean + k * std); reconstruction errors are skewed, "
    "so use the empirical quantile of the normal scores: np.quantile(normal_scores, 1 - false_positive_rate)."
)
_ORDER_MESSAGE = (
    "you picked one of the sorted scores; the statement asks for np.quantile's linear interpolation between "
    "the two nearest scores: np.quantile(normal_scores, 1 - false_positive_rate)."
)

THRESHOLD_MISTAKES = [
    Mistake(
        "you took the false_positive_rate quantile, which flags 1 - false_positive_rate of the normal images; "
        "the threshold must leave only a fraction false_positive_rate of normal scores above it: use 1 - false_positive_rate.",
        lambda scores, false_positive_rate: float(np.quantile(np.asarray(scores, dtype=np.float64), false_positive_rate)),
    ),
    Mistake(
        "np.percentile expects a percentage between 0 and 100 and you gave it a fraction; "
        "use np.quantile(normal_scores, 1 - false_positive_rate) or np.percentile(..., 100 * (1 - false_positive_rate)).",
        lambda scores, false_positive_rate: float(np.percentile(np.asarray(scores, dtype=np.float64), 1 - false_positive_rate)),
    ),
    Mistake(
        "np.percentile expects a percentage between 0 and 100 and you gave it a fraction; "
        "use np.quantile(normal_scores, 1 - false_positive_rate) or np.percentile(..., 100 * (1 - false_positive_rate)).",
        lambda scores, false_positive_rate: float(np.percentile(np.asarray(scores, dtype=np.float64), false_positive_rate)),
    ),
    Mistake(_GAUSSIAN_MESSAGE, _gaussian_quantile),
    *[Mistake(_GAUSSIAN_MESSAGE, _mean_plus_std(k, ddof)) for k in (1.0, 1.645, 1.96, 2.0, 2.5, 3.0) for ddof in (0, 1)],
    Mistake(_ORDER_MESSAGE, _order_statistic(lambda n, fpr: int((1 - fpr) * n))),
    Mistake(_ORDER_MESSAGE, _order_statistic(lambda n, fpr: int(np.ceil((1 - fpr) * n)) - 1)),
    Mistake(_ORDER_MESSAGE, _order_statistic(lambda n, fpr: int(round((1 - fpr) * (n - 1))))),
    Mistake(_ORDER_MESSAGE, _order_statistic(lambda n, fpr: int((1 - fpr) * (n - 1)))),
]


def check_anomaly_threshold(fn: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 4: ``anomaly_threshold(normal_scores, false_positive_rate)``, the (1 - rate) quantile."""
    exercise = "anomaly_threshold"
    rng = np.random.default_rng(404)
    cases = [
        Case((rng.gamma(2.0, 1.0, 1000), 0.05)),
        Case((np.arange(1.0, 101.0), 0.1)),
        Case((np.array([3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0]), 0.25)),
    ]
    if hidden:
        cases += [
            Case(([0.2, 0.1, 0.4, 0.3], 0.5)),  # a list, not an array
            Case((np.array([2.5]), 0.01)),  # a single score
            Case((rng.lognormal(0.0, 1.0, 10_000).astype(np.float32), 0.01)),
            Case((rng.random(50), 0.0)),  # no false positives at all: the largest score
        ]
    forbidden = (reference_anomaly_threshold,) if hidden else ()
    check_function(
        exercise, fn, reference_anomaly_threshold, cases, mistakes=THRESHOLD_MISTAKES, forbidden=forbidden, rtol=1e-6
    )
