"""What one student's notebook may use in the sandbox: time, memory, processes, files, output."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """The limits of one sandboxed notebook run."""

    cell_timeout: float = 60.0        # seconds before a cell is interrupted
    grace: float = 5.0                # seconds an interrupted cell has to stop before the kernel is killed
    notebook_budget: float = 600.0    # seconds for the whole notebook; later cells are not run
    data_bytes: int = 3 << 30         # heap memory of the kernel and its children
    processes: int = 128              # processes and threads in the sandbox
    file_bytes: int = 64 << 20        # largest file the kernel may write
    output_bytes: int = 200_000       # output kept per cell (all streams and displays)
    output_lines: int = 2_000         # output lines kept per cell
