"""The round's data model: every status a cell can get, what a cell run gave, verdicts, results.

Plain data only (picklable, so a process pool or a cluster can carry it); imports nothing
else of the grading wing, which all imports this.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """Every status a graded cell can get in a round; :data:`MEANING` says what each means."""

    OK = "ok"
    NOT_ATTEMPTED = "not_attempted"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    KILLED = "killed"
    KERNEL_DIED = "kernel_died"
    OOM = "oom"
    OUTPUT_LIMIT = "output_limit"
    BUDGET = "budget"
    NOT_RUN = "not_run"
    TAMPERED = "tampered"
    DELEGATED = "delegated"
    MISSING = "missing"
    CORRUPT = "corrupt"
    REJECTED = "rejected"
    MANUAL = "manual"


# What each status means; for the statuses of a run that went wrong, also the student's message.
MEANING: dict[Status, str] = {
    Status.OK: "the cell ran cleanly and every check matched the reference outside the kernel: full points",
    Status.NOT_ATTEMPTED: "the solution cell this test checks is still the released stub (not attempted): 0 points",
    Status.FAILED: "a check found a wrong value (the message says which, never the expected values)",
    Status.ERROR: "the cell raised an exception (written error:<Exception>, e.g. error:CheckFailed)",
    Status.TIMEOUT: "the cell ran past its time limit and was interrupted",
    Status.KILLED: "the cell ran past its time limit, ignored the interrupt and was killed",
    Status.KERNEL_DIED: "the Python kernel died while running this cell (os._exit, a crash, or the memory limit?)",
    Status.OOM: "the cell ran out of memory (MemoryError)",
    Status.OUTPUT_LIMIT: "the cell printed more than the output limit allows",
    Status.BUDGET: "the notebook used up its time budget before this cell ran",
    Status.NOT_RUN: "the cell did not run",
    Status.TAMPERED: "the checks could not be trusted: a helper was replaced, a check went missing, or a value "
                     "claimed to pass does not match outside the kernel",
    Status.DELEGATED: "the exercise is to be written with numpy, and the solution handed the work to a library",
    Status.MISSING: "no notebook was submitted for this assignment",
    Status.CORRUPT: "the submitted file is not a readable notebook",
    Status.REJECTED: "the submission is not a plain file (a symbolic link, a folder, a device or FIFO): never "
                     "followed, not graded",
    Status.MANUAL: "a written answer, graded by hand (formgrader)",
}


class InfrastructureError(RuntimeError):
    """The round itself failed (a bug of ours, a broken reference, no sandbox): it stops, writing nothing."""


@dataclass
class CellRun:
    """What happened to one code cell in the sandbox."""

    index: int
    status: Status = Status.NOT_RUN
    exception: str = ""               # the exception's class name, when the cell raised one
    error: str = ""                   # the exception's name and message, when one was raised
    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class CellVerdict:
    """The grade of one graded cell."""

    grade_id: str
    max_score: float
    score: float
    status: Status
    message: str
    exception: str = ""               # for Status.ERROR: the exception's class name

    @property
    def label(self) -> str:
        """The status as reports write it: ``error:<Exception>`` for an error, else the status's name."""
        return f"error:{self.exception}" if self.status is Status.ERROR else self.status.value


@dataclass(frozen=True)
class ReviewItem:
    """A solution cell that passed while reaching into the grader, the kernel or module internals."""

    student: str
    assignment: str
    cell: str                         # the solution cell's grade_id
    line: int                         # line number inside that cell
    code: str                         # that line, stripped
    reason: str


@dataclass
class Result:
    """What grading one student's notebook for one assignment produced."""

    student: str
    assignment: str
    status: Status                    # of the submission: ok, missing, corrupt or rejected
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    cells: list[CellVerdict] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    notebook: dict[str, Any] | None = None   # the sanitized executed notebook, when one ran
    seconds: float = 0.0
    page: str = ""                    # the feedback page (HTML), rendered by the unit; not kept between rounds

    def score(self) -> float:
        """Points earned by the autograded cells."""
        return sum(cell.score for cell in self.cells)

    def autograded_max(self) -> float:
        """Points the autograded cells can earn (written answers are graded by hand)."""
        return sum(cell.max_score for cell in self.cells if cell.status is not Status.MANUAL)
