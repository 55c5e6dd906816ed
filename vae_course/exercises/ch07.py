"""Checks for the exercises of chapter 07, VAE vs GAN (PyTorch and NumPy).

Each ``check_<name>(fn, hidden=False)`` compares a student's function with its
reference (:mod:`vae_course.torch.gan`, :mod:`vae_course.metrics`) on fixed
inputs and names the mistake when the answer matches a known wrong variant.
The two PyTorch losses are also checked for the gradient they send back to the
logits. ``hidden=True`` adds edge cases and fails an answer that merely calls
the reference. No check trains a model.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy import linalg

from vae_course import metrics
from vae_course.checks import (
    Case, ExerciseFailure, Mistake, ProbabilitiesExpected, compare_quietly, expect, expecting_probabilities, forbid,
    matches_summary, passed, reject_reference, run, to_numpy,
)

__all__ = [
    "check_discriminator_loss",
    "check_generator_loss",
    "check_frechet_distance_gaussians",
    "check_knn_precision_recall",
    "check_class_coverage_entropy",
    "DISCRIMINATOR_MISTAKES",
    "GENERATOR_MISTAKES",
    "FRECHET_MISTAKES",
    "PRECISION_RECALL_MISTAKES",
    "ENTROPY_MISTAKES",
]

EX_D = "Exercise 1 (discriminator_loss)"
EX_G = "Exercise 2 (generator_loss)"
EX_FRECHET = "Exercise 3 (frechet_distance_gaussians)"
EX_PR = "Exercise 4 (knn_precision_recall)"
EX_ENTROPY = "Exercise 5 (class_coverage_entropy)"


# --------------------------------------------------------------------------- PyTorch helpers


def _bce(logits: Any, label: float, reduction: str = "mean") -> Any:
    import torch
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label), reduction=reduction)


def _naive_log_sigmoid(logits: Any) -> Any:
    import torch

    return torch.log(torch.sigmoid(logits))


PROBABILITY_HINT = (
    "F.binary_cross_entropy (and nn.BCELoss) expect probabilities in [0, 1], but D returns logits: use "
    "F.binary_cross_entropy_with_logits, which applies the sigmoid inside, in a numerically stable form"
)


HINTS = ((ProbabilitiesExpected, PROBABILITY_HINT),)


def _loss_output(exercise: str, student: Callable[..., Any], case: Case) -> None:
    """The loss must be a scalar torch tensor that is part of the graph (training calls ``.backward()`` on it)."""
    import torch

    got = run(exercise, student, case, HINTS)
    expect(
        exercise, isinstance(got, torch.Tensor),
        f"it returned {type(got).__name__}; return a torch tensor (no .item(), float() or NumPy): training calls "
        "loss.backward() on it",
    )
    expect(
        exercise, got.dim() == 0,
        f"it returned a tensor of shape {tuple(got.shape)}; return one scalar, the mean over the images",
    )


INFINITE = (
    "your loss is infinite (or NaN) for confident logits, where the true loss is finite: log(sigmoid(l)) and "
    "log(1 - sigmoid(l)) underflow to log(0) in float32 once |l| is large. Use F.binary_cross_entropy_with_logits "
    "(or softplus), which is exact for any logit"
)


def _finite_where_expected(exercise: str, student: Callable[..., Any], reference: Callable[..., Any], cases: list, hidden: bool) -> None:
    """Fail with :data:`INFINITE` when the student's loss is not finite on a case whose true loss is."""
    expected = [np.asarray(to_numpy(case.call(reference)), dtype=float) for case in cases]
    with forbid(*((reference,) if hidden else ())):
        for case, want in zip(cases, expected):
            got = to_numpy(run(exercise, student, case, HINTS))
            if isinstance(got, np.ndarray) and got.dtype.kind in "fc" and np.isfinite(want).all():
                expect(exercise, bool(np.isfinite(got).all()), INFINITE)


