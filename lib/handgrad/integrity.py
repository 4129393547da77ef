"""While a hidden test runs student code: which libraries and reference classes that code reached.

A numpy exercise must not hand its work to torch (or scipy, jax, ...), and no exercise may get
its points from a class of :mod:`handgrad.blocks` that implements an exercise of the assignment
being graded. Names prove nothing (``getattr(__import__('to' + 'rch'), 'relu')``), so
:class:`Watch` looks at what runs, however it was reached:

- torch: a ``TorchFunctionMode`` (sees each torch API call, for its name) and a
  ``TorchDispatchMode`` (sees each tensor operation, also from C-level chains such as
  ``map(torch.relu, ...)``). An operation counts as delegation unless the innermost code that
  is neither torch's, nor the course's hidden tests', nor a reference block's internals is a
  method of a reference class the assignment may use (06 builds on 02-05's blocks).
- everything else: a profile hook (``sys.setprofile`` and ``threading.setprofile``) sees every
  Python function that starts and every builtin that is called: a method of a forbidden
  reference class, a function of another numerical library (:data:`LIBRARIES`), a torch
  builtin called outside an allowed block, or an attempt to remove the hook.
- removal: when the call returns, the hooks must still be in place, else the result is
  ``tampered``.

The assignment comes from the suite that runs the check (:data:`SUITES`; code outside the
kernel cannot change it), else from ``HANDGRAD_ASSIGNMENT``; unknown means strict: every
reference block is forbidden. :data:`FORBIDDEN_BLOCKS` is the one table of which reference
classes each assignment must not use.
"""

from __future__ import annotations

import _posixsubprocess  # type: ignore[import-not-found]
import _thread
import importlib
import os
import sys
import threading
from dataclasses import dataclass
from types import CodeType, FrameType
from typing import Any

import torch
from torch.overrides import TorchFunctionMode, _get_current_function_mode
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode

ENV_VAR = "HANDGRAD_ASSIGNMENT"

_ACTIVATIONS = ("Activation", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU")
_LOSS = ("Criterion", "SoftmaxCrossEntropy")

# assignment -> the reference classes (module, class names) that implement one of its exercises.
FORBIDDEN_BLOCKS: dict[str, dict[str, tuple[str, ...]]] = {
    "01_derivations": {"handgrad.blocks": (*_ACTIVATIONS, *_LOSS, "Linear", "BatchNorm")},
    "02_activations": {"handgrad.blocks": _ACTIVATIONS},
    "03_loss": {"handgrad.blocks": _LOSS},
    "04_linear": {"handgrad.blocks": ("Linear",)},
    "05_batchnorm": {"handgrad.blocks": ("BatchNorm",)},
    "06_mlp": {},
    "07_momentum": {},
    "08_cnn": {},
}

# The suite module that runs a check -> the assignment it grades.
SUITES = {
    "handgrad.suites.derivations": "01_derivations",
    "handgrad.suites.activations": "02_activations",
    "handgrad.suites.loss": "03_loss",
    "handgrad.suites.linear": "04_linear",
    "handgrad.suites.batchnorm": "05_batchnorm",
    "handgrad.suites.mlp": "06_mlp",
    "handgrad.suites.optimizers": "07_momentum",
    "handgrad.suites.conv": "08_cnn",
}

# Libraries that compute what an exercise asks for (top-level package names).
LIBRARIES = frozenset({"scipy", "jax", "jaxlib", "tensorflow", "keras", "sklearn", "sympy", "mpmath", "numba",
                       "cupy", "autograd", "theano", "mxnet", "paddle", "chainer", "numexpr", "torchvision"})

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
_SUITES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "suites") + os.sep
# The modules that hold the course's reference classes (torch-backed, with the exercises' API).
REFERENCE_MODULES = ("handgrad.blocks",)
_THREADING_SETPROFILE = threading.setprofile.__code__
_THREADING_GLOBALS = vars(threading)


# Builtins that remove the watch or run code where it cannot follow (a raw thread, another process):
# called from outside torch's and threading's own code, that is tampering.
_UNHOOKS = {id(function): name for name, function in (
    ("sys.setprofile", sys.setprofile),
    ("torch._C._pop_torch_function_stack", torch._C._pop_torch_function_stack),
    ("torch._C._pop_torch_dispatch_stack", torch._C._pop_torch_dispatch_stack),
    ("torch._C._set_dispatch_mode", torch._C._set_dispatch_mode),
    ("torch._C._unset_dispatch_mode", torch._C._unset_dispatch_mode),
    ("_thread.start_new_thread", _thread.start_new_thread),
    *[(f"os.{name}", getattr(os, name)) for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system",
                                                      "execv", "execve") if hasattr(os, name)],
    ("_posixsubprocess.fork_exec", _posixsubprocess.fork_exec))}
