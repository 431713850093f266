"""The course runner: results table and the cleaning of stored outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat

from coursekit import run_course
from coursekit.run_course import LessonRun, results_table, results_title, strip_tf_logs


def test_results_table_has_a_row_per_lesson_starting_with_its_number():
    runs = [LessonRun(Path("01_sequential_to_functional.ipynb"), 12.34,
                      results=[{"metric": "test accuracy", "value": 0.97, "baseline": "majority class",
                                "baseline_value": 0.1}]),
            LessonRun(Path("02_multi_input_models.ipynb"), 3.0, error="boom")]
    lines = results_table(runs).splitlines()
    assert lines[0].startswith("| lesson | title")
    assert lines[2].split("|")[1].strip() == "01" and "0.9700" in lines[2] and "0.1000" in lines[2]
    assert lines[3].split("|")[1].strip() == "02" and "FAILED" in lines[3]


def test_the_results_name_the_backend_the_lessons_ran_on(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert run_course.backend() == "jax"
    monkeypatch.delenv("KERAS_BACKEND")
    assert run_course.backend() == "tensorflow"
    assert results_title("jax", "3.15.1") == "Keras 3.15.1 on the jax backend"


def test_strip_tf_logs_keeps_everything_else():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="I0000 00:00:17.1 1 port.cc:153] oneDNN\n"),
        nbformat.v4.new_output("stream", name="stderr", text="WARNING: All log messages before "
                               "absl::InitializeLog() is called are written to STDERR\nUserWarning: keep me\n"),
        nbformat.v4.new_output("stream", name="stdout", text="hello\n"),
    ]
    nb.cells = [cell]
    strip_tf_logs(nb)
    assert [o["text"] for o in nb.cells[0].outputs] == ["UserWarning: keep me\n", "hello\n"]
