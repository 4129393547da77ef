"""Kernels launched ahead: while one unit runs, the sandboxed kernels of this process's next units start and
make their imports (:data:`handgrad.grading.kernel.PRELOAD`), so those units find them ready.

Every unit still gets a kernel of its own, fresh, in a sandbox and work folder of its own, launched
before its student is known; no kernel ever runs a second notebook. Only under bubblewrap: there the
kernel running now cannot see the ones waiting (own mount, pid, ipc and network namespaces), while
under the limits alone kernels share /tmp and see each other's processes.
"""

from __future__ import annotations

import atexit
import collections
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


_waiting: collections.deque[Launched] = collections.deque()   # oldest first; a worker's threads share it
_lock = threading.Lock()
_cleanup_registered = False


def take(setup: Setup) -> Launched | None:
    """The oldest kernel launched ahead for ``setup``, now the caller's (who stops it and removes its folder);
    kernels launched for another setup are discarded."""
    other = []
    found = None
    with _lock:
        while _waiting and found is None:
            candidate = _waiting.popleft()
            if candidate.setup == setup:
                found = candidate
            else:
                other.append(candidate)
    for launched in other:
        _discard(launched)
    return found


def waiting() -> int:
    """How many kernels wait in this process."""
    with _lock:
        return len(_waiting)


def fill(setup: Setup, count: int) -> None:
    """Launch kernels for this process's next units until ``count`` of them wait (under bubblewrap only);
    kernels waiting for another setup are discarded."""
    if setup.isolation != "bubblewrap" or count <= 0:
        return
    with _lock:
        other = [launched for launched in _waiting if launched.setup != setup]
        for launched in other:
            _waiting.remove(launched)
        missing = count - len(_waiting)
    for launched in other:
        _discard(launched)
    _register_cleanup()
    for _ in range(missing):
        workdir = Path(tempfile.mkdtemp(prefix="hg-"))
        runner = sandbox.prepare(workdir, setup.limits, dict(setup.env), setup.isolation,
                                 [Path(p) for p in setup.read_only])
        try:
            runner.launch()
        except Exception:   # noqa: BLE001 - nothing lost: a unit without one starts its own kernel, reports failures
            _discard(Launched(setup, workdir, runner))
            return
        with _lock:
            _waiting.append(Launched(setup, workdir, runner))


def discard() -> None:
    """Stop every kernel waiting in this process and remove their folders."""
    with _lock:
        found = list(_waiting)
        _waiting.clear()
    for launched in found:
        _discard(launched)


def _discard(launched: Launched) -> None:
    launched.runner.stop()
    shutil.rmtree(launched.workdir, ignore_errors=True)


def _register_cleanup() -> None:
    """Discard the waiting kernels when this process ends (a pool's worker ends through multiprocessing)."""
    global _cleanup_registered
    if not _cleanup_registered:
        atexit.register(discard)
        multiprocessing.util.Finalize(None, discard, exitpriority=10)
        _cleanup_registered = True
