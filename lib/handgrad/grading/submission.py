"""The student's file -> a notebook, or why there is none: missing, rejected or corrupt.

Only a plain file is graded. Every folder on the way from ``submitted/`` and the file itself
are opened without following symbolic links, so a submission that is a link (to ``source/``,
to another student, to a device), a hard link (a file with other names), a folder named like
the notebook, a FIFO or a device is refused with status ``rejected`` and a reason, never read.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import nbformat

from handgrad.grading.results import Status

# The largest notebook read: a student's file cannot make the grader read without end.
MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class Submission:
    """The student's notebook, or (no notebook) the status and reason why not."""

    notebook: nbformat.NotebookNode | None
    status: Status = Status.OK
    reason: str = ""


def _refused(shown: str, mode: int, target: str) -> Submission:
    """The rejection for an entry of the given file mode that is not what was expected."""
    if stat.S_ISLNK(mode):
        what = f"a symbolic link (to {target})"
    elif stat.S_ISDIR(mode):
        what = "a folder"
    else:
        what = "not a plain file (a FIFO, a device or a socket)"
    return Submission(None, Status.REJECTED, f"{shown} is {what}: only a plain notebook file is graded, "
                                             "links are never followed")


def read_bytes(root: Path, relative: Path) -> Submission | bytes:
    """The bytes of ``root/relative``, opened component by component without following links."""
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY)   # submitted/ itself is the instructor's
    try:
        for depth, part in enumerate(relative.parts):
            shown = "/".join(relative.parts[: depth + 1])
            try:
                mode = os.stat(part, dir_fd=folder, follow_symlinks=False).st_mode
            except FileNotFoundError:
                return Submission(None, Status.MISSING, f"no submission at {relative}")
            last = depth == len(relative.parts) - 1
            if not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):
                target = os.readlink(part, dir_fd=folder) if stat.S_ISLNK(mode) else ""
                return _refused(shown, mode, target)
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | (0 if last else os.O_DIRECTORY)
            opened = os.open(part, flags, dir_fd=folder)
            os.close(folder)
            folder = opened
        info = os.fstat(folder)
        if not stat.S_ISREG(info.st_mode):        # swapped between the check and the open
            return _refused(str(relative), info.st_mode, "")
        if info.st_nlink > 1:                     # the same file as another name: source/ or another student
            return Submission(None, Status.REJECTED, f"{relative} is a hard link (the file has {info.st_nlink} "
                                                     "names): only a notebook file of its own is graded, "
                                                     "links are never followed")
        if info.st_size > MAX_BYTES:
            return Submission(None, Status.REJECTED, f"{relative} is larger than {MAX_BYTES >> 20} MB")
        with os.fdopen(os.dup(folder), "rb") as stream:
            return stream.read(MAX_BYTES + 1)
    finally:
        os.close(folder)


def parse(raw: bytes) -> Submission:
    """A notebook from the file's bytes, normalised so that merging it cannot fail; else ``corrupt``."""
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
        if not isinstance(data, dict):
            raise TypeError("not a JSON object")
        notebook = nbformat.from_dict(data)
        if not isinstance(notebook.get("cells"), list):
            raise TypeError("no list of cells")
        if not isinstance(notebook.get("metadata", {}), dict):
            notebook["metadata"] = nbformat.NotebookNode()
        for cell in notebook.cells:
            if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
                raise TypeError("a cell without a type")
            source = cell.get("source", "")
            cell["source"] = "".join(map(str, source)) if isinstance(source, list) else str(source)
            if not isinstance(cell.get("metadata", {}), dict):
                cell["metadata"] = nbformat.NotebookNode()
            if not isinstance(cell.get("outputs", []), list):
                cell["outputs"] = []
    except (ValueError, TypeError, RecursionError) as error:   # bad or absurdly nested JSON: the student's file
        return Submission(None, Status.CORRUPT, f"not a readable notebook: {type(error).__name__}: {str(error)[:200]}")
    return Submission(notebook)


def read_submission(root: Path, relative: Path) -> Submission:
    """The notebook at ``root/relative`` (``root`` is the course's submitted/ folder), or why there is none."""
    return decode(read_bytes(root, relative), relative)


def decode(raw: Submission | bytes, relative: Path) -> Submission:
    """What :func:`read_bytes` gave -> the notebook, or why there is none (a unit decodes on its worker)."""
    if isinstance(raw, Submission):
        return raw
    if len(raw) > MAX_BYTES:
        return Submission(None, Status.REJECTED, f"{relative} is larger than {MAX_BYTES >> 20} MB")
    return parse(raw)
