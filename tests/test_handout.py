"""The student hand-out: built from a clean copy of the tree, installed into a fresh venv, run there, scanned.

One build (`python -m handgrad.handout` on a copy of the tracked files) is installed with
pip into a new virtual environment that reuses the course's installed packages (torch,
Jupyter) but not its editable ``handgrad``. Every release notebook then runs there in a
Jupyter kernel (small data, headless): cells that do not depend on student code must run,
visible checks must stop with "not implemented" on the stubs. A scan of every file (wheel
members and notebook cells included) proves that no hidden test, no solution line and no
multiple-choice answer of ``source/`` reached the hand-out.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from handgrad import handout as builder

COURSE = Path(__file__).resolve().parents[1]
ALLOWED_TOP = re.compile(r"README\.md|requirements\.txt|environment\.yml|handgrad-[\w.]+-py3-none-any\.whl")
FORBIDDEN_MODULES = ("handgrad.suites", "handgrad.grading", "handgrad.handout")
LONG = 25   # solution lines longer than this must not appear in the hand-out (shorter ones are idioms)
# A solution line that only turns an argument into a float64 array is an idiom the lib's oracles write too.
CONVERSION = re.compile(r"(\w+) = np\.(asarray|array)\(\1(, dtype=(np\.)?float(64)?)?(, copy=True)?\)")

# Runs in the hand-out's venv: executes the notebooks in kernels of that venv, prints per-cell outcomes.
# Two kernels (one per CPU of a small CI machine), each running its share of the notebooks one after
# another: every notebook starts from an empty namespace (%reset) in its own folder, and its setup cell
# runs as a student's would; only the imported modules stay loaded, which halves the test's CPU time.
DRIVER = r'''
import asyncio, json, os, sys
import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

KERNELS = 2


def outcomes(nb):
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
            cells.append({"index": index, "ename": error["ename"] if error else None,
                          "evalue": error["evalue"] if error else ""})
    return cells


async def worker(paths, report):
    km = AsyncKernelManager(kernel_name="python3")
    await km.start_kernel(cwd=os.path.dirname(paths[0]))
    try:
        for path in paths:
            fresh = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
                "%reset -f\nimport os as _os, matplotlib.pyplot as _plt\n"
                f"_plt.close('all'); _os.chdir({os.path.dirname(path)!r}); del _os, _plt")])
            await NotebookClient(fresh, km=km, timeout=60).async_execute()
            nb = nbformat.read(path, as_version=4)
            await NotebookClient(nb, km=km, timeout=120, allow_errors=True).async_execute()
            report[path] = outcomes(nb)
    finally:
        await km.shutdown_kernel(now=True)


async def main(paths):
    report = {}
    await asyncio.gather(*(worker(paths[i::KERNELS], report) for i in range(min(KERNELS, len(paths)))))
    return report


print("REPORT " + json.dumps(asyncio.run(main(sys.argv[1:]))))
'''


def cell_source(cell: dict) -> str:
    """A notebook cell's source as one string."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def notebook_cells(path: Path) -> list[dict]:
    """The cells of a notebook file."""
    cells: list[dict] = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return cells


def block_lines(text: str, begin: str, end: str) -> list[str]:
    """The stripped lines between `begin` and `end` marker lines."""
    found, inside = [], False
    for line in text.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and line.strip():
            found.append(line.strip())
    return found


