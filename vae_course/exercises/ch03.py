"""Checks for the exercises of chapter 03, VAE theory (NumPy).

Each ``check_<name>(fn, hidden=False)`` compares a student's function with its
reference in :mod:`vae_course.theory` on fixed inputs and names the mistake
when the answer matches a known wrong variant. ``hidden=True`` adds edge cases
(single examples, extreme values, float32) and fails an answer that merely
calls the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from scipy import stats
from scipy.special import logsumexp

from vae_course import theory
from vae_course.checks import Case, ExerciseFailure, Mistake, compare_quietly, expect, matches_summary, passed, run, to_numpy

EX_KL = "Exercise 1 (gaussian_kl)"
EX_REPARAMETERIZE = "Exercise 2 (reparameterize)"
EX_MONTE_CARLO_KL = "Exercise 3 (monte_carlo_kl)"
EX_BERNOULLI = "Exercise 4 (bernoulli_log_likelihood)"
EX_ELBO = "Exercise 5 (elbo)"
EX_IW_BOUND = "Exercise 6 (importance_weighted_bound)"

STD_FROM_LOG_VAR = (
    "you used exp(log_var) as the standard deviation: it is exp(0.5 * log_var) "
    "(this is the bug in the sampling layer of the Deep Learning with Python notebook)"
)
AXIS_HINT = (
    np.exceptions.AxisError,
    "reduce over the last axis with axis=-1 (and leading axes with axis=0), so that a single 1-D example works too",
)


def _kl(mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    return 0.5 * np.sum(np.exp(log_var) + mu**2 - 1.0 - log_var, axis=-1)


def _bernoulli(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    return -np.sum(x * np.logaddexp(0.0, -logits) + (1.0 - x) * np.logaddexp(0.0, logits), axis=-1)


def _bernoulli_terms(x: np.ndarray, logits: np.ndarray) -> np.ndarray:
    return -(x * np.logaddexp(0.0, -logits) + (1.0 - x) * np.logaddexp(0.0, logits))


def _compare(
    exercise: str, student: Callable[..., Any], reference: Callable[..., Any], cases: Sequence[Case], *, hidden: bool,
    mistakes: Sequence[Mistake] = (), **kwargs: Any,
) -> None:
    """:func:`~vae_course.checks.compare_quietly` with the hint for answers that reduce over the wrong axis."""
    compare_quietly(exercise, student, reference, cases, hidden=hidden, mistakes=mistakes, hints=(AXIS_HINT,), **kwargs)


def _finite(exercise: str, student: Callable[..., Any], case: Case, message: str) -> None:
    """Fail with ``message`` when the student's output has inf or nan where the true value is finite."""
    with np.errstate(all="ignore"):
        got = to_numpy(run(exercise, student, case))
    if isinstance(got, np.ndarray) and got.dtype.kind in "fc" and not np.all(np.isfinite(got)):
        raise ExerciseFailure(exercise, message)


# --------------------------------------------------------------------------- Exercise 1


KL_MISTAKES = [
    Mistake(
        "the KL has the wrong sign: a KL divergence is never negative. It is 0.5 * sum(exp(log_var) + mean**2 - 1 - log_var), "
        "which is the same as -0.5 * sum(1 + log_var - mean**2 - exp(log_var)) (mind the minus sign in front)",
        lambda mu, lv: -_kl(mu, lv),
    ),
    Mistake(
        "you averaged over latent dimensions instead of summing: the latent dimensions are independent under q and p, "
        "so their KLs add up (use np.sum(..., axis=-1))",
        lambda mu, lv: 0.5 * np.mean(np.exp(lv) + mu**2 - 1.0 - lv, axis=-1),
    ),
    Mistake("you left out the factor 0.5 in front of the sum", lambda mu, lv: 2.0 * _kl(mu, lv)),
    Mistake(
        "this is the weighted term of Antonio Lorenzo's and the Deep Learning with Python VAEs, -5e-4 * mean(1 + log_var - mean**2 - exp(log_var)): "
        "it averages over latent dimensions, drops the 0.5 and multiplies by 5e-4. The KL itself is "
        "-0.5 * sum(1 + log_var - mean**2 - exp(log_var)); weighting belongs in the loss, not in the KL",
        lambda mu, lv: -5e-4 * np.mean(1.0 + lv - mu**2 - np.exp(lv), axis=-1),
    ),
    Mistake(
        "you treated z_log_var as a log standard deviation: it is the log of the variance, so the variance is "
        "exp(log_var) (not exp(2 * log_var)) and log(variance) is log_var itself",
        lambda mu, lv: 0.5 * np.sum(np.exp(2.0 * lv) + mu**2 - 1.0 - 2.0 * lv, axis=-1),
    ),
    Mistake(
        "you used exp(0.5 * log_var), the standard deviation, where the variance exp(log_var) belongs",
        lambda mu, lv: 0.5 * np.sum(np.exp(0.5 * lv) + mu**2 - 1.0 - lv, axis=-1),
    ),
    Mistake(
        "you used exp(0.5 * log_var), the standard deviation, where the variance exp(log_var) belongs",
        lambda mu, lv: 0.5 * np.sum(np.exp(0.5 * lv) + mu**2 - 1.0 - 0.5 * lv, axis=-1),
    ),
    Mistake(
        "you left out the -1 inside the sum: without it, the KL from the prior to itself would be d/2 instead of 0",
        lambda mu, lv: 0.5 * np.sum(np.exp(lv) + mu**2 - lv, axis=-1),
    ),
    Mistake(
        "you left out the mean**2 term: moving the mean of q away from 0 must cost KL",
        lambda mu, lv: 0.5 * np.sum(np.exp(lv) - 1.0 - lv, axis=-1),
    ),
    Mistake(
        "the log-variance term has the wrong sign: per dimension the KL is 0.5 * (exp(log_var) - 1 - log_var + mean**2)",
        lambda mu, lv: 0.5 * np.sum(np.exp(lv) + mu**2 - 1.0 + lv, axis=-1),
    ),
    Mistake(
        "you summed over the batch too: return one KL per example (shape z_mean.shape[:-1])",
        lambda mu, lv: np.sum(_kl(mu, lv)),
    ),
    Mistake(
        "you averaged over the batch: return one KL per example (shape z_mean.shape[:-1])",
        lambda mu, lv: np.mean(_kl(mu, lv)),
    ),
]


