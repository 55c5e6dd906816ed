"""Checks for the exercises of chapter 04, VAE in Keras 3.

Exercises 1 and 2 are Keras framework code (a ``Sampling`` layer, the VAE loss
in ``keras.ops``), graded by their behaviour on fixed inputs: the statistics of
many draws, fresh noise on every call, reproducibility with a seed, the loss of
each image in nats. Exercises 3 and 4 are NumPy/SciPy (the inverse-CDF grid,
the share of a grid outside the prior's bulk). ``hidden=True`` adds edge cases
and fails an answer that merely calls the package's reference.
"""

from __future__ import annotations

import io
import os
from contextlib import redirect_stdout
from typing import Any, Callable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402
from scipy import stats  # noqa: E402

from vae_course import latent  # noqa: E402
from vae_course.checks import (  # noqa: E402
    REFERENCE_CALLED, Case, ExerciseFailure, Mistake, compare_quietly, expect, forbid, matches_summary, passed,
    reject_reference, to_numpy,
)
from vae_course.exercises import ch03  # noqa: E402
from vae_course.keras import layers as keras_layers  # noqa: E402
from vae_course.keras import vae as keras_vae  # noqa: E402

EX_SAMPLING = "Exercise 1 (Sampling)"
EX_VAE_LOSS = "Exercise 2 (vae_loss)"
EX_GRID = "Exercise 3 (inverse_cdf_grid)"
EX_OUTSIDE = "Exercise 4 (share_outside_prior)"

NOT_IMPLEMENTED = "not implemented yet: replace `raise NotImplementedError()` with your code."
CALLS_REFERENCE = "your answer calls the package's reference implementation; write your own (calling it earns no points)."


