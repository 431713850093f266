"""Classroom grading: grade students' notebooks (or lesson modules) safely, one or a whole class at a time.

    python -m grading.classroom grade SUBMISSION [--report grade.json] [--markdown feedback.md] [--junit junit.xml]
    python -m grading.classroom batch FOLDER --out DIR [--jobs N]

SUBMISSION is a folder holding a student's notebooks (``NN_*.ipynb``) or lesson modules (``lessonNN.py``), or one
notebook. FOLDER holds one such submission per student (a sub-folder or a notebook, named after the student).
``batch`` writes ``DIR/gradebook.csv`` (student × exercise points, total), ``DIR/feedback/STUDENT.md``,
``DIR/reports/STUDENT.json`` and ``DIR/junit.xml``.

How grading stays fair and safe:

- The tests and their points come from the course's grader files, read here without running any submitted code;
  a test that a submission keeps from running scores 0 with the reason, and results for tests that do not exist
  are ignored. This process, never the submission, writes every report.
- Each submission and lesson is graded in a process of its own (``grading.sandbox``), on private copies of the
  graders and of the submission, with a time limit per call of submitted code, per lesson and per submission, and
  a memory limit; output beyond a few kilobytes is discarded. A broken, endless or greedy submission loses the
  tests it affects and nothing else: every other exercise, lesson and student is still graded.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

GRADING_DIR = Path(__file__).resolve().parent
TESTS_DIR = GRADING_DIR.parent
ROOT = TESTS_DIR.parent
LESSONS_DIR = ROOT / "lessons"

DEFAULTS = {"call_timeout": 60.0, "lesson_timeout": 600.0, "submission_timeout": 1800.0, "memory_mb": 4096}


# ------------------------------------------------------------------------------------------ the course's tests


@dataclass(frozen=True)
class CourseTest:
    lesson: str
    exercise: str
    name: str
    points: float
    hidden: bool = False


def course_tests(grading_dir: Path = GRADING_DIR) -> list[CourseTest]:
    """Every graded test of the course, read from the grader files' ``@graded(...)`` decorators (no code runs)."""
    tests = []
    for path in sorted(grading_dir.glob("test_lesson[0-9][0-9].py")):
        lesson = path.stem.removeprefix("test_")
        tree = ast.parse(path.read_text())
        constants = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                     for t in node.targets if isinstance(t, ast.Name) and isinstance(node.value, ast.Constant)}

        def value(node: ast.AST) -> object:
            """A literal, or a module-level constant such as EXERCISE = "inception_module"."""
            node = constants.get(node.id, node) if isinstance(node, ast.Name) else node
            try:
                return ast.literal_eval(node)
            except ValueError:
                raise ValueError(f"{path.name} line {node.lineno}: @graded needs literal values or module-level "
                                 "constants") from None

        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "graded":
                    args = [value(a) for a in deco.args]
                    kwargs = {k.arg: value(k.value) for k in deco.keywords}
                    exercise = kwargs.get("exercise", args[0] if args else "")
                    points = kwargs.get("points", args[1] if len(args) > 1 else 0)
                    tests.append(CourseTest(lesson, exercise, node.name, float(points), bool(kwargs.get("hidden"))))
    return tests


# ------------------------------------------------------------------------------------------ one lesson, isolated


@dataclass
class LessonOutcome:
    results: dict[str, dict] = field(default_factory=dict)  # test name -> {"passed": bool, "feedback": str}
    problem: str = ""  # why some tests may have no result (time, memory, crash)
    seconds: float = 0.0


def _prepare_workspace(submission: Path, work: Path) -> tuple[Path, Path]:
    """Private copies: the graders (tests/conftest.py + tests/grading) and the submission."""
    tests = work / "tests"
    shutil.copytree(GRADING_DIR, tests / "grading", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(TESTS_DIR / "conftest.py", tests / "conftest.py")
    target = work / "submission"
    if submission.is_dir():
        shutil.copytree(submission, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    else:
        target.mkdir()
        shutil.copy2(submission, target / submission.name)
        target = target / submission.name
    return tests, target


def _rss_mb(pid: int) -> float:
    try:
        import psutil

        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc] + proc.children(recursive=True)) / 2**20
    except Exception:  # noqa: BLE001 - gone already
        return 0.0


