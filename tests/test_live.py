"""Tests of handgrad.live: headless detection, throttled redraws, small output, a real kernel."""

from __future__ import annotations

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")  # no window can open, whatever the machine's default backend

import IPython
import IPython.display
import matplotlib.pyplot as plt
import nbformat
import pytest
from nbclient import NotebookClient

from handgrad import live
from handgrad.live import LiveCurves, is_headless, progress


class ZMQInteractiveShell:
    """Stand-in for the shell of a notebook kernel; nbgrader's kernels have the same class."""


class FakeClock:
    """A time source that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeHandle:
    """Records what a notebook output showed over time, like IPython's DisplayHandle."""

    def __init__(self, obj: object) -> None:
        self.shown = [obj]

    def update(self, obj: object, raw: bool = False) -> None:
        self.shown.append(obj)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Start every test outside nbgrader and CI, with nothing forced."""
    for name in ("NBGRADER_EXECUTION", "CI", "HANDGRAD_HEADLESS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def notebook_shell(monkeypatch):
    """Pretend to run inside a notebook kernel, recording every display() as a FakeHandle."""
    monkeypatch.setattr(IPython, "get_ipython", lambda: ZMQInteractiveShell())
    handles: list[FakeHandle] = []

    def fake_display(obj, raw=False, display_id=None):
        handles.append(FakeHandle(obj))
        return handles[-1]

    monkeypatch.setattr(IPython.display, "display", fake_display)
    return handles


@pytest.fixture
def clock(monkeypatch):
    """Replace the module's time source with a FakeClock."""
    fake = FakeClock()
    monkeypatch.setattr(live, "_clock", fake)
    return fake


# --- is_headless ------------------------------------------------------------------------

def test_headless_in_plain_python(monkeypatch):
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert is_headless()


def test_live_in_a_notebook_kernel(notebook_shell):
    assert not is_headless()


@pytest.mark.parametrize("name, value", [
    ("NBGRADER_EXECUTION", "autograde"), ("NBGRADER_EXECUTION", "validate"),
    ("CI", "true"), ("HANDGRAD_HEADLESS", "1"), ("HANDGRAD_HEADLESS", "true")])
def test_environment_makes_a_notebook_kernel_headless(notebook_shell, monkeypatch, name, value):
    # The shell is exactly a live notebook's; only the environment differs.
    monkeypatch.setenv(name, value)
    assert is_headless()


