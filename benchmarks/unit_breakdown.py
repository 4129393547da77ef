"""Where a grading unit's seconds go: a few students of one assignment graded with ``--jobs 1`` (a script).

    .venv/bin/python benchmarks/unit_breakdown.py [--assignment 03_loss] [--students 6] [--ahead N]

The class is made as in ``class_round.py`` (samples, catalogue bugs, alternatives). After an
untimed first round (release/ and the reference run), a forced round is timed; the kernel's
phases are timed by wrapping the grader's own functions. Prints seconds per unit for each phase
("kernel start, none ahead": kernels started while their unit waited; "wait for a kernel": every
wait until a kernel answers, those included), and the cells that took longest.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handgrad import venv
from handgrad.grading import dispatch, kernel, unit
from handgrad.grading.round import run_round

sys.path.insert(0, str(Path(__file__).resolve().parent))
import class_round  # noqa: E402  (a sibling script)

SPENT: dict[str, list[float]] = collections.defaultdict(list)
CELLS: dict[int, list[float]] = collections.defaultdict(list)


def timed(owner: Any, name: str, phase: str) -> None:
    """Wrap ``owner.name`` so each call's seconds are added to ``phase``."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[phase].append(time.perf_counter() - started)
            if name == "execute":
                CELLS[args[1]].append(SPENT[phase][-1])
    setattr(owner, name, wrapper)


def main() -> None:
    """Grade, time, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="03_loss")
    parser.add_argument("--students", type=int, default=6)
    parser.add_argument("--ahead", type=int, default=dispatch.KERNELS_AHEAD, help="kernels launched ahead")
    args = parser.parse_args()
    dispatch.KERNELS_AHEAD = args.ahead
    os.environ.update(venv.on_path())
    for owner, name, phase in ((kernel.Runner, "start", "kernel start, none ahead"),
                               (kernel.Runner, "connect", "wait for a kernel (all)"),
                               (kernel.Runner, "execute", "cells"), (kernel.Runner, "stop", "kernel stop"),
                               (unit, "_run", "sandbox run")):
        timed(owner, name, phase)
    with tempfile.TemporaryDirectory() as scratch:
        course = class_round.new_course(Path(scratch), args.assignment)
        notebooks = list(class_round.variants(args.assignment).values())
        class_round.add_students(course, args.assignment, notebooks, range(1))
        run_round(course, [args.assignment])
        class_round.add_students(course, args.assignment, notebooks, range(1, args.students))
        SPENT.clear()
        CELLS.clear()
        started = time.perf_counter()
        results, _ = run_round(course, [args.assignment], do_release=False, force=True)
        wall = time.perf_counter() - started
    n = len(results)
    print(f"{n} students x {args.assignment}, --jobs 1, {args.ahead} kernel(s) ahead: wall {wall:.1f} s, "
          f"{wall / n:.2f} s per notebook, "
          f"median unit {statistics.median(r.seconds for r in results):.2f} s; load {os.getloadavg()[0]:.2f}")
    for phase, seconds in SPENT.items():
        print(f"  {phase:<26} {sum(seconds) / n:6.2f} s per unit ({len(seconds)} calls)")
    slowest = sorted(CELLS.items(), key=lambda item: -statistics.median(item[1]))[:5]
    print("  slowest cells (median s): " + ", ".join(f"{i}: {statistics.median(s):.2f}" for i, s in slowest))


if __name__ == "__main__":
    main()
