"""Global state that a student's code may change by accident, and how the grader puts it back.

A correct answer must keep its points whatever its cell also did to the process: switched
autograd off, changed torch's default dtype or device, numpy's error handling or print
options, or replaced a builtin such as ``sum``. The hidden tests compute their oracles with
torch in the same kernel, so before each graded cell (:func:`reset`, called by the grading
guard and by the test harness) and around every call into student code
(:func:`preserved`, used by ``checks.call``) this module restores what the oracles rely on.
Reseeded global RNGs need nothing: every check draws from its own generator.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

# The builtins as the interpreter made them, taken at the first import (before any student code
# runs) and kept across the reloads of the grading guard, which re-run this file in the same dict.
_ORIGINAL_BUILTINS: dict[str, Any] = globals().get("_ORIGINAL_BUILTINS") or dict(vars(builtins))

NUMPY_ERRORS: dict[str, Any] = {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"}
NUMPY_PRINT: dict[str, Any] = {"precision": 8, "threshold": 1000, "edgeitems": 3, "linewidth": 75, "suppress": False,
               "nanstr": "nan", "infstr": "inf", "formatter": None, "sign": "-", "floatmode": "maxprec",
               "legacy": False}


def restore_builtins() -> list[str]:
    """Put back every builtin that was replaced or deleted; returns their names."""
    current = vars(builtins)
    changed = [name for name, value in _ORIGINAL_BUILTINS.items() if current.get(name) is not value]
    for name in changed:
        current[name] = _ORIGINAL_BUILTINS[name]
    return changed


def reset() -> None:
    """The state every oracle expects: autograd on, float32 default on the CPU, numpy's defaults, real builtins."""
    restore_builtins()
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)
    torch.set_default_device(None)
    torch.autograd.set_detect_anomaly(False)
    torch.set_printoptions(profile="default")
    np.seterr(**NUMPY_ERRORS)
    np.set_printoptions(**NUMPY_PRINT)


@contextlib.contextmanager
def preserved() -> Iterator[None]:
    """Run student code inside; afterwards the torch modes, numpy settings and builtins are as before."""
    grad = torch.is_grad_enabled()
    dtype = torch.get_default_dtype()
    errors: dict[str, Any] = dict(np.geterr())
    printing: dict[str, Any] = dict(np.get_printoptions())
    try:
        yield
    finally:
        restore_builtins()
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)
        torch.set_default_device(None)
        np.seterr(**errors)
        np.set_printoptions(**printing)
