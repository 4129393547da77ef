"""Every notebook opened, run and looked at in a real browser: JupyterLab 4 and Notebook 7 (and the lecture page).

For each reference solution and each release notebook, in JupyterLab 4 and in Notebook 7: run every
cell, wait for the kernel to go idle, then check what a person would: no error output (the release:
only the NotImplementedError of its open exercises), every live training figure changed during
training and ends with its final numbers, every progress bar reached 100 %, every lecture widget
shows a figure inside its own view and each of its sliders and dropdowns redraws it. A screenshot
per notebook goes to ``reports/browser/``. Notebooks train on small subsets
(NBGRADER_EXECUTION=autograde). Part of ``make test``; run alone with ``make test-browser``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import RESULTS, notebook_path, notebooks

# The final summary LiveCurves prints under its figure: "<title>: up to epoch 5 in 3.2 s" and a table.
SUMMARY = re.compile(r"up to epoch [\d.]+ in [\d.]+ s\n.*last.*best", re.S)
# A row of that table: a curve's name (any characters), its last and best value, the epoch of the best.
SUMMARY_ROW = re.compile(r"^\s*\S.*?\s+-?\d[\d.]*(e[-+]?\d+)?\s+-?\d[\d.]*(e[-+]?\d+)?\s+[\d.]+\s*$", re.M)
# Errors a release notebook may show: its exercises are still `raise NotImplementedError()`.
EXPECTED_IN_RELEASE = ("NotImplementedError",)
TRACEBACK = re.compile(r"Traceback|\b\w+(Error|Exception)\b:")


def cases() -> list[Any]:
    """(interface, folder): every release and reference notebook in both interfaces, then the lecture page."""
    found = []
    for folder in notebooks():
        for interface in ("lab", "notebook"):
            found.append(pytest.param(interface, folder, id=f"{interface}-{folder.replace('/', '-')}"))
    return found + [pytest.param("lab", "lecture", id="lab-lecture")]  # `make lecture`'s page, JupyterLab only


def text_of(output: dict[str, Any]) -> str:
    """The plain text an output shows (stream text or text/plain data)."""
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    plain = output.get("data", {}).get("text/plain", "")
    return "".join(plain) if isinstance(plain, list) else str(plain)


def error_lines(cells: list[dict[str, Any]], allowed: tuple[str, ...]) -> list[str]:
    """One line per error output whose exception is not in ``allowed``."""
    found = []
    for cell in cells:
        for output in cell["outputs"]:
            if output.get("output_type") == "error" and output.get("ename") not in allowed:
                found.append(f"cell {cell['index']}: {output.get('ename')}: {str(output.get('evalue'))[:300]}")
    return found


def failed_cells(cells: list[dict[str, Any]]) -> set[int]:
    """Indices of the cells that show an error."""
    return {c["index"] for c in cells if any(o.get("output_type") == "error" for o in c["outputs"])}


@pytest.mark.parametrize(("interface", "folder"), cases())
def test_notebook_in_browser(interface: str, folder: str, page: Any, server: Any, shots: Path) -> None:
    """Open, run all, and check what the page shows (see the module docstring)."""
    from tests.browser.driver import NotebookPage

    started = time.monotonic()
    name = f"{interface}-{folder.replace('/', '-')}"
    shot = shots / f"{name}.png"
    verdict = "FAIL"
    try:
        nb = NotebookPage(page)
        path = notebook_path(folder)
        nb.open(server.lab(path) if interface == "lab" else server.notebook(path))
        run = nb.run_all()
        problems = check_run(run, reference=not folder.startswith("release/"),
                             source=(server.root / path).read_text())
        moved = 0
        for index, interact in enumerate(run.widgets["interacts"]):
            if interact["images"] and not TRACEBACK.search(interact["text"]):
                problems += [f"widget in cell {interact['cell']}: {p}" for p in nb.move_controls(index)]
                moved += interact["sliders"] + interact["dropdowns"]
        curves = sum(1 for c in run.cells if any(SUMMARY.search(text_of(o)) for o in c["outputs"]))
        stopped = sum(1 for c in run.cells for o in c["outputs"] if o.get("output_type") == "error")
        counts = (f"run {run.seconds:.0f} s in {run.rounds} round(s); errors {stopped}; live curves {curves}; "
                  f"progress bars {len(run.widgets['bars'])}; widgets {len(run.widgets['interacts'])}; "
                  f"controls moved {moved}")
        focus = page.locator(".jp-Notebook .widget-interact, .jp-Notebook .widget-hprogress")
        nb.screenshot(str(shot), focus=focus)
        for problem in problems:
            print(f"{name}: PROBLEM {problem}")
        assert not problems, f"{folder} in {interface}:\n" + "\n".join(problems)
        verdict = "ok"
    finally:
        print(f"{name}: {locals().get('counts', 'did not finish running')}; screenshot {shot}")
        if not shot.exists():
            try:
                page.screenshot(path=str(shot))
            except Exception:  # noqa: BLE001 - the page may be gone; the failure itself is reported
                pass
        RESULTS.append((name, time.monotonic() - started, str(shot), f"{verdict:<5} {locals().get('counts', '')}"))


def check_run(run: Any, reference: bool, source: str) -> list[str]:
    """What a person would object to on the page after running all cells; one line per problem."""
    problems = []
    unrun = [c["index"] for c in run.cells if c["type"] == "code" and c["source"].strip() and c["count"] is None]
    if unrun:
        problems.append(f"cells never ran: {unrun}")
    problems += error_lines(run.cells, () if reference else EXPECTED_IN_RELEASE)
    failed = failed_cells(run.cells)
    widgets = run.widgets
    problems += [f"cell {u['cell']}: widget not rendered: {u['text']!r}" for u in widgets["unrendered"]]
    for bar in widgets["bars"]:
        if bar["cell"] in failed:
            continue  # a training cell that stopped on an open exercise (release)
        if bar["width"] != "100%" or bar["danger"]:
            problems.append(f"cell {bar['cell']}: progress bar stopped at {bar['width']}: {bar['text']!r}")
    curves = 0
    for cell in run.cells:
        summaries = [text_of(o) for o in cell["outputs"] if SUMMARY.search(text_of(o))]
        if not summaries:
            continue
        curves += 1
        final = float(re.search(r"up to epoch ([\d.]+)", summaries[-1]).group(1))  # type: ignore[union-attr]
        # A run of at most one epoch (08's ConvNet under NBGRADER_EXECUTION) may be a single point: nothing to change.
        if final > 1 and run.images_seen.get(f"{cell['index']}:plain", 0) < 2:
            problems.append(f"cell {cell['index']}: the live training figure did not change during training "
                            f"({run.images_seen.get(str(cell['index']) + ':plain', 0)} distinct image(s) shown)")
        if not all(SUMMARY_ROW.search(s) for s in summaries):
            problems.append(f"cell {cell['index']}: the live curves end without final numbers: {summaries[0][:200]!r}")
    if reference and "LiveCurves(" in source and curves == 0:
        problems.append("the notebook uses live.LiveCurves but no live training figure ended with its summary")
    for interact in widgets["interacts"]:
        if not interact["sliders"] + interact["dropdowns"]:
            problems.append(f"cell {interact['cell']}: a lecture widget without a slider or dropdown")
        if TRACEBACK.search(interact["text"]):
            line = next((x for x in interact["text"].splitlines() if TRACEBACK.search(x)), "")
            if reference or "NotImplementedError" not in interact["text"]:
                problems.append(f"cell {interact['cell']}: the lecture widget shows an error: {line[:200]!r}")
        elif not interact["images"]:
            problems.append(f"cell {interact['cell']}: the lecture widget shows no figure in its own view")
    if reference and ("import ipywidgets" in source or "handgrad.demos" in source) and not widgets["interacts"]:
        problems.append("the notebook builds lecture widgets but none rendered as a widget view")
    return problems
