"""The runtime delegation detector (handgrad.integrity) and the global-state guard (handgrad.state)."""

from __future__ import annotations

import builtins
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from handgrad import blocks, checks, integrity, state

Z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])


def finding(function: Callable[..., Any], *args: Any, assignment: str | None = "02_activations",
            torch_allowed: bool = False) -> integrity.Finding | None:
    """What a Watch found while ``function(*args)`` ran (exceptions from the function are ignored)."""
    watch = integrity.Watch(assignment, torch_allowed, (function, *args))
    with watch:
        try:
            function(*args)
        except Exception:
            pass
    return watch.finding


def run_source(source: str, name: str = "f") -> Callable[..., Any]:
    """A function defined by student-like source (module globals of its own, like a notebook)."""
    namespace: dict[str, Any] = {"__name__": "__main__", "np": np}
    exec(compile(source, "<solution>", "exec"), namespace)
    return namespace[name]


# --------------------------------------------------------------------------- no false alarms

HONEST = {
    "numpy": "def f(z):\n    return np.maximum(z, 0)\n",
    "numpy_alias": "import numpy as xp\ndef f(z):\n    return xp.where(z > 0, z, 0.0)\n",
    "einsum": "def f(z):\n    return np.einsum('ij,ij->ij', z, (z > 0) * 1.0)\n",
    "vectorize": "relu = np.vectorize(lambda v: v if v > 0 else 0.0)\ndef f(z):\n    return relu(z)\n",
    "own_helpers": "def _pos(v):\n    return v * (v > 0)\ndef _apply(g, v):\n    return g(v)\n"
                   "def f(z):\n    return _apply(_pos, z.copy())\n",
    "unused_torch": "import torch\ndef f(z):\n    assert not torch.is_tensor(z)\n    return np.maximum(z, 0)\n",
    "builtins": "def f(z):\n    return np.array([[max(v, 0.0) for v in row] for row in z.tolist()]) + sum([0.0])\n",
    "threads": "import threading\ndef f(z):\n    out = []\n"
               "    t = threading.Thread(target=lambda: out.append(np.maximum(z, 0)))\n"
               "    t.start(); t.join()\n    return out[0]\n",
}


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_numpy_code_is_not_flagged(name: str) -> None:
    function = run_source(HONEST[name])
    assert finding(function, Z.copy()) is None
    np.testing.assert_array_equal(checks.call("f(z)", function, Z.copy()), np.maximum(Z, 0))


def test_pytorch_exercises_may_use_torch() -> None:
    assert finding(lambda z: torch.relu(torch.tensor(z)).numpy(), Z, torch_allowed=True) is None


# --------------------------------------------------------------------------- torch in a numpy exercise

TORCH = {
    "plain": ("import torch\ndef f(z):\n    return torch.relu(torch.tensor(z)).numpy()\n", "torch.tensor"),
    "alias": ("import torch as np2\nrelu = np2.relu\ndef f(z):\n    return relu(np2.from_numpy(z)).numpy()\n",
              "torch.from_numpy"),
    "string_built": ("def f(z):\n    t = globals()['__builtins__']['__import__']('to' + 'rch')\n"
                     "    return getattr(t, 're' + 'lu')(getattr(t, 'ten' + 'sor')(z)).numpy()\n", "torch.tensor"),
    "importlib": ("import importlib\ndef f(z):\n    t = importlib.import_module('to' + 'rch')\n"
                  "    return t.clamp(t.as_tensor(z), min=0).numpy()\n", "torch.as_tensor"),
    "sys_modules": ("import sys\ndef f(z):\n    F = sys.modules['torch.nn.functional']\n"
                    "    return F.relu(sys.modules['torch'].tensor(z)).numpy()\n", "torch.tensor"),
    "map_chain": ("import sys, functools\nT = sys.modules['torch']\ndef f(z):\n"
                  "    rows = list(map(T.relu, map(T.from_numpy, z)))\n"
                  "    return np.stack([r.numpy() for r in rows])\n",
                  "torch"),
    "tensor_method": ("import sys\nT = sys.modules['torch']\nx = T.zeros(1)\ndef f(z):\n"
                      "    return x.new_tensor(z).clamp_min(0).numpy()\n", "torch.Tensor.new_tensor"),
    "functional": ("import torch.nn.functional as F\nimport torch\nx = torch.zeros(1, dtype=torch.float64)\n"
                   "def f(z):\n    return F.leaky_relu(x + torch.from_numpy(z), 0.0).numpy()\n", "torch"),
    "in_a_thread": ("import threading, torch\ndef f(z):\n    out = []\n"
                    "    t = threading.Thread(target=lambda: out.append(torch.relu(torch.tensor(z)).numpy()))\n"
                    "    t.start(); t.join()\n    return out[0]\n", "torch"),
    "only_when_graded": ("import os, torch\ndef f(z):\n    if 'handgrad.integrity' in __import__('sys').modules:\n"
                         "        return torch.relu(torch.tensor(z)).numpy()\n    return z * 0\n", "torch"),
    "course_oracle": ("from handgrad.suites import activations\nimport torch\ndef f(z):\n"
                      "    return activations.oracle(z, torch.relu)[0]\n", "torch"),
}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_torch_in_a_numpy_exercise_is_delegation(name: str) -> None:
    source, used = TORCH[name]
    found = finding(run_source(source), Z.copy())
    assert found is not None and found.kind == "delegated", found
    assert found.used.startswith(used) and not found.via, found


