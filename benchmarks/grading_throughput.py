"""Students per minute of the trusted round on the bundled samples, for --jobs 1 and --jobs 2.

    .venv/bin/python benchmarks/grading_throughput.py [--repeats N]

Grades a copy of the course (source/ + submitted/) so the real course folder is untouched.
The reference solutions are run once first (they are cached per round), so each timing is
the students' part only. Prints the median of the repeats and what else loaded the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from handgrad import venv
from handgrad.grading.round import run_round

COURSE = Path(__file__).resolve().parents[1]


def copy_course(into: Path) -> Path:
    """A scratch copy of the course with its samples."""
    course = into / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    for folder in ("source", "submitted"):
        shutil.copytree(COURSE / folder, course / folder)
    return course


def main() -> None:
    """Time rounds with 1 and 2 jobs, interleaved, and print students per minute."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(venv.on_path())
    with tempfile.TemporaryDirectory() as scratch:
        course = copy_course(Path(scratch))
        results, facts = run_round(course, jobs=1)          # warm-up: release + reference records cached
        submissions = len(results)
        timings: dict[int, list[float]] = {1: [], 2: []}
        load_before = os.getloadavg()
        for _ in range(args.repeats):
            for jobs in (1, 2):
                started = time.perf_counter()
                run_round(course, jobs=jobs, do_release=False, force=True)   # every round grades: no reuse
                timings[jobs].append(time.perf_counter() - started)
        load_after = os.getloadavg()
    print(f"{submissions} submissions (students x assignments), isolation {facts['isolation']}, "
          f"{os.cpu_count()} CPUs, load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print(f"{'jobs':>4} {'median s':>9} {'submissions/min':>16}   all runs (s)")
    for jobs, values in timings.items():
        median = statistics.median(values)
        print(f"{jobs:>4} {median:9.1f} {submissions / median * 60:16.1f}   {', '.join(f'{v:.1f}' for v in values)}")
    print(f"speed-up of 2 jobs over 1: {statistics.median(timings[1]) / statistics.median(timings[2]):.2f}x")


if __name__ == "__main__":
    main()
