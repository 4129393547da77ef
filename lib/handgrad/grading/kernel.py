"""One kernel in the sandbox, restartable, executing the cells of one notebook; one status per cell.

The executing client stays in the trusted process; only the kernel runs in the sandbox,
and the two talk over unix sockets in a fresh folder inside the work folder. A cell that
runs past its timeout is interrupted; one that ignores the interrupt is reported killed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from handgrad.grading.bubblewrap import sandbox_command, sandbox_uid
from handgrad.grading.limits import Limits
from handgrad.grading.output_limiter import LimitedClient
from handgrad.grading.results import Status

# What every kernel imports before its notebook runs (ipykernel's exec_lines: no cell, no execution count):
# the slow imports all notebooks make (about 3 s here), so a kernel launched ahead is ready at once.
# Not ipywidgets (0.3 s): only the closing experiments use it, and grading stops before them.
PRELOAD = "import numpy, torch, matplotlib.pyplot, handgrad.checks, handgrad.data"


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command runs inside the sandbox prefix."""

    def __init__(self, prefix: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefix = prefix

    def write_connection_file(self, **kwargs: Any) -> None:
        """Write the connection file readable by the sandbox user (the kernel's own key, nothing else)."""
        super().write_connection_file(**kwargs)
        os.chmod(self.connection_file, 0o644)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The usual ipykernel command, behind the sandbox prefix, with this venv's Python."""
        command = super().format_kernel_cmd(extra_arguments)
        if command and Path(command[0]).name.startswith("python"):
            command[0] = sys.executable
        return self.prefix + command


def error_of(cell: nbformat.NotebookNode) -> tuple[str, str] | None:
    """The (exception name, message) a cell's outputs show, if it raised."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return str(output.get("ename", "Error")), str(output.get("evalue", ""))
    return None


class Runner:
    """One kernel in the sandbox, restartable, executing cells of one notebook."""

    def __init__(self, notebook: nbformat.NotebookNode, workdir: Path, limits: Limits, env: dict[str, str],
                 isolation: str, read_only: list[Path]) -> None:
        self.notebook, self.workdir, self.limits = notebook, workdir, limits
        self.env, self.isolation, self.read_only = env, isolation, read_only
        self.client: LimitedClient | None = None

    def adopt(self, notebook: nbformat.NotebookNode) -> None:
        """Run ``notebook``'s cells from now on (a kernel launched before its notebook was known)."""
        self.notebook = notebook
        if self.client is not None:
            self.client.nb = notebook

    def launch(self) -> None:
        """Start a fresh kernel process (unix-socket transport in a new folder inside the work folder) and
        return at once; it imports :data:`PRELOAD` while the caller does other work."""
        # A new, unguessable folder per start: files a previous kernel left in the work folder (links
        # included) are never where this process writes the connection file.
        sockets = Path(tempfile.mkdtemp(prefix="k", dir=self.workdir))
        if os.getuid() == 0:
            os.chown(sockets, sandbox_uid(self.workdir), sandbox_uid(self.workdir))
        manager = SandboxKernelManager(sandbox_command(self.workdir, self.limits, self.read_only, self.isolation),
                                       kernel_name="python3", transport="ipc", ip=str(sockets / "k"))
        manager.connection_file = str(sockets / "kernel.json")
        # Stopped at once: the kernel is discarded, so a polite shutdown (about 1.4 s here) buys nothing.
        self.client = LimitedClient(self.notebook, km=manager, limits=self.limits, allow_errors=True,
                                    timeout=int(self.limits.cell_timeout), interrupt_on_timeout=False,
                                    startup_timeout=120, kernel_name="python3", resources={},
                                    shutdown_kernel="immediate",
                                    extra_arguments=[f"--IPKernelApp.exec_lines={PRELOAD}"])
        self.client.start_new_kernel(env=self.env, cwd=str(self.workdir))

    def connect(self) -> None:
        """Wait until the launched kernel answers (its imports done)."""
        assert self.client is not None
        self.client.start_new_kernel_client()

    def start(self) -> None:
        """Launch a fresh kernel and wait until it answers."""
        self.launch()
        self.connect()

    def stop(self) -> None:
        """Kill the kernel and everything in its sandbox."""
        if self.client is None:
            return
        with contextlib.suppress(Exception):   # the kernel may already be gone; nothing to clean then
            self.client._cleanup_kernel()
        self.client = None

    def execute(self, index: int) -> tuple[Status, str]:
        """Run one cell; the status it ended with and, for an error, the exception's class name."""
        assert self.client is not None
        cell = self.notebook.cells[index]
        try:
            self.client.execute_cell(cell, index)
        except CellTimeoutError:
            return self._after_timeout(), ""
        except DeadKernelError:
            return Status.KERNEL_DIED, ""
        if index in self.client.flooded:
            return Status.OUTPUT_LIMIT, ""
        error = error_of(cell)
        if error is None:
            return Status.OK, ""
        return (Status.OOM, "") if error[0] == "MemoryError" else (Status.ERROR, error[0])

    def _after_timeout(self) -> Status:
        """Interrupt; if the kernel does not come back within the grace period, report it killed."""
        assert self.client is not None
        assert isinstance(self.client.km, AsyncKernelManager)
        run_sync(self.client.km._async_interrupt_kernel)()
        return Status.TIMEOUT if self._run_scratch("None", self.limits.grace) else Status.KILLED

    def _run_scratch(self, source: str, timeout: float) -> bool:
        """Run code that is not a cell of the notebook; False if the kernel did not answer in time."""
        assert self.client is not None
        self.notebook.cells.append(nbformat.v4.new_code_cell(source))
        saved, self.client.timeout = self.client.timeout, int(timeout)
        try:
            self.client.execute_cell(self.notebook.cells[-1], len(self.notebook.cells) - 1)
            return True
        except (CellTimeoutError, DeadKernelError):
            return False
        finally:
            self.client.timeout = saved
            self.notebook.cells.pop()

    def replay(self, indices: list[int]) -> None:
        """Re-run cells that succeeded before a restart, to rebuild the kernel's state."""
        assert self.client is not None
        for index in indices:
            if not self._run_scratch(self.notebook.cells[index].source, self.limits.cell_timeout):
                return