def check_gaussian_kl(gaussian_kl: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 1: closed-form KL(N(mean, diag(exp(log_var))) || N(0, I)), summed over latent dimensions."""
    r = np.random.default_rng(301)
    cases = [
        Case((r.normal(size=(4, 3)), r.normal(scale=0.8, size=(4, 3)))),
        Case((r.normal(scale=2.0, size=(2, 5)), r.normal(size=(2, 5)) - 1.0)),
    ]
    if hidden:
        cases += [
            Case((np.zeros((3, 4)), np.zeros((3, 4)))),  # q is the prior: KL = 0 exactly
            Case((r.normal(size=6), r.normal(size=6))),  # one example, 1-D
            Case((r.normal(size=(5, 1)), r.normal(size=(5, 1)))),  # one latent dimension
            Case((np.array([[10.0, -20.0], [0.0, 0.0]]), np.array([[-30.0, 8.0], [1e-9, -1e-9]]))),  # extremes
            Case((r.normal(size=(2, 3, 4)), r.normal(size=(2, 3, 4)))),  # two batch axes
        ]
    _compare(EX_KL, gaussian_kl, theory.gaussian_kl, cases, hidden=hidden, mistakes=KL_MISTAKES)
    n = len(cases)
    if hidden:
        single = [Case((r.normal(size=(3, 2)).astype(np.float32), r.normal(size=(3, 2)).astype(np.float32)))]
        _compare(EX_KL, gaussian_kl, theory.gaussian_kl, single, hidden=hidden, mistakes=KL_MISTAKES, rtol=1e-4, atol=1e-5)
        n += 1
    passed(EX_KL, matches_summary(n, hidden))


# --------------------------------------------------------------------------- Exercise 2

EPS_NOT_STANDARD = "your epsilon is not standard normal"
EPS_STD_01 = (
    f"{EPS_NOT_STANDARD}: it has standard deviation 0.1, like the KDnuggets introduction's random_normal(..., stddev=0.1). "
    "eps must be N(0, 1); the spread of z comes from exp(0.5 * log_var) alone"
)
EPS_STD_01_AND_EXP = (
    f"{EPS_NOT_STANDARD} (it has standard deviation 0.1, as in the KDnuggets introduction) and {STD_FROM_LOG_VAR}"
)
RNG_IGNORED = (
    "your function does not draw eps from the rng it is given: two calls with identically seeded generators "
    "returned different samples. Use eps = rng.standard_normal(np.shape(z_mean))"
)
NOT_CENTRED = "your samples are not centred on z_mean: z = z_mean + exp(0.5 * log_var) * eps (did you forget to add z_mean?)"
NO_NOISE = "your samples have no randomness: z = z_mean + exp(0.5 * log_var) * eps with eps ~ N(0, I), not z_mean itself"
LOG_VAR_IGNORED = "your samples have standard deviation 1 in every dimension: you ignored z_log_var (the std is exp(0.5 * log_var))"
LOG_VAR_AS_STD = "you multiplied eps by z_log_var itself; the standard deviation is exp(0.5 * z_log_var)"

# Per-dimension log-variances of the statistical test: every wrong standard
# deviation below differs from the right one by far more than sampling noise.
_STAT_MEAN = np.array([1.5, -2.0, 0.3, 4.0])
_STAT_LOG_VAR = np.array([-3.0, -1.0, 0.7, 2.0])
_STAT_N = 20_000


@dataclass(frozen=True)
class SamplingMessages:
    """What a sampling check says about each wrong spread or noise, in the wording of its chapter."""

    std_from_log_var: str
    eps_std_01: str
    eps_std_01_and_exp: str
    log_var_ignored: str
    log_var_as_std: str
    no_noise: str
    not_centred: str
    not_standard: str
    """Starts the message for any other noise; the check adds the measured statistics."""
    draw_with: str
    """How the chapter draws eps, e.g. ``rng.standard_normal``."""


SAMPLING_MESSAGES = SamplingMessages(
    STD_FROM_LOG_VAR, EPS_STD_01, EPS_STD_01_AND_EXP, LOG_VAR_IGNORED, LOG_VAR_AS_STD, NO_NOISE, NOT_CENTRED,
    f"{EPS_NOT_STANDARD}:", "rng.standard_normal",
)


def statistics_inputs(dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``(z_mean, z_log_var)`` of the statistical test: ``STAT_N`` rows of four dimensions, in ``dtype``."""
    return np.tile(_STAT_MEAN, (_STAT_N, 1)).astype(dtype), np.tile(_STAT_LOG_VAR, (_STAT_N, 1)).astype(dtype)


def check_sample_statistics(exercise: str, z: np.ndarray, messages: SamplingMessages, no_noise_below: float) -> None:
    """Check samples ``z`` drawn for :func:`statistics_inputs`, naming a wrong spread or noise.

    ``no_noise_below``: a spread this small counts as no noise at all (float32 samples need a larger bound).
    """
    z = np.asarray(z, dtype=np.float64)
    spread = (z - _STAT_MEAN).std(axis=0)
    std = np.exp(0.5 * _STAT_LOG_VAR)
    expect(exercise, bool(np.all(spread > no_noise_below)), messages.no_noise)
    right_spread = np.allclose(spread, std, rtol=0.05)
    if not right_spread:
        named = [
            (np.exp(_STAT_LOG_VAR), messages.std_from_log_var),
            (0.1 * std, messages.eps_std_01),
            (0.1 * np.exp(_STAT_LOG_VAR), messages.eps_std_01_and_exp),
            (np.ones_like(std), messages.log_var_ignored),
            (np.abs(_STAT_LOG_VAR), messages.log_var_as_std),
        ]
        for candidate, message in named:
            expect(exercise, not np.allclose(spread, candidate, rtol=0.05), message)
    standardised = (z - _STAT_MEAN) / std
    shift = standardised.mean(axis=0)
    if right_spread and np.any(np.abs(shift) > 6.0 / np.sqrt(_STAT_N)):
        expect(exercise, not np.allclose(z.mean(axis=0), 0.0, atol=6.0 * std.max() / np.sqrt(_STAT_N)), messages.not_centred)
    ks = stats.kstest(standardised.ravel(), "norm")
    expect(
        exercise,
        right_spread and np.all(np.abs(shift) <= 6.0 / np.sqrt(_STAT_N)) and ks.pvalue > 1e-6,
        f"{messages.not_standard} (z - z_mean) / exp(0.5 * z_log_var) should be N(0, 1) in every dimension; yours has mean "
        f"{np.array2string(shift, precision=3)} and standard deviation {np.array2string(spread / std, precision=3)} "
        f"(Kolmogorov-Smirnov p = {ks.pvalue:.2g}). Draw it with {messages.draw_with}",
    )


def _reparameterization_statistics(exercise: str, reparameterize: Callable[..., Any]) -> None:
    """Check the distribution of the samples, naming a wrong spread or noise."""
    mu, log_var = statistics_inputs()
    with np.errstate(all="ignore"):
        z = run(exercise, reparameterize, Case((mu, log_var, np.random.default_rng(2024))), check_inputs_unchanged=False)
    z = np.asarray(to_numpy(z), dtype=float)
    expect(exercise, z.shape == mu.shape, f"it returned shape {z.shape} for z_mean of shape {mu.shape}; z has the shape of z_mean")
    expect(exercise, bool(np.all(np.isfinite(z))), "your samples contain inf or nan")
    check_sample_statistics(exercise, z, SAMPLING_MESSAGES, no_noise_below=1e-12)


REPARAMETERIZE_MISTAKES = [
    Mistake(STD_FROM_LOG_VAR, lambda mu, lv, rng: mu + np.exp(lv) * rng.standard_normal(np.shape(mu))),
    Mistake(EPS_STD_01, lambda mu, lv, rng: mu + np.exp(0.5 * lv) * rng.normal(0.0, 0.1, np.shape(mu))),
    Mistake(
        "you subtracted the noise: z = z_mean - std * eps has the right distribution, but write z = z_mean + std * eps "
        "so that the same eps gives the same z as everyone else's code",
        lambda mu, lv, rng: mu - np.exp(0.5 * lv) * rng.standard_normal(np.shape(mu)),
    ),
]


def check_reparameterize(reparameterize: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 2: z = z_mean + exp(0.5 * z_log_var) * eps with eps = rng.standard_normal(z_mean.shape)."""
    ex = EX_REPARAMETERIZE
    r = np.random.default_rng(302)
    small = Case((r.normal(size=(3, 2)), r.normal(size=(3, 2)), np.random.default_rng(7)))
    run(ex, reparameterize, small, check_inputs_unchanged=False)  # a stub fails here, first
    _reparameterization_statistics(ex, reparameterize)
    twice = [to_numpy(run(ex, reparameterize, small, check_inputs_unchanged=False)) for _ in range(2)]
    expect(ex, np.allclose(np.asarray(twice[0], dtype=float), np.asarray(twice[1], dtype=float)), RNG_IGNORED)
    cases = [small, Case((r.normal(size=(5, 4)), r.normal(size=(5, 4)) - 1.0, np.random.default_rng(8)))]
    if hidden:
        cases += [
            Case((r.normal(size=3), r.normal(size=3), np.random.default_rng(9))),  # one example, 1-D
            Case((r.normal(size=(2, 3)), np.full((2, 3), -30.0), np.random.default_rng(10))),  # almost no noise
            Case((r.normal(size=(2, 3)), np.full((2, 3), 5.0), np.random.default_rng(11))),  # wide q
            Case((r.normal(size=(2, 3, 4)), r.normal(size=(2, 3, 4)), np.random.default_rng(12))),  # two batch axes
        ]
    try:
        _compare(ex, reparameterize, theory.reparameterize, cases, hidden=hidden, mistakes=REPARAMETERIZE_MISTAKES,
                 check_inputs_unchanged=False)
    except ExerciseFailure as failure:
        if "for input" not in str(failure):
            raise
        raise ExerciseFailure(
            ex, f"{str(failure).split(': ', 1)[1]} Your samples have the right distribution, but draw eps with a single "
            "call eps = rng.standard_normal(np.shape(z_mean)) so that they match the reference sample for sample."
        ) from None
    passed(ex, f"the samples have the right distribution and {matches_summary(len(cases), hidden)}")


# --------------------------------------------------------------------------- Exercise 3


def _log_ratio(mu: np.ndarray, lv: np.ndarray, eps: np.ndarray) -> np.ndarray:
    z = mu + np.exp(0.5 * lv) * eps
    return 0.5 * (z**2 - eps**2 - lv)


MONTE_CARLO_KL_MISTAKES = [
    Mistake(
        "the estimate has the wrong sign: KL(q || p) = E_q[log q(z) - log p(z)], not log p - log q",
        lambda mu, lv, eps: -np.mean(np.sum(_log_ratio(mu, lv, eps), axis=-1), axis=0),
    ),
    Mistake(
        STD_FROM_LOG_VAR,
        lambda mu, lv, eps: np.mean(
            np.sum(0.5 * (mu + np.exp(lv) * eps) ** 2 - 0.5 * (np.exp(lv) * eps) ** 2 / np.exp(lv) - 0.5 * lv, axis=-1), axis=0
        ),
    ),
    Mistake(
        STD_FROM_LOG_VAR,
        lambda mu, lv, eps: np.mean(np.sum(0.5 * (mu + np.exp(lv) * eps) ** 2 - 0.5 * eps**2 - lv, axis=-1), axis=0),
    ),
    Mistake(
        "you left out the -0.5 * log_var term of log q(z): the density of N(mean, var) has -0.5 * log(var) in it",
        lambda mu, lv, eps: np.mean(np.sum(0.5 * ((mu + np.exp(0.5 * lv) * eps) ** 2 - eps**2), axis=-1), axis=0),
    ),
    Mistake(
        "you returned the closed-form KL; this exercise asks for the Monte Carlo estimate from the samples given by eps",
        lambda mu, lv, eps: _kl(mu, lv),
    ),
    Mistake(
        "you evaluated log q(z) - log p(z) at z = z_mean; evaluate it at the samples z = z_mean + exp(0.5 * z_log_var) * eps",
        lambda mu, lv, eps: np.sum(0.5 * (mu**2 - lv), axis=-1) + 0.0 * eps[0, ..., 0],
    ),
    Mistake(
        "you averaged over latent dimensions instead of summing: log q(z) and log p(z) are sums over dimensions",
        lambda mu, lv, eps: np.mean(np.mean(_log_ratio(mu, lv, eps), axis=-1), axis=0),
    ),
    Mistake(
        "you summed over the samples instead of averaging: the estimate is the MEAN of log q(z_s) - log p(z_s) over s",
        lambda mu, lv, eps: np.sum(np.sum(_log_ratio(mu, lv, eps), axis=-1), axis=0),
    ),
    Mistake(
        "you did not average over the S samples (axis 0): return one estimate per example",
        lambda mu, lv, eps: np.sum(_log_ratio(mu, lv, eps), axis=-1),
    ),
    Mistake(
        "you averaged over the batch as well: average over the samples (axis 0) only and return one estimate per example",
        lambda mu, lv, eps: np.mean(np.sum(_log_ratio(mu, lv, eps), axis=-1)),
    ),
    Mistake(
        "log q(z) and log p(z) must include the same normalising constant -0.5 * log(2 * pi) per dimension "
        "(it then cancels; leave it out of both or put it in both)",
        lambda mu, lv, eps: np.mean(np.sum(_log_ratio(mu, lv, eps) - 0.5 * np.log(2 * np.pi), axis=-1), axis=0),
    ),
    Mistake(
        "log q(z) and log p(z) must include the same normalising constant -0.5 * log(2 * pi) per dimension "
        "(it then cancels; leave it out of both or put it in both)",
        lambda mu, lv, eps: np.mean(np.sum(_log_ratio(mu, lv, eps) + 0.5 * np.log(2 * np.pi), axis=-1), axis=0),
    ),
]


def check_monte_carlo_kl(monte_carlo_kl: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 3: the average of log q(z_s) - log p(z_s) over the samples z_s = mean + std * eps_s."""
    r = np.random.default_rng(303)
    cases = [
        Case((r.normal(size=(3, 2)), r.normal(size=(3, 2)), r.standard_normal((5, 3, 2)))),
        Case((r.normal(size=(4, 3)), r.normal(size=(4, 3)) - 1.0, r.standard_normal((40, 4, 3)))),
    ]
    if hidden:
        cases += [
            Case((np.zeros((2, 3)), np.zeros((2, 3)), r.standard_normal((7, 2, 3)))),  # q = prior: exactly 0
            Case((r.normal(size=(3, 2)), r.normal(size=(3, 2)), r.standard_normal((1, 3, 2)))),  # S = 1
            Case((r.normal(size=4), r.normal(size=4), r.standard_normal((6, 4)))),  # one example, 1-D
            Case((r.normal(size=(2, 2)), np.array([[-10.0, 3.0], [6.0, -0.5]]), r.standard_normal((3, 2, 2)))),  # extremes
            Case((r.normal(size=(2, 5)), r.normal(size=(2, 5)), r.standard_normal((2_000, 2, 5)))),  # many samples
        ]
    _compare(EX_MONTE_CARLO_KL, monte_carlo_kl, theory.monte_carlo_kl, cases, hidden=hidden, mistakes=MONTE_CARLO_KL_MISTAKES)
    passed(EX_MONTE_CARLO_KL, matches_summary(len(cases), hidden))


# --------------------------------------------------------------------------- Exercise 4

NOT_FINITE_LOGITS = (
    "your log-likelihood is not finite for large |logits| (the tests use logits of +-1000): computing "
    "log(sigmoid(logits)) or log(1 + exp(logits)) directly underflows or overflows. Use the stable forms "
    "log sigmoid(l) = -np.logaddexp(0, -l) and log(1 - sigmoid(l)) = -np.logaddexp(0, l)"
)

BERNOULLI_MISTAKES = [
    Mistake(
        "you returned the binary cross-entropy, which is a loss (>= 0): the log-likelihood is its negative (<= 0)",
        lambda x, l: -_bernoulli(x, l),
    ),
    Mistake(
        "you averaged over pixels instead of summing: the log-likelihood of an image is the sum over its pixels "
        "(Keras' binary_crossentropy averages them)",
        lambda x, l: np.mean(_bernoulli_terms(x, l), axis=-1),
    ),
    Mistake(
        "you returned Keras' per-pixel mean binary cross-entropy: negate it and sum over pixels instead of averaging",
        lambda x, l: -np.mean(_bernoulli_terms(x, l), axis=-1),
    ),
    Mistake(
        "you used the logits as probabilities: they are pre-sigmoid scores, p = sigmoid(logits)",
        lambda x, l: np.sum(x * np.log(l) + (1 - x) * np.log(1 - l), axis=-1),
    ),
    Mistake(
        "you swapped x and 1 - x: a pixel with x = 1 contributes log sigmoid(l), a pixel with x = 0 log(1 - sigmoid(l))",
        lambda x, l: _bernoulli(1.0 - x, l),
    ),
    Mistake(
        "you summed over the batch too: return one log-likelihood per example (shape x.shape[:-1])",
        lambda x, l: np.sum(_bernoulli(x, l)),
    ),
    Mistake(
        "you clipped the probabilities to [1e-7, 1 - 1e-7] as Keras does: that caps the cost of a pixel at "
        "-log(1e-7) = 16.1 nats, so confidently wrong pixels are under-penalised. Work from the logits instead",
        lambda x, l: np.sum(
            x * np.log(np.clip(1 / (1 + np.exp(-l)), 1e-7, 1 - 1e-7)) + (1 - x) * np.log(1 - np.clip(1 / (1 + np.exp(-l)), 1e-7, 1 - 1e-7)),
            axis=-1,
        ),
    ),
]


def check_bernoulli_log_likelihood(bernoulli_log_likelihood: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 4: sum over pixels of x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)), stable for any logits."""
    ex = EX_BERNOULLI
    r = np.random.default_rng(304)
    moderate = [Case(((r.random((3, 8)) < 0.4).astype(float), 2.0 * r.normal(size=(3, 8))))]
    extreme_x = np.array([[1.0, 0.0, 1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]])
    extreme_logits = np.array([[1000.0, -1000.0, -1000.0, 1000.0, 50.0, -50.0], [-50.0, 50.0, 3.0, -2.0, 0.0, 30.0]])
    extreme = [Case((extreme_x, extreme_logits))]
    if hidden:
        extreme += [
            Case((r.random((2, 7)), 4.0 * r.normal(size=(2, 7)))),  # grey levels, not just 0/1
            Case(((r.random(9) < 0.5).astype(float), 3.0 * r.normal(size=9))),  # one example, 1-D
            Case((np.zeros((2, 4)), np.full((2, 4), -1000.0))),  # certain and right: exactly 0
            Case(((r.random((2, 3, 5)) < 0.5).astype(float), 5.0 * r.normal(size=(2, 3, 5)))),  # two batch axes
        ]
    _compare(ex, bernoulli_log_likelihood, theory.bernoulli_log_likelihood, moderate, hidden=hidden, mistakes=BERNOULLI_MISTAKES)
    for case in extreme:
        _finite(ex, bernoulli_log_likelihood, case, NOT_FINITE_LOGITS)
    _compare(ex, bernoulli_log_likelihood, theory.bernoulli_log_likelihood, extreme, hidden=hidden, mistakes=BERNOULLI_MISTAKES)
    n = len(moderate) + len(extreme)
    if hidden:  # in float32, sigmoid(20) already rounds to 1
        single = [Case((np.array([[1.0, 0.0, 1.0, 0.0]], np.float32), np.array([[20.0, 20.0, -100.0, -3.0]], np.float32)))]
        _finite(ex, bernoulli_log_likelihood, single[0], NOT_FINITE_LOGITS)
        _compare(ex, bernoulli_log_likelihood, theory.bernoulli_log_likelihood, single, hidden=hidden, mistakes=BERNOULLI_MISTAKES,
                 rtol=1e-4, atol=1e-4)
        n += 1
    passed(ex, matches_summary(n, hidden) + ", logits of +-1000 included")


# --------------------------------------------------------------------------- Exercise 5


def linear_decoder(weight: np.ndarray, bias: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A decoder z -> logits = z @ weight.T + bias (a plain function, so checks can copy it)."""

    def decode(z: np.ndarray) -> np.ndarray:
        return np.asarray(z) @ weight.T + bias

    return decode


def _z(mu: np.ndarray, lv: np.ndarray, eps: np.ndarray) -> np.ndarray:
    return mu + np.exp(0.5 * lv) * eps


NOT_FINITE_ELBO = (
    "your ELBO is not finite when the decoder is very confident (logits in the hundreds): compute the "
    "Bernoulli log-likelihood from the logits in a stable way, as in Exercise 4"
)
SEED_WEIGHTING = (
    "you weighted the terms like Antonio Lorenzo's and the Deep Learning with Python VAEs (per-pixel MEAN reconstruction term plus 5e-4 * KL): that objective "
    "is a beta-VAE with beta = 5e-4 * D scaled by 1/D, not the ELBO. Sum over pixels and give the KL weight 1"
)

ELBO_MISTAKES = [
    Mistake(
        "you decoded z = z_mean; the reconstruction term is an expectation over q: decode the reparameterised sample "
        "z = z_mean + exp(0.5 * z_log_var) * eps",
        lambda x, mu, lv, dec, eps: _bernoulli(x, dec(mu)) - _kl(mu, lv),
    ),
    Mistake(
        "you added the KL: ELBO = log p(x|z) - KL(q(z|x) || p(z))",
        lambda x, mu, lv, dec, eps: _bernoulli(x, dec(_z(mu, lv, eps))) + _kl(mu, lv),
    ),
    Mistake(
        "you returned the loss, -ELBO; return the ELBO itself (a log-likelihood bound, usually negative)",
        lambda x, mu, lv, dec, eps: _kl(mu, lv) - _bernoulli(x, dec(_z(mu, lv, eps))),
    ),
    Mistake(STD_FROM_LOG_VAR, lambda x, mu, lv, dec, eps: _bernoulli(x, dec(mu + np.exp(lv) * eps)) - _kl(mu, lv)),
    Mistake(
        "you averaged the reconstruction term over pixels: log p(x|z) is a SUM over pixels; with a mean the KL "
        "is weighted D times too much",
        lambda x, mu, lv, dec, eps: np.mean(_bernoulli_terms(x, dec(_z(mu, lv, eps))), axis=-1) - _kl(mu, lv),
    ),
    Mistake(
        SEED_WEIGHTING,
        lambda x, mu, lv, dec, eps: np.mean(_bernoulli_terms(x, dec(_z(mu, lv, eps))), axis=-1) - 5e-4 * _kl(mu, lv),
    ),
    Mistake(
        SEED_WEIGHTING,
        lambda x, mu, lv, dec, eps: 5e-4 * _kl(mu, lv) - np.mean(_bernoulli_terms(x, dec(_z(mu, lv, eps))), axis=-1),
    ),
    Mistake(
        "your KL term averages over latent dimensions; it is a sum (see Exercise 1)",
        lambda x, mu, lv, dec, eps: _bernoulli(x, dec(_z(mu, lv, eps)))
        - 0.5 * np.mean(np.exp(lv) + mu**2 - 1 - lv, axis=-1),
    ),
    Mistake(
        "you left out the KL term: ELBO = log p(x|z) - KL(q(z|x) || p(z))",
        lambda x, mu, lv, dec, eps: _bernoulli(x, dec(_z(mu, lv, eps))),
    ),
    Mistake(
        "you estimated the KL at the sample, log q(z|x) - log p(z): that is a valid (noisier) estimate too, but this "
        "exercise asks for the closed-form KL of Exercise 1",
        lambda x, mu, lv, dec, eps: _bernoulli(x, dec(_z(mu, lv, eps))) - np.sum(_log_ratio(mu, lv, eps), axis=-1),
    ),
    Mistake(
        "you decoded eps itself; decode z = z_mean + exp(0.5 * z_log_var) * eps",
        lambda x, mu, lv, dec, eps: _bernoulli(x, dec(eps)) - _kl(mu, lv),
    ),
    Mistake(
        "decode returns logits: do not apply the sigmoid before the log-likelihood, which takes logits",
        lambda x, mu, lv, dec, eps: _bernoulli(x, 1 / (1 + np.exp(-dec(_z(mu, lv, eps))))) - _kl(mu, lv),
    ),
    Mistake(
        "you summed over the batch: return one ELBO per example",
        lambda x, mu, lv, dec, eps: np.sum(_bernoulli(x, dec(_z(mu, lv, eps))) - _kl(mu, lv)),
    ),
    Mistake(
        "you averaged over the batch: return one ELBO per example",
        lambda x, mu, lv, dec, eps: np.mean(_bernoulli(x, dec(_z(mu, lv, eps))) - _kl(mu, lv)),
    ),
]


def check_elbo(elbo: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 5: one-sample ELBO estimate, log p(x|z) at the reparameterised z minus the closed-form KL."""
    ex = EX_ELBO
    r = np.random.default_rng(305)
    pixels, latent = 12, 2
    decode = linear_decoder(1.5 * r.normal(size=(pixels, latent)), r.normal(size=pixels))
    cases = [
        Case(((r.random((4, pixels)) < 0.5).astype(float), r.normal(size=(4, latent)), r.normal(size=(4, latent)) - 0.5,
              decode, r.standard_normal((4, latent)))),
        Case(((r.random((3, pixels)) < 0.3).astype(float), r.normal(size=(3, latent)), r.normal(size=(3, latent)),
              decode, r.standard_normal((3, latent)))),
    ]
    confident = []
    if hidden:
        wide = linear_decoder(np.ones((1, 1)), np.zeros(1))  # identity decoder: logits = z
        sharp = linear_decoder(400.0 * r.normal(size=(pixels, latent)), np.zeros(pixels))
        cases += [
            Case(((r.random(pixels) < 0.5).astype(float), r.normal(size=latent), r.normal(size=latent), decode,
                  r.standard_normal(latent))),  # one example, 1-D
            Case(((r.random((2, pixels)) < 0.5).astype(float), np.zeros((2, latent)), np.zeros((2, latent)), decode,
                  r.standard_normal((2, latent)))),  # q = prior: KL = 0
            Case(((r.random((3, 1)) < 0.5).astype(float), r.normal(size=(3, 1)), r.normal(size=(3, 1)), wide,
                  r.standard_normal((3, 1)))),  # latent dimension 1, one pixel
        ]
        confident = [
            Case(((r.random((3, pixels)) < 0.5).astype(float), r.normal(size=(3, latent)), r.normal(size=(3, latent)) - 2.0,
                  sharp, r.standard_normal((3, latent)))),
        ]
    _compare(ex, elbo, theory.elbo, cases, hidden=hidden, mistakes=ELBO_MISTAKES)
    for case in confident:
        _finite(ex, elbo, case, NOT_FINITE_ELBO)
    if confident:
        _compare(ex, elbo, theory.elbo, confident, hidden=hidden, mistakes=ELBO_MISTAKES)
    passed(ex, matches_summary(len(cases) + len(confident), hidden))


# --------------------------------------------------------------------------- Exercise 6

NOT_FINITE_WEIGHTS = (
    "your bound is not finite for log-weights around -900 nats (typical of a 784-pixel image): exp(-900) underflows "
    "to 0 (and exp(+800) overflows). Average the weights in log space: scipy.special.logsumexp(log_weights, axis=0) - "
    "np.log(K), or subtract the maximum before exponentiating"
)

IW_BOUND_MISTAKES = [
    Mistake(
        "you forgot to subtract log K: the bound is the log of the MEAN weight, logsumexp(log_weights, axis=0) - log(K); "
        "without it the 'bound' grows by log K with K",
        lambda lw: logsumexp(lw, axis=0),
    ),
    Mistake(
        "you averaged the log-weights: that is the ordinary ELBO estimate (K = 1, averaged), not the importance-weighted "
        "bound. Average the weights themselves, in log space: logsumexp(log_weights, axis=0) - log(K)",
        lambda lw: np.mean(lw, axis=0),
    ),
    Mistake(
        "you took the largest log-weight; the bound is the log of the mean weight, logsumexp(log_weights, axis=0) - log(K)",
        lambda lw: np.max(lw, axis=0),
    ),
    Mistake(
        "you reduced over the wrong axis: the K samples are along axis 0 and the examples along the other axes",
        lambda lw: logsumexp(lw, axis=-1) - np.log(lw.shape[-1]),
    ),
    Mistake(
        "you subtracted the log of the wrong count: K is log_weights.shape[0], the number of samples per example",
        lambda lw: logsumexp(lw, axis=0) - np.log(lw.shape[-1]),
    ),
    Mistake("use the natural logarithm of K (np.log), as everything else is in nats", lambda lw: logsumexp(lw, axis=0) - np.log10(lw.shape[0])),
    Mistake("use the natural logarithm of K (np.log), as everything else is in nats", lambda lw: logsumexp(lw, axis=0) - np.log2(lw.shape[0])),
    Mistake(
        "you divided by K in log space: log(mean) = logsumexp - log(K), not logsumexp / K",
        lambda lw: logsumexp(lw, axis=0) / lw.shape[0],
    ),
]


def check_importance_weighted_bound(importance_weighted_bound: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 6: log((1/K) sum_k exp(log_weights[k])), computed stably, one value per example."""
    ex = EX_IW_BOUND
    r = np.random.default_rng(306)
    moderate = [Case((-100.0 + 3.0 * r.normal(size=(6, 3)),))]
    extreme = [Case((-900.0 + 10.0 * r.normal(size=(50, 4)),))]
    if hidden:
        moderate += [
            Case((r.normal(size=(1, 5)),)),  # K = 1: the log-weight itself
            Case((np.full((8, 2), -3.5),)),  # equal weights: the common value
            Case((r.normal(size=7),)),  # one example, 1-D
            Case((r.normal(size=(10_000, 2)),)),  # large K
            Case((r.normal(size=(4, 2, 3)),)),  # two batch axes
        ]
        extreme += [
            Case((np.array([[-10.0, 800.0], [-2000.0, 790.0], [-2500.0, 801.0]]),)),  # one weight dominates; huge values
        ]
    _compare(ex, importance_weighted_bound, theory.importance_weighted_bound, moderate, hidden=hidden, mistakes=IW_BOUND_MISTAKES)
    for case in extreme:
        _finite(ex, importance_weighted_bound, case, NOT_FINITE_WEIGHTS)
    _compare(ex, importance_weighted_bound, theory.importance_weighted_bound, extreme, hidden=hidden, mistakes=IW_BOUND_MISTAKES)
    n = len(moderate) + len(extreme)
    if hidden:
        single = [Case(((-300.0 + r.normal(size=(20, 3))).astype(np.float32),))]
        _compare(ex, importance_weighted_bound, theory.importance_weighted_bound, single, hidden=hidden, mistakes=IW_BOUND_MISTAKES,
                 rtol=1e-5, atol=1e-3)
        n += 1
    passed(ex, matches_summary(n, hidden))
