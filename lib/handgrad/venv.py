"""The course's Python environment on PATH, for the commands nbgrader starts.

nbgrader runs helpers (``alembic`` for its gradebook, ``jupyter`` kernels) by name, so they must be
found next to the Python that runs the course (``.venv/bin``) even when that venv is not activated.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path


def bin_dir() -> Path:
    """The folder of this Python's executables (``.venv/bin`` in the course)."""
    return Path(sys.executable).parent


def on_path(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default: this process's environment) with :func:`bin_dir` first on PATH."""
    base = dict(os.environ if env is None else env)
    base["PATH"] = os.pathsep.join([str(bin_dir()), *([base["PATH"]] if base.get("PATH") else [])])
    return base
