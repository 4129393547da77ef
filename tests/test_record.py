"""handgrad.record: the plain-data format between the kernel and the trusted judge."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handgrad import record


@pytest.mark.parametrize("value", [
    np.float64(3.25),
    np.array(-1.5),
    np.arange(5.0),
    np.arange(12.0).reshape(3, 4) / 7,
    np.arange(24).reshape(2, 3, 4),
    np.zeros((0, 3)),
    np.array([[np.nan, np.inf], [-np.inf, 1e-300]]),
    np.array(np.nan),
], ids=["f64-scalar", "0-d", "1-d", "2-d", "3-d-int", "empty", "non-finite", "0-d-nan"])
def test_encode_decode_round_trip(value):
    encoded = record.encode_array(value)
    expected = np.asarray(value, dtype=np.float64)
    assert encoded["shape"] == list(expected.shape)
    assert all(type(v) is float for v in encoded["data"])
    decoded = record.decode_array(encoded)
    assert type(decoded) is np.ndarray
    assert decoded.dtype == np.float64
    assert decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded, expected)  # NaN == NaN here


def test_round_trip_through_json_keeps_non_finite_values():
    value = np.array([np.nan, np.inf, -np.inf, 0.1])
    text = json.dumps(record.encode_array(value))
    assert "NaN" in text and "Infinity" in text
    np.testing.assert_array_equal(record.decode_array(json.loads(text)), value)


def test_encode_lists_and_python_scalars():
    assert record.encode_array([[1, 2], [3, 4]]) == {"shape": [2, 2], "data": [1.0, 2.0, 3.0, 4.0]}
    assert record.encode_array(2) == {"shape": [], "data": [2.0]}
    assert record.encode_array(True) == {"shape": [], "data": [1.0]}


def test_encode_copies_and_drops_subclasses():
    class Sub(np.ndarray):
        pass

    value = np.arange(3.0).view(Sub)
    encoded = record.encode_array(value)
    value[0] = 100.0
    assert encoded["data"] == [0.0, 1.0, 2.0]


class Opaque:
    pass


@pytest.mark.parametrize("value", ["abc", {"a": 1}, Opaque(), ["x", "y"], [[1, 2], [3]], object()],
                         ids=["str", "dict", "object", "list-of-str", "ragged", "bare-object"])
def test_non_numeric_encodes_to_none(value):
    assert record.encode_array(value) is None


def test_decode_none_is_none():
    assert record.decode_array(None) is None


def test_append_and_read_round_trip(tmp_path):
    path = tmp_path / "records.jsonl"
    entries = [
        {"check": "01.a.1", "kind": "close", "passed": True, "got": record.encode_array(np.eye(2)),
         "expected": record.encode_array(np.eye(2))},
        {"check": "01.a.2", "kind": "close", "passed": False, "got": record.encode_array([np.nan, np.inf]),
         "expected": record.encode_array([1.0, 2.0])},
        {"check": "01.b.1", "kind": "exact", "passed": True, "got": "b", "expected": "B"},
    ]
    for entry in entries:
        record.append(path, entry)
    assert len(path.read_text().splitlines()) == 3
    read = list(record.read(path))
    assert [r["check"] for r in read] == ["01.a.1", "01.a.2", "01.b.1"]
    assert read[2] == entries[2]
    np.testing.assert_array_equal(record.decode_array(read[0]["got"]), np.eye(2))
    np.testing.assert_array_equal(record.decode_array(read[1]["got"]), [np.nan, np.inf])
    assert read[1]["passed"] is False


def test_append_accepts_str_paths(tmp_path):
    path = tmp_path / "r.jsonl"
    record.append(str(path), {"check": "x"})
    assert list(record.read(str(path))) == [{"check": "x"}]


def test_read_of_a_missing_file_is_empty(tmp_path):
    assert list(record.read(tmp_path / "nothing.jsonl")) == []


def test_malformed_and_non_dict_lines_are_skipped(tmp_path):
    path = tmp_path / "records.jsonl"
    lines = [
        json.dumps({"check": "good.1", "passed": True}),
        "{not json",
        '{"check": "truncated"',
        "",
        "   ",
        "[1, 2, 3]",
        '"a string"',
        "42",
        "null",
        json.dumps({"no_check": 1}),
        json.dumps({"check": 7}),
        json.dumps({"check": None}),
        json.dumps({"check": "good.2", "passed": False}),
    ]
    path.write_text("\n".join(lines) + "\n{\"check\": \"cut", encoding="utf-8")
    assert [r["check"] for r in record.read(path)] == ["good.1", "good.2"]


def test_invalid_utf8_does_not_raise(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"check": "ok.1"}\n\xff\xfe\x00garbage\n{"check": "ok.2"}\n')
    assert [r["check"] for r in record.read(path)] == ["ok.1", "ok.2"]


def test_patching_numpy_array_after_import_changes_nothing(monkeypatch):
    monkeypatch.setattr(np, "array", lambda *args, **kwargs: np.zeros(3))
    encoded = record.encode_array([1.5, 2.5, 3.5])
    assert encoded == {"shape": [3], "data": [1.5, 2.5, 3.5]}


def test_patching_ndarray_view_class_and_float64_after_import_changes_nothing(monkeypatch):
    monkeypatch.setattr(np, "float64", np.float32)
    monkeypatch.setattr(np, "ndarray", type("Fake", (), {}))
    encoded = record.encode_array([0.1])
    assert encoded == {"shape": [1], "data": [0.1]}


def test_patching_json_dumps_after_import_changes_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(json, "dumps", lambda *args, **kwargs: '{"check": "forged", "passed": true}')
    path = tmp_path / "r.jsonl"
    record.append(path, {"check": "real", "passed": False})
    monkeypatch.undo()
    assert list(record.read(path)) == [{"check": "real", "passed": False}]


@pytest.mark.parametrize("value", [None, "1.5"], ids=["none", "numeric-string"])
def test_none_and_numeric_strings_encode_to_none_like_compare(value):
    assert record.encode_array(value) is None
