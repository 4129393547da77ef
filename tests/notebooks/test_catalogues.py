"""One runner for every notebook's bug catalogue (tests/notebooks/catalogues/<id>.py):
the reference earns every point, release stubs lose every graded cell with a "not implemented
yet" message, each bug loses exactly the cells it lists (and says what it should), alternatives
keep full marks, the buggy sample earns partial marks.

Every notebook in source/ is run; one without a catalogue fails here (write its catalogue)."""

from __future__ import annotations

import pytest

from tests.notebooks import catalogue, harness

ASSIGNMENTS = sorted(p.name for p in (harness.COURSE / "source").iterdir() if (p / f"{p.name}.ipynb").exists())


def _load_all() -> tuple[dict[str, catalogue.Catalogue], dict[str, str]]:
    """The catalogue of every assignment, and why one could not be loaded (reported by a test, not at collection)."""
    found: dict[str, catalogue.Catalogue] = {}
    broken: dict[str, str] = {}
    for assignment in ASSIGNMENTS:
        try:
            found[assignment] = catalogue.load(assignment)
        except Exception as error:  # a missing or broken catalogue fails test_every_notebook_has_a_catalogue
            broken[assignment] = f"{type(error).__name__}: {error}"
    return found, broken


CATALOGUES, BROKEN = _load_all()
BUGS = [pytest.param(a, bug, id=f"{a}::{bug.name}") for a, c in CATALOGUES.items() for bug in c.bugs]
ALTERNATIVES = [pytest.param(a, alt, id=f"{a}::{alt.name}") for a, c in CATALOGUES.items() for alt in c.alternatives]


def entries(assignment: str) -> catalogue.Catalogue:
    """The assignment's catalogue, or a failure that says how to add it."""
    if assignment not in CATALOGUES:
        pytest.fail(f"{assignment} has no usable catalogue ({BROKEN[assignment]}): "
                    f"write tests/notebooks/catalogues/{assignment}.py (see CONTRIBUTING.md)")
    return CATALOGUES[assignment]


def lost(assignment: str, edits: tuple[catalogue.Edit, ...]) -> dict[str, str]:
    """grade_id -> failure message of every graded cell the edited submission loses."""
    outcomes = harness.run_graded(assignment, catalogue.apply(assignment, edits))
    return {gid: outcome for gid, outcome in outcomes.items() if outcome != "ok"}


def test_the_course_has_notebooks() -> None:
    assert "02_activations" in ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_notebook_has_a_catalogue(assignment: str) -> None:
    entries(assignment)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_earns_every_point(assignment: str) -> None:
    assert harness.run_graded(assignment) == {gid: "ok" for gid in harness.graded_points(assignment)}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_stubs_lose_every_graded_cell(assignment: str) -> None:
    """A blank notebook scores zero, and each graded cell tells the student it is not implemented yet."""
    stubs = {gid: harness.release_source(source) for gid, source in catalogue.solutions(assignment).items()}
    assert stubs and all("raise NotImplementedError()" in s and "BEGIN SOLUTION" not in s for s in stubs.values())
    outcomes = harness.run_graded(assignment, stubs)
    unexplained = {gid: outcome for gid, outcome in outcomes.items() if gid not in entries(assignment).no_stub_loss
                   and not (outcome.startswith("CheckFailed") and "not implemented yet" in outcome)}
    assert unexplained == {}


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
    cells = entries(assignment).buggy_cells()
    failures = {gid for gid, o in harness.run_graded(assignment, cells).items() if o != "ok"}
    assert failures and failures != set(harness.graded_points(assignment))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_catalogue_is_substantial(assignment: str) -> None:
    """Every graded cell is lost by at least one catalogued bug, and names are unique."""
    found = entries(assignment)
    covered = set().union(*(bug.loses for bug in found.bugs)) if found.bugs else set()
    autograded = {gid for gid in harness.graded_points(assignment) if gid not in found.no_stub_loss}
    assert autograded <= covered, f"no bug loses {sorted(autograded - covered)}"
    names = [b.name for b in found.bugs] + [a.name for a in found.alternatives]
    assert len(names) == len(set(names))
