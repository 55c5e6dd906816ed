"""Checks for the exercises of chapter 02, limitations of autoencoders for generation (NumPy).

Each ``check_<name>(fn, hidden=False)`` compares a student's function with its
reference (:mod:`vae_course.latent`, :func:`vae_course.metrics.confident_rate`)
on fixed inputs and names the mistake when the answer matches a known wrong
variant. ``hidden=True`` adds edge cases and fails an answer that merely calls
the reference.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
from scipy import stats

from vae_course import latent, metrics
from vae_course.checks import (
    Case, ExerciseFailure, Mistake, compare_quietly, expect, matches_summary, passed, reject_reference, run, to_numpy,
)

__all__ = [
    "check_coverage",
    "check_bounding_box_sample",
    "check_interpolate",
    "check_confident_rate",
    "COVERAGE_MISTAKES",
    "BOX_MISTAKES",
    "INTERPOLATE_MISTAKES",
    "CONFIDENT_MISTAKES",
]

EX_COVERAGE = "Exercise 1 (coverage)"
EX_BOX = "Exercise 2 (bounding_box_sample)"
EX_INTERPOLATE = "Exercise 3 (interpolate)"
EX_CONFIDENT = "Exercise 4 (confident_rate)"

PERCENT = "you returned a percentage; return a fraction between 0 and 1 (do not multiply by 100)"


# --------------------------------------------------------------------------- Exercise 1


def _counts(z: np.ndarray, bins: int, low: float, high: float) -> np.ndarray:
    return np.histogram2d(z[:, 0], z[:, 1], bins=bins, range=[[low, high], [low, high]])[0]


def _floor_binning(z: np.ndarray, bins: int, low: float, high: float) -> float:
    """Cells by flooring (z - low) / width: a code exactly at ``high`` falls outside the grid."""
    index = np.floor((z - low) / (high - low) * bins).astype(int)
    inside = np.all((index >= 0) & (index < bins), axis=1)
    return len({tuple(i) for i in index[inside]}) / bins**2


COVERAGE_MISTAKES = [
    Mistake(
        "you returned the number of occupied cells; coverage is their share: divide by the number of cells, bins**2",
        lambda z, bins, low, high: float(np.sum(_counts(z, bins, low, high) > 0)),
    ),
    Mistake(PERCENT, lambda z, bins, low, high: 100.0 * float(np.mean(_counts(z, bins, low, high) > 0))),
    Mistake(
        "a cell holding exactly one code is occupied too: count the cells with at least one code (counts >= 1, "
        "or counts > 0), not those with more than one (counts > 1)",
        lambda z, bins, low, high: float(np.mean(_counts(z, bins, low, high) > 1)),
    ),
    Mistake(
        "you returned the share of EMPTY cells; coverage is the share of cells holding at least one code",
        lambda z, bins, low, high: float(np.mean(_counts(z, bins, low, high) == 0)),
    ),
    Mistake(
        "you returned the mean number of codes per cell; count each cell once if it holds at least one code: "
        "np.mean(counts > 0)",
        lambda z, bins, low, high: float(np.mean(_counts(z, bins, low, high))),
    ),
    Mistake(
        "you divided the number of occupied cells by the number of codes; divide by the number of cells, bins**2",
        lambda z, bins, low, high: float(np.sum(_counts(z, bins, low, high) > 0)) / len(z),
    ),
    Mistake(
        "you left out range=[[low, high], [low, high]]: without it np.histogram2d spans the codes' own bounding box, "
        "not the square [low, high]^2, and codes outside the square are counted",
        lambda z, bins, low, high: float(np.mean(np.histogram2d(z[:, 0], z[:, 1], bins=bins)[0] > 0)),
    ),
    Mistake(
        "you histogrammed z_1 alone: the grid is two-dimensional, its cells are squares of the plane "
        "(np.histogram2d(codes[:, 0], codes[:, 1], ...))",
        lambda z, bins, low, high: float(np.mean(np.histogram(z[:, 0], bins=bins, range=(low, high))[0] > 0)),
    ),
    Mistake(
        "np.linspace(low, high, bins) gives bins edges, that is bins - 1 cells per axis: pass bins itself as the "
        "number of cells (or bins + 1 edges)",
        lambda z, bins, low, high: float(
            np.mean(np.histogram2d(z[:, 0], z[:, 1], bins=[np.linspace(low, high, bins)] * 2)[0] > 0)
        ),
    ),
    Mistake(
        "you returned the share of codes inside the square; coverage is about cells: the share of the bins**2 "
        "cells that hold at least one code",
        lambda z, bins, low, high: float(np.mean(np.all((z >= low) & (z <= high), axis=1))),
    ),
    Mistake(
        "a code exactly at `high` must count in the last cell, as np.histogram2d counts it: your binning leaves it "
        "outside the grid (use np.histogram2d with range=[[low, high], [low, high]])",
        _floor_binning,
    ),
]


def check_coverage(coverage: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 1: share of the cells of a bins x bins grid over [low, high]^2 that hold at least one 2-D code."""
    ex = EX_COVERAGE
    if hidden:
        reject_reference(ex, coverage, latent.coverage)
    r = np.random.default_rng(201)
    centres = np.array([[-2.0, 1.5], [1.0, -1.0], [2.5, 2.5]])
    clustered = centres[r.integers(0, 3, 150)] + 0.3 * r.standard_normal((150, 2))
    on_edges = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.3], [0.45, 1.0], [0.7, 0.2], [1.2, 0.5], [-0.1, 0.9]])
    cases = [
        Case((1.5 * r.standard_normal((200, 2)), 12, -4.0, 4.0)),  # some codes outside the square
        Case((clustered, 8, -3.0, 3.0)),
        Case((on_edges, 4, 0.0, 1.0)),  # codes exactly on the border of the square
    ]
    if hidden:
        cases += [
            Case((r.standard_normal((50, 2)), 1, -5.0, 5.0)),  # one cell
            Case((r.standard_normal((30, 2)) + 20.0, 6, -3.0, 3.0)),  # every code outside: 0
            Case((np.array([[0.25, -0.75]]), 5, -1.0, 1.0)),  # a single code
            Case((r.uniform(-1.0, 1.0, (20_000, 2)), 30, -1.0, 1.0)),  # the square filled
            Case(((2.0 * r.standard_normal((300, 2))).astype(np.float32), 12, -6.0, 6.0)),  # float32
        ]
    compare_quietly(ex, coverage, latent.coverage, cases, hidden=hidden, mistakes=COVERAGE_MISTAKES)
    passed(ex, matches_summary(len(cases), hidden))