def test_headless_0_forces_live(notebook_shell, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("HANDGRAD_HEADLESS", "0")
    assert not is_headless()


def test_headless_without_ipywidgets(notebook_shell, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` fail
    assert is_headless()


# --- throttling -------------------------------------------------------------------------

def test_redraws_are_throttled_by_wall_clock(clock, capsys):
    curves = LiveCurves(min_interval=0.5, headless=False)  # live, but no frontend: renders only
    n, step = 2000, 0.0025
    for i in range(n):
        curves.update(i / 400, train_loss=1.0 / (1 + i), train_error=0.5)
        clock.now += step
    elapsed = n * step
    assert elapsed / 0.5 <= curves.draw_count <= math.ceil(elapsed / 0.5) + 1
    drawn = curves.draw_count
    curves.close()  # right after a draw: the throttle would say no, close() draws anyway
    assert curves.draw_count == drawn + 1
    assert len(curves.history["train_loss"]) == n
    assert curves.history["train_loss"][-1] == ((n - 1) / 400, 1.0 / n)
    assert capsys.readouterr().out == ""


def test_slow_draws_stretch_the_throttle(clock, monkeypatch):
    def slow_render(self):
        clock.now += 0.1  # each draw costs 0.1 s: 20 times min_interval's share
        return b""

    monkeypatch.setattr(LiveCurves, "_render_png", slow_render)
    curves = LiveCurves(min_interval=0.5, headless=False)
    start = clock.now
    for i in range(2000):  # 20 s of training
        curves.update(i / 100, train_loss=1.0)
        clock.now += 0.01
    drawing = 0.1 * curves.draw_count
    assert 3 <= curves.draw_count and drawing <= 0.05 * (clock.now - start)


def test_headless_prints_at_most_one_line_per_epoch(clock, capsys):
    curves = LiveCurves(total_epochs=3, min_interval=0.5, headless=True)
    for i in range(3000):  # 3 epochs of per-batch values, one second of fake time each
        curves.update((i + 1) / 1000, train_loss=1.0, val_loss=2.0)
        clock.now += 0.001
    lines = capsys.readouterr().out.splitlines()
    assert 1 <= len(lines) <= 4
    assert lines[0].startswith("epoch 0.00/3 | train_loss 1.0000  val_loss 2.0000")


def test_headless_output_stays_small(capsys):
    before = plt.get_fignums()
    with LiveCurves(total_epochs=10, headless=True) as curves:
        for i in range(10_000):
            curves.update(i / 1000, train_loss=1 / (1 + i), train_error=0.3,
                          val_loss=2 / (1 + i), val_error=0.4)
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 12 and len(out) < 2000
    assert out.splitlines()[-1].startswith("val_error")  # the summary table ends the output
    assert len(curves.history["val_error"]) == 10_000
    assert plt.get_fignums() == before  # nothing went through pyplot, so no window


# --- live mode --------------------------------------------------------------------------

def test_live_mode_updates_one_figure_in_place(notebook_shell, clock, capsys):
    curves = LiveCurves(total_epochs=2, title="demo", min_interval=0.5)
    assert not curves.headless
    for i in range(1000):  # 2 s of fake time
        curves.update((i + 1) / 500, train_loss=1 / (1 + i), train_error=0.3)
        clock.now += 0.002
    curves.update(2, val_loss=0.5, val_error=0.25)
    curves.close()
    image, text = notebook_shell  # exactly two outputs, both updated in place
    assert len(image.shown) == len(text.shown) == curves.draw_count <= math.ceil(2 / 0.5) + 2
    assert all(shown.data.startswith(b"\x89PNG") for shown in image.shown)
    assert text.shown[0]["text/plain"].startswith("epoch 0.00/2 | train_loss 1.0000")
    assert text.shown[-1]["text/plain"].startswith("demo: up to epoch 2 in 2.0 s")
    assert capsys.readouterr().out == ""


def test_live_mode_without_any_frontend_stays_quiet(capsys, tmp_path):
    path = tmp_path / "curves.png"
    with LiveCurves(headless=False, save_path=path) as curves:
        for i in range(100):
            curves.update(i / 10, train_loss=1.0, val_loss=1.5)
    assert curves.draw_count >= 2
    assert capsys.readouterr().out == ""
    assert path.read_bytes().startswith(b"\x89PNG")


def test_headless_close_in_a_notebook_shows_one_figure(notebook_shell, monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with LiveCurves() as curves:
        for i in range(100):
            curves.update(i / 10, train_loss=1.0, val_error=0.5)
    assert curves.headless
    assert len(notebook_shell) == 1 and len(notebook_shell[0].shown) == 1
    assert "train_loss" in capsys.readouterr().out


# --- recording rules --------------------------------------------------------------------

def test_misspelt_names_are_rejected_before_recording(capsys):
    curves = LiveCurves(headless=True)
    with pytest.raises(ValueError, match="train_acc"):
        curves.update(1, train_loss=1.0, train_acc=0.9)
    assert curves.history == {}


def test_closed_curves_reject_updates_and_close_twice_is_harmless(capsys):
    curves = LiveCurves(headless=True)
    curves.update(1, train_loss=1.0)
    curves.close()
    curves.close()
    assert capsys.readouterr().out.count("last") == 1
    with pytest.raises(RuntimeError, match="closed"):
        curves.update(2, train_loss=0.5)


def test_summary_takes_the_best_accuracy_as_the_highest(capsys):
    with LiveCurves(metrics=("loss", "accuracy"), headless=True, min_interval=1e9) as curves:
        for epoch, acc in [(1, 0.5), (2, 0.9), (3, 0.8)]:
            curves.update(epoch, val_loss=1 - acc, val_accuracy=acc)
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["val_accuracy"] == ["0.8000", "0.9000", "2"]
    assert rows["val_loss"] == ["0.2000", "0.1000", "2"]


def test_interrupted_training_still_closes(capsys):
    with pytest.raises(KeyboardInterrupt):
        with LiveCurves(headless=True) as curves:
            curves.update(0.5, train_loss=1.0)
            raise KeyboardInterrupt
    assert "last" in capsys.readouterr().out


# --- progress ---------------------------------------------------------------------------

def test_progress_headless_iterates_everything_with_little_output(monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    assert list(progress(range(10_000), desc="batches")) == list(range(10_000))
    assert len(capsys.readouterr().out) < 500


def test_progress_is_silent_under_nbgrader(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert list(progress(iter(range(500)), total=500)) == list(range(500))
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


def test_progress_live_iterates_everything(notebook_shell):
    assert list(progress(range(1000), desc="live")) == list(range(1000))


def test_progress_falls_back_to_text_without_widgets(notebook_shell, monkeypatch):
    import tqdm.auto

    def no_widgets(*args, **kwargs):
        raise ImportError("IProgress not found")

    monkeypatch.setattr(tqdm.auto, "tqdm", no_widgets)
    assert list(progress(range(100))) == list(range(100))


# --- a real kernel ----------------------------------------------------------------------

TRAINING = """\
with LiveCurves(total_epochs=5, title="tiny") as curves:
    for i in progress(range(20_000)):
        epoch = (i + 1) / 4000
        curves.update(epoch, train_loss=1 / (1 + epoch), train_error=0.5 / (1 + epoch))
        if (i + 1) % 4000 == 0:
            curves.update(epoch, val_loss=1.2 / (1 + epoch), val_error=0.6 / (1 + epoch))
"""


def test_in_a_real_kernel_under_nbgrader(monkeypatch, tmp_path):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from handgrad.live import LiveCurves, is_headless, progress\n"
                                  "print(is_headless())"),
        nbformat.v4.new_code_cell(TRAINING),
        # A lecturer forcing the live figure: the display is updated in place, not appended.
        nbformat.v4.new_code_cell("import os\nos.environ['HANDGRAD_HEADLESS'] = '0'\n" + TRAINING),
    ])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    detect, headless, forced = (cell.outputs for cell in nb.cells)
    assert detect[0].text == "True\n"

    text = "".join(out.text for out in headless if out.output_type == "stream")
    images = [out for out in headless if "image/png" in out.get("data", {})]
    assert len(text.splitlines()) <= 15 and len(images) == 1
    assert len(json.dumps(headless)) < 150_000

    images = [out for out in forced if "image/png" in out.get("data", {})]
    assert len(images) == 1
    assert len(json.dumps(forced)) < 200_000
