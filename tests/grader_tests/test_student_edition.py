"""The student edition: what it holds and leaves out, that it runs up to its first exercise, and that its stubs
earn nothing when graded, in English and in Chinese. Graded by real judge and worker processes, on lesson 01."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from coursekit import authoring, student_edition, translations
from gradekit import classroom
from grader_tests.classkit import LESSON01, POINTS, ROOT, TESTS, build_edition, grade, module_judge


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    return build_edition(tmp_path_factory)


@pytest.fixture(scope="module", autouse=True)
def judge(tmp_path_factory) -> Iterator[classroom.Judge]:
    yield from module_judge(tmp_path_factory)


# ------------------------------------------------------------------------------------------- student edition


def test_student_edition_holds_no_answers(edition):
    assert not (edition / "solutions").exists() and not (edition / "tests" / "grader_tests").exists()
    assert (edition / "lessons" / "gradekit" / "worker.py").is_file()
    assert (edition / ".github" / "workflows" / "grade.yml").is_file()
    assert (edition / "Makefile").read_text().count("gradekit.classroom grade") == 1
    nb = nbformat.read(edition / "lessons" / LESSON01.name, as_version=4)
    solutions = authoring.solution_sources("01")
    for cell in authoring.exercise_cells(nb):
        name = authoring.defined_name(cell.source)
        assert "raise NotImplementedError" in cell.source and cell.source != solutions[name]
        assert '"""Exercise' in cell.source, "the stub keeps the docstring"
        assert not cell.outputs
    assert "keras.layers.Dense(32" not in "".join(c.source for c in authoring.exercise_cells(nb))


def test_student_edition_clears_outputs_that_depend_on_exercises(edition):
    course = nbformat.read(LESSON01, as_version=4)
    student = nbformat.read(edition / "lessons" / LESSON01.name, as_version=4)
    for before, after in zip(course.cells, student.cells):
        if before.cell_type != "code":
            continue
        if "seq_model = keras.Sequential" in before.source or "ck.data.load_digits()" in before.source:
            assert after.outputs == before.outputs  # independent of the exercises: kept
        if "model.evaluate" in before.source or "to_functional(seq_model)" in before.source:
            assert after.outputs == [] and after.execution_count is None


def test_hidden_tests_are_left_out_of_the_student_edition(edition):
    hidden = [t.name for t in classroom.course_tests() if t.hidden]
    assert "test_mlp_learns" in hidden
    text = (edition / "tests" / "grading" / "test_lesson01.py").read_text()
    assert all(f"def {name}(" not in text for name in hidden)
    visible = classroom.course_tests(edition / "tests" / "grading")
    assert visible and not any(t.hidden for t in visible)


# Run in the lessons' kernel before each lesson: the slate a fresh kernel starts from, in the edition's lessons folder
# (no names, no input history, none of ck.check's record of the cells run, a clear Keras session). What stays loaded
# is what a fresh kernel would load again: the modules (Keras among them) and the judge of ck.check.
CLEAN_SLATE = """\
import os as _os, sys as _sys
_os.chdir({folder!r})
if "coursekit.check" in _sys.modules:
    _sys.modules["coursekit.check"].forget_cells()
if "keras" in _sys.modules:
    _sys.modules["keras"].backend.clear_session()
get_ipython().reset(new_session=True)
"""


def test_student_edition_runs_up_to_its_first_exercise(edition):
    """Every lesson of the student edition, its cells run in order from the edition's own folder (its coursekit,
    gradekit and data), runs each cell above its first exercise and the exercise's stub, and stops with the stub's
    NotImplementedError (in the first cell that uses it), not on anything else. The lessons run one after another
    in one kernel, each from a clean slate (CLEAN_SLATE): Keras loads and ck.check's judge starts once, not once per
    lesson. That each full lesson runs in a kernel of its own is nbval's part of ``make test``, on the course's
    notebooks."""
    folder = edition / "lessons"
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    assert [p.name for p in paths] == sorted(p.name for p in (ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
    client = NotebookClient(nbformat.v4.new_notebook(), timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    with client.setup_kernel():
        for path in paths:
            nb = client.nb = nbformat.read(path, as_version=4)
            client.execute_cell(nbformat.v4.new_code_cell(CLEAN_SLATE.format(folder=str(folder))), 0,
                                store_history=False)
            first = next(i for i, c in enumerate(nb.cells) if authoring.EXERCISE_TAG in c.metadata.get("tags", []))
            with pytest.raises(CellExecutionError) as info:
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
            assert "NotImplementedError" in str(info.value), f"{path.name}: stopped on something else"
            ran = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]
            assert all(i in ran for i, c in enumerate(nb.cells[:first + 1]) if c.cell_type == "code"), \
                f"{path.name}: a cell before the first exercise did not run"


def test_every_stub_fails_its_grader_with_not_implemented(edition):
    lessons = sorted(p.name[:2] for p in (edition / "lessons").glob("[0-9][0-9]_*.ipynb"))
    report = grade(edition / "lessons", tuple(lessons))
    visible = [t for t in classroom.course_tests() if t.lesson[-2:] in lessons]
    assert len(report["tests"]) == len(visible) and report["earned"] == 0
    crashed = [(t["name"], t["feedback"]) for t in report["tests"] if "not implemented yet" not in t["feedback"]]
    assert not crashed, crashed


# ------------------------------------------------------------------------------------------- the Chinese edition


@pytest.fixture(scope="module")
def chinese_edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "student-zh-CN"
    student_edition.build(out, "zh-CN")
    return out


def test_the_chinese_student_edition_has_the_chinese_notebooks_with_stubs(chinese_edition, edition):
    chinese = nbformat.read(chinese_edition / "lessons" / LESSON01.name, as_version=4)
    english = nbformat.read(edition / "lessons" / LESSON01.name, as_version=4)
    assert all(translations.CJK.search(c.source) for c in chinese.cells if c.cell_type == "markdown")
    assert [c for c in chinese.cells if c.cell_type == "code"] == [c for c in english.cells if c.cell_type == "code"]
    assert translations.CJK.search((chinese_edition / "README.md").read_text())
    assert sorted(p.name for p in (chinese_edition / "lessons").glob("*.ipynb")) == \
        sorted(p.name for p in (edition / "lessons").glob("*.ipynb"))


def test_chinese_notebooks_are_graded_as_the_english_ones():
    report = grade(ROOT / "lessons" / "zh-CN")
    assert report["earned"] == report["possible"] == POINTS


def test_the_chinese_student_editions_stubs_earn_nothing(chinese_edition):
    report = grade(chinese_edition / "lessons")
    assert report["earned"] == 0 and len(report["tests"]) == TESTS
    assert all("not implemented yet" in t["feedback"] for t in report["tests"])


