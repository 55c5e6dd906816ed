"""The exercise-checking machinery itself."""

import numpy as np
import pytest

from vae_course import checks
from vae_course.checks import Case, ExerciseFailure, Mistake, check_function, compare_quietly, matches_summary


def reference_sum_sq(x):
    """Sum of squares per row."""
    return np.sum(x**2, axis=1)


CASES = [Case((np.arange(6.0).reshape(2, 3),)), Case((np.ones((4, 5)),))]
MISTAKES = [
    Mistake("you averaged instead of summing", lambda x: np.mean(x**2, axis=1)),
    Mistake("you summed over the batch axis", lambda x: np.sum(x**2, axis=0)),
]


def check(fn, **kwargs):
    check_function("sum_sq", fn, reference_sum_sq, CASES, mistakes=MISTAKES, **kwargs)


def test_correct_answer_passes(capsys):
    check(lambda x: (x * x).sum(axis=-1))
    assert "✔ sum_sq: correct" in capsys.readouterr().out


def test_not_implemented():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(ExerciseFailure, match="not implemented yet"):
        check(stub)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.message)
def test_known_mistakes_are_named(mistake):
    with pytest.raises(ExerciseFailure, match=mistake.message):
        check(mistake.fn)


def test_unknown_mistake_shows_the_difference():
    with pytest.raises(ExerciseFailure, match=r"differs from the expected output by up to|returned"):
        check(lambda x: np.sum(x**2, axis=1) + 1)


def test_wrong_shape_is_reported():
    with pytest.raises(ExerciseFailure, match=r"shape \(\), expected shape \(2,\)"):
        check(lambda x: np.sum(x**2))


def test_exception_is_reported_with_hint():
    with pytest.raises(ExerciseFailure, match="check the axis"):
        check(lambda x: np.sum(x, axis=5), hints=[(np.exceptions.AxisError, "check the axis")])


def test_in_place_modification_is_caught():
    def in_place(x):
        x **= 2
        return x.sum(axis=1)

    with pytest.raises(ExerciseFailure, match="changed its input in place"):
        check(in_place)


def test_calling_the_reference_is_caught_however_imported():
    alias = reference_sum_sq

    with pytest.raises(ExerciseFailure, match="reference implementation"):
        check(lambda x: alias(x), forbidden=(reference_sum_sq,))
    with pytest.raises(ExerciseFailure, match="reference implementation itself"):
        check(reference_sum_sq, forbidden=(reference_sum_sq,))
    # and the reference works again afterwards
    assert reference_sum_sq(np.ones((1, 2)))[0] == 2


def test_forbid_a_class():
    class Ref:
        def forward(self, x):
            return x

    with checks.forbid(Ref):
        with pytest.raises(PermissionError):
            Ref().forward(1)
    assert Ref().forward(1) == 1


def test_solved_or_reference(capsys):
    def stub(x):
        raise NotImplementedError()

    chosen = checks.solved_or_reference(stub, reference_sum_sq, check, "Exercise 1")
    assert chosen is reference_sum_sq
    assert "Exercise 1 is not solved yet" in capsys.readouterr().out
    good = lambda x: np.sum(x * x, axis=1)  # noqa: E731
    assert checks.solved_or_reference(good, reference_sum_sq, check, "Exercise 1") is good
    assert capsys.readouterr().out == ""


def test_to_numpy_handles_nested_and_scalars():
    out = checks.to_numpy((np.float32(1.5), [np.ones(2)]))
    assert isinstance(out, tuple) and out[0].shape == () and out[1][0].shape == (2,)


def test_compare_quietly_prints_nothing_and_forbids_the_reference_when_hidden(capsys):
    def square(x):
        return x**2

    cases = [Case((np.arange(3.0),))]
    compare_quietly("Ex", lambda x: x * x, square, cases, hidden=True)
    assert capsys.readouterr().out == ""
    with pytest.raises(ExerciseFailure, match="Ex: "):
        compare_quietly("Ex", lambda x: x + x, square, cases, hidden=False)
    with pytest.raises(ExerciseFailure, match="reference implementation itself"):
        compare_quietly("Ex", square, square, cases, hidden=True)
    compare_quietly("Ex", square, square, cases, hidden=False)
    assert matches_summary(3, True) == "matches the reference on 3 inputs, hidden edge cases included"
    assert matches_summary(1, False) == "matches the reference on 1 input"


def test_expecting_probabilities_names_logits_given_to_a_probability_loss():
    from vae_course.checks import ProbabilitiesExpected, expecting_probabilities

    def bce_on_logits(*args):
        raise RuntimeError("all elements of input should be between 0 and 1")

    def other_error(*args):
        raise RuntimeError("shape mismatch")

    with pytest.raises(ProbabilitiesExpected, match="between 0 and 1") as info:
        expecting_probabilities(bce_on_logits)(1.0)
    assert type(info.value).__name__ == "RuntimeError"
    with pytest.raises(RuntimeError, match="shape mismatch") as info:
        expecting_probabilities(other_error)(1.0)
    assert not isinstance(info.value, ProbabilitiesExpected)
    assert expecting_probabilities(lambda a, b: a + b)(1, 2) == 3
