"""Helpers shared by the tests of the chapters' exercise checks."""

from __future__ import annotations

import types
from typing import Callable

import pytest

from vae_course.checks import ExerciseFailure


def stub(*args, **kwargs):
    """The untouched student version of every exercise."""
    raise NotImplementedError()


def fails_with(check: Callable, fn: Callable, fragment: str, *, hidden: bool = False) -> None:
    """``check(fn)`` must fail, with ``fragment`` in its message."""
    with pytest.raises(ExerciseFailure) as info:
        check(fn, hidden=hidden)
    assert fragment in str(info.value), f"expected {fragment!r} in {str(info.value)!r}"


def copy_of(fn: Callable) -> Callable:
    """``fn`` as a different function object (the checks refuse the reference itself when hidden)."""
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


def contract_tests(exercises: dict[str, tuple[Callable, Callable, Callable]]) -> tuple[Callable, Callable, Callable]:
    """The three tests every exercise check must pass, parametrised over ``exercises``.

    ``exercises`` maps each exercise to ``(check, reference, wrapper)``, the
    wrapper being an answer that only calls the reference. Assign the result
    to three ``test_*`` names in the chapter's test module.
    """

    @pytest.mark.parametrize("name", exercises)
    @pytest.mark.parametrize("hidden", [False, True])
    def reference_passes(name, hidden, capsys):
        check, reference, _ = exercises[name]
        check(reference if not hidden else copy_of(reference), hidden=hidden)
        out = capsys.readouterr().out
        assert out.count("✔") == 1 and "correct" in out

    @pytest.mark.parametrize("name", exercises)
    def stub_is_not_implemented(name):
        check, _, _ = exercises[name]
        fails_with(check, stub, "not implemented")
        fails_with(check, stub, "not implemented", hidden=True)

    @pytest.mark.parametrize("name", exercises)
    def calling_the_reference_fails_when_hidden(name):
        check, reference, wrapper = exercises[name]
        check(wrapper)  # the visible tests cannot tell
        fails_with(check, wrapper, "calls the package's reference implementation", hidden=True)
        fails_with(check, reference, "reference implementation itself", hidden=True)

    return reference_passes, stub_is_not_implemented, calling_the_reference_fails_when_hidden
