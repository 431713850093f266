"""The hints for the graded exercises (solutions/hints/, read by coursekit.hints).

Every graded exercise of the course has 2 or 3 hints in English and as many in Chinese; the translations are current
and follow the glossary; no exercise's hints, taken together, give away its whole reference answer. The second half
shows, on copies of the hint files, that the checks fail when they should and that `load` falls back to English for
a hint whose translation is stale.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from coursekit import authoring, hints, translations
from gradekit import classroom

EXERCISES = hints.course_exercises()
LESSON_OF = {t.exercise: t.lesson.removeprefix("lesson") for t in classroom.course_tests()}
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


def reference_answer(exercise: str) -> list[str]:
    """The non-blank lines, stripped, of the code a student writes for an exercise: what lies between
    ``# BEGIN SOLUTION`` and ``# END SOLUTION`` in its definition in solutions/lessonNN.py."""
    lines = authoring.solution_sources(LESSON_OF[exercise])[exercise].splitlines()
    marks = [line.strip() for line in lines]
    begin, end = marks.index(BEGIN), marks.index(END)
    return [line for line in marks[begin + 1:end] if line]


@pytest.fixture(scope="module")
def english() -> dict[str, list[str]]:
    return hints.load("en")


@pytest.fixture(scope="module")
def chinese() -> dict[str, list[str]]:
    return hints.load(translations.LANGUAGE)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_every_exercise_has_two_or_three_hints_in_each_language(exercise, english, chinese):
    assert hints.MIN_HINTS <= len(english.get(exercise, [])) <= hints.MAX_HINTS, f"{exercise}: give it 2 or 3 hints"
    assert len(chinese.get(exercise, [])) == len(english[exercise])


def test_the_hints_cover_the_graded_exercises_in_the_course_order(english):
    assert list(english) == EXERCISES


def test_the_check_finds_no_problems(capsys):
    assert hints.check() == []
    assert hints.main(["check"]) == 0
    assert "every exercise has its hints" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_chinese_hints_are_chinese(exercise, english, chinese):
    for en, zh in zip(english[exercise], chinese[exercise], strict=True):
        assert zh != en and translations.CJK.search(zh)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_no_hint_gives_away_the_whole_answer(exercise, english):
    answer = reference_answer(exercise)
    assert answer, f"no code between {BEGIN!r} and {END!r} for {exercise}"
    told = "\n".join(english[exercise])
    assert not all(line in told for line in answer), f"the hints of {exercise} hold its whole reference answer"


def test_the_answer_helper_sees_a_whole_answer():
    answer = reference_answer("build_functional_mlp")
    assert answer[0] == 'pixels = keras.Input(shape=(64,), name="pixels")' and answer[-1].startswith("return ")
    assert all(line in "\n".join(answer) for line in answer)


# --------------------------------------------------------------------------- the checks fail when they should


