"""Classroom grading end to end: notebook submissions (as students edit them), every kind of broken submission,
judges that last, what a class folder may hand in, and the sandbox's refusal. Graded by real judge and worker
processes, on lesson 01. The student edition is in test_student_edition.py, a class's batch and shards in
test_class_batch.py, attacks on the grading in test_adversarial.py."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from coursekit import authoring
from gradekit import classroom, sandbox
from grader_tests.classkit import (
    LESSON01,
    OPTIONS,
    POINTS,
    ROOT,
    TESTS,
    by_exercise,
    expected_sandbox,
    grade,
    module_judge,
    notebook_with,
)


@pytest.fixture(scope="module", autouse=True)
def judge(tmp_path_factory) -> Iterator[classroom.Judge]:
    yield from module_judge(tmp_path_factory)


# ------------------------------------------------------------------------------------------- notebook submissions


def test_the_course_notebook_gets_full_marks_including_hidden_tests(tmp_path):
    report = grade(notebook_with(tmp_path, {}))
    assert report["earned"] == report["possible"] == POINTS
    assert any(t.get("hidden") for t in report["tests"])
    assert report["sandbox"].startswith(expected_sandbox()) and "audit hook" in report["sandbox"], report["sandbox"]


def test_a_single_notebook_file_can_be_submitted(tmp_path):
    folder = notebook_with(tmp_path, {})
    report = grade(folder / LESSON01.name)
    assert report["earned"] == POINTS


def test_broken_cells_cost_only_their_exercises(tmp_path):
    solutions = authoring.solution_sources("01")
    cells = {
        "build_functional_mlp": None,  # deleted
        "to_functional": "def to_functional(model):\n    return keras.Model(model.inputs model.outputs)\n",
        "feature_extractor": "def feature_extractor(model, layer_name):\n    while True:\n        pass\n",
        "SimpleDense": "print('x' * 5_000_000)\n" + solutions["SimpleDense"].replace(
            "super().__init__(**kwargs)", "super().__init__(**kwargs)\n        print('y' * 1_000_000)"),
    }
    report = grade(notebook_with(tmp_path, cells))
    exercises = by_exercise(report)
    assert all(t["earned"] == 0 and "no exercise cell defining 'build_functional_mlp'" in t["feedback"]
               for t in exercises["build_functional_mlp"])
    assert all(t["earned"] == 0 and "syntax error on line 2" in t["feedback"] for t in exercises["to_functional"])
    assert all(t["earned"] == 0 and f"did not finish within {OPTIONS['call_timeout']:g} s" in t["feedback"]
               for t in exercises["feature_extractor"])
    assert all(t["earned"] == t["possible"] for t in exercises["SimpleDense"]), "megabytes of output cost nothing"


def test_exceptions_memory_hogs_and_untagged_cells_cost_only_their_exercises(tmp_path):
    solutions = authoring.solution_sources("01")
    cells = {
        "build_functional_mlp": "def build_functional_mlp():\n    hog = []\n    while True:\n"
                                "        hog.append(bytearray(50_000_000))\n",
        "to_functional": "raise RuntimeError('left over')\n" + solutions["to_functional"],
        "feature_extractor": "def feature_extractor(model, layer_name):\n    return 1 / 0\n",
    }
    report = grade(notebook_with(tmp_path, cells, untag=("SimpleDense",)))
    exercises = by_exercise(report)
    assert all(t["earned"] == 0 and "ran out of memory" in t["feedback"] for t in exercises["build_functional_mlp"])
    assert all(t["earned"] == 0 and "running the exercise cell for to_functional raised RuntimeError: left over"
               in t["feedback"] for t in exercises["to_functional"])
    assert all(t["earned"] == 0 and "ZeroDivisionError" in t["feedback"] for t in exercises["feature_extractor"])
    assert all(t["earned"] == 0 and "untagged" in t["feedback"] for t in exercises["SimpleDense"])


def test_a_file_that_is_not_a_notebook_fails_with_the_reason(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / LESSON01.name).write_text('{"cells": [{"cell_type": "code", "source": "x = 1"')
    report = grade(folder)
    assert report["earned"] == 0 and len(report["tests"]) == TESTS
    assert all("not valid notebook JSON" in t["feedback"] for t in report["tests"])


def test_exiting_in_a_cell_costs_only_its_exercise(tmp_path):
    cells = {"build_functional_mlp": "import os\nos._exit(0)\n\n\ndef build_functional_mlp():\n    pass\n"}
    report = grade(notebook_with(tmp_path, cells))
    exercises = by_exercise(report)
    assert all(t["earned"] == 0 and "stopped" in t["feedback"] for t in exercises["build_functional_mlp"])
    assert report["earned"] == POINTS - sum(t["possible"] for t in exercises["build_functional_mlp"])


# ------------------------------------------------------------------------------------------- notebooks as written

HELPERS_ABOVE = [
    ("code", "import keras\nfrom keras import layers as L\n\nHIDDEN = 32\nWIDTHS = (HIDDEN, HIDDEN)\n"),
    ("code", "def dense_stack(x, widths=WIDTHS):\n    for units in widths:\n"
             "        x = L.Dense(units, activation=ACTIVATION)(x)\n    return x\n"),
    ("code", "ACTIVATION = 'sigmoid'\n"),  # redefined below, before the exercise: the later one counts
    ("code", "history = keras.Sequential([keras.Input((2,)), L.Dense(1)]).fit([[0, 0]], [[0]], verbose=0)\n"),
    ("code", "ACTIVATION = 'relu'\n"),
]
EXERCISE_WITH_HELPERS = ("def build_functional_mlp():\n    pixels = keras.Input((64,), name='pixels')\n"
                         "    return keras.Model(pixels, output_layer()(dense_stack(pixels)))\n")
HELPER_BELOW = ("def output_layer():\n    return L.Dense(10, activation='softmax', name=OUTPUT_NAME)\n\n"
                "OUTPUT_NAME = 'digit'\n")


def notebook_of(tmp_path: Path, cells: list[tuple[str, str]], name: str = LESSON01.name) -> Path:
    """A notebook of (kind, source) cells; kind 'exercise' is a code cell tagged exercise."""
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if kind == "exercise":
            cell.metadata["tags"] = ["exercise"]
        nb.cells.append(cell)
    folder = tmp_path / "submission"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder


def test_exercise_cells_may_use_helpers_and_constants_from_other_cells(tmp_path):
    """Helpers above and below, a helper that needs a constant, a redefinition, a training cell that is not
    needed (never run), and the exercise cell duplicated (the later copy counts)."""
    solutions = authoring.solution_sources("01")
    cells = HELPERS_ABOVE + [
        ("exercise", "def build_functional_mlp():\n    raise NotImplementedError\n"),  # an earlier draft
        ("exercise", EXERCISE_WITH_HELPERS),
        ("code", HELPER_BELOW),
    ] + [("exercise", solutions[name]) for name in ("to_functional", "feature_extractor", "SimpleDense")]
    report = grade(notebook_of(tmp_path, cells))
    assert report["earned"] == report["possible"] == POINTS, [t["feedback"] for t in report["tests"]
                                                          if t["earned"] < t["possible"]]


def test_a_name_from_a_training_cell_is_named_in_the_feedback(tmp_path):
    solutions = authoring.solution_sources("01")
    cells = [
        ("code", "import keras\nimport numpy as np\n"),
        ("code", "warm = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32)])\n"
                 "history = warm.fit(np.zeros((4, 64)), np.zeros((4, 32)), verbose=0)\nWIDTH = 32\n"),
        ("exercise", "def build_functional_mlp():\n    pixels = keras.Input((64,), name='pixels')\n"
                     "    x = keras.layers.Dense(WIDTH, activation='relu')(pixels)\n"
                     "    x = keras.layers.Dense(len(history.history['loss']) * 32, activation='relu')(x)\n"
                     "    return keras.Model(pixels, keras.layers.Dense(10, activation='softmax', name='digit')(x))\n"),
    ] + [("exercise", solutions[name]) for name in ("to_functional", "feature_extractor", "SimpleDense")]
    report = grade(notebook_of(tmp_path, cells))
    exercises = by_exercise(report)
    for test in exercises["build_functional_mlp"]:
        assert test["earned"] == 0 and "'history'" in test["feedback"] and "cell 2" in test["feedback"], test
    assert all(t["earned"] == t["possible"] for name in ("to_functional", "feature_extractor", "SimpleDense")
               for t in exercises[name])


# ------------------------------------------------------------------------------------------- judges that last


def _job(folder: Path, body: str) -> list[str]:
    """pytest arguments for a one-test job in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    test = folder / f"test_job_{folder.name}.py"  # a module name of its own: a judge keeps the modules it imported
    test.write_text(f"import os\n\n\ndef test_job():\n{body}\n")
    return [str(test), "-p", "no:cacheprovider", "-q", "-o", "addopts=", f"--rootdir={folder}"]


