"""The round's progress bar on the instructor's terminal: one tick per graded notebook, with a time estimate."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def bar(total: int, stream: Any = None) -> tqdm:
    """A tqdm bar over ``total`` notebooks, silent when the stream (stderr by default) is not a terminal."""
    stream = stream or sys.stderr
    # Quiet in logs, CI and pipes: a bar there is only noise.
    quiet = not (hasattr(stream, "isatty") and stream.isatty())
    return tqdm(total=total, desc="grading", unit="notebook", file=stream, disable=quiet, dynamic_ncols=True)