# --------------------------------------------------------------------------- Exercise 2

RNG_IGNORED = (
    "your function does not draw from the rng it is given: two calls with identically seeded generators returned "
    "different codes (did you use np.random.uniform?). Use rng.uniform(low, high, size=(n, latent_dim))"
)
NOT_UNIFORM = "your codes are not uniform over the bounding box of the codes"


FROM_THE_PRIOR = (
    "you drew from N(0, I): that is the prior of a VAE, and nothing makes an autoencoder's codes follow it. "
    "Draw uniformly in the bounding box: rng.uniform(low, high, size=(n, latent_dim))"
)
FROM_THE_UNIT_BOX = (
    "you drew from [0, 1) in every dimension: stretch the draws to the box, low + (high - low) * u, "
    "or use rng.uniform(low, high, size=(n, latent_dim))"
)

BOX_MISTAKES = [
    Mistake(FROM_THE_PRIOR, lambda z, n, rng: rng.standard_normal((n, z.shape[1]))),
    Mistake(FROM_THE_PRIOR, lambda z, n, rng: rng.normal(size=(n, z.shape[1]))),
    Mistake(
        "you drew from a Gaussian fitted to the codes (their mean and standard deviation); this exercise asks for "
        "uniform draws in their bounding box, rng.uniform(low, high, size=(n, latent_dim))",
        lambda z, n, rng: rng.normal(z.mean(axis=0), z.std(axis=0), size=(n, z.shape[1])),
    ),
    Mistake(FROM_THE_UNIT_BOX, lambda z, n, rng: rng.random((n, z.shape[1]))),
    Mistake(FROM_THE_UNIT_BOX, lambda z, n, rng: rng.uniform(size=(n, z.shape[1]))),
    Mistake(
        "you took the minimum and maximum over all the numbers at once: the box has its own bounds in each "
        "dimension, codes.min(axis=0) and codes.max(axis=0)",
        lambda z, n, rng: rng.uniform(z.min(), z.max(), size=(n, z.shape[1])),
    ),
    Mistake(
        "you took the minimum and maximum along axis 1, over the dimensions of each code: the box needs one "
        "bound per latent dimension, over all codes, codes.min(axis=0) and codes.max(axis=0)",
        lambda z, n, rng: rng.uniform(z.min(axis=1), z.max(axis=1), size=(n, z.shape[1])),
    ),
    Mistake(
        "you used quantiles (1% to 99%) of the codes: the bounding box runs from the minimum to the maximum "
        "of each dimension",
        lambda z, n, rng: rng.uniform(np.quantile(z, 0.01, axis=0), np.quantile(z, 0.99, axis=0), size=(n, z.shape[1])),
    ),
    Mistake(
        "you swapped the bounds, high + (low - high) * u: the codes have the right distribution, but draw "
        "low + (high - low) * u, or rng.uniform(low, high, ...), so that a generator gives the same codes as the reference",
        lambda z, n, rng: z.max(axis=0) + (z.min(axis=0) - z.max(axis=0)) * rng.random((n, z.shape[1])),
    ),
    Mistake(
        "you drew from the box [min, min + max): the width of each side is high - low, so a draw is "
        "low + (high - low) * u",
        lambda z, n, rng: z.min(axis=0) + z.max(axis=0) * rng.random((n, z.shape[1])),
    ),
]


