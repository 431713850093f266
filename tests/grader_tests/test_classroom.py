"""Classroom grading end to end: the student edition, notebook submissions (as students edit them), every kind of
broken submission, and batch grading. Graded by real judge and worker processes, on lesson 01. Attacks on the
grading are in test_adversarial.py."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from coursekit import authoring, student_edition, translations
from gradekit import classroom, sandbox

ROOT = Path(__file__).resolve().parents[2]
LESSON01 = ROOT / "lessons" / "01_sequential_to_functional.ipynb"
OPTIONS = {"call_timeout": 20.0,  # room for a loaded machine (JAX compiles in the first calls)
           "submission_timeout": 600.0, "memory_mb": 1024}
POINTS = sum(t.points for t in classroom.course_tests() if t.lesson == "lesson01")
TESTS = sum(1 for t in classroom.course_tests() if t.lesson == "lesson01")


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "student"
    student_edition.build(out)
    return out


def grade(path: Path, **options) -> dict:
    return classroom.grade_submission(path, ["01"], {**OPTIONS, **options})


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


def test_student_edition_runs_up_to_its_first_exercise(edition):
    for path in sorted((edition / "lessons").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(i for i, c in enumerate(nb.cells) if authoring.EXERCISE_TAG in c.metadata.get("tags", []))
        client = NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(edition / "lessons")}})
        with pytest.raises(CellExecutionError) as info:
            client.execute()
        assert "NotImplementedError" in str(info.value), f"{path.name}: stopped on something else"
        ran = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]
        assert all(i in ran for i, c in enumerate(nb.cells[:first + 1]) if c.cell_type == "code"), \
            f"{path.name}: a cell before the first exercise did not run"


def test_every_stub_fails_its_grader_with_not_implemented(edition):
    lessons = sorted(p.name[:2] for p in (edition / "lessons").glob("[0-9][0-9]_*.ipynb"))
    report = classroom.grade_submission(edition / "lessons", lessons, OPTIONS)
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


# ------------------------------------------------------------------------------------------- notebook submissions


def expected_sandbox() -> str:
    """How a report names the outer layer here: bubblewrap where it is usable, else the fallback."""
    return "bubblewrap " if sandbox.bubblewrap()[0] is not None else "no bubblewrap ("


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


# ------------------------------------------------------------------------------------------- batch


CLASS_SEED = "20261202"  # the class's draws: the shards below are given the same, as a teacher gives every shard
COURSE_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lessons"), str(ROOT / "tests")]))


def classroom_cli(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    """``python -m gradekit.classroom ARGS`` in a process of its own, as a teacher (or a CI job) runs it."""
    return subprocess.run([sys.executable, "-m", "gradekit.classroom", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT,
                          env=COURSE_ENV)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, edition) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A class of four (a right notebook, a wrong module, a broken notebook, the student edition's stubs), graded by
    one batch: (class folder, gradebook folder, the batch's process)."""
    tmp_path = tmp_path_factory.mktemp("graded-class")
    students = tmp_path / "class"
    students.mkdir()
    right = notebook_with(tmp_path / "a", {})
    (right / LESSON01.name).rename(students / "ada.ipynb")  # a student's notebook, named after the student
    (students / "bob").mkdir()
    (students / "bob" / "lesson01.py").write_text((ROOT / "solutions" / "lesson01.py").read_text().replace(
        'activation="softmax", name="digit"', 'activation="relu", name="digit"'))
    (students / "cyd").mkdir()
    (students / "cyd" / LESSON01.name).write_text("not json")
    (students / "dee").mkdir()
    (students / "dee" / LESSON01.name).write_bytes((edition / "lessons" / LESSON01.name).read_bytes())
    out = tmp_path / "out"
    proc = classroom_cli("batch", str(students), "--out", str(out), "--jobs", "2", "--call-timeout", "30",
                         "--lessons", "01", "--seed", CLASS_SEED)
    return students, out, proc


