"""The classroom edition gives no answer away; the practice edition holds the answers and hints, and
coursekit.practice finds them (without importing the solutions)."""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from pathlib import Path

import nbformat
import pytest

from coursekit import authoring, practice, student_edition

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "solutions"
LESSONS = sorted(p.stem[-2:] for p in SOLUTIONS.glob("lesson[0-9][0-9].py"))
TEXT_SUFFIXES = {".ipynb", ".py", ".md", ".txt", ".yml", ".yaml", ".cfg", ".toml", ".json", ".csv", ".jsonl"}
MARKERS = (student_edition.BEGIN, student_edition.END)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("classroom") / "edition"
    student_edition.build(out)
    return out


@pytest.fixture(scope="module")
def practice_edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("practice") / "edition"
    practice.build(out)
    return out


def exercises() -> dict[str, str]:
    """name -> reference source of every exercise (a definition with solution markers) of every lesson."""
    out = {}
    for lesson in LESSONS:
        for name, source in authoring.solution_sources(lesson).items():
            if student_edition.BEGIN in source:
                out[name] = source
    return out


def course_lines() -> set[str]:
    """The stripped lines the course shows outside its answers, which a student edition rightly holds: the English
    notebooks' cells other than exercise and check cells (the lessons' own code: `model.compile(`, an `Input` a
    lesson builds before asking for it), the notebook helpers, the grading engine and the graders."""
    lines: set[str] = set()
    for path in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            tags = cell.metadata.get("tags", [])
            if authoring.EXERCISE_TAG not in tags and student_edition.CHECK_TAG not in tags:
                lines |= {line.strip() for line in cell.source.splitlines()}
    for folder, pattern in (("lessons/coursekit", "**/*.py"), ("lessons/gradekit", "**/*.py"),
                            ("tests/grading", "*.py"), ("tests", "conftest.py")):
        for path in sorted((ROOT / folder).glob(pattern)):
            lines |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    return lines


def answer_lines(source: str, shown: set[str] = frozenset()) -> set[str]:
    """The telling lines of a reference answer: between the markers, stripped, at least 12 characters long, and in
    neither the stub nor the docstring nor ``shown`` (what the course shows elsewhere)."""
    lines = source.splitlines()
    stub = {line.strip() for line in student_edition.stub_source(source).splitlines()}
    node = ast.parse(source).body[0]
    doc = ast.get_docstring(node, clean=False) or ""
    answer, inside = set(), False
    for line in lines:
        if line.strip() == student_edition.BEGIN:
            inside = True
        elif line.strip() == student_edition.END:
            inside = False
        elif inside and len(line.strip()) >= 12 and line.strip() not in stub and line.strip() not in doc \
                and line.strip() not in shown:
            answer.add(line.strip())
    return answer