class _SwappedBounds(ValueError):
    """``rng.uniform(high, low)``: NumPy refuses a negative width."""


_SwappedBounds.__name__ = "ValueError"  # what the feedback says was raised


SWAPPED_BOUNDS = "rng.uniform(low, high, ...) takes the lower bounds first: you passed them as (high, low)"


def _seeded(fn: Callable[..., Any]) -> Callable[[np.ndarray, int, int], Any]:
    """``fn(codes, n, rng)`` as a function of ``(codes, n, seed)``, each call with a fresh generator."""

    def call(codes: np.ndarray, n: int, seed: int) -> Any:
        try:
            return fn(codes, n, np.random.default_rng(seed))
        except ValueError as error:
            if "high - low" in str(error):
                raise _SwappedBounds(str(error)) from None
            raise

    return call


HINTS = ((_SwappedBounds, SWAPPED_BOUNDS),)


def _box_statistics(exercise: str, sample: Callable[[np.ndarray, int, int], Any]) -> None:
    """Explain an answer that matches neither the reference nor a known mistake, from 20,000 of its draws."""
    codes = np.array([[-3.0, 0.5, 10.0], [1.0, 2.0, 12.0], [-1.0, 4.0, 11.0], [0.0, 1.0, 10.5]])
    low, high = latent.bounding_box(codes)
    with np.errstate(all="ignore"):
        z = np.asarray(to_numpy(run(exercise, sample, Case((codes, 20_000, 2024)), HINTS)), dtype=float)
    expect(exercise, z.shape == (20_000, 3), f"for 20,000 codes of dimension 3 it returned shape {z.shape}, expected (20000, 3)")
    outside = np.mean(np.any((z < low - 1e-9) | (z > high + 1e-9), axis=1))
    expect(
        exercise, outside == 0,
        f"{NOT_UNIFORM}: {outside:.1%} of them lie outside the box [min, max] of the codes (per dimension: "
        f"low {low}, high {high}; yours span {np.round(z.min(axis=0), 2)} to {np.round(z.max(axis=0), 2)})",
    )
    pvalues = [stats.kstest(z[:, k], "uniform", args=(low[k], high[k] - low[k])).pvalue for k in range(3)]
    expect(
        exercise, min(pvalues) > 1e-6,
        f"{NOT_UNIFORM}: they stay inside the box but do not fill it evenly (Kolmogorov-Smirnov p-values "
        f"{np.array2string(np.array(pvalues), precision=2)} per dimension). Use rng.uniform(low, high, size=(n, latent_dim))",
    )