def _call(exercise: str, fn: Callable[..., Any], *args: Any, hint: str | None = None, **kwargs: Any) -> Any:
    """Call a student's code; turn a stub, a call of the reference or any error into feedback.

    Keras re-raises errors from inside a layer with extra text, so the
    reference marker is looked for inside the message, not compared with it.
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseFailure(exercise, NOT_IMPLEMENTED) from None
    except ExerciseFailure:
        raise
    except Exception as error:  # noqa: BLE001 - reported to the student
        if REFERENCE_CALLED in str(error):
            raise ExerciseFailure(exercise, CALLS_REFERENCE) from None
        message = f"it raised {type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        raise ExerciseFailure(exercise, f"{hint} ({message})" if hint else message) from error


def _array(value: Any) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(value), dtype=np.float64)


# --------------------------------------------------------------------------- Exercise 1

STD_FROM_LOG_VAR = (
    "your samples have standard deviation exp(z_log_var): you read z_log_var as a log standard deviation. It is a log-"
    "variance, so the standard deviation is exp(0.5 * z_log_var) (this is the bug in the sampling function of Deep "
    "Learning with Python, 8.4)"
)
EPS_STD_01 = (
    "your eps has standard deviation 0.1, like the KDnuggets introduction's random_normal(..., stddev=0.1). eps must be "
    "N(0, 1): the spread of z comes from exp(0.5 * z_log_var) alone"
)
EPS_STD_01_AND_EXP = (
    "your samples have standard deviation 0.1 * exp(z_log_var): eps drawn with stddev 0.1 and z_log_var read as a log "
    "standard deviation, both bugs of the KDnuggets introduction. Use eps ~ N(0, 1) and exp(0.5 * z_log_var)"
)
LOG_VAR_AS_STD = "you multiplied eps by z_log_var itself; the standard deviation is exp(0.5 * z_log_var)"
LOG_VAR_IGNORED = "your samples have standard deviation 1 in every dimension: you ignored z_log_var (the std is exp(0.5 * z_log_var))"
NO_NOISE = "your samples have no randomness: z = z_mean + exp(0.5 * z_log_var) * eps with eps ~ N(0, I), not z_mean itself"
NOT_CENTRED = "your samples are not centred on z_mean: z = z_mean + exp(0.5 * z_log_var) * eps (did you forget to add z_mean?)"
SAME_NOISE = (
    "two calls of the same layer on the same inputs returned the same z: the noise is fixed. Draw a fresh eps inside "
    "call() with keras.random.normal(ops.shape(z_mean), seed=self.seed_generator); an integer seed, or an eps made "
    "once in __init__, gives the same noise every time"
)
NOT_REPRODUCIBLE = (
    "two layers built with the same seed drew different noise: your layer ignores its seed generator. Create "
    "self.seed_generator = keras.random.SeedGenerator(seed) in __init__ and draw with seed=self.seed_generator"
)
SEED_IGNORED = (
    "layers built with different seeds drew the same noise: pass seed to keras.random.SeedGenerator(seed) in __init__"
)
SYMBOLIC = (
    "your layer fails on symbolic inputs of unknown batch size, as in a functional model built on keras.Input: take "
    "the shape with ops.shape(z_mean) and draw with keras.random.normal, not NumPy"
)
COMPILED_SAME_NOISE = (
    "inside a compiled model (model.predict), two calls returned the same z: your noise became a constant when Keras "
    "traced the graph. Draw it with keras.random.normal and the layer's SeedGenerator, not with NumPy"
)

def _build(exercise: str, sampling: Any, seed: int) -> keras.layers.Layer:
    layer = _call(exercise, sampling, seed=seed)
    expect(
        exercise, isinstance(layer, keras.layers.Layer),
        f"Sampling(seed=...) must build a Keras layer (a subclass of keras.layers.Layer), got {type(layer).__name__}",
    )
    return layer


def _draw(exercise: str, layer: keras.layers.Layer, z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    z = _call(exercise, layer, [z_mean, z_log_var])
    z = _array(z)
    expect(exercise, z.shape == z_mean.shape, f"it returned shape {z.shape} for z_mean of shape {z_mean.shape}; z has the shape of z_mean")
    expect(exercise, bool(np.all(np.isfinite(z))), "your samples contain inf or nan")
    return z


SAMPLING_MESSAGES = ch03.SamplingMessages(
    STD_FROM_LOG_VAR, EPS_STD_01, EPS_STD_01_AND_EXP, LOG_VAR_IGNORED, LOG_VAR_AS_STD, NO_NOISE, NOT_CENTRED,
    "your eps is not standard normal:", "keras.random.normal",
)


def _sampling_statistics(exercise: str, layer: keras.layers.Layer) -> None:
    """The statistical test of chapter 03's reparameterisation exercise, on the layer's samples."""
    z_mean, z_log_var = ch03.statistics_inputs(np.float32)
    z = _draw(exercise, layer, z_mean, z_log_var)
    ch03.check_sample_statistics(exercise, z, SAMPLING_MESSAGES, no_noise_below=1e-6)


def check_sampling(sampling: Any, hidden: bool = False) -> None:
    """Exercise 1: a Keras layer drawing z = z_mean + exp(0.5 * z_log_var) * eps with keras.random and a SeedGenerator."""
    ex = EX_SAMPLING
    forbidden = (keras_layers.Sampling, keras_vae.VAE.reparameterize) if hidden else ()
    if hidden:
        reject_reference(ex, sampling, keras_layers.Sampling)  # the class itself, handed in
        expect(ex, not (isinstance(sampling, type) and issubclass(sampling, keras_layers.Sampling)),
               "your layer is a subclass of the package's Sampling; write your own (it earns no points).")
    rng = np.random.default_rng(401)
    small = (rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=(3, 2)).astype(np.float32))
    with forbid(*forbidden):
        layer = _build(ex, sampling, seed=11)
        _draw(ex, layer, *small)  # a stub fails here, first
        _sampling_statistics(ex, layer)
        first, second = _draw(ex, layer, *small), _draw(ex, layer, *small)
        expect(ex, not np.allclose(first, second), SAME_NOISE)
        twins = [_draw(ex, _build(ex, sampling, seed=7), *small) for _ in range(2)]
        expect(ex, np.allclose(twins[0], twins[1], atol=1e-6), NOT_REPRODUCIBLE)
        other = _draw(ex, _build(ex, sampling, seed=8), *small)
        expect(ex, not np.allclose(twins[0], other), SEED_IGNORED)
        symbolic = _call(ex, _build(ex, sampling, seed=3), [keras.Input((3,)), keras.Input((3,))], hint=SYMBOLIC)
        expect(ex, tuple(symbolic.shape) == (None, 3), f"{SYMBOLIC} (got output shape {tuple(symbolic.shape)})")
        checks = 5
        if hidden:
            wide = (np.zeros((4, 1), np.float32), np.full((4, 1), -30.0, np.float32))  # almost no noise
            z = _draw(ex, _build(ex, sampling, seed=5), *wide)
            expect(ex, np.allclose(z, 0.0, atol=1e-5), "with z_log_var = -30 the samples must sit on z_mean (std exp(-15))")
            mean_in, log_var_in = keras.Input((2,)), keras.Input((2,))
            model = keras.Model([mean_in, log_var_in], _build(ex, sampling, seed=9)([mean_in, log_var_in]))
            with redirect_stdout(io.StringIO()):
                runs = [_array(_call(ex, model.predict, list(small), verbose=0)) for _ in range(2)]
            expect(ex, not np.allclose(runs[0], runs[1]), COMPILED_SAME_NOISE)
            checks += 2
    passed(ex, f"{checks} behaviour checks: the spread of many draws, fresh noise at every call, the same draws for the "
               "same seed, symbolic inputs" + (", a compiled model" if hidden else ""))


# --------------------------------------------------------------------------- Exercise 2


def _bce_terms(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    return np.maximum(logits, 0.0) - logits * x + np.log1p(np.exp(-np.abs(logits)))


def _per_image(values: np.ndarray) -> np.ndarray:
    return values.reshape(len(values), -1).sum(axis=1)


def _kl_terms(mu: np.ndarray, lv: np.ndarray) -> np.ndarray:
    return 1.0 + lv - mu**2 - np.exp(lv)


def _reference_loss(x, logits, mu, lv, beta=1.0):
    return _per_image(_bce_terms(x, logits)) - beta * 0.5 * np.sum(_kl_terms(mu, lv), axis=-1)


def _pixel_mean(values: np.ndarray) -> np.ndarray:
    return values.reshape(len(values), -1).mean(axis=1)


def _keras_probabilities_bce(x, logits):
    return _per_image(np.asarray(keras.ops.convert_to_numpy(keras.ops.binary_crossentropy(x, logits, from_logits=False))))


PIXEL_MEAN = (
    "you averaged the reconstruction term over pixels (Keras's binary_crossentropy habit): -log p(x|z) of an image is "
    "the SUM over its pixels; with a mean the KL weighs 784 times too much"
)
SOURCES_WEIGHTING = (
    "this is the loss of Antonio Lorenzo's write-up and of Deep Learning with Python: a per-pixel MEAN cross-entropy plus "
    "-5e-4 * mean(1 + z_log_var - z_mean**2 - exp(z_log_var)). That is a beta-VAE (beta = 5e-4 * 784 = 0.392 for a 2-D "
    "code) divided by 784, not the ELBO: sum over pixels, sum the KL over latent dimensions and weight it by beta"
)

VAE_LOSS_MISTAKES = [
    Mistake(PIXEL_MEAN, lambda x, l, mu, lv, beta=1.0: _pixel_mean(_bce_terms(x, l)) - beta * 0.5 * np.sum(_kl_terms(mu, lv), axis=-1)),
    Mistake(SOURCES_WEIGHTING, lambda x, l, mu, lv, beta=1.0: _pixel_mean(_bce_terms(x, l)) - 5e-4 * np.mean(_kl_terms(mu, lv), axis=-1)),
    Mistake(
        SOURCES_WEIGHTING,
        lambda x, l, mu, lv, beta=1.0: _pixel_mean(_bce_terms(x, l)) - beta * 5e-4 * np.mean(_kl_terms(mu, lv), axis=-1),
    ),
    Mistake(
        "your KL term averages over latent dimensions; the dimensions are independent, so their KLs add up: "
        "sum over the last axis",
        lambda x, l, mu, lv, beta=1.0: _per_image(_bce_terms(x, l)) - beta * 0.5 * np.mean(_kl_terms(mu, lv), axis=-1),
    ),
    Mistake(
        "you left out the factor 0.5 of the KL: KL = -0.5 * sum(1 + z_log_var - z_mean**2 - exp(z_log_var))",
        lambda x, l, mu, lv, beta=1.0: _per_image(_bce_terms(x, l)) - beta * np.sum(_kl_terms(mu, lv), axis=-1),
    ),
    Mistake(
        "the KL has the wrong sign: it is -0.5 * sum(1 + z_log_var - z_mean**2 - exp(z_log_var)), never negative, and "
        "the loss ADDS it to the reconstruction term",
        lambda x, l, mu, lv, beta=1.0: _per_image(_bce_terms(x, l)) + beta * 0.5 * np.sum(_kl_terms(mu, lv), axis=-1),
    ),
    Mistake(
        "you returned the ELBO; the loss to minimise is its negative, reconstruction + beta * KL (positive nats)",
        lambda x, l, mu, lv, beta=1.0: -_reference_loss(x, l, mu, lv, beta),
    ),
    Mistake(
        "you treated the logits as probabilities (binary_crossentropy with from_logits=False): the decoder returns "
        "logits, so use from_logits=True or the stable form max(l, 0) - l * x + log(1 + exp(-|l|))",
        lambda x, l, mu, lv, beta=1.0: _keras_probabilities_bce(x, l) - beta * 0.5 * np.sum(_kl_terms(mu, lv), axis=-1),
    ),
    Mistake(
        "you applied a sigmoid to the logits and then treated the result as logits again: pass the logits themselves",
        lambda x, l, mu, lv, beta=1.0: _per_image(_bce_terms(x, 1.0 / (1.0 + np.exp(-l)))) - beta * 0.5 * np.sum(_kl_terms(mu, lv), axis=-1),
    ),
    Mistake(
        "you ignored beta: the loss is reconstruction + beta * KL",
        lambda x, l, mu, lv, beta=1.0: _reference_loss(x, l, mu, lv, 1.0),
    ),
    Mistake(
        "you weighted the reconstruction term by beta; beta multiplies the KL only",
        lambda x, l, mu, lv, beta=1.0: beta * _per_image(_bce_terms(x, l)) - 0.5 * np.sum(_kl_terms(mu, lv), axis=-1),
    ),
    Mistake("you averaged over the batch: return one loss per image, shape (N,)", lambda x, l, mu, lv, beta=1.0: np.mean(_reference_loss(x, l, mu, lv, beta))),
    Mistake("you summed over the batch: return one loss per image, shape (N,)", lambda x, l, mu, lv, beta=1.0: np.sum(_reference_loss(x, l, mu, lv, beta))),
]

NOT_FINITE_LOSS = (
    "your loss is not finite for confident logits (+-100): computing log(sigmoid(l)) directly overflows or gives "
    "log(0). Use ops.binary_crossentropy(x, logits, from_logits=True) or the stable form "
    "ops.relu(l) - l * x + ops.log1p(ops.exp(-ops.abs(l)))"
)


def _loss_case(rng: np.random.Generator, n: int, image_shape: tuple[int, ...], latent_dim: int, scale: float = 2.0, **kwargs) -> Case:
    x = rng.random((n, *image_shape)).astype(np.float32)
    logits = (scale * rng.normal(size=(n, *image_shape))).astype(np.float32)
    mu = rng.normal(size=(n, latent_dim)).astype(np.float32)
    lv = rng.normal(size=(n, latent_dim)).astype(np.float32)
    return Case((x, logits, mu, lv), kwargs)


def _as_float_array(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if isinstance(result, (tuple, list, dict)):
            return result
        return _array(result)

    return wrapped


def check_vae_loss(vae_loss: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 2: the per-image negative ELBO in nats, in keras.ops: summed BCE from logits + beta * summed KL."""
    ex = EX_VAE_LOSS
    if not callable(vae_loss):
        raise ExerciseFailure(ex, f"expected a function, got {type(vae_loss).__name__}.")
    rng = np.random.default_rng(402)
    cases = [
        _loss_case(rng, 4, (6, 6, 1), 2),
        _loss_case(rng, 3, (10,), 3, beta=0.392),
    ]
    confident = []
    if hidden:
        cases += [
            _loss_case(rng, 1, (4, 4, 1), 2),  # one image
            _loss_case(rng, 5, (28, 28, 1), 2, beta=4.0),  # full-size images, beta > 1
            _loss_case(rng, 2, (8,), 1, beta=0.0),  # beta = 0: reconstruction only
            Case((np.zeros((2, 5), np.float32), np.zeros((2, 5), np.float32), np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32))),
        ]
        confident = [_loss_case(rng, 3, (5, 5, 1), 2, scale=100.0)]
    forbidden = (keras_layers.vae_loss, keras_vae.bernoulli_nll, keras_vae.gaussian_kl) if hidden else ()
    if hidden:
        reject_reference(ex, vae_loss, keras_layers.vae_loss)
    student = _as_float_array(vae_loss)
    compare_quietly(ex, student, _reference_loss, cases, hidden=hidden, forbidden=forbidden, mistakes=VAE_LOSS_MISTAKES,
                    rtol=1e-4, atol=2e-3, check_inputs_unchanged=False)
    for case in confident:
        with forbid(*forbidden), np.errstate(all="ignore"):
            got = case.call(student)
        expect(ex, bool(np.all(np.isfinite(got))), NOT_FINITE_LOSS)
    if confident:
        compare_quietly(ex, student, _reference_loss, confident, hidden=hidden, forbidden=forbidden,
                        mistakes=VAE_LOSS_MISTAKES, rtol=1e-4, atol=2e-2, check_inputs_unchanged=False)
    passed(ex, matches_summary(len(cases) + len(confident), hidden) + (", logits of +-100 included" if hidden else ""))


