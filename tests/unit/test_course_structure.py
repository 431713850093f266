"""The course holds together: every lesson has its solutions, grader and graders' tests; exercise cells are the
solutions verbatim; stored notebooks are executed, error-free and free of machine-specific text."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import nbformat
import pytest

from coursekit import authoring
from coursekit.run_course import lesson_paths

ROOT = Path(__file__).resolve().parents[2]
LESSONS = lesson_paths([])
IDS = [p.stem for p in LESSONS]


def test_there_are_lessons():
    assert LESSONS and LESSONS[0].name.startswith("01_")


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_each_lesson_has_solutions_grader_and_grader_tests(path):
    number = path.name[:2]
    for required in (f"solutions/lesson{number}.py", f"tests/grading/test_lesson{number}.py",
                     f"tests/grader_tests/test_lesson{number}_graders.py"):
        assert (ROOT / required).is_file(), f"lesson {number} lacks {required}"


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_exercise_cells_are_the_solutions(path):
    number = path.name[:2]
    nb = nbformat.read(path, as_version=4)
    solutions = authoring.solution_sources(number)
    cells = authoring.exercise_cells(nb)
    names = [authoring.defined_name(c.source) for c in cells]
    assert sorted(names) == sorted(solutions), "every solution has exactly one exercise cell, and vice versa"
    for cell, name in zip(cells, names):
        assert cell.source == solutions[name], f"exercise cell {name} differs from solutions/: run authoring sync"


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_every_exercise_is_graded_and_solutions_are_marked(path):
    number = path.name[:2]
    text = (ROOT / f"solutions/lesson{number}.py").read_text()
    tree = ast.parse(text)
    grader = importlib.import_module(f"grading.test_lesson{number}")
    graded = {getattr(fn, "exercise", None) for fn in vars(grader).values() if callable(fn)}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assert node.name in graded, f"{node.name} has no grader test"
            assert ast.get_docstring(node), f"{node.name} needs a docstring stating the exercise"
            source = authoring.solution_sources(number)[node.name]
            assert "# BEGIN SOLUTION" in source and "# END SOLUTION" in source, f"{node.name}: mark the solution"
            if isinstance(node, ast.FunctionDef):
                assert node.returns is not None and all(a.annotation for a in node.args.args), \
                    f"{node.name} needs type hints"


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_every_lesson_grades_at_least_two_exercises(path):
    """A lesson is not passed without writing more than one of its models."""
    number = path.name[:2]
    grader = importlib.import_module(f"grading.test_lesson{number}")
    graded = {fn.exercise for name, fn in vars(grader).items() if name.startswith("test_") and hasattr(fn, "points")}
    assert len(graded) >= 2, f"lesson {number} grades only {sorted(graded)}"


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_stored_notebook_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "store outputs with run_course --store"
    assert code[0].source.find("import coursekit") < code[0].source.find("import keras"), \
        "import coursekit before keras"
    for cell in code:
        ignored = "NBVAL_IGNORE_OUTPUT" in cell.source
        for out in cell.outputs:
            assert out.output_type != "error", f"stored error in cell: {cell.source[:60]!r}"
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            if not ignored:
                assert not re.search(r" at 0x[0-9a-f]+", text), f"object id in a checked output: {text[:80]!r}"


BACKEND_PACKAGES = ("tensorflow", "jax", "jaxlib", "torch")


@pytest.mark.parametrize("path", LESSONS, ids=IDS)
def test_lesson_code_is_backend_neutral(path):
    """Lessons run on every backend against the same stored outputs: their code imports no backend (gradients go
    through ck.gradients), and no checked output names one (the first cell shows it in an output marked unchecked,
    which the notebook tests leave out: tests/conftest.py)."""
    from coursekit.check import unchecked

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            used = [m for m in modules if m.split(".")[0] in BACKEND_PACKAGES]
            assert not used, f"a lesson cell imports {used}: use keras.ops, and ck.gradients for gradients"
        for out in cell.outputs:
            if unchecked(out):
                continue
            text = out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
            assert not re.search(r"\b(tensorflow|jax|torch)\b", text, re.IGNORECASE), \
                f"a checked output names a backend: {text[:80]!r}"


def test_the_classroom_reads_the_same_tests_and_points_as_pytest():
    """classroom.course_tests reads the graders without running them; it must agree with the graders' marks."""
    from gradekit import classroom

    listed = {(t.lesson, t.name): (t.exercise, t.points, t.hidden) for t in classroom.course_tests()}
    marked = {}
    for path in sorted((ROOT / "tests" / "grading").glob("test_lesson[0-9][0-9].py")):
        grader = importlib.import_module(f"grading.{path.stem}")
        for name, fn in vars(grader).items():
            if name.startswith("test_") and hasattr(fn, "points"):
                marked[(path.stem.removeprefix("test_"), name)] = (fn.exercise, float(fn.points), fn.hidden)
    assert listed == marked
