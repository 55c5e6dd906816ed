"""Exercise checking with feedback that names the mistake.

A check runs the student's function and the reference on fixed inputs. When
they disagree it also runs known wrong variants (a :class:`Mistake` each) and,
if one of them reproduces the student's output, reports *that* mistake: "you
averaged over pixels instead of summing" rather than "wrong value".

Every failure raises :class:`ExerciseFailure` (an ``AssertionError``), which is
what nbgrader needs to withhold the points; success prints one line.

This module is framework-free: it converts PyTorch and TensorFlow outputs to
NumPy by duck typing and never imports either framework.
"""

from __future__ import annotations

import copy
import io
import types
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

REFERENCE_CALLED = "vae_course: the reference implementation was called"


class ExerciseFailure(AssertionError):
    """An exercise answer is wrong; the message says how."""

    def __init__(self, exercise: str, message: str) -> None:
        self.exercise = exercise
        super().__init__(f"{exercise}: {message}")


def reject_reference(exercise: str, answer: Any, *references: Any) -> None:
    """Fail if ``answer`` is one of the package's ``references`` itself, handed in instead of an answer."""
    if any(answer is reference for reference in references):
        raise ExerciseFailure(exercise, "this is the package's reference implementation itself; write your own (it earns no points).")


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: a function that makes the mistake, and what to say about it."""

    message: str
    fn: Callable[..., Any]


@dataclass(frozen=True)
class Case:
    """Positional and keyword arguments of one call."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def call(self, fn: Callable[..., Any]) -> Any:
        return self.call_tracked(fn)[0]

    def call_tracked(self, fn: Callable[..., Any]) -> tuple[Any, bool]:
        """Call ``fn`` on a deep copy of the arguments; also say whether it changed them."""
        args, kwargs = copy.deepcopy((self.args, self.kwargs))
        result = fn(*args, **kwargs)
        return result, not _close((args, kwargs), (self.args, self.kwargs), 0, 0)

    def describe(self) -> str:
        parts = [_short(a) for a in self.args] + [f"{k}={_short(v)}" for k, v in self.kwargs.items()]
        return "(" + ", ".join(parts) + ")"


def to_numpy(value: Any) -> Any:
    """NumPy view of a NumPy, PyTorch or TensorFlow value; tuples and lists element-wise."""
    if isinstance(value, (tuple, list)):
        return type(value)(to_numpy(v) for v in value)
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # tf.Tensor
        value = value.numpy()
    if isinstance(value, (np.ndarray, np.generic, int, float, bool)):
        return np.asarray(value)
    return value


def _short(value: Any) -> str:
    value = to_numpy(value)
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return np.array2string(value, precision=4, separator=", ")
        return f"array(shape={value.shape}, dtype={value.dtype})"
    return repr(value)


def _close(a: Any, b: Any, rtol: float, atol: float) -> bool:
    a, b = to_numpy(a), to_numpy(b)
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
            and all(_close(a[k], b[k], rtol, atol) for k in a)
        )
    if isinstance(a, (tuple, list)) or isinstance(b, (tuple, list)):
        return (
            isinstance(a, (tuple, list)) and isinstance(b, (tuple, list))
            and len(a) == len(b) and all(_close(x, y, rtol, atol) for x, y in zip(a, b))
        )
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape:
            return False
        try:
            return bool(np.allclose(a.astype(float), b.astype(float), rtol=rtol, atol=atol, equal_nan=True))
        except (TypeError, ValueError):
            return bool(np.array_equal(a, b))
    return a == b


def _mismatch(got: Any, expected: Any) -> str:
    got, expected = to_numpy(got), to_numpy(expected)
    if isinstance(expected, np.ndarray) and not isinstance(got, np.ndarray):
        return f"it returned {type(got).__name__} {_short(got)}, expected an array of shape {expected.shape}"
    if isinstance(expected, np.ndarray) and got.shape != expected.shape:
        return f"it returned shape {got.shape}, expected shape {expected.shape}"
    if isinstance(expected, np.ndarray) and expected.size > 4:
        diff = np.abs(got.astype(float) - expected.astype(float))
        i = np.unravel_index(np.nanargmax(diff), diff.shape)
        return f"it differs from the expected output by up to {diff[i]:.4g} (at index {i}: got {got[i]:.6g}, expected {expected[i]:.6g})"
    return f"it returned {_short(got)}, expected {_short(expected)}"


def run(
    exercise: str,
    fn: Callable[..., Any],
    case: Case,
    hints: Sequence[tuple[type[BaseException], str]] = (),
    check_inputs_unchanged: bool = True,
) -> Any:
    """Call a student's function, turning exceptions and in-place changes of its inputs into feedback."""
    try:
        result, changed = case.call_tracked(fn)
    except NotImplementedError:
        raise ExerciseFailure(exercise, "not implemented yet: replace `raise NotImplementedError()` with your code.") from None
    except PermissionError as error:
        if str(error) == REFERENCE_CALLED:
            raise ExerciseFailure(
                exercise, "your answer calls the package's reference implementation; write your own (calling it earns no points)."
            ) from None
        raise
    except Exception as error:  # noqa: BLE001 - reported to the student
        for kind, hint in hints:
            if isinstance(error, kind):
                raise ExerciseFailure(exercise, f"{hint} (it raised {type(error).__name__}: {error})") from None
        raise ExerciseFailure(exercise, f"calling it with {case.describe()} raised {type(error).__name__}: {error}") from error
    if changed and check_inputs_unchanged:
        raise ExerciseFailure(exercise, "your function changed its input in place; work on a copy instead.")
    return result


