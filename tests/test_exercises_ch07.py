"""The checks of chapter 07's exercises: right answers pass, and each known mistake is named."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import linalg
from scipy.spatial.distance import cdist

from exercise_helpers import contract_tests, fails_with

from vae_course import metrics
from vae_course.checks import ExerciseFailure
from vae_course.exercises import ch07
from vae_course.torch import gan

EXERCISES = {
    "discriminator_loss": (ch07.check_discriminator_loss, gan.discriminator_loss, lambda r, f: gan.discriminator_loss(r, f)),
    "generator_loss": (ch07.check_generator_loss, gan.generator_loss, lambda f: gan.generator_loss(f)),
    "frechet_distance_gaussians": (
        ch07.check_frechet_distance_gaussians, metrics.gaussian_frechet_distance,
        lambda ma, sa, mb, sb: metrics.gaussian_frechet_distance(ma, sa, mb, sb),
    ),
    "knn_precision_recall": (
        ch07.check_knn_precision_recall, metrics.knn_precision_recall,
        lambda real, fake, k=3: metrics.knn_precision_recall(real, fake, k),
    ),
    "class_coverage_entropy": (
        ch07.check_class_coverage_entropy, metrics.class_coverage_entropy,
        lambda counts, base=2.0: metrics.class_coverage_entropy(counts, base),
    ),
}

test_reference_passes, test_stub_is_not_implemented, test_calling_the_reference_fails_when_hidden = contract_tests(EXERCISES)


def bce(logits, label, reduction="mean"):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label), reduction=reduction)


# --------------------------------------------------------------------------- Exercise 1


D_MISTAKES = {
    "sigmoid first": (lambda r, f: bce(torch.sigmoid(r), 1.0) + bce(torch.sigmoid(f), 0.0), "applied a sigmoid before"),
    "labels swapped": (lambda r, f: bce(r, 0.0) + bce(f, 1.0), "labels are swapped"),
    "summed": (lambda r, f: bce(r, 1.0, "sum") + bce(f, 0.0, "sum"), "summed over the images"),
    "halved": (lambda r, f: (bce(r, 1.0) + bce(f, 0.0)) / 2, "averaged the two terms together"),
    "one mean": (
        lambda r, f: F.binary_cross_entropy_with_logits(
            torch.cat([r.flatten(), f.flatten()]), torch.cat([torch.ones(r.numel()), torch.zeros(f.numel())])
        ),
        "averaged the two terms together",
    ),
    "no fake term": (lambda r, f: bce(r, 1.0), "left out the fakes' term"),
    "naive logs": (
        lambda r, f: -(torch.log(torch.sigmoid(r)) + torch.log(1 - torch.sigmoid(f))).mean(), "infinite",
    ),
    "probabilities loss": (
        lambda r, f: F.binary_cross_entropy(r, torch.ones_like(r)) + F.binary_cross_entropy(f, torch.zeros_like(f)),
        "expect probabilities",
    ),
    "item": (lambda r, f: (bce(r, 1.0) + bce(f, 0.0)).item(), "return a torch tensor"),
    "per image": (lambda r, f: bce(r, 1.0, "none") + bce(f, 0.0, "none"), "return one scalar"),
    "detached": (lambda r, f: bce(r.detach(), 1.0) + bce(f.detach(), 0.0), "no gradient flows back"),
}


@pytest.mark.parametrize("mistake", D_MISTAKES)
def test_discriminator_loss_mistakes(mistake):
    fn, fragment = D_MISTAKES[mistake]
    fails_with(ch07.check_discriminator_loss, fn, fragment)


def test_discriminator_loss_accepts_softplus(capsys):
    ch07.check_discriminator_loss(lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(), hidden=True)
    assert "✔" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 2


G_MISTAKES = {
    "saturating": (lambda f: torch.log(1 - torch.sigmoid(f)).mean(), "saturating loss log(1 - D(G(z)))"),
    "saturating, stable": (lambda f: -bce(f, 0.0), "saturating loss"),
    "label 0": (lambda f: bce(f, 0.0), "label 0"),
    "sigmoid first": (lambda f: bce(torch.sigmoid(f), 1.0), "applied a sigmoid before"),
    "summed": (lambda f: bce(f, 1.0, "sum"), "summed over the images"),
    "naive log": (lambda f: -torch.log(torch.sigmoid(f)).mean(), "infinite"),
    "sign": (lambda f: -bce(f, 1.0), "its negative"),
    "numpy": (lambda f: np.mean(np.logaddexp(0.0, -f.detach().numpy())), "return a torch tensor"),
}


@pytest.mark.parametrize("mistake", G_MISTAKES)
def test_generator_loss_mistakes(mistake):
    fn, fragment = G_MISTAKES[mistake]
    fails_with(ch07.check_generator_loss, fn, fragment)


def test_generator_loss_gradient_is_checked():
    # the right value computed through a detached copy: no gradient reaches the logits
    fails_with(ch07.check_generator_loss, lambda f: bce(f.detach(), 1.0) + 0 * f.sum().detach(), "no gradient flows back")


def test_generator_loss_accepts_softplus(capsys):
    ch07.check_generator_loss(lambda f: F.softplus(-f).mean(), hidden=True)
    assert "✔" in capsys.readouterr().out


def test_saturating_gradient_vanishes_where_the_non_saturating_one_does_not():
    logits = torch.full((4,), -8.0, requires_grad=True)
    gan.saturating_generator_loss(logits).backward()
    saturating = logits.grad.clone()
    logits.grad = None
    gan.generator_loss(logits).backward()
    assert saturating.abs().max() < 1e-3 / 4 and logits.grad.abs().min() > 0.99 / 4


# --------------------------------------------------------------------------- Exercise 3


def fd(ma, sa, mb, sb, covmean=None, mean=lambda d: d @ d, trace=np.trace):
    c = np.real(linalg.sqrtm(sa @ sb)) if covmean is None else covmean(sa, sb)
    return float(mean(ma - mb) + trace(sa + sb - 2 * c))


FD_MISTAKES = {
    "no square root": (lambda ma, sa, mb, sb: fd(ma, sa, mb, sb, covmean=lambda a, b: a @ b), "left out the matrix square root"),
    "element-wise sqrt": (lambda ma, sa, mb, sb: fd(ma, sa, mb, sb, covmean=lambda a, b: np.sqrt(a @ b)), "np.sqrt takes the square root of each entry"),
    "product of roots": (
        lambda ma, sa, mb, sb: fd(ma, sa, mb, sb, covmean=lambda a, b: np.real(linalg.sqrtm(a) @ linalg.sqrtm(b))),
        "multiplied the square roots",
    ),
    "root of the trace": (
        lambda ma, sa, mb, sb: float((ma - mb) @ (ma - mb) + np.trace(sa) + np.trace(sb) - 2 * np.sqrt(np.trace(sa @ sb))),
        "square root of the trace",
    ),
    "sum of entries": (lambda ma, sa, mb, sb: fd(ma, sa, mb, sb, trace=np.sum), "summed every entry"),
    "no means": (lambda ma, sa, mb, sb: fd(ma, sa, mb, sb, mean=lambda d: 0.0), "left out the distance between the means"),
    "means not squared": (lambda ma, sa, mb, sb: fd(ma, sa, mb, sb, mean=np.linalg.norm), "must be squared"),
    "square root of the result": (lambda ma, sa, mb, sb: np.sqrt(fd(ma, sa, mb, sb)), "square root of the result"),
    "complex": (
        lambda ma, sa, mb, sb: (ma - mb) @ (ma - mb) + np.trace(sa + sb - 2 * linalg.sqrtm(sa @ sb)), "complex number",
    ),
}


@pytest.mark.parametrize("mistake", FD_MISTAKES)
def test_frechet_mistakes(mistake):
    fn, fragment = FD_MISTAKES[mistake]
    with np.errstate(all="ignore"):
        fails_with(ch07.check_frechet_distance_gaussians, fn, fragment)


def test_gaussian_frechet_distance_by_hand():
    assert metrics.gaussian_frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-1.0]), np.array([[1.0]])) == pytest.approx(5.0)
    s = np.diag([1.0, 4.0])
    assert metrics.gaussian_frechet_distance(np.zeros(2), s, np.ones(2), s) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="covariances"):
        metrics.gaussian_frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


# --------------------------------------------------------------------------- Exercise 4


def radii(x, k, offset=0):
    return np.sort(cdist(x, x), axis=1)[:, k - offset]


def inside(points, centres, r):
    return float(np.mean((cdist(points, centres) <= r[None]).any(axis=1)))


def pr(real, fake, k, offset=0):
    return inside(fake, real, radii(real, k, offset)), inside(real, fake, radii(fake, k, offset))


PR_MISTAKES = {
    "self counted": (lambda real, fake, k=3: pr(real, fake, k, offset=1), "counts the point itself"),
    "swapped": (lambda real, fake, k=3: pr(real, fake, k)[::-1], "swapped"),
    "radii to the other set": (
        lambda real, fake, k=3: (
            inside(fake, real, np.sort(cdist(real, fake), axis=1)[:, k - 1]),
            inside(real, fake, np.sort(cdist(fake, real), axis=1)[:, k - 1]),
        ),
        "radii come from the wrong set",
    ),
    "counts": (lambda real, fake, k=3: (pr(real, fake, k)[0] * len(fake), pr(real, fake, k)[1] * len(real)), "counted the samples"),
    "k ignored": (lambda real, fake, k=3: pr(real, fake, 3), "ignored the argument k"),
    "one number": (lambda real, fake, k=3: pr(real, fake, k)[0], "return a pair"),
}


@pytest.mark.parametrize("mistake", PR_MISTAKES)
def test_precision_recall_mistakes(mistake):
    fn, fragment = PR_MISTAKES[mistake]
    fails_with(ch07.check_knn_precision_recall, fn, fragment, hidden=mistake == "k ignored")


def test_knn_references_by_hand():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert metrics.knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert metrics.knn_radii(points, 2).tolist() == [3.0, 2.0, 3.0, 6.0]
    fake = np.array([[0.5], [20.0]])
    precision, recall = metrics.knn_precision_recall(points, fake, k=1)
    assert precision == 0.5  # 0.5 lies in the ball around 0, 20 in none
    assert recall == 1.0  # with two fakes, each one's radius is 19.5: every real point is inside
    with pytest.raises(ValueError, match="1 <= k < N"):
        metrics.knn_radii(points, 4)


# --------------------------------------------------------------------------- Exercise 5


def p_of(counts):
    counts = np.asarray(counts, dtype=float)
    return counts / counts.sum()


def h(p):
    p = p[p > 0]
    return -np.sum(p * np.log(p))


ENTROPY_MISTAKES = {
    "nats": (lambda counts, base=2.0: h(p_of(counts)), "in nats"),
    "always bits": (lambda counts, base=2.0: h(p_of(counts)) / np.log(2), "ignored the argument base"),
    "counts": (lambda counts, base=2.0: h(np.asarray(counts, dtype=float)) / np.log(base), "did not normalise"),
    "empty classes": (lambda counts, base=2.0: -np.sum(p_of(counts) * np.log(p_of(counts))) / np.log(base), "NaN when a class is empty"),
    "sign": (lambda counts, base=2.0: -h(p_of(counts)) / np.log(base), "wrong sign"),
    "normalised by log K": (lambda counts, base=2.0: h(p_of(counts)) / np.log(len(counts)), "largest possible entropy"),
    "non-empty classes": (
        lambda counts, base=2.0: h(p_of(counts)) / np.log(np.count_nonzero(counts)), "number of non-empty classes",
    ),
}


@pytest.mark.parametrize("mistake", ENTROPY_MISTAKES)
def test_entropy_mistakes(mistake):
    fn, fragment = ENTROPY_MISTAKES[mistake]
    with np.errstate(all="ignore"):
        fails_with(ch07.check_class_coverage_entropy, fn, fragment)


def test_entropy_accepts_xlogy(capsys):
    from scipy.special import xlogy

    ch07.check_class_coverage_entropy(lambda c, base=2.0: float(-xlogy(p_of(c), p_of(c)).sum() / np.log(base)), hidden=True)
    assert "✔" in capsys.readouterr().out


def test_class_histogram_and_entropy_by_hand():
    counts = metrics.class_histogram(np.array([0, 0, 3]), 5)
    assert counts.tolist() == [2, 0, 0, 1, 0]
    assert metrics.class_coverage_entropy(np.ones(8)) == pytest.approx(3.0)
    assert metrics.class_coverage_entropy([0, 5, 0]) == 0.0
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        metrics.class_histogram(np.array([5]), 5)
    with pytest.raises(ValueError, match="positive sum"):
        metrics.class_coverage_entropy([0, 0])


def test_checks_are_fast():
    import time

    start = time.perf_counter()
    for check, reference, _ in EXERCISES.values():
        ch07_quiet = check
        ch07_quiet(reference)
    assert time.perf_counter() - start < 10


# The nbgrader round trip (tests/test_grading.py) submits this plausible wrong answer:
# grade id -> (cell source, what the feedback must say).
ROUND_TRIP_WRONG_ANSWERS = {
    # the entropy in nats: np.log without dividing by np.log(base)
    "ex5_class_coverage_entropy": (
        "def class_coverage_entropy(counts, base=2.0):\n"
        "    p = np.asarray(counts, dtype=float) / np.sum(counts)\n"
        "    p = p[p > 0]\n"
        "    return float(-np.sum(p * np.log(p)))\n",
        "in nats",
    ),
}