def test_another_library_is_delegation() -> None:
    import sympy

    found = finding(lambda z: np.array(sympy.Matrix(z.tolist()).applyfunc(lambda v: sympy.Max(v, 0)), dtype=float), Z)
    assert found is not None and found.kind == "delegated" and found.used.startswith("sympy."), found


# --------------------------------------------------------------------------- the course's reference classes

BLOCK_ROUTES = {
    "plain": "from handgrad.blocks import ReLU\n",
    "importlib_split": ("import importlib\n"
                        "ReLU = getattr(importlib.import_module('handgrad.' + 'blo' + 'cks'), 'Re' + 'LU')\n"),
    "dunder_import": "ReLU = __import__('handgrad.blocks', fromlist=['x']).ReLU\n",
    "sys_modules": "import sys, handgrad.blocks\nReLU = sys.modules['handgrad.' + 'blocks'].__dict__['ReLU']\n",
    "getattr_module": "import handgrad\nReLU = getattr(getattr(handgrad, 'blocks'), 'ReLU')\n",
    "subclass": "from handgrad import blocks\nclass ReLU(blocks.ReLU):\n    pass\n",
    "by_composition": "from handgrad import blocks\nclass ReLU:\n    def __init__(self):\n"
                      "        self.inner = None\n    def forward(self, z):\n        self.inner = blocks.ReLU()\n"
                      "        return self.inner.forward(z)\n",
}


@pytest.mark.parametrize("route", sorted(BLOCK_ROUTES))
def test_a_reference_class_of_the_assignment_is_delegation(route: str) -> None:
    source = "import handgrad.blocks\n" + BLOCK_ROUTES[route] + "def f(z):\n    return ReLU().forward(z)\n"
    found = finding(run_source(source), Z.copy())
    assert found is not None and found.kind == "delegated", found
    assert found.via == "handgrad.blocks.ReLU", found
    message = found.message("ReLU.forward(z)", torch_allowed=False)
    assert "handgrad.blocks.ReLU" in message and "scores 0" in message


def test_a_pytorch_exercise_may_not_use_a_reference_class_either() -> None:
    found = finding(lambda z: blocks.BatchNorm(z.shape[1]).forward(z), Z, assignment="05_batchnorm",
                    torch_allowed=True)
    assert found is not None and found.via == "handgrad.blocks.BatchNorm"


def test_later_notebooks_may_use_earlier_blocks() -> None:
    def network(z: np.ndarray) -> np.ndarray:
        layer = blocks.Linear(5, 3, lambda i, o: np.ones((i, o)), lambda o: np.zeros(o))
        out = blocks.ReLU().forward(layer.forward(z))
        loss = blocks.SoftmaxCrossEntropy()
        loss.forward(out, np.eye(3)[[0]])
        return layer.backward(loss.derivative())

    assert finding(network, Z, assignment="06_mlp") is None
    assert finding(lambda z: blocks.Linear(5, 2, lambda i, o: np.ones((i, o)), lambda o: np.zeros(o)).forward(z),
                   Z, assignment="02_activations") is None     # not an exercise of 02
    found = finding(lambda z: blocks.Linear(5, 2, lambda i, o: np.ones((i, o)), lambda o: np.zeros(o)).forward(z),
                    Z, assignment="04_linear")
    assert found is not None and found.via == "handgrad.blocks.Linear"


