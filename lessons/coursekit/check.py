"""Check an exercise inside the notebook: ``ck.check("build_functional_mlp")``, ``ck.check()`` for a whole lesson.

What is graded is the exercise *as it is in the kernel now*: the kernel's own input history (every cell run so far,
unsaved edits included; no front-end extension, so it works the same in JupyterLab, Notebook 7 and VS Code)
becomes a notebook in which the latest run of each exercise's cell is the exercise cell, after every other cell
run, so that a helper is the one the kernel holds now. That notebook is graded exactly as classroom grading grades
a handed-in notebook (:mod:`gradekit.classroom`): the course's visible graders run in a *judge* process, the
exercise's cell and the helper cells it needs run in a sandboxed *worker*, and the kernel runs neither. The judge
is started by the first check and kept for the kernel's lifetime (it dies with the kernel), with a worker started
in advance for the next check, so later checks take seconds.

A check is advice for the learner, not a grade: the kernel could tamper with it (it starts the judge), and a
teacher may grade with hidden tests. The table says so. Classroom grading (``make grade``, ``make gradebook``)
never runs in a learner's kernel.

The latest check of each exercise is kept in ``course-progress.json`` in the notebook's folder (or the file
``COURSE_PROGRESS`` names): ``ck.progress()`` shows it, ``ck.hint`` counts the hints shown there, and
``ck.solution`` shows a reference answer (where the edition has them: ``make practice``) only after a check.
"""

from __future__ import annotations

import ast
import atexit
import html
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROGRESS_FILE = "course-progress.json"
MAX_HISTORY = 4000  # the latest inputs a check reads (gradekit.notebook reads at most 5,000 cells)
CHECK_TIMEOUT = 600.0  # seconds one check may take in all
# the metadata of an output that says something true of this run only (the backend, "checking..."): the notebook
# tests leave such outputs out of the comparison (tests/conftest.py)
UNCHECKED = {"coursekit": {"unchecked": True}}
PAYLOAD = "application/vnd.coursekit.check+json"


