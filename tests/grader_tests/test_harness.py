"""Grading with pytest end to end: `pytest tests/grading --submission DIR --grade-report FILE`, with the submission's
code in a worker process, on broken submissions. Each problem costs only the affected tests, with a readable reason,
and the JSON report holds every test with its feedback. The first test runs that command line in a process of its
own; the others run the same pytest arguments in one judge process (gradekit.judge, as classroom grading does), one
submission after another, so that Keras is imported once for them rather than once per submission."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gradekit import classroom
from gradekit.classroom import course_tests

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = (ROOT / "solutions" / "lesson01.py").read_text()
LESSON01 = [t for t in course_tests() if t.lesson == "lesson01"]
POINTS = sum(t.points for t in LESSON01)


@pytest.fixture(scope="module")
def judge() -> Iterator[classroom.Judge]:
    runner = classroom.Judge()
    try:
        yield runner
    finally:
        runner.close()


def grade(tmp_path: Path, lesson01: str | None, timeout: float = 5, judge: classroom.Judge | None = None) -> dict:
    """The report of pytest over lesson 01's graders for a submission of ``lesson01`` (None: no lesson01.py), run
    as a command line, or in ``judge``; with what pytest printed, as ``stdout``."""
    submission = tmp_path / "submission"
    submission.mkdir()
    if lesson01 is not None:
        (submission / "lesson01.py").write_text(lesson01)
    report = tmp_path / "report.json"
    if judge is None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lessons"), str(ROOT / "tests")]))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(ROOT / "tests/grading/test_lesson01.py"), "-q", "-p",
             "no:cacheprovider", f"--submission={submission}", f"--grade-report={report}", f"--call-timeout={timeout}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        stdout = proc.stdout + proc.stderr
    else:  # exactly as classroom grading runs the graders (its report is tmp_path/report.json, its log judge.log)
        options = dict(classroom.DEFAULTS, call_timeout=timeout, submission_timeout=600)
        _, problem = classroom.judge(submission, ["lesson01"], options, tmp_path, runner=judge)
        log = tmp_path / "judge.log"
        stdout = problem + (log.read_text(errors="replace") if log.exists() else "")
    assert report.exists(), stdout[-6000:]
    data = json.loads(report.read_text())
    data["stdout"] = stdout
    return data


def by_exercise(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for test in report["tests"]:
        out.setdefault(test["exercise"], []).append(test)
    return out


def test_full_marks_for_the_solutions_and_a_well_formed_report(tmp_path):
    report = grade(tmp_path, SOLUTION)
    assert report["earned"] == report["possible"] == POINTS
    assert {"lesson", "exercise", "name", "earned", "possible", "feedback"} <= set(report["tests"][0])
    assert all(t["feedback"].startswith("passed: Exercise") for t in report["tests"])
    assert "lesson01" in report["stdout"] and f"{POINTS:g} / {POINTS:g}" in report["stdout"]


def test_each_broken_exercise_costs_only_its_own_points(tmp_path, judge):
    broken = SOLUTION.replace(
        "def build_functional_mlp() -> keras.Model:",
        "def build_functional_mlp() -> keras.Model:\n    raise NotImplementedError"
    ).replace(
        "def to_functional(model: keras.Sequential) -> keras.Model:",
        "def to_functional(model: keras.Sequential) -> keras.Model:\n    return [model]"
    ).replace(
        "def feature_extractor(model: keras.Model, layer_name: str) -> keras.Model:",
        "def feature_extractor(model: keras.Model, layer_name: str) -> keras.Model:\n    while True:\n        pass"
    )
    report = grade(tmp_path, broken, timeout=3, judge=judge)
    exercises = by_exercise(report)
    assert all(t["earned"] == 0 and "not implemented yet" in t["feedback"] for t in exercises["build_functional_mlp"])
    assert all(t["earned"] == 0 and "returned list, not a keras.Model" in t["feedback"]
               for t in exercises["to_functional"])
    assert all(t["earned"] == 0 and "did not finish within 3 s" in t["feedback"]
               for t in exercises["feature_extractor"])
    assert all(t["earned"] == t["possible"] for t in exercises["SimpleDense"])
    assert report["earned"] == sum(t.points for t in LESSON01 if t.exercise == "SimpleDense")


@pytest.mark.parametrize("source, reason", [
    (None, "neither lesson01.py nor a notebook 01_*.ipynb was found in the submission folder"),
    ("def build_functional_mlp(:\n    pass\n", "lesson01.py has a syntax error on line 1"),
    ("import keras\nraise RuntimeError('half-finished')\n",
     "importing lesson01.py raised RuntimeError: half-finished (line 2 of lesson01.py)"),
    ("import sys\nsys.exit(0)\n", "importing lesson01.py raised SystemExit"),
], ids=["missing", "syntax-error", "raises-at-import", "exits-at-import"])
def test_a_module_that_cannot_be_used_fails_every_test_with_the_reason(tmp_path, judge, source, reason):
    report = grade(tmp_path, source, judge=judge)
    assert report["earned"] == 0 and report["possible"] == POINTS and len(report["tests"]) == len(LESSON01)
    assert all(reason in t["feedback"] for t in report["tests"]), report["tests"][0]["feedback"]
    if source is None:  # nothing to run: the judge says so without starting a worker
        assert report["sandbox"] == "no worker was started", report["sandbox"]
