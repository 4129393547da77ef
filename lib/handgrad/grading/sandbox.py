"""Run one notebook cell by cell in an isolated kernel, with limits; one status per cell.

The executing client stays in the trusted process; only the kernel runs in the sandbox:
bubblewrap (a private mount tree with just the notebook's folder writable, the lib, the
Python install and the data read-only, no network, its own pid namespace) around
:mod:`handgrad.grading.jail` (memory, process and file-size limits, stdin closed).
Client and kernel talk over unix sockets in the work folder. Without bubblewrap the
kernel still gets the limits (isolation ``"limits"``), and the round says so.

A cell that runs past its timeout is interrupted; one that ignores the interrupt is
killed after a grace period. A dead or killed kernel is restarted and the cells that ran
before are replayed, so one bad cell costs only itself.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_core.utils import run_sync
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from handgrad import record


@dataclass(frozen=True)
class Limits:
    """What one student's notebook may use."""

    cell_timeout: float = 60.0        # seconds before a cell is interrupted
    grace: float = 5.0                # seconds an interrupted cell has to stop before the kernel is killed
    notebook_budget: float = 600.0    # seconds for the whole notebook; later cells are not run
    data_bytes: int = 3 << 30         # heap memory of the kernel and its children
    processes: int = 128              # processes and threads in the sandbox
    file_bytes: int = 64 << 20        # largest file the kernel may write
    output_bytes: int = 200_000       # output kept per cell (all streams and displays)
    output_lines: int = 2_000         # output lines kept per cell


@dataclass
class CellRun:
    """What happened to one code cell."""

    index: int
    status: str = "not_run"           # ok, error:<Name>, timeout, killed, kernel_died, oom, output_limit, budget
    error: str = ""                   # the exception's name and message, when one was raised
    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def bubblewrap_works() -> bool:
    """True when bubblewrap can create its namespaces on this machine."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-all", "--die-with-parent",
                            "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


def _readable_roots(extra: list[Path]) -> list[Path]:
    """The folders a kernel must read: system, Python install, virtualenv, the lib, data."""
    import handgrad

    lib = Path(handgrad.__file__).resolve().parent.parent
    roots = [Path(p) for p in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/opt")]
    roots += [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), lib] + extra
    return [root for root in roots if root.exists()]


# The kernel runs as this user when the round runs as root: a process limit counts per user,
# and root would be exempt from it.
SANDBOX_UID = 65534


def sandbox_command(workdir: Path, limits: Limits, read_only: list[Path], isolation: str) -> list[str]:
    """The prefix that puts a kernel command in the sandbox."""
    as_root = os.getuid() == 0
    jail = [sys.executable, "-m", "handgrad.grading.jail", "--data-bytes", str(limits.data_bytes),
            "--processes", str(limits.processes), "--file-bytes", str(limits.file_bytes)]
    jail += ["--user", str(SANDBOX_UID), "--"] if as_root else ["--"]
    if isolation != "bubblewrap":
        return jail
    # As root, keep the user namespace of the host so the jail can switch to the sandbox user.
    namespaces = (["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
                  if as_root else ["--unshare-all"])
    command = ["bwrap", *namespaces, "--die-with-parent", "--new-session",
               "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/home"]
    roots = _readable_roots(read_only)
    # bwrap creates missing parents of a mount point as root-only folders: open them to the sandbox user.
    parents = sorted({parent for path in roots + [workdir] for parent in path.parents if parent != Path("/")},
                     key=lambda path: len(path.parts))
    for parent in parents:
        if not any(parent == root or root in parent.parents for root in roots):
            command += ["--perms", "0755", "--dir", str(parent)]
    for root in roots:
        command += ["--ro-bind", str(root), str(root)]
    command += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir), "--setenv", "HOME", str(workdir),
                # In its own pid namespace the kernel's parent is pid 1, which ipykernel would take for an
                # orphaned kernel; --die-with-parent already ties its life to the client.
                "--setenv", "JPY_PARENT_PID", "1"]
    return command + ["--"] + jail


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command runs inside the sandbox prefix."""

    prefix: list[str] = []

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


