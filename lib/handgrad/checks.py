"""The notebook-facing helpers of visible and hidden tests.

Every check has a stable id (e.g. ``"02.sigmoid.forward.3"``), draws its inputs from its
own seeded generator (:func:`rng`, never the global RNG) and hands the helper the
student's value and the oracle's value, not a verdict. A failing check raises
:class:`CheckFailed` with a message that says what was compared, the shapes, the largest
error and where, and a hint - never the expected values.

When the environment variable ``HANDGRAD_RECORD`` names a file (the grading round sets
it), each check also appends what it saw to that file as plain data (see
:mod:`handgrad.record`) so that a trusted process can judge it outside the kernel.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import warnings
from typing import Any, Callable, Iterator

import numpy as np

from handgrad import compare, integrity, record, state

# Taken once, at import, before any student code runs.
_RECORD_PATH = os.environ.get(record.ENV_VAR) or None
# A round may salt the seeds so that each round draws new inputs; the reference
# solution runs with the same salt, so its records stay comparable.
_SEED_SALT = os.environ.get("HANDGRAD_SEED_SALT", "")


class CheckFailed(AssertionError):
    """A check found a difference; the message is meant for the student."""


class TamperingDetected(CheckFailed):
    """Student code replaced a check helper while a check was running it."""


class DelegationDetected(CheckFailed):
    """Student code handed an exercise to another library or to a reference class of this assignment."""


# The modules whose functions decide and record a check: student code must leave them alone.
_GUARDED_PREFIXES = ("handgrad.checks", "handgrad.compare", "handgrad.record", "handgrad.suites",
                     "handgrad.integrity", "handgrad.state")


def _helpers() -> dict[tuple[str, str], int]:
    """Identity of every module and module-level object that decides or records a check."""
    found: dict[tuple[str, str], int] = {}
    for name, module in list(sys.modules.items()):
        if module is not None and name.startswith(_GUARDED_PREFIXES):
            found[(name, "")] = id(module)
            for attribute, value in list(vars(module).items()):
                found[(name, attribute)] = id(value)
    return found


def rng(check_id: str) -> np.random.Generator:
    """The seeded generator that belongs to one check id (independent of the global RNG)."""
    digest = hashlib.sha256(f"{_SEED_SALT}/{check_id}".encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:8], "little")))


def _record(check_id: str, kind: str, what: str, got: Any, expected: Any, verdict: compare.Verdict,
            **extra: Any) -> None:
    if _RECORD_PATH is None:
        return
    entry = {"check": check_id, "kind": kind, "what": what, "passed": verdict.passed,
             "message": verdict.message, **extra}
    if kind == "exact":
        entry["got"] = got if compare.is_plain(got) else compare.describe(got)
        entry["expected"] = expected
    else:
        entry["got"] = record.encode_array(got)
        entry["expected"] = record.encode_array(expected)
    record.append(_RECORD_PATH, entry)


def _finish(check_id: str, verdict: compare.Verdict) -> None:
    __tracebackhide__ = True
    if not verdict.passed:
        raise CheckFailed(f"[{check_id}] {verdict.message}")


def close(check_id: str, got: Any, expected: Any, what: str, rtol: float = compare.RTOL,
          atol: float = compare.ATOL, hint: str = "") -> None:
    """Check that the student's array ``got`` matches the oracle's ``expected`` (shape, then values)."""
    __tracebackhide__ = True
    verdict = compare.compare_arrays(what, got, expected, rtol=rtol, atol=atol, hint=hint)
    _record(check_id, "close", what, got, expected, verdict, rtol=rtol, atol=atol, hint=hint)
    _finish(check_id, verdict)


def consistent(check_id: str, got: Any, own: Any, what: str, rtol: float = compare.RTOL,
               atol: float = compare.ATOL, hint: str = "") -> None:
    """Check the student's value against another value of the student's own code (not an oracle).

    Inside the kernel this is :func:`close`. What is recorded for the trusted judge is the
    deviation ``got - own`` against zeros (tolerance widened by ``rtol * max|own|``), because the
    reference run's ``own`` differs from a student's whenever an earlier, separately graded step is
    wrong: comparing with it would fail this check for that other mistake, and call it tampering.
    """
    __tracebackhide__ = True
    verdict = compare.compare_arrays(what, got, own, rtol=rtol, atol=atol, hint=hint)
    got_array, own_array = compare.as_float_array(got), compare.as_float_array(own)
    if got_array is not None and own_array is not None and got_array.shape == own_array.shape:
        scale = float(np.max(np.abs(own_array))) if own_array.size and np.all(np.isfinite(own_array)) else 0.0
        _record(check_id, "close", what, got_array - own_array, np.zeros_like(own_array), verdict,
                rtol=0.0, atol=atol + rtol * scale, hint=hint)
    else:
        # A shape or type mismatch fails inside and outside alike: record the value as it is.
        _record(check_id, "close", what, got, np.zeros_like(own_array) if own_array is not None else own, verdict,
                rtol=rtol, atol=atol, hint=hint)
    _finish(check_id, verdict)


def same(check_id: str, got: Any, expected: Any, what: str, hint: str = "") -> None:
    """Check a plain answer (a letter, a number, a flag) without revealing the expected one."""
    __tracebackhide__ = True
    verdict = compare.compare_exact(what, got, expected, hint=hint)
    _record(check_id, "exact", what, got, expected, verdict, hint=hint)
    _finish(check_id, verdict)


IN_PLACE_HINT = "work on a copy: `x = x + 0` or out-of-place operations instead of `x += ...`, `x[...] = ...`"


def unchanged(check_id: str, original: np.ndarray, after: Any, what: str, hint: str = IN_PLACE_HINT) -> None:
    """Check that an array handed to student code was not modified in place."""
    __tracebackhide__ = True
    verdict = compare.compare_arrays(what, after, original, rtol=0.0, atol=0.0, hint=hint)
    if not verdict.passed:
        verdict = compare.Verdict(False, f"{what}: your code modified an array it was given, in place.\n  hint: {hint}")
    _record(check_id, "close", what, after, original, verdict, rtol=0.0, atol=0.0, hint=hint)
    _finish(check_id, verdict)


@contextlib.contextmanager
def untampered(what: str, torch_allowed: bool = False, callbacks: tuple[Any, ...] = ()) -> Iterator[None]:
    """Run student code inside, watched: refuse the result if it swapped a check helper meanwhile
    (TamperingDetected), or handed its work to torch (unless ``torch_allowed``), another library or a
    reference class of this assignment (DelegationDetected; see :mod:`handgrad.integrity`)."""
    __tracebackhide__ = True
    before = _helpers()
    watch = integrity.Watch(integrity.assignment_of(sys._getframe(1)), torch_allowed, callbacks)
    try:
        with watch:
            yield
    except Exception:
        # What the watch found wins over anything the student's code raised afterwards (but an interrupt,
        # the cell's timeout, goes through untouched).
        _refuse_if_caught(what, watch)
        raise
    _refuse_if_caught(what, watch)
    # Student code that swaps a helper while it runs would decide its own check: refuse the result.
    after = _helpers()
    changed = sorted(f"{module}.{attribute}".rstrip(".") for (module, attribute), identity in before.items()
                     if after.get((module, attribute)) != identity)
    if changed:
        message = (f"{what} replaced the course's check helpers ({', '.join(changed[:3])}): "
                   f"this check cannot be trusted and scores 0.")
        if _RECORD_PATH is not None:   # the judge reads this record as the cell's status
            record.append(_RECORD_PATH, record.integrity(record.TAMPERED, what, message))
        raise TamperingDetected(message)


def call(what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run student code of a numpy exercise for a check: no torch, no reference class of this assignment.

    Warnings stay quiet, an exception becomes a clear CheckFailed, global state is put back
    afterwards, and what the code reached is watched (:mod:`handgrad.integrity`).
    """
    __tracebackhide__ = True
    return _run(what, False, function, args, kwargs)


