"""The documents say what exists: README lists the notebooks of source/, docs/contract.md describes
each of them and every grading status the round can give, and README and CONTRIBUTING link to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handgrad.grading.results import Status

COURSE = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if (p / f"{p.name}.ipynb").exists())
CONTRACT = (COURSE / "docs" / "contract.md").read_text()


@pytest.mark.parametrize("document", ["README.md", "CONTRIBUTING.md"])
def test_documents_link_the_contract_in_the_repository(document: str) -> None:
    text = (COURSE / document).read_text()
    assert "docs/contract.md" in text
    assert not re.search(r"shared folder|\.\./shared|`shared/`", text), "the contract is docs/contract.md"


def test_readme_lists_exactly_the_notebooks_in_source() -> None:
    listed = set(re.findall(r"\b0\d_[a-z]+\b", (COURSE / "README.md").read_text()))
    assert set(ASSIGNMENTS) <= listed, f"README misses {sorted(set(ASSIGNMENTS) - listed)}"
    assert listed <= set(ASSIGNMENTS), f"README names notebooks that do not exist: {sorted(listed - set(ASSIGNMENTS))}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_contract_describes_every_notebook(assignment: str) -> None:
    assert f"**{assignment}**" in CONTRACT


def test_contract_explains_every_grading_status() -> None:
    section = CONTRACT.split("## Grading statuses", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z_]+)(?::<Exception>)?` \|", section, re.M))
    assert rows == {status.value for status in Status}
