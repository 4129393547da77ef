"""One grading round: release, grade every student in a sandbox, judge, gradebook, feedback, report.

The unit of work is :func:`grade_one`: files in (the instructor notebook, one student's
notebook, the reference records), a plain result out. It writes nothing but its own
scratch folder, so a process pool (``--jobs N``) or any distributed executor can run it.
Only this process writes the gradebook, ``autograded/``, ``feedback/`` and
``reports/grades.csv``, once per student and assignment.
"""

from __future__ import annotations

import concurrent.futures
import csv
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from handgrad.grading import feedback, rebuild, sandbox
from handgrad.grading.judge import CellVerdict, judge_cell

CSV_COLUMNS = ["student", "assignment", "grade_id", "score", "max_score", "status"]


class InfrastructureError(RuntimeError):
    """The round itself failed (not a student): it stops instead of writing zeros."""


@dataclass(frozen=True)
class Job:
    """Everything one student's grading needs, as plain values (picklable)."""

    student: str
    assignment: str
    instructor: str                    # path of the instructor (source) notebook
    submission: str                    # path of the student's notebook (may not exist)
    workdir: str                       # scratch folder for this job only
    reference: dict[str, list[dict[str, Any]]]   # grade_id -> records of the reference run
    limits: sandbox.Limits
    isolation: str
    env: dict[str, str]
    read_only: tuple[str, ...] = ()


@dataclass
class Result:
    """What grading one student's notebook produced."""

    student: str
    assignment: str
    status: str                        # ok, missing, corrupt, infrastructure
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    notebook: dict[str, Any] | None = None
    seconds: float = 0.0


def kernel_env(course: Path, data_root: Path | None, salt: str) -> dict[str, str]:
    """The environment every sandboxed kernel gets (nothing of the instructor's own)."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "NBGRADER_EXECUTION": "autograde",
           "MPLBACKEND": "agg", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "HANDGRAD_SEED_SALT": salt, "LANG": "C.UTF-8"}
    if data_root is not None:
        env["HANDGRAD_DATA"] = str(data_root)
    return env


def grade_one(job: Job) -> Result:
    """Rebuild, run in the sandbox and judge one student's notebook (a pure function of its files)."""
    try:
        return _grade_one(job)
    except Exception as error:  # a failure of ours: reported as infrastructure, never as the student's zero
        return Result(job.student, job.assignment, "infrastructure", f"{type(error).__name__}: {error}")


