"""gradekit.notebook: what to run to grade each exercise of a student's notebook, found without running anything.

The notebooks here are edited the way students edit them: helpers above and below the exercise, redefinitions,
cells reordered, an exercise cell duplicated, training and data-loading cells around. Sources may mention Keras
without importing it: nothing is executed, except in the tests that run a program built from standard-library code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradekit.notebook import EXERCISE_TAG, ExerciseProgram, NotebookError, Unit, exercise_programs, read_cells

LESSONS = Path(__file__).resolve().parents[2] / "lessons"


def code(source: str, *tags: str) -> dict:
    """A code cell, as Jupyter saves it (source as a list of lines)."""
    return {"cell_type": "code", "execution_count": None, "metadata": {"tags": list(tags)} if tags else {},
            "outputs": [], "source": source.splitlines(keepends=True)}


def exercise(source: str) -> dict:
    return code(source, EXERCISE_TAG)


def markdown(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def notebook(tmp_path: Path, *cells: dict, name: str = "ada.ipynb") -> Path:
    """Write an nbformat-4 notebook holding ``cells`` (numbered from 1 in feedback, markdown cells included)."""
    path = tmp_path / name
    path.write_text(json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
                    encoding="utf-8")
    return path


def sources(program: ExerciseProgram) -> list[str]:
    return [unit.source for unit in program.units]


def run(program: ExerciseProgram) -> dict:
    """Execute a program's units, in order, in one fresh namespace, as the grader's worker does."""
    assert not program.problem, program.problem
    namespace: dict = {"__name__": "submission"}
    for unit in program.units:
        exec(compile(unit.source, unit.filename, "exec"), namespace)  # noqa: S102 - test sources written here
    return namespace


# --- bringing in what an exercise needs ---------------------------------------------------------------------------

def test_a_helper_in_a_cell_above(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    markdown("# Lesson"),
                    code("import math"),
                    code("def helper(x):\n    return math.sqrt(x)"),
                    code("print(helper(9))"),
                    exercise("def area(x):\n    return helper(x) + 1"))
    program = exercise_programs(path)["area"]
    assert sources(program) == ["import math", "def helper(x):\n    return math.sqrt(x)",
                                "def area(x):\n    return helper(x) + 1"]
    assert [unit.filename for unit in program.units] == ["ada.ipynb (cell 2)", "ada.ipynb (cell 3)",
                                                         "ada.ipynb (cell 5)"]
    assert run(program)["area"](16) == 5


def test_a_helper_below_the_exercise(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    exercise("def area(x):\n    return helper(x) * 2"),
                    code("area(3)"),
                    code("def helper(x):\n    return x + 1"))
    program = exercise_programs(path)["area"]
    assert sources(program) == ["def helper(x):\n    return x + 1", "def area(x):\n    return helper(x) * 2"]
    assert run(program)["area"](3) == 8


def test_a_helper_that_needs_a_constant(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("SCALE = 3\nunrelated = 'not needed'"),
                    code("def helper(x):\n    return x * SCALE"),
                    exercise("def scaled_sum(values):\n    return sum(helper(v) for v in values)"))
    program = exercise_programs(path)["scaled_sum"]
    assert sources(program) == ["SCALE = 3", "def helper(x):\n    return x * SCALE",
                                "def scaled_sum(values):\n    return sum(helper(v) for v in values)"]
    assert program.units[0].binds == ["SCALE"]
    assert run(program)["scaled_sum"]([1, 2]) == 9


def test_a_constant_redefined_twice_before_and_once_after(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("SIZE = 1"),
                    code("SIZE = 2  # tried a bigger one"),
                    exercise("def size():\n    return SIZE"),
                    code("SIZE = 3"))
    program = exercise_programs(path)["size"]
    assert sources(program) == ["SIZE = 2", "def size():\n    return SIZE"]
    assert run(program)["size"]() == 2


def test_a_constant_updated_from_its_previous_value(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("STEPS = 2"),
                    code("STEPS = STEPS * 5\nSTEPS += 1"),
                    exercise("def steps():\n    return STEPS"),
                    code("STEPS = 0"))
    program = exercise_programs(path)["steps"]
    assert sources(program) == ["STEPS = 2", "STEPS = STEPS * 5\nSTEPS += 1", "def steps():\n    return STEPS"]
    assert run(program)["steps"]() == 11


def test_a_constant_rebound_between_a_helper_and_the_exercise_is_the_one_run_all_leaves(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("SCALE = 1"),
                    code("def helper(x):\n    return x * SCALE"),
                    code("SCALE = 10"),
                    exercise("def f(x):\n    return helper(x)"))
    program = exercise_programs(path)["f"]
    assert "SCALE = 1" not in sources(program)
    assert run(program)["f"](2) == 20


def test_cells_reordered_so_that_what_the_exercise_needs_comes_after_it(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    exercise("def total(values):\n    return combine(values) + OFFSET"),
                    code("def combine(values):\n    return sum(values) * FACTOR"),
                    code("OFFSET = 100"),
                    code("FACTOR = 2"))
    program = exercise_programs(path)["total"]
    assert sources(program)[-1].startswith("def total")
    assert set(sources(program)[:-1]) == {"def combine(values):\n    return sum(values) * FACTOR", "OFFSET = 100",
                                          "FACTOR = 2"}
    assert run(program)["total"]([1, 2]) == 106


def test_an_exercise_cell_duplicated_the_last_one_wins(tmp_path: Path) -> None:
    first = "def answer():\n    return 'first try'"
    path = notebook(tmp_path,
                    exercise(first),
                    code("answer()"),
                    exercise("def answer():\n    return 'second try'"))
    programs = exercise_programs(path)
    assert list(programs) == ["answer"]
    program = programs["answer"]
    assert len(program.units) == 1 and program.units[0].filename == "ada.ipynb (cell 3)"
    assert run(program)["answer"]() == "second try"


def test_an_exercise_that_uses_another_exercise(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("from typing import Callable"),
                    exercise("def block(x):\n    return x + WIDTH\n\nblock(1)  # students try it out"),
                    code("WIDTH = 10"),
                    exercise("def network(x, depth: int = 2, unit: Callable = block):\n"
                             "    for _ in range(depth):\n        x = unit(x)\n    return x"))
    programs = exercise_programs(path)
    program = programs["network"]
    assert [unit.filename for unit in program.units] == ["ada.ipynb (cell 1)", "ada.ipynb (cell 2)",
                                                         "ada.ipynb (cell 3)", "ada.ipynb (cell 4)"]
    assert "block(1)" not in "".join(sources(program))  # only the definition is brought in from the other cell
    assert run(program)["network"](0) == 20
    assert run(programs["block"])["block"](1) == 11  # the tryout call in the cell needs WIDTH, which is brought in


def test_a_module_level_dependency_runs_first_even_when_defined_below(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("DOUBLE = BASE * 2"),
                    code("@twice\ndef helper(x):\n    return x + DOUBLE"),
                    exercise("def f(x):\n    return helper(x)"),
                    code("BASE = 3"),
                    code("def twice(fn):\n    return lambda x: fn(fn(x))"))
    program = exercise_programs(path)["f"]
    order = sources(program)
    assert order.index("BASE = 3") < order.index("DOUBLE = BASE * 2")
    assert order.index("def twice(fn):\n    return lambda x: fn(fn(x))") < order.index(
        "@twice\ndef helper(x):\n    return x + DOUBLE")
    assert order[-1].startswith("def f")
    assert run(program)["f"](0) == 12


def test_what_the_exercise_cell_binds_itself_is_not_looked_for_elsewhere(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("RATE = 1"),
                    exercise("RATE = 0.5\n\n\ndef f():\n    return RATE"))
    program = exercise_programs(path)["f"]
    assert [unit.binds for unit in program.units] == [["RATE", "f"]]
    assert run(program)["f"]() == 0.5


def test_a_cycle_falls_back_to_notebook_order(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("A = B + 1"),
                    exercise("def f():\n    return A"),
                    code("B = A * 2"))
    assert sources(exercise_programs(path)["f"]) == ["A = B + 1", "B = A * 2", "def f():\n    return A"]


# --- what is never brought in ---------------------------------------------------------------------------------------

def test_a_name_bound_only_by_data_loading_is_a_problem_for_that_exercise_alone(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("import coursekit as ck\nimport keras"),
                    markdown("## Data"),
                    code("ck.reset()\n(x_train, y_train), (x_val, y_val) = ck.data.load_digits(flat=False)"),
                    exercise("def input_shape() -> tuple:\n    return x_train.shape[1:]"),
                    exercise("def build_model() -> keras.Model:\n    return keras.Sequential()"))
    programs = exercise_programs(path)
    problem = programs["input_shape"].problem
    assert problem.startswith("exercise 'input_shape' needs 'x_train', which cell 3 binds on line 2 "
                              "(`(x_train, y_train), (x_val, y_val) = ck.data.load_digits(...`), "
                              "a statement that loads data;")  # statements are quoted up to 60 characters
    assert "Define what the exercise needs inside the exercise cell, or in a cell of its own" in problem
    assert programs["build_model"].problem == ""
    assert sources(programs["build_model"]) == ["import keras",
                                                "def build_model() -> keras.Model:\n    return keras.Sequential()"]


def test_a_name_bound_by_training_reached_through_a_helper(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("history = model.fit(x, y, epochs=50)"),
                    code("def best_epoch():\n    return max(history.history['val_accuracy'])"),
                    exercise("def report():\n    return f'best: {best_epoch()}'"))
    problem = exercise_programs(path)["report"].problem
    assert problem.startswith("exercise 'report' needs 'history' (through 'best_epoch', cell 2), which cell 1 binds "
                              "on line 1 (`history = model.fit(x, y, epochs=50)`), a statement that trains a model;")


def test_a_name_bound_by_a_loop_names_the_loop_and_several_problems_are_all_named(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("for name in ['a', 'b']:\n    last = name.upper()"),
                    code("with open('labels.txt') as handle:\n    labels = handle.read().split()"),
                    exercise("def f():\n    return last, labels"))
    problem = exercise_programs(path)["f"].problem
    assert problem.startswith(
        "exercise 'f' needs 'last', which cell 1 binds on line 1 (`for name in ['a', 'b']: last = name.upper()`), "
        "a `for` loop;")
    assert problem.endswith("The same goes for 'labels' (cell 2).")


def test_a_top_level_use_in_the_exercise_cell_says_to_move_it(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("data = ck_like.read_csv('digits.csv')"),
                    exercise("def mean(values):\n    return sum(values) / len(values)\n\n\nprint(mean(data))"))
    problem = exercise_programs(path)["mean"].problem
    assert problem.startswith("exercise 'mean' needs 'data' at the top level of its cell (line 5), which cell 1 binds")
    assert "Move the code that uses 'data' out of the exercise cell" in problem


def test_training_cells_that_bind_nothing_needed_are_never_included(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("import keras\nimport coursekit as ck"),
                    code("x_train, y_train = ck.data.load_digits()\nmodel = keras.Sequential()\n"
                         "history = model.fit(x_train, y_train, epochs=20)"),
                    code("def make_layer(units):\n    return keras.layers.Dense(units)\n\n"
                         "model.evaluate(x_train, y_train)\nck.show_model(model)"),
                    code("for epoch in range(10):\n    model.train_on_batch(x_train, y_train)"),
                    exercise("def build(units: int = 4) -> keras.Model:\n"
                             "    return keras.Sequential([make_layer(units)])"))
    program = exercise_programs(path)["build"]
    assert program.problem == ""
    assert sources(program) == ["import keras", "def make_layer(units):\n    return keras.layers.Dense(units)",
                                "def build(units: int = 4) -> keras.Model:\n"
                                "    return keras.Sequential([make_layer(units)])"]


@pytest.mark.parametrize(("statement", "why"), [
    ("weights = model.load_weights('w.h5')", "a statement that loads a saved model"),
    ("scores = model.predict(x_val)", "a statement that runs a model on data"),
    ("page = requests.get('https://example.org')", "a statement that downloads data"),
    ("figure = plt.imshow(image)", "a statement that draws a figure"),
    ("out = subprocess.check_output(['ls'])", "a statement that runs another program"),
    ("digits = load_digits()", "a statement that loads data"),
    ("setup = ck.reset()", "a statement that calls coursekit (whose functions load data or draw)"),
    ("def helper(x=model.fit(a, b)):\n    return x", "a definition whose decorator, default value or annotation "
                                                      "trains a model"),
    ("class Helper:\n    data = np.loadtxt('f.txt')", "a class definition whose body has a statement that loads data"),
])
def test_what_makes_a_statement_too_expensive(tmp_path: Path, statement: str, why: str) -> None:
    path = notebook(tmp_path,
                    code("import coursekit as ck\nfrom coursekit.data import load_digits"),
                    code(statement),
                    exercise("def f():\n    return weights, scores, page, figure, out, digits, setup, helper, Helper"))
    problem = exercise_programs(path)["f"].problem
    assert f"which cell 2 binds on line 1 (`{' '.join(statement.split())}`), {why};" in problem


def test_cheap_blocks_are_brought_in(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("try:\n    import statistics as stats\nexcept ImportError:\n    stats = None"),
                    code("if True:\n    LIMIT = 10\nelse:\n    LIMIT = 20"),
                    exercise("def f(values):\n    return min(LIMIT, stats.mean(values))"))
    assert run(exercise_programs(path)["f"])["f"]([30, 40]) == 10


# --- how students write notebooks ---------------------------------------------------------------------------------

def test_magics_are_skipped(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("%matplotlib inline\nimport math\n!pip install something\nHALF = 0.5"),
                    code("%%time\nQUARTER = 0.25"),
                    exercise("def f(x):\n    return math.floor(x) + HALF"))
    program = exercise_programs(path)["f"]
    assert sources(program) == ["import math\n\nHALF = 0.5", "def f(x):\n    return math.floor(x) + HALF"]
    assert program.units[0].first_line == 2  # the magic lines are blanked, so line numbers stay the cell's
    assert run(program)["f"](2.7) == 2.5


def test_an_unrelated_syntax_error_is_ignored_but_a_needed_name_bound_only_there_is_named(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("def scratch(:\n    pass"),
                    code("RATE = 0.1\nprint('unclosed"),
                    code("OK = 1"),
                    exercise("def fine():\n    return OK"),
                    exercise("def needs_rate():\n    return RATE"))
    programs = exercise_programs(path)
    assert programs["fine"].problem == "" and run(programs["fine"])["fine"]() == 1
    problem = programs["needs_rate"].problem
    assert problem.startswith("exercise 'needs_rate' needs 'RATE', which only cell 2 binds (line 1), and cell 2 has a "
                              "syntax error on line 2:")
    assert problem.endswith("Fix that cell, or define 'RATE' inside the exercise cell.")


def test_a_syntax_error_in_an_exercise_cell(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    exercise("def broken(x):\n    return x +\n\ndef also_broken():\n    pass"),
                    exercise("def fine():\n    return 1"))
    programs = exercise_programs(path)
    assert list(programs) == ["broken", "also_broken", "fine"]
    assert programs["broken"].problem.startswith("the exercise cell for broken has a syntax error on line 2: ")
    assert programs["also_broken"].problem == programs["broken"].problem.replace("broken", "also_broken", 1)
    assert programs["broken"].units == []
    assert programs["fine"].problem == ""


def test_import_aliases(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("import numpy as np\nfrom keras import layers as L\nimport os.path\nimport json"),
                    exercise("def block(x):\n    y = L.Dense(4)(x)\n    return np.asarray(y), os.path.sep"))
    program = exercise_programs(path)["block"]
    assert [(unit.source, unit.binds) for unit in program.units[:-1]] == [
        ("import numpy as np\nfrom keras import layers as L\nimport os.path", ["L", "np", "os"])]


def test_standard_library_aliases_run(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("from math import sqrt as root\nimport statistics as st"),
                    exercise("def spread(values):\n    return root(st.pvariance(values))"))
    assert run(exercise_programs(path)["spread"])["spread"]([1, 3]) == 1.0


def test_a_tuple_unpacking_constant(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("WIDTH, (HEIGHT, DEPTH) = 4, (3, 2)"),
                    exercise("def volume():\n    return WIDTH * HEIGHT * DEPTH"))
    program = exercise_programs(path)["volume"]
    assert program.units[0].binds == ["DEPTH", "HEIGHT", "WIDTH"]
    assert run(program)["volume"]() == 24


def test_a_name_used_only_inside_a_helpers_body(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("import statistics"),
                    code("class Summary:\n    def middle(self, values):\n        return statistics.median(values)"),
                    exercise("def median(values):\n    return Summary().middle(values)"))
    program = exercise_programs(path)["median"]
    assert sources(program)[0] == "import statistics"
    assert run(program)["median"]([5, 1, 3]) == 3


def test_a_star_import_is_brought_in_only_for_a_name_bound_nowhere(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("from math import *"),
                    exercise("def f():\n    return floor(2.5)"),
                    exercise("def g():\n    return len('ab')"))
    programs = exercise_programs(path)
    assert sources(programs["f"])[0] == "from math import *" and run(programs["f"])["f"]() == 2
    assert sources(programs["g"]) == ["def g():\n    return len('ab')"]


def test_a_traceback_line_maps_back_to_the_cell(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("import math\n\n\ndef helper():\n    raise ValueError('in the helper')"),
                    exercise("def f():\n    return helper()"))
    program = exercise_programs(path)["f"]
    unit = program.units[0]
    assert (unit.filename, unit.first_line) == ("ada.ipynb (cell 1)", 4)
    with pytest.raises(ValueError) as caught:
        run(program)["f"]()
    frame = caught.traceback[-1]
    assert frame.path == "ada.ipynb (cell 1)" or str(frame.path).endswith("ada.ipynb (cell 1)")
    assert frame.lineno + 1 + unit.first_line - 1 == 5  # pytest's lineno is 0-based


def test_pathological_cells_do_not_crash(tmp_path: Path) -> None:
    deep = "x = " + "-" * 200_000 + "1"
    path = notebook(tmp_path,
                    code(deep),
                    code("y = " + "(" * 300 + ")" * 300),
                    exercise("def f():\n    return 1"),
                    exercise(deep + "\ndef g():\n    return 2"))
    programs = exercise_programs(path)
    assert programs["f"].problem == ""
    assert programs["g"].problem.startswith("the exercise cell for g has ")


def test_the_result_is_deterministic(tmp_path: Path) -> None:
    path = notebook(tmp_path,
                    code("A = 1\nB = 2"),
                    code("def h():\n    return A + B + C"),
                    code("C = 3"),
                    exercise("def f():\n    return h()"))
    assert exercise_programs(path) == exercise_programs(path)
    assert sources(exercise_programs(path)["f"])[0] == "A = 1\nB = 2"  # consecutive statements run as one unit


def test_the_lesson_notebooks_need_only_imports_and_definitions() -> None:
    for path in sorted(LESSONS.glob("[0-9][0-9]_*.ipynb")):
        programs = exercise_programs(path)
        assert programs, path.name
        for name, program in programs.items():
            assert program.problem == "", (path.name, name)
            last = program.units[-1]
            assert isinstance(last, Unit) and (f"def {name}" in last.source or f"class {name}" in last.source)
            for unit in program.units[:-1]:
                assert unit.source.startswith(("import ", "from ", "def ", "class ", "@")), (path.name, unit)


# --- files that are not notebooks ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "message"), [
    (b"\x89PNG\r\n\x1a\n\x00\xff", "ada.ipynb is not a text file, so not a notebook"),
    (b'{"cells": [', "ada.ipynb is not valid notebook JSON (line 1: Expecting value); was it edited outside Jupyter"),
    (b"[1, 2]", "ada.ipynb is JSON but not a notebook (it has no list of cells)"),
    (b'{"cells": "none"}', "ada.ipynb is JSON but not a notebook (it has no list of cells)"),
])
def test_not_a_notebook(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "ada.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        exercise_programs(path)
    with pytest.raises(NotebookError):
        read_cells(path)


def test_read_cells_gives_the_cells(tmp_path: Path) -> None:
    path = notebook(tmp_path, markdown("hi"), code("x = 1", "exercise"))
    assert [cell["cell_type"] for cell in read_cells(path)] == ["markdown", "code"]
