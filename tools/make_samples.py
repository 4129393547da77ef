"""Write the sample submissions in submitted/ from release/ and source/.

    python tools/make_samples.py            # every released assignment
    python tools/make_samples.py 05_batchnorm 06_mlp   # only these

`reference`: the release with the instructor's solution cells (full marks);
`blank`: the untouched release (zero, no crash);
`buggy`: the release with the solutions and typical mistakes (partial marks): the bugs named
by `buggy_sample` in the notebook's catalogue (tests/notebooks/catalogues/<id>.py).
tests/test_samples.py proves the files are what this script writes.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

COURSE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(COURSE))
from tests.notebooks import catalogue  # noqa: E402  (the course root is not installed)


def _solutions(notebook: nbformat.NotebookNode) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in notebook.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def submission(release: nbformat.NotebookNode, cells: dict[str, str]) -> nbformat.NotebookNode:
    """The release notebook with some solution cells filled in."""
    filled = copy.deepcopy(release)
    for cell in filled.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in cells and cell.metadata["nbgrader"].get("solution"):
            cell.source = cells[grade_id]
    return filled


def samples(assignment: str) -> dict[str, nbformat.NotebookNode]:
    """student -> notebook for the three sample students."""
    release = nbformat.read(str(COURSE / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    source = nbformat.read(str(COURSE / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    solutions = _solutions(source)
    return {"reference": submission(release, solutions), "blank": release,
            "buggy": submission(release, {**solutions, **catalogue.load(assignment).buggy_cells()})}


def main() -> None:
    """Write the samples of the assignments named on the command line (all released ones by default)."""
    released = sorted(folder.name for folder in (COURSE / "release").iterdir())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                        help=f"assignment ids (default: all of {', '.join(released)})")
    chosen = parser.parse_args().assignments or released
    unknown = sorted(set(chosen) - set(released))
    if unknown:
        parser.error(f"no released assignment named {', '.join(unknown)}")
    for assignment in chosen:
        for student, notebook in samples(assignment).items():
            path = COURSE / "submitted" / student / assignment / f"{assignment}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, str(path))
            print(f"wrote {path.relative_to(COURSE)}")


if __name__ == "__main__":
    main()
