"""Run one notebook cell by cell in the sandbox, with limits; what happened to each code cell.

The kernel runs behind :mod:`handgrad.grading.bubblewrap` (or the limits alone, isolation
``"limits"``, where bubblewrap does not work); :mod:`handgrad.grading.kernel` drives it.
The check helpers inside append records to a file in the work folder, read here after each
cell. A dead or killed kernel is restarted and the cells that ran before are replayed, so
one bad cell costs only itself.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import nbformat

from handgrad import record
from handgrad.grading.bubblewrap import sandbox_uid
from handgrad.grading.kernel import Runner, error_of
from handgrad.grading.limits import Limits
from handgrad.grading.results import CellRun, Status

# The most record bytes read after one cell: a kernel cannot make the trusted process read without end.
MAX_RECORD_BYTES = 64 << 20
# The file in the work folder the check helpers append their records to.
RECORDS = "records.jsonl"


def new_records(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Records appended to the file since ``offset``, and the new offset (read from outside the kernel).

    The file lives in the sandbox's writable folder, so it is opened without following links
    and read with a size cap: the kernel decides its content, never where the trusted process reads.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return [], offset
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):   # a folder, a FIFO, a device: nothing to read
        os.close(descriptor)
        return [], offset
    with os.fdopen(descriptor, "rb") as stream:
        stream.seek(offset)
        chunk = stream.read(MAX_RECORD_BYTES)
    return list(record.parse(chunk.decode("utf-8", errors="replace"))), offset + len(chunk)


def prepare(workdir: Path, limits: Limits, env: dict[str, str], isolation: str,
            read_only: list[Path] | None = None) -> Runner:
    """A kernel runner for the work folder (created, the sandbox user's), not started and with no notebook yet."""
    workdir.mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        os.chown(workdir, sandbox_uid(workdir), sandbox_uid(workdir))
    kernel_env = {**env, record.ENV_VAR: str(workdir / RECORDS)}
    return Runner(nbformat.v4.new_notebook(), workdir, limits, kernel_env, isolation, read_only or [])


def run_notebook(notebook: nbformat.NotebookNode, workdir: Path, limits: Limits, env: dict[str, str],
                 isolation: str, read_only: list[Path] | None = None,
                 launched: Runner | None = None, through: int | None = None) -> list[CellRun]:
    """Execute the code cells of ``notebook`` (in place: outputs are filled) and say what happened to each;
    ``launched``: a kernel :func:`prepare` made for this work folder and launched ahead, not yet used;
    ``through``: the last cell index to run (None: every cell; the cells after it stay unrun, with no run)."""
    runner = launched or prepare(workdir, limits, env, isolation, read_only)
    runner.adopt(notebook)
    records_path = workdir / RECORDS
    last = len(notebook.cells) - 1 if through is None else through
    runs = [CellRun(index=i) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and i <= last]
    deadline = time.monotonic() + limits.notebook_budget
    succeeded: list[int] = []
    offset = 0
    try:
        if launched is None:
            runner.start()
        else:
            runner.connect()
        for run in runs:
            if time.monotonic() > deadline:
                run.status = Status.BUDGET
                continue
            started = time.monotonic()
            run.status, run.exception = runner.execute(run.index)
            run.seconds = time.monotonic() - started
            error = error_of(notebook.cells[run.index])
            run.error = f"{error[0]}: {error[1]}" if error else ""
            run.records, offset = new_records(records_path, offset)
            if run.status is Status.OK:
                succeeded.append(run.index)
            if run.status in (Status.KILLED, Status.KERNEL_DIED):
                # The kernel may be gone or wedged: start afresh and rebuild the state of the good cells.
                runner.stop()
                runner.start()
                runner.replay(succeeded)
                _, offset = new_records(records_path, offset)
    finally:
        runner.stop()
    return runs