def test_batch_grades_every_student_in_parallel(graded_class):
    students, out, proc = graded_class
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[4/4]" in proc.stdout and "s left" in proc.stdout, "progress is shown"
    rows = {r["student"]: r for r in csv.DictReader(open(out / "gradebook.csv"))}
    assert set(rows) == {"ada", "bob", "cyd", "dee"}
    assert rows["ada"]["total"] == f"{POINTS:g}" and rows["cyd"]["total"] == "0" and rows["dee"]["total"] == "0"
    assert 0 < float(rows["bob"]["total"]) < POINTS
    assert rows["bob"]["lesson01:SimpleDense"] == "6"
    assert all(rows[s]["sandbox"].startswith(expected_sandbox()) for s in ("ada", "bob", "dee")), rows["ada"]
    assert all(rows[s]["flags"] == "" for s in rows), "no flags for these students"
    feedback = (out / "feedback" / "bob.md").read_text()
    assert feedback.startswith("# Grade for bob:") and "softmax" in feedback
    suites = ET.parse(out / "junit.xml").getroot()
    assert len(suites) == 4 and sum(int(s.get("failures")) for s in suites) > 0
    assert "not valid notebook JSON" in json.loads((out / "reports" / "cyd.json").read_text())["tests"][0]["feedback"]



# ------------------------------------------------------------------------------------------- shards


def _without_times(report: dict) -> dict:
    return {key: value for key, value in report.items() if key != "seconds"}


def _junit_without_times(path: Path) -> str:
    root = ET.parse(path).getroot()
    for suite in root:
        suite.attrib.pop("time", None)
    return ET.tostring(root, encoding="unicode")


