"""The round's progress bar: one tick per graded notebook on a terminal, nothing in a log or a pipe."""

from __future__ import annotations

import io

import pytest

from handgrad.grading import dispatch, progress
from handgrad.grading.limits import Limits
from handgrad.grading.results import Result, Status
from handgrad.grading.unit import Job


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_the_bar_ticks_once_per_notebook_with_a_time_estimate_on_a_terminal() -> None:
    stream = Terminal()
    with progress.bar(3, stream) as ticks:
        for _ in range(3):
            ticks.update(1)
    text = stream.getvalue()
    assert "3/3" in text and "notebook" in text and "<" in text   # tqdm writes elapsed<remaining


def test_the_bar_is_silent_when_the_stream_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with progress.bar(3, stream) as ticks:
        ticks.update(3)
    assert stream.getvalue() == ""


def test_a_sequential_round_ticks_once_per_graded_notebook(monkeypatch: pytest.MonkeyPatch) -> None:
    counts: list[int] = []

    class Recording:
        def __init__(self, total: int) -> None:
            self.total, self.n = total, 0

        def __enter__(self) -> Recording:
            return self

        def __exit__(self, *exc: object) -> None:
            counts.append(self.n)

        def update(self, n: int) -> None:
            self.n += n

    monkeypatch.setattr(progress, "bar", Recording)
    monkeypatch.setattr(dispatch, "grade_one", lambda job: Result(job.student, job.assignment, Status.OK))
    jobs = [Job(student, "a", "", b"", "", {}, Limits(), "limits", {}) for student in ("s1", "s2")]
    results, lost = dispatch.grade_all(jobs, jobs=1)
    assert [r.student for r in results] == ["s1", "s2"] and lost == {} and counts == [2]