class LimitedClient(NotebookClient):
    """A notebook client that keeps at most a budget of output per cell and says when it dropped some."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.flooded: set[int] = set()
        self._used: dict[int, tuple[int, int]] = {}

    def output(self, outs: list, msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        """Count the bytes and lines of each output message; past the budget, drop it."""
        content = msg.get("content", {})
        text = content.get("text", "") if msg["msg_type"] == "stream" else json.dumps(content.get("data", {}))
        used_bytes, used_lines = self._used.get(cell_index, (0, 0))
        used_bytes, used_lines = used_bytes + len(text), used_lines + text.count("\n")
        self._used[cell_index] = (used_bytes, used_lines)
        if used_bytes > self.limits.output_bytes or used_lines > self.limits.output_lines:
            self.flooded.add(cell_index)
            return None
        return super().output(outs, msg, display_id, cell_index)


def _error_of(cell: nbformat.NotebookNode) -> tuple[str, str] | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return output.get("ename", "Error"), output.get("evalue", "")
    return None


# The most record bytes read after one cell: a kernel cannot make the trusted process read without end.
MAX_RECORD_BYTES = 64 << 20


def _new_records(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Records appended to the file since ``offset``, and the new offset (read from outside the kernel).

    The file lives in the sandbox's writable folder, so it is opened without following links
    and read with a size cap: the kernel decides its content, never where the trusted process reads.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return [], offset
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            return [], offset
        stream.seek(offset)
        chunk = stream.read(MAX_RECORD_BYTES)
    return list(record.parse(chunk.decode("utf-8", errors="replace"))), offset + len(chunk)


class Runner:
    """One kernel in the sandbox, restartable, executing cells of one notebook."""

    def __init__(self, notebook: nbformat.NotebookNode, workdir: Path, limits: Limits, env: dict[str, str],
                 isolation: str, read_only: list[Path]) -> None:
        self.notebook, self.workdir, self.limits = notebook, workdir, limits
        self.env, self.isolation, self.read_only = env, isolation, read_only
        self.client: LimitedClient | None = None

    def start(self) -> None:
        """Start a fresh kernel (unix-socket transport in a new folder inside the work folder)."""
        # A new, unguessable folder per start: files a previous kernel left in the work folder (links
        # included) are never where this process writes the connection file.
        sockets = Path(tempfile.mkdtemp(prefix="k", dir=self.workdir))
        if os.getuid() == 0:
            os.chown(sockets, SANDBOX_UID, SANDBOX_UID)
        manager = SandboxKernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "k"))
        manager.prefix = sandbox_command(self.workdir, self.limits, self.read_only, self.isolation)
        manager.connection_file = str(sockets / "kernel.json")
        self.client = LimitedClient(self.notebook, km=manager, limits=self.limits, allow_errors=True,
                                    timeout=int(self.limits.cell_timeout), interrupt_on_timeout=False,
                                    startup_timeout=120, kernel_name="python3", resources={})
        self.client.start_new_kernel(env=self.env, cwd=str(self.workdir))
        self.client.start_new_kernel_client()

    def stop(self) -> None:
        """Kill the kernel and everything in its sandbox."""
        if self.client is None:
            return
        try:
            self.client._cleanup_kernel()
        except Exception:  # the kernel may already be gone; nothing to clean then
            pass
        self.client = None

    def execute(self, index: int) -> str:
        """Run one cell; the status it ended with."""
        assert self.client is not None
        cell = self.notebook.cells[index]
        try:
            self.client.execute_cell(cell, index)
        except CellTimeoutError:
            return self._after_timeout()
        except DeadKernelError:
            return "kernel_died"
        if index in self.client.flooded:
            return "output_limit"
        error = _error_of(cell)
        if error is None:
            return "ok"
        return "oom" if error[0] == "MemoryError" else f"error:{error[0]}"

    def _after_timeout(self) -> str:
        """Interrupt; if the kernel does not come back within the grace period, report it killed."""
        assert self.client is not None
        run_sync(self.client.km.interrupt_kernel)()
        return "timeout" if self._run_scratch("None", self.limits.grace) else "killed"

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


def run_notebook(notebook: nbformat.NotebookNode, workdir: Path, limits: Limits, env: dict[str, str],
                 isolation: str, read_only: list[Path] | None = None) -> list[CellRun]:
    """Execute every code cell of ``notebook`` (in place: outputs are filled) and say what happened to each."""
    workdir.mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        os.chown(workdir, SANDBOX_UID, SANDBOX_UID)
    records_path = workdir / "records.jsonl"
    kernel_env = {**env, record.ENV_VAR: str(records_path)}
    runner = Runner(notebook, workdir, limits, kernel_env, isolation, read_only or [])
    runs = [CellRun(index=i) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    deadline = time.monotonic() + limits.notebook_budget
    succeeded: list[int] = []
    offset = 0
    runner.start()
    try:
        for run in runs:
            if time.monotonic() > deadline:
                run.status = "budget"
                continue
            started = time.monotonic()
            run.status = runner.execute(run.index)
            run.seconds = time.monotonic() - started
            error = _error_of(notebook.cells[run.index])
            run.error = f"{error[0]}: {error[1]}" if error else ""
            run.records, offset = _new_records(records_path, offset)
            if run.status == "ok":
                succeeded.append(run.index)
            if run.status in ("killed", "kernel_died"):
                # The kernel may be gone or wedged: start afresh and rebuild the state of the good cells.
                runner.stop()
                runner.start()
                runner.replay(succeeded)
                _, offset = _new_records(records_path, offset)
    finally:
        runner.stop()
    return runs