# Namespaces of torch's operator builtins (besides torch's own functions and the tensor methods).
_OPERATOR_MODULES = frozenset({"torch._C._nn", "torch._C._fft", "torch._C._linalg", "torch._C._special",
                               "torch._C._nested", "torch._C._sparse"})

# Torch builtins that read or change settings (grad mode, seeds, dtypes) rather than compute.
_SETTINGS = ("set_", "get_", "is_", "has_", "manual_seed", "seed", "initial_seed", "debug", "are_", "use_")


def _is_setting(function: Any) -> bool:
    """A torch function that reads or changes a setting (its name says so)."""
    return str(getattr(function, "__name__", "")).lstrip("_").startswith(_SETTINGS)


def _is_torch_operation(function: Any) -> bool:
    """A torch builtin that computes (torch.relu, torch.tensor, a tensor method, F's kernels), not a query."""
    if str(getattr(function, "__module__", None) or "").split(".", 1)[0] != "torch":
        owner = getattr(function, "__self__", None)
        return isinstance(owner, torch.Tensor)
    owner = getattr(function, "__self__", None)
    if owner is None:
        return not _is_setting(function)
    return isinstance(owner, torch.Tensor) or getattr(owner, "__name__", "") in _OPERATOR_MODULES


def assignment_of(caller: FrameType | None) -> str | None:
    """The assignment a check belongs to: from the calling suite module, else the environment."""
    while caller is not None:
        module = caller.f_globals.get("__name__", "")
        if module in SUITES:
            return SUITES[module]
        if not str(module).startswith("handgrad.") and module != "contextlib":
            break
        caller = caller.f_back
    return os.environ.get(ENV_VAR) or None


def forbidden_blocks(assignment: str | None) -> dict[str, tuple[str, ...]]:
    """Module -> class names the assignment must not use (every reference block when unknown)."""
    if assignment in FORBIDDEN_BLOCKS:
        return FORBIDDEN_BLOCKS[assignment]
    strict: dict[str, set[str]] = {}
    for table in FORBIDDEN_BLOCKS.values():
        for module, names in table.items():
            strict.setdefault(module, set()).update(names)
    return {module: tuple(sorted(names)) for module, names in strict.items()}


def _class_codes(cls: type) -> dict[CodeType, str]:
    """Code object -> "Class.method" for every function defined in a class body."""
    found = {}
    for name, value in vars(cls).items():
        function = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        if isinstance(value, property):
            function = value.fget
        code = getattr(function, "__code__", None)
        if isinstance(code, CodeType):
            found[code] = f"{cls.__name__}.{name}"
    return found


# Modules whose functions and objects a hidden test may hand to student code as callbacks.
_TRUSTED = ("handgrad.suites", "handgrad.oracles")


def _callback_codes(values: tuple[Any, ...]) -> set[CodeType]:
    """Code of the callbacks a hidden test hands to student code (its own functions and objects)."""
    codes: set[CodeType] = set()
    for value in values:
        function = getattr(value, "__func__", value)
        code = getattr(function, "__code__", None)
        if isinstance(code, CodeType) and str(getattr(function, "__module__", "")).startswith(_TRUSTED):
            codes.add(code)
        elif type(value).__module__.startswith(_TRUSTED):
            for cls in type(value).__mro__:
                codes |= set(_class_codes(cls))
    return codes


def _torch_name(func: Any) -> str:
    """A readable name for a torch API function (torch.relu, torch.Tensor.relu, torch.nn.functional.relu)."""
    qualname = str(getattr(func, "__qualname__", getattr(func, "__name__", repr(func))))
    name = qualname.rsplit(".", 1)[-1]
    if qualname.startswith(("TensorBase.", "Tensor.")):
        return f"torch.Tensor.{name}"
    module = str(getattr(func, "__module__", None) or "torch")
    return f"{'torch' if module.startswith('torch._C') else module}.{name}"


_Reference = tuple[dict[str, dict[str, str]], frozenset[CodeType], frozenset[str]]
_REFERENCE_CACHE: dict[tuple[Any, ...], _Reference] = {}