class ProbabilitiesExpected(RuntimeError):
    """A probability loss (PyTorch's ``F.binary_cross_entropy``) refused values outside [0, 1]: it was given logits.

    Named ``RuntimeError`` in feedback, as PyTorch raised it; a check passes it
    in ``hints`` to explain the mistake instead of quoting PyTorch's message.
    """


ProbabilitiesExpected.__name__ = "RuntimeError"


def expecting_probabilities(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` whose "between 0 and 1" ``RuntimeError`` becomes :class:`ProbabilitiesExpected`."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except RuntimeError as error:
            if "between 0 and 1" in str(error):
                raise ProbabilitiesExpected(str(error)) from None
            raise

    return call


def _raise_reference_called(*args: Any, **kwargs: Any) -> Any:
    # The code object runs with the patched function's globals: use literals only.
    raise PermissionError("vae_course: the reference implementation was called")


@contextmanager
def forbid(*references: Any) -> Iterator[None]:
    """Make the given reference functions (or every method of given classes) raise while active.

    The function objects themselves are patched, so a student's code is caught
    however it reached them (``import``, ``from ... import``, an alias).
    """
    patched: list[tuple[types.FunctionType, types.CodeType]] = []
    raiser = _raise_reference_called.__code__
    for ref in references:
        functions = [v for v in vars(ref).values() if isinstance(v, types.FunctionType)] if isinstance(ref, type) else [ref]
        for fn in functions:
            if isinstance(fn, types.FunctionType) and not fn.__code__.co_freevars:
                patched.append((fn, fn.__code__))
                fn.__code__ = raiser.replace(co_name=fn.__code__.co_name)
    try:
        yield
    finally:
        for fn, code in patched:
            fn.__code__ = code


def check_function(
    exercise: str,
    student: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[Case],
    *,
    mistakes: Sequence[Mistake] = (),
    hints: Sequence[tuple[type[BaseException], str]] = (),
    forbidden: Sequence[Any] = (),
    rtol: float = 1e-5,
    atol: float = 1e-6,
    check_inputs_unchanged: bool = True,
) -> None:
    """Compare ``student`` with ``reference`` on every case; raise :class:`ExerciseFailure` on the first difference.

    The expected outputs are computed before ``forbidden`` functions are
    patched, so ``reference`` may itself be one of them.
    """
    if not callable(student):
        raise ExerciseFailure(exercise, f"expected a function, got {type(student).__name__}.")
    reject_reference(exercise, student, *forbidden)
    expected = [case.call(reference) for case in cases]
    with forbid(*forbidden):
        for case, want in zip(cases, expected):
            got = run(exercise, student, case, hints, check_inputs_unchanged)
            if _close(got, want, rtol, atol):
                continue
            for mistake in mistakes:
                try:
                    if _close(got, case.call(mistake.fn), rtol, atol):
                        raise ExerciseFailure(exercise, mistake.message)
                except ExerciseFailure:
                    raise
                except Exception:  # noqa: BLE001 - a mistake that cannot run on this case does not match
                    continue
            raise ExerciseFailure(exercise, f"for input {case.describe()}, {_mismatch(got, want)}.")
    passed(exercise, f"matches the reference on {len(cases)} test inputs")


def compare_quietly(
    exercise: str,
    student: Callable[..., Any],
    reference: Callable[..., Any],
    cases: Sequence[Case],
    *,
    hidden: bool,
    forbidden: Sequence[Any] | None = None,
    **kwargs: Any,
) -> None:
    """:func:`check_function` without its success line, for checks that compare several times and print one line at the end.

    Under the hidden tests ``reference`` is forbidden unless ``forbidden``
    says otherwise. Floating-point warnings are silenced: known wrong
    variants overflow on purpose.
    """
    if forbidden is None:
        forbidden = (reference,) if hidden else ()
    with redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
        check_function(exercise, student, reference, cases, forbidden=forbidden, **kwargs)


def matches_summary(cases: int, hidden: bool) -> str:
    """What a passing check compared, for its success line."""
    return f"matches the reference on {cases} input{'s' if cases != 1 else ''}" + (", hidden edge cases included" if hidden else "")


def expect(exercise: str, condition: bool, message: str) -> None:
    """Raise :class:`ExerciseFailure` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ExerciseFailure(exercise, message)


def passed(exercise: str, detail: str = "") -> None:
    """Print the success line of a check."""
    print(f"✔ {exercise}: correct" + (f" ({detail})." if detail else "."))


def solved_or_reference(student: Any, reference: Any, check: Callable[[Any], None], exercise: str) -> Any:
    """Return the student's answer if it passes ``check``, else the reference, saying so.

    This lets a student who is stuck run the rest of a chapter. It never
    affects grading: points come only from the graded test cells.
    """
    try:
        with redirect_stdout(io.StringIO()):
            check(student)
    except AssertionError as failure:
        print(
            f"⚠ {exercise} is not solved yet ({failure}).\n"
            f"  The rest of this chapter uses the reference implementation instead; this earns no points."
        )
        return reference
    except Exception as error:  # noqa: BLE001
        print(f"⚠ Checking {exercise} failed with {type(error).__name__}: {error}. Using the reference implementation.")
        return reference
    return student
