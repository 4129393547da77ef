"""One grading round: release, grade every student in a sandbox, then gradebook, feedback, report.

The per-student work is :func:`handgrad.grading.unit.grade_one` (files in, a result out),
run by :mod:`handgrad.grading.dispatch` one by one, in a process pool (``jobs``) or on any
``concurrent.futures``-style executor. Only this process writes the gradebook, ``autograded/``, ``feedback/`` and
``reports/grades.csv``, once, after every student was graded. Any failure of the round
itself (a grader bug, a broken reference, no sandbox) raises :class:`InfrastructureError`
before anything is written: it never becomes a student's zero.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from handgrad import venv
from handgrad.grading import bubblewrap, class_report, feedback, gradebook, incremental, rebuild, report
from handgrad.grading.dispatch import grade_all
from handgrad.grading.limits import Limits
from handgrad.grading.reference import lib_fingerprint, reference_records
from handgrad.grading.results import InfrastructureError, Result
from handgrad.grading.submission import read_bytes
from handgrad.grading.unit import Job

ASSIGNMENT_ENV = "HANDGRAD_ASSIGNMENT"   # tells the kernel which assignment it grades


def released_stubs(course: Path, assignment: str) -> dict[str, str]:
    """Solution grade_id -> its source in release/ (what an untouched notebook holds); empty without a release."""
    path = course / "release" / assignment / f"{assignment}.ipynb"
    if not path.is_file():
        return {}
    notebook = nbformat.read(str(path), as_version=4)
    return {rebuild.nbgrader_meta(cell)["grade_id"]: cell.source for cell in notebook.cells
            if rebuild.nbgrader_meta(cell).get("solution")}


def kernel_env(assignment: str, data_root: Path | None, salt: str) -> dict[str, str]:
    """The environment every sandboxed kernel of one assignment gets (nothing of the instructor's own)."""
    env = {"PATH": f"{venv.bin_dir()}:/usr/local/bin:/usr/bin:/bin", "NBGRADER_EXECUTION": "autograde",
           "MPLBACKEND": "agg", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "HANDGRAD_SEED_SALT": salt, "LANG": "C.UTF-8", ASSIGNMENT_ENV: assignment}
    if data_root is not None:
        env["HANDGRAD_DATA"] = str(data_root)
    return env


def release(course: Path, assignments: list[str]) -> None:
    """Build release/ from source/ with nbgrader (also registers the assignments in the gradebook)."""
    env = venv.on_path()
    for assignment in assignments:
        done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                               "--log-level=WARN"], check=False, cwd=course, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise InfrastructureError(f"nbgrader generate_assignment {assignment} failed:\n{done.stderr[-2000:]}")


def discover(course: Path, assignments: list[str] | None) -> tuple[list[str], list[str]]:
    """The assignments (all of source/ unless named) and the students (every folder, or link, in submitted/)."""
    available = sorted(p.name for p in (course / "source").iterdir() if (p / f"{p.name}.ipynb").exists())
    chosen = assignments or available
    unknown = [a for a in chosen if a not in available]
    if unknown:
        raise InfrastructureError(f"no source notebook for {', '.join(unknown)} (have: {', '.join(available)})")
    submitted = course / "submitted"
    # A link in place of a student's folder is listed too: grading then rejects it, never follows it.
    students = sorted(p.name for p in submitted.iterdir() if p.is_dir() or p.is_symlink()) if submitted.exists() else []
    return chosen, students


def write_outputs(course: Path, results: list[Result]) -> Path:
    """Gradebook, autograded notebooks, feedback, reports/grades.csv and the class report; every page exists
    before any write (a reused result's page is rendered again only when its file is gone)."""
    pages = {}
    for result in results:
        path = feedback.feedback_path(course, result)
        if result.page or not path.is_file():
            pages[path] = result.page or feedback.html(result)
    gradebook.record_in_gradebook(course, results)
    for result in results:
        if result.notebook is not None:
            autograded = course / "autograded" / result.student / result.assignment / f"{result.assignment}.ipynb"
            autograded.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nbformat.from_dict(result.notebook), str(autograded))
    for path, page in pages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    csv_path = course / "reports" / "grades.csv"
    report.write_csv(csv_path, results)
    class_report.write(course / "reports", results)
    return csv_path


def run_round(course: Path, assignments: list[str] | None = None, jobs: int = 1, limits: Limits | None = None,
              isolation: str | None = None, salt: str = "", do_release: bool = True,
              executor: Any = None, force: bool = False) -> tuple[list[Result], dict[str, Any]]:
    """The whole round; ``executor`` may be any concurrent.futures-like executor (e.g. a Dask client).

    A unit whose inputs are unchanged since the last round reuses its recorded result unless ``force``."""
    from handgrad import data

    course = course.resolve()
    chosen, students = discover(course, assignments)
    if do_release:
        release(course, chosen)
    isolation = isolation or ("bubblewrap" if bubblewrap.bubblewrap_works() else "limits")
    limits = limits or Limits()
    try:
        data_root: Path | None = data.find("fashion-mnist")
    except data.DataNotFoundError:
        data_root = None            # notebooks that need data will say so in their own cells
    read_only = [data_root] if data_root else []
    # Scratch folders stay short: the kernel's unix sockets live there (paths of at most 107 bytes).
    work = Path(tempfile.mkdtemp(prefix="handgrad-"))
    lib, environment = lib_fingerprint(), incremental.environment_fingerprint(data_root)
    reused: list[Result] = []
    keys: dict[tuple[str, str], str | None] = {}
    try:
        job_list: list[Job] = []
        for assignment in chosen:
            env = kernel_env(assignment, data_root, salt)
            reference: dict[str, list[dict[str, Any]]] | None = None
            stubs = released_stubs(course, assignment)
            instructor = (course / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8")
            for student in students:
                key = incremental.unit_key(course, student, assignment, env, limits, isolation, lib, environment)
                recorded = None if force else incremental.load(course, student, assignment, key)
                if recorded is not None:
                    reused.append(recorded)
                    continue
                keys[student, assignment] = key
                if reference is None:   # only an assignment with something to grade needs its reference
                    reference = reference_records(course, assignment, limits, isolation, env, read_only,
                                                  work / f"reference-{assignment[:2]}")
                relative = f"{student}/{assignment}/{assignment}.ipynb"
                job_list.append(Job(student, assignment, instructor, read_bytes(course / "submitted", Path(relative)),
                                    relative, reference, limits, isolation, env, tuple(str(p) for p in read_only),
                                    stubs))
        graded, lost = grade_all(job_list, jobs, executor)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = graded + reused
    results.sort(key=lambda r: (r.student, r.assignment))
    facts = report.summary(results)
    facts["isolation"] = isolation
    facts["graded"], facts["reused"] = len(graded), len(reused)
    facts["grader_faults"] = lost   # units a cluster lost: nothing recorded for them, the next round grades them
    facts["report"] = str(write_outputs(course, results))
    for result in graded:   # recorded only once every output is written: a stopped round reuses nothing new
        incremental.store(course, result, keys[result.student, result.assignment])
    return results, facts
