"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

COURSE = Path(__file__).resolve().parents[1]


def copy_course(into: Path, *parts: str) -> Path:
    """A scratch course ``into``: ``nbgrader_config.py`` and the given parts (paths relative to the course root)."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy(COURSE / "nbgrader_config.py", into)
    for part in parts:
        (into / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(COURSE / part, into / part)
    return into


@pytest.fixture
def course_copy(tmp_path: Path) -> Callable[..., Path]:
    """``course_copy(*parts, name="course")``: a copy of the course in a temporary folder holding
    nbgrader_config.py and ``parts`` (e.g. ``"source"``, ``"submitted/reference/02_activations"``)."""
    def copy(*parts: str, name: str = "course") -> Path:
        return copy_course(tmp_path / name, *parts)
    return copy


@pytest.fixture
def displayed(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Everything passed to ``IPython.display.display`` during the test, in order (nothing is shown)."""
    import IPython.display

    shown: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects, **kwargs: shown.extend(objects))
    return shown


@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One `handgrad grade --jobs 2` round over every sample student and notebook, shared by the tests that
    read its results (scores, feedback, release, executed notebooks): (course folder, printed output)."""
    from handgrad import venv

    course = copy_course(tmp_path_factory.mktemp("graded") / "course", "source", "submitted")
    done = subprocess.run([str(venv.bin_dir() / "handgrad"), "grade", "--course", str(course), "--jobs", "2"],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return course, done.stdout
