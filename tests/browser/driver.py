"""Drive one open notebook in JupyterLab 4 or Notebook 7 through the page, as a person would see it.

Cells run through the application's own commands (what the Run menu does); what is checked
is read from the page: the rendered widget views, the images in them and the output areas.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the offline checks import this module where playwright may be missing
    from playwright.sync_api import Locator, Page

# Installed before the first cell runs: remembers, per cell and per place (a plain output or
# inside a widget's Output), every distinct image that was ever shown there, so that a figure
# redrawn during training can be told from one drawn once at the end.
WATCH_IMAGES = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const seen = {};
  window.__handgradImages = seen;
  const note = (img) => {
    if (!img.src || !img.src.startsWith('data:image')) return;
    const cellNode = img.closest('.jp-Cell');
    if (!cellNode) return;
    const index = panel.content.widgets.findIndex((w) => w.node === cellNode);
    const key = index + (img.closest('.widget-output') ? ':widget' : ':plain');
    (seen[key] = seen[key] || new Set()).add(img.src.length + ':' + img.src.slice(-200));
  };
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      const nodes = m.type === 'attributes' ? [m.target] : Array.from(m.addedNodes);
      for (const node of nodes) {
        if (!(node instanceof Element)) continue;
        if (node.tagName === 'IMG') note(node);
        node.querySelectorAll('img').forEach(note);
      }
    }
  }).observe(panel.content.node, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""

READY = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return panel.context.isReady && !!kernel && kernel.status === 'idle'
      && panel.content.widgets.length > 0;
}"""

# Runs from cell ``start`` to the end, like "Run Selected Cell and All Below"; resolves when done.
RUN_FROM = """async (start) => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  panel.content.activeCellIndex = start;
  panel.content.deselectAll();
  await app.commands.execute('notebook:run-all-below');
}"""

# The code cells as the notebook model holds them: index, source, execution count, outputs.
CELLS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map((cell, index) => {
    const json = cell.model.toJSON();
    return {index, type: json.cell_type, source: Array.isArray(json.source) ? json.source.join('') : json.source,
            count: json.execution_count ?? null, outputs: json.outputs || []};
  });
}"""

# True once the kernel has been idle, with no cell queued, for ``settle`` ms: checked in the page at
# each poll of wait_for_function (no round trip to Python per check).
KERNEL_SETTLED = """(settle) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const busy = Array.from(panel.content.node.querySelectorAll('.jp-InputPrompt'))
    .some((p) => p.textContent.includes('*'));
  if (!kernel || kernel.status !== 'idle' || busy) { window.__handgradQuietSince = null; return false; }
  window.__handgradQuietSince = window.__handgradQuietSince || performance.now();
  return performance.now() - window.__handgradQuietSince >= settle;
}"""

# A fingerprint of the image(s) inside an interact's Output ('' when none).
PICTURE = """(w) => Array.from(w.querySelectorAll('.widget-output img'))
  .map((i) => i.src.length + ':' + i.src.slice(-200)).join('|')"""

# True once the interact's picture differs from the one before (and is not empty).
PICTURE_CHANGED = """([w, before]) => {
  const now = Array.from(w.querySelectorAll('.widget-output img'))
    .map((i) => i.src.length + ':' + i.src.slice(-200)).join('|');
  return now !== '' && now !== before;
}"""

# What the widget views show: every progress bar, every interact (controls, image, text).
WIDGETS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cellOf = (node) => panel.content.widgets.findIndex((w) => w.node === node.closest('.jp-Cell'));
  // ipywidgets 8 marks a progress bar's view widget-hprogress (or widget-vprogress), its filled part progress-bar.
  const bars = Array.from(panel.content.node.querySelectorAll('.widget-hprogress, .widget-vprogress')).map((bar) => {
    const inner = bar.querySelector('.progress-bar');
    const box = bar.closest('.widget-hbox, .widget-box') || bar;
    const filled = inner ? (bar.classList.contains('widget-vprogress') ? inner.style.height : inner.style.width) : null;
    return {cell: cellOf(bar), width: filled,
            danger: !!bar.querySelector('.progress-bar-danger'), text: box.innerText};
  });
  const interacts = Array.from(panel.content.node.querySelectorAll('.widget-interact')).map((w) => ({
    cell: cellOf(w),
    sliders: w.querySelectorAll('.widget-slider').length,
    dropdowns: w.querySelectorAll('.widget-dropdown select').length,
    images: Array.from(w.querySelectorAll('.widget-output img')).map((i) => i.src.length + ':' + i.src.slice(-200)),
    text: (w.querySelector('.widget-output') || w).innerText,
  }));
  const unrendered = Array.from(panel.content.node.querySelectorAll('.jp-OutputArea-output'))
    .filter((o) => /Loading widget|Error displaying widget|^(interactive|HBox|VBox|IntSlider|FloatProgress)\\(/m
                   .test(o.innerText))
    .map((o) => ({cell: cellOf(o), text: o.innerText.slice(0, 200)}));
  return {bars, interacts, unrendered};
}"""

IMAGES_SEEN = """() => {
  const out = {};
  for (const [key, values] of Object.entries(window.__handgradImages || {})) out[key] = values.size;
  return out;
}"""