def _gradient_check(
    exercise: str, student: Callable[..., Any], reference: Callable[..., Any], logits: tuple, hidden: bool, message: str,
) -> None:
    """The gradient of the student's loss with respect to each logit tensor must match the reference's."""
    import torch

    def grads(fn: Callable[..., Any]) -> list[np.ndarray] | None:
        leaves = [t.detach().clone().requires_grad_(True) for t in logits]
        out = fn(*leaves)
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            return None
        out.backward()
        return [np.zeros(t.shape) if t.grad is None else t.grad.numpy().astype(float) for t in leaves]

    expected = grads(reference)
    with forbid(*((reference,) if hidden else ())):
        try:
            got = grads(student)
        except PermissionError:
            got = run(exercise, student, Case(tuple(logits)), HINTS)  # raises the "calls the reference" feedback
    expect(
        exercise, got is not None,
        "no gradient flows back to the logits: did you .detach() them, call .item(), or go through NumPy? "
        "Stay in torch operations so that loss.backward() reaches D and G",
    )
    for g, e in zip(got, expected):
        expect(exercise, np.allclose(g, e, rtol=1e-4, atol=1e-7), message)


def _logits(seed: int, n: int, shift: float, scale: float = 2.0, shape: tuple[int, ...] | None = None) -> Any:
    import torch

    generator = torch.Generator().manual_seed(seed)
    t = shift + scale * torch.randn(n, generator=generator)
    return t.reshape(shape) if shape is not None else t


# --------------------------------------------------------------------------- Exercise 1


SIGMOID_TWICE = (
    "you applied a sigmoid before a loss 'with logits', which applies its own: the loss then sees probabilities as if "
    "they were logits and can never go below about 0.31 nats per term. Pass D's raw logits"
)
SUMMED = "you summed over the images: average them (reduction='mean', the default), so that the loss does not grow with the batch size"

AVERAGED_TERMS = (
    "you averaged the two terms together (0.5 * (real + fake), or one mean over all the logits): the loss is the SUM "
    "of the mean over the real images and the mean over the fakes, 2 log 2 when D outputs 0.5 everywhere"
)


def _joint_mean(real: Any, fake: Any) -> Any:
    """One BCE mean over the real and fake logits together."""
    import torch
    import torch.nn.functional as F

    logits = torch.cat([real.flatten(), fake.flatten()])
    labels = torch.cat([torch.ones(real.numel()), torch.zeros(fake.numel())])
    return F.binary_cross_entropy_with_logits(logits, labels)


DISCRIMINATOR_MISTAKES = [
    Mistake(SIGMOID_TWICE, lambda r, f: _bce(r.sigmoid(), 1.0) + _bce(f.sigmoid(), 0.0)),
    Mistake(
        "your labels are swapped: real images get the label 1 and fakes the label 0 (you trained D to call the fakes real)",
        lambda r, f: _bce(r, 0.0) + _bce(f, 1.0),
    ),
    Mistake(SUMMED, lambda r, f: _bce(r, 1.0, "sum") + _bce(f, 0.0, "sum")),
    Mistake(AVERAGED_TERMS, lambda r, f: 0.5 * (_bce(r, 1.0) + _bce(f, 0.0))),
    Mistake(AVERAGED_TERMS, lambda r, f: _joint_mean(r, f)),
    Mistake("you left out the fakes' term BCE(D(G(z)), 0)", lambda r, f: _bce(r, 1.0)),
    Mistake("you left out the real images' term BCE(D(x), 1)", lambda r, f: _bce(f, 0.0)),
    Mistake(
        "your loss is infinite for confident logits: -log(sigmoid(l)) underflows to log(0) in float32 once l is below "
        "about -100. Use F.binary_cross_entropy_with_logits (or softplus), which is exact for any logit",
        lambda r, f: -(_naive_log_sigmoid(r).mean() + _naive_log_sigmoid(-f).mean()),
    ),
]


