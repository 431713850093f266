"""Grading with pytest: ``pytest tests/grading [--submission DIR] [--grade-report FILE]``.

Every grader test carries an exercise and points (``@graded``). A submission is a folder of lesson modules
(``lesson01.py``, ...) or notebooks (``01_*.ipynb``, ...), or one notebook; the default is ``solutions/``. Its code
runs only in a confined worker process (:mod:`gradekit.worker`); this process judges what comes back. The score
table is printed at the end and, with
``--grade-report``, written as JSON: ``{"earned", "possible", "sandbox", "tests": [{"lesson", "exercise", "name",
"earned", "possible", "feedback"}]}``. Feedback is written for every test: what was checked, and for a loss, what was
wrong; ``sandbox`` says what confined the worker (bubblewrap where it is usable; ``--require-sandbox`` or
COURSE_REQUIRE_SANDBOX=1 refuses to grade without it; ``--scratch-mb`` sizes its scratch).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path

import pytest

from gradekit import sandbox
from gradekit.harness import (
    DEFAULT_CALL_TIMEOUT,
    DEFAULT_MEMORY_MB,
    EngineReference,
    GradeFailure,
    Submission,
    close_workers,
    configure_workers,
    sandboxes,
    worker_for,
)
from gradekit.intake import scrub_paths

ROOT = Path(__file__).resolve().parents[2]
_RECORDS_KEY = pytest.StashKey[list]()
_CACHE_KEY = pytest.StashKey[dict]()
_CONFIG: dict = {}  # the session's config, for the report hook (which pytest calls without it)


def pytest_addoption(parser):
    group = parser.getgroup("grading")
    group.addoption("--submission", default=str(ROOT / "solutions"),
                    help="folder holding the lesson modules to grade (default: solutions/)")
    group.addoption("--grade-report", default=None, help="write the grades and feedback as JSON to this file")
    group.addoption("--call-timeout", type=float, default=DEFAULT_CALL_TIMEOUT,
                    help="seconds allowed for one call of submitted code (default: %(default)s)")
    group.addoption("--memory-mb", type=int, default=DEFAULT_MEMORY_MB,
                    help="memory the submitted code may use beyond the worker's start, in MB (default: %(default)s)")
    group.addoption("--scratch-mb", type=int, default=sandbox.DEFAULT_SCRATCH_MB,
                    help="size of the worker's scratch (a tmpfs in bubblewrap), in MB (default: %(default)s)")
    group.addoption("--scratch-root", default=None,
                    help="folder for the workers' folders (default: a temporary folder, removed at exit)")
    group.addoption("--require-sandbox", action="store_true", default=False,
                    help="grade only inside bubblewrap (also COURSE_REQUIRE_SANDBOX=1): refuse where it is unusable")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): points a grader test is worth")
    config.addinivalue_line("markers", "exercise(name): the exercise a grader test belongs to")
    config.addinivalue_line("markers", "hidden: a test left out of the student edition")
    config.stash[_RECORDS_KEY] = []
    config.stash[_CACHE_KEY] = {}
    _CONFIG["config"] = config
    require = sandbox.required(config.getoption("--require-sandbox", False))
    if require:
        bwrap, why = sandbox.bubblewrap()
        if bwrap is None:
            raise pytest.UsageError(sandbox.refusal(why) + ".")
    root = config.getoption("--scratch-root", None)
    configure_workers(config.getoption("--scratch-mb", sandbox.DEFAULT_SCRATCH_MB), Path(root) if root else None,
                      require)


def pytest_collection_finish(session):
    """Start the submission's worker now: it loads Keras while the first tests get ready."""
    config = session.config
    lessons = {lesson_of(item.module.__name__) for item in session.items
               if getattr(item, "function", None) is not None and item.get_closest_marker("points")}
    if lessons:
        worker = worker_for(Path(config.getoption("--submission")), config.getoption("--call-timeout"),
                            config.getoption("--memory-mb"))
        if not all(worker.intake.problem(lesson) for lesson in lessons):  # else no test will ask it anything
            worker.prestart()