def check_bounding_box_sample(bounding_box_sample: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 2: ``rng.uniform(codes.min(axis=0), codes.max(axis=0), size=(n, latent_dim))``."""
    ex = EX_BOX
    if hidden:
        reject_reference(ex, bounding_box_sample, latent.bounding_box_sample)
    student, reference = _seeded(bounding_box_sample), _seeded(latent.bounding_box_sample)
    r = np.random.default_rng(202)
    square = Case((r.normal(size=(3, 3)), 5, 7))  # as many codes as dimensions: axis mistakes do not crash
    with np.errstate(all="ignore"):
        got = to_numpy(run(ex, student, square, HINTS))  # a stub fails here, first
        expect(ex, isinstance(got, np.ndarray), f"it returned {type(got).__name__}; return a NumPy array of shape (n, latent_dim).")
        expect(ex, got.shape == (5, 3), f"for n=5 codes of dimension 3 it returned shape {got.shape}; return shape (n, latent_dim) = (5, 3).")
        again = to_numpy(run(ex, student, square, HINTS))
    expect(ex, np.allclose(np.asarray(got, float), np.asarray(again, float)), RNG_IGNORED)
    cases = [
        square,
        Case((2.0 * r.normal(size=(100, 2)) + np.array([3.0, -1.0]), 50, 8)),
        Case((r.uniform(-5.0, 5.0, (40, 4)), 30, 9)),
    ]
    if hidden:
        cases += [
            Case((r.normal(size=(20, 1)), 6, 10)),  # one latent dimension
            Case((np.array([[0.5, -2.0, 1.0]]), 4, 11)),  # a single code: the box is a point
            Case((np.column_stack([r.normal(size=15), np.full(15, 3.0)]), 5, 12)),  # a flat side
            Case((r.normal(size=(10, 8)), 0, 13)),  # no codes asked for: shape (0, 8)
            Case((r.normal(size=(500, 32)).astype(np.float32), 200, 14)),  # float32, 32 dimensions
        ]
    mistakes = [Mistake(m.message, _seeded(m.fn)) for m in BOX_MISTAKES]
    forbidden = (latent.bounding_box_sample,) if hidden else ()
    try:
        compare_quietly(ex, student, reference, cases, hidden=hidden, mistakes=mistakes, forbidden=forbidden, hints=HINTS)
    except ExerciseFailure as failure:
        if "for input" not in str(failure):
            raise
        _box_statistics(ex, student)
        raise ExerciseFailure(
            ex, f"{str(failure).split(': ', 1)[1]} Your codes are uniform over the box, but draw them with a single call "
            "rng.uniform(low, high, size=(n, latent_dim)) so that they match the reference draw for draw."
        ) from None
    passed(ex, f"{matches_summary(len(cases), hidden)}, with the generator it is given")


# --------------------------------------------------------------------------- Exercise 3


def _path(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=float)[:, None]
    return (1.0 - t) * a + t * b


INTERPOLATE_MISTAKES = [
    Mistake(
        "your path stops short of z_end: the last row must be z_end itself. np.linspace(0, 1, steps) includes both "
        "ends (np.arange(steps) / steps and endpoint=False do not)",
        lambda a, b, steps: _path(a, b, np.linspace(0.0, 1.0, steps, endpoint=False)),
    ),
    Mistake(
        "your path runs from z_end to z_start: the weights are reversed. Row k is (1 - t_k) * z_start + t_k * z_end, "
        "so that t = 0 gives z_start",
        lambda a, b, steps: _path(b, a, np.linspace(0.0, 1.0, steps)),
    ),
    Mistake(
        "your path leaves out z_start: the first row must be z_start itself (t = 0)",
        lambda a, b, steps: _path(a, b, np.linspace(0.0, 1.0, steps + 1)[1:]),
    ),
    Mistake(
        "your path leaves out both ends: the first row must be z_start and the last z_end (t from 0 to 1 inclusive)",
        lambda a, b, steps: _path(a, b, np.linspace(0.0, 1.0, steps + 2)[1:-1]),
    ),
    Mistake(
        "you returned steps + 1 codes (steps intervals): return exactly `steps` codes, z_start and z_end included, "
        "with t = np.linspace(0, 1, steps)",
        lambda a, b, steps: _path(a, b, np.linspace(0.0, 1.0, steps + 1)),
    ),
    Mistake(
        "you returned one code per column, shape (latent_dim, steps): return one code per row, shape (steps, latent_dim)",
        lambda a, b, steps: _path(a, b, np.linspace(0.0, 1.0, steps)).T,
    ),
    Mistake(
        "you added t * z_end to z_start: the path is z_start + t * (z_end - z_start), i.e. (1 - t) * z_start + t * z_end",
        lambda a, b, steps: a + np.linspace(0.0, 1.0, steps)[:, None] * b,
    ),
    Mistake(
        "you forgot to start from z_start: the path is z_start + t * (z_end - z_start), not t * (z_end - z_start)",
        lambda a, b, steps: np.linspace(0.0, 1.0, steps)[:, None] * (b - a),
    ),
    Mistake(
        "you weighted both ends by t: the weights are 1 - t for z_start and t for z_end, which add up to 1",
        lambda a, b, steps: np.linspace(0.0, 1.0, steps)[:, None] * (a + b),
    ),
    Mistake(
        "with steps=1 you divided by steps - 1 = 0 and got NaN: np.linspace(0, 1, 1) is [0.], so a path of one code "
        "is z_start alone",
        lambda a, b, steps: _path(a, b, np.arange(steps) / (steps - 1)),
    ),
]


def check_interpolate(interpolate: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 3: ``(1 - t) * z_start + t * z_end`` for ``t = np.linspace(0, 1, steps)``, one code per row."""
    ex = EX_INTERPOLATE
    if hidden:
        reject_reference(ex, interpolate, latent.interpolate)
    r = np.random.default_rng(203)
    cases = [
        Case((np.array([-2.0, 1.0]), np.array([3.0, 0.5]), 7)),
        Case((r.normal(size=5), r.normal(size=5), 4)),
        Case((r.normal(size=3), 3.0 * r.normal(size=3), 11)),
    ]
    if hidden:
        same = r.normal(size=4)
        cases += [
            Case((r.normal(size=2), r.normal(size=2), 1)),  # one code: z_start
            Case((r.normal(size=2), r.normal(size=2), 2)),  # the two ends
            Case((same, same.copy(), 5)),  # both ends equal
            Case((np.array([0.5]), np.array([-1.5]), 6)),  # one latent dimension
            Case((r.normal(size=32), r.normal(size=32), 200)),  # long path, 32 dimensions
            Case((r.normal(size=3).astype(np.float32), r.normal(size=3).astype(np.float32), 9)),  # float32
        ]
    with np.errstate(all="ignore"):
        got = to_numpy(run(ex, interpolate, cases[0]))  # a stub fails here, first
    expect(
        ex, isinstance(got, np.ndarray),
        f"it returned {type(got).__name__}; return a NumPy array of shape (steps, latent_dim) (np.array(...) or np.stack(...) of a list)",
    )
    compare_quietly(ex, interpolate, latent.interpolate, cases, hidden=hidden, mistakes=INTERPOLATE_MISTAKES)
    passed(ex, matches_summary(len(cases), hidden))


# --------------------------------------------------------------------------- Exercise 4

CONFIDENT_MISTAKES = [
    Mistake(
        "you compared the INDEX of the most likely class (argmax) with the threshold; compare its probability, "
        "probs.max(axis=1)",
        lambda p, threshold=0.9: float(np.mean(np.argmax(p, axis=1) >= threshold)),
    ),
    Mistake(
        "an image whose top probability equals the threshold counts as confident: use >=, not >",
        lambda p, threshold=0.9: float(np.mean(np.max(p, axis=1) > threshold)),
    ),
    Mistake(PERCENT, lambda p, threshold=0.9: 100.0 * float(np.mean(np.max(p, axis=1) >= threshold))),
    Mistake(
        "you returned the number of confident images; return their share, divided by the number of images "
        "(np.mean of the boolean array)",
        lambda p, threshold=0.9: float(np.sum(np.max(p, axis=1) >= threshold)),
    ),
    Mistake(
        "you took the maximum over the images (axis 0); take it over the classes of each image: probs.max(axis=1)",
        lambda p, threshold=0.9: float(np.mean(np.max(p, axis=0) >= threshold)),
    ),
    Mistake(
        "you compared every probability with the threshold, so you averaged over images x classes; compare only the "
        "top probability of each image, probs.max(axis=1)",
        lambda p, threshold=0.9: float(np.mean(p >= threshold)),
    ),
    Mistake(
        "you ignored the threshold argument and always used 0.9",
        lambda p, threshold=0.9: float(np.mean(np.max(p, axis=1) >= 0.9)),
    ),
    Mistake(
        "you returned the share of images that are NOT confident; return the share whose top probability is >= threshold",
        lambda p, threshold=0.9: float(np.mean(np.max(p, axis=1) < threshold)),
    ),
    Mistake(
        "you returned the mean top probability; the rate is the share of images whose top probability reaches the threshold",
        lambda p, threshold=0.9: float(np.mean(np.max(p, axis=1))),
    ),
    Mistake(
        "you compared the probability of the first class, probs[:, 0], with the threshold; use the top probability of "
        "each image, probs.max(axis=1)",
        lambda p, threshold=0.9: float(np.mean(p[:, 0] >= threshold)),
    ),
]
DEFAULT_THRESHOLD = "give threshold the default value 0.9, def confident_rate(probs, threshold=0.9)"


def _probabilities(rng: np.random.Generator, n: int, classes: int, concentration: float) -> np.ndarray:
    return rng.dirichlet(np.full(classes, concentration), size=n)


def check_confident_rate(confident_rate: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 4: ``np.mean(probs.max(axis=1) >= threshold)``, a fraction."""
    ex = EX_CONFIDENT
    if hidden:
        reject_reference(ex, confident_rate, metrics.confident_rate)
    try:
        default = inspect.signature(confident_rate).parameters.get("threshold")
    except (TypeError, ValueError):
        default = None
    if default is not None and default.default is not inspect.Parameter.empty:
        expect(ex, default.default == 0.9, f"{DEFAULT_THRESHOLD} (yours is {default.default!r})")
    r = np.random.default_rng(204)
    # Top probabilities of exactly 0.9 and 0.75: the threshold itself must count as confident.
    exact = np.full((8, 10), 0.0)
    tops = [0.9, 0.95, 0.5, 0.9, 0.3, 0.75, 0.99, 0.8]
    for i, top in enumerate(tops):
        exact[i] = (1.0 - top) / 9.0
        exact[i, (3 * i + 1) % 10] = top
    cases = [
        Case((exact,)),  # the default threshold, 0.9
        Case((exact,), {"threshold": 0.75}),
        Case((_probabilities(r, 200, 10, 0.3),), {"threshold": 0.5}),
    ]
    if hidden:
        cases += [
            Case((_probabilities(r, 1, 10, 0.1),)),  # a single image
            Case((np.full((5, 10), 0.1),)),  # nobody is confident: 0
            Case((np.eye(10)[r.integers(0, 10, 7)],), {"threshold": 1.0}),  # certain images, threshold 1: 1
            Case((_probabilities(r, 300, 2, 0.5),), {"threshold": 0.6}),  # two classes
            Case((_probabilities(r, 1_000, 10, 0.2).astype(np.float32),), {"threshold": 0.8}),  # float32
        ]
    hints = ((TypeError, DEFAULT_THRESHOLD + ": the test also calls confident_rate(probs) alone"),)
    compare_quietly(ex, confident_rate, metrics.confident_rate, cases, hidden=hidden, mistakes=CONFIDENT_MISTAKES, hints=hints)
    passed(ex, matches_summary(len(cases), hidden))