@pytest.fixture
def folder(tmp_path) -> Path:
    """A copy of solutions/hints/."""
    copy = tmp_path / "hints"
    shutil.copytree(hints.HINTS_DIR, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path.name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_copy_has_no_problems(folder):
    assert hints.check(folder) == []


def test_a_stale_translation_is_reported_and_load_falls_back_to_english(folder):
    edit(folder / "en.md", "applies ReLU to the sum.", "applies ReLU to the sum, never before it.")
    problems = hints.check(folder)
    assert problems == ["zh-CN.md, hint residual_block 1: stale: the English hint changed since it was translated"]
    loaded = hints.load(translations.LANGUAGE, folder)
    assert loaded["residual_block"][0] == hints.read(folder / "en.md")["residual_block"][0]
    assert "never before it." in loaded["residual_block"][0]
    assert translations.CJK.search(loaded["residual_block"][1])  # the others are still in Chinese


def test_a_missing_section_is_reported_and_load_falls_back_to_english(folder):
    path = folder / "zh-CN.md"
    sections = translations.parse(path.read_text(encoding="utf-8"))
    kept = [s for s in sections if s.cell_id != "build_vqa-2"]
    path.write_text("".join(f"<!-- cell {s.cell_id} en:{s.en} -->\n{s.text}\n\n" for s in kept), encoding="utf-8")
    problems = hints.check(folder)
    assert len(problems) == 1 and "hint build_vqa 2: not translated" in problems[0]
    _, found = hints.read_translation(path, hints.read(folder / "en.md"))
    assert found == problems
    assert hints.load(translations.LANGUAGE, folder)["build_vqa"][1] == hints.load("en")["build_vqa"][1]


def test_a_section_marked_todo_is_reported(folder):
    english = hints.read(folder / "en.md")
    marker = f"<!-- cell build_ensemble-1 en:{translations.fingerprint(english['build_ensemble'][0])} -->"
    edit(folder / "zh-CN.md", marker, marker.replace(" -->", " TODO -->"))
    assert hints.check(folder) == ["zh-CN.md, hint build_ensemble 1: marked TODO"]


def test_a_missing_translation_file_reports_every_hint(folder):
    (folder / "zh-CN.md").unlink()
    problems = hints.check(folder)
    assert len(problems) == sum(len(h) for h in hints.load("en").values())
    assert all("not translated" in p for p in problems)


def test_the_glossary_check_catches_a_wrong_rendering(folder):
    # SimpleDense's hint 2 speaks of weights: 权值 is the rendering the glossary rules out (it asks for 权重)
    edit(folder / "zh-CN.md", "不要在 `__init__` 里创建权重", "不要在 `__init__` 里创建权值")
    problems = hints.check(folder)
    assert problems and all("hint SimpleDense 2" in p for p in problems)
    assert any("'权值' is ruled out by the glossary" in p for p in problems)


def test_the_glossary_check_asks_for_the_glossary_rendering():
    english = {"residual_block": ["The shortcut carries `x` to the add.", "Give every layer its own weights."]}
    chinese = {"residual_block": ["跳连把 `x` 带到相加处。", "每个层都有自己的权重。"]}
    problems = hints.glossary_problems(english, chinese)
    assert len(problems) == 2 and all("hint residual_block 1" in p for p in problems)
    assert any("the glossary's rendering '捷径' is missing" in p for p in problems)
    assert any("'跳连' is ruled out by the glossary" in p for p in problems)


def test_update_adds_todo_sections_for_new_and_changed_hints(folder):
    edit(folder / "en.md", "<!-- hint build_ensemble 3 -->", "<!-- hint build_ensemble 3 -->\nThe new key line.\n\n"
         "<!-- hint build_ensemble 4 -->")
    todo = hints.update(folder)
    assert todo == ["build_ensemble-3", "build_ensemble-4"]
    sections = {s.cell_id: s for s in translations.parse((folder / "zh-CN.md").read_text(encoding="utf-8"))}
    assert sections["build_ensemble-3"].todo and sections["build_ensemble-3"].text.startswith("The new key line.")
    assert "the translation of the English before it changed" in sections["build_ensemble-3"].text
    assert sections["build_ensemble-4"].todo and "keras.layers.average(outputs" in sections["build_ensemble-4"].text
    problems = hints.check(folder)
    assert "en.md: build_ensemble has 4 hints (give it 2 to 3)" in problems
    assert "zh-CN.md, hint build_ensemble 3: marked TODO" in problems
    assert "zh-CN.md, hint build_ensemble 4: marked TODO" in problems
    assert hints.update(folder) == todo  # until someone translates them


def test_update_leaves_a_current_translation_as_it_is(folder):
    before = (folder / "zh-CN.md").read_text(encoding="utf-8")
    assert hints.update(folder) == []
    assert (folder / "zh-CN.md").read_text(encoding="utf-8") == before


def test_check_reports_missing_unknown_and_misordered_exercises(folder):
    english = hints.read(folder / "en.md")
    english["no_such_exercise"] = english.pop("build_functional_mlp")
    (folder / "en.md").write_text("".join(f"<!-- hint {name} {n} -->\n{text}\n\n" for name, texts in english.items()
                                          for n, text in enumerate(texts, start=1)), encoding="utf-8")
    problems = hints.check(folder)
    assert "en.md: build_functional_mlp has 0 hints (give it 2 to 3)" in problems
    assert "en.md: no_such_exercise is not a graded exercise of the course (remove its hints)" in problems
    assert "en.md: the exercises are not in the course's order" in hints.check(folder, list(reversed(EXERCISES)))


def test_read_refuses_hints_out_of_order(tmp_path):
    path = tmp_path / "en.md"
    path.write_text("<!-- hint a 1 -->\nOne.\n\n<!-- hint a 3 -->\nThree.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="hint a 3 is out of order"):
        hints.read(path)
    path.write_text("<!-- hint a 1 -->\nOne.\n\n<!-- hint b 1 -->\nB.\n\n<!-- hint a 2 -->\nTwo.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not kept together"):
        hints.read(path)


def test_read_strips_the_hints_and_skips_the_header(tmp_path):
    path = tmp_path / "en.md"
    path.write_text("<!-- a header -->\n\n<!-- hint a 1 -->\n\n  One.  \n\n<!-- hint a 2 -->\n```python\nx = 1\n```\n",
                    encoding="utf-8")
    assert hints.read(path) == {"a": ["One.", "```python\nx = 1\n```"]}


def test_load_finds_no_hints_without_the_folder_or_the_file(tmp_path):
    assert hints.load("en", tmp_path / "nowhere") == {}
    assert hints.load(translations.LANGUAGE, tmp_path / "nowhere") == {}
    (tmp_path / "en.md").write_text("<!-- hint a 1 -->\nOne.\n", encoding="utf-8")
    assert hints.load("en", tmp_path) == {"a": ["One."]}
    assert hints.load(translations.LANGUAGE, tmp_path) == {}


def test_load_gives_the_chinese_hints(chinese, english):
    assert chinese.keys() == english.keys()
    assert all(translations.CJK.search(h) for texts in chinese.values() for h in texts)
