"""Build the student edition of the course (``make student``; ``make student EDITION=zh-CN`` in Chinese).

    python -m coursekit.student_edition OUT [--language zh-CN]

OUT receives what a class needs and nothing that gives answers away:

- ``lessons/``: every notebook, with each exercise cell (tagged ``exercise``) replaced by a stub generated from
  ``solutions/lessonNN.py`` (signature, docstring, ``raise NotImplementedError`` where the solution was), and no
  stored outputs in exercise cells nor in any cell that depends on an exercise (found by following which names each
  cell uses and defines). Cells that do not depend on an exercise keep their outputs, except *check cells* (tagged
  ``check``, ``ck.check("name")`` under each exercise), whose stored output shows the reference answer's full marks.
- ``lessons/coursekit/``, ``datasets/``, ``requirements.txt``: to run the notebooks; ``lessons/gradekit/``: the grading
  engine.
- ``tests/grading/``: the graders without the hidden tests (``@graded(..., hidden=True)``), so students can check
  their work with ``make grade``; teachers grade with the full course.
- a student ``Makefile`` and ``README.md``, and ``.github/workflows/grade.yml`` for a classroom repository.
- no ``solutions/`` (nor its hints), no graders' own tests, no ``lessons/coursekit/practice_material/`` (the
  practice edition's answers and hints: :mod:`coursekit.practice`).

In Chinese (``--language zh-CN``), the notebooks are those of the Chinese edition (``lessons/zh-CN/``, the same code
cells), under the English notebooks' file names, and the README is the Chinese one.
"""

from __future__ import annotations

import ast
import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import nbformat

from coursekit import authoring, translations

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).resolve().parent / "templates"
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
CHECK_TAG = "check"  # the cell under an exercise that grades it: ck.check("name")


# ---------------------------------------------------------------------------------------------------- stubs


def _method_stub(node: ast.FunctionDef, lines: list[str]) -> list[str]:
    """A method's decorators, signature and docstring, then ``raise NotImplementedError``."""
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    first = node.body[0]
    has_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
        and isinstance(first.value.value, str)
    header_end = first.end_lineno if has_doc else first.lineno - 1
    body_indent = lines[first.lineno - 1][: len(lines[first.lineno - 1]) - len(lines[first.lineno - 1].lstrip())]
    return lines[start:header_end] + [f"{body_indent}raise NotImplementedError"]


def stub_source(source: str) -> str:
    """The student's version of a solution: what lies between the markers becomes ``raise NotImplementedError``;
    where the solution is a set of methods (a class), each keeps its signature and raises instead."""
    lines = source.splitlines()
    try:
        begin = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
        end = next(i for i, line in enumerate(lines) if line.strip() == END)
    except StopIteration:
        raise ValueError("a solution needs '# BEGIN SOLUTION' and '# END SOLUTION' markers") from None
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    region = textwrap.dedent("\n".join(lines[begin + 1:end]))
    tree = ast.parse(region)
    if tree.body and all(isinstance(n, ast.FunctionDef) for n in tree.body):  # methods of an exercise class
        region_lines = region.splitlines()
        stub: list[str] = []
        for node in tree.body:
            stub += ([""] if stub else []) + [indent + line if line else line
                                               for line in _method_stub(node, region_lines)]
    else:
        stub = [f"{indent}raise NotImplementedError"]
    return "\n".join(lines[: begin + 1] + stub + lines[end:])


# ---------------------------------------------------------------------------------------------- dependencies


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names a cell reads anywhere, names it binds at the top level), by a plain syntactic reading."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    bound: set[str] = set()
    pending = list(tree.body)
    while pending:  # top-level statements, looking into if/for/with/try blocks but not into functions or classes
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                bound.add(child.id)
            elif isinstance(child, (ast.stmt, ast.excepthandler, ast.withitem, ast.Tuple, ast.List, ast.Starred)):
                pending.append(child)
            elif isinstance(child, ast.NamedExpr):
                bound.add(child.target.id)
        if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            bound.add(node.optional_vars.id)
    return used, bound


def dependent_cells(nb: nbformat.NotebookNode) -> set[int]:
    """Indices of code cells whose output depends on an exercise: the exercise cells themselves and every cell
    that reads a name bound by one of them (or by a cell that does, and so on, in notebook order)."""
    tainted_names: set[str] = set()
    tainted: set[int] = set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        used, bound = _names(cell.source)
        if authoring.EXERCISE_TAG in cell.metadata.get("tags", []) or used & tainted_names:
            tainted.add(i)
            tainted_names |= bound
    return tainted


