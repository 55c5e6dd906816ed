"""The checks of chapter 02's exercises: right answers pass, and each known mistake is named."""

import numpy as np
import pytest

from exercise_helpers import contract_tests, fails_with, stub

from vae_course import latent, metrics
from vae_course.checks import ExerciseFailure, solved_or_reference
from vae_course.exercises import ch02


# Every exercise: (check, reference, an answer that only wraps the reference).
EXERCISES = {
    "coverage": (ch02.check_coverage, latent.coverage, lambda z, bins, low, high: latent.coverage(z, bins, low, high)),
    "bounding_box_sample": (
        ch02.check_bounding_box_sample, latent.bounding_box_sample, lambda z, n, rng: latent.bounding_box_sample(z, n, rng),
    ),
    "interpolate": (ch02.check_interpolate, latent.interpolate, lambda a, b, steps: latent.interpolate(a, b, steps)),
    "confident_rate": (
        ch02.check_confident_rate, metrics.confident_rate, lambda p, threshold=0.9: metrics.confident_rate(p, threshold),
    ),
}


test_reference_passes, test_stub_is_not_implemented, test_calling_the_reference_fails_when_hidden = contract_tests(EXERCISES)


def test_references_still_work_after_a_hidden_check():
    for name, (check, reference, wrapper) in EXERCISES.items():
        with pytest.raises(ExerciseFailure):
            check(wrapper, hidden=True)
    assert latent.coverage(np.zeros((1, 2)), 2, -1.0, 1.0) == 0.25
    assert metrics.confident_rate(np.array([[0.95, 0.05]])) == 1.0


def test_the_fallback_uses_a_correct_student_answer(capsys):
    def mine(a, b, steps):
        t = np.linspace(0, 1, steps)[:, None]
        return a + t * (b - a)

    assert solved_or_reference(mine, latent.interpolate, ch02.check_interpolate, "Exercise 3") is mine
    assert solved_or_reference(stub, latent.interpolate, ch02.check_interpolate, "Exercise 3") is latent.interpolate
    assert "Exercise 3 is not solved yet" in capsys.readouterr().out


# --------------------------------------------------------------------------- the references


