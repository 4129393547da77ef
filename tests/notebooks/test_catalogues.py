"""One runner for every notebook's bug catalogue (tests/notebooks/catalogues/<id>.py):
the reference earns every point, release stubs lose every graded cell, each bug loses exactly
the cells it lists (and says what it should), alternatives keep full marks, the buggy sample
earns partial marks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks import catalogue, harness

COURSE = Path(__file__).resolve().parents[2]
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if (p / f"{p.name}.ipynb").exists()
                     and (catalogue.CATALOGUES / f"{p.name}.py").exists())  # TEMP: until 01-03 are converted
CATALOGUES = {a: catalogue.load(a) for a in ASSIGNMENTS}

BUGS = [pytest.param(a, bug, id=f"{a}::{bug.name}") for a, c in CATALOGUES.items() for bug in c.bugs]
ALTERNATIVES = [pytest.param(a, alt, id=f"{a}::{alt.name}") for a, c in CATALOGUES.items() for alt in c.alternatives]


def lost(assignment: str, edits) -> dict[str, str]:
    """grade_id -> failure message of every graded cell the edited submission loses."""
    outcomes = harness.run_graded(assignment, catalogue.apply(assignment, edits))
    return {gid: outcome for gid, outcome in outcomes.items() if outcome != "ok"}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_earns_every_point(assignment: str) -> None:
    assert harness.run_graded(assignment) == {gid: "ok" for gid in harness.graded_points(assignment)}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_stubs_lose_every_graded_cell(assignment: str) -> None:
    stubs = {gid: harness.release_source(source) for gid, source in catalogue.solutions(assignment).items()}
    outcomes = harness.run_graded(assignment, stubs)
    expected_lost = set(outcomes) - CATALOGUES[assignment].no_stub_loss
    assert {gid for gid in expected_lost if outcomes[gid] == "ok"} == set(), outcomes


@pytest.mark.parametrize(("assignment", "bug"), BUGS)
def test_bug_loses_exactly_its_cells(assignment: str, bug: catalogue.Bug) -> None:
    failures = lost(assignment, bug.edits)
    assert set(failures) == set(bug.loses), f"{bug.name}: lost {sorted(failures)}, expected {sorted(bug.loses)}"
    if bug.says:
        assert any(bug.says in message for message in failures.values()), failures


@pytest.mark.parametrize(("assignment", "alternative"), ALTERNATIVES)
def test_alternative_keeps_full_marks(assignment: str, alternative: catalogue.Alternative) -> None:
    assert lost(assignment, alternative.edits) == {}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_buggy_sample_earns_partial_marks(assignment: str) -> None:
    cells = CATALOGUES[assignment].buggy_cells()
    failures = {gid for gid, o in harness.run_graded(assignment, cells).items() if o != "ok"}
    assert failures and failures != set(harness.graded_points(assignment))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_catalogue_is_substantial(assignment: str) -> None:
    """Every graded cell is lost by at least one catalogued bug, and names are unique."""
    entries = CATALOGUES[assignment]
    covered = set().union(*(bug.loses for bug in entries.bugs)) if entries.bugs else set()
    autograded = {gid for gid in harness.graded_points(assignment) if gid not in entries.no_stub_loss}
    assert autograded <= covered, f"no bug loses {sorted(autograded - covered)}"
    names = [b.name for b in entries.bugs] + [a.name for a in entries.alternatives]
    assert len(names) == len(set(names))