def student_notebook(nb: nbformat.NotebookNode, lesson: str) -> nbformat.NotebookNode:
    solutions = authoring.solution_sources(lesson)
    cleared = dependent_cells(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if authoring.EXERCISE_TAG in cell.metadata.get("tags", []):
            name = authoring.defined_name(cell.source)
            if name not in solutions:
                raise SystemExit(f"lesson {lesson}: exercise cell {name!r} has no solution to stub")
            cell.source = stub_source(solutions[name])
        if i in cleared or CHECK_TAG in cell.metadata.get("tags", []):
            cell.outputs = []
            cell.execution_count = None
    return nb


# ---------------------------------------------------------------------------------------------- graders


def strip_hidden_tests(source: str) -> str:
    """Remove the test functions marked ``@graded(..., hidden=True)`` from a grader module."""
    tree = ast.parse(source)
    lines = source.splitlines()
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "graded" and any(
                    k.arg == "hidden" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in deco.keywords):
                start = min(d.lineno for d in node.decorator_list) - 1
                drop.append((start, node.end_lineno))
    for start, end in reversed(drop):
        del lines[start:end]
        while start < len(lines) and start > 0 and not lines[start].strip() and not lines[start - 1].strip():
            del lines[start]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- the edition


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy a folder of the course, leaving out caches and the practice edition's answers and hints (a practice
    edition's ``coursekit/practice_material/``, should the course's ``coursekit`` hold one)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints",
                                                            "practice_material"))


LANGUAGES = {"en": ROOT / "lessons", translations.LANGUAGE: translations.EDITION_DIR}


def build(out: Path, language: str = "en") -> list[str]:
    """Write the student edition into ``out`` (emptied first), in English or Chinese; return the lessons it holds."""
    if language not in LANGUAGES:
        raise SystemExit(f"no {language!r} edition: the languages are {', '.join(LANGUAGES)}")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "lessons").mkdir(parents=True)
    _copy_tree(ROOT / "lessons" / "coursekit", out / "lessons" / "coursekit")
    _copy_tree(ROOT / "lessons" / "gradekit", out / "lessons" / "gradekit")
    _copy_tree(ROOT / "datasets", out / "datasets")
    shutil.copy2(ROOT / "requirements.txt", out / "requirements.txt")
    shutil.copy2(ROOT / "requirements-lab.txt", out / "requirements-lab.txt")  # make lab
    lessons = []
    for path in sorted(LANGUAGES[language].glob("[0-9][0-9]_*.ipynb")):
        lesson = path.name[:2]
        nb = student_notebook(nbformat.read(path, as_version=4), lesson)
        nbformat.write(nb, out / "lessons" / path.name)
        lessons.append(lesson)
    grading = out / "tests" / "grading"
    grading.mkdir(parents=True)
    shutil.copy2(ROOT / "tests" / "conftest.py", out / "tests" / "conftest.py")
    for path in sorted((ROOT / "tests" / "grading").glob("*.py")):
        text = path.read_text()
        if path.name.startswith("test_lesson"):
            text = strip_hidden_tests(text)
        (grading / path.name).write_text(text)
    shutil.copy2(TEMPLATES / "student_Makefile", out / "Makefile")
    readme = "student_README.md" if language == "en" else f"student_README.{language}.md"
    shutil.copy2(TEMPLATES / readme, out / "README.md")
    (out / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(TEMPLATES / "classroom_grade.yml", out / ".github" / "workflows" / "grade.yml")
    # course-progress.json: what ck.check, ck.hint and ck.progress keep of a learner's checks (coursekit/check.py)
    (out / ".gitignore").write_text(".venv/\nbuild/\n__pycache__/\n.ipynb_checkpoints/\ncourse-progress.json\n")
    return lessons


def cli(argv: list[str], write: Callable[[Path, str], list[str]], what: str, usage: str) -> int:
    """``OUT [--language zh-CN]``: write the edition ``what`` with ``write(OUT, language)``, or print ``usage``."""
    language = "en"
    if len(argv) == 3 and argv[1] == "--language":
        argv, language = argv[:1], argv[2]
    if len(argv) != 1:
        print(usage)
        return 2
    lessons = write(Path(argv[0]), language)
    print(f"{what} ({language}) of lessons {', '.join(lessons)} written to {argv[0]}")
    return 0


def main(argv: list[str]) -> int:
    return cli(argv, build, "student edition", __doc__ or "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
