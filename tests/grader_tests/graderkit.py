"""Helpers for testing the graders themselves: run one exercise's grader tests against a fake submission.

A grader check that cannot fail is a defect, so each lesson's grader tests (``test_lessonNN_graders.py``) list
wrong submissions with the grader tests each must fail and the feedback it must give, plus correct answers written
differently that must get full marks; ``assert_every_check_can_fail`` then proves that every graded test of the
lesson is failed by at least one listed wrong submission.
"""

from __future__ import annotations

import inspect
import re
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from gradekit.harness import GradeFailure, Submission


@dataclass
class Wrong:
    """A wrong submission: the objects it defines, and {grader test name: feedback regex} it must lose."""

    label: str
    objects: dict[str, Any]
    fails: dict[str, str] = field(default_factory=dict)


def graded_tests(grader: types.ModuleType, exercise: str | None = None) -> dict[str, Any]:
    tests = {name: fn for name, fn in vars(grader).items()
             if name.startswith("test_") and callable(fn) and hasattr(fn, "points")}
    return {n: f for n, f in tests.items() if exercise is None or f.exercise == exercise}


def run_exercise(grader: types.ModuleType, exercise: str, submission: Submission,
                 tmp_path: Any, only: set[str] | None = None) -> dict[str, tuple[bool, str]]:
    """Run the exercise's grader tests (or ``only`` those) on ``submission``: test name -> (passed, feedback)."""
    results = {}
    for name, fn in graded_tests(grader, exercise).items():
        if only and name not in only:
            continue
        kwargs = {"submission": submission}
        if "tmp_path" in inspect.signature(fn).parameters:
            kwargs["tmp_path"] = tmp_path
        try:
            fn(**kwargs)
            results[name] = (True, "")
        except GradeFailure as failure:
            results[name] = (False, str(failure))
    return results


def check_wrong(grader: types.ModuleType, exercise: str, lesson: str, wrong: Wrong, tmp_path: Any) -> None:
    """The wrong submission fails each test it lists, with feedback matching the pattern (only those tests run:
    failing one of them is already losing points; with none listed, every test runs and one must fail)."""
    unknown = set(wrong.fails) - set(graded_tests(grader, exercise))
    assert not unknown, f"{wrong.label}: no graded tests {sorted(unknown)} for {exercise}"
    results = run_exercise(grader, exercise, Submission.from_objects(lesson, **wrong.objects), tmp_path,
                           only=set(wrong.fails))
    assert not all(passed for passed, _ in results.values()), f"{wrong.label}: got full marks"
    for test_name, pattern in wrong.fails.items():
        passed, feedback = results[test_name]
        assert not passed, f"{wrong.label}: {test_name} should fail but passed"
        assert re.search(pattern, feedback), f"{wrong.label}: {test_name} feedback {feedback!r} !~ {pattern!r}"


def check_right(grader: types.ModuleType, exercise: str, lesson: str, objects: dict[str, Any],
                tmp_path: Any) -> None:
    results = run_exercise(grader, exercise, Submission.from_objects(lesson, **objects), tmp_path)
    lost = {name: feedback for name, (passed, feedback) in results.items() if not passed}
    assert not lost, f"a correct answer lost points: {lost}"


def assert_every_check_can_fail(grader: types.ModuleType, wrongs: dict[str, list[Wrong]]) -> None:
    """Every graded test is listed, in some wrong submission, as a test that must fail."""
    covered = {name for cases in wrongs.values() for wrong in cases for name in wrong.fails}
    never = sorted(set(graded_tests(grader)) - covered)
    assert not never, f"grader checks that no wrong submission is shown to fail: {never}"
    for exercise, cases in wrongs.items():
        assert len(cases) >= 2, f"{exercise}: at least two wrong submissions are needed"


def params(wrongs: dict[str, list[Wrong]]) -> list[Any]:
    return [pytest.param(exercise, wrong, id=f"{exercise}-{wrong.label}")
            for exercise, cases in wrongs.items() for wrong in cases]


def self_tests(grader: types.ModuleType, lesson: str, wrongs: dict[str, list[Wrong]],
               rights: dict[str, list[dict[str, Any]]]) -> tuple[Any, Any, Any]:
    """The three tests every lesson's grader gets, built from its lists of wrong and right submissions::

        test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \\
            self_tests(grader, "lesson01", WRONG, RIGHT)
    """

    @pytest.mark.parametrize("exercise, wrong", params(wrongs))
    def test_wrong_submission_loses_points(exercise, wrong, tmp_path):
        check_wrong(grader, exercise, lesson, wrong, tmp_path)

    @pytest.mark.parametrize("exercise, objects", [pytest.param(e, o, id=f"{e}-{i}") for e, cases in rights.items()
                                                   for i, o in enumerate(cases)])
    def test_correct_variant_gets_full_marks(exercise, objects, tmp_path):
        check_right(grader, exercise, lesson, objects, tmp_path)

    def test_every_check_can_fail():
        assert_every_check_can_fail(grader, wrongs)

    return test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail
