"""The unit of work of a round: one student's notebook for one assignment, values in, a result out.

:func:`grade_one` decodes the submission the trusted process read, rebuilds it on the instructor's
notebook, runs it in the sandbox and judges every graded cell. It reads no course file and writes
nothing but its own scratch folder, so a process pool or a cluster's worker can run it. Whatever the
student's file or code does becomes a status; an exception from the grader's own code stops the round.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from handgrad.grading import ahead, feedback, rebuild, sandbox
from handgrad.grading.judge import judge_cell
from handgrad.grading.limits import Limits
from handgrad.grading.results import (
    CellRun,
    CellVerdict,
    InfrastructureError,
    Result,
    ReviewItem,
    Status,
)
from handgrad.grading.submission import Submission, decode


@dataclass(frozen=True)
class Job:
    """Everything one student's grading needs, as plain values (picklable, and no path of the course:
    a worker of a cluster grades it without the course folder)."""

    student: str
    assignment: str
    instructor: str                    # the instructor (source) notebook file's text
    submission: Submission | bytes     # the student's file as the trusted process read it (or why it is refused)
    relative: str                      # the student's notebook as the messages name it: <student>/<id>/<id>.ipynb
    reference: dict[str, list[dict[str, Any]]]   # grade_id -> records of the reference run
    limits: Limits
    isolation: str
    env: dict[str, str]
    read_only: tuple[str, ...] = ()
    stubs: dict[str, str] = field(default_factory=dict)   # solution grade_id -> its source in the release
    ahead: int = 0                     # kernels to have waiting for this process's next units like it


def grade_one(job: Job) -> Result:
    """Grade one student's notebook; a failure of the grader itself raises InfrastructureError."""
    try:
        return _grade(job)
    except InfrastructureError:
        raise
    except Exception as error:  # a bug of ours: it must stop the round, never become the student's zero
        trace = "".join(traceback.format_exception(error))[-2000:]
        raise InfrastructureError(f"the grader failed on {job.student}/{job.assignment} "
                                  f"({type(error).__name__}: {error}):\n{trace}") from error


def _grade(job: Job) -> Result:
    """Read, rebuild, run and judge (see :func:`grade_one`)."""
    started = time.monotonic()
    instructor = nbformat.reads(job.instructor, as_version=4)
    submission = decode(job.submission, Path(job.relative))
    if submission.notebook is None:
        result = Result(job.student, job.assignment, submission.status, submission.reason)
        for cell in rebuild.graded_cells(instructor):
            meta = rebuild.nbgrader_meta(cell)
            status = submission.status if rebuild.is_autograded(cell) else Status.MANUAL
            result.cells.append(CellVerdict(meta["grade_id"], float(meta.get("points", 0)), 0.0, status,
                                            submission.reason))
        return _with_page(result, started)
    rebuilt = rebuild.rebuild(instructor, submission.notebook)
    result = Result(job.student, job.assignment, Status.OK, notes=rebuilt.notes)
    runs = {run.index: run for run in _run(job, rebuilt.notebook)}
    result.cells = _verdicts(job, rebuilt, runs)
    result.review = _review(job, rebuilt, result.cells)
    result.notebook = feedback.sanitize(rebuilt.notebook, result.cells)
    return _with_page(result, started)


def _with_page(result: Result, started: float) -> Result:
    """The result with its feedback page rendered here (about 1 s: in parallel with the other units, or while
    the next kernel imports) and the unit's seconds."""
    result.page = feedback.html(result)
    result.seconds = time.monotonic() - started
    return result


