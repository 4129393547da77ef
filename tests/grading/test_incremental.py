"""Incremental rounds: only a unit whose inputs changed runs a kernel again; --force regrades all."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handgrad.grading import incremental, sandbox
from handgrad.grading.limits import Limits
from handgrad.grading.results import CellVerdict, Result, ReviewItem, Status
from handgrad.grading.round import run_round

ID = "03_loss"
STUDENTS = ("buggy", "reference")


def test_rounds_rerun_only_what_changed(course_copy: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    course = course_copy(f"source/{ID}", *(f"submitted/{student}/{ID}" for student in STUDENTS))
    kernels: list[str] = []
    real_run = sandbox.run_notebook

    def counted(*args: Any, **kwargs: Any) -> Any:
        kernels.append(str(args[1]))          # the scratch folder: one entry per kernel started
        return real_run(*args, **kwargs)

    monkeypatch.setattr(sandbox, "run_notebook", counted)

    def round_(**options: Any) -> tuple[dict[str, float], dict[str, Any], int]:
        before = len(kernels)
        results, facts = run_round(course, [ID], **{"do_release": False, **options})
        return {r.student: r.score() for r in results}, facts, len(kernels) - before

    first, facts, started = round_(do_release=True)
    assert (facts["graded"], facts["reused"], started) == (2, 0, 3)     # the reference run, then two students
    assert first["reference"] > first["buggy"]

    # A reused result keeps the page written before; a page that is gone is written again.
    pages = {student: course / "feedback" / student / ID / f"{ID}.html" for student in STUDENTS}
    pages["buggy"].unlink()
    written = pages["reference"].stat().st_mtime_ns
    again, facts, started = round_()
    assert (again, facts["graded"], facts["reused"], started) == (first, 0, 2, 0)
    assert pages["reference"].stat().st_mtime_ns == written
    assert "Autograded score" in pages["buggy"].read_text()
    assert "<html" not in incremental.cache_path(course, "buggy", ID).read_text()   # no page in the record

    # One student hands in a new notebook (here: the reference's answers): only that one runs again.
    shutil.copyfile(course / "submitted" / "reference" / ID / f"{ID}.ipynb",
                    course / "submitted" / "buggy" / ID / f"{ID}.ipynb")
    changed, facts, started = round_()
    assert (facts["graded"], facts["reused"], started) == (1, 1, 1)
    assert changed == {"buggy": first["reference"], "reference": first["reference"]}

    # A changed source notebook reruns its whole assignment (and its reference, whose cache key changed too).
    source = course / "source" / ID / f"{ID}.ipynb"
    notebook = json.loads(source.read_text())
    notebook["cells"].append({"cell_type": "markdown", "id": "closing-remark", "metadata": {},
                              "source": "A closing remark."})
    source.write_text(json.dumps(notebook))
    _, facts, started = round_(do_release=True)
    assert (facts["graded"], facts["reused"], started) == (2, 0, 3)

    _, facts, started = round_(force=True)
    assert (facts["graded"], facts["reused"], started) == (2, 0, 2)


def test_a_recorded_result_round_trips_and_a_stale_key_is_not_reused(tmp_path: Path) -> None:
    result = Result("ann", ID, Status.OK, notes=["a note"],
                    cells=[CellVerdict("test_softmax", 2.0, 0.0, Status.ERROR, "boom", "CheckFailed")],
                    review=[ReviewItem("ann", ID, "softmax", 3, "x._data", "internals")],
                    notebook={"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, seconds=1.5)
    incremental.store(tmp_path, dataclasses.replace(result, page="<html>the page</html>"), "key-1")
    assert incremental.load(tmp_path, "ann", ID, "key-1") == result       # the page is not part of the record
    assert incremental.load(tmp_path, "ann", ID, "key-2") is None
    assert incremental.load(tmp_path, "ann", ID, None) is None
    incremental.cache_path(tmp_path, "ann", ID).write_text("{not json")
    assert incremental.load(tmp_path, "ann", ID, "key-1") is None


def test_the_key_covers_salt_limits_isolation_and_no_plain_file_has_one(course_copy: Callable[..., Path]) -> None:
    course = course_copy(f"source/{ID}", f"submitted/reference/{ID}")
    (course / "submitted" / "ann").mkdir()
    (course / "submitted" / "ann" / ID).symlink_to(course / "submitted" / "reference" / ID)
    env: dict[str, str] = {}
    key = incremental.unit_key(course, "reference", ID, env, Limits(), "limits")
    assert key is not None
    assert key != incremental.unit_key(course, "reference", ID, {"HANDGRAD_SEED_SALT": "new"}, Limits(), "limits")
    assert key != incremental.unit_key(course, "reference", ID, env, Limits(cell_timeout=5), "limits")
    assert key != incremental.unit_key(course, "reference", ID, env, Limits(), "bubblewrap")
    assert incremental.unit_key(course, "ann", ID, env, Limits(), "limits") is None
    assert incremental.unit_key(course, "bob", ID, env, Limits(), "limits") is None


def test_the_key_covers_package_versions_and_the_data_files(course_copy: Callable[..., Path], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    course = course_copy(f"source/{ID}", f"submitted/reference/{ID}")
    data_root = tmp_path / "fashion-mnist"
    data_root.mkdir()
    (data_root / "train-images-idx3-ubyte.gz").write_bytes(b"images")

    def key() -> str | None:
        environment = incremental.environment_fingerprint(data_root)
        return incremental.unit_key(course, "reference", ID, {}, Limits(), "limits", environment=environment)

    before = key()
    assert before is not None and key() == before          # nothing changed: the same key
    real_version = incremental.importlib.metadata.version
    monkeypatch.setattr(incremental.importlib.metadata, "version",
                        lambda name: "99.0" if name == "torch" else real_version(name))
    assert key() != before                                   # a new torch: regraded
    monkeypatch.undo()
    assert key() == before
    (data_root / "train-images-idx3-ubyte.gz").write_bytes(b"other images")
    assert key() != before                                   # new data: regraded
