"""The browser suite's verdicts on made-up pages (no browser needed): each kind of problem is reported."""

from __future__ import annotations

from typing import Any

from tests.browser.driver import Run
from tests.browser.test_browser_notebooks import check_run

SUMMARY = ("curves: up to epoch 3 in 2.1 s\n            last       best  at epoch\n"
           "train_loss     0.5000     0.5000         3\nval_loss       0.6000     0.6000         3")


def cell(index: int, outputs: list[dict[str, Any]], source: str = "x = 1", count: int | None = 1) -> dict[str, Any]:
    """A code cell as the driver reads it from the notebook model."""
    return {"index": index, "type": "code", "source": source, "count": count, "outputs": outputs}


def run(cells: list[dict[str, Any]], images: dict[str, int] | None = None, bars: list[Any] | None = None,
        interacts: list[Any] | None = None, unrendered: list[Any] | None = None) -> Run:
    """A finished run with the given cells and widget views."""
    widgets = {"bars": bars or [], "interacts": interacts or [], "unrendered": unrendered or []}
    return Run(cells, images or {}, widgets, 1.0, 1)


def error(name: str) -> dict[str, Any]:
    return {"output_type": "error", "ename": name, "evalue": "boom", "traceback": []}


def curves_output() -> dict[str, Any]:
    return {"output_type": "display_data", "data": {"text/plain": SUMMARY}}


def interact(**changes: Any) -> dict[str, Any]:
    view = {"cell": 0, "sliders": 1, "dropdowns": 0, "images": ["1:abc"], "text": ""}
    view.update(changes)
    return view


def test_a_clean_reference_passes() -> None:
    page = run([cell(0, [curves_output()])], images={"0:plain": 3}, interacts=[interact()],
               bars=[{"cell": 0, "width": "100%", "danger": False, "text": "100%"}])
    assert check_run(page, reference=True, source="LiveCurves( import ipywidgets") == []


def test_errors_in_the_reference_and_unexpected_errors_in_the_release() -> None:
    assert check_run(run([cell(0, [error("ValueError")])]), reference=True, source="")
    assert check_run(run([cell(0, [error("NotImplementedError")])]), reference=False, source="") == []
    assert "NameError" in check_run(run([cell(0, [error("NameError")])]), reference=False, source="")[0]


def test_cells_that_never_ran() -> None:
    assert "never ran" in check_run(run([cell(0, [], count=None)]), reference=True, source="")[0]


def test_live_curves_drawn_once_or_missing() -> None:
    once = check_run(run([cell(0, [curves_output()])], images={"0:plain": 1}), reference=True, source="")
    assert "did not change" in once[0]
    assert check_run(run([cell(0, [])]), reference=True, source="live.LiveCurves(")
    single = {"output_type": "stream", "text": SUMMARY.replace("epoch 3", "epoch 1")}
    assert check_run(run([cell(0, [single])], images={"0:plain": 1}), reference=True, source="") == []


def test_final_numbers_of_curves_with_any_name() -> None:
    named = {"output_type": "stream", "text": SUMMARY.replace("train_loss", "plain-train_loss")}
    assert check_run(run([cell(0, [named])], images={"0:plain": 2}), reference=True, source="") == []
    bare = {"output_type": "stream", "text": "curves: up to epoch 3 in 2.1 s\n  last  best  at epoch\n"}
    assert "without final numbers" in check_run(run([cell(0, [bare])], images={"0:plain": 2}), True, "")[0]


def test_progress_bars_short_of_100_percent() -> None:
    bar = {"cell": 0, "width": "40%", "danger": True, "text": "40%"}
    assert "progress bar" in check_run(run([cell(0, [])], bars=[bar]), reference=True, source="")[0]
    # In the release a training cell that stopped on an open exercise keeps its bar short.
    assert check_run(run([cell(0, [error("NotImplementedError")])], bars=[bar]), reference=False, source="") == []


def test_lecture_widgets_without_figure_control_or_with_an_error() -> None:
    assert "no figure" in check_run(run([cell(0, [])], interacts=[interact(images=[])]), True, "")[0]
    assert "without a slider" in check_run(run([cell(0, [])], interacts=[interact(sliders=0)]), True, "")[0]
    failing = interact(images=[], text="Traceback\nValueError: bad")
    assert "shows an error" in check_run(run([cell(0, [])], interacts=[failing]), True, "")[0]
    assert check_run(run([cell(0, [])]), reference=True, source="import ipywidgets")  # no widget view at all


def test_a_widget_that_did_not_render() -> None:
    page = run([cell(0, [])], unrendered=[{"cell": 0, "text": "interactive(children=(IntSlider"}])
    assert "not rendered" in check_run(page, reference=True, source="")[0]
