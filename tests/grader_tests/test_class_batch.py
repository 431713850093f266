"""A class graded in one batch (progress, gradebook, feedback, JUnit, the teacher's report), in shards merged into the
same, and the merge's refusals. Graded by real judge and worker processes, on lesson 01."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from gradekit import classroom
from grader_tests.classkit import LESSON01, POINTS, ROOT, build_edition, expected_sandbox, notebook_with


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    return build_edition(tmp_path_factory)


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


def _fake_shard(folder: Path, index: int, shards: int, names: list[str], **changes) -> Path:
    """A shard folder as batch --shard writes it, without grading: a manifest and a report per student (``changes``
    replace the manifest's values)."""
    (folder / "reports").mkdir(parents=True)
    (folder / "feedback").mkdir()
    for student in names:
        report = {"student": student, "submission": student, "earned": 1.0, "possible": 2.0, "seconds": 1.0,
                  "tests": [{"lesson": "lesson01", "exercise": "e", "name": "test_e", "earned": 1.0,
                             "possible": 2.0, "feedback": "ok"}]}
        (folder / "reports" / f"{student}.json").write_text(json.dumps(report))
        (folder / "feedback" / f"{student}.md").write_text(classroom.markdown(report))
    manifest = {"format": 1, "shard": index, "shards": shards, "course_version": classroom.course_version(),
                "class": "c1", "lessons": ["01"], "entries": names, "students": names, **changes}
    (folder / "shard.json").write_text(json.dumps(manifest))
    return folder


def _replaced(folder: Path, name: str, link: Path | None = None, size: int = 0, text: str = "") -> Path:
    """The shard folder with its file ``name`` replaced by a link, a file of ``size`` bytes, or ``text``."""
    path = folder / name
    path.unlink()
    if link is not None:
        path.symlink_to(link)
    elif size:
        with open(path, "wb") as handle:
            handle.truncate(size)  # sparse: no disk is used
    else:
        path.write_text(text)
    return folder


def _broken(folder: Path, text: str) -> Path:
    (folder / "shard.json").write_text(text)
    return folder


@pytest.mark.parametrize(("case", "message"), [
    ("missing", "missing shards: 2/2"),
    ("twice", "shard 1/2 is given twice"),
    ("other-version", "different versions of the graders"),
    ("other-class", "different classes"),
    ("other-count", "different numbers of shards"),
    ("student-twice", "ann is in two shards"),
    ("not-a-shard", "is not a shard folder"),
    ("not-json", "cannot be read as JSON"),
    ("no-students", "'students' is missing or not a list"),
    ("a-path-for-a-student", "must be as many plain names"),
    ("a-linked-report", "bea.json cannot be merged: it is a symbolic link"),
    ("a-huge-feedback", f"bea.md cannot be merged: it is larger than {classroom.MAX_SHARD_BYTES} bytes"),
    ("a-forged-report", "is not the report batch wrote for bea"),
])
def test_merge_refuses_shards_that_do_not_make_one_class_in_one_sentence(tmp_path, case, message):
    one = _fake_shard(tmp_path / "one", 1, 2, ["ann"])
    two = {"missing": lambda: None,
           "twice": lambda: _fake_shard(tmp_path / "two", 1, 2, ["bea"]),
           "other-version": lambda: _fake_shard(tmp_path / "two", 2, 2, ["bea"], course_version="0123456789abcdef"),
           "other-class": lambda: _fake_shard(tmp_path / "two", 2, 2, ["bea"], **{"class": "c2"}),
           "other-count": lambda: _fake_shard(tmp_path / "two", 2, 3, ["bea"]),
           "student-twice": lambda: _fake_shard(tmp_path / "two", 2, 2, ["ann"]),
           "not-a-shard": lambda: tmp_path,
           "not-json": lambda: _broken(_fake_shard(tmp_path / "two", 2, 2, ["bea"]), "{not json"),
           "no-students": lambda: _fake_shard(tmp_path / "two", 2, 2, ["bea"], students=None),
           # a forged manifest whose student is a path: merge would copy a file from outside the shard
           "a-path-for-a-student": lambda: _fake_shard(tmp_path / "two", 2, 2, ["bea"],
                                                       students=["../../one/reports/ann"]),
           # a report or feedback that is a link, too large, or another student's: read with a bound, never followed
           "a-linked-report": lambda: _replaced(_fake_shard(tmp_path / "two", 2, 2, ["bea"]), "reports/bea.json",
                                                link=one / "reports" / "ann.json"),
           "a-huge-feedback": lambda: _replaced(_fake_shard(tmp_path / "two", 2, 2, ["bea"]), "feedback/bea.md",
                                                size=classroom.MAX_SHARD_BYTES + 1),
           "a-forged-report": lambda: _replaced(_fake_shard(tmp_path / "two", 2, 2, ["bea"]), "reports/bea.json",
                                                text=(one / "reports" / "ann.json").read_text())}[case]()
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


