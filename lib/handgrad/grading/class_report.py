"""The class report: per assignment, the score distribution, each graded cell's pass rate and the
class's most common failures (reports/class_report.md with PNG figures in reports/class_report/).

The failures are read from the verdicts' messages, the text students see in their feedback (a
check's id, what was compared and its hint; never hidden code or expected values).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from handgrad.grading.results import CellVerdict, Result, Status

TOP_FAILURES = 3          # failures listed per cell, most common first
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def failure_key(cell: CellVerdict) -> str:
    """A failed cell's mistake in words: its check id and hint, else its first line with the numbers blanked
    (the values of one student's run), else its status."""
    if cell.status is Status.NOT_ATTEMPTED:
        return "not attempted"
    if cell.status not in (Status.FAILED, Status.ERROR) or not cell.message.strip():
        return cell.label
    check = re.match(r"\[([^\]]+)\]\s*", cell.message)
    hint = re.search(r"hint: (.+)", cell.message)
    if hint:        # a hint is the check's fixed text: the numbers in it are part of the advice
        text = hint.group(1).strip()
    else:           # the same mistake with other numbers counts once
        text = NUMBER.sub("#", cell.message[check.end() if check else 0:].splitlines()[0].strip())
    return f"[{check.group(1)}] {text}" if check else text


def _fraction(result: Result) -> float:
    """The autograded score of one result as a percentage of its maximum."""
    maximum = result.autograded_max()
    return 100.0 * result.score() / maximum if maximum else 0.0


def _cells(results: list[Result]) -> dict[str, list[CellVerdict]]:
    """grade_id -> the autograded verdicts of that cell over the class, in notebook order."""
    cells: dict[str, list[CellVerdict]] = {}
    for result in results:
        for cell in result.cells:
            if cell.status is not Status.MANUAL:
                cells.setdefault(cell.grade_id, []).append(cell)
    return cells


def _scores_figure(assignment: str, results: list[Result]) -> Figure:
    """Histogram of the class's autograded scores (percent of the maximum)."""
    figure = Figure(figsize=(6, 3.2))
    ax = figure.subplots()
    ax.hist([_fraction(r) for r in results], bins=list(range(0, 101, 10)), color="0.35", edgecolor="black")
    ax.set(title=f"{assignment}: autograded score of {len(results)} students", xlabel="score (% of the maximum)",
           ylabel="students", xlim=(0, 100))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))     # whole students
    figure.tight_layout()
    return figure


def _pass_rates_figure(assignment: str, cells: dict[str, list[CellVerdict]]) -> Figure:
    """One horizontal bar per graded cell: the share of the class that passed it."""
    names = list(cells)
    rates = [100.0 * sum(c.status is Status.OK for c in cells[name]) / len(cells[name]) for name in names]
    figure = Figure(figsize=(6, 0.9 + 0.28 * len(names)))
    ax = figure.subplots()
    ax.barh(range(len(names)), rates, color="0.35", edgecolor="black")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set(title=f"{assignment}: pass rate of each graded cell", xlabel="students who passed (%)", xlim=(0, 100))
    figure.tight_layout()
    return figure


def _cell_table(cells: dict[str, list[CellVerdict]]) -> list[str]:
    """Markdown rows: cell, points, passed, pass rate, the most common failures with counts."""
    rows = ["| cell | points | passed | pass rate | most common failures (students) |", "|---|---|---|---|---|"]
    for name, verdicts in cells.items():
        passed = sum(v.status is Status.OK for v in verdicts)
        failures = Counter(failure_key(v) for v in verdicts if v.status is not Status.OK).most_common(TOP_FAILURES)
        listed = "; ".join(f"{text} ({count})" for text, count in failures).replace("|", "\\|") or "-"
        rows.append(f"| {name} | {verdicts[0].max_score:g} | {passed}/{len(verdicts)} "
                    f"| {100.0 * passed / len(verdicts):.0f} % | {listed} |")
    return rows


def write(reports: Path, results: list[Result]) -> Path:
    """Write reports/class_report.md and its figures for every assignment in ``results``; returns the page's path."""
    figures: dict[str, Figure] = {}
    lines = ["# Class report", "",
             "Written by every `handgrad grade` round from the same verdicts as `grades.csv`: per assignment, "
             "the autograded scores, each graded cell's pass rate and its most common failures, as the "
             "students' feedback words them (the check's hint, or the message with its numbers blanked, so "
             "that the same mistake counts once). "
             "Written answers are graded by hand and are not in it.", ""]
    for assignment in sorted({r.assignment for r in results}):
        ours = [r for r in results if r.assignment == assignment]
        cells = _cells(ours)
        scores = [_fraction(r) for r in ours]
        not_graded = sum(r.status is not Status.OK for r in ours)
        lines += [f"## {assignment}", "",
                  f"{len(ours)} students ({not_graded} without a gradable notebook); autograded score "
                  f"median {statistics.median(scores):.0f} %, mean {statistics.mean(scores):.0f} %.", ""]
        figures[f"{assignment}_scores.png"] = _scores_figure(assignment, ours)
        lines += [f"![score distribution of {assignment}](class_report/{assignment}_scores.png)", ""]
        if cells:
            figures[f"{assignment}_pass_rates.png"] = _pass_rates_figure(assignment, cells)
            lines += [f"![pass rate per cell of {assignment}](class_report/{assignment}_pass_rates.png)", ""]
            lines += _cell_table(cells) + [""]
    folder = reports / "class_report"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):       # figures of an earlier round's assignments
        old.unlink()
    for name, figure in figures.items():
        figure.savefig(folder / name, dpi=100)
    page = reports / "class_report.md"
    page.write_text("\n".join(lines), encoding="utf-8")
    return page
