"""A class of 100 students graded three ways in one run, then an incremental round (a script, not a test).

    .venv/bin/python benchmarks/class_round.py [--students 100] [--assignment 03_loss]

The class is made from the samples and the bug catalogue of one assignment: student k hands in
variant k mod V of the list (the reference, the blank release, the buggy sample, each catalogue
bug applied to the reference, each correct alternative), so the round meets full marks,
not-attempted cells and real failures. A first round of one student builds release/ and runs the
reference once; then the class is graded with ``--jobs 1``, ``--jobs 2`` and on a local Dask
cluster of two single-threaded ``dask worker`` processes (all with ``force``), and a last round
with nothing changed reuses every result. Prints, per mode, the wall time, notebooks per minute
and the median of the units' own seconds, the speed-ups, and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat

from handgrad import venv
from handgrad.grading.round import run_round

COURSE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(COURSE))
from tests.notebooks import catalogue  # noqa: E402  (the course root is not installed)
from tools import make_samples  # noqa: E402


def variants(assignment: str) -> dict[str, nbformat.NotebookNode]:
    """name -> notebook: the three samples, each catalogue bug and each correct alternative."""
    release = nbformat.read(str(COURSE / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    reference = catalogue.solutions(assignment)
    found = make_samples.samples(assignment)
    listed = catalogue.load(assignment)
    for entry in [*listed.bugs, *listed.alternatives]:
        cells = {**reference, **catalogue.apply(assignment, entry.edits)}
        found[entry.name] = make_samples.submission(release, cells)
    return found


def new_course(folder: Path, assignment: str) -> Path:
    """A course folder with the source notebook of one assignment and no student yet."""
    course = folder / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source" / assignment, course / "source" / assignment)
    return course


def add_students(course: Path, assignment: str, notebooks: list[nbformat.NotebookNode], ids: range) -> None:
    """Student k of ``ids`` hands in notebook k mod len(notebooks)."""
    for k in ids:
        path = course / "submitted" / f"s{k:03d}" / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(notebooks[k % len(notebooks)], str(path))


@contextmanager
def dask_cluster(workers: int) -> Iterator[str]:
    """A scheduler and single-threaded workers, each its own `dask` process in an empty folder; yields its address."""
    import distributed

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(venv.bin_dir() / "dask")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as empty:
        processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                       "--no-dashboard"], cwd=empty, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)]
        processes += [subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard"], cwd=empty,
                                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for _ in range(workers)]
        try:
            with distributed.Client(address, timeout=60) as client:
                client.wait_for_workers(workers, timeout=120)
            yield address
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def timed_round(course: Path, assignment: str, **options: object) -> tuple[float, list[float], dict]:
    """Wall seconds, the units' own seconds and the facts of one round."""
    started = time.perf_counter()
    results, facts = run_round(course, [assignment], do_release=False, **options)  # type: ignore[arg-type]
    return time.perf_counter() - started, [r.seconds for r in results], facts


def main() -> None:
    """Build the class, grade it four ways, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--assignment", default="03_loss")
    args = parser.parse_args()
    os.environ.update(venv.on_path())
    import distributed

    with tempfile.TemporaryDirectory() as scratch:
        course = new_course(Path(scratch), args.assignment)
        notebooks = list(variants(args.assignment).values())
        add_students(course, args.assignment, notebooks, range(1))
        run_round(course, [args.assignment])           # release/, gradebook and the reference run, not timed
        add_students(course, args.assignment, notebooks, range(1, args.students))
        load_before = os.getloadavg()[0]
        rows = {"--jobs 1": timed_round(course, args.assignment, jobs=1, force=True),
                "--jobs 2": timed_round(course, args.assignment, jobs=2, force=True)}
        with dask_cluster(2) as address, distributed.Client(address) as client:
            rows["Dask, 2 workers"] = timed_round(course, args.assignment, executor=client, force=True)
        rows["incremental (nothing changed)"] = timed_round(course, args.assignment, jobs=1)
        load_after = os.getloadavg()[0]
    print(f"{args.students} students x {args.assignment} ({len(notebooks)} variants: samples, catalogue bugs and "
          f"alternatives); {os.cpu_count()} CPUs; load average before {load_before:.2f}, after {load_after:.2f}")
    print(f"{'mode':<30} {'wall s':>8} {'notebooks/min':>14} {'median s/notebook':>18} {'graded':>7} {'reused':>7}")
    for mode, (wall, seconds, facts) in rows.items():
        median = statistics.median(seconds) if facts["graded"] else 0.0
        print(f"{mode:<30} {wall:8.1f} {len(seconds) / wall * 60:14.1f} {median:18.2f} "
              f"{facts['graded']:>7} {facts['reused']:>7}")
    one = rows["--jobs 1"][0]
    print(f"speed-up over --jobs 1: --jobs 2 {one / rows['--jobs 2'][0]:.2f}x, "
          f"Dask 2 workers {one / rows['Dask, 2 workers'][0]:.2f}x")


if __name__ == "__main__":
    main()