def _reference_classes(assignment: str | None) -> _Reference:
    """The forbidden classes (by file), the code of the allowed ones and the reference modules' files.

    Cached per assignment and identity of the classes (a reload of the blocks makes new ones).
    """
    forbidden = forbidden_blocks(assignment)
    modules = [(name, sys.modules.get(name) or importlib.import_module(name))
               for name in sorted({*REFERENCE_MODULES, *forbidden})]
    classes = [(name, module, [v for v in list(vars(module).values()) if isinstance(v, type) and v.__module__ == name])
               for name, module in modules]
    key = (assignment, tuple((name, id(module), tuple(map(id, found))) for name, module, found in classes))
    cached = _REFERENCE_CACHE.get(key)
    if cached is not None:
        return cached
    by_file: dict[str, dict[str, str]] = {}
    allowed: set[CodeType] = set()
    files = set()
    for name, module, found in classes:
        path = str(getattr(module, "__file__", ""))
        files.add(path)
        for cls in found:
            if cls.__name__ in forbidden.get(name, ()):
                by_file.setdefault(path, {})[cls.__name__] = f"{name}.{cls.__name__}"
            else:
                allowed |= set(_class_codes(cls))
    if len(_REFERENCE_CACHE) > 16:      # each reload of the blocks adds a key: keep only recent ones
        _REFERENCE_CACHE.clear()
    _REFERENCE_CACHE[key] = (by_file, frozenset(allowed), frozenset(files))
    return _REFERENCE_CACHE[key]


@dataclass(frozen=True)
class Finding:
    """What the student's code reached: ``delegated`` (a library or a reference class) or ``tampered``."""

    kind: str
    used: str
    via: str = ""

    def message(self, what: str, torch_allowed: bool) -> str:
        """The student's message: what was used, and why it scores 0."""
        if self.kind == "tampered":
            return (f"{what} removed the grader's watch ({self.used}) while it ran: this check cannot be trusted "
                    f"and scores 0.")
        if self.via:
            return (f"{what} used the course's reference class {self.via} ({self.used}): it implements an "
                    f"exercise of this assignment, so this check scores 0. Write it yourself.")
        task = "written with PyTorch operations you write yourself" if torch_allowed else "written with numpy"
        return f"{what} used {self.used}: this exercise is to be {task}, so this check scores 0."


class _FunctionSpy(TorchFunctionMode):
    """Names each torch API call that student code makes."""

    def __init__(self, watch: Watch) -> None:
        super().__init__()
        self.watch = watch

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if not _is_setting(func):
            self.watch.torch_used(sys._getframe(1), _torch_name(func))
        return func(*args, **(kwargs or {}))


class _DispatchSpy(TorchDispatchMode):
    """Sees each tensor operation, however it was reached (the backstop of :class:`_FunctionSpy`)."""

    def __init__(self, watch: Watch) -> None:
        super().__init__()
        self.watch = watch

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Nothing here is compiled: without this, torch wraps __torch_dispatch__ for torch.compile and
        # its first call imports torch._dynamo (seconds of import time in every kernel that reaches it).
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.watch.torch_used(sys._getframe(1), f"torch (operation {func})")
        return func(*args, **(kwargs or {}))