# --------------------------------------------------------------------------- Exercise 3

GRID_INFINITE = (
    "your grid has infinite codes: the 0 and 1 quantiles of N(0, 1) are -inf and +inf. Use the quantiles "
    "np.linspace(low, high, n), with 0 < low and high < 1"
)
GRID_EVEN = (
    "your coordinates are evenly spaced: that spends as many grid points on the prior's thin tails as on its centre. "
    "Space the QUANTILES evenly and map them through the inverse CDF: norm.ppf(np.linspace(low, high, n))"
)
GRID_FLAT = "you returned the codes as a flat list of shape (n * n, 2); return the grid of shape (n, n, 2) (grid.reshape(-1, 2) flattens it)"
GRID_CHANNELS_FIRST = "you stacked the two coordinates on the first axis, shape (2, n, n); stack them on the last axis: shape (n, n, 2)"


def _axis_grid(axis: np.ndarray, layout: str) -> np.ndarray:
    a, b = np.meshgrid(axis, axis)  # a[i, j] = axis[j], b[i, j] = axis[i]
    if layout == "upside_down":  # z_2 grows downwards
        return np.stack([a, b], axis=-1)
    if layout == "transposed":  # z_1 down the rows, z_2 along them
        return latent.grid_from_axis(axis).transpose(1, 0, 2)
    if layout == "ij":  # z_1 down the rows, z_2 along them, both growing
        return np.stack([b, a], axis=-1)
    if layout == "swapped":  # (z_2, z_1) in the last axis
        return latent.grid_from_axis(axis)[..., ::-1]
    raise ValueError(layout)