def unchecked(output: dict) -> bool:
    """Whether the notebook tests leave a stored or fresh cell output out of the comparison: standard error, and
    what coursekit marks ``UNCHECKED`` (the backend's name, a check still running)."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return True
    marks = (output.get("metadata") or {}).get("coursekit") or {}
    return isinstance(marks, dict) and bool(marks.get("unchecked"))

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title_one": "Check of {name}",
        "title_lesson": "Check of lesson {lesson}",
        "exercise": "exercise",
        "fact": "what is checked",
        "result": "result",
        "points": "points",
        "feedback": "feedback",
        "passed": "passed",
        "failed": "not yet",
        "total": "visible tests: {earned} / {possible} points",
        "note": "These are the course's visible tests. Your teacher may grade with more tests, so full marks here "
                "are not yet your grade.",
        "checking": "Checking {what}...",
        "progress_title": "Your progress (the latest check of each exercise)",
        "lesson": "lesson",
        "not_checked": "not checked yet",
        "progress_total": "Checked: {checked} of {count} exercises; {earned} / {possible} visible points",
        "hint": "Hint {k} of {n} for {name}",
        "last_hint": "That was the last hint. Check your answer with ck.check(\"{name}\"); after a check, "
                     "ck.solution(\"{name}\") shows the reference answer.",
        "no_hints": "No hints here: hints and answers come with the practice edition (make practice).",
        "solution_title": "Reference answer for {name}",
        "solution_refused": "Try it first: check your answer with ck.check(\"{name}\"). The reference answer is "
                            "shown once the exercise has been checked at least once.",
        "no_solution": "No reference answers here: they come with the practice edition (make practice).",
    },
    "zh-CN": {
        "title_one": "检查：{name}",
        "title_lesson": "检查：第 {lesson} 课",
        "exercise": "练习",
        "fact": "检查的内容",
        "result": "结果",
        "points": "得分",
        "feedback": "反馈",
        "passed": "通过",
        "failed": "还没通过",
        "total": "公开测试：{earned} / {possible} 分",
        "note": "这里运行的是课程公开的测试。老师评分时可能还会用更多测试，所以这里的满分还不是你的最终成绩。",
        "checking": "正在检查 {what}……",
        "progress_title": "学习进度（每个练习最近一次检查的结果）",
        "lesson": "课",
        "not_checked": "还没检查",
        "progress_total": "已检查 {checked} / {count} 个练习；公开测试得分 {earned} / {possible}",
        "hint": "{name} 的提示 {k} / {n}",
        "last_hint": "这是最后一条提示了。用 ck.check(\"{name}\") 检查你的答案；检查过之后，"
                     "ck.solution(\"{name}\") 会给出参考答案。",
        "no_hints": "这里没有提示：提示和参考答案在自学版里（make practice）。",
        "solution_title": "{name} 的参考答案",
        "solution_refused": "先自己试一试：用 ck.check(\"{name}\") 检查你的答案。至少检查过一次之后，"
                            "才会给出参考答案。",
        "no_solution": "这里没有参考答案：参考答案在自学版里（make practice）。",
    },
}


class CheckError(Exception):
    """A check that cannot be made, with what to do (shown to the learner without a traceback)."""


# ------------------------------------------------------------------------------------------------ where we are


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _notebook_path(shell: Any) -> Path | None:
    """The notebook this kernel runs, where the front end says so (JupyterLab and Notebook 7 set
    ``__session__``/``JPY_SESSION_NAME``, VS Code ``__vsc_ipynb_file__``); None elsewhere (nbval, nbclient)."""
    names = [os.environ.get("JPY_SESSION_NAME", "")]
    if shell is not None:
        names = [str(shell.user_ns.get(key) or "") for key in ("__vsc_ipynb_file__", "__session__")] + names
    for name in names:
        if not name.endswith(".ipynb"):
            continue
        # absolute (VS Code), or relative to the server's root: the kernel runs in the notebook's folder
        for path in (Path(name), Path.cwd() / Path(name).name):
            if path.is_file():
                return path
    return None


_TESTS: dict = {}  # the visible tests, read once per kernel while the grader files stay as they are


def _course_tests() -> list:
    from gradekit import classroom

    stamp = [(p.name, p.stat().st_mtime_ns) for p in sorted(classroom.GRADING_DIR.glob("test_lesson[0-9][0-9].py"))]
    if _TESTS.get("stamp") != stamp:
        _TESTS.update(stamp=stamp, tests=[t for t in classroom.course_tests() if not t.hidden])
    return _TESTS["tests"]


def _metadata_language(path: Path) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            metadata = json.load(handle).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return ""
    language = (metadata.get("coursekit") or {}).get("language", "") if isinstance(metadata, dict) else ""
    return language if language in WORDS else ""


def language(lesson: str = "") -> str:
    """The edition's language, for the check's own words: ``COURSE_LANGUAGE`` if set; else the notebook's
    ``metadata.coursekit.language`` (the Chinese edition's notebooks say ``zh-CN``), the notebook being the one
    the front end names, else this lesson's notebook in the kernel's folder; else English."""
    chosen = os.environ.get("COURSE_LANGUAGE", "")
    if chosen in WORDS:
        return chosen
    path = _notebook_path(_shell())
    candidates = [path] if path else sorted(Path.cwd().glob(f"{lesson[-2:] or '[0-9][0-9]'}_*.ipynb"))[:1]
    for candidate in candidates:
        found = _metadata_language(candidate)
        if found:
            return found
    return "en"


def _words(lang: str) -> dict[str, str]:
    return WORDS.get(lang, WORDS["en"])


# ------------------------------------------------------------------------------------------------ the history


def _defined(source: str, shell: Any) -> set[str]:
    """Names a cell defines at its top level with ``def`` or ``class``."""
    for text in (source, shell.transform_cell(source) if shell is not None else None):
        if text is None:
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        return {node.name for node in tree.body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return set()


_RAN: list[str] = []  # every cell the kernel ran since coursekit was imported, recorded by the kernel itself


def _record_cell(info: Any) -> None:
    source = getattr(info, "raw_cell", None)
    if isinstance(source, str) and source.strip():
        _RAN.append(source)
        del _RAN[:-MAX_HISTORY]


def forget_cells() -> None:
    """Forget the cells recorded so far, as a fresh kernel would have none (a test that runs several notebooks in one
    kernel calls this between them)."""
    _RAN.clear()


def watch(shell: Any) -> None:
    """Record, from now on, every cell the kernel runs (IPython's ``pre_run_cell`` event), with the cell running
    now (the one importing coursekit), even where the front end keeps no input history (nbval runs cells with
    ``store_history=False``)."""
    if shell is None or _record_cell in shell.events.callbacks.get("pre_run_cell", []):
        return
    try:
        current = shell.kernel.get_parent("shell").get("content", {}).get("code", "")
    except (AttributeError, TypeError):
        current = ""
    if isinstance(current, str) and current.strip():
        _RAN.append(current)
    shell.events.register("pre_run_cell", _record_cell)


def history(shell: Any) -> list[str]:
    """The inputs this kernel ran, in order (the latest ``MAX_HISTORY``), as typed: its input history, which the
    front ends keep (JupyterLab, Notebook 7, VS Code), else what :func:`watch` recorded since coursekit was
    imported."""
    raw = [str(source) for source in shell.history_manager.input_hist_raw[1:] if str(source).strip()]
    return (raw if len(raw) >= len(_RAN) else list(_RAN))[-MAX_HISTORY:]


def kernel_notebook(inputs: list[str], exercises: set[str], shell: Any = None) -> dict:
    """A notebook of the kernel's inputs, graded as a handed-in notebook is: the latest input that defines an
    exercise is that exercise's cell (tagged ``exercise``), placed after every other input, so that where a name
    is bound in several inputs the binding graded is the latest one, the one the kernel holds."""
    latest: dict[str, int] = {}
    for k, source in enumerate(inputs):
        for name in _defined(source, shell) & exercises:
            latest[name] = k
    chosen = sorted(set(latest.values()))
    order = [k for k in range(len(inputs)) if k not in latest.values()] + chosen
    cells = []
    for k in order:
        cell = {"cell_type": "code", "execution_count": None, "id": f"in{k}", "metadata": {}, "outputs": [],
                "source": inputs[k]}
        if k in chosen:
            cell["metadata"]["tags"] = ["exercise"]
        cells.append(cell)
    return {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


# ------------------------------------------------------------------------------------------------ the judge


class _Session:
    """The kernel's judge and folder, made by the first check and ended with the kernel."""

    def __init__(self) -> None:
        from gradekit import classroom

        _remove_stale_sessions()
        self.folder = Path(tempfile.mkdtemp(prefix=f"course-check-{os.getpid()}-"))
        self.judge = classroom.Judge(spare_root=self.folder / "spare", reaper=False)
        self.checks = 0
        atexit.register(self.close)

    def close(self) -> None:
        self.judge.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_SESSION: list[_Session] = []


def _remove_stale_sessions() -> None:
    """Remove the folders of kernels that ended without removing theirs (a kernel killed, not shut down)."""
    for folder in Path(tempfile.gettempdir()).glob("course-check-*-*"):
        pid = folder.name.split("-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's kernel, alive


def _session() -> _Session:
    if not _SESSION:
        _SESSION.append(_Session())
    return _SESSION[0]


def _options() -> dict:
    from gradekit import classroom, sandbox

    return {**classroom.DEFAULTS, "submission_timeout": CHECK_TIMEOUT, "require_sandbox": sandbox.required()}


def prestart() -> None:
    """In a notebook's kernel, start the judge and its first worker now, in the background, so that the first
    check finds them ready (``import coursekit`` calls this; ``COURSE_CHECK_PRESTART=0`` turns it off). Elsewhere
    (a script, a grading worker) it does nothing."""
    shell = _shell()
    if shell is None or not hasattr(shell, "kernel"):
        return
    watch(shell)
    if os.environ.get("COURSE_CHECK_PRESTART", "1") == "0" or _SESSION:
        return
    try:
        _session().judge.start(_options())
    except (OSError, ImportError):
        pass  # the first check starts it, and says what is wrong


@dataclass
class Result:
    """One check: the lesson, the exercises, and each visible test's record."""

    lesson: str
    exercises: list[str]
    tests: list[dict]
    seconds: float

    @property
    def earned(self) -> float:
        return sum(t["earned"] for t in self.tests)

    @property
    def possible(self) -> float:
        return sum(t["possible"] for t in self.tests)

    def payload(self) -> dict:
        """What the table shows, the same on every machine and backend (no times): stored in the notebook."""
        return {"lesson": self.lesson, "exercises": self.exercises, "tests": self.tests}


def _reason(fact: str, feedback: str) -> str:
    """The grader's reason alone: its feedback is '<fact> — <reason>' or 'passed: <fact>'."""
    if feedback.startswith("passed: "):
        return ""
    prefix = f"{fact} — "
    return feedback[len(prefix):] if feedback.startswith(prefix) else feedback


def grade(exercises: list[str], lesson: str, inputs: list[str], shell: Any = None) -> Result:
    """Grade ``exercises`` of ``lesson`` as they are in ``inputs`` (the kernel's history), with the course's
    visible tests, in the kernel's judge."""
    from gradekit import classroom

    tests = [t for t in _course_tests() if t.lesson == lesson and t.exercise in exercises]
    every = {t.exercise for t in _course_tests() if t.lesson == lesson}
    session = _session()
    submission = session.folder / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    submission.mkdir()
    notebook = kernel_notebook(inputs, every, shell)
    (submission / f"{lesson[-2:]}_check.ipynb").write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    options = _options()
    started = time.perf_counter()
    report = classroom.grade_submission(submission, [lesson[-2:]], options, student="check",
                                        judges=[session.judge], only=tests)
    shutil.rmtree(submission, ignore_errors=True)
    session.checks += 1
    facts = {t.name: t.fact for t in tests}
    records = [{"exercise": r["exercise"], "name": r["name"], "fact": facts.get(r["name"], r["name"]),
                "earned": r["earned"], "possible": r["possible"], "passed": r["earned"] >= r["possible"],
                "feedback": _reason(facts.get(r["name"], ""), r["feedback"])} for r in report["tests"]]
    return Result(lesson, exercises, records, time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------ showing


def _points(value: float) -> str:
    return f"{value:g}"


def render(payload: dict, lang: str = "en") -> tuple[str, str]:
    """The check's table as (HTML, plain text), in the edition's language (the graders' feedback stays as they
    wrote it)."""
    w = _words(lang)
    tests = payload["tests"]
    earned = sum(t["earned"] for t in tests)
    possible = sum(t["possible"] for t in tests)
    exercises = payload["exercises"]
    title = (w["title_one"].format(name=exercises[0]) if len(exercises) == 1
             else w["title_lesson"].format(lesson=payload["lesson"][-2:]))
    total = w["total"].format(earned=_points(earned), possible=_points(possible))
    rows_html, rows_text = [], []
    width = max(len(w["passed"]), len(w["failed"])) + 2
    for t in tests:
        mark = ("✅ " + w["passed"] if t["passed"] else "❌ " + w["failed"]).ljust(width)
        points = f"{_points(t['earned'])} / {_points(t['possible'])}"
        rows_html.append("<tr>" + "".join(
            f"<td style=\"text-align:left\">{html.escape(str(cell))}</td>"
            for cell in (t["exercise"], t["fact"], mark.strip(), points, t["feedback"])) + "</tr>")
        rows_text.append(f"{mark} {points:>7}  {t['exercise']}: {t['fact']}"
                         + (f"\n{'':{width + 10}}{t['feedback']}" if t["feedback"] else ""))
    head = "".join(f"<th style=\"text-align:left\">{html.escape(w[k])}</th>"
                   for k in ("exercise", "fact", "result", "points", "feedback"))
    page = (f"<div class=\"coursekit-check\"><p><strong>{html.escape(title)}</strong> — {html.escape(total)}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows_html)}</tbody></table>"
            f"<p><em>{html.escape(w['note'])}</em></p></div>")
    text = "\n".join([f"{title} — {total}", *rows_text, w["note"]])
    return page, text


def show(data: dict[str, Any], metadata: dict | None = None, handle: bool = False) -> Any:
    """Show ``data`` (a MIME bundle) in the notebook, or print its text where there is no notebook."""
    if _shell() is None or not hasattr(_shell(), "kernel"):
        print(data.get("text/plain", ""))
        return None
    from IPython.display import display

    return display(data, raw=True, metadata=metadata or {}, display_id=True if handle else None)


def _show_text(text: str, markdown: str | None = None) -> None:
    bundle = {"text/plain": text}
    if markdown is not None:
        bundle["text/markdown"] = markdown
    show(bundle)


# ------------------------------------------------------------------------------------------------ progress


def progress_path() -> Path:
    return Path(os.environ.get("COURSE_PROGRESS") or Path.cwd() / PROGRESS_FILE)


def read_progress() -> dict:
    try:
        data = json.loads(progress_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data.setdefault("exercises", {})
    data.setdefault("hints", {})
    return data


def _write_progress(data: dict) -> None:
    path = progress_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".course-progress-", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only folder: the check is shown all the same


def _record(result: Result) -> None:
    data = read_progress()
    for exercise in result.exercises:
        mine = [t for t in result.tests if t["exercise"] == exercise]
        data["exercises"][exercise] = {"lesson": result.lesson, "earned": sum(t["earned"] for t in mine),
                                       "possible": sum(t["possible"] for t in mine),
                                       "checked": time.strftime("%Y-%m-%dT%H:%M:%S")}
    _write_progress(data)


# ------------------------------------------------------------------------------------------------ the commands


def _lesson_of(exercise: str) -> str:
    lessons = sorted({t.lesson for t in _course_tests() if t.exercise == exercise})
    if not lessons:
        names = sorted({t.exercise for t in _course_tests()})
        close = [n for n in names if n.lower() == exercise.lower()]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise CheckError(f"there is no exercise called {exercise!r} in the course.{hint}")
    return lessons[0]


def _current_lesson(shell: Any, inputs: list[str]) -> str:
    path = _notebook_path(shell)
    if path is not None and re.match(r"\d\d_", path.name):
        return f"lesson{path.name[:2]}"
    by_exercise = {t.exercise: t.lesson for t in _course_tests()}
    for source in reversed(inputs):
        for name in sorted(_defined(source, shell)):
            if name in by_exercise:
                return by_exercise[name]
    raise CheckError("which lesson? Name the exercise to check, e.g. ck.check(\"build_functional_mlp\").")


def check(exercise: str | None = None) -> None:
    """Grade ``exercise`` (every exercise of this lesson when None) as it is in the kernel now, with the course's
    visible tests, and show the table (and keep its points in the progress file)."""
    shell = _shell()
    if shell is None or not hasattr(shell, "history_manager"):
        print("ck.check works in a notebook: it reads what the kernel ran. Outside one, use make grade.")
        return None
    try:
        inputs = history(shell)
        lesson = _lesson_of(exercise) if exercise else _current_lesson(shell, inputs)
        exercises = [exercise] if exercise else list(dict.fromkeys(t.exercise for t in _course_tests()
                                                                    if t.lesson == lesson))
    except CheckError as error:
        print(f"ck.check: {error}")
        return None
    lang = language(lesson)
    w = _words(lang)
    what = exercise or f"lesson {lesson[-2:]}"
    running = show({"text/plain": w["checking"].format(what=what)}, UNCHECKED, handle=True)
    try:
        result = grade(exercises, lesson, inputs, shell)
    finally:
        if running is not None:
            running.update({"text/plain": ""}, raw=True, metadata=UNCHECKED)
    _record(result)
    payload = result.payload()
    page, text = render(payload, lang)
    show({"text/plain": text, "text/html": page, PAYLOAD: payload})


def progress() -> None:
    """The course's exercises with the points of the latest check of each (``course-progress.json``)."""
    lang = language()
    w = _words(lang)
    data = read_progress()["exercises"]
    rows: dict[tuple[str, str], float] = {}
    for t in _course_tests():
        rows[(t.lesson, t.exercise)] = rows.get((t.lesson, t.exercise), 0.0) + t.points
    lines, cells = [w["progress_title"]], []
    earned = possible = 0.0
    for (lesson, exercise), points in rows.items():
        seen = data.get(exercise)
        possible += points
        if seen:
            earned += float(seen.get("earned", 0))
            shown = f"{_points(float(seen.get('earned', 0)))} / {_points(points)}"
        else:
            shown = w["not_checked"]
        lines.append(f"{lesson[-2:]}  {exercise:<26} {shown}")
        cells.append((lesson[-2:], exercise, shown))
    checked = sum(1 for key in rows if key[1] in data)
    total = w["progress_total"].format(checked=checked, count=len(rows), earned=_points(earned),
                                       possible=_points(possible))
    lines.append(total)
    body = "".join(f"<tr><td>{a}</td><td><code>{html.escape(b)}</code></td><td>{html.escape(c)}</td></tr>"
                   for a, b, c in cells)
    page = (f"<p><strong>{html.escape(w['progress_title'])}</strong></p><table><thead><tr>"
            f"<th>{w['lesson']}</th><th>{w['exercise']}</th><th>{w['points']}</th></tr></thead><tbody>{body}"
            f"</tbody></table><p>{html.escape(total)}</p>")
    show({"text/plain": "\n".join(lines), "text/html": page})


def hint(exercise: str) -> None:
    """The next hint for ``exercise`` (from a nudge to the key line), where the edition has hints."""
    from coursekit import practice

    try:
        lesson = _lesson_of(exercise)
    except CheckError as error:
        print(f"ck.hint: {error}")
        return
    lang = language(lesson)
    w = _words(lang)
    hints = practice.hints(exercise, lang)
    if not hints:
        _show_text(w["no_hints"])
        return
    data = read_progress()
    shown = int(data["hints"].get(exercise, 0))
    k = min(shown + 1, len(hints))
    data["hints"][exercise] = k
    _write_progress(data)
    title = w["hint"].format(k=k, n=len(hints), name=exercise)
    extra = f"\n\n*{w['last_hint'].format(name=exercise)}*" if k == len(hints) else ""
    _show_text(f"{title}\n{hints[k - 1]}", f"**{title}**\n\n{hints[k - 1]}{extra}")


def solution(exercise: str) -> None:
    """The reference answer for ``exercise``, once the learner has checked it at least once."""
    from coursekit import practice

    try:
        lesson = _lesson_of(exercise)
    except CheckError as error:
        print(f"ck.solution: {error}")
        return
    w = _words(language(lesson))
    if exercise not in read_progress()["exercises"]:
        _show_text(w["solution_refused"].format(name=exercise))
        return
    answer = practice.answer(exercise)
    if answer is None:
        _show_text(w["no_solution"])
        return
    title = w["solution_title"].format(name=exercise)
    _show_text(f"{title}\n\n{answer}", f"**{title}**\n\n```python\n{answer}\n```")
