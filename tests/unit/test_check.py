"""The in-notebook check (``ck.check``, :mod:`coursekit.check`): its parts, then check cells run in a real kernel.

The kernel tests execute a notebook with nbclient, as Jupyter would: cells are typed and run, never saved, and
``ck.check`` grades what the kernel ran through the same graders, judge and sandboxed worker as ``make grade``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from coursekit import authoring, practice, translations
from coursekit.check import (
    PAYLOAD,
    UNCHECKED,
    kernel_notebook,
    language,
    read_progress,
    render,
)
from gradekit import classroom
from gradekit.notebook import exercise_programs

ROOT = Path(__file__).resolve().parents[2]
EXERCISE = "build_functional_mlp"
ZH_NOTEBOOK = translations.EDITION_DIR / "01_sequential_to_functional.ipynb"
REFERENCE = authoring.solution_sources("01")[EXERCISE]
STUB = "def build_functional_mlp() -> keras.Model:\n    raise NotImplementedError"
WRONG = """def build_functional_mlp() -> keras.Model:
    pixels = keras.Input(shape=(64,), name="pixels")
    x = keras.layers.Dense(32, activation="relu")(pixels)
    digit = keras.layers.Dense(10, activation="softmax", name="digit")(x)
    return keras.Model(pixels, digit)"""
HELPER = """def hidden_layers(x, width=32):
    for _ in range(2):
        x = keras.layers.Dense(width, activation="relu")(x)
    return x"""
WITH_HELPER = """def build_functional_mlp() -> keras.Model:
    pixels = keras.Input(shape=(64,), name="pixels")
    digit = keras.layers.Dense(10, activation="softmax", name="digit")(hidden_layers(pixels))
    return keras.Model(pixels, digit)"""


# ------------------------------------------------------------------------------------------------ the parts


def test_the_kernel_notebook_puts_the_latest_exercise_cell_last():
    inputs = ["import keras", STUB, "width = 16", HELPER, WITH_HELPER, "ck.check('build_functional_mlp')",
              HELPER.replace("width=32", "width=8")]
    nb = kernel_notebook(inputs, {EXERCISE})
    sources = [cell["source"] for cell in nb["cells"]]
    assert sources[-1] == WITH_HELPER and nb["cells"][-1]["metadata"]["tags"] == ["exercise"]
    assert [c for c in nb["cells"] if c["metadata"].get("tags")] == [nb["cells"][-1]]
    assert STUB in sources  # an earlier version stays, untagged: the tagged one binds the name
    assert sources.index(HELPER.replace("width=32", "width=8")) < len(sources) - 1


def test_the_helper_graded_is_the_one_the_kernel_holds_now(tmp_path):
    """A helper run again after the exercise cell: the exercise is graded with the helper's latest run."""
    later = HELPER.replace("width=32", "width=8")
    nb = kernel_notebook(["import keras", HELPER, WITH_HELPER, later], {EXERCISE})
    path = tmp_path / "01_check.ipynb"
    path.write_text(json.dumps(nb))
    program = exercise_programs(path)[EXERCISE]
    assert not program.problem
    code = "\n".join(unit.source for unit in program.units)
    assert "width=8" in code and "width=32" not in code


def _payload(passed: bool) -> dict:
    return {"lesson": "lesson01", "exercises": [EXERCISE], "tests": [
        {"exercise": EXERCISE, "name": "test_mlp_input", "fact": "one input named 'pixels'", "earned": 1.0 * passed,
         "possible": 1.0, "passed": passed, "feedback": "" if passed else "the input is named 'x'"}]}


def test_the_table_in_english_and_in_chinese():
    page, text = render(_payload(False), "en")
    assert "Check of build_functional_mlp" in text and "0 / 1" in text and "the input is named 'x'" in text
    assert "teacher may grade with more tests" in text and "<table>" in page
    page_zh, text_zh = render(_payload(False), "zh-CN")
    assert "检查" in text_zh and "老师评分时可能还会用更多测试" in text_zh and "还没通过" in page_zh
    assert "the input is named 'x'" in text_zh  # the grader's feedback stays as written
    assert "Check of" not in text_zh and "not yet" not in text_zh