def _ppf_axis(n: int, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    return stats.norm.ppf(np.linspace(low, high, n))


GRID_MISTAKES = [
    Mistake(
        "your grid is upside down: z_2 must grow from the bottom row to the top row (grid[0] is the top row, as in a "
        "scatter plot), so row i holds z_2 = values[n - 1 - i]",
        lambda n, low=0.05, high=0.95: _axis_grid(_ppf_axis(n, low, high), "upside_down"),
    ),
    Mistake(
        "your grid is transposed: z_1 must change along a row (grid[i, j, 0] = values[j]) and z_2 down the columns",
        lambda n, low=0.05, high=0.95: _axis_grid(_ppf_axis(n, low, high), "transposed"),
    ),
    Mistake(
        "your grid is transposed: z_1 must change along a row (grid[i, j, 0] = values[j]) and z_2 down the columns, "
        "growing from the bottom row to the top row",
        lambda n, low=0.05, high=0.95: _axis_grid(_ppf_axis(n, low, high), "ij"),
    ),
    Mistake(
        "the two coordinates are swapped: grid[i, j] = (z_1, z_2), with z_1 first",
        lambda n, low=0.05, high=0.95: _axis_grid(_ppf_axis(n, low, high), "swapped"),
    ),
    Mistake(
        "you ignored low and high: use norm.ppf(np.linspace(low, high, n))",
        lambda n, low=0.05, high=0.95: latent.inverse_cdf_grid(n),
    ),
    Mistake(
        "you used the CDF (norm.cdf), which maps codes to probabilities; the grid needs its inverse, norm.ppf",
        lambda n, low=0.05, high=0.95: latent.grid_from_axis(stats.norm.cdf(np.linspace(low, high, n))),
    ),
    Mistake(
        "your quantiles leave out the two ends: np.linspace(low, high, n) includes low and high",
        lambda n, low=0.05, high=0.95: latent.grid_from_axis(stats.norm.ppf(np.linspace(low, high, n + 2)[1:-1])),
    ),
]


def check_inverse_cdf_grid(inverse_cdf_grid: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 3: the (n, n, 2) grid of N(0, 1) quantiles norm.ppf(linspace(low, high, n)), laid out as a picture."""
    ex = EX_GRID
    if not callable(inverse_cdf_grid):
        raise ExerciseFailure(ex, f"expected a function, got {type(inverse_cdf_grid).__name__}.")
    forbidden = (latent.inverse_cdf_grid, latent.grid_from_axis) if hidden else ()
    reject_reference(ex, inverse_cdf_grid, *forbidden)
    first = Case((5,))
    with forbid(*forbidden), np.errstate(all="ignore"):
        got = to_numpy(_call(ex, first.call, inverse_cdf_grid))
    got = np.asarray(got, dtype=np.float64) if isinstance(got, np.ndarray) else got
    if isinstance(got, np.ndarray):
        expect(ex, got.shape != (25, 2), GRID_FLAT)
        expect(ex, got.shape != (2, 5, 5), GRID_CHANNELS_FIRST)
        if got.shape == (5, 5, 2):
            expect(ex, bool(np.all(np.isfinite(got))), GRID_INFINITE)
            axis = got[0, :, 0]
            steps = np.diff(axis)
            expect(ex, not (np.all(steps > 0) and np.allclose(steps, steps[0], rtol=1e-6)), GRID_EVEN)
    cases = [Case((15,)), Case((4,), {"low": 0.1, "high": 0.8}), first]
    if hidden:
        cases += [
            Case((1,), {"low": 0.2, "high": 0.6}),  # one point: the low quantile
            Case((2,)),
            Case((20,), {"low": 0.001, "high": 0.999}),  # far into the tails, still finite
            Case((7,), {"low": 0.3, "high": 0.7}),
        ]
    compare_quietly(ex, inverse_cdf_grid, latent.inverse_cdf_grid, cases, hidden=hidden, forbidden=forbidden,
                    mistakes=GRID_MISTAKES, rtol=1e-7, atol=1e-9)
    passed(ex, matches_summary(len(cases), hidden))


# --------------------------------------------------------------------------- Exercise 4


def _norms(z: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(np.asarray(z, dtype=np.float64) ** 2, axis=1))


OUTSIDE_MISTAKES = [
    Mistake(
        "you returned the share INSIDE the ball; the question is how much of the grid lies outside it",
        lambda z, mass=0.99: float(np.mean(_norms(z) ** 2 <= stats.chi2.ppf(mass, z.shape[1]))),
    ),
    Mistake(
        "you compared the length |z| with the chi-squared quantile, which is a quantile of the SQUARED length |z|^2: "
        "compare |z|^2 with chi2.ppf(mass, d), or |z| with its square root",
        lambda z, mass=0.99: float(np.mean(_norms(z) > stats.chi2.ppf(mass, z.shape[1]))),
    ),
    Mistake(
        "you used one degree of freedom: |z|^2 of a d-dimensional N(0, I) code is chi-squared with d degrees of freedom "
        "(d = codes.shape[1])",
        lambda z, mass=0.99: float(np.mean(_norms(z) ** 2 > stats.chi2.ppf(mass, 1))),
    ),
    Mistake(
        "you tested each coordinate against a 1-D Gaussian quantile (a square, and the wrong mass): the prior's bulk is a "
        "ball, |z|^2 <= chi2.ppf(mass, d)",
        lambda z, mass=0.99: float(np.mean(np.any(np.abs(z) > stats.norm.ppf(0.5 + mass / 2), axis=1))),
    ),
    Mistake(
        "you used norm.ppf(mass), a one-sided 1-D quantile, as the radius: the radius of the ball holding `mass` of a "
        "d-dimensional N(0, I) is sqrt(chi2.ppf(mass, d))",
        lambda z, mass=0.99: float(np.mean(_norms(z) > stats.norm.ppf(mass))),
    ),
    Mistake(
        "you used a fixed radius of 3: the radius depends on mass and on the dimension, sqrt(chi2.ppf(mass, d))",
        lambda z, mass=0.99: float(np.mean(_norms(z) > 3.0)),
    ),
    Mistake(
        "you assumed two dimensions: use d = codes.shape[1] degrees of freedom",
        lambda z, mass=0.99: float(np.mean(_norms(z) ** 2 > stats.chi2.ppf(mass, 2))),
    ),
    Mistake(
        "you returned a count; return the share, a number between 0 and 1",
        lambda z, mass=0.99: float(np.sum(_norms(z) ** 2 > stats.chi2.ppf(mass, z.shape[1]))),
    ),
]


def check_share_outside_prior(share_outside_prior: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 4: the share of codes with |z|^2 > chi2.ppf(mass, d), i.e. outside the prior's central ball."""
    ex = EX_OUTSIDE
    r = np.random.default_rng(404)
    cases = [
        Case((1.6 * r.normal(size=(2_000, 2)),)),
        Case((latent.even_grid(15, 15.0).reshape(-1, 2),)),
        Case((1.3 * r.normal(size=(1_000, 2)),), {"mass": 0.9}),
    ]
    if hidden:
        cases += [
            Case((1.4 * r.normal(size=(1_500, 3)),), {"mass": 0.95}),  # three dimensions
            Case((2.0 * r.normal(size=(800, 1)),), {"mass": 0.5}),  # one dimension
            Case((np.zeros((4, 2)),)),  # all at the centre: nothing outside
            Case((np.array([[40.0, 0.0]]),)),  # one code, far out
        ]
    compare_quietly(ex, share_outside_prior, latent.share_outside_prior, cases, hidden=hidden,
                    mistakes=OUTSIDE_MISTAKES, rtol=1e-9, atol=1e-9)
    passed(ex, matches_summary(len(cases), hidden))