def call_torch(what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run student code of a PyTorch exercise (torch is the point there): otherwise exactly :func:`call`."""
    __tracebackhide__ = True
    return _run(what, True, function, args, kwargs)


def _run(what: str, torch_allowed: bool, function: Callable[..., Any], args: tuple[Any, ...],
         kwargs: dict[str, Any]) -> Any:
    __tracebackhide__ = True
    with state.preserved(), warnings.catch_warnings(), np.errstate(all="ignore"):
        # Warnings would print to stderr, which nbgrader scores as a failure of the cell.
        warnings.simplefilter("ignore")
        with untampered(what, torch_allowed, (function, *args, *kwargs.values())):
            try:
                return function(*args, **kwargs)
            except CheckFailed:
                raise
            except NotImplementedError as error:
                raise CheckFailed(f"{what}: not implemented yet ({error or 'NotImplementedError'}).") from None
            except Exception as error:
                raise CheckFailed(f"{what} raised {type(error).__name__}: {error}") from error


def _refuse_if_caught(what: str, watch: integrity.Watch) -> None:
    """Raise (after writing the integrity record the judge reads) when the watch found delegation or tampering."""
    __tracebackhide__ = True
    finding = watch.finding
    if finding is None:
        return
    message = finding.message(what, watch.torch_allowed)
    kind = record.TAMPERED if finding.kind == "tampered" else record.DELEGATED
    if _RECORD_PATH is not None:   # the judge reads this record as the cell's status
        record.append(_RECORD_PATH, record.integrity(kind, what, message))
    raise (TamperingDetected if kind == record.TAMPERED else DelegationDetected)(message)


def diagnose(got: Any, default: str, suspects: list[tuple[np.ndarray, str]]) -> str:
    """The hint of the first known wrong answer that ``got`` matches (shape and values), else ``default``."""
    array = compare.as_float_array(got)
    for candidate, hint in suspects:
        if array is not None and array.shape == candidate.shape and np.allclose(array, candidate, rtol=1e-6, atol=1e-9):
            return hint
    return default


def gradcheck(check_id: str, f: Callable[[np.ndarray], float], x: np.ndarray, analytic: Any, what: str,
              eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7, hint: str = "",
              directions: int = 8) -> None:
    """Compare an analytic gradient with central differences of ``f`` at ``x`` along random unit directions.

    Along a unit direction ``d``, ``(f(x + eps d) - f(x - eps d)) / (2 eps)`` approximates the directional
    derivative ``analytic . d``: ``2 * directions`` evaluations check every entry at once, whatever the size
    of ``x`` (the entry-by-entry gradient is 01's exercise, and it says where a gradient is wrong).
    """
    __tracebackhide__ = True
    x = np.array(x, dtype=np.float64)
    gradient = compare.as_float_array(analytic)
    if gradient is None or gradient.shape != x.shape:
        # The shape check of close() reports it: a gradient has the shape of x.
        close(check_id, analytic, np.zeros_like(x), what=f"{what} (a gradient has the shape of x)", hint=hint)
        return
    unit = rng(check_id).standard_normal((directions, *x.shape))
    unit /= np.sqrt(np.sum(unit.reshape(directions, -1) ** 2, axis=1)).reshape(-1, *[1] * x.ndim)
    numeric = np.array([(float(f(x + eps * d)) - float(f(x - eps * d))) / (2 * eps) for d in unit])
    projected = np.array([float(np.sum(gradient * d)) for d in unit])
    close(check_id, projected, numeric, rtol=rtol, atol=atol, hint=hint,
          what=f"{what}: analytic . d against central differences along {directions} random unit directions d")