# --- the build, the install and the run (once per module) ------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean copy of the course: the files git tracks or would track (nothing ignored: no dist/, venv, caches)."""
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=COURSE, capture_output=True, check=True).stdout
    copy = tmp_path_factory.mktemp("course")
    for name in tracked.decode().split("\0"):
        if name and (COURSE / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(COURSE / name, copy / name)
    return copy


@pytest.fixture(scope="module")
def handout(tree: Path) -> Path:
    """The hand-out built from the clean copy, with the copy's own builder."""
    out = tree / "dist" / "student"
    env = {**os.environ, "PYTHONPATH": str(tree / "lib")}
    run = subprocess.run([sys.executable, "-m", "handgrad.handout", "--course", str(tree), "--out", str(out)],
                         check=False, cwd=tree, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


@pytest.fixture(scope="module")
def venv(handout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv that sees the course's installed packages (torch, Jupyter), with the hand-out's wheel installed."""
    folder = tmp_path_factory.mktemp("student-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=60)
    python = folder / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # A venv made from the course venv's python would inherit the *base* interpreter's packages
    # (--system-site-packages), which lack torch: point it at the course venv's packages instead.
    # A plain path line: the course's own .pth files (its editable handgrad) are not processed.
    course_site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "course-packages.pth").write_text("\n".join(sorted(course_site)) + "\n")
    # The kernel the notebooks ask for ("python3") is this venv's python.
    kernel = folder / "share" / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (hand-out)", "language": "python"}))
    (wheel,) = handout.glob("*.whl")
    # --ignore-installed: never touch the course's editable handgrad that pip also sees.
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
                    "--disable-pip-version-check", str(wheel)], check=True, timeout=120, env=student_env(folder))
    return folder


def student_env(venv: Path) -> dict[str, str]:
    """The environment of a student's shell in the venv: no course paths, small data, no widgets."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               JUPYTER_PATH=str(venv / "share" / "jupyter"), NBGRADER_EXECUTION="1", HANDGRAD_HEADLESS="1",
               MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


@pytest.fixture(scope="module")
def runs(venv: Path, handout: Path) -> dict[str, list[dict]]:
    """Per release notebook of the hand-out: every code cell's error (None when it ran), run in the venv."""
    notebooks = sorted(str(p) for p in handout.glob("*/*.ipynb"))
    run = subprocess.run([str(venv / "bin" / "python"), "-c", DRIVER, *notebooks], check=False, cwd=handout,
                         env=student_env(venv), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("REPORT ")]
    report: dict[str, list[dict]] = json.loads(line.removeprefix("REPORT "))
    return {Path(path).parent.name: cells for path, cells in report.items()}


# --- what the hand-out holds ---------------------------------------------------------------------


def handout_texts(handout: Path) -> dict[str, str]:
    """Every text of the hand-out by name: plain files, each wheel member, each notebook cell (source and outputs)."""
    texts: dict[str, str] = {}
    for path in sorted(p for p in handout.rglob("*") if p.is_file()):
        name = path.relative_to(handout).as_posix()
        if path.suffix == ".whl":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    texts[f"{name}:{member}"] = archive.read(member).decode("utf-8", "replace")
        elif path.suffix == ".ipynb":
            for index, cell in enumerate(notebook_cells(path)):
                outputs = json.dumps(cell.get("outputs", []))
                texts[f"{name}#cell{index}"] = cell_source(cell) + "\n" + outputs
        else:
            texts[name] = path.read_text(encoding="utf-8", errors="replace")
    return texts


def test_handout_holds_the_release_notebooks_and_a_student_wheel_only(tree: Path, handout: Path) -> None:
    release = sorted(p.relative_to(tree / "release").as_posix() for p in (tree / "release").glob("*/*.ipynb"))
    assert release and sorted(p.relative_to(handout).as_posix() for p in handout.glob("*/*.ipynb")) == release
    assert all((handout / n).read_bytes() == (tree / "release" / n).read_bytes() for n in release)
    for entry in handout.iterdir():
        assert ALLOWED_TOP.fullmatch(entry.name) or (entry.is_dir() and (tree / "release" / entry.name).is_dir()), entry
    (wheel,) = handout.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        modules = {m.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                   for m in archive.namelist() if m.endswith(".py")}
    assert {"handgrad", "handgrad.checks", "handgrad.data", "handgrad.live"} <= modules
    assert not [m for m in modules if m.startswith(FORBIDDEN_MODULES)]
    readme = (handout / "README.md").read_text()
    assert wheel.name in readme and "conda env create" in readme and "pip install" in readme
    assert f"./{wheel.name}" in (handout / "environment.yml").read_text()
    pins = (handout / "requirements.txt").read_text()
    assert "torch===" in pins and "nbgrader" not in pins and "pytest" not in pins


def test_no_hidden_test_solution_line_or_answer_key_in_the_handout(tree: Path, handout: Path) -> None:
    release_lines = {line.strip() for nb in (tree / "release").glob("*/*.ipynb")
                     for cell in notebook_cells(nb) for line in cell_source(cell).splitlines()}
    hidden: set[str] = set()
    solutions: set[str] = set()
    answers: list[tuple[str, str]] = []   # (variable, letter) of every multiple-choice answer
    for nb in sorted((tree / "source").glob("*/*.ipynb")):
        for cell in notebook_cells(nb):
            text = cell_source(cell)
            hidden.update(line for line in block_lines(text, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
                          if len(line) > 12)
            lines = block_lines(text, "BEGIN SOLUTION", "END SOLUTION")
            solutions.update(line for line in lines
                             if len(line) > LONG and line not in release_lines and not CONVERSION.fullmatch(line))
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            for line in lines if re.fullmatch(r"mc\d+", grade_id) else []:
                match = re.fullmatch(r"""(mc\d+)\s*=\s*["'](\w+)["']""", line)
                if match:
                    answers.append((match.group(1), match.group(2)))
    assert hidden and solutions and answers   # the scan has something to look for
    assert len(answers) >= 4                  # 01's four multiple-choice answers at least

    markers = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    suite_import = re.compile(r"(from|import)\s+handgrad\.(suites|grading)\b"
                              r"|from\s+handgrad\s+import\s+.*\b(suites|grading)\b")
    leaks: list[str] = []
    for name, text in handout_texts(handout).items():
        leaks += [f"{name}: marker {m!r}" for m in markers if m in text]
        leaks += [f"{name}: imports {m.group(0)!r}" for m in suite_import.finditer(text)]
        for line in text.splitlines():
            line = line.strip()
            code = line.split("#", 1)[0]
            if line in hidden:
                leaks.append(f"{name}: hidden-test line {line[:60]!r}")
            if line in solutions:
                leaks.append(f"{name}: solution line {line[:60]!r}")
            for variable, letter in answers:
                if re.search(rf"""\b{variable}\b["']?\s*[:=,]\s*["']{letter}["']""", code):
                    leaks.append(f"{name}: answer of {variable} ({line[:60]!r})")
    assert not leaks, "\n".join(leaks[:20])


def test_installed_handout_is_the_wheel_without_grader_or_hidden_tests(venv: Path, handout: Path) -> None:
    # (The notebooks' setup cells import the wheel's modules; here only where they come from.)
    probe = ("import importlib.util, json, handgrad\n"
             "print(json.dumps({'file': handgrad.__file__,"
             f" 'reachable': [n for n in {list(FORBIDDEN_MODULES)!r} if importlib.util.find_spec(n)]}}))\n")
    run = subprocess.run([str(venv / "bin" / "python"), "-c", probe], check=False, cwd=handout,
                         env=student_env(venv), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(found["file"]).resolve().is_relative_to(venv.resolve()), found["file"]
    assert found["reachable"] == []


# --- the notebooks run from the hand-out ---------------------------------------------------------


def _module_bindings(tree: ast.AST) -> set[str]:
    """Names a cell binds at notebook level (not inside its functions or classes)."""
    names: set[str] = set()
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _global_loads(node: ast.AST, local: frozenset[str] = frozenset()) -> set[str]:
    """Names `node` reads from the notebook's namespace (a function's parameters and locals are not)."""
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = child.args
            params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}
            inner = params if isinstance(child, ast.Lambda) else params | _module_bindings(child)
            found |= _global_loads(child, local | inner)
        elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load) and child.id not in local:
            found.add(child.id)
        else:
            found |= _global_loads(child, local)
    return found


def student_dependent_cells(notebook: Path) -> tuple[set[int], set[int], set[str]]:
    """(solution cells, cells that use what student code defines, names such cells bind), by cell index.

    Names bound by a solution cell are the student's; a cell that uses one of them depends on
    student code, and the names it binds do too. A cell that depends on none rebinds them clean.
    """
    solution: set[int] = set()
    dependent: set[int] = set()
    tainted: set[str] = set()
    ever: set[str] = set()   # every name that was the student's at some point (a NameError may name it)
    for index, cell in enumerate(notebook_cells(notebook)):
        if cell["cell_type"] != "code":
            continue
        code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                         for line in cell_source(cell).splitlines())
        tree = ast.parse(code)
        bound = _module_bindings(tree)
        used = _global_loads(tree)
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            solution.add(index)
            tainted |= bound
        elif used & tainted:
            dependent.add(index)
            tainted |= bound
        else:
            tainted -= bound
        ever |= tainted
    return solution, dependent, ever


def not_implemented(outcome: dict, tainted: set[str]) -> bool:
    """Whether a cell's error is the stub's: NotImplementedError, "not implemented yet", or a name never set."""
    if outcome["ename"] == "NotImplementedError":
        return True
    if outcome["ename"] == "CheckFailed" and "not implemented yet" in outcome["evalue"]:
        return True
    name = re.fullmatch(r"name '(\w+)' is not defined", outcome["evalue"])
    return outcome["ename"] == "NameError" and name is not None and name.group(1) in tainted


def test_release_notebooks_run_from_the_handout(handout: Path, runs: dict[str, list[dict]]) -> None:
    assert sorted(runs) == sorted(p.parent.name for p in handout.glob("*/*.ipynb"))
    problems: list[str] = []
    for assignment, cells in runs.items():
        notebook = handout / assignment / f"{assignment}.ipynb"
        source = notebook_cells(notebook)
        solution, dependent, tainted = student_dependent_cells(notebook)
        visible = 0
        for outcome in cells:
            index, text = outcome["index"], cell_source(source[outcome["index"]])
            where = f"{assignment} cell {index}: {outcome['ename']}: {outcome['evalue'][:200]}"
            is_visible_check = index in dependent and re.search(r"""checks\.\w+\(\s*f?["']\d\d\.visible\.""", text)
            if index in solution:
                if outcome["ename"] not in (None, "NotImplementedError"):
                    problems.append(f"solution stub raised {where}")
            elif is_visible_check:
                visible += 1
                if outcome["ename"] is None or not not_implemented(outcome, tainted):
                    problems.append(f"visible check did not stop with 'not implemented' on the stubs: {where}")
            elif index in dependent:
                if outcome["ename"] is not None and not not_implemented(outcome, tainted):
                    problems.append(f"cell using student code failed otherwise than 'not implemented': {where}")
            elif outcome["ename"] is not None:
                problems.append(f"cell independent of student code failed: {where}")
        if not visible:
            problems.append(f"{assignment}: no visible check found")
    assert not problems, "\n".join(problems)


# --- the builder refuses instructor material (a tiny course, no venv) ----------------------------


def tiny_course(root: Path, setup_code: str) -> Path:
    """A minimal course: a lib with checks and a suite, one release notebook whose one code cell is `setup_code`."""
    lib = root / "lib" / "handgrad"
    (lib / "suites").mkdir(parents=True)
    (lib / "__init__.py").write_text('__version__ = "9.9"\n')
    (lib / "checks.py").write_text("from handgrad import compare\n")
    (lib / "compare.py").write_text("X = 1\n")
    (lib / "suites" / "__init__.py").write_text("")
    (lib / "unused.py").write_text("Y = 2\n")
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": setup_code}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (root / "release" / "01_x").mkdir(parents=True)
    (root / "release" / "01_x" / "01_x.ipynb").write_text(json.dumps(notebook))
    shutil.copy(COURSE / "requirements.txt", root / "requirements.txt")
    shutil.copy(COURSE / "environment.yml", root / "environment.yml")
    return root


def test_builder_takes_what_notebooks_import_and_refuses_instructor_material(tmp_path: Path) -> None:
    built = builder.build(tiny_course(tmp_path / "ok", "from handgrad import checks\n"), tmp_path / "out")
    assert built.modules == ("handgrad", "handgrad.checks", "handgrad.compare")   # not unused, not suites
    assert built.wheel.name == "handgrad-9.9-py3-none-any.whl"

    with pytest.raises(builder.HandoutError, match="handgrad.suites"):
        builder.build(tiny_course(tmp_path / "suite", "from handgrad.suites import x\n"), tmp_path / "out2")
    with pytest.raises(builder.HandoutError, match="BEGIN SOLUTION"):
        builder.build(tiny_course(tmp_path / "sol", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n"), tmp_path / "out3")
    assert not list((tmp_path / "out3").iterdir())   # nothing of a leaking hand-out is left behind

    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("")
    with pytest.raises(builder.HandoutError, match="not a hand-out"):
        builder.build(tmp_path / "ok", tmp_path / "home")   # never empties a folder it did not write
    assert (tmp_path / "home" / "thesis.tex").exists()
