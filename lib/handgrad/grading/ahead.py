"""A kernel launched ahead: while one unit runs, the sandboxed kernel of this process's next unit starts and
makes its imports (:data:`handgrad.grading.kernel.PRELOAD`), so that unit finds it ready.

Every unit still gets a kernel of its own, fresh, in a sandbox and work folder of its own, launched
before its student is known; no kernel ever runs a second notebook. Only under bubblewrap: there the
kernel running now cannot see the one waiting (own mount, pid, ipc and network namespaces), while
under the limits alone two kernels of the same user could reach each other.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from handgrad.grading import sandbox
from handgrad.grading.kernel import Runner
from handgrad.grading.limits import Limits


@dataclass(frozen=True)
class Setup:
    """What a kernel is launched with; a kernel launched for one setup serves only a unit of the same."""

    limits: Limits
    env: tuple[tuple[str, str], ...]
    isolation: str
    read_only: tuple[str, ...]

    @staticmethod
    def of(limits: Limits, env: dict[str, str], isolation: str, read_only: tuple[str, ...]) -> Setup:
        """The setup of a unit's kernel."""
        return Setup(limits, tuple(sorted(env.items())), isolation, read_only)


@dataclass
class Launched:
    """A kernel launched ahead, in its own work folder."""

    setup: Setup
    workdir: Path
    runner: Runner


_waiting: Launched | None = None      # at most one per process (a worker's threads share it)
_lock = threading.Lock()
_cleanup_registered = False


def take(setup: Setup) -> Launched | None:
    """The kernel launched ahead for ``setup``, now the caller's (who stops it and removes its folder); one
    launched for another setup is discarded."""
    found = _swap(None)
    if found is not None and found.setup != setup:
        _discard(found)
        found = None
    return found


def launch(setup: Setup) -> None:
    """Launch the kernel of this process's next unit (under bubblewrap only); it waits for :func:`take`."""
    discard()
    if setup.isolation != "bubblewrap":
        return
    _register_cleanup()
    workdir = Path(tempfile.mkdtemp(prefix="hg-"))
    runner = sandbox.prepare(workdir, setup.limits, dict(setup.env), setup.isolation,
                             [Path(p) for p in setup.read_only])
    try:
        runner.launch()
    except Exception:   # noqa: BLE001 - nothing lost: the next unit starts its own kernel and reports a failure
        _discard(Launched(setup, workdir, runner))
        return
    replaced = _swap(Launched(setup, workdir, runner))
    if replaced is not None:    # another thread of this worker launched one meanwhile
        _discard(replaced)


def discard() -> None:
    """Stop the kernel waiting in this process, if any, and remove its folder."""
    found = _swap(None)
    if found is not None:
        _discard(found)


def _swap(new: Launched | None) -> Launched | None:
    """Put ``new`` in the waiting place; what was there."""
    global _waiting
    with _lock:
        found, _waiting = _waiting, new
    return found


def _discard(launched: Launched) -> None:
    launched.runner.stop()
    shutil.rmtree(launched.workdir, ignore_errors=True)


def _register_cleanup() -> None:
    """Discard the waiting kernel when this process ends (a pool's worker ends through multiprocessing)."""
    global _cleanup_registered
    if not _cleanup_registered:
        atexit.register(discard)
        multiprocessing.util.Finalize(None, discard, exitpriority=10)
        _cleanup_registered = True
