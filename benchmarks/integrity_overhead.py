"""What the delegation watch costs: the hidden tests of 02 and 04 (reference solution, in-process)
with the watch of ``checks.call`` on and replaced by a no-op, best of N runs each.

    .venv/bin/python benchmarks/integrity_overhead.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handgrad import checks, integrity  # noqa: E402
from tests.notebooks import harness  # noqa: E402


class NoWatch(integrity.Watch):
    """The watch with nothing installed (what checks.call cost before it)."""

    def __enter__(self) -> NoWatch:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def best_time(assignment: str, repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` runs of the assignment's graded cells."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        outcome = harness.run_graded(assignment)
        times.append(time.perf_counter() - started)
        assert all(v == "ok" for v in outcome.values()), outcome
    return min(times)


def calls_per_run(assignment: str) -> int:
    """How many times the graded cells call student code through checks.call / call_torch."""
    count = [0]
    original = checks._run

    def counting(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    checks._run = counting
    try:
        harness.run_graded(assignment)
    finally:
        checks._run = original
    return count[0]


def main() -> None:
    """Print, per assignment: calls into student code, best time with and without the watch, overhead."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    for assignment in ("02_activations", "04_linear"):
        harness.run_graded(assignment)   # warm up: imports, data
        with_watch = best_time(assignment, options.repeat)
        with contextlib.ExitStack() as stack:
            stack.callback(setattr, integrity, "Watch", integrity.Watch)
            integrity.Watch = NoWatch  # type: ignore[misc]
            without = best_time(assignment, options.repeat)
        calls = calls_per_run(assignment)
        print(f"{assignment}: {calls} calls into student code; graded cells {with_watch:.3f} s with the watch, "
              f"{without:.3f} s without: +{with_watch - without:.3f} s "
              f"({(with_watch - without) / without:+.1%}, {(with_watch - without) / calls * 1e3:.2f} ms per call)")


if __name__ == "__main__":
    main()
