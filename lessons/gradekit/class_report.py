"""What a teacher sees of a graded class, beside ``gradebook.csv``: one page to read and two files to upload.

:func:`write` (called by ``gradekit.classroom``'s ``batch`` and ``merge``, so both write the same files) makes, from
the students' reports:

- ``report.html``: one self-contained page (no script, no network, no other file: inline CSS, the plots as SVG
  images in ``data:`` URIs) with the class's summary, the distribution of totals, each exercise's full, partial and
  zero scores, the feedback most often given per exercise (what the class got wrong), the students to look at
  (grading failed, a time limit, an integrity flag, graded without bubblewrap) and a link to every student's
  ``feedback/STUDENT.md``. Every string that comes from a student (their name is their folder's, feedback quotes
  their exceptions) is escaped, and the page's Content-Security-Policy allows no script at all. The same reports
  give the same bytes: no clock is read (the date shown is ``SOURCE_DATE_EPOCH``'s, the reproducible-builds
  convention, when it is set: the reports carry none), and the plots are drawn with a fixed ``svg.hashsalt``.
- ``gradescope/STUDENT/results.json``: the student's grade in Gradescope's autograder format
  (https://gradescope-autograders.readthedocs.io/en/latest/specs/): ``score``, ``output``, ``extra_data`` and one
  entry per test with ``name``, ``number``, ``score``, ``max_score``, ``status``, ``output`` (the feedback),
  ``tags`` and ``visibility`` (``after_published`` for the course's hidden tests, ``visible`` for the others). No
  ``execution_time``: it differs from one run to the next, and a merged class must equal one batch.
- ``canvas.csv``: a gradebook Canvas imports (Grades > Import): the columns Student, ID, SIS User ID, SIS Login ID,
  Section, then one column of points per lesson, and a "Points Possible" row, as Canvas's own export has them.
"""

from __future__ import annotations

import base64
import csv
import datetime
import html
import io
import json
import os
import re
import statistics
from collections import Counter
from pathlib import Path
from urllib.parse import quote

REPORT = "report.html"
CANVAS = "canvas.csv"
GRADESCOPE = "gradescope"
TOP_FEEDBACK = 3  # messages shown per exercise
NAMES_SHOWN = 12  # students named under a message; the others are counted
MESSAGE_CHARS = 600  # a message is cut there (the student's feedback file has all of it)
HASHSALT = "gradekit-class-report"  # matplotlib's SVG ids: fixed, so that one class gives one page

# Okabe and Ito's colours, told apart with every common colour-vision deficiency
FULL, PARTIAL, ZERO, MISSING = "#009E73", "#E69F00", "#D55E00", "#BBBBBB"


def write(reports: list[dict], out: Path, course_version: str = "") -> None:
    """``out/report.html``, ``out/canvas.csv`` and ``out/gradescope/STUDENT/results.json`` for ``reports`` (the
    students' reports as ``gradekit.classroom`` writes them to ``out/reports``), whose feedback files are in
    ``out/feedback``. ``course_version`` is shown on the page (``classroom.course_version()``)."""
    out = Path(out)
    reports = sorted(reports, key=lambda r: str(r["student"]))
    (out / REPORT).write_text(page(reports, course_version), encoding="utf-8")
    with open(out / CANVAS, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(canvas_rows(reports))
    for report in reports:
        folder = out / GRADESCOPE / str(report["student"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(json.dumps(gradescope(report), indent=2) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------ what the reports say


def exercise_key(test: dict) -> str:
    """An exercise as gradebook.csv names its column: ``lesson01:to_functional``."""
    return f"{test['lesson']}:{test['exercise']}"


def exercises(reports: list[dict]) -> list[str]:
    """Every exercise of the reports, in the course's order (the order of the tests in the reports)."""
    return list(dict.fromkeys(exercise_key(t) for report in reports for t in report["tests"]))


def exercise_points(report: dict) -> dict[str, tuple[float, float]]:
    """exercise -> (earned, possible) for one student: the sums of its tests, as gradebook.csv sums them."""
    points: dict[str, tuple[float, float]] = {}
    for test in report["tests"]:
        earned, possible = points.get(exercise_key(test), (0.0, 0.0))
        points[exercise_key(test)] = (earned + float(test["earned"]), possible + float(test["possible"]))
    return points


def in_bubblewrap(sandbox: str) -> bool:
    """Whether every worker of a grading ran in bubblewrap, from a report's ``sandbox`` (the descriptions of its
    workers, "; "-joined and sorted: "bubblewrap 0.8.0 (…), inside it …" or "no bubblewrap (why) …")."""
    return sandbox.startswith("bubblewrap ") and "no bubblewrap" not in sandbox


def problems(report: dict) -> list[str]:
    """Why a teacher should look at this student's grading, in words: the grading failed or was stopped, a time
    limit, an integrity flag, no bubblewrap (or no worker at all). Empty for a grading with nothing to say."""
    found = []
    if report.get("error"):
        found.append(f"grading failed: {report['error']}")
    sandbox = str(report.get("sandbox") or "")
    if not sandbox:
        found.append("no worker was started: nothing confined this grading, or it never ran")
    elif not in_bubblewrap(sandbox):
        found.append(f"not graded in bubblewrap: {sandbox}")
    not_graded: dict[str, str] = {}
    timed_out: dict[str, list[str]] = {}
    for test in report["tests"]:
        feedback = str(test.get("feedback", ""))
        if feedback.startswith("not graded:"):
            not_graded.setdefault(test["lesson"], feedback)
        elif "did not finish within" in feedback:
            names = timed_out.setdefault(test["lesson"], [])
            if test["exercise"] not in names:
                names.append(test["exercise"])
    found += [f"{lesson} {text}" for lesson, text in not_graded.items()]
    found += [f"{lesson}: time limit reached in {', '.join(names)}" for lesson, names in timed_out.items()]
    found += [f"flagged: {flag}" for flag in report.get("flags", [])]
    return found


def _message(feedback: str) -> str:
    return " ".join(str(feedback).split())


def common_feedback(reports: list[dict], top: int = TOP_FEEDBACK) -> dict[str, list[tuple[str, list[str]]]]:
    """exercise -> its ``top`` most common feedback messages on tests that lost points, each with the students who
    got it (a student counts once per message, however many of their tests said it), most students first, then in
    alphabetical order. Messages that differ only in their numbers (the sizes a check drew, the shapes a student's
    model gave) count as one, shown as most students had it."""
    groups: dict[str, dict[str, dict[str, set[str]]]] = {}  # exercise -> number-less message -> message -> students
    for report in reports:
        for test in report["tests"]:
            if float(test["earned"]) >= float(test["possible"]):
                continue
            message = _message(test.get("feedback", "")) or "(no feedback)"
            shape = re.sub(r"\d+(\.\d+)?", "#", message)
            groups.setdefault(exercise_key(test), {}).setdefault(shape, {}).setdefault(message, set()).add(
                str(report["student"]))
    result = {}
    for key, shapes in groups.items():
        ranked = []
        for variants in shapes.values():
            students = sorted(set().union(*variants.values()))
            shown = min(variants, key=lambda m: (-len(variants[m]), m))
            ranked.append((shown, students))
        ranked.sort(key=lambda item: (-len(item[1]), item[0]))
        result[key] = ranked[:top]
    return result


def _fmt(value: float) -> str:
    return f"{value:g}"


def _date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).strftime("%Y-%m-%d")
    return "not recorded"


# ------------------------------------------------------------------------------------------ plots


def _svg(figure) -> str:
    """A figure as SVG text, the same bytes for the same figure (fixed ids, no date)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _plotting():
    """matplotlib's settings for the page's plots (imported here: grading never needs it)."""
    import matplotlib

    return matplotlib.rc_context({"svg.hashsalt": HASHSALT, "svg.fonttype": "path", "font.family": "DejaVu Sans",
                                  "font.size": 10, "axes.spines.top": False, "axes.spines.right": False})


def histogram_svg(totals: list[float], possible: float) -> str:
    """The distribution of the students' totals, from 0 to ``possible`` points."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _plotting():
        top = possible if possible > 0 else 1.0
        if top == int(top) and top <= 50:  # one bar per whole number of points
            edges = [k - 0.5 for k in range(int(top) + 2)]
        else:
            edges = [top * k / 20 for k in range(21)]
        figure = Figure(figsize=(7.5, 3.2), layout="constrained")
        axes = figure.add_subplot()
        axes.hist([min(max(t, 0.0), top) for t in totals], bins=edges, color="#3366AA", edgecolor="white")
        axes.axvline(top, color="#333333", linestyle="--", linewidth=1)
        axes.text(top, 1.0, f"max {_fmt(possible)}", transform=axes.get_xaxis_transform(), ha="center", va="bottom")
        axes.set_xlim(edges[0], edges[-1])
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(f"total points (out of {_fmt(possible)})")
        axes.set_ylabel("students")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        return _svg(figure)


def exercises_svg(rows: list[dict], students: int) -> str:
    """One bar per exercise: how many students earned all its points, some, none, or were not graded on it."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _plotting():
        figure = Figure(figsize=(7.5, 1.5 + 0.3 * max(1, len(rows))), layout="constrained")
        axes = figure.add_subplot()
        labels = [f"{r['exercise']} ({_fmt(r['possible'])} pts)" for r in rows]
        positions = list(range(len(rows)))
        left = [0] * len(rows)
        for field, colour, name in (("full", FULL, "all points"), ("partial", PARTIAL, "some points"),
                                    ("zero", ZERO, "no points"), ("missing", MISSING, "not graded")):
            values = [r[field] for r in rows]
            if any(values):
                axes.barh(positions, values, left=left, color=colour, label=name, height=0.7)
            left = [a + b for a, b in zip(left, values)]
        for y, r in zip(positions, rows):
            axes.text(students, y, f"  {r['mean']:.0%}", va="center", ha="left", fontsize=9)
        axes.set_yticks(positions, labels)
        axes.invert_yaxis()
        axes.set_xlim(0, max(1, students))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("students (right: mean share of the exercise's points)")
        figure.legend(loc="outside upper center", ncols=4, frameon=False, fontsize=9)
        return _svg(figure)


def _image(svg: str, alt: str, css_class: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img class="{css_class}" src="data:image/svg+xml;base64,{data}" alt="{html.escape(alt)}">'


# ------------------------------------------------------------------------------------------ the page


def exercise_rows(reports: list[dict]) -> list[dict]:
    """Per exercise: its points, and how many students earned all, some, none of them or were not graded on it."""
    per_student = {str(r["student"]): exercise_points(r) for r in reports}
    rows = []
    for key in exercises(reports):
        counts = Counter()
        shares = []
        possible = 0.0
        for points in per_student.values():
            if key not in points:
                counts["missing"] += 1
                continue
            earned, most = points[key]
            possible = max(possible, most)
            shares.append(earned / most if most else 1.0)
            counts["full" if earned >= most else "partial" if earned > 0 else "zero"] += 1
        lesson, exercise = key.split(":", 1)
        rows.append({"key": key, "lesson": lesson, "exercise": f"{lesson} · {exercise}", "possible": possible,
                     "mean": statistics.fmean(shares) if shares else 0.0,
                     **{field: counts[field] for field in ("full", "partial", "zero", "missing")}})
    return rows


def _feedback_link(student: str) -> str:
    """The relative link to a student's feedback file (their name quoted for a URL, then escaped for HTML)."""
    return html.escape(f"feedback/{quote(student + '.md')}")


def _student(student: str) -> str:
    return f'<a href="{_feedback_link(student)}">{html.escape(student)}</a>'


CSS = """
:root { color-scheme: light; --ink: #1d2330; --muted: #5a6272; --line: #d5d9e0; --warn: #b34700; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink);
       background: #fff; }
main { max-width: 1080px; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 1.8rem; margin: 0 0 .75rem; }
h2 { font-size: 1.35rem; margin: 2.2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .6rem; margin: 0; }
.summary div { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .75rem; }
.summary dt { font-size: .8rem; color: var(--muted); }
.summary dd { margin: 0; font-size: 1.25rem; font-weight: 600; overflow-wrap: anywhere; }
.summary dd.small { font-size: .95rem; font-weight: 500; }
figure { margin: 1rem 0; }
figure img { display: block; width: 100%; max-width: 860px; height: auto; }
figcaption { color: var(--muted); font-size: .9rem; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; font-size: .95rem; }
caption { text-align: left; color: var(--muted); padding-bottom: .3rem; }
th, td { border-bottom: 1px solid var(--line); padding: .35rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f5f8; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.look { border-left: 4px solid var(--warn); padding-left: .75rem; }
.look ul { margin: 0; padding-left: 1.1rem; }
ol.feedback li { margin-bottom: .5rem; }
blockquote { margin: .2rem 0; padding: .3rem .6rem; background: #f7f7f9; border-left: 3px solid var(--line);
             white-space: pre-wrap; overflow-wrap: anywhere; font-family: ui-monospace, "DejaVu Sans Mono", monospace;
             font-size: .85rem; }
.who { color: var(--muted); font-size: .9rem; }
.ok { color: #1b6e4f; }
a { color: #1f5fa8; }
"""


def page(reports: list[dict], course_version: str = "") -> str:
    """The class report: one HTML page that needs nothing else. ``reports`` in any order."""
    reports = sorted(reports, key=lambda r: str(r["student"]))
    graded = [r for r in reports if r["tests"]]
    totals = [float(r["earned"]) for r in graded]
    possible = max((float(r["possible"]) for r in reports), default=0.0)
    rows = exercise_rows(reports)
    looks = [(str(r["student"]), problems(r)) for r in reports]
    looks = [(student, found) for student, found in looks if found]
    mean = _fmt(round(statistics.fmean(totals), 1)) if totals else "–"
    median = _fmt(statistics.median(totals)) if totals else "–"
    summary = [("students", str(len(reports))), ("graded", str(len(graded))), ("mean total", mean),
               ("median total", median), ("max points", _fmt(possible)), ("to look at", str(len(looks))),
               ("course version", course_version or "unknown"), ("date", _date())]
    e = html.escape
    parts = ['<!DOCTYPE html>', '<html lang="en">', "<head>", '<meta charset="utf-8">',
             # defence in depth: even text that escaped escaping could not run, load or send anything
             '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
             'style-src \'unsafe-inline\'; base-uri \'none\'; form-action \'none\'">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>Class report</title>", f"<style>{CSS}</style>", "</head>", "<body>", "<main>",
             "<h1>Class report</h1>", '<dl class="summary">']
    small = ' class="small"'
    parts += [f"<div><dt>{e(name)}</dt><dd{small if len(value) > 10 else ''}>{e(value)}</dd></div>"
              for name, value in summary]
    parts.append("</dl>")

    parts.append('<h2 id="look">Students to look at</h2>')
    if looks:
        parts.append("<p>Grading that failed or was stopped, time limits, code flagged for reaching for the grading "
                     "engine, and grading not confined by bubblewrap.</p>")
        parts.append('<table class="look"><caption>Students whose grading needs a look</caption><thead><tr>'
                     '<th scope="col">student</th><th scope="col">why</th></tr></thead><tbody>')
        for student, found in looks:
            items = "".join(f"<li>{e(reason)}</li>" for reason in found)
            parts.append(f'<tr><th scope="row">{_student(student)}</th><td><ul>{items}</ul></td></tr>')
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="ok">None: every student was graded to the end, in bubblewrap, with no flag.</p>')

    parts.append('<h2 id="distribution">Score distribution</h2>')
    alt = (f"Histogram of the totals of {len(totals)} graded students, from 0 to {_fmt(possible)} points: mean "
           f"{mean}, median {median}.")
    parts.append(f"<figure>{_image(histogram_svg(totals, possible), alt, 'plot')}"
                 f"<figcaption>Totals of the graded students; the dashed line is the maximum, "
                 f"{e(_fmt(possible))} points.</figcaption></figure>")

    parts.append('<h2 id="exercises">Points per exercise</h2>')
    if rows:
        alt = ("Stacked bars, one per exercise, counting the students who earned all, some or none of its points; "
               "the table below gives the same numbers.")
        parts.append(f"<figure>{_image(exercises_svg(rows, len(reports)), alt, 'plot')}"
                     "<figcaption>Students per exercise: all points, some, none, not graded.</figcaption></figure>")
        parts.append('<table><caption>Points per exercise</caption><thead><tr><th scope="col">exercise</th>'
                     '<th scope="col" class="num">points</th><th scope="col" class="num">mean share</th>'
                     '<th scope="col" class="num">all points</th><th scope="col" class="num">some</th>'
                     '<th scope="col" class="num">none</th><th scope="col" class="num">not graded</th></tr></thead>'
                     "<tbody>")
        for r in rows:
            parts.append(f'<tr><th scope="row">{e(r["exercise"])}</th><td class="num">{e(_fmt(r["possible"]))}</td>'
                         f'<td class="num">{r["mean"]:.0%}</td><td class="num">{r["full"]}</td>'
                         f'<td class="num">{r["partial"]}</td><td class="num">{r["zero"]}</td>'
                         f'<td class="num">{r["missing"]}</td></tr>')
        parts.append("</tbody></table>")
    else:
        parts.append("<p>No exercise was graded.</p>")

    parts.append('<h2 id="feedback">What the class got wrong</h2>')
    parts.append(f"<p>Per exercise, the feedback given most often on tests that lost points (at most {TOP_FEEDBACK};"
                 " messages that differ only in numbers count as one), with the students who got it.</p>")
    common = common_feedback(reports)
    clean = []
    for r in rows:
        messages = common.get(r["key"])
        if not messages:
            clean.append(r["exercise"])
            continue
        lost = r["partial"] + r["zero"]
        parts.append(f'<h3>{e(r["exercise"])}</h3><p class="who">{lost} of {lost + r["full"]} graded students lost '
                     'points here. Most common feedback:</p><ol class="feedback">')
        for message, students in messages:
            text = message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS] + " …"
            named = ", ".join(_student(s) for s in students[:NAMES_SHOWN])
            more = f" and {len(students) - NAMES_SHOWN} more" if len(students) > NAMES_SHOWN else ""
            count = f"{len(students)} student{'s' if len(students) != 1 else ''}"
            parts.append(f'<li><blockquote>{e(text)}</blockquote><span class="who">{count}: {named}{more}'
                         "</span></li>")
        parts.append("</ol>")
    if clean:
        parts.append(f"<p class=\"ok\">No points lost in: {e(', '.join(clean))}.</p>")

    parts.append('<h2 id="students">Students</h2>')
    parts.append('<table><caption>Every student, with a link to their feedback</caption><thead><tr>'
                 '<th scope="col">student</th><th scope="col" class="num">total</th>'
                 '<th scope="col" class="num">out of</th><th scope="col" class="num">share</th>'
                 '<th scope="col">to look at</th></tr></thead><tbody>')
    flagged = dict(looks)
    for r in reports:
        student = str(r["student"])
        share = f"{float(r['earned']) / float(r['possible']):.0%}" if float(r["possible"]) else "–"
        look = f'<a href="#look">{len(flagged[student])} reason(s)</a>' if student in flagged else ""
        parts.append(f'<tr><th scope="row">{_student(student)}</th><td class="num">{e(_fmt(float(r["earned"])))}'
                     f'</td><td class="num">{e(_fmt(float(r["possible"])))}</td><td class="num">{share}</td>'
                     f"<td>{look}</td></tr>")
    parts.append("</tbody></table>")
    parts += ["</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


# ------------------------------------------------------------------------------------------ Gradescope


def gradescope(report: dict) -> dict:
    """One student's grade as Gradescope's ``results.json``: the total as ``score``, one test per course test (its
    points, the feedback as ``output``, ``passed`` or ``failed``); the course's hidden tests are shown to the
    student only when the teacher publishes the grades (``after_published``). ``extra_data`` keeps what the
    teacher needs (the student's folder name, the points possible, the sandbox, the flags)."""
    tests = []
    numbers: Counter = Counter()
    for test in report["tests"]:
        lesson = str(test["lesson"])
        numbers[lesson] += 1
        lesson_number = int(lesson[-2:]) if lesson[-2:].isdigit() else lesson
        earned, possible = float(test["earned"]), float(test["possible"])
        tests.append({"name": f"{lesson} {test['exercise']}: {test['name']}",
                      "number": f"{lesson_number}.{numbers[lesson]}", "score": earned, "max_score": possible,
                      "status": "passed" if earned >= possible else "failed",
                      "output": str(test.get("feedback", "")), "tags": [lesson, str(test["exercise"])],
                      "visibility": "after_published" if test.get("hidden") else "visible"})
    output = [f"Graded in: {report.get('sandbox') or 'no worker was started'}."]
    if report.get("error"):
        output.append(f"Grading failed: {report['error']}")
    return {"score": sum(t["score"] for t in tests), "output": "\n".join(output), "tests": tests,
            "extra_data": {"student": str(report["student"]), "possible": float(report["possible"]),
                           "sandbox": str(report.get("sandbox") or ""),
                           "flags": [str(flag) for flag in report.get("flags", [])]}}


# ------------------------------------------------------------------------------------------ Canvas

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def spreadsheet_text(text: str) -> str:
    """A text cell of a CSV a teacher opens in a spreadsheet: a student's folder name or feedback that starts like a
    formula (``=HYPERLINK(...)``) gets a leading apostrophe, so it is shown, never computed (OWASP's advice
    against CSV injection). Every text cell of gradebook.csv and canvas.csv goes through here."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def canvas_rows(reports: list[dict]) -> list[list[str]]:
    """The rows of ``canvas.csv``: the header Canvas's gradebook import reads (Student, ID, SIS User ID, SIS Login
    ID, Section, then the assignments), its "Points Possible" row, then one row per student.

    Choices, from Canvas's importer: the course knows a student only by their folder's name, so it goes in Student
    and in SIS Login ID (Canvas matches a row by ID, then SIS User ID, then SIS Login ID, then the student's name;
    name the folders after the students' logins, or put their Canvas IDs in the ID column, before importing).
    One assignment per lesson (``lesson01``, …), worth the lesson's points (the Points Possible row sets them when
    Canvas creates the assignment); to fill an existing assignment, rename the column to its Canvas title. No total
    column: Canvas computes its own, and any column not named like its read-only score columns would be imported
    as one more assignment, counting every point twice. A lesson a student's grading never reached (the grading
    failed: see report.html) is left blank, which Canvas leaves unchanged, rather than given a zero."""
    lessons = list(dict.fromkeys(str(t["lesson"]) for r in reports for t in r["tests"]))
    possible: dict[str, float] = {}
    for report in reports:
        sums: Counter = Counter()
        for test in report["tests"]:
            sums[str(test["lesson"])] += float(test["possible"])
        for lesson, points in sums.items():
            possible[lesson] = max(possible.get(lesson, 0.0), points)
    rows = [CANVAS_COLUMNS + lessons, ["    Points Possible", "", "", "", ""]
            + [_fmt(possible[lesson]) for lesson in lessons]]
    for report in sorted(reports, key=lambda r: str(r["student"])):
        earned: dict[str, float] = {}
        for test in report["tests"]:
            earned[str(test["lesson"])] = earned.get(str(test["lesson"]), 0.0) + float(test["earned"])
        student = spreadsheet_text(str(report["student"]))
        rows.append([student, "", "", student, ""] + [_fmt(earned[lesson]) if lesson in earned else ""
                                                  for lesson in lessons])
    return rows
