"""Classroom grading: grade students' notebooks (or lesson modules), one or a whole class at a time.

    python -m gradekit.classroom grade SUBMISSION [--lessons 01 02] [--report grade.json] [--markdown fb.md]
    python -m gradekit.classroom batch FOLDER --out DIR [--jobs N] [--shard I/N]
    python -m gradekit.classroom merge SHARD_DIR... --out DIR

SUBMISSION is a folder holding a student's notebooks (``NN_*.ipynb``) or lesson modules (``lessonNN.py``), or one
notebook. FOLDER holds one such submission per student (a sub-folder or a notebook, named after the student).
``batch`` writes ``DIR/gradebook.csv`` (student × exercise points, total), ``DIR/feedback/STUDENT.md``,
``DIR/reports/STUDENT.json``, ``DIR/junit.xml`` and, by :mod:`gradekit.class_report`, the teacher's page
``DIR/report.html`` and the exports ``DIR/canvas.csv`` and ``DIR/gradescope/STUDENT/results.json``, and shows its
progress as it goes. A large class is graded in shards, on as many machines as there are shards: ``batch --shard
I/N`` grades the I-th of N slices of the class (a student's slice depends on their name only, so it does not move
when others join) into its own folder, with a ``shard.json`` that says which slice of which class it holds and with
which graders; ``merge`` checks that the shards are all there, once each, of one class and one version of the
graders, and writes the whole class's gradebook, JUnit file, feedback, reports, page and exports, as one ``batch``
would.

How grading stays fair and safe (the README's "Isolation and integrity" says what is guaranteed and how it is
tested):

- Each submission is graded by a *judge*: a pytest process running the course's graders
  (``tests/grading/test_lessonNN.py``). The judge never runs submitted code. It asks a *worker*
  (:mod:`gradekit.worker`, a process confined by :mod:`gradekit.sandbox` that can read nothing of the course but the
  engine) to call the exercises, and checks the evidence that comes back (:mod:`gradekit.evidence`). The verdict and
  the report are the judge's.
- The tests and their points come from the course's grader files, read here without running anything; a test the
  judge did not report scores 0 with the reason.
- Time limits per call of submitted code and per submission, and a memory limit for the worker: a broken, endless
  or greedy submission loses the tests it affects and nothing else; every other student is still graded.
- The worker runs inside bubblewrap where it is usable (its own PID, network and other namespaces, a read-only view
  of the Python installation and the two copies, a ``--scratch-mb`` tmpfs to write in), so nothing it starts
  outlives it and its disk use is bounded; ``--require-sandbox`` (or COURSE_REQUIRE_SANDBOX=1) refuses to grade
  without it. Every report says what confined the grading (``sandbox``); everything of a submission lives in a
  folder removed after it, whatever became of its judge.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from gradekit import class_report, intake, sandbox
from gradekit.worker import kill_group, spawn, spawned

ROOT = Path(__file__).resolve().parents[2]
LESSONS_DIR = ROOT / "lessons"
TESTS_DIR = ROOT / "tests"
GRADING_DIR = TESTS_DIR / "grading"

DEFAULTS = {"call_timeout": 30.0, "submission_timeout": 1800.0, "memory_mb": 4096,
            "scratch_mb": sandbox.DEFAULT_SCRATCH_MB, "require_sandbox": False}


# ------------------------------------------------------------------------------------------ the course's tests


@dataclass(frozen=True)
class CourseTest:
    lesson: str
    exercise: str
    name: str
    points: float
    hidden: bool = False
    fact: str = ""  # what the test checks: the first paragraph of its docstring


_PARSING = threading.Lock()  # Python 3.11's ast.parse is not safe in two threads at once (a SystemError)


def course_tests(grading_dir: Path = GRADING_DIR) -> list[CourseTest]:
    """Every graded test of the course, read from the grader files' ``@graded(...)`` decorators (no code runs)."""
    tests = []
    for path in sorted(grading_dir.glob("test_lesson[0-9][0-9].py")):
        lesson = path.stem.removeprefix("test_")
        with _PARSING:
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
                    doc = " ".join((ast.get_docstring(node) or node.name).split("\n\n")[0].split())
                    tests.append(CourseTest(lesson, exercise, node.name, float(points), bool(kwargs.get("hidden")),
                                            doc))
    return tests


