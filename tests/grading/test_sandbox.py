"""The sandbox: reading records from the kernel's folder, the command prefix, and a run that stops at a cell."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest

from handgrad import record
from handgrad.grading import bubblewrap, sandbox
from handgrad.grading.limits import Limits


def test_new_records_are_read_from_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    record.append(path, {"check": "a", "passed": True})
    first, offset = sandbox.new_records(path, 0)
    record.append(path, {"check": "b", "passed": False})
    with open(path, "a") as stream:
        stream.write("not json\n")
    second, end = sandbox.new_records(path, offset)
    assert [r["check"] for r in first] == ["a"] and [r["check"] for r in second] == ["b"]
    assert end == path.stat().st_size


def test_records_are_never_read_through_a_link_a_fifo_or_a_folder(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jsonl"
    record.append(secret, {"check": "forged", "passed": True})
    os.symlink(secret, tmp_path / "link.jsonl")
    os.mkfifo(tmp_path / "fifo.jsonl")        # opening it for reading would block a careless reader
    (tmp_path / "folder.jsonl").mkdir()
    for name in ("link.jsonl", "fifo.jsonl", "folder.jsonl", "absent.jsonl"):
        assert sandbox.new_records(tmp_path / name, 7) == ([], 7)


def test_the_jail_comes_last_with_the_limits(tmp_path: Path) -> None:
    limits = Limits(data_bytes=123, processes=7, file_bytes=456)
    for isolation in ("limits", "bubblewrap"):
        command = bubblewrap.sandbox_command(tmp_path, limits, [], isolation)
        jail = command[command.index("handgrad.grading.jail") - 2:]
        assert jail[jail.index("--data-bytes") + 1] == "123" and jail[jail.index("--processes") + 1] == "7"
        assert jail[-1] == "--"
    assert bubblewrap.sandbox_command(tmp_path, limits, [], "limits")[0] != "bwrap"


def test_bubblewrap_binds_only_the_work_folder_writable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "work").mkdir()
    command = bubblewrap.sandbox_command(tmp_path / "work", Limits(), [data], "bubblewrap")
    assert command[0] == "bwrap" and "--die-with-parent" in command
    writable = [command[i + 1] for i, arg in enumerate(command) if arg == "--bind"]
    read_only = [command[i + 1] for i, arg in enumerate(command) if arg == "--ro-bind"]
    assert writable == [str(tmp_path / "work")]
    assert str(data) in read_only and "/usr" in read_only
    assert not any(path.startswith(str(Path.home())) and "source" in path for path in read_only)


@pytest.mark.skipif(not bubblewrap.bubblewrap_works(), reason="bubblewrap does not work here")
def test_a_run_through_a_cell_leaves_the_cells_after_it_unrun() -> None:
    ran = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"print('{text}')")
                                          for text in ("graded", "last graded", "experiment")])
    workdir = Path(tempfile.mkdtemp(prefix="hg-"))       # short: the kernel's unix sockets live there
    try:
        runs = sandbox.run_notebook(ran, workdir, Limits(), {}, "bubblewrap", through=1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    assert [(run.index, run.status.value) for run in runs] == [(0, "ok"), (1, "ok")]
    assert ran.cells[1].outputs[0]["text"] == "last graded\n"
    assert ran.cells[2].outputs == [] and ran.cells[2].execution_count is None


@pytest.mark.skipif(os.getuid() != 0 or not bubblewrap.bubblewrap_works(),
                    reason="only root runs each kernel as a user of its own; bubblewrap needed")
def test_kernels_running_at_once_share_no_process_limit() -> None:
    """One student's kernel taking every process it may leaves another's, running meanwhile, its own."""
    hog = ("import subprocess\nkids = []\ntry:\n    while len(kids) < 200:\n"
           "        kids.append(subprocess.Popen(['sleep', '30']))\nexcept OSError:\n    pass\nprint(len(kids))")
    spawn = ("import subprocess\nkids = []\ntry:\n    while len(kids) < 5:\n"
             "        kids.append(subprocess.Popen(['sleep', '30']))\nexcept OSError:\n    pass\nprint(len(kids))")
    folders = [Path(tempfile.mkdtemp(prefix="hg-")) for _ in range(2)]
    runners = [sandbox.prepare(folder, Limits(processes=40), {}, "bubblewrap") for folder in folders]
    try:
        for runner, source in zip(runners, (hog, spawn)):
            runner.adopt(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]))
            runner.start()                                # both kernels run at once
        statuses = [runner.execute(0)[0].value for runner in runners]
        printed = [runner.notebook.cells[0].outputs[0].get("text", "").strip() for runner in runners]
    finally:
        for runner, folder in zip(runners, folders):
            runner.stop()
            shutil.rmtree(folder, ignore_errors=True)
    assert statuses == ["ok", "ok"]
    assert 0 < int(printed[0]) < 40                      # the first kernel reached its limit
    assert printed[1] == "5"                             # the second still starts its own