def lesson_of(module_name: str) -> str:
    match = re.search(r"(lesson\d\d)", module_name)
    return match.group(1) if match else module_name


@pytest.fixture
def submission(request) -> Submission:
    """The submitted module for the lesson this grader file is about (loaded once per run)."""
    config = request.config
    lesson = lesson_of(request.module.__name__)
    cache = config.stash[_CACHE_KEY]
    if lesson not in cache:
        cache[lesson] = Submission.load(Path(config.getoption("--submission")), lesson,
                                        call_timeout=config.getoption("--call-timeout"),
                                        memory_mb=config.getoption("--memory-mb"))
    return cache[lesson]


def _what(item) -> str:
    doc = (item.function.__doc__ or item.name).strip()
    return " ".join(doc.split("\n\n")[0].split())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("points")
    if marker is None or not hasattr(item, "function"):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        points = float(marker.args[0])
        passed = report.passed
        if passed:
            feedback = f"passed: {_what(item)}"
        else:
            error = call.excinfo.value if call.excinfo else None
            if isinstance(error, GradeFailure):
                reason = str(error)
            elif error is not None:
                reason = f"the grader could not check this ({type(error).__name__}: {error})"
            else:
                reason = "failed"
            feedback = scrub_paths(f"{_what(item)} — {reason}")  # no folder of this machine reaches a report
        exercise = item.get_closest_marker("exercise")
        record = {
            "lesson": lesson_of(item.module.__name__),
            "exercise": exercise.args[0] if exercise else "",
            "name": item.name,
            "earned": points if passed else 0.0,
            "possible": points,
            "feedback": feedback,
        }
        if item.get_closest_marker("hidden"):
            record["hidden"] = True
        error = call.excinfo.value if call.excinfo else None
        if isinstance(error, EngineReference):  # for the teacher: the report and the gradebook flag it
            record["flag"] = scrub_paths(error.flag)
        # travels with the report: to pytest_runtest_logreport below (also across pytest-xdist workers) and to
        # grading.sandbox in classroom grading
        report.user_properties.append(("grade", record))


def pytest_runtest_logreport(report):
    config = _CONFIG.get("config")
    for key, value in getattr(report, "user_properties", []):
        if key == "grade" and config is not None:
            config.stash[_RECORDS_KEY].append(value)


def _summary(records: list[dict]) -> OrderedDict:
    table: OrderedDict = OrderedDict()
    for r in records:
        row = table.setdefault(r["lesson"], [0.0, 0.0, 0, 0])
        row[0] += r["earned"]
        row[1] += r["possible"]
        row[2] += r["earned"] == r["possible"]
        row[3] += 1
    return table


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    records = config.stash.get(_RECORDS_KEY, [])
    if not records:
        return
    tr = terminalreporter
    tr.section(f"grades for {config.getoption('--submission')}")
    tr.write_line(f"{'lesson':<10}{'points':>14}{'tests passed':>16}")
    for lesson, (earned, possible, ok, n) in _summary(records).items():
        tr.write_line(f"{lesson:<10}{earned:>7g} / {possible:<5g}{ok:>9} / {n}")
    earned = sum(r["earned"] for r in records)
    possible = sum(r["possible"] for r in records)
    tr.write_line(f"{'total':<10}{earned:>7g} / {possible:<5g}")
    lost = [r for r in records if r["earned"] < r["possible"]]
    if lost:
        tr.write_line("")
        tr.write_line("feedback on lost points:")
        for r in lost:
            tr.write_line(f"- {r['lesson']} {r['exercise']} ({r['possible']:g} pts): {r['feedback']}")


def pytest_sessionfinish(session, exitstatus):
    confined = sandboxes()  # the judge's fact (bubblewrap or not) and the worker's own layers, as they started
    close_workers()
    path = session.config.getoption("--grade-report", None)
    if not path:
        return
    records = session.config.stash.get(_RECORDS_KEY, [])
    report = {
        "submission": Path(session.config.getoption("--submission")).name,  # no folder of this machine
        "earned": sum(r["earned"] for r in records),
        "possible": sum(r["possible"] for r in records),
        "sandbox": confined or "no worker was started",
        "tests": records,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2) + "\n")
