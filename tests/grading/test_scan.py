"""handgrad.grading.scan: delegating names, and lines that reach into internals (to review)."""

from __future__ import annotations

import pytest

from handgrad.grading import scan


@pytest.mark.parametrize("source, names", [
    ("import torch\ny = torch.relu(x)", {"torch"}),
    ("from scipy.special import expit", {"scipy"}),
    ("y = __import__('to' + 'rch')", {"__import__"}),
    ("exec('import torch')", {"exec"}),
    ("y = np.maximum(x, 0)  # torch would do this too", set()),
    ("def broken(:", set()),
])
def test_delegating_names(source, names):
    assert scan.delegating_names(source) == names


@pytest.mark.parametrize("source, line, reason", [
    ("x = 1\nimport gc", 2, scan.REVIEW_MODULES["gc"]),
    ("import ctypes as c", 1, scan.REVIEW_MODULES["ctypes"]),
    ("from inspect import currentframe", 1, scan.REVIEW_MODULES["inspect"]),
    ("import builtins\nbuiltins.sum = max", 1, scan.REVIEW_MODULES["builtins"]),
    ("from handgrad import checks", 1, scan.REVIEW_MODULES["handgrad.checks"]),
    ("import handgrad.suites.activations as s", 1, scan.REVIEW_MODULES["handgrad.suites"]),
    ("from handgrad.grading.judge import judge_cell", 1, scan.REVIEW_MODULES["handgrad.grading"]),
    ("import sys\nnp = sys.modules['numpy']", 2, scan.REVIEW_ATTRIBUTES["modules"]),
    ("def f(x):\n    frame = x.tb_frame\n    return frame", 2, scan.REVIEW_ATTRIBUTES["tb_frame"]),
    ("g = f.__globals__", 1, scan.REVIEW_ATTRIBUTES["__globals__"]),
    ("__builtins__['len'] = None", 1, scan.REVIEW_NAMES["__builtins__"]),
    ("get_ipython().user_ns.clear()", 1, scan.REVIEW_NAMES["get_ipython"]),
    ("globals()['to' + 'rch']", 1, scan.REVIEW_NAMES["globals"]),
    ("x = ().__class__.__base__.__subclasses__()", 1, scan.REVIEW_ATTRIBUTES["__subclasses__"]),
])
def test_reaching_into_internals_is_found_with_its_line(source, line, reason):
    assert (line, reason) in scan.review_findings(source)


@pytest.mark.parametrize("source", [
    "import numpy as onp\ny = onp.einsum('ij,jk->ik', a, b)",
    "import sys\nprint('hi', file=sys.stderr)",
    "f = np.vectorize(lambda v: max(v, 0.0))",
    "class ReLU(Activation):\n    def forward(self, z):\n        self.state = z\n        return np.maximum(z, 0)",
    "modules = 3\nframe = 'f_back'",
    "def broken(:",
])
def test_ordinary_answers_are_not_for_review(source):
    assert scan.review_findings(source) == []


def test_one_finding_per_line_sorted():
    findings = scan.review_findings("import gc, ctypes\nimport sys\ngc.collect(); sys.modules.clear()")
    assert [line for line, _ in findings] == [1, 3]