def check_discriminator_loss(discriminator_loss: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 1: ``BCE(D(x), 1) + BCE(D(G(z)), 0)`` from logits, each term averaged over its images."""
    from vae_course.torch import gan

    ex = EX_D
    if hidden:
        reject_reference(ex, discriminator_loss, gan.discriminator_loss)
    student = expecting_probabilities(discriminator_loss)
    first = Case((_logits(1, 8, 1.0), _logits(2, 8, -1.0)))
    _loss_output(ex, student, first)
    cases = [
        first,
        Case((_logits(3, 6, 0.5, 3.0, (6, 1)), _logits(4, 6, -0.5, 3.0, (6, 1)))),  # (N, 1), as D returns them
        Case((_logits(5, 6, 0.0, 100.0), _logits(6, 6, 0.0, 100.0))),  # extreme logits: D confidently right and wrong
    ]
    if hidden:
        cases += [
            Case((_logits(7, 5, 0.0, 1.0), _logits(8, 9, 0.0, 1.0))),  # more fakes than real images
            Case((_logits(9, 1, -3.0), _logits(10, 1, 3.0))),  # one image each, D fooled
            Case((_logits(11, 64, 0.0, 10.0), _logits(12, 64, 0.0, 10.0))),
        ]
    _finite_where_expected(ex, student, gan.discriminator_loss, cases, hidden)
    compare_quietly(ex, student, gan.discriminator_loss, cases, hidden=hidden, mistakes=DISCRIMINATOR_MISTAKES,
                    hints=HINTS, rtol=1e-4, atol=1e-5)
    _gradient_check(
        ex, student, gan.discriminator_loss, (_logits(13, 6, 0.5), _logits(14, 6, -0.5)), hidden,
        "the value is right but the gradient with respect to the logits is not: compute the loss with torch operations "
        "on the logits themselves",
    )
    passed(ex, matches_summary(len(cases), hidden) + ", gradients included")


# --------------------------------------------------------------------------- Exercise 2


SATURATING = (
    "this is the minimax game's saturating loss log(1 - D(G(z))): its gradient is -D(G(z)), close to 0 exactly when "
    "D rejects the fakes, so the generator stops learning. Minimise -log D(G(z)) = BCE(D(G(z)), 1) instead"
)

GENERATOR_MISTAKES = [
    Mistake(SATURATING, lambda f: -_bce(f, 0.0)),
    Mistake(SATURATING, lambda f: (1.0 - f.sigmoid()).log().mean()),
    Mistake(
        "you used the label 0 for the fakes, as D does: the generator wants D to call its images REAL, so its target "
        "is 1, BCE(D(G(z)), 1). With 0 it helps D reject them",
        lambda f: _bce(f, 0.0),
    ),
    Mistake(SIGMOID_TWICE, lambda f: _bce(f.sigmoid(), 1.0)),
    Mistake(SUMMED, lambda f: _bce(f, 1.0, "sum")),
    Mistake(
        "your loss is infinite for confident logits: -log(sigmoid(l)) underflows to log(0) in float32 once l is below "
        "about -100, which is exactly where an early generator is. Use F.binary_cross_entropy_with_logits "
        "(or softplus(-l)), exact for any logit",
        lambda f: -_naive_log_sigmoid(f).mean(),
    ),
    Mistake("you returned log D(G(z)) itself: the loss to minimise is its negative, -log D(G(z))", lambda f: -_bce(f, 1.0)),
]


def check_generator_loss(generator_loss: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 2: the non-saturating ``BCE(D(G(z)), 1) = -log D(G(z))`` from logits, averaged over the fakes."""
    import torch

    from vae_course.torch import gan

    ex = EX_G
    if hidden:
        reject_reference(ex, generator_loss, gan.generator_loss)
    student = expecting_probabilities(generator_loss)
    first = Case((_logits(21, 8, -1.0),))
    _loss_output(ex, student, first)
    cases = [
        first,
        Case((_logits(22, 6, -5.0, 1.0, (6, 1)),)),  # (N, 1): D rejects the fakes
        Case((_logits(23, 5, -120.0, 1.0),)),  # D rejects them with certainty
    ]
    if hidden:
        cases += [
            Case((_logits(24, 1, 4.0),)),  # one fake, D fooled
            Case((_logits(25, 64, 0.0, 10.0),)),
            Case((torch.zeros(10),)),  # log 2
        ]
    _finite_where_expected(ex, student, gan.generator_loss, cases, hidden)
    compare_quietly(ex, student, gan.generator_loss, cases, hidden=hidden, mistakes=GENERATOR_MISTAKES,
                    hints=HINTS, rtol=1e-4, atol=1e-5)
    _gradient_check(
        ex, student, gan.generator_loss, (_logits(26, 8, -8.0, 1.0),), hidden,
        "the value is right but the gradient is not: where D rejects the fakes (logits near -8) the gradient of "
        "-log D(G(z)) with respect to each logit is about -1/N; compute the loss with torch operations on the logits",
    )
    passed(ex, matches_summary(len(cases), hidden) + ", gradients included")


# --------------------------------------------------------------------------- Exercise 3


def _frechet(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray, *, mean_term: Callable[[np.ndarray], float] = lambda d: float(d @ d),
             covmean: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None, trace: Callable[[np.ndarray], float] = np.trace) -> float:
    """The distance with one part replaceable, to build the known mistakes."""
    c = np.real(linalg.sqrtm(cov_a @ cov_b)) if covmean is None else covmean(cov_a, cov_b)
    return float(mean_term(mu_a - mu_b) + trace(cov_a + cov_b - 2.0 * c))


FRECHET_MISTAKES = [
    Mistake(
        "you left out the matrix square root: the cross term is 2 Tr((S_a S_b)^(1/2)), with scipy.linalg.sqrtm of the "
        "product, not 2 Tr(S_a S_b)",
        lambda ma, sa, mb, sb: _frechet(ma, sa, mb, sb, covmean=lambda a, b: a @ b),
    ),
    Mistake(
        "np.sqrt takes the square root of each entry; the formula needs the matrix square root of S_a S_b, "
        "scipy.linalg.sqrtm(S_a @ S_b)",
        lambda ma, sa, mb, sb: _frechet(ma, sa, mb, sb, covmean=lambda a, b: np.sqrt(a @ b)),
    ),
    Mistake(
        "you multiplied the square roots, sqrtm(S_a) @ sqrtm(S_b): that is the square root of the product only when the "
        "two matrices commute. Take sqrtm(S_a @ S_b)",
        lambda ma, sa, mb, sb: _frechet(ma, sa, mb, sb, covmean=lambda a, b: np.real(linalg.sqrtm(a) @ linalg.sqrtm(b))),
    ),
    Mistake(
        "you took the square root of the trace, sqrt(Tr(S_a S_b)); the formula takes the trace of the matrix square "
        "root, Tr(sqrtm(S_a @ S_b))",
        lambda ma, sa, mb, sb: float((ma - mb) @ (ma - mb) + np.trace(sa) + np.trace(sb) - 2.0 * np.sqrt(np.trace(sa @ sb))),
    ),
    Mistake(
        "you summed every entry of the matrix: the formula takes its trace, the sum of the diagonal (np.trace)",
        lambda ma, sa, mb, sb: _frechet(ma, sa, mb, sb, trace=np.sum),
    ),
    Mistake(
        "you left out the distance between the means, ||mu_a - mu_b||^2",
        lambda ma, sa, mb, sb: _frechet(ma, sa, mb, sb, mean_term=lambda d: 0.0),
    ),
    Mistake(
        "the distance between the means must be squared: ||mu_a - mu_b||^2 = np.sum((mu_a - mu_b) ** 2), "
        "not np.linalg.norm(mu_a - mu_b)",
        lambda ma, sa, mb, sb: _frechet(ma, sa, mb, sb, mean_term=lambda d: float(np.linalg.norm(d))),
    ),
    Mistake(
        "you returned the square root of the result: FID and the course's Fréchet distance are the SQUARED "
        "distance, ||mu_a - mu_b||^2 + Tr(...), without a final square root",
        lambda ma, sa, mb, sb: float(np.sqrt(max(_frechet(ma, sa, mb, sb), 0.0))),
    ),
    Mistake(
        "you left out Tr(S_a) + Tr(S_b): the covariance term is Tr(S_a + S_b - 2 (S_a S_b)^(1/2))",
        lambda ma, sa, mb, sb: float((ma - mb) @ (ma - mb) - 2.0 * np.trace(np.real(linalg.sqrtm(sa @ sb)))),
    ),
]

COMPLEX = (
    "your result is a complex number: scipy.linalg.sqrtm returns a complex matrix when S_a S_b is singular (or nearly), "
    "with tiny imaginary parts that are round-off. Keep the real part (np.real(covmean) or covmean.real) and return a float"
)


def _spd(r: np.random.Generator, d: int, rank: int | None = None, floor: float = 0.1) -> np.ndarray:
    a = r.normal(size=(d, rank or d))
    return a @ a.T + (0.0 if rank else floor * np.eye(d))


def _with_roundoff(r: np.random.Generator, d: int) -> np.ndarray:
    """A covariance whose smallest eigenvalue is -1e-10, as round-off leaves in one estimated from too few samples.

    ``sqrtm`` of its product with a positive definite matrix is complex on every platform; the exactly singular
    case above is complex only where LAPACK's round-off makes a zero eigenvalue negative.
    """
    q, _ = np.linalg.qr(r.normal(size=(d, d)))
    return (q * np.r_[np.linspace(1.0, 2.0, d - 1), -1e-10]) @ q.T


def check_frechet_distance_gaussians(frechet_distance_gaussians: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 3: ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b))``, a real float."""
    ex = EX_FRECHET
    references = (metrics.gaussian_frechet_distance, metrics.frechet_distance)
    if hidden:
        reject_reference(ex, frechet_distance_gaussians, *references)
    r = np.random.default_rng(701)
    cases = [
        Case((r.normal(size=3), _spd(r, 3), r.normal(size=3), _spd(r, 3))),
        Case((np.array([1.0]), np.array([[4.0]]), np.array([-1.0]), np.array([[1.0]]))),  # 1-D: 4 + (2 - 1)^2 = 5
        Case((r.normal(size=5), _spd(r, 5, rank=2), r.normal(size=5), _spd(r, 5, rank=3))),  # singular
        Case((r.normal(size=4), _spd(r, 4), r.normal(size=4), _with_roundoff(r, 4))),  # complex sqrtm everywhere
    ]
    if hidden:
        same = _spd(r, 4)
        cases += [
            Case((np.zeros(4), same, np.zeros(4), same)),  # the same Gaussian: 0
            Case((np.zeros(4), same, np.ones(4), same)),  # a shift only: ||mu_a - mu_b||^2 = 4
            Case((r.normal(size=6), np.diag(r.uniform(0.5, 2, 6)), r.normal(size=6), np.diag(r.uniform(0.5, 2, 6)))),
            Case((r.normal(size=20), _spd(r, 20), r.normal(size=20), _spd(r, 20, rank=8))),
        ]
    forbidden = references if hidden else ()
    with forbid(*forbidden), np.errstate(all="ignore"):
        for case in cases:
            got = to_numpy(run(ex, frechet_distance_gaussians, case))
            if isinstance(got, np.ndarray) and np.iscomplexobj(got):
                raise ExerciseFailure(ex, COMPLEX)
    compare_quietly(ex, frechet_distance_gaussians, metrics.gaussian_frechet_distance, cases, hidden=hidden,
                    forbidden=forbidden, mistakes=FRECHET_MISTAKES, rtol=1e-5, atol=1e-6)
    passed(ex, matches_summary(len(cases), hidden))


# --------------------------------------------------------------------------- Exercise 4


def _radii(x: np.ndarray, k: int, offset: int = 0) -> np.ndarray:
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return np.sort(d, axis=1)[:, k - offset]


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    d = np.sqrt(((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1))
    return float(np.mean(np.any(d <= radii[None, :], axis=1)))


def _radii_to(centres: np.ndarray, others: np.ndarray, k: int) -> np.ndarray:
    """Distance from each centre to its k-th nearest point of the OTHER set."""
    d = np.sqrt(((centres[:, None, :] - others[None, :, :]) ** 2).sum(-1))
    return np.sort(d, axis=1)[:, k - 1]


def _pr(real: np.ndarray, fake: np.ndarray, k: int, offset: int = 0) -> tuple[float, float]:
    return _inside(fake, real, _radii(real, k, offset)), _inside(real, fake, _radii(fake, k, offset))


PRECISION_RECALL_MISTAKES = [
    Mistake(
        "your k-th neighbour counts the point itself: its distance to itself is 0, the first entry of its sorted "
        "distances, so the k-th nearest OTHER point is at index k (0-based) of the sorted row, not k - 1",
        lambda real, fake, k=3: _pr(real, fake, k, offset=1),
    ),
    Mistake(
        "precision and recall are swapped: precision is the share of GENERATED samples inside the real manifold, "
        "recall the share of REAL samples inside the generated manifold. Return (precision, recall)",
        lambda real, fake, k=3: _pr(real, fake, k)[::-1],
    ),
    Mistake(
        "your radii come from the wrong set: each point's radius is the distance to its k-th nearest neighbour in ITS "
        "OWN set (real to real for the real manifold, fake to fake for the generated one), not in the other set",
        lambda real, fake, k=3: (_inside(fake, real, _radii_to(real, fake, k)), _inside(real, fake, _radii_to(fake, real, k))),
    ),
    Mistake(
        "you counted the samples instead of taking their share: divide by the number of samples (np.mean of the "
        "inside/outside flags)",
        lambda real, fake, k=3: (_pr(real, fake, k)[0] * len(fake), _pr(real, fake, k)[1] * len(real)),
    ),
    Mistake(
        "you returned percentages; return shares between 0 and 1",
        lambda real, fake, k=3: tuple(100.0 * v for v in _pr(real, fake, k)),
    ),
    Mistake("you ignored the argument k (your radii always use the 3rd neighbour)", lambda real, fake, k=3: _pr(real, fake, 3)),
]


def check_knn_precision_recall(knn_precision_recall: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 4: ``(precision, recall)`` with k-NN balls (Kynkäänniemi et al. 2019)."""
    ex = EX_PR
    references = (metrics.knn_precision_recall, metrics.knn_radii)
    if hidden:
        reject_reference(ex, knn_precision_recall, *references)
    r = np.random.default_rng(702)
    real = r.normal(size=(40, 3))
    cases = [
        Case((real, 0.8 * r.normal(size=(30, 3)) + np.array([1.0, 0.0, 0.0]), 3)),  # shifted, narrower
        Case((r.normal(size=(25, 2)), 2.5 * r.normal(size=(35, 2)), 3)),  # wider than the data: low precision, high recall
        Case((r.normal(size=(30, 4)), r.normal(size=(30, 4))[:, [0, 1, 2, 3]] * np.array([1, 1, 0.2, 0.2]), 5)),
    ]
    if hidden:
        cases += [
            Case((real, real.copy(), 3)),  # the data itself: (1, 1)
            Case((real, real[:20] + 10.0, 2)),  # far from the data: (0, 0)
            Case((r.normal(size=(15, 6)), r.normal(size=(12, 6)), 1)),
            Case((r.normal(size=(60, 8)).astype(np.float32), r.normal(size=(50, 8)).astype(np.float32), 4)),
        ]

    def as_pair(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            out = fn(*args)
            if isinstance(out, (tuple, list)) and len(out) == 2:
                return tuple(np.asarray(to_numpy(v), dtype=float).reshape(()) for v in out)
            return out

        return call

    got = to_numpy(run(ex, knn_precision_recall, cases[0]))
    expect(ex, isinstance(got, (tuple, list)) and len(got) == 2,
           f"it returned {type(got).__name__}; return a pair (precision, recall) of floats")
    mistakes = [Mistake(m.message, as_pair(m.fn)) for m in PRECISION_RECALL_MISTAKES]
    compare_quietly(ex, as_pair(knn_precision_recall), as_pair(metrics.knn_precision_recall), cases, hidden=hidden,
                    forbidden=references if hidden else (), mistakes=mistakes, rtol=1e-6, atol=1e-9)
    passed(ex, matches_summary(len(cases), hidden))


# --------------------------------------------------------------------------- Exercise 5


def _p(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    return counts / counts.sum()


def _h(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


ENTROPY_MISTAKES = [
    Mistake(
        "you returned the entropy in nats (natural log): divide by np.log(base) to get it in the asked base "
        "(bits for base 2)",
        lambda counts, base=2.0: _h(_p(counts)),
    ),
    Mistake(
        "you ignored the argument base: your answer is always in bits (log2). Divide the natural-log entropy by "
        "np.log(base)",
        lambda counts, base=2.0: _h(_p(counts)) / np.log(2.0),
    ),
    Mistake(
        "you did not normalise the histogram: turn the counts into probabilities first, p = counts / counts.sum()",
        lambda counts, base=2.0: _h(np.asarray(counts, dtype=float)) / np.log(base),
    ),
    Mistake(
        "your answer is NaN when a class is empty: 0 * log(0) gives nan in NumPy, but its limit is 0 and an empty class "
        "adds nothing to the entropy. Keep only p > 0 (or use scipy.special.xlogy)",
        lambda counts, base=2.0: float(-np.sum(_p(counts) * np.log(_p(counts))) / np.log(base)),
    ),
    Mistake(
        "the entropy has the wrong sign: H = -sum p log p, which is never negative",
        lambda counts, base=2.0: -_h(_p(counts)) / np.log(base),
    ),
    Mistake(
        "you divided by the largest possible entropy, log(K): the exercise asks for the entropy itself, in units of "
        "log(base)",
        lambda counts, base=2.0: _h(_p(counts)) / np.log(len(counts)),
    ),
    Mistake(
        "you divided by log(number of non-empty classes), which ignores the empty ones: the exercise asks for the "
        "entropy itself, in units of log(base)",
        lambda counts, base=2.0: _h(_p(counts)) / np.log(max(np.count_nonzero(counts), 2)),
    ),
]


def check_class_coverage_entropy(class_coverage_entropy: Callable[..., Any], hidden: bool = False) -> None:
    """Exercise 5: ``-sum p log p / log(base)`` of the normalised histogram ``counts``, empty classes adding 0."""
    ex = EX_ENTROPY
    if hidden:
        reject_reference(ex, class_coverage_entropy, metrics.class_coverage_entropy)
    cases = [
        Case((np.array([30, 10, 0, 60, 0, 0, 0, 0, 0, 0]),)),
        Case((np.array([3, 0, 1, 5, 7, 2, 0, 1]),), {"base": 10.0}),
        Case((np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),), {"base": 10.0}),  # ten equal classes: exactly 1 in base 10
    ]
    if hidden:
        cases += [
            Case((np.array([0, 12, 0, 0]),)),  # one class: 0
            Case((np.array([0.5, 0.25, 0.25]),)),  # already a distribution
            Case((np.array([7, 3]),), {"base": float(np.e)}),
            Case((np.array([10_000, 1, 0, 0, 0, 0, 0, 0, 0, 1]),)),
            Case((np.arange(11),), {"base": 2.0}),
        ]
    compare_quietly(ex, class_coverage_entropy, metrics.class_coverage_entropy, cases, hidden=hidden,
                    mistakes=ENTROPY_MISTAKES, rtol=1e-6, atol=1e-9)
    passed(ex, matches_summary(len(cases), hidden))