def test_a_judge_grades_one_submission_after_another_and_is_replaced_when_it_fails(tmp_path):
    judge = classroom.Judge()
    try:
        assert judge.run(_job(tmp_path / "a", "    assert True"), tmp_path / "a", 120) == (0, "")
        first = judge.proc.pid
        assert judge.run(_job(tmp_path / "b", "    assert False"), tmp_path / "b", 120) == (1, "")
        assert judge.proc.pid == first, "the same process grades the next job"
        assert "1 failed" in (tmp_path / "b" / "judge.log").read_text(), "each job's output goes to its own log"

        status, problem = judge.run(_job(tmp_path / "c", "    while True:\n        pass"), tmp_path / "c", 3)
        assert status is None and "took longer than 3 s" in problem
        assert judge.run(_job(tmp_path / "d", "    assert True"), tmp_path / "d", 120) == (0, ""), \
            "a judge that overran is replaced"

        status, problem = judge.run(_job(tmp_path / "e", "    os._exit(7)"), tmp_path / "e", 120)
        assert status is None and "ended unexpectedly (exit status 7)" in problem
        assert judge.run(_job(tmp_path / "f", "    assert True"), tmp_path / "f", 120) == (0, ""), \
            "a judge that died is replaced"
    finally:
        judge.close()