# ------------------------------------------------------------------------------------------ one submission


# a judge's problem when a submission ran past its whole budget (``submission_timeout``)
STOPPED = "grading this submission took longer than {timeout:g} s and was stopped"


def _ended(status: int | None, log: Path) -> str:
    """Why a judge's job gave no grades: its exit status and the last line it wrote to ``log``."""
    tail = log.read_bytes()[-400:].decode(errors="replace").strip().splitlines() if log.exists() else []
    return f"the grading process ended unexpectedly (exit status {status})" + (f": {tail[-1]}" if tail else "")


class Judge:
    """A judge process (:mod:`gradekit.judge`) that grades submissions one after another; it is started on first
    use and again after it overran a job, died, or retired itself. It dies with this process (PR_SET_PDEATHSIG),
    and its workers die with it (bubblewrap's --die-with-parent, or their own PR_SET_PDEATHSIG)."""

    def __init__(self, spare_root: Path | None = None, reaper: bool = True) -> None:
        self.proc: subprocess.Popen | None = None
        self.started = 0
        # where the judge starts the next job's worker in advance (None: it does not); removed with the judge
        self.spare_root = spare_root
        # whether this process becomes a child subreaper, so that what a killed judge's workers leave behind comes
        # back here and is ended (the classroom); a learner's kernel is not made one (it would keep zombies)
        self.reaper = reaper

    def start(self, options: dict | None = None) -> None:
        """Start the judge now, ahead of its first job (with a ``spare_root``, that job's worker as well)."""
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self.proc = self._spawn(options)

    def _spare(self, options: dict | None) -> dict | None:
        """The settings of the worker the judge starts in advance, or None (no ``spare_root``, no options)."""
        if self.spare_root is None or options is None:
            return None
        return {"root": str(self.spare_root), "call_timeout": options["call_timeout"],
                "memory_mb": options["memory_mb"], "scratch_mb": options.get("scratch_mb", DEFAULTS["scratch_mb"]),
                "require_sandbox": sandbox.required(options.get("require_sandbox", False))}

    def _spawn(self, options: dict | None = None) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != "COURSE_JUDGE_SPARE"}
        spare = self._spare(options)
        if spare is not None:
            env["COURSE_JUDGE_SPARE"] = json.dumps(spare)
        env["PYTHONPATH"] = os.pathsep.join([str(LESSONS_DIR), str(TESTS_DIR)])
        if self.reaper:
            sandbox.become_subreaper()  # what a killed judge's workers leave behind comes back here (close)
        proc = spawn([sys.executable, "-m", "gradekit.judge"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.started = sandbox.start_time(proc.pid)
        return proc

    def run(self, args: list[str], work: Path, timeout: float, options: dict | None = None) -> tuple[int | None, str]:
        """Run pytest with ``args`` in the judge, in the folder ``work`` (its output in ``work/judge.log``);
        (pytest's exit status or None, a problem). ``options``: the workers' settings, for the spare worker the
        judge starts after the job when it has a ``spare_root``."""
        status, problem = self._run(args, work, timeout, options)
        if status is None and not (work / "judge.log").exists():  # it ended before it took the job: a new one
            status, problem = self._run(args, work, timeout, options)
        return status, problem

    def _run(self, args: list[str], work: Path, timeout: float, options: dict | None) -> tuple[int | None, str]:
        if self.proc is None or self.proc.poll() is not None:
            self.close()  # what a dead judge left: its workers' processes and its spare's folder
            self.proc = self._spawn(options)
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        log = work / "judge.log"
        job: dict = {"args": args, "cwd": str(work), "log": str(log)}
        if options is not None and options.get("seed") is not None:
            job["entropy"] = int(options["seed"])  # the class's draws (batch --seed); never passed to a worker
        spare = self._spare(options)
        if spare is not None:
            job["spare"] = spare
        job = json.dumps(job) + "\n"
        try:
            proc.stdin.write(job.encode())
            proc.stdin.flush()
        except OSError:
            pass  # it died; reading says how
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.close()
                return None, STOPPED.format(timeout=timeout)
            ready, _, _ = select.select([proc.stdout], [], [], min(remaining, 5.0))
            if ready:
                chunk = os.read(proc.stdout.fileno(), 4096)
                if not chunk:
                    status = proc.wait()
                    self.proc = None
                    return None, _ended(status, log)
                line += chunk
        try:
            answer = json.loads(line)
            status = int(answer["exit"])
        except (ValueError, KeyError, TypeError):
            self.close()
            return None, "the grading process answered something unreadable"
        if answer.get("retiring"):  # it grew large and ends now; the next job starts a new one
            self.close()
        return status, ""

    def close(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None
            if self.reaper:
                sandbox.end_adopted(self.started, spawned())
        if self.spare_root is not None:
            shutil.rmtree(self.spare_root, ignore_errors=True)


def judge(submission: Path, lessons: list[str], options: dict, work: Path,
          runner: Judge | None = None, only: list[CourseTest] | None = None) -> tuple[dict[tuple[str, str], dict], str]:
    """Run the graders of ``lessons`` on ``submission`` in a judge (``runner``, or one started for this), or only
    the tests ``only`` of those lessons; ((lesson, test) -> record, problem)."""
    report = work / "report.json"
    if only is None:
        files = [str(GRADING_DIR / f"test_{lesson}.py") for lesson in lessons]
    else:
        files = [f"{GRADING_DIR / f'test_{t.lesson}.py'}::{t.name}" for t in only if t.lesson in lessons]
    # --tb=no: the report's feedback comes from the graders; formatting each failure's traceback would cost the
    # judge seconds per submission
    require = sandbox.required(options.get("require_sandbox", False))
    if require:
        bwrap, why = sandbox.bubblewrap()
        if bwrap is None:
            return {}, sandbox.refusal(why)
    # the workers' folders go in ``work``, which the caller removes whatever becomes of the judge
    args = [*files, "-p", "no:cacheprovider", "-q", "--no-header", "--tb=no", "-o", "addopts=", f"--rootdir={ROOT}",
            f"--submission={submission}", f"--grade-report={report}", f"--call-timeout={options['call_timeout']}",
            f"--memory-mb={options['memory_mb']}", f"--scratch-mb={options.get('scratch_mb', DEFAULTS['scratch_mb'])}",
            f"--scratch-root={work}", *(["--require-sandbox"] if require else [])]
    own = runner is None
    runner = runner or Judge()
    try:
        status, problem = runner.run(args, work, options["submission_timeout"], options)
    finally:
        if own:
            runner.close()
    if not problem and status not in (0, 1):
        problem = _ended(status, work / "judge.log")
    results: dict[tuple[str, str], dict] = {}
    if report.exists():
        try:
            document = json.loads(report.read_text())
            for record in document["tests"]:
                record.setdefault("sandbox", str(document.get("sandbox", "")))  # for grade_submission's report
                results[(record["lesson"], record["name"])] = record
        except (ValueError, KeyError, TypeError):
            problem = problem or "the grading process wrote no readable report"
    return results, problem


# Seconds a judge spends on each lesson's graders for a correct submission (the 2-core machine, one run): the
# hidden training checks make some lessons far longer than their number of tests says. A lesson not listed is
# counted at a third of a second per test. Only the split of one submission between judges depends on it.
LESSON_SECONDS = {"lesson01": 2.5, "lesson02": 6.7, "lesson03": 10.8, "lesson04": 1.8, "lesson05": 3.2,
                  "lesson06": 2.1, "lesson07": 3.4, "lesson08": 3.4, "lesson09": 3.4, "lesson10": 7.5}


def _groups(lessons: list[str], expected: list[CourseTest], jobs: int) -> list[list[str]]:
    """Lessons split into at most ``jobs`` groups that take about the same time to grade."""
    counts = Counter(t.lesson for t in expected)
    cost = {lesson: LESSON_SECONDS.get(lesson, counts[lesson] / 3) for lesson in lessons}
    groups: list[list[str]] = [[] for _ in range(max(1, min(jobs, len(lessons))))]
    sizes = [0.0] * len(groups)
    for lesson in sorted(lessons, key=lambda name: -cost[name]):
        k = sizes.index(min(sizes))
        groups[k].append(lesson)
        sizes[k] += cost[lesson]
    return [sorted(group) for group in groups if group]


def grade_submission(submission: Path, lessons: list[str] | None = None, options: dict | None = None,
                     student: str = "", jobs: int = 1, judges: list[Judge] | None = None,
                     tests: list[CourseTest] | None = None, only: list[CourseTest] | None = None) -> dict:
    """Grade every lesson of one submission; the report, built here from the course's own list of tests.
    ``only``: run these tests alone (the in-notebook check runs one exercise's visible tests), not every test of
    their lessons.

    ``jobs`` > 1 splits the lessons between that many judges running side by side (one submission on an idle
    machine); a class is graded one submission per judge instead (:func:`batch`), by ``judges`` that last from one
    submission to the next."""
    options = {**DEFAULTS, **(options or {})}
    submission = Path(os.path.abspath(submission))  # not resolved: a link is refused, never followed
    if only is not None:
        expected = list(only)
    else:
        expected = [t for t in (course_tests() if tests is None else tests)
                    if lessons is None or t.lesson[-2:] in lessons]
    started = time.perf_counter()
    wanted = sorted({t.lesson for t in expected})
    results: dict[tuple[str, str], dict] = {}
    problems: dict[str, str] = {}
    refused = intake.location_problem(submission)  # a link, a pipe, nothing there: refused before any grading
    if refused:
        problems = dict.fromkeys(wanted, refused)
    elif wanted:
        groups = _groups(wanted, expected, len(judges) if judges else jobs)

        def run(k: int) -> tuple[list[str], tuple[dict, str]]:
            with tempfile.TemporaryDirectory(prefix="grading-judge-") as work:
                runner = judges[k] if judges else None
                return groups[k], judge(submission, groups[k], options, Path(work), runner, only)

        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            for group, (found, problem) in pool.map(run, range(len(groups))):
                results.update(found)
                problems.update(dict.fromkeys(group, problem))
    records = []
    for test in expected:
        result = results.get((test.lesson, test.name))
        if result is None:
            earned, feedback = 0.0, f"not graded: {problems.get(test.lesson) or 'this test reported no result'}."
        else:
            earned = test.points if float(result.get("earned", 0)) >= test.points else 0.0
            feedback = str(result.get("feedback", ""))
        feedback = intake.scrub_paths(feedback)  # no folder of this machine reaches a report
        records.append({"lesson": test.lesson, "exercise": test.exercise, "name": test.name, "earned": earned,
                        "possible": test.points, "feedback": feedback, **({"hidden": True} if test.hidden else {})})
    # what the teacher must look at: exercises whose code reached for the grading engine (gradekit.source)
    flags = sorted({f"{r['lesson']}: {intake.scrub_paths(str(r['flag']))}" for r in results.values() if r.get("flag")})
    stopped = STOPPED.format(timeout=options["submission_timeout"])
    return {"student": student or submission.stem, "submission": submission.name,
            "earned": sum(r["earned"] for r in records), "possible": sum(r["possible"] for r in records),
            "seconds": round(time.perf_counter() - started, 2), "tests": records,
            "sandbox": "; ".join(sorted({str(r.get("sandbox", "")) for r in results.values()} - {""})),
            **({"flags": flags} if flags else {}), **({"stopped": True} if stopped in problems.values() else {})}


# ------------------------------------------------------------------------------------------ reports


def markdown(report: dict) -> str:
    lines = [f"# Grade for {report['student']}: {report['earned']:g} / {report['possible']:g}", "",
             f"Graded in: {report.get('sandbox') or 'no worker was started'}.", ""]
    flags = [str(flag) for flag in report.get("flags", [])]
    if flags:  # reasons the teacher must look at the submission
        lines += ["**Flagged for the teacher:**", "", *(f"- {flag}" for flag in flags), ""]
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
    """student × exercise points, total, possible; then what confined the grading (``sandbox``) and the reasons the
    teacher must look at a submission (``flags``, "; "-joined)."""
    exercises = class_report.exercises(reports)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student"] + exercises + ["total", "possible", "sandbox", "flags"])
        text = class_report.spreadsheet_text
        for rep in sorted(reports, key=lambda r: r["student"]):
            points = class_report.exercise_points(rep)
            writer.writerow([text(str(rep["student"]))] + [f"{points.get(e, (0.0, 0.0))[0]:g}" for e in exercises]
                            + [f"{rep['earned']:g}", f"{rep['possible']:g}", text(str(rep.get("sandbox", ""))),
                               text("; ".join(str(flag) for flag in rep.get("flags", [])))])


class DuplicateStudents(ValueError):
    """Two entries of a class folder are one student's: which one to grade is the teacher's call."""


def _one_student_twice(entries: list[Path]) -> str:
    """'' or a message naming the entries that would give one student two reports (``alice/`` and ``alice.ipynb``;
    ``Alice`` and ``alice``, whose reports are one file where case does not count)."""
    students: dict[str, list[Path]] = {}
    for entry in entries:
        students.setdefault(entry.stem.casefold(), []).append(entry)
    clashes = [" and ".join(repr(p.name + ("/" if p.is_dir() and not p.is_symlink() else "")) for p in same)
               for same in students.values() if len(same) > 1]
    if not clashes:
        return ""
    return (f"the class folder holds more than one submission for one student: {'; '.join(clashes)}. Keep one "
            "submission per student (each report is named after its entry without the extension) and grade again")


def batch(folder: Path, out: Path, jobs: int, lessons: list[str] | None, options: dict,
          shard: tuple[int, int] = (1, 1)) -> list[dict]:
    """Grade every submission in ``folder`` (or, with ``shard`` (I, N), those of the I-th of N slices of the class),
    ``jobs`` at a time, showing progress; write the gradebook and ``shard.json``. Every submission is graded with the
    same random draws, from ``options["seed"]`` (a fresh one if None): the same seed gives the same grades and
    feedback, in one batch or in shards. Raises DuplicateStudents, before grading anyone, when two entries of the
    class are one student's."""
    index, shards = shard
    options = {**options, "seed": options["seed"] if options.get("seed") is not None else secrets.randbits(64)}
    if not 1 <= index <= shards:
        raise ValueError(f"shard {index}/{shards}: I must be between 1 and N")
    everyone = sorted(p for p in Path(folder).iterdir() if not p.name.startswith("."))
    clash = _one_student_twice(everyone)
    if clash:
        raise DuplicateStudents(clash)
    entries = [entry for entry in everyone if shard_of(entry.stem, shards) == index]
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    (out / "reports").mkdir(exist_ok=True)
    (out / SHARD_FILE).unlink(missing_ok=True)  # written last: a shard without it was not graded to the end
    lock = threading.Lock()
    tests = course_tests()  # read once, for every student
    local = threading.local()  # each thread grades with a judge of its own, from one submission to the next
    judges: list[Judge] = []
    started = time.perf_counter()
    running: list[str] = []
    done: list[float] = []
    total = [len(entries)]  # how many this pass grades (a second pass grades those that ran out of time)
    stopped: set[Path] = set()  # those that ran out of time

    def progress(student: str, report: dict) -> None:
        elapsed = time.perf_counter() - started
        left = total[0] - len(done)
        # each submission takes about the mean so far, and ``jobs`` are graded side by side
        eta = sum(done) / len(done) * left / max(1, jobs) if done else 0.0
        now = f"; grading {', '.join(running)}" if running else ""
        print(f"[{len(done)}/{total[0]}] {student}: {report['earned']:g} / {report['possible']:g} "
              f"({report['seconds']:.0f} s) — {elapsed:.0f} s so far, about {eta:.0f} s left{now}", flush=True)

    def one(entry: Path) -> dict:
        student = entry.stem
        with lock:
            running.append(student)
        try:
            if not hasattr(local, "judge"):
                local.judge = Judge()
                judges.append(local.judge)
            report = grade_submission(entry, lessons, options, student=student, judges=[local.judge], tests=tests)
        except Exception as error:  # noqa: BLE001 - one broken submission never stops the batch
            report = {"student": student, "submission": entry.name, "earned": 0.0, "possible": 0.0, "seconds": 0.0,
                      "tests": [], "error": intake.scrub_paths(f"{type(error).__name__}: {error}")}
        if report.pop("stopped", False):
            stopped.add(entry)
        (out / "reports" / f"{student}.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "feedback" / f"{student}.md").write_text(markdown(report) + "\n")
        with lock:
            running.remove(student)
            done.append(report["seconds"])
            progress(student, report)
        return report

    part = f"shard {index}/{shards}: " if shards > 1 else ""
    of_class = f" of the class's {len(everyone)}" if shards > 1 else ""
    print(f"{part}grading {len(entries)} submissions{of_class}, {max(1, jobs)} at a time", flush=True)
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            reports = list(pool.map(one, entries))
        # A wall-clock budget is shared with whatever ran beside it: a neighbour that keeps every core busy could
        # make an honest submission run out of time. Whoever ran out of time beside others is graded once more,
        # alone, after everyone else (same draws, same budget); that grade is the one kept.
        again = [k for k, entry in enumerate(entries) if entry in stopped] if min(jobs, len(entries)) > 1 else []
        if again:
            print(f"grading again, one at a time, {len(again)} submission(s) that ran out of time beside others",
                  flush=True)
            done.clear()
            total[0] = len(again)
            for k in again:
                reports[k] = one(entries[k])
    finally:
        for runner in judges:
            runner.close()
    gradebook(reports, out / "gradebook.csv")
    (out / "junit.xml").write_text(junit(reports) + "\n")
    version = course_version()
    class_report.write(reports, out, version)
    manifest = {"format": 1, "shard": index, "shards": shards, "course_version": version,
                "class": class_fingerprint(everyone), "lessons": lessons or sorted({t.lesson for t in tests}),
                "entries": [entry.name for entry in entries], "students": [entry.stem for entry in entries]}
    (out / SHARD_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return reports


# ------------------------------------------------------------------------------------------ shards

SHARD_FILE = "shard.json"


def shard_of(student: str, shards: int) -> int:
    """The slice (1 to ``shards``) a student belongs to: a hash of their name, case ignored, so that a student stays
    in the same slice when other students are added or removed."""
    digest = hashlib.sha256(student.casefold().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards + 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as (I, N), 1 <= I <= N; a ValueError in one sentence otherwise."""
    try:
        index, shards = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: write it as I/N, for example 2/5 (the second of five)") from None
    if not 1 <= index <= shards:
        raise ValueError(f"--shard {text!r}: I must be between 1 and N")
    return index, shards


def course_version() -> str:
    """A fingerprint of what decides a grade: the graders (``tests/grading``) and the grading engine (gradekit)."""
    digest = hashlib.sha256()
    for path in sorted([*GRADING_DIR.glob("*.py"), *Path(__file__).parent.glob("*.py")]):
        digest.update(f"{path.parent.name}/{path.name}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def class_fingerprint(entries: list[Path]) -> str:
    """A fingerprint of the whole class: its entries' names (shards of different class folders do not merge)."""
    return hashlib.sha256("\0".join(sorted(entry.name for entry in entries)).encode("utf-8")).hexdigest()[:16]


class MergeError(ValueError):
    """Shard folders that do not make one whole class graded by one version of the graders."""


def _read_shard(folder: Path) -> dict:
    path = Path(folder) / SHARD_FILE
    if not path.is_file():
        raise MergeError(f"{folder} holds no {SHARD_FILE}: it is not a shard folder, or its grading did not finish "
                         "(grade it again with batch --shard I/N)")
    try:
        manifest = json.loads(_shard_bytes(path))
        problem = _shard_problem(manifest)
    except MergeError as error:
        problem = str(error)
    except ValueError as error:
        problem = f"it cannot be read as JSON ({type(error).__name__})"
    if problem:
        raise MergeError(f"{path} is not a shard manifest batch wrote: {problem}. Grade the shard again with batch "
                         "--shard I/N")
    for student in manifest["students"]:
        if not (Path(folder) / "reports" / f"{student}.json").is_file():
            raise MergeError(f"{folder} lacks the report of {student}: grade the shard again")
    return manifest


MAX_SHARD_BYTES = 16 * 2**20  # a shard.json: a few hundred bytes per student; a report or feedback: tens of KB


def _shard_bytes(path: Path) -> bytes:
    """A file of a shard folder, read as intake reads a submission's (:func:`gradekit.intake.read_regular`: no link
    followed, a regular file of one name only, at most MAX_SHARD_BYTES); MergeError (the reason) otherwise. Shard
    folders come from the teacher's own runs, but often through CI artifacts."""
    data, why = intake.read_regular(path, MAX_SHARD_BYTES)
    if data is None:
        if why in intake.NOT_TAKEN:
            raise MergeError(f"it {intake.NOT_TAKEN[why]}")
        raise MergeError(f"it is larger than {MAX_SHARD_BYTES} bytes" if why == "too large"
                         else f"it cannot be opened ({why})")
    return data


def _shard_report(folder: Path, student: str) -> tuple[bytes, bytes, dict]:
    """A student's report (bytes, and as read) and feedback from a shard folder; MergeError if either is unusable."""
    texts = []
    for path in (folder / "reports" / f"{student}.json", folder / "feedback" / f"{student}.md"):
        try:
            texts.append(_shard_bytes(path))
        except MergeError as error:
            raise MergeError(f"{path} cannot be merged: {error}. Grade the shard again with batch --shard I/N") \
                from None
    try:
        report = json.loads(texts[0])
    except ValueError:
        report = None
    if not (isinstance(report, dict) and report.get("student") == student and isinstance(report.get("tests"), list)):
        raise MergeError(f"{folder / 'reports' / f'{student}.json'} is not the report batch wrote for {student}. "
                         "Grade the shard again with batch --shard I/N")
    return texts[0], texts[1], report


def _shard_problem(manifest: object) -> str:
    """'' or what is wrong with a shard.json's content. Its student names become file names under the shard folder,
    so each must be one plain name (as a class folder's entry is), never a path."""
    if not isinstance(manifest, dict):
        return "it is not a JSON object"
    kinds = {"shard": int, "shards": int, "course_version": str, "class": str, "lessons": list, "entries": list,
             "students": list}
    for key, kind in kinds.items():
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            return f"'{key}' is missing or not a {kind.__name__}"
    if not 1 <= manifest["shard"] <= manifest["shards"]:
        return f"shard {manifest['shard']}/{manifest['shards']} is not one of 1 to N"
    names = manifest["entries"] + manifest["students"]
    if len(manifest["entries"]) != len(manifest["students"]) or not all(
            isinstance(n, str) and n and n not in (".", "..") and "/" not in n and "\\" not in n and "\0" not in n
            for n in names):
        return "its entries and students must be as many plain names (no folder, no '..')"
    return ""


def merge(folders: list[Path], out: Path) -> list[dict]:
    """Check that ``folders`` are every shard of one class, once each, graded by one version of the graders, then
    write the class's gradebook, JUnit file, feedback and reports into ``out``, as one batch would have."""
    if not folders:
        raise MergeError("no shard folders given")
    manifests = [(Path(folder), _read_shard(Path(folder))) for folder in folders]
    first_folder, first = manifests[0]
    for key, what in (("course_version", "versions of the graders"), ("class", "classes (class folders)"),
                      ("shards", "numbers of shards"), ("lessons", "selections of lessons")):
        values = {json.dumps(m[key]) for _, m in manifests}
        if len(values) > 1:
            found = "; ".join(f"{folder}: {m[key]}" for folder, m in manifests)
            raise MergeError(f"the shards were graded with different {what} ({found}): grade them all again with "
                             "the same course and the same command")
    shards = first["shards"]
    seen: dict[int, Path] = {}
    for folder, m in manifests:
        if m["shard"] in seen:
            raise MergeError(f"shard {m['shard']}/{shards} is given twice ({seen[m['shard']]} and {folder}): give "
                             "each shard once")
        seen[m["shard"]] = folder
    missing = [f"{i}/{shards}" for i in range(1, shards + 1) if i not in seen]
    if missing:
        raise MergeError(f"missing shards: {', '.join(missing)}; grade them (batch --shard I/N) and merge again")
    owners: dict[str, Path] = {}
    for folder, m in manifests:
        for student in m["students"]:
            if student.casefold() in owners:
                raise MergeError(f"{student} is in two shards ({owners[student.casefold()]} and {folder})")
            owners[student.casefold()] = folder
    graded = sorted((entry, student, folder) for folder, m in manifests
                    for entry, student in zip(m["entries"], m["students"]))
    read = [_shard_report(folder, student) for _, student, folder in graded]  # all of them, before writing any
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("reports", "feedback"):
        (out / sub).mkdir(exist_ok=True)
    reports = []
    for (_, student, _), (report_bytes, feedback_bytes, report) in zip(graded, read):
        (out / "reports" / f"{student}.json").write_bytes(report_bytes)
        (out / "feedback" / f"{student}.md").write_bytes(feedback_bytes)
        reports.append(report)
    gradebook(reports, out / "gradebook.csv")
    (out / "junit.xml").write_text(junit(reports) + "\n")
    class_report.write(reports, out, str(first["course_version"]))  # the graders' version, one for every shard
    return reports


def _env_seed() -> int | None:
    """COURSE_GRADING_SEED as a number, or None: an environment variable keeps the seed out of process listings."""
    text = os.environ.get("COURSE_GRADING_SEED", "").strip()
    return int(text) if text.isdigit() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("grade", "batch"):
        p = sub.add_parser(name)
        p.add_argument("path", type=Path)
        p.add_argument("--lessons", nargs="*", default=None, help="lesson numbers (default: all)")
        p.add_argument("--call-timeout", type=float, default=DEFAULTS["call_timeout"],
                       help="seconds one call of submitted code may take")
        p.add_argument("--submission-timeout", type=float, default=DEFAULTS["submission_timeout"],
                       help="seconds the grading of one submission may take in all")
        p.add_argument("--memory-mb", type=int, default=DEFAULTS["memory_mb"])
        p.add_argument("--scratch-mb", type=int, default=DEFAULTS["scratch_mb"],
                       help="size of each worker's scratch folder (a tmpfs in bubblewrap), in MB")
        p.add_argument("--require-sandbox", action="store_true", default=sandbox.required(),
                       help="grade only inside bubblewrap (also COURSE_REQUIRE_SANDBOX=1); refuse where it is unusable")
        p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="judges side by side: lessons of one submission (grade) or submissions (batch)")
        if name == "grade":
            p.add_argument("--report", type=Path)
            p.add_argument("--markdown", type=Path)
            p.add_argument("--junit", type=Path)
        else:
            p.add_argument("--out", type=Path, required=True)
            p.add_argument("--shard", default="1/1",
                           help="I/N: grade only the I-th of N slices of the class (merge the N folders with merge)")
            p.add_argument("--seed", type=int, default=_env_seed(),
                           help="the graders' random draws for the whole class (also COURSE_GRADING_SEED): give "
                                "every shard the same one; default: fresh draws")
    p = sub.add_parser("merge", help="the gradebook of a class graded in shards (batch --shard I/N)")
    p.add_argument("shard_dirs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "merge":
        try:
            reports = merge(args.shard_dirs, args.out)
        except MergeError as error:
            print(f"not merged: {error}.", file=sys.stderr)
            return 2
        print(f"merged {len(args.shard_dirs)} shards, {len(reports)} submissions: gradebook in "
              f"{args.out / 'gradebook.csv'}")
        return 0
    options = {"call_timeout": args.call_timeout, "submission_timeout": args.submission_timeout,
               "memory_mb": args.memory_mb, "scratch_mb": args.scratch_mb, "require_sandbox": args.require_sandbox,
               "seed": getattr(args, "seed", None)}
    lessons = [s.zfill(2) for s in args.lessons] if args.lessons else None
    if args.require_sandbox and sandbox.bubblewrap()[0] is None:
        print(f"not graded: {sandbox.refusal(sandbox.bubblewrap()[1])}.", file=sys.stderr)
        return 2
    if args.command == "grade":
        report = grade_submission(args.path, lessons, options, jobs=args.jobs)
        for path, text in ((args.report, json.dumps(report, indent=2)), (args.markdown, markdown(report)),
                           (args.junit, junit([report]))):
            if path:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text + "\n")
        print(f"{report['student']}: {report['earned']:g} / {report['possible']:g} points"
              + (f"; feedback in {args.markdown}" if args.markdown else ""))
        return 0
    try:
        shard = parse_shard(args.shard)
    except ValueError as error:
        print(f"not graded: {error}.", file=sys.stderr)
        return 2
    try:
        reports = batch(args.path, args.out, args.jobs, lessons, options, shard)
    except DuplicateStudents as error:
        print(f"not graded: {error}", file=sys.stderr)
        return 2
    print(f"graded {len(reports)} submissions: gradebook in {args.out / 'gradebook.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
