"""The plain-data format of what a check saw: written in the kernel, read by the judge.

One JSON object per line. Arrays travel as ``{"shape": [...], "data": [...]}`` of
float64 values (NaN and inf as JSON's NaN/Infinity tokens), never as pickles, so the
trusted process can read a record without running anything the student wrote.
Imports nothing of the course.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

# References taken at import time, before any student code runs in the kernel, so a
# student who later patches numpy or json cannot change how values are written.
_array = np.array
_float64 = np.float64
_ndarray = np.ndarray
_iscomplexobj = np.iscomplexobj
_dumps = json.dumps
_open = open

ENV_VAR = "HANDGRAD_RECORD"

# Kinds of an integrity record: not a check's value but the kernel side's finding that a check
# cannot be trusted. The judge gives the cell that status (never by matching exception names).
TAMPERED = "tampered"
DELEGATED = "delegated"
INTEGRITY_KINDS = (TAMPERED, DELEGATED)


def integrity(kind: str, what: str, message: str) -> dict[str, Any]:
    """An integrity record (``kind`` one of :data:`INTEGRITY_KINDS`) with the student's message."""
    return {"check": f"integrity:{kind}", "kind": kind, "what": what, "passed": False, "message": message}


def encode_array(value: Any) -> dict[str, Any] | None:
    """A float64 copy of a numeric value as plain data, or None when it is not numeric."""
    if value is None or isinstance(value, (str, bytes, dict)):
        return None
    try:
        raw = _array(value)
        if _iscomplexobj(raw):
            return None
        array = _array(raw, dtype=_float64, copy=True).view(_ndarray)
    except (TypeError, ValueError, OverflowError):
        return None
    return {"shape": [int(n) for n in array.shape], "data": [float(v) for v in array.ravel().tolist()]}


def decode_array(encoded: dict[str, Any] | None) -> np.ndarray | None:
    """The float64 array an ``encode_array`` record holds."""
    if encoded is None:
        return None
    return np.asarray(encoded["data"], dtype=np.float64).reshape(encoded["shape"])


def append(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as a JSON line."""
    with _open(path, "a", encoding="utf-8") as stream:
        stream.write(_dumps(record) + "\n")


def read(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every well-formed record in a file; a malformed line is skipped."""
    path = Path(path)
    if path.exists():
        yield from parse(path.read_text(encoding="utf-8", errors="replace"))


def parse(text: str) -> Iterator[dict[str, Any]]:
    """Every well-formed record in JSON-lines text; a malformed line is skipped."""
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("check"), str):
            yield record