def test_a_judge_that_retires_after_a_job_is_replaced_for_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_JUDGE_RESTART_MB", "0")  # every job leaves the judge "too large"
    judge = classroom.Judge()
    pids = []
    try:
        for name in "ab":  # each job writes the process id of the judge that ran it
            job = _job(tmp_path / name, '    open("pid", "w").write(str(os.getpid()))')
            assert judge.run(job, tmp_path / name, 120) == (0, ""), name
            assert judge.proc is None, "the judge that retired is closed"
            pids.append((tmp_path / name / "pid").read_text())
    finally:
        judge.close()
    assert pids[0] != pids[1], "a new judge took the next job"


# ------------------------------------------------------------------------------------------- what a submission hands in
# Links, special files and duplicate names in a class folder; no path of this machine in any report.

import re  # noqa: E402

SOLUTION_BYTES = (ROOT / "solutions" / "lesson01.py").read_bytes()
ABSOLUTE_PATH = re.compile(r"(?:^|[\s'\"`(\[{<=:,])/[\w.-]+/")  # a path of this machine, as feedback would quote it
PRINTS_PATHS = '''import os


def build_functional_mlp():
    raise RuntimeError(__file__)


def to_functional(model):
    return open("/work/main/solutions/lesson01.py").read()


def feature_extractor(model, layer_name):
    raise ValueError(f"in {os.getcwd()} and {os.path.abspath(os.sep + 'tmp')}")
'''


