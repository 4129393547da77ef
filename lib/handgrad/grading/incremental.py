"""Incremental rounds: a submission whose inputs are unchanged since the last round reuses its result.

The key of one student's notebook for one assignment covers everything its grade depends on: the
submitted file's bytes, the instructor's source notebook, the lib's sources, the versions of
Python and of the packages the kernel imports, the data files (names, sizes, modification
times), the kernel's environment variables (seed salt included), the limits and the isolation.
The recorded result lives in ``.handgrad/results/<student>/<assignment>.json`` next to its key;
``--force`` ignores it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

from handgrad.grading.limits import Limits
from handgrad.grading.reference import lib_fingerprint
from handgrad.grading.results import CellVerdict, Result, ReviewItem, Status
from handgrad.grading.submission import read_bytes

FORMAT = 2   # bumped when the stored form or the statuses of a Result change: older entries are then regraded
# What a notebook's kernel imports, directly or to run it: a new version can change a grade.
PACKAGES = ("numpy", "torch", "torchvision", "matplotlib", "ipywidgets", "ipykernel", "jupyter_client",
            "nbclient", "nbformat", "nbgrader")


def cache_path(course: Path, student: str, assignment: str) -> Path:
    """Where the recorded result of one student's notebook for one assignment is kept."""
    return course / ".handgrad" / "results" / student / f"{assignment}.json"


def environment_fingerprint(data_root: Path | None) -> bytes:
    """Python's and the kernel packages' versions, and each data file's name, size and modification time."""
    versions = {"python": sys.version}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    files = []   # sizes and times, not contents: hashing the data set every round would cost seconds
    if data_root is not None and data_root.is_dir():
        for path in sorted(data_root.rglob("*")):
            if path.is_file():
                stat = path.stat()
                files.append([str(path.relative_to(data_root)), stat.st_size, stat.st_mtime_ns])
    return json.dumps([versions, str(data_root), files], sort_keys=True).encode()


def unit_key(course: Path, student: str, assignment: str, env: dict[str, str], limits: Limits,
             isolation: str, lib: bytes | None = None, environment: bytes | None = None) -> str | None:
    """The hash of every input of the unit; None when the submission is not a plain file (always regraded).

    ``lib`` and ``environment`` (from :func:`lib_fingerprint` and :func:`environment_fingerprint`) are
    computed here when not given; a round computes them once.
    """
    raw = read_bytes(course / "submitted", Path(student, assignment, f"{assignment}.ipynb"))
    if not isinstance(raw, bytes):
        return None   # missing or rejected: grading it runs no kernel, and a stored key would hide a new file
    digest = hashlib.sha256()
    for part in (raw, (course / "source" / assignment / f"{assignment}.ipynb").read_bytes(),
                 lib if lib is not None else lib_fingerprint(),
                 environment if environment is not None else environment_fingerprint(None),
                 json.dumps([env, dataclasses.asdict(limits), isolation, FORMAT], sort_keys=True).encode()):
        digest.update(hashlib.sha256(part).digest())   # each part hashed alone: no two inputs run together
    return digest.hexdigest()


def _to_json(result: Result) -> dict[str, Any]:
    """A Result as plain JSON (statuses by value)."""
    data = dataclasses.asdict(result)
    del data["page"]      # large (the page's styles): kept as the file feedback/, not in the record
    data["status"] = result.status.value
    for cell in data["cells"]:
        cell["status"] = cell["status"].value if isinstance(cell["status"], Status) else cell["status"]
    return data


def _from_json(data: dict[str, Any]) -> Result:
    """The Result written by :func:`_to_json`."""
    cells = [CellVerdict(**{**cell, "status": Status(cell["status"])}) for cell in data.pop("cells")]
    review = [ReviewItem(**item) for item in data.pop("review")]
    return Result(**{**data, "status": Status(data["status"]), "cells": cells, "review": review})


def load(course: Path, student: str, assignment: str, key: str | None) -> Result | None:
    """The recorded result when it was made from exactly these inputs, else None."""
    path = cache_path(course, student, assignment)
    if key is None or not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("key") != key:
            return None
        return _from_json(stored["result"])
    except (ValueError, KeyError, TypeError):   # an unreadable or older entry: grade again
        return None


def store(course: Path, result: Result, key: str | None) -> None:
    """Record a fresh result under its key (nothing for an unkeyed submission)."""
    path = cache_path(course, result.student, result.assignment)
    if key is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"key": key, "result": _to_json(result)}), encoding="utf-8")
    temporary.replace(path)
