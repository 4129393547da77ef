"""A notebook client that keeps at most a budget of output per cell and remembers which cells flooded."""

from __future__ import annotations

import json
from typing import Any

from nbclient import NotebookClient

from handgrad.grading.limits import Limits


class LimitedClient(NotebookClient):
    """nbclient's executor, keeping at most ``limits.output_bytes`` and ``output_lines`` per cell."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.flooded: set[int] = set()
        self._used: dict[int, tuple[int, int]] = {}

    def output(self, outs: list, msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        """Count the bytes and lines of each output message; past the budget, drop it."""
        content = msg.get("content", {})
        text = content.get("text", "") if msg["msg_type"] == "stream" else json.dumps(content.get("data", {}))
        used_bytes, used_lines = self._used.get(cell_index, (0, 0))
        used_bytes, used_lines = used_bytes + len(text), used_lines + text.count("\n")
        self._used[cell_index] = (used_bytes, used_lines)
        if used_bytes > self.limits.output_bytes or used_lines > self.limits.output_lines:
            self.flooded.add(cell_index)
            return None
        return super().output(outs, msg, display_id, cell_index)