def _no_machine_paths(text: str, *folders: Path) -> None:
    for folder in (ROOT, *folders):
        assert str(folder) not in text
    assert "grading-worker-" not in text and "grading-judge-" not in text
    assert not ABSOLUTE_PATH.search(text), ABSOLUTE_PATH.search(text)


def test_two_entries_for_one_student_are_refused_before_grading(tmp_path, monkeypatch):
    students = tmp_path / "class"
    (students / "alice").mkdir(parents=True)
    (students / "alice" / "lesson01.py").write_text("")
    (students / "Alice.ipynb").write_text("{}")
    (students / "bob.ipynb").write_text("{}")
    monkeypatch.setattr(classroom, "grade_submission", lambda *a, **k: pytest.fail("a submission was graded"))
    with pytest.raises(classroom.DuplicateStudents, match=r"one student: 'Alice.ipynb' and 'alice/'\. Keep one"):
        classroom.batch(students, tmp_path / "out", 1, ["01"], OPTIONS)
    assert not (tmp_path / "out").exists()
    proc = subprocess.run([sys.executable, "-m", "gradekit.classroom", "batch", str(students), "--out",
                           str(tmp_path / "out"), "--lessons", "01"], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lessons"),
                                                                                     str(ROOT / "tests")])))
    assert proc.returncode == 2 and "'Alice.ipynb' and 'alice/'" in proc.stderr and not proc.stdout
    assert not (tmp_path / "out").exists()


def test_a_link_to_a_classmates_file_earns_nothing_and_leaves_the_classmate_alone(tmp_path):
    """max/lesson01.py links to ann's; eve is a link to ann's folder; pat's exceptions print paths. Ann earns her
    points, max and eve nothing with the reason, and no report shows a path of this machine."""
    students = tmp_path / "class"
    (students / "ann").mkdir(parents=True)
    (students / "ann" / "lesson01.py").write_bytes(SOLUTION_BYTES)
    (students / "max").mkdir()
    (students / "max" / "lesson01.py").symlink_to(Path("..") / "ann" / "lesson01.py")
    (students / "eve").symlink_to(students / "ann")
    (students / "pat").mkdir()
    (students / "pat" / "lesson01.py").write_text(PRINTS_PATHS)
    out = tmp_path / "out"
    reports = {r["student"]: r for r in classroom.batch(students, out, 1, ["01"], OPTIONS)}
    assert reports["ann"]["earned"] == POINTS
    assert reports["max"]["earned"] == 0 and len(reports["max"]["tests"]) == TESTS
    assert all("not graded: lesson01.py is a symbolic link: hand in the file itself." in t["feedback"]
               for t in reports["max"]["tests"])
    assert reports["eve"]["earned"] == 0 and reports["eve"]["possible"] == POINTS
    assert all("not graded: eve is a symbolic link: hand in the folder or notebook itself." in t["feedback"]
               for t in reports["eve"]["tests"])
    pat = by_exercise(reports["pat"])
    assert any("RuntimeError: lesson01.py" in t["feedback"] for t in pat["build_functional_mlp"]), \
        "the student's own message is quoted, without its folders"
    assert any("lesson01.py" in t["feedback"] and "Error" in t["feedback"] for t in pat["to_functional"])
    for student in reports:
        _no_machine_paths((out / "reports" / f"{student}.json").read_text(), tmp_path)
        _no_machine_paths((out / "feedback" / f"{student}.md").read_text(), tmp_path)


