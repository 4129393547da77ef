"""What a solution cell's code reaches for, read from its syntax tree (nothing is run).

Two scans: names that hand a numpy exercise to a library that computes it (the cell's tests
then score 0, ``delegated``), and reaches into the grader, the kernel or module internals
(frames, ``gc``, ``sys.modules``, builtins, the check helpers, ``ctypes``) that a correct
answer never needs: those are listed for a person to review when the cell still passes.
"""

from __future__ import annotations

import ast

# Names that hand a numpy exercise to a library that computes it (or hide such an import).
DELEGATING_NAMES = {"torch", "tensorflow", "jax", "scipy", "sklearn", "__import__", "importlib", "exec", "eval"}

# Modules an answer has no reason to import, and why a person should look.
REVIEW_MODULES = {
    "gc": "uses the garbage collector, which reaches every live object (the check helpers included)",
    "ctypes": "uses ctypes, which writes the interpreter's memory directly",
    "inspect": "uses inspect, which reads the caller's frames and source",
    "builtins": "changes or reads Python's builtins module",
    "IPython": "reaches into the kernel (IPython)",
    "ipykernel": "reaches into the kernel (ipykernel)",
    "handgrad.checks": "imports the check helpers",
    "handgrad.compare": "imports the check helpers (compare)",
    "handgrad.record": "imports the check helpers (record)",
    "handgrad.suites": "imports the hidden tests",
    "handgrad.grading": "imports the grader",
}

# Attributes and names that reach into interpreter internals, and why.
REVIEW_ATTRIBUTES = {
    "modules": "reads or changes sys.modules (other modules' internals)",
    "_getframe": "reads the caller's frames",
    "f_back": "walks the stack of frames", "f_globals": "reads a frame's globals", "f_locals": "reads a frame's locals",
    "tb_frame": "reads frames from a traceback", "gi_frame": "reads a generator's frame",
    "__globals__": "reads a function's globals", "__code__": "reads or swaps a function's code",
    "__closure__": "reads a function's closure", "__subclasses__": "walks the class hierarchy",
    "__builtins__": "changes or reads Python's builtins", "settrace": "installs a trace hook",
    "setprofile": "installs a profile hook",
}
REVIEW_NAMES = {"__builtins__": REVIEW_ATTRIBUTES["__builtins__"], "get_ipython": "reaches into the kernel",
                "gc": REVIEW_MODULES["gc"], "ctypes": REVIEW_MODULES["ctypes"], "globals": "reads the module's globals"}


def parse(source: str) -> ast.AST | None:
    """The syntax tree of a cell (None when it does not parse: running it will say why)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def delegating_names(source: str) -> set[str]:
    """Names in ``source`` that delegate the work to another library (empty when it does not parse)."""
    tree = parse(source)
    found: set[str] = set()
    for node in ast.walk(tree) if tree is not None else []:
        if isinstance(node, ast.Name) and node.id in DELEGATING_NAMES:
            found.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found |= {m.split(".")[0] for m in modules if m.split(".")[0] in DELEGATING_NAMES}
    return found


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    """Full names a statement imports (``from a import b`` gives ``a.b`` and ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    module = node.module or ""
    return [module] + [f"{module}.{alias.name}" for alias in node.names]


def _reason(node: ast.AST) -> str | None:
    """Why one node needs review, or None."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for name in _imported(node):
            for module, why in REVIEW_MODULES.items():
                if name == module or name.startswith(module + "."):
                    return why
    if isinstance(node, ast.Attribute) and node.attr in REVIEW_ATTRIBUTES:
        return REVIEW_ATTRIBUTES[node.attr]
    if isinstance(node, ast.Name) and node.id in REVIEW_NAMES:
        return REVIEW_NAMES[node.id]
    return None


def review_findings(source: str) -> list[tuple[int, str]]:
    """(line, reason) for each line of ``source`` that reaches into internals, first reason per line."""
    tree = parse(source)
    found: dict[int, str] = {}
    for node in ast.walk(tree) if tree is not None else []:
        why = _reason(node)
        line = getattr(node, "lineno", 0)
        if why is not None and line not in found:
            found[line] = why
    return sorted(found.items())