def _grade_one(job: Job) -> Result:
    started = time.monotonic()
    instructor = nbformat.read(job.instructor, as_version=4)
    rebuilt = rebuild.rebuild(instructor, Path(job.submission))
    result = Result(job.student, job.assignment, rebuilt.status, rebuilt.reason, rebuilt.notes)
    graded = rebuild.graded_cells(instructor)
    if rebuilt.notebook is None:
        for cell in graded:
            meta = rebuild.nbgrader_meta(cell)
            status = rebuilt.status if rebuild.is_autograded(cell) else "manual"
            result.cells.append(CellVerdict(meta["grade_id"], float(meta.get("points", 0)), 0.0, status,
                                            rebuilt.reason).as_dict())
        result.seconds = time.monotonic() - started
        return result

    workdir = Path(job.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    runs = None
    for attempt in range(2):       # one retry: a kernel that cannot start is our failure, not the student's
        try:
            runs = sandbox.run_notebook(rebuilt.notebook, workdir, job.limits, job.env, job.isolation,
                                        [Path(p) for p in job.read_only])
            break
        except RuntimeError as error:
            if attempt == 1:
                result.status, result.reason = "infrastructure", f"the sandbox failed: {error}"
                return result
    by_index = {run.index: run for run in runs}
    delegated = {test: solution for solution in rebuilt.delegated
                 for test in rebuild.tests_after(rebuilt.notebook, solution)}
    for index, cell in enumerate(rebuilt.notebook.cells):
        meta = rebuild.nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        points = float(meta.get("points", 0))
        if not rebuild.is_autograded(cell):
            result.cells.append(CellVerdict(meta["grade_id"], points, 0.0, "manual",
                                            "graded by hand").as_dict())
            continue
        run = by_index[index]
        if meta["grade_id"] in delegated:
            names = ", ".join(sorted(rebuilt.delegated[delegated[meta["grade_id"]]]))
            result.cells.append(CellVerdict(meta["grade_id"], points, 0.0, "delegated",
                                            f"the solution uses {names}; write it with numpy").as_dict())
            continue
        verdict = judge_cell(meta["grade_id"], points, run.status, run.error, run.records,
                             job.reference.get(meta["grade_id"], []))
        result.cells.append(verdict.as_dict())
    result.notebook = feedback.sanitize(rebuilt.notebook, result.cells)
    shutil.rmtree(workdir, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


def reference_records(course: Path, assignment: str, job_template: dict[str, Any],
                      workdir: Path) -> dict[str, list[dict]]:
    """Run the instructor's solution in its own sandbox (cached per round) and keep its records per cell."""
    source = course / "source" / assignment / f"{assignment}.ipynb"
    key = hashlib.sha256(source.read_bytes() + json.dumps(job_template["env"], sort_keys=True).encode()
                         + _lib_fingerprint()).hexdigest()[:16]
    cache = course / ".handgrad" / "reference" / f"{assignment}-{key}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    notebook = nbformat.read(str(source), as_version=4)
    runs = sandbox.run_notebook(notebook, workdir,
                                job_template["limits"], job_template["env"], job_template["isolation"],
                                [Path(p) for p in job_template["read_only"]])
    by_index = {run.index: run for run in runs}
    records: dict[str, list[dict]] = {}
    for index, cell in enumerate(notebook.cells):
        if rebuild.is_autograded(cell):
            run = by_index[index]
            grade_id = rebuild.nbgrader_meta(cell)["grade_id"]
            if run.status != "ok" or not all(r.get("passed") for r in run.records):
                raise InfrastructureError(f"the reference solution of {assignment} fails cell '{grade_id}' "
                                          f"({run.status}: {run.error[:300]}); fix source/ before grading")
            records[grade_id] = run.records
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(records))
    return records


def _lib_fingerprint() -> bytes:
    """A hash of the lib's sources: reference records are only reused for the same lib."""
    import handgrad

    digest = hashlib.sha256()
    for path in sorted(Path(handgrad.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.digest()


def release(course: Path, assignments: list[str]) -> None:
    """Build release/ from source/ with nbgrader (also registers the assignments in the gradebook)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    for assignment in assignments:
        done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                               "--log-level=WARN"], cwd=course, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise InfrastructureError(f"nbgrader generate_assignment {assignment} failed:\n{done.stderr[-2000:]}")


def discover(course: Path, assignments: list[str] | None) -> tuple[list[str], list[str]]:
    """The assignments (all of source/ unless named) and the students (every folder of submitted/)."""
    available = sorted(p.name for p in (course / "source").iterdir() if (p / f"{p.name}.ipynb").exists())
    chosen = assignments or available
    unknown = [a for a in chosen if a not in available]
    if unknown:
        raise InfrastructureError(f"no source notebook for {', '.join(unknown)} (have: {', '.join(available)})")
    submitted = course / "submitted"
    students = sorted(p.name for p in submitted.iterdir() if p.is_dir()) if submitted.exists() else []
    return chosen, students


def write_outputs(course: Path, results: list[Result]) -> Path:
    """Gradebook, autograded notebooks, feedback and reports/grades.csv, written once, here."""
    feedback.store(course, results)
    report = course / "reports" / "grades.csv"
    report.parent.mkdir(parents=True, exist_ok=True)
    with open(report, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for result in results:
            for cell in result.cells:
                writer.writerow([result.student, result.assignment, cell["grade_id"], f"{cell['score']:g}",
                                 f"{cell['max_score']:g}", cell["status"]])
    return report


def print_table(results: list[Result], stream: Any = sys.stdout) -> None:
    """The grade table: one line per graded cell, then a total per student and assignment."""
    print(f"{'student':14s} {'assignment':16s} {'cell':28s} {'score':>9s}  status", file=stream)
    for result in results:
        for cell in result.cells:
            print(f"{result.student:14s} {result.assignment:16s} {cell['grade_id']:28s} "
                  f"{cell['score']:>4g}/{cell['max_score']:<4g}  {cell['status']}", file=stream)
        total = sum(c["score"] for c in result.cells)
        maximum = sum(c["max_score"] for c in result.cells if c["status"] != "manual")
        note = f" [{result.status}: {result.reason}]" if result.status != "ok" else ""
        print(f"{result.student:14s} {result.assignment:16s} {'TOTAL (autograded)':28s} "
              f"{total:>4g}/{maximum:<4g}  {result.seconds:.1f}s{note}", file=stream)


def summary(results: list[Result]) -> dict[str, Any]:
    """Students graded, faults by kind, infrastructure errors."""
    faults = Counter(cell["status"] for r in results for cell in r.cells if cell["status"] not in ("ok", "manual"))
    return {"students": len({r.student for r in results}), "submissions": len(results),
            "faults": dict(sorted(faults.items())),
            "infrastructure_errors": [f"{r.student}/{r.assignment}: {r.reason}" for r in results
                                      if r.status == "infrastructure"]}


def run_round(course: Path, assignments: list[str] | None = None, jobs: int = 1,
              limits: sandbox.Limits | None = None, isolation: str | None = None, salt: str = "",
              do_release: bool = True, executor: Any = None) -> tuple[list[Result], dict[str, Any]]:
    """The whole round; ``executor`` may be any concurrent.futures-like executor (e.g. a Dask client)."""
    from handgrad import data

    course = course.resolve()
    chosen, students = discover(course, assignments)
    if do_release:
        release(course, chosen)
    isolation = isolation or ("bubblewrap" if sandbox.bubblewrap_works() else "limits")
    try:
        data_root: Path | None = data.find("fashion-mnist")
    except data.DataNotFoundError:
        data_root = None            # notebooks that need data will say so in their own cells
    template = {"limits": limits or sandbox.Limits(), "isolation": isolation,
                "env": kernel_env(course, data_root, salt),
                "read_only": tuple(str(p) for p in ([data_root] if data_root else []))}
    # Scratch folders stay short: the kernel's unix sockets live there (paths of at most 107 bytes).
    work = Path(tempfile.mkdtemp(prefix="handgrad-"))
    job_list = []
    for assignment in chosen:
        reference = reference_records(course, assignment, template, work / f"reference-{assignment[:2]}")
        instructor = str(course / "source" / assignment / f"{assignment}.ipynb")
        for student in students:
            submission = course / "submitted" / student / assignment / f"{assignment}.ipynb"
            job_list.append(Job(student, assignment, instructor, str(submission), str(work / str(len(job_list))),
                                reference, **template))
    if executor is None and jobs > 1:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            results = list(pool.map(grade_one, job_list))
    elif executor is not None:
        results = [future.result() for future in [executor.submit(grade_one, job) for job in job_list]]
    else:
        results = [grade_one(job) for job in job_list]
    shutil.rmtree(work, ignore_errors=True)
    results.sort(key=lambda r: (r.student, r.assignment))
    facts = summary(results)
    facts["isolation"] = isolation
    if facts["infrastructure_errors"]:
        return results, facts       # nothing written: an infrastructure failure never becomes zeros
    facts["report"] = str(write_outputs(course, results))
    return results, facts
