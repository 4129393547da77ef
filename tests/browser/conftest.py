"""Fixtures of the browser suite: one JupyterLab server and one Chromium for the whole run.

Skipped, with the reason, where Debian's Chromium or the playwright package is missing.
Screenshots go to ``reports/browser/`` (or ``HANDGRAD_BROWSER_SHOTS``); their paths and
each notebook's time are printed at the end of the test run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handgrad import lecture
from tests.browser import server as jupyter

COURSE = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("HANDGRAD_BROWSER_SHOTS", COURSE / "reports" / "browser"))
# Each notebook's line for the summary at the end of the run: (name, seconds, screenshot, verdict).
RESULTS: list[tuple[str, float, str, str]] = []


def notebook_path(folder: str) -> str:
    """The notebook's path under the server's root: release/<id>/<id>.ipynb, lecture/LECTURE.ipynb."""
    return f"{folder}/{lecture.NAME}" if folder == "lecture" else f"{folder}/{folder.split('/')[1]}.ipynb"


def notebooks() -> dict[str, Path]:
    """Every course notebook the suite opens, keyed by its folder under the server's root: release/<id>,
    reference/<id> (the lecture page, built by the server fixture, comes on top)."""
    found = {}
    for folder in sorted((COURSE / "source").iterdir()):
        for kind, base in (("release", COURSE / "release"), ("reference", COURSE / "submitted" / "reference")):
            notebook = base / folder.name / f"{folder.name}.ipynb"
            if notebook.is_file():
                found[f"{kind}/{folder.name}"] = notebook
    return found


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's Chromium; skips the browser suite where it or playwright is missing."""
    path = jupyter.chromium_path()
    if path is None:
        pytest.skip("browser suite skipped: Chromium is not installed (/usr/bin/chromium; as root `make test` "
                    "installs it with apt-get install chromium; or set HANDGRAD_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("browser suite skipped: the playwright package is not installed (pip install -r requirements.txt)")
    return path


@pytest.fixture(scope="session")
def server(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[jupyter.Server]:
    """JupyterLab on a copy of the notebooks; notebooks train on small subsets (NBGRADER_EXECUTION=autograde)
    while the widgets stay live (HANDGRAD_HEADLESS=0)."""
    root = tmp_path_factory.mktemp("browser") / "root"
    root.mkdir()
    jupyter.copy_notebooks(root, notebooks())
    lecture.build(COURSE, root / "lecture")  # the page `make lecture` opens first: every demo, no exercise solved
    env = {"NBGRADER_EXECUTION": "autograde", "HANDGRAD_HEADLESS": "0", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    running = jupyter.start(root, env)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Any]:
    """One headless Chromium for every notebook."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def context(browser: Any) -> Iterator[Any]:
    """One browser context for the run (its cache keeps JupyterLab's scripts between notebooks); each
    JupyterLab page opens in a workspace of its own, so no tab of an earlier notebook comes back."""
    opened = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened.set_default_timeout(60_000)
    yield opened
    opened.close()


@pytest.fixture
def page(context: Any, server: jupyter.Server) -> Iterator[Any]:
    """A fresh page per notebook; the page is closed and its kernel shut down afterwards."""
    opened = context.new_page()
    yield opened
    opened.close()
    server.shutdown_kernels()


@pytest.fixture(scope="session")
def shots() -> Path:
    """The folder of the screenshots (created, emptied of old PNGs)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    return SHOTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print each notebook's browser time, verdict and screenshot path."""
    if not RESULTS:
        return
    terminalreporter.section("browser suite: time per notebook (s) and screenshots")
    for name, seconds, shot, verdict in RESULTS:
        terminalreporter.write_line(f"{name:<36} {seconds:6.1f} s  {verdict}")
        terminalreporter.write_line(f"{'':<36} screenshot {shot}")
    terminalreporter.write_line(f"total {sum(r[1] for r in RESULTS):.0f} s; screenshots in {SHOTS}")