@dataclass
class Run:
    """What running a notebook left on the page."""

    cells: list[dict[str, Any]]
    images_seen: dict[str, int]
    widgets: dict[str, Any]
    seconds: float
    rounds: int
    notes: list[str] = field(default_factory=list)


class NotebookPage:
    """One notebook open in one browser page."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def open(self, url: str, timeout: float = 240.0) -> None:
        """Load the notebook and wait until its kernel is idle."""
        self.page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
        self.page.wait_for_function(READY, timeout=timeout * 1000, polling=100)

    def cells(self) -> list[dict[str, Any]]:
        """The cells of the notebook model (with outputs)."""
        return list(self.page.evaluate(CELLS))

    def wait_idle(self, timeout: float = 600.0, settle: float = 0.2) -> None:
        """Wait until the kernel is idle and no cell is queued, and stays so for ``settle`` seconds.

        The run command's promise already resolves when its cells are done; the short settle covers
        the widget messages that arrive just after the last reply.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        self.page.evaluate("() => { window.__handgradQuietSince = null; }")
        try:
            self.page.wait_for_function(KERNEL_SETTLED, arg=settle * 1000, timeout=timeout * 1000, polling=100)
        except PlaywrightTimeout:
            raise TimeoutError(f"the kernel was still busy after {timeout:.0f} s") from None

    def run_all(self, timeout: float = 900.0) -> Run:
        """Run every code cell top to bottom; after a cell that raises, go on with the next one.

        Run All stops at the first error (the kernel drops what was queued), so a release notebook
        with open exercises is run as a student would: past each error, one "run all below" at a time.
        """
        self.page.evaluate(WATCH_IMAGES)
        started = time.monotonic()
        rounds, previous = 0, -1
        while True:
            pending = [c["index"] for c in self.cells()
                       if c["type"] == "code" and c["source"].strip() and c["count"] is None and c["index"] > previous]
            if not pending:
                break
            previous = pending[0]
            rounds += 1
            remaining = timeout - (time.monotonic() - started)
            self.page.evaluate(RUN_FROM, previous)
            self.wait_idle(timeout=max(remaining, 10.0))
        seconds = time.monotonic() - started
        return Run(self.cells(), dict(self.page.evaluate(IMAGES_SEEN)), dict(self.page.evaluate(WIDGETS)),
                   seconds, rounds)

    def interact_views(self) -> Locator:
        """Every rendered ``interactive`` widget view on the page."""
        return self.page.locator(".jp-Notebook .widget-interact")

    def move_controls(self, index: int, timeout: float = 120.0) -> list[str]:
        """Move each control of interact ``index`` once; return a problem line per control that did not redraw."""
        view = self.interact_views().nth(index)
        problems = []
        controls = view.locator(".widget-slider, .widget-dropdown")
        for number in range(controls.count()):
            control = controls.nth(number)
            label = control.locator(".widget-label").first.inner_text().strip() or f"control {number}"
            before = self._picture(view)
            control.scroll_into_view_if_needed()
            if control.locator("select").count():
                select = control.locator("select")
                options = select.locator("option").all_inner_texts()
                current = select.input_value()
                values = [o.strip() for o in options]
                position = values.index(current) if current in values else 0
                select.select_option(index=(position + 1) % len(values))
            else:
                readout = control.locator(".widget-readout")
                readout_before = readout.inner_text()
                handle = control.locator(".noUi-handle").first
                for step in (25, -25):  # drag the handle right; at its maximum, left
                    box = handle.bounding_box()
                    if box is None:
                        break
                    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
                    self.page.mouse.move(x, y)
                    self.page.mouse.down()
                    self.page.mouse.move(x + step, y, steps=5)
                    self.page.mouse.up()
                    if self._readout_changed(readout, readout_before):
                        break
            changed = self._wait_picture_change(view, before, timeout)
            if not changed:
                problems.append(f"moving '{label}' did not redraw the figure within {timeout:.0f} s")
        return problems

    def _readout_changed(self, readout: Locator, before: str, timeout: float = 2.0) -> bool:
        """Wait (briefly) for a slider's readout to show a value other than ``before``."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            readout.element_handle().wait_for_element_state("visible", timeout=timeout * 1000)
            self.page.wait_for_function("([node, before]) => node.innerText !== before",
                                        arg=[readout.element_handle(), before], timeout=timeout * 1000, polling=50)
            return True
        except PlaywrightTimeout:
            return False

    def _picture(self, view: Locator) -> str:
        """A fingerprint of the image(s) inside an interact's Output ('' when none)."""
        return str(view.evaluate(PICTURE))

    def _wait_picture_change(self, view: Locator, before: str, timeout: float) -> bool:
        """Wait for the picture to differ from ``before`` (in the page, no sleeps), then for the kernel to settle."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        started = time.monotonic()
        try:
            self.page.wait_for_function(PICTURE_CHANGED, arg=[view.element_handle(), before],
                                        timeout=timeout * 1000, polling=100)
        except PlaywrightTimeout:
            return False
        self.wait_idle(timeout=max(timeout - (time.monotonic() - started), 5.0))
        return True

    def screenshot(self, path: str, focus: Locator | None = None) -> None:
        """Save what the screen shows, scrolled to ``focus`` (e.g. the first widget) when given."""
        if focus is not None and focus.count():
            focus.first.scroll_into_view_if_needed()
        self.page.screenshot(path=path)