def test_the_language_follows_the_notebook(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_LANGUAGE", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert language("lesson01") == "en"
    shutil.copy(translations.EDITION_DIR / "01_sequential_to_functional.ipynb", tmp_path)
    assert language("lesson01") == "zh-CN"
    assert language("lesson02") == "en"  # another lesson's notebook says nothing
    monkeypatch.setenv("COURSE_LANGUAGE", "en")
    assert language("lesson01") == "en"


def test_progress_is_a_small_file_that_survives_garbage(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv("COURSE_PROGRESS", str(path))
    assert read_progress() == {"exercises": {}, "hints": {}}
    path.write_text("not json")
    assert read_progress() == {"exercises": {}, "hints": {}}


def test_outside_a_notebook_check_says_where_it_works(capsys):
    from coursekit.check import check

    check(EXERCISE)
    assert "ck.check works in a notebook" in capsys.readouterr().out


def test_every_exercise_cell_is_followed_by_its_check_cell():
    for path in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for k, cell in enumerate(nb.cells):
            if "exercise" in cell.metadata.get("tags", []):
                after = nb.cells[k + 1]
                name = authoring.defined_name(cell.source)
                assert after.metadata.get("tags") == ["check"], f"{path.name}: no check cell after {name}"
                assert after.source == f'ck.check("{name}")'
                tables = [o for o in after.outputs if PAYLOAD in o.get("data", {})]
                assert len(tables) == 1, f"{path.name}: the check of {name} has no stored table"
                tests = tables[0]["data"][PAYLOAD]["tests"]
                assert tests and all(t["passed"] for t in tests), f"{path.name}: {name} lacks full marks"


# ------------------------------------------------------------------------------------------------ in a kernel


def _run(cells: list[str], folder: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def _texts(cell) -> list[str]:
    return [o.get("text") or o.get("data", {}).get("text/plain", "") for o in cell.outputs
            if not (o.get("metadata") or {}).get("coursekit", {}).get("unchecked")]


def _table(cell) -> dict:
    tables = [o["data"][PAYLOAD] for o in cell.outputs if PAYLOAD in o.get("data", {})]
    assert len(tables) == 1, _texts(cell)
    return tables[0]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One kernel session: every step a learner takes, in order, and what each showed."""
    folder = tmp_path_factory.mktemp("learner")
    progress = folder / "course-progress.json"
    old = {k: os.environ.get(k) for k in ("COURSE_PROGRESS", "COURSE_LANGUAGE")}
    os.environ["COURSE_PROGRESS"] = str(progress)
    os.environ.pop("COURSE_LANGUAGE", None)
    hint_cells = [f'ck.hint("{EXERCISE}")'] * 4
    cells = ["import coursekit as ck\nimport keras", STUB, f'ck.solution("{EXERCISE}")', f'ck.check("{EXERCISE}")',
             *hint_cells, WRONG, f'ck.check("{EXERCISE}")', HELPER, WITH_HELPER, f'ck.check("{EXERCISE}")',
             REFERENCE, f'ck.check("{EXERCISE}")',
             f'ck.solution("{EXERCISE}")', "ck.progress()",
             f"import shutil\nshutil.copy({str(ZH_NOTEBOOK)!r}, '.')",
             f'ck.check("{EXERCISE}")', "import os\nprint(os.getpid())"]
    started = time.perf_counter()
    try:
        nb = _run(cells, folder)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    pid = int(nb.cells[-1].outputs[0]["text"])
    return {"nb": nb, "progress": progress, "seconds": time.perf_counter() - started, "hints": len(hint_cells),
            "pid": pid}


def _cell(session, source: str, occurrence: int = 0):
    found = [c for c in session["nb"].cells if c.source == source]
    return found[occurrence]


def test_a_stub_shows_0_with_not_implemented_yet(session):
    table = _table(_cell(session, f'ck.check("{EXERCISE}")', 0))
    visible = [t for t in classroom.course_tests() if t.exercise == EXERCISE and not t.hidden]
    assert [t["name"] for t in table["tests"]] == [t.name for t in visible]  # the visible tests, and only them
    assert all(t["earned"] == 0 for t in table["tests"])
    assert all("not implemented yet" in t["feedback"] for t in table["tests"])


def test_a_solution_is_refused_before_a_first_check(session):
    text = "\n".join(_texts(_cell(session, f'ck.solution("{EXERCISE}")', 0)))
    assert "check your answer" in text.lower() and "keras.Input" not in text


def test_hints_come_in_order(session):
    hints = practice.hints(EXERCISE, "en")
    if not hints:
        pytest.skip("no hints in this edition")
    shown = ["\n".join(_texts(c)) for c in session["nb"].cells if c.source == f'ck.hint("{EXERCISE}")']
    for k, text in enumerate(shown):
        expected = hints[min(k, len(hints) - 1)]
        assert f"Hint {min(k + 1, len(hints))} of {len(hints)}" in text and expected in text


def test_a_wrong_answer_gets_the_graders_feedback(session):
    table = _table(_cell(session, f'ck.check("{EXERCISE}")', 1))
    lost = [t for t in table["tests"] if not t["passed"]]
    assert lost and any("Dense(32" in t["feedback"] for t in lost), lost
    assert any(t["passed"] for t in table["tests"])  # the input and output are right


def test_a_helper_from_another_cell_is_graded_with_the_exercise(session):
    table = _table(_cell(session, f'ck.check("{EXERCISE}")', 2))
    assert all(t["passed"] for t in table["tests"]), table


def test_the_reference_answer_typed_and_run_not_saved_gets_full_visible_marks(session):
    table = _table(_cell(session, f'ck.check("{EXERCISE}")', 3))
    points = sum(t.points for t in classroom.course_tests() if t.exercise == EXERCISE and not t.hidden)
    assert sum(t["earned"] for t in table["tests"]) == points


def test_after_a_check_the_solution_is_shown(session):
    text = "\n".join(_texts(_cell(session, f'ck.solution("{EXERCISE}")', 1)))
    assert 'keras.Input(shape=(64,), name="pixels")' in text and "BEGIN SOLUTION" not in text


def test_progress_shows_the_latest_check(session):
    text = "\n".join(_texts(_cell(session, "ck.progress()")))
    assert "build_functional_mlp" in text and "5 / 5" in text and "not checked yet" in text
    saved = json.loads(session["progress"].read_text())
    assert saved["exercises"][EXERCISE]["earned"] == 5


def test_the_chinese_edition_shows_its_frame_in_chinese(session):
    cell = _cell(session, f'ck.check("{EXERCISE}")', 4)
    text = "\n".join(_texts(cell))
    assert "检查：build_functional_mlp" in text and "老师评分时可能还会用更多测试" in text
    assert all(t["passed"] for t in _table(cell)["tests"])


def test_the_running_line_is_marked_unchecked(session):
    cell = _cell(session, f'ck.check("{EXERCISE}")', 0)
    marked = [o for o in cell.outputs if o.get("metadata") == UNCHECKED]
    assert len(marked) == 1  # "checking...", emptied when the table came


# ------------------------------------------------------------------------------------------------ the judge


def test_a_spare_worker_grades_the_next_submission_and_leaves_nothing(tmp_path):
    tests = [t for t in classroom.course_tests() if t.exercise == EXERCISE and not t.hidden]
    runner = classroom.Judge(spare_root=tmp_path / "spare")
    try:
        first = classroom.grade_submission(ROOT / "solutions", ["01"], judges=[runner], only=tests)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((tmp_path / "spare").glob("grading-worker-*")):
            time.sleep(0.2)
        spares = list((tmp_path / "spare").glob("grading-worker-*"))
        assert len(spares) == 1 and not any((spares[0] / "submission").iterdir())  # it holds no submission
        second = classroom.grade_submission(ROOT / "solutions", ["01"], judges=[runner], only=tests)
        assert not spares[0].exists()  # adopted by the second submission, and removed with it
    finally:
        runner.close()
    assert first["earned"] == second["earned"] == sum(t.points for t in tests)
    assert not (tmp_path / "spare").exists()


def test_a_killed_kernels_folder_is_removed_by_the_next_session(tmp_path, monkeypatch):
    import subprocess
    import sys

    from coursekit.check import _remove_stale_sessions

    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"course-check-{ended.stdout.strip()}-abc"
    alive = tmp_path / f"course-check-{os.getpid()}-def"
    for folder in (dead, alive):
        (folder / "spare").mkdir(parents=True)
    _remove_stale_sessions()
    assert not dead.exists() and alive.exists()


def test_a_kernel_shut_down_leaves_no_folder(session):
    import tempfile

    assert not list(Path(tempfile.gettempdir()).glob(f"course-check-{session['pid']}-*"))


def test_forget_cells_leaves_no_record_of_the_cells_run():
    """What a test that runs several notebooks in one kernel calls between them: the kernel's record of cells run
    (which ck.check grades when the front end keeps no input history) starts empty again."""
    import importlib
    from types import SimpleNamespace

    check = importlib.import_module("coursekit.check")  # the module: coursekit.check is also ck.check, a function

    no_history = SimpleNamespace(history_manager=SimpleNamespace(input_hist_raw=[""]))
    check._record_cell(SimpleNamespace(raw_cell="x = 1"))
    assert check.history(no_history)[-1] == "x = 1"
    check.forget_cells()
    assert check.history(no_history) == []