def test_torch_in_a_callback_handed_to_an_allowed_block_is_still_delegation() -> None:
    def sneaky(z: np.ndarray) -> np.ndarray:
        grabbed = []

        def weights(i: int, o: int) -> np.ndarray:
            grabbed.append(torch.relu(torch.tensor(z)).numpy())
            return np.ones((i, o))

        blocks.Linear(5, 2, weights, lambda o: np.zeros(o))
        return grabbed[0]

    found = finding(sneaky, Z, assignment="02_activations")
    assert found is not None and found.kind == "delegated" and not found.via


def test_unknown_assignment_forbids_every_reference_class() -> None:
    strict = integrity.forbidden_blocks(None)
    assert set(strict["handgrad.blocks"]) >= {"ReLU", "SoftmaxCrossEntropy", "Linear", "BatchNorm"}
    assert integrity.forbidden_blocks("06_mlp") == {}


def test_the_assignment_comes_from_the_calling_suite_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = sys._getframe()
    monkeypatch.delenv(integrity.ENV_VAR, raising=False)
    assert integrity.assignment_of(frame) is None
    monkeypatch.setenv(integrity.ENV_VAR, "04_linear")
    assert integrity.assignment_of(frame) == "04_linear"
    suite_globals = {"__name__": "handgrad.suites.activations"}
    suite_frame = eval(compile("__import__('sys')._getframe()", "<suite>", "eval"), suite_globals)
    assert integrity.assignment_of(suite_frame) == "02_activations"    # the suite wins over the environment


def test_every_suite_and_assignment_is_in_the_tables() -> None:
    import pkgutil

    import handgrad.suites

    suites = {f"handgrad.suites.{m.name}" for m in pkgutil.iter_modules(handgrad.suites.__path__)}
    assert suites <= set(integrity.SUITES), suites - set(integrity.SUITES)
    assert set(integrity.SUITES.values()) <= set(integrity.FORBIDDEN_BLOCKS)


# --------------------------------------------------------------------------- removing the watch

