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
