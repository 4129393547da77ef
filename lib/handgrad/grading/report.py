"""What the instructor reads after a round: reports/grades.csv, the grade table, the summary."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from handgrad.grading.results import Result, Status

CSV_COLUMNS = ["student", "assignment", "grade_id", "score", "max_score", "status"]


def write_csv(path: Path, results: list[Result]) -> None:
    """One row per graded cell of every result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for result in results:
            for cell in result.cells:
                writer.writerow([result.student, result.assignment, cell.grade_id, f"{cell.score:g}",
                                 f"{cell.max_score:g}", cell.label])


def faults_text(result: Result) -> str:
    """The cells that lost points for a fault, by label and count (``-`` when none)."""
    faults = Counter(cell.label for cell in result.cells if cell.status not in (Status.OK, Status.MANUAL))
    return ", ".join(f"{label} x{count}" for label, count in sorted(faults.items())) or "-"


def print_table(results: list[Result], stream: TextIO | None = None, detail: bool = False) -> None:
    """The grade table: one line per student and assignment, or per graded cell too with ``detail``."""
    stream = stream or sys.stdout
    if not detail:
        # A real class has tens of thousands of cells: the default is one line per submission.
        print(f"{'student':14s} {'assignment':16s} {'score':>9s}  {'seconds':>7s}  faults", file=stream)
        for result in results:
            note = f" [{result.status.value}: {result.reason}]" if result.status is not Status.OK else ""
            print(f"{result.student:14s} {result.assignment:16s} {result.score():>4g}/{result.autograded_max():<4g}  "
                  f"{result.seconds:>7.1f}  {faults_text(result)}{note}", file=stream)
        return
    print(f"{'student':14s} {'assignment':16s} {'cell':28s} {'score':>9s}  status", file=stream)
    for result in results:
        for cell in result.cells:
            print(f"{result.student:14s} {result.assignment:16s} {cell.grade_id:28s} "
                  f"{cell.score:>4g}/{cell.max_score:<4g}  {cell.label}", file=stream)
        note = f" [{result.status.value}: {result.reason}]" if result.status is not Status.OK else ""
        print(f"{result.student:14s} {result.assignment:16s} {'TOTAL (autograded)':28s} "
              f"{result.score():>4g}/{result.autograded_max():<4g}  {result.seconds:.1f}s{note}", file=stream)


def print_review(results: list[Result], stream: TextIO | None = None) -> None:
    """The solution lines that passed while reaching into internals: for a person to look at."""
    stream = stream or sys.stdout
    items = [item for result in results for item in result.review]
    if not items:
        return
    print(f"\nto review ({len(items)}): passing solution cells that reach into the grader, the kernel or "
          "module internals", file=stream)
    for item in items:
        print(f"  {item.student}/{item.assignment} cell '{item.cell}' line {item.line}: {item.reason}\n"
              f"      {item.code}", file=stream)


def summary(results: list[Result]) -> dict[str, Any]:
    """Students graded, faults by status, submissions not graded, and the lines to review."""
    faults = Counter(cell.label for r in results for cell in r.cells if cell.status not in (Status.OK, Status.MANUAL))
    return {"students": len({r.student for r in results}), "submissions": len(results),
            "faults": dict(sorted(faults.items())),
            "not_graded": {f"{r.student}/{r.assignment}": f"{r.status.value}: {r.reason}" for r in results
                           if r.status is not Status.OK},
            "to_review": [asdict(item) for item in (i for r in results for i in r.review)]}