def test_a_class_graded_in_three_shards_and_merged_equals_one_batch(graded_class, tmp_path):
    """Three shard processes side by side, then a merge: every gradebook cell, report, feedback file and JUnit case
    is what one batch with the same seed wrote (the feedback names the drawn sizes, so the seed matters). A shard
    whose run failed, graded again, changes nothing else."""
    students, batch_out, _ = graded_class
    shards = [tmp_path / f"shard-{i}" for i in (1, 2, 3)]
    runs = [subprocess.Popen([sys.executable, "-m", "gradekit.classroom", "batch", str(students), "--out",
                              str(folder), "--jobs", "1", "--call-timeout", "30", "--lessons", "01", "--shard",
                              f"{i}/3", "--seed", CLASS_SEED], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT, env=COURSE_ENV)
            for i, folder in enumerate(shards, start=1)]
    for run in runs:
        stdout, stderr = run.communicate(timeout=1200)
        assert run.returncode == 0, stderr[-2000:]
    held = [json.loads((folder / "shard.json").read_text())["students"] for folder in shards]
    assert sorted(sum(held, [])) == ["ada", "bob", "cyd", "dee"], "each student in exactly one shard"

    def merged(out: Path) -> Path:
        proc = classroom_cli("merge", *map(str, shards), "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        return out

    def same_as_the_batch(out: Path) -> None:
        assert (out / "gradebook.csv").read_text() == (batch_out / "gradebook.csv").read_text()
        for student in ("ada", "bob", "cyd", "dee"):
            assert (_without_times(json.loads((out / "reports" / f"{student}.json").read_text()))
                    == _without_times(json.loads((batch_out / "reports" / f"{student}.json").read_text())))
            feedback = f"feedback/{student}.md"
            assert (out / feedback).read_text() == (batch_out / feedback).read_text()
        assert _junit_without_times(out / "junit.xml") == _junit_without_times(batch_out / "junit.xml")
        # the teacher's page and exports (gradekit.class_report), byte for byte
        exports = ["report.html", "canvas.csv", *(f"gradescope/{s}/results.json" for s in ("ada", "bob", "cyd", "dee"))]
        assert sorted(str(p.relative_to(out)) for p in (out / "gradescope").rglob("*") if p.is_file()) == exports[2:]
        for name in exports:
            assert (out / name).read_bytes() == (batch_out / name).read_bytes(), name

    same_as_the_batch(merged(tmp_path / "merged"))
    # a shard that failed (its folder left without shard.json) is graded again; the others are not touched
    failed = next(folder for folder, students_held in zip(shards, held) if students_held)
    others = {folder: {p: p.stat().st_mtime_ns for p in folder.rglob("*")} for folder in shards if folder != failed}
    (failed / "shard.json").unlink()
    refused = classroom_cli("merge", *map(str, shards), "--out", str(tmp_path / "refused"))
    assert refused.returncode == 2 and "did not finish" in refused.stderr
    index = shards.index(failed) + 1
    again = classroom_cli("batch", str(students), "--out", str(failed), "--jobs", "1", "--call-timeout", "30",
                          "--lessons", "01", "--shard", f"{index}/3", "--seed", CLASS_SEED)
    assert again.returncode == 0, again.stderr[-2000:]
    assert others == {folder: {p: p.stat().st_mtime_ns for p in folder.rglob("*")} for folder in others}
    same_as_the_batch(merged(tmp_path / "merged-again"))


def _fake_shard(folder: Path, index: int, shards: int, students: list[str], **changes) -> Path:
    """A shard folder as batch --shard writes it, without grading: a manifest and a report per student."""
    (folder / "reports").mkdir(parents=True)
    (folder / "feedback").mkdir()
    for student in students:
        report = {"student": student, "submission": student, "earned": 1.0, "possible": 2.0, "seconds": 1.0,
                  "tests": [{"lesson": "lesson01", "exercise": "e", "name": "test_e", "earned": 1.0,
                             "possible": 2.0, "feedback": "ok"}]}
        (folder / "reports" / f"{student}.json").write_text(json.dumps(report))
        (folder / "feedback" / f"{student}.md").write_text(classroom.markdown(report))
    manifest = {"format": 1, "shard": index, "shards": shards, "course_version": classroom.course_version(),
                "class": "c1", "lessons": ["01"], "entries": students, "students": students, **changes}
    (folder / "shard.json").write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize(("case", "message"), [
    ("missing", "missing shards: 2/2"),
    ("twice", "shard 1/2 is given twice"),
    ("other-version", "different versions of the graders"),
    ("other-class", "different classes"),
    ("other-count", "different numbers of shards"),
    ("student-twice", "ann is in two shards"),
    ("not-a-shard", "is not a shard folder"),
])
def test_merge_refuses_shards_that_do_not_make_one_class_in_one_sentence(tmp_path, case, message):
    one = _fake_shard(tmp_path / "one", 1, 2, ["ann"])
    two = {"missing": lambda: None,
           "twice": lambda: _fake_shard(tmp_path / "two", 1, 2, ["bea"]),
           "other-version": lambda: _fake_shard(tmp_path / "two", 2, 2, ["bea"], course_version="0123456789abcdef"),
           "other-class": lambda: _fake_shard(tmp_path / "two", 2, 2, ["bea"], **{"class": "c2"}),
           "other-count": lambda: _fake_shard(tmp_path / "two", 2, 3, ["bea"]),
           "student-twice": lambda: _fake_shard(tmp_path / "two", 2, 2, ["ann"]),
           "not-a-shard": lambda: tmp_path}[case]()
    proc = classroom_cli("merge", *[str(f) for f in (one, two) if f is not None], "--out", str(tmp_path / "out"),
                         timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("not merged: ") and message in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists(), "nothing is written"


def test_shards_slice_the_class_by_name_and_stay_put_when_students_join():
    names = [f"student{k:03d}" for k in range(300)]
    for shards in (1, 3, 7):
        slices = {name: classroom.shard_of(name, shards) for name in names}
        assert set(slices.values()) == set(range(1, shards + 1))
        assert max(Counter(slices.values()).values()) < 2 * len(names) / shards, "roughly even slices"
        grown = {name: classroom.shard_of(name, shards) for name in names + ["newcomer", "another"]}
        assert all(grown[name] == slices[name] for name in names), "a new student moves no one"
    assert classroom.shard_of("Ada", 5) == classroom.shard_of("ada", 5), "case does not count, as for duplicates"
    assert classroom.parse_shard("2/5") == (2, 5)
    for wrong in ("0/3", "4/3", "2", "a/b", "1/0"):
        with pytest.raises(ValueError, match="--shard"):
            classroom.parse_shard(wrong)


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
    try:
        for name in "abc":
            assert judge.run(_job(tmp_path / name, "    assert True"), tmp_path / name, 120) == (0, ""), name
    finally:
        judge.close()


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