def test_reference_values_by_hand():
    codes = np.array([[0.1, 0.1], [0.2, 0.15], [0.9, 0.9], [1.0, 1.0], [2.0, 0.5]])
    counts = latent.occupancy(codes, 2, 0.0, 1.0)
    assert counts.tolist() == [[2.0, 0.0], [0.0, 2.0]]  # (1, 1) is in the last cell; (2, 0.5) is outside
    assert latent.coverage(codes, 2, 0.0, 1.0) == 0.5
    path = latent.interpolate(np.array([0.0, 2.0]), np.array([4.0, -2.0]), 5)
    assert path.tolist() == [[0, 2], [1, 1], [2, 0], [3, -1], [4, -2]]
    z = latent.bounding_box_sample(codes, 1_000, np.random.default_rng(0))
    assert z.shape == (1_000, 2)
    assert np.all(z >= [0.1, 0.1]) and np.all(z <= [2.0, 1.0])
    assert z[:, 0].max() > 1.9 and z[:, 1].min() < 0.15
    assert metrics.confident_rate(np.array([[0.9, 0.1], [0.6, 0.4], [0.05, 0.95]])) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: latent.coverage(np.zeros((3, 3)), 4, 0.0, 1.0), "(N, 2)"),
        (lambda: latent.coverage(np.zeros((3, 2)), 4, 1.0, 0.0), "low < high"),
        (lambda: latent.coverage(np.zeros((3, 2)), 0, 0.0, 1.0), "bins"),
        (lambda: latent.bounding_box_sample(np.zeros(5), 3, np.random.default_rng(0)), "(N, latent_dim)"),
        (lambda: latent.bounding_box_sample(np.full((2, 2), np.nan), 3, np.random.default_rng(0)), "NaN"),
        (lambda: latent.bounding_box_sample(np.zeros((2, 2)), -1, np.random.default_rng(0)), "non-negative"),
        (lambda: latent.interpolate(np.zeros(2), np.zeros(3), 4), "same shape"),
        (lambda: latent.interpolate(np.zeros(2), np.zeros(2), 0), "positive integer"),
    ],
)
def test_references_reject_bad_input_clearly(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


# --------------------------------------------------------------------------- Exercise 1


def counts(z, bins, low, high):
    return np.histogram2d(z[:, 0], z[:, 1], bins=bins, range=[[low, high], [low, high]])[0]


def by_flooring(z, bins, low, high):
    cells = np.floor((z - low) / (high - low) * bins).astype(int)
    keep = ((cells >= 0) & (cells < bins)).all(axis=1)
    return len(set(map(tuple, cells[keep]))) / bins**2


COVERAGE_MISTAKES = {
    "count": (lambda z, b, lo, hi: int((counts(z, b, lo, hi) > 0).sum()), "number of occupied cells"),
    "percent": (lambda z, b, lo, hi: 100 * (counts(z, b, lo, hi) > 0).mean(), "percentage"),
    "more than one": (lambda z, b, lo, hi: (counts(z, b, lo, hi) > 1).mean(), "exactly one code is occupied too"),
    "empty share": (lambda z, b, lo, hi: (counts(z, b, lo, hi) == 0).mean(), "share of EMPTY cells"),
    "mean count": (lambda z, b, lo, hi: counts(z, b, lo, hi).mean(), "mean number of codes per cell"),
    "per code": (lambda z, b, lo, hi: (counts(z, b, lo, hi) > 0).sum() / len(z), "divided the number of occupied cells by the number of codes"),
    "no range": (lambda z, b, lo, hi: (np.histogram2d(z[:, 0], z[:, 1], bins=b)[0] > 0).mean(), "left out range="),
    "one axis": (lambda z, b, lo, hi: (np.histogram(z[:, 0], bins=b, range=(lo, hi))[0] > 0).mean(), "histogrammed z_1 alone"),
    "linspace edges": (
        lambda z, b, lo, hi: (np.histogram2d(z[:, 0], z[:, 1], bins=(np.linspace(lo, hi, b), np.linspace(lo, hi, b)))[0] > 0).mean(),
        "bins - 1 cells per axis",
    ),
    "share of codes": (lambda z, b, lo, hi: ((z >= lo) & (z <= hi)).all(axis=1).mean(), "share of codes inside the square"),
    "flooring": (by_flooring, "exactly at `high` must count in the last cell"),
}


@pytest.mark.parametrize("mistake", COVERAGE_MISTAKES)
def test_coverage_mistakes(mistake):
    fn, fragment = COVERAGE_MISTAKES[mistake]
    fails_with(ch02.check_coverage, fn, fragment)


def test_coverage_accepts_other_correct_answers(capsys):
    def with_a_set(z, bins, low, high):
        width = (high - low) / bins
        cells = set()
        for a, b in z:
            if low <= a <= high and low <= b <= high:
                cells.add((min(int((a - low) // width), bins - 1), min(int((b - low) // width), bins - 1)))
        return len(cells) / bins**2

    ch02.check_coverage(lambda z, bins, low, high: np.count_nonzero(counts(z, bins, low, high)) / bins**2, hidden=True)
    ch02.check_coverage(with_a_set, hidden=True)
    assert capsys.readouterr().out.count("✔") == 2


# --------------------------------------------------------------------------- Exercise 2


def box(z):
    return z.min(axis=0), z.max(axis=0)


BOX_MISTAKES = {
    "standard normal": (lambda z, n, rng: rng.standard_normal((n, z.shape[1])), "you drew from N(0, I)"),
    "fitted normal": (lambda z, n, rng: rng.normal(z.mean(0), z.std(0), (n, z.shape[1])), "Gaussian fitted to the codes"),
    "unit box": (lambda z, n, rng: rng.random((n, z.shape[1])), "from [0, 1) in every dimension"),
    "global bounds": (lambda z, n, rng: rng.uniform(z.min(), z.max(), (n, z.shape[1])), "over all the numbers at once"),
    "axis 1": (lambda z, n, rng: rng.uniform(z.min(1), z.max(1), (n, z.shape[1])), "along axis 1"),
    "quantiles": (
        lambda z, n, rng: rng.uniform(np.quantile(z, 0.01, axis=0), np.quantile(z, 0.99, axis=0), (n, z.shape[1])), "quantiles",
    ),
    "swapped bounds": (lambda z, n, rng: rng.uniform(*box(z)[::-1], (n, z.shape[1])), "as (high, low)"),
    "swapped by hand": (lambda z, n, rng: box(z)[1] + (box(z)[0] - box(z)[1]) * rng.random((n, z.shape[1])), "swapped the bounds"),
    "width is max": (lambda z, n, rng: z.min(0) + z.max(0) * rng.random((n, z.shape[1])), "high - low"),
    "global numpy rng": (lambda z, n, rng: np.random.uniform(*box(z), (n, z.shape[1])), "does not draw from the rng"),
    "a fresh generator": (lambda z, n, rng: np.random.default_rng().uniform(*box(z), (n, z.shape[1])), "does not draw from the rng"),
    "shape (d, n)": (lambda z, n, rng: rng.uniform(*box(z), (n, z.shape[1])).T, "return shape (n, latent_dim)"),
    "n codes of the input": (lambda z, n, rng: rng.uniform(*box(z), z.shape), "return shape (n, latent_dim)"),
    "column by column": (
        lambda z, n, rng: np.column_stack([rng.uniform(lo, hi, n) for lo, hi in zip(*box(z))]), "draw them with a single call",
    ),
    "transposed draw": (lambda z, n, rng: rng.uniform(*[b[:, None] for b in box(z)], (z.shape[1], n)).T, "single call"),
    "beyond the box": (lambda z, n, rng: rng.uniform(box(z)[0] - 1.0, box(z)[1] + 1.0, (n, z.shape[1])), "outside the box"),
    "not uniform": (
        lambda z, n, rng: box(z)[0] + (box(z)[1] - box(z)[0]) * rng.random((n, z.shape[1])) ** 2, "do not fill it evenly",
    ),
}


@pytest.mark.parametrize("mistake", BOX_MISTAKES)
def test_bounding_box_sample_mistakes(mistake):
    fn, fragment = BOX_MISTAKES[mistake]
    fails_with(ch02.check_bounding_box_sample, fn, fragment)


def test_bounding_box_sample_accepts_the_scaled_unit_draw(capsys):
    def scaled(z, n, rng):
        low, high = z.min(axis=0), z.max(axis=0)
        return low + (high - low) * rng.random((n, z.shape[1]))

    ch02.check_bounding_box_sample(scaled, hidden=True)
    assert "✔" in capsys.readouterr().out


def test_bounding_box_sample_must_not_change_the_codes():
    def in_place(z, n, rng):
        z -= 1.0
        return rng.uniform(z.min(axis=0) + 1.0, z.max(axis=0) + 1.0, (n, z.shape[1]))

    fails_with(ch02.check_bounding_box_sample, in_place, "changed its input in place")


# --------------------------------------------------------------------------- Exercise 3


def path(a, b, t):
    return (1 - t[:, None]) * a + t[:, None] * b


INTERPOLATE_MISTAKES = {
    "no endpoint": (lambda a, b, s: path(a, b, np.arange(s) / s), "stops short of z_end"),
    "reversed weights": (lambda a, b, s: path(b, a, np.linspace(0, 1, s)), "runs from z_end to z_start"),
    "no start": (lambda a, b, s: path(a, b, np.arange(1, s + 1) / s), "leaves out z_start"),
    "no ends": (lambda a, b, s: path(a, b, np.arange(1, s + 1) / (s + 1)), "leaves out both ends"),
    "steps intervals": (lambda a, b, s: path(a, b, np.linspace(0, 1, s + 1)), "steps + 1 codes"),
    "transposed": (lambda a, b, s: path(a, b, np.linspace(0, 1, s)).T, "one code per column"),
    "plus t z_end": (lambda a, b, s: a + np.linspace(0, 1, s)[:, None] * b, "added t * z_end to z_start"),
    "no z_start": (lambda a, b, s: np.linspace(0, 1, s)[:, None] * (b - a), "forgot to start from z_start"),
    "both weighted t": (lambda a, b, s: np.linspace(0, 1, s)[:, None] * (a + b), "weighted both ends by t"),
    "a list": (lambda a, b, s: list(path(a, b, np.linspace(0, 1, s))), "return a NumPy array"),
}


@pytest.mark.parametrize("mistake", INTERPOLATE_MISTAKES)
def test_interpolate_mistakes(mistake):
    fn, fragment = INTERPOLATE_MISTAKES[mistake]
    fails_with(ch02.check_interpolate, fn, fragment)


def test_interpolate_dividing_by_steps_minus_one_fails_only_the_hidden_tests(capsys):
    def by_hand(a, b, steps):
        return np.array([a + k / (steps - 1) * (b - a) for k in range(steps)])

    with np.errstate(all="ignore"):
        ch02.check_interpolate(by_hand)
        with pytest.raises(ExerciseFailure):  # a ZeroDivisionError for steps=1
            ch02.check_interpolate(by_hand, hidden=True)
        fails_with(ch02.check_interpolate, lambda a, b, s: path(a, b, np.arange(s) / np.float64(s - 1)), "steps - 1 = 0", hidden=True)


def test_interpolate_accepts_the_step_form(capsys):
    ch02.check_interpolate(lambda a, b, steps: a + np.linspace(0, 1, steps)[:, None] * (b - a), hidden=True)
    assert "✔" in capsys.readouterr().out


# --------------------------------------------------------------------------- Exercise 4


def top(p):
    return np.max(p, axis=1)


CONFIDENT_MISTAKES = {
    "argmax": (lambda p, threshold=0.9: np.mean(np.argmax(p, axis=1) >= threshold), "INDEX of the most likely class"),
    "strict": (lambda p, threshold=0.9: np.mean(top(p) > threshold), "use >=, not >"),
    "percent": (lambda p, threshold=0.9: 100 * np.mean(top(p) >= threshold), "percentage"),
    "count": (lambda p, threshold=0.9: np.sum(top(p) >= threshold), "number of confident images"),
    "axis 0": (lambda p, threshold=0.9: np.mean(np.max(p, axis=0) >= threshold), "maximum over the images (axis 0)"),
    "every probability": (lambda p, threshold=0.9: np.mean(p >= threshold), "compared every probability"),
    "threshold ignored": (lambda p, threshold=0.9: np.mean(top(p) >= 0.9), "ignored the threshold argument"),
    "unconfident share": (lambda p, threshold=0.9: np.mean(top(p) < threshold), "NOT confident"),
    "mean top probability": (lambda p, threshold=0.9: np.mean(top(p)), "mean top probability"),
    "first class": (lambda p, threshold=0.9: np.mean(p[:, 0] >= threshold), "probability of the first class"),
    "no default": (lambda p, threshold: np.mean(top(p) >= threshold), "default value 0.9"),
    "other default": (lambda p, threshold=0.5: np.mean(top(p) >= threshold), "yours is 0.5"),
}


@pytest.mark.parametrize("mistake", CONFIDENT_MISTAKES)
def test_confident_rate_mistakes(mistake):
    fn, fragment = CONFIDENT_MISTAKES[mistake]
    fails_with(ch02.check_confident_rate, fn, fragment)


def test_confident_rate_compared_in_float32_passes(capsys):
    # The hidden float32 case must not depend on how float32 and float64 round a value next to the threshold.
    ch02.check_confident_rate(lambda p, threshold=0.9: np.mean(top(p) >= p.dtype.type(threshold)), hidden=True)
    assert "✔" in capsys.readouterr().out


def test_confident_rate_accepts_a_loop(capsys):
    def loop(probs, threshold=0.9):
        return sum(max(row) >= threshold for row in probs) / len(probs)

    ch02.check_confident_rate(loop, hidden=True)
    assert "✔" in capsys.readouterr().out


# The nbgrader round trip (tests/test_grading.py) submits this plausible wrong answer:
# grade id -> (cell source, what the feedback must say).
ROUND_TRIP_WRONG_ANSWERS = {
    # the path stops one step short of z_end: np.arange(steps) / steps never reaches t = 1
    "ex3_interpolate": (
        "def interpolate(z_start, z_end, steps):\n"
        "    t = np.arange(steps)[:, None] / steps\n"
        "    return (1 - t) * z_start + t * z_end\n",
        "stops short of z_end",
    ),
}