def strings(value) -> list[str]:
    """Every string inside a notebook output (streams, data of every MIME type, tracebacks)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def edition_texts(edition: Path) -> dict[str, set[str]]:
    """relative path -> the stripped lines of every text file of an edition; of a notebook, the lines of its cells'
    sources and outputs."""
    texts = {}
    for path in sorted(edition.rglob("*")):
        if not path.is_file() or (path.suffix not in TEXT_SUFFIXES and path.name not in {"Makefile", ".gitignore"}):
            continue
        rel = str(path.relative_to(edition))
        text = notebook_text(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8", errors="replace")
        texts[rel] = {line.strip() for line in text.splitlines()}
    return texts


def notebook_text(path: Path) -> str:
    """A notebook's cells' sources and every string of their outputs."""
    nb = nbformat.read(path, as_version=4)
    return "\n".join([c.source for c in nb.cells] + [s for c in nb.cells for s in strings(c.get("outputs", []))])


def load_edition_practice(edition: Path) -> types.ModuleType:
    """An edition's own coursekit/practice.py, loaded from its file (so that it looks for material where it is)."""
    spec = importlib.util.spec_from_file_location(f"edition_practice_{edition.parent.name}",
                                                  edition / "lessons" / "coursekit" / "practice.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if line.strip() not in MARKERS)


# ---------------------------------------------------------------------------------------------- classroom edition


def test_the_classroom_edition_holds_no_reference_answer(classroom):
    texts = edition_texts(classroom)
    assert any(rel.endswith(".ipynb") for rel in texts) and any(rel.endswith(".py") for rel in texts)
    course = {line.strip() for path in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
              for line in notebook_text(path).splitlines()}
    leaks, shown = [], course_lines()
    for name, source in exercises().items():
        lines = answer_lines(source, shown)
        assert lines, f"{name}: no telling line to look for"
        assert all(line in course for line in lines), f"{name}: the search would miss an answer left in a notebook"
        leaks += [(name, rel, line) for line in sorted(lines) for rel, text in texts.items() if line in text]
    assert not leaks, leaks


def test_the_classroom_edition_has_no_practice_material_nor_hints(classroom):
    assert not list(classroom.rglob(practice.PRACTICE_MATERIAL)) and not (classroom / "solutions").exists()
    assert not [p for p in classroom.rglob("*") if p.name == "hints" or p.name in {"en.md", "zh-CN.md"}]
    edition_practice = load_edition_practice(classroom)
    assert edition_practice.material_dir() is None
    assert edition_practice.answer("build_functional_mlp") is None
    assert edition_practice.hints("build_functional_mlp") == []


def test_check_cells_have_no_outputs_in_the_classroom_edition(classroom):
    course = [c for p in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
              for c in nbformat.read(p, as_version=4).cells if student_edition.CHECK_TAG in c.metadata.get("tags", [])]
    if not course:
        pytest.skip("the lesson notebooks have no check cells (tagged 'check') yet")
    checks = [(p.name, c) for p in sorted((classroom / "lessons").glob("[0-9][0-9]_*.ipynb"))
              for c in nbformat.read(p, as_version=4).cells if student_edition.CHECK_TAG in c.metadata.get("tags", [])]
    assert len(checks) == len(course)
    assert not [name for name, c in checks if c.outputs or c.execution_count is not None]


def test_a_check_cell_loses_its_stored_output():
    nb = nbformat.read(next((ROOT / "lessons").glob("01_*.ipynb")), as_version=4)
    check = nbformat.v4.new_code_cell('ck.check("build_functional_mlp")', metadata={"tags": ["check"]},
                                      execution_count=7)
    check.outputs = [nbformat.v4.new_output("stream", name="stdout", text="build_functional_mlp: 10/10\n")]
    first = next(i for i, c in enumerate(nb.cells) if authoring.EXERCISE_TAG in c.metadata.get("tags", []))
    nb.cells.insert(first + 1, check)
    kept = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.outputs]
    student = student_edition.student_notebook(nb, "01")
    assert student.cells[first + 1].outputs == [] and student.cells[first + 1].execution_count is None
    assert [i for i, c in enumerate(student.cells) if c.cell_type == "code" and c.outputs], \
        "the other cells that do not depend on an exercise keep their outputs"
    assert {i for i, c in enumerate(student.cells) if c.cell_type == "code" and c.outputs} < set(kept)


# ---------------------------------------------------------------------------------------------- practice edition