def grade_lesson(submission: Path, lesson: str, work: Path, options: dict) -> LessonOutcome:
    """Run one lesson's graders on a submission in a sandboxed child process; collect the reported results."""
    outcome = LessonOutcome()
    tests, target = _prepare_workspace(submission, work)
    scratch = work / "scratch"
    scratch.mkdir()
    read_fd, write_fd = os.pipe()
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COURSE_"))}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(LESSONS_DIR), str(tests)]),
        "COURSE_GRADING_FD": str(write_fd),
        "COURSE_GRADING_SCRATCH": str(scratch),
        "TMPDIR": str(scratch), "MPLCONFIGDIR": str(scratch), "HOME": str(scratch),
        "COURSE_MEMORY_BUDGET_MB": str(options["memory_mb"]),
    })
    cmd = [sys.executable, "-m", "pytest", str(tests / "grading" / f"test_{lesson}.py"), "-p", "grading.sandbox",
           "-p", "no:cacheprovider", "-q", "--no-header", "-o", "addopts=", f"--rootdir={work}",
           f"--submission={target}", f"--call-timeout={options['call_timeout']}"]
    log = work / "pytest.log"
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=scratch, env=env, stdin=subprocess.PIPE, stdout=out, stderr=out,
                                pass_fds=(write_fd,), start_new_session=True)
    os.close(write_fd)
    proc.stdin.write((token + "\n").encode())
    proc.stdin.close()

    def read_results() -> None:
        with os.fdopen(read_fd, "r", errors="replace") as stream:
            for line in stream:
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if message.get("token") == token and message.get("name") not in outcome.results:
                    outcome.results[message["name"]] = {"passed": message.get("earned", 0) > 0 and
                                                        message.get("earned") == message.get("possible"),
                                                        "feedback": str(message.get("feedback", ""))[:2000]}

    reader = threading.Thread(target=read_results, daemon=True)
    reader.start()
    deadline = started + options["lesson_timeout"]
    while proc.poll() is None:
        if time.perf_counter() > deadline:
            outcome.problem = f"grading this lesson took longer than {options['lesson_timeout']:g} s and was stopped"
        elif _rss_mb(proc.pid) > options["memory_mb"] * 1.5 + 1024:
            outcome.problem = f"the submission used more than {options['memory_mb']} MB of memory and was stopped"
        if outcome.problem:
            os.killpg(proc.pid, 9)
            proc.wait()
            break
        time.sleep(0.2)
    reader.join(timeout=10)
    outcome.seconds = time.perf_counter() - started
    if not outcome.problem and proc.returncode not in (0, 1):
        tail = log.read_bytes()[-400:].decode(errors="replace").strip().splitlines()
        outcome.problem = (f"the grading process ended unexpectedly (exit status {proc.returncode})"
                           + (f": {tail[-1]}" if tail else ""))
    return outcome


# ------------------------------------------------------------------------------------------ a whole submission


def grade_submission(submission: Path, lessons: list[str] | None = None, options: dict | None = None,
                     student: str = "") -> dict:
    """Grade every lesson of one submission; the report, built here from the course's own list of tests."""
    options = {**DEFAULTS, **(options or {})}
    submission = Path(submission).resolve()
    expected = [t for t in course_tests() if lessons is None or t.lesson[-2:] in lessons]
    started = time.perf_counter()
    records = []
    for lesson in sorted({t.lesson for t in expected}):
        if time.perf_counter() - started > options["submission_timeout"]:
            outcome = LessonOutcome(problem=f"the submission's time limit of {options['submission_timeout']:g} s "
                                            "ran out before this lesson")
        elif not submission.exists():
            outcome = LessonOutcome(problem=f"the submission {submission.name} does not exist")
        else:
            with tempfile.TemporaryDirectory(prefix="grading-") as work:
                outcome = grade_lesson(submission, lesson, Path(work), options)
        for test in (t for t in expected if t.lesson == lesson):
            result = outcome.results.get(test.name)
            if result is None:
                reason = outcome.problem or "this test reported no result"
                feedback = f"not graded: {reason}."
                passed = False
            else:
                passed, feedback = result["passed"], result["feedback"]
            records.append({"lesson": test.lesson, "exercise": test.exercise, "name": test.name,
                            "earned": test.points if passed else 0.0, "possible": test.points,
                            "feedback": feedback, **({"hidden": True} if test.hidden else {})})
    return {"student": student or submission.stem, "submission": str(submission),
            "earned": sum(r["earned"] for r in records), "possible": sum(r["possible"] for r in records),
            "seconds": round(time.perf_counter() - started, 2), "tests": records}


# ------------------------------------------------------------------------------------------ reports