TAMPERING = {
    "sys_setprofile": "import sys\ndef f(z):\n    sys.setprofile(None)\n    return np.maximum(z, 0)\n",
    "threading_setprofile": ("import threading\ndef f(z):\n    threading.setprofile(None)\n"
                             "    return np.maximum(z, 0)\n"),
    "raw_thread": "import _thread, time\ndef f(z):\n    out = []\n"
                  "    _thread.start_new_thread(lambda: out.append(np.maximum(z, 0)), ())\n"
                  "    while not out:\n        time.sleep(0.01)\n    return out[0]\n",
    "subprocess": "import subprocess, sys\ndef f(z):\n    subprocess.run([sys.executable, '-c', 'pass'])\n"
                  "    return np.maximum(z, 0)\n",
    "pops_torch_modes": "from torch.utils import _python_dispatch as d\nfrom torch import overrides as o\n"
                        "def f(z):\n    d._pop_mode()\n    o._pop_mode()\n    return np.maximum(z, 0)\n",
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_removing_the_watch_is_tampering(name: str) -> None:
    function = run_source(TAMPERING[name])
    before = (sys.getprofile(), threading.getprofile())
    found = finding(function, Z.copy())
    assert found is not None and found.kind == "tampered", found
    assert (sys.getprofile(), threading.getprofile()) == before   # the watch leaves nothing installed


def test_the_watch_leaves_no_torch_mode_behind() -> None:
    from torch.overrides import _get_current_function_mode
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    finding(lambda z: torch.relu(torch.tensor(z)), Z)
    assert _get_current_function_mode() is None and _get_current_dispatch_mode() is None
    assert sys.getprofile() is None


# --------------------------------------------------------------------------- checks.call

def test_call_raises_delegation_and_records_it(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "records.jsonl"
    monkeypatch.setattr(checks, "_RECORD_PATH", str(path))
    monkeypatch.setenv(integrity.ENV_VAR, "02_activations")
    with pytest.raises(checks.DelegationDetected, match="torch.from_numpy"):
        checks.call("ReLU.forward(z)", lambda z: torch.relu(torch.from_numpy(z)).numpy(), Z)
    with pytest.raises(checks.DelegationDetected, match="handgrad.blocks.ReLU"):
        checks.call("ReLU.forward(z)", lambda z: blocks.ReLU().forward(z), Z)
    with pytest.raises(checks.TamperingDetected, match="setprofile"):
        checks.call("ReLU.forward(z)", lambda z: sys.setprofile(None), Z)
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds == ["delegated", "delegated", "tampered"]


def test_delegation_wins_over_an_exception_the_code_raised_afterwards() -> None:
    def f(z: np.ndarray) -> None:
        torch.relu(torch.tensor(z))
        raise ValueError("covering my tracks")

    with pytest.raises(checks.DelegationDetected):
        checks.call("f(z)", f, Z)


def test_call_torch_allows_torch() -> None:
    out = checks.call_torch("f(x)", lambda x: torch.relu(x), torch.tensor(Z))
    assert torch.equal(out, torch.relu(torch.tensor(Z)))


# --------------------------------------------------------------------------- global state

def test_call_puts_global_state_back() -> None:
    def careless(z: np.ndarray) -> np.ndarray:
        torch.set_grad_enabled(False)
        torch.set_default_dtype(torch.float64)
        np.seterr(all="raise")
        np.set_printoptions(precision=1)
        builtins.sum = lambda *a: 0   # type: ignore[assignment]
        return np.maximum(z, 0)

    checks.call("f(z)", careless, Z)
    assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32
    assert np.geterr()["over"] == "warn" and np.get_printoptions()["precision"] == 8
    assert sum([1, 2]) == 3


def test_reset_restores_what_oracles_rely_on() -> None:
    try:
        torch.set_grad_enabled(False)
        torch.set_default_dtype(torch.float64)
        np.seterr(all="raise")
        del builtins.max
        builtins.input = None   # type: ignore[assignment]
        state.reset()
        assert torch.is_grad_enabled() and torch.get_default_dtype() == torch.float32
        assert np.geterr() == state.NUMPY_ERRORS
        assert max(1, 2) == 2 and callable(input)
    finally:
        state.reset()


def test_watch_overhead_is_small() -> None:
    import time

    function = run_source(HONEST["numpy"])
    started = time.perf_counter()
    for _ in range(50):
        with integrity.Watch("02_activations", False, (function,)):
            function(Z)
    assert (time.perf_counter() - started) / 50 < 0.01     # well under 10 ms per call, even on a busy machine


def test_every_graded_call_into_student_code_is_watched() -> None:
    from tests.notebooks import harness

    sigmoid = ("import torch\nclass Sigmoid(Activation):\n    def forward(self, z):\n"
               "        self.state = torch.sigmoid(torch.tensor(z)).numpy()\n        return self.state.copy()\n"
               "    def derivative(self):\n        return self.state * (1.0 - self.state)\n")
    outcome = harness.run_graded("02_activations", {"sigmoid": sigmoid})
    # test_sigmoid_stable runs the code under its own overflow guard (checks.untampered), watched too.
    assert outcome["test_sigmoid"].startswith("DelegationDetected: Sigmoid")
    assert outcome["test_sigmoid_stable"].startswith("DelegationDetected: Sigmoid")
    assert {cell: v for cell, v in outcome.items() if "sigmoid" not in cell} == {
        "test_identity": "ok", "test_tanh": "ok", "test_relu": "ok", "test_leaky_relu": "ok"}


def test_the_first_call_in_a_fresh_kernel_is_not_taken_for_tampering() -> None:
    import subprocess

    code = ("import numpy as np\nfrom handgrad import checks\n"
            "print(checks.call('f(z)', np.abs, -np.ones(2)).sum(), checks.call_torch('g', abs, -1))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.split() == ["2.0", "1"], done.stderr[-2000:]


def test_an_interrupt_goes_through_as_it_is() -> None:
    def slow(z: np.ndarray) -> None:
        torch.relu(torch.tensor(z))
        raise KeyboardInterrupt   # what the cell's timeout raises

    with pytest.raises(KeyboardInterrupt):
        checks.call("f(z)", slow, Z)
    assert sys.getprofile() is None