def test_the_practice_edition_holds_every_lessons_answers(practice_edition):
    material = practice_edition / "lessons" / "coursekit" / practice.PRACTICE_MATERIAL
    assert sorted(p.name for p in material.glob("lesson*.py")) == [f"lesson{n}.py" for n in LESSONS]
    for lesson in LESSONS:
        assert (material / f"lesson{lesson}.py").read_text() == (SOLUTIONS / f"lesson{lesson}.py").read_text()
    hint_files = sorted(p.name for p in (SOLUTIONS / "hints").glob("*.md"))
    assert sorted(p.name for p in (material / "hints").glob("*.md")) == hint_files
    readme = (practice_edition / "README.md").read_text()
    assert readme.startswith((student_edition.TEMPLATES / "student_README.md").read_text().rstrip("\n"))
    assert all(f"ck.{f}(" in readme for f in ("check", "hint", "solution", "progress"))
    nb = nbformat.read(next((practice_edition / "lessons").glob("01_*.ipynb")), as_version=4)
    assert all("raise NotImplementedError" in c.source for c in authoring.exercise_cells(nb)), "still stubs"


def test_answer_reads_the_practice_material(practice_edition, monkeypatch):
    material = practice_edition / "lessons" / "coursekit" / practice.PRACTICE_MATERIAL
    monkeypatch.setattr(practice, "material_dir", lambda: material)
    modules = set(sys.modules)
    for name, source in exercises().items():
        got = practice.answer(name)
        assert got == without_markers(source), name
        assert not any(marker in got for marker in MARKERS)
        assert [n.name for n in ast.parse(got).body] == [name]
    assert not [m for m in set(sys.modules) - modules if m.startswith("lesson")], "a solution was imported"


def test_the_edition_finds_its_own_material(practice_edition):
    edition_practice = load_edition_practice(practice_edition)
    material = edition_practice.material_dir()
    assert material == (practice_edition / "lessons" / "coursekit" / practice.PRACTICE_MATERIAL).resolve()
    assert edition_practice.answer("build_functional_mlp") == without_markers(exercises()["build_functional_mlp"])


def test_the_course_reads_its_solutions():
    assert practice.material_dir() == SOLUTIONS
    assert practice.answer("SimpleDense") == without_markers(authoring.solution_sources("01")["SimpleDense"])


def test_no_answer_and_no_hints_without_material(monkeypatch):
    assert practice.answer("no_such") is None
    monkeypatch.setattr(practice, "material_dir", lambda: None)
    assert practice.answer("build_functional_mlp") is None
    assert practice.hints("build_functional_mlp") == []
    assert practice.hints("build_functional_mlp", "zh-CN") == []


def test_hints_come_from_the_materials_hint_files(tmp_path, monkeypatch):
    calls = []

    def load(language: str = "en", folder: Path | None = None) -> dict[str, list[str]]:
        calls.append((language, folder))
        return {"build_functional_mlp": ["Start from keras.Input.", "Then the Dense layers."]}

    monkeypatch.setitem(sys.modules, "coursekit.hints", types.SimpleNamespace(load=load))
    monkeypatch.setattr(practice, "material_dir", lambda: tmp_path)
    assert practice.hints("build_functional_mlp", "zh-CN") == ["Start from keras.Input.", "Then the Dense layers."]
    assert practice.hints("no_such") == []
    assert calls == [("zh-CN", tmp_path / "hints"), ("en", tmp_path / "hints")]


def test_the_practice_editions_hints_are_the_courses(practice_edition):
    hint_files = pytest.importorskip("coursekit.hints")
    if not (SOLUTIONS / "hints" / "en.md").is_file():
        pytest.skip("no hints yet (solutions/hints/en.md)")
    course = hint_files.load("en", SOLUTIONS / "hints")
    assert course, "solutions/hints/en.md gives no hints"
    edition_practice = load_edition_practice(practice_edition)
    for name, expected in course.items():
        assert edition_practice.hints(name) == expected


def test_the_chinese_practice_edition(tmp_path):
    lessons = practice.build(tmp_path / "zh", "zh-CN")
    assert lessons == LESSONS
    assert (tmp_path / "zh" / "lessons" / "coursekit" / practice.PRACTICE_MATERIAL / "lesson01.py").is_file()
    readme = (tmp_path / "zh" / "README.md").read_text()
    assert "自学练习" in readme and 'ck.hint("build_functional_mlp")' in readme