def markdown(report: dict) -> str:
    lines = [f"# Grade for {report['student']}: {report['earned']:g} / {report['possible']:g}", ""]
    by_lesson: dict[str, list[dict]] = {}
    for r in report["tests"]:
        by_lesson.setdefault(r["lesson"], []).append(r)
    for lesson, records in by_lesson.items():
        earned = sum(r["earned"] for r in records)
        possible = sum(r["possible"] for r in records)
        lines += [f"## {lesson}: {earned:g} / {possible:g}", "", "| exercise | points | feedback |", "|---|---|---|"]
        for r in records:
            mark = "✅" if r["earned"] == r["possible"] else "❌"
            text = r["feedback"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r['exercise']} | {mark} {r['earned']:g} / {r['possible']:g} | {text} |")
        lines.append("")
    return "\n".join(lines)


def junit(reports: list[dict]) -> str:
    suites = ET.Element("testsuites")
    for report in reports:
        suite = ET.SubElement(suites, "testsuite", name=report["student"], tests=str(len(report["tests"])),
                              failures=str(sum(r["earned"] < r["possible"] for r in report["tests"])),
                              time=str(report.get("seconds", 0)))
        for r in report["tests"]:
            case = ET.SubElement(suite, "testcase", classname=f"{report['student']}.{r['lesson']}.{r['exercise']}",
                                 name=r["name"])
            if r["earned"] < r["possible"]:
                ET.SubElement(case, "failure", message=r["feedback"][:500]).text = r["feedback"]
    return ET.tostring(suites, encoding="unicode")


def gradebook(reports: list[dict], path: Path) -> None:
    exercises = list(dict.fromkeys(f"{r['lesson']}:{r['exercise']}" for rep in reports for r in rep["tests"]))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student"] + exercises + ["total", "possible"])
        for rep in sorted(reports, key=lambda r: r["student"]):
            points = {e: 0.0 for e in exercises}
            for r in rep["tests"]:
                points[f"{r['lesson']}:{r['exercise']}"] += r["earned"]
            writer.writerow([rep["student"]] + [f"{points[e]:g}" for e in exercises]
                            + [f"{rep['earned']:g}", f"{rep['possible']:g}"])


def batch(folder: Path, out: Path, jobs: int, lessons: list[str] | None, options: dict) -> list[dict]:
    entries = sorted(p for p in Path(folder).iterdir() if not p.name.startswith("."))
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    (out / "reports").mkdir(exist_ok=True)
    done = 0
    lock = threading.Lock()

    def one(entry: Path) -> dict:
        nonlocal done
        student = entry.stem
        try:
            report = grade_submission(entry, lessons, options, student=student)
        except Exception as error:  # noqa: BLE001 - one broken submission never stops the batch
            report = {"student": student, "submission": str(entry), "earned": 0.0, "possible": 0.0,
                      "seconds": 0.0, "tests": [], "error": f"{type(error).__name__}: {error}"}
        (out / "reports" / f"{student}.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "feedback" / f"{student}.md").write_text(markdown(report) + "\n")
        with lock:
            done += 1
            print(f"[{done}/{len(entries)}] {student}: {report['earned']:g} / {report['possible']:g} "
                  f"({report['seconds']:.0f} s)", flush=True)
        return report

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        reports = list(pool.map(one, entries))
    gradebook(reports, out / "gradebook.csv")
    (out / "junit.xml").write_text(junit(reports) + "\n")
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("grade", "batch"):
        p = sub.add_parser(name)
        p.add_argument("path", type=Path)
        p.add_argument("--lessons", nargs="*", default=None, help="lesson numbers (default: all)")
        p.add_argument("--call-timeout", type=float, default=DEFAULTS["call_timeout"])
        p.add_argument("--lesson-timeout", type=float, default=DEFAULTS["lesson_timeout"])
        p.add_argument("--submission-timeout", type=float, default=DEFAULTS["submission_timeout"])
        p.add_argument("--memory-mb", type=int, default=DEFAULTS["memory_mb"])
        if name == "grade":
            p.add_argument("--report", type=Path)
            p.add_argument("--markdown", type=Path)
            p.add_argument("--junit", type=Path)
        else:
            p.add_argument("--out", type=Path, required=True)
            p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    options = {"call_timeout": args.call_timeout, "lesson_timeout": args.lesson_timeout,
               "submission_timeout": args.submission_timeout, "memory_mb": args.memory_mb}
    lessons = [s.zfill(2) for s in args.lessons] if args.lessons else None
    if args.command == "grade":
        report = grade_submission(args.path, lessons, options)
        for path, text in ((args.report, json.dumps(report, indent=2)), (args.markdown, markdown(report)),
                           (args.junit, junit([report]))):
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text + "\n")
        print(f"{report['student']}: {report['earned']:g} / {report['possible']:g} points"
              + (f"; feedback in {args.markdown}" if args.markdown else ""))
        return 0
    reports = batch(args.path, args.out, args.jobs, lessons, options)
    print(f"graded {len(reports)} submissions: gradebook in {args.out / 'gradebook.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
