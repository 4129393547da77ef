"""Lecture mode: the lecture folder holds the release notebooks and a page with every lib demo."""

from pathlib import Path

import nbformat

from handgrad import lecture

COURSE = Path(__file__).resolve().parents[1]


def test_build_writes_the_page_and_copies_the_release(tmp_path: Path) -> None:
    page = lecture.build(COURSE, tmp_path / "lecture")
    release = sorted(p.name for p in (COURSE / "release").iterdir() if p.is_dir())
    assert page.name == "LECTURE.ipynb"
    for course_id in release:
        assert (tmp_path / "lecture" / course_id / f"{course_id}.ipynb").is_file()
    nb = nbformat.read(page, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 1 + len(lecture.DEMOS)  # the setup cell, then one cell per demo
    for demo in ("jacobian", "bn_histograms", "mlp_units", "optimizer_paths", "conv_filters"):
        assert any(f"{demo}.show(" in cell for cell in code), demo
    assert "LiveCurves(" in "".join(code)


def test_every_demo_and_link_names_a_notebook_of_the_course() -> None:
    ids = {p.name for p in (COURSE / "source").iterdir() if p.is_dir()}
    assert {course_id for _, course_id, _, _ in lecture.DEMOS} <= ids
    assert {course_id for course_id, _ in lecture.IN_NOTEBOOKS} <= ids


def test_build_only_starts_nothing(tmp_path: Path, capsys) -> None:
    assert lecture.main(["--course", str(COURSE), "--out", str(tmp_path / "out"), "--build-only"]) == 0
    assert (tmp_path / "out" / "LECTURE.ipynb").is_file()
    assert "LECTURE.ipynb" in capsys.readouterr().out
