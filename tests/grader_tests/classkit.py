"""What the classroom tests share (test_classroom.py, test_student_edition.py, test_class_batch.py): lesson 01's
points, the grading options, the student edition, one judge per test module, and notebooks made from lesson 01."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from coursekit import authoring, student_edition
from gradekit import classroom, sandbox

ROOT = Path(__file__).resolve().parents[2]
LESSON01 = ROOT / "lessons" / "01_sequential_to_functional.ipynb"
OPTIONS = {"call_timeout": 20.0,  # room for a loaded machine (JAX compiles in the first calls)
           "submission_timeout": 600.0, "memory_mb": 1024}
POINTS = sum(t.points for t in classroom.course_tests() if t.lesson == "lesson01")
TESTS = sum(1 for t in classroom.course_tests() if t.lesson == "lesson01")

_JUDGES: list[classroom.Judge] = []  # the running test module's judge


def build_edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student edition, written into a new temporary folder."""
    out = tmp_path_factory.mktemp("edition") / "student"
    student_edition.build(out)
    return out


def module_judge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[classroom.Judge]:
    """For a module-scoped fixture: one judge grades the module's submissions one after another, as each judge of a
    class's batch does (Keras is imported once, not once per submission); each submission still has a worker of its
    own, started ahead of it (the spare). A judge that dies or overruns is replaced by the next grading."""
    runner = classroom.Judge(spare_root=tmp_path_factory.mktemp("spare"))
    _JUDGES.append(runner)
    try:
        yield runner
    finally:
        _JUDGES.remove(runner)
        runner.close()


def grade(path: Path, lessons: tuple[str, ...] = ("01",), **options) -> dict:
    """Grade ``path`` (lesson 01 unless told) with the module's judge, or a judge of its own outside one."""
    return classroom.grade_submission(path, list(lessons), {**OPTIONS, **options}, judges=_JUDGES[-1:] or None)


def by_exercise(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for test in report["tests"]:
        out.setdefault(test["exercise"], []).append(test)
    return out


def notebook_with(tmp_path: Path, cells: dict[str, str | None], name: str = LESSON01.name,
                  untag: tuple[str, ...] = ()) -> Path:
    """Lesson 01's notebook with some exercise cells replaced (None deletes the cell)."""
    nb = nbformat.read(LESSON01, as_version=4)
    kept = []
    for cell in nb.cells:
        if authoring.EXERCISE_TAG in cell.metadata.get("tags", []):
            exercise = authoring.defined_name(cell.source)
            if exercise in cells:
                if cells[exercise] is None:
                    continue
                cell.source = cells[exercise]
            if exercise in untag:
                cell.metadata["tags"] = []
        kept.append(cell)
    nb.cells = kept
    folder = tmp_path / "submission"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder


def expected_sandbox() -> str:
    """How a report names the outer layer here: bubblewrap where it is usable, else the fallback."""
    return "bubblewrap " if sandbox.bubblewrap()[0] is not None else "no bubblewrap ("