def test_plain_pytest_does_not_grade_a_link_to_the_solutions(tmp_path):
    """``pytest tests/grading --submission DIR`` with DIR/lesson01.py a link to solutions/lesson01.py (through
    /proc/self/cwd, which is the course when pytest runs from it) earns nothing."""
    folder = tmp_path / "ada"
    folder.mkdir()
    (folder / "lesson01.py").symlink_to("/proc/self/cwd/solutions/lesson01.py")
    report = tmp_path / "grades.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/grading/test_lesson01.py", "-p", "no:cacheprovider",
                           "-q", "-o", "addopts=", f"--submission={folder}", f"--grade-report={report}"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lessons"),
                                                                           str(ROOT / "tests")])))
    assert report.exists(), proc.stdout[-2000:]
    grades = json.loads(report.read_text())
    assert grades["earned"] == 0 and len(grades["tests"]) == TESTS
    assert all("lesson01.py is a symbolic link: hand in the file itself" in t["feedback"] for t in grades["tests"])


# ------------------------------------------------------------------------------------------------ the sandbox


def test_the_gradebook_has_a_sandbox_and_a_flags_column_and_the_feedback_says_both(tmp_path):
    tests = [{"lesson": "lesson01", "exercise": "to_functional", "name": "test_a", "earned": 0.0, "possible": 2.0,
              "feedback": "wrong"}]
    reports = [{"student": "ann", "earned": 0.0, "possible": 2.0, "sandbox": "bubblewrap 0.8.0 (PID namespaces)",
                "flags": ["lesson01: imports gradekit", "lesson01: uses ctypes"], "tests": tests},
               {"student": "ben", "earned": 0.0, "possible": 2.0, "sandbox": "no bubblewrap (missing)", "tests": tests}]
    classroom.gradebook(reports, tmp_path / "gradebook.csv")
    rows = {r["student"]: r for r in csv.DictReader(open(tmp_path / "gradebook.csv"))}
    assert rows["ann"]["sandbox"] == "bubblewrap 0.8.0 (PID namespaces)"
    assert rows["ann"]["flags"] == "lesson01: imports gradekit; lesson01: uses ctypes"
    assert rows["ben"]["sandbox"] == "no bubblewrap (missing)" and rows["ben"]["flags"] == ""
    text = classroom.markdown(reports[0])
    assert "Graded in: bubblewrap 0.8.0 (PID namespaces)." in text and "- lesson01: uses ctypes" in text
    assert "Flagged" not in classroom.markdown(reports[1])


def _without_bwrap() -> dict[str, str]:
    """The environment of a machine without bubblewrap (bwrap pointed at nothing), where it is required."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lessons"), str(ROOT / "tests")]),
                **{sandbox.BWRAP_ENV: "/nonexistent/bwrap", sandbox.REQUIRE_ENV: "1"})


def test_grading_refuses_in_one_sentence_when_the_sandbox_is_required_and_missing(tmp_path, monkeypatch):
    folder = tmp_path / "ann"
    folder.mkdir()
    (folder / "lesson01.py").write_text((ROOT / "solutions" / "lesson01.py").read_text())
    proc = subprocess.run([sys.executable, "-m", "gradekit.classroom", "grade", str(folder), "--lessons", "01"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=_without_bwrap())
    assert proc.returncode == 2 and proc.stdout == ""
    message = proc.stderr.strip()
    assert "\n" not in message and "Traceback" not in message, message
    assert "requires the bubblewrap sandbox" in message and "apt-get install bubblewrap" in message
    assert "kernel.apparmor_restrict_unprivileged_userns" in message
    # through the API, every test says why it was not graded
    monkeypatch.setenv(sandbox.BWRAP_ENV, "/nonexistent/bwrap")
    report = classroom.grade_submission(folder, ["01"], {**OPTIONS, "require_sandbox": True})
    assert report["earned"] == 0 and len(report["tests"]) == TESTS
    assert all("not graded: Grading requires the bubblewrap sandbox" in t["feedback"] for t in report["tests"])
    # and the graders run with pytest refuse too
    proc = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests" / "grading" / "test_lesson01.py"),
                           "-p", "no:cacheprovider", "-q", "-o", "addopts=", f"--submission={folder}"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=_without_bwrap())
    assert proc.returncode == 4 and "requires the bubblewrap sandbox" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
