"""handgrad.grading.submission: only a plain notebook file is read; links, folders and devices are rejected."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from handgrad.grading import submission
from handgrad.grading.results import Status

ID = "02_activations"
RELATIVE = Path("alice") / ID / f"{ID}.ipynb"


def notebook_text(source: str = "x = 1") -> str:
    return nbformat.writes(new_notebook(cells=[new_code_cell(source)]))


@pytest.fixture
def submitted(tmp_path: Path) -> Path:
    """A course's submitted/ folder with alice's folder for the assignment (no notebook yet) and bob's notebook."""
    root = tmp_path / "course" / "submitted"
    (root / "alice" / ID).mkdir(parents=True)
    (root / "bob" / ID).mkdir(parents=True)
    (root / "bob" / ID / f"{ID}.ipynb").write_text(notebook_text("bob = 1"))
    source = tmp_path / "course" / "source" / ID
    source.mkdir(parents=True)
    (source / f"{ID}.ipynb").write_text(notebook_text("solution = 42"))
    return root


def test_a_plain_notebook_is_read(submitted: Path) -> None:
    (submitted / RELATIVE).write_text(notebook_text("mine = 3"))
    read = submission.read_submission(submitted, RELATIVE)
    assert (read.status, read.reason) == (Status.OK, "")
    assert read.notebook is not None and read.notebook.cells[0].source == "mine = 3"


@pytest.mark.parametrize("relative", [RELATIVE, Path("carol") / ID / f"{ID}.ipynb",
                                      Path("bob") / "03_loss" / "03_loss.ipynb"])
def test_nothing_there_is_missing(submitted: Path, relative: Path) -> None:
    read = submission.read_submission(submitted, relative)
    assert (read.notebook, read.status) == (None, Status.MISSING)
    assert str(relative) in read.reason


def plant_link_to_source(submitted: Path) -> None:
    os.symlink(submitted.parent / "source" / ID / f"{ID}.ipynb", submitted / RELATIVE)


def plant_link_to_other_student(submitted: Path) -> None:
    os.symlink(submitted / "bob" / ID / f"{ID}.ipynb", submitted / RELATIVE)


def plant_relative_link(submitted: Path) -> None:
    os.symlink(f"../../bob/{ID}/{ID}.ipynb", submitted / RELATIVE)


def plant_hard_link_to_source(submitted: Path) -> None:
    os.link(submitted.parent / "source" / ID / f"{ID}.ipynb", submitted / RELATIVE)


def plant_dangling_link(submitted: Path) -> None:
    os.symlink("/nonexistent/notebook.ipynb", submitted / RELATIVE)


def plant_assignment_folder_link(submitted: Path) -> None:
    (submitted / "alice" / ID).rmdir()
    os.symlink(submitted.parent / "source" / ID, submitted / "alice" / ID)


def plant_student_folder_link(submitted: Path) -> None:
    (submitted / "alice" / ID).rmdir()
    (submitted / "alice").rmdir()
    os.symlink(submitted / "bob", submitted / "alice")


def plant_folder(submitted: Path) -> None:
    (submitted / RELATIVE).mkdir()
    (submitted / RELATIVE / "inside.ipynb").write_text(notebook_text())


def plant_fifo(submitted: Path) -> None:
    os.mkfifo(submitted / RELATIVE)


def plant_device(submitted: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("creating a device node needs root")
    os.mknod(submitted / RELATIVE, 0o644 | stat.S_IFCHR, os.makedev(1, 3))   # a copy of /dev/null


def plant_link_to_device(submitted: Path) -> None:
    os.symlink("/dev/zero", submitted / RELATIVE)


def plant_socket(submitted: Path) -> None:
    import socket

    here = os.getcwd()
    os.chdir(submitted / RELATIVE.parent)       # a short relative name: socket paths are limited to 107 bytes
    try:
        server = socket.socket(socket.AF_UNIX)
        server.bind(RELATIVE.name)
        server.close()
    finally:
        os.chdir(here)


REJECTED = {
    plant_link_to_source: ("a symbolic link", "source"),
    plant_link_to_other_student: ("a symbolic link", "bob"),
    plant_relative_link: ("a symbolic link", "bob"),
    plant_dangling_link: ("a symbolic link", "/nonexistent"),
    plant_hard_link_to_source: ("a hard link", "2 names"),
    plant_assignment_folder_link: ("a symbolic link", "source"),
    plant_student_folder_link: ("a symbolic link", "bob"),
    plant_folder: ("a folder", ""),
    plant_fifo: ("not a plain file", ""),
    plant_device: ("not a plain file", ""),
    plant_link_to_device: ("a symbolic link", "/dev/zero"),
    plant_socket: ("not a plain file", ""),
}


@pytest.mark.parametrize("plant", list(REJECTED), ids=[p.__name__.removeprefix("plant_") for p in REJECTED])
def test_what_is_not_a_plain_file_is_rejected_never_followed(submitted: Path, plant) -> None:
    plant(submitted)
    read = submission.read_submission(submitted, RELATIVE)   # a FIFO would block a reader that followed it
    words, target = REJECTED[plant]
    assert (read.notebook, read.status) == (None, Status.REJECTED)
    assert words in read.reason and target in read.reason and "never followed" in read.reason


def test_an_oversized_file_is_rejected_unread(submitted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(submission, "MAX_BYTES", 100)
    (submitted / RELATIVE).write_text(notebook_text())
    read = submission.read_submission(submitted, RELATIVE)
    assert (read.notebook, read.status) == (None, Status.REJECTED)
    assert "larger than" in read.reason


CORRUPT = {
    "bad-json": "{not json",
    "empty": "",
    "list": "[1, 2, 3]",
    "string": '"a notebook"',
    "null": "null",
    "number": "3",
    "no-cells": '{"metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    "cells-not-a-list": '{"cells": {"a": 1}, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    "cells-not-dicts": '{"cells": [1, "x", null], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    "cell-without-type": '{"cells": [{"source": "x"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    "cell-type-not-str": '{"cells": [{"cell_type": 3, "source": "x"}], "metadata": {}, "nbformat": 4}',
    "deeply-nested": "[" * 100_000 + "]" * 100_000,
    "truncated": notebook_text()[:40],
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_corrupt_submissions(submitted: Path, name: str) -> None:
    (submitted / RELATIVE).write_text(CORRUPT[name], encoding="utf-8")
    read = submission.read_submission(submitted, RELATIVE)
    assert (read.notebook, read.status) == (None, Status.CORRUPT)
    assert read.reason.startswith("not a readable notebook")


def test_binary_garbage_is_corrupt(submitted: Path) -> None:
    (submitted / RELATIVE).write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    assert submission.read_submission(submitted, RELATIVE).status is Status.CORRUPT


def test_odd_fields_are_normalised_so_that_merging_cannot_fail() -> None:
    raw = ('{"cells": [{"cell_type": "code", "source": ["a = 1\\n", "b = 2"], "metadata": "junk", "outputs": 5},'
           ' {"cell_type": "markdown", "source": 7}], "metadata": [], "nbformat": 4, "nbformat_minor": 5}')
    read = submission.parse(raw.encode())
    assert read.notebook is not None
    code, text = read.notebook.cells
    assert (code.source, code.metadata, code.outputs) == ("a = 1\nb = 2", {}, [])
    assert text.source == "7"
    assert read.notebook.metadata == {}