def _run(job: Job, notebook: nbformat.NotebookNode) -> list[CellRun]:
    """Run the rebuilt notebook in the sandbox up to its last graded cell (the closing experiment after it
    decides no grade and would double the time), in the kernel launched ahead for it if there is one; one
    retry, in a fresh kernel, as a kernel that cannot start is our failure."""
    setup = ahead.Setup.of(job.limits, job.env, job.isolation, job.read_only)
    launched = ahead.take(setup)
    ahead.fill(setup, job.ahead)   # the next units' kernels import while this one runs
    for attempt in range(2):
        # A scratch folder of this unit on the machine that runs it (short: the kernel's unix sockets live there).
        workdir = launched.workdir if launched else Path(tempfile.mkdtemp(prefix="hg-"))
        try:
            return sandbox.run_notebook(notebook, workdir, job.limits, job.env, job.isolation,
                                        [Path(p) for p in job.read_only],
                                        launched=launched.runner if launched else None,
                                        through=rebuild.last_graded_index(notebook))
        except RuntimeError as error:
            if attempt == 1:
                raise InfrastructureError(f"the sandbox failed twice for {job.student}/{job.assignment}: "
                                          f"{error}") from error
        finally:
            launched = None
            shutil.rmtree(workdir, ignore_errors=True)
    raise AssertionError("unreachable")


def _verdicts(job: Job, rebuilt: rebuild.Rebuilt, runs: dict[int, CellRun]) -> list[CellVerdict]:
    """One verdict per graded cell, in order: manual, or judged from its run (delegation included: the kernel's
    watch records it, handgrad.integrity; a name in the source decides nothing)."""
    verdicts = []
    for index, cell in enumerate(rebuilt.notebook.cells):
        meta = rebuild.nbgrader_meta(cell)
        if not meta.get("grade"):
            continue
        grade_id, points = meta["grade_id"], float(meta.get("points", 0))
        if not rebuild.is_autograded(cell):
            verdicts.append(CellVerdict(grade_id, points, 0.0, Status.MANUAL, "graded by hand"))
        else:
            verdict = judge_cell(grade_id, points, runs[index], job.reference.get(grade_id, []))
            verdicts.append(_not_attempted(job, rebuilt, verdict) or verdict)
    return verdicts


def _normalised(source: str) -> str:
    """A cell's source with blank lines and trailing spaces dropped (an editor's accidents)."""
    return "\n".join(line.rstrip() for line in source.splitlines() if line.strip())


def _not_attempted(job: Job, rebuilt: rebuild.Rebuilt, verdict: CellVerdict) -> CellVerdict | None:
    """A failed test whose solution cell is still the released stub (up to blank lines and trailing spaces):
    status not_attempted, else None."""
    if verdict.status not in (Status.FAILED, Status.ERROR):
        return None
    for cell in rebuilt.notebook.cells:
        solution = rebuild.nbgrader_meta(cell).get("grade_id")
        if (rebuild.nbgrader_meta(cell).get("solution") and solution in job.stubs
                and verdict.grade_id in rebuild.tests_after(rebuilt.notebook, solution)):
            if _normalised(cell.source) == _normalised(job.stubs[solution]):
                return CellVerdict(verdict.grade_id, verdict.max_score, 0.0, Status.NOT_ATTEMPTED,
                                   f"not attempted: the solution cell '{solution}' is as released")
            return None
    return None


def _review(job: Job, rebuilt: rebuild.Rebuilt, verdicts: list[CellVerdict]) -> list[ReviewItem]:
    """Lines of solution cells that reach into internals while a test of theirs still passed."""
    passed = {verdict.grade_id for verdict in verdicts if verdict.status is Status.OK}
    items = []
    for solution, findings in rebuilt.review.items():
        if not passed & set(rebuild.tests_after(rebuilt.notebook, solution)):
            continue
        cell = next(c for c in rebuilt.notebook.cells if rebuild.nbgrader_meta(c).get("grade_id") == solution)
        lines = cell.source.splitlines()
        for line, reason in findings:
            code = lines[line - 1].strip()[:120] if 0 < line <= len(lines) else ""
            items.append(ReviewItem(job.student, job.assignment, solution, line, code, reason))
    return items
