"""The reference run: the instructor's solution in its own sandbox, its records per cell, cached.

The judge compares every student's records with these, so a reference that fails any of its
own checks stops the round (fix ``source/`` first). The cache key covers the notebook, the
kernel's environment (seed salt included) and the lib's sources.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nbformat

from handgrad.grading import rebuild, sandbox
from handgrad.grading.limits import Limits
from handgrad.grading.results import InfrastructureError, Status


def lib_fingerprint() -> bytes:
    """A hash of the lib's sources: reference records are only reused for the same lib."""
    import handgrad

    digest = hashlib.sha256()
    for path in sorted(Path(handgrad.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.digest()


def reference_records(course: Path, assignment: str, limits: Limits, isolation: str, env: dict[str, str],
                      read_only: list[Path], workdir: Path) -> dict[str, list[dict[str, Any]]]:
    """grade_id -> the records the instructor's solution wrote in that cell (run once, then cached)."""
    source = course / "source" / assignment / f"{assignment}.ipynb"
    key = hashlib.sha256(source.read_bytes() + json.dumps(env, sort_keys=True).encode()
                         + lib_fingerprint()).hexdigest()[:16]
    cache = course / ".handgrad" / "reference" / f"{assignment}-{key}.json"
    if cache.exists():
        cached: dict[str, list[dict[str, Any]]] = json.loads(cache.read_text())
        return cached
    notebook = nbformat.read(str(source), as_version=4)
    runs = sandbox.run_notebook(notebook, workdir, limits, env, isolation, read_only,
                                through=rebuild.last_graded_index(notebook))   # as a student's run
    by_index = {run.index: run for run in runs}
    records: dict[str, list[dict[str, Any]]] = {}
    for index, cell in enumerate(notebook.cells):
        if rebuild.is_autograded(cell):
            run = by_index[index]
            grade_id = rebuild.nbgrader_meta(cell)["grade_id"]
            if run.status is not Status.OK or not all(r.get("passed") for r in run.records):
                raise InfrastructureError(f"the reference solution of {assignment} fails cell '{grade_id}' "
                                          f"({run.status.value}: {run.error[:300]}); fix source/ before grading")
            records[grade_id] = run.records
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(records))
    return records
