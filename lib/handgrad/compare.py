"""How close is close, and what to tell the student when it is not.

Shared by the notebook checks (inside the student's kernel) and the trusted judge
(outside it), so both say the same thing. Imports nothing of the course.
A message names what was compared, the shapes, the largest error and where, and a
hint; it never prints the expected values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Defaults for float64 numpy against a float64 torch oracle.
RTOL = 1e-6
ATOL = 1e-8


@dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison: passed or not, and the student-facing message."""

    passed: bool
    message: str


def describe(value: Any) -> str:
    """A short description of a value's type and shape, never its contents."""
    if value is None:
        return "None"
    shape = getattr(value, "shape", None)
    if shape is not None:
        dtype = getattr(value, "dtype", "?")
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of length {len(value)}"
    return type(value).__name__


PLAIN_TYPES = (str, int, float, bool, type(None))


def is_plain(value: Any) -> bool:
    """True for builtin scalars and strings (by identity of type: a class can lie about equality)."""
    return any(type(value) is plain for plain in PLAIN_TYPES)


def as_float_array(value: Any) -> np.ndarray | None:
    """The value as a plain float64 ndarray, or None when it is not numeric."""
    if value is None or isinstance(value, (str, bytes, dict)):
        return None
    try:
        raw = np.asarray(value)
        if np.iscomplexobj(raw):         # a complex answer is wrong, not its real part
            return None
        array = np.array(raw, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        return None
    return array.view(np.ndarray)


def _where(index: tuple[int, ...]) -> str:
    return "index " + str(tuple(int(i) for i in index)) if index else "the scalar"


def compare_arrays(what: str, got: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL,
                   hint: str = "") -> Verdict:
    """Compare a student's array with an expected one: shape first, then values within tolerance."""
    hint_line = f"\n  hint: {hint}" if hint else ""
    expected_array = as_float_array(expected)
    if expected_array is None:
        raise TypeError(f"the expected value for {what} is not numeric: {describe(expected)}")
    if got is None:
        return Verdict(False, f"{what}: your code returned None (a missing `return`?); expected an array "
                              f"of shape {expected_array.shape}.{hint_line}")
    got_array = as_float_array(got)
    if got_array is None:
        return Verdict(False, f"{what}: expected a numeric array of shape {expected_array.shape}, "
                              f"got {describe(got)}.{hint_line}")
    if got_array.shape != expected_array.shape:
        return Verdict(False, f"{what}: wrong shape: expected {expected_array.shape}, got {got_array.shape}."
                              f"{hint_line}")
    if got_array.size == 0:
        return Verdict(True, f"{what}: ok (empty)")

    bad_float = ~np.isfinite(got_array) & np.isfinite(expected_array)
    if bad_float.any():
        first = tuple(np.argwhere(bad_float)[0])
        kind = "NaN" if np.isnan(got_array[first]) else "inf"
        return Verdict(False, f"{what}: shape {got_array.shape}: {int(bad_float.sum())} entries are NaN or inf "
                              f"where a finite value was expected; the first ({kind}) is at {_where(first)}. "
                              f"Overflow in exp or a division by zero?{hint_line}")

    # Non-finite expected entries (e.g. an oracle's inf) must be matched exactly.
    with np.errstate(invalid="ignore"):
        error = np.abs(got_array - expected_array)
    same_special = (got_array == expected_array) | (np.isnan(got_array) & np.isnan(expected_array))
    error = np.where(np.isfinite(expected_array), error, np.where(same_special, 0.0, np.inf))
    allowed = atol + rtol * np.abs(np.where(np.isfinite(expected_array), expected_array, 0.0))
    wrong = error > allowed
    if not wrong.any():
        return Verdict(True, f"{what}: ok, shape {got_array.shape}, largest error {float(error.max()):.2e}")
    worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.where(wrong, error, -1.0))), error.shape))
    scale = float(np.abs(expected_array[np.isfinite(expected_array)]).max(initial=0.0))
    return Verdict(False, f"{what}: shape {got_array.shape}: {int(wrong.sum())} of {got_array.size} entries "
                          f"are off; the largest error is {float(error[worst]):.3g} at {_where(worst)} "
                          f"(tolerance {atol:g} + {rtol:g}*|expected|; expected values are of size up to "
                          f"{scale:.3g}).{hint_line}")


def compare_exact(what: str, got: Any, expected: Any, hint: str = "") -> Verdict:
    """Compare plain values (answers, labels, flags) for equality, without printing the expected one."""
    hint_line = f"\n  hint: {hint}" if hint else ""
    if not is_plain(got):
        return Verdict(False, f"{what}: expected a plain value, got {describe(got)}.{hint_line}")
    if type(got) is str and type(expected) is str:
        passed = got.strip().lower() == expected.strip().lower()
    else:
        passed = type(got) is type(expected) and got == expected
    return Verdict(passed, f"{what}: ok" if passed else f"{what}: not the right answer.{hint_line}")