class Watch:
    """While student code runs: record the first delegation or tampering (see the module docstring)."""

    def __init__(self, assignment: str | None, torch_allowed: bool, callbacks: tuple[Any, ...] = ()) -> None:
        self.assignment = assignment
        self.torch_allowed = torch_allowed
        self.finding: Finding | None = None
        # file of a module -> class name -> "module.Class"; codes of allowed classes; reference modules' files
        self.forbidden, allowed, self.transparent_files = _reference_classes(assignment)
        self.allowed: set[CodeType] = set(allowed) | _callback_codes(callbacks)
        self.kinds: dict[CodeType, str] = {}
        self._own = _OWN
        self._spies: list[Any] = []
        self._previous: tuple[Any, Any] = (None, None)

    # ------------------------------------------------------------------ findings

    def _found(self, finding: Finding) -> None:
        if self.finding is None or (self.finding.kind != "tampered" and finding.kind == "tampered"):
            self.finding = finding

    def _is_torch_frame(self, frame: FrameType) -> bool:
        """Torch's own code, run in torch's own module (a file name alone can be forged)."""
        if not frame.f_code.co_filename.startswith(_TORCH_DIR):
            return False
        module = sys.modules.get(str(frame.f_globals.get("__name__", "")))
        return module is not None and vars(module) is frame.f_globals

    def allowed_at(self, frame: FrameType | None) -> bool:
        """Whether torch may run here: the innermost code that is not torch's, a hidden test's or a
        reference block's internals is a method of an allowed reference class (or a test's callback)."""
        while frame is not None:
            code = frame.f_code
            if code in self.allowed:
                return True
            if (code in self._own or code.co_filename in self.transparent_files
                    or code.co_filename.startswith(_SUITES_DIR) or self._is_torch_frame(frame)):
                frame = frame.f_back
                continue
            return False
        return False

    def torch_used(self, frame: FrameType | None, name: str) -> None:
        """A torch operation ran with ``frame`` as the innermost Python frame."""
        if self.torch_allowed or self.finding is not None:
            return
        if not self.allowed_at(frame):
            self._found(Finding("delegated", name))

    def _kind(self, frame: FrameType) -> str:
        """How a started Python function matters: forbidden, library, unhook or other (cached per code)."""
        code = frame.f_code
        kind = self.kinds.get(code)
        if kind is None:
            classes = self.forbidden.get(code.co_filename)
            module = str(frame.f_globals.get("__name__", ""))
            if classes and code.co_qualname.split(".", 1)[0] in classes:
                kind = "forbidden"
            elif code is _THREADING_SETPROFILE:
                kind = "unhook"
            elif module.split(".", 1)[0] in LIBRARIES:
                kind = "library"
            else:
                kind = "other"
            self.kinds[code] = kind
        return kind

    def _block_finding(self, frame: FrameType) -> Finding:
        """The forbidden reference class a started method belongs to, named by the object's class."""
        code = frame.f_code
        classes = self.forbidden[code.co_filename]
        owner = classes[code.co_qualname.split(".", 1)[0]]
        method = code.co_qualname.rsplit(".", 1)[-1]
        instance = frame.f_locals.get("self") if code.co_argcount and code.co_varnames[0] == "self" else None
        for cls in type(instance).__mro__ if instance is not None else ():
            if cls.__name__ in classes and classes[cls.__name__].rsplit(".", 1)[0] == cls.__module__:
                owner = classes[cls.__name__]
                break
        return Finding("delegated", f"{owner.rsplit('.', 1)[-1]}.{method}", via=owner)

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        """The profile hook: a started function or a called builtin that matters becomes a finding."""
        if event == "call":
            kind = self._kind(frame)
            if kind == "other":
                return
            if kind == "forbidden":
                self._found(self._block_finding(frame))
            elif kind == "library":
                self._found(Finding("delegated", f"{frame.f_globals.get('__name__')}.{frame.f_code.co_qualname}"))
            elif frame.f_back is None or frame.f_back.f_code not in self._own:   # unhook
                self._found(Finding("tampered", "threading.setprofile"))
        elif event == "c_call":
            unhook = _UNHOOKS.get(id(arg))
            if unhook is not None:
                if (frame.f_code not in self._own and not self._is_torch_frame(frame)
                        and frame.f_globals is not _THREADING_GLOBALS):
                    self._found(Finding("tampered", unhook))
            elif not self.torch_allowed and _is_torch_operation(arg):
                self.torch_used(frame, _torch_name(arg))

    # ------------------------------------------------------------------ install / remove

    def __enter__(self) -> Watch:  # noqa: PYI034 (not subclassed)
        self._previous = (sys.getprofile(), threading.getprofile())
        if not self.torch_allowed:
            self._spies = [_FunctionSpy(self), _DispatchSpy(self)]
            for spy in self._spies:
                spy.__enter__()
        threading.setprofile(self.profile)
        sys.setprofile(self.profile)
        return self

    def __exit__(self, *exc: object) -> None:
        current = (sys.getprofile(), threading.getprofile())
        sys.setprofile(None)
        threading.setprofile(self._previous[1])
        sys.setprofile(self._previous[0])
        if current != (self.profile, self.profile):
            self._found(Finding("tampered", "the profile hook was replaced"))
        for spy, current_mode in reversed(list(zip(self._spies, (_get_current_function_mode,
                                                                  _get_current_dispatch_mode)))):
            if current_mode() is not spy:
                self._found(Finding("tampered", f"the torch {type(spy).__name__} was removed"))
                continue
            spy.__exit__(None, None, None)
        self._spies = []


# The code of the watch itself (its frames are never the student's). Set once at import: the check
# helpers refuse a result when a module attribute of theirs changes during a call.
_OWN = frozenset(code for cls in (_FunctionSpy, _DispatchSpy, Watch) for code in _class_codes(cls))
