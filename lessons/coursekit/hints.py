"""Hints for the graded exercises, in English and in the course's Simplified Chinese.

    python -m coursekit.hints check     list what is wrong with the hints; exit 1 if anything is
    python -m coursekit.hints update    add what is new in the English hints to their translation file

The English hints are kept in ``solutions/hints/en.md``: one section per hint, exercise by exercise in the course's
order, each exercise's hints going from a nudge (1) to its key line or two (the last)::

    <!-- hint build_functional_mlp 1 -->
    Start from `keras.Input(...)`: ...

Their translations are in ``solutions/hints/zh-CN.md``, in the format of the lessons' translation files
(:mod:`coursekit.translations`): one section per English hint, whose id is ``EXERCISE-N`` and whose ``en:`` is the
fingerprint of the English hint's text (as read by :func:`read`, stripped)::

    <!-- cell build_functional_mlp-1 en:1f2e3d4c5b6a -->
    先写 `keras.Input(...)`：……

``update`` does the same bookkeeping as ``coursekit.translations update``: a new English hint gets a section holding
its English text, marked ``TODO``; a hint whose English changed gets its new fingerprint, ``TODO``, and the new English
above the old translation. ``check`` asks for 2 or 3 hints for every graded exercise of the course and for nothing
else, a current translation of every hint, and the glossary's renderings (``lessons/zh-CN/GLOSSARY.md``) in every
translation, as the lessons' translations are checked.

The hints live next to the reference solutions: the student edition has neither, and :func:`load` then finds none.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from coursekit import translations

HINTS_DIR = Path(__file__).resolve().parents[2] / "solutions" / "hints"
ENGLISH = "en"
LANGUAGE = translations.LANGUAGE  # "zh-CN"
MIN_HINTS, MAX_HINTS = 2, 3

_HINT = re.compile(r"^<!-- hint (?P<exercise>\w+) (?P<number>\d+) -->[ \t]*$", re.MULTILINE)
_HEADER = ("<!-- Simplified Chinese translation of solutions/hints/en.md, in the format of the lessons' translation\n"
           "     files (lessons/coursekit/translations.py): one section per English hint, EXERCISE-N, in its order;\n"
           "     `en:` fingerprints the English hint translated. `python -m coursekit.hints check` checks it. -->\n")


def path_of(language: str = ENGLISH, folder: Path | None = None) -> Path:
    """The hint file of a language: ``en.md`` (the English hints) or ``zh-CN.md`` (their translation)."""
    return (folder or HINTS_DIR) / f"{language}.md"


def section_id(exercise: str, number: int) -> str:
    """The id of a hint's section in a translation file: ``EXERCISE-N`` (N counted from 1)."""
    return f"{exercise}-{number}"


# ------------------------------------------------------------------------------------------------- reading


def read(path: Path) -> dict[str, list[str]]:
    """The English hints of a file: {exercise: [hint 1, hint 2, ...]}, each hint's text stripped, exercises in the
    file's order. Text before the first marker is a comment. Raises ValueError where a hint is out of order (an
    exercise's hints are numbered 1, 2, ... and kept together) or empty."""
    text = path.read_text(encoding="utf-8")
    markers = list(_HINT.finditer(text))
    hints: dict[str, list[str]] = {}
    for k, match in enumerate(markers):
        end = markers[k + 1].start() if k + 1 < len(markers) else len(text)
        exercise, number, body = match["exercise"], int(match["number"]), text[match.end():end].strip()
        if exercise in hints and exercise != list(hints)[-1]:
            raise ValueError(f"{path.name}: the hints of {exercise} are not kept together")
        if number != len(hints.get(exercise, [])) + 1:
            raise ValueError(f"{path.name}: hint {exercise} {number} is out of order (expected hint "
                             f"{len(hints.get(exercise, [])) + 1})")
        if not body:
            raise ValueError(f"{path.name}: hint {exercise} {number} is empty")
        hints.setdefault(exercise, []).append(body)
    return hints


def read_translation(path: Path, english: dict[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """The translated hints of a file, for the English hints ``english`` (as :func:`read` gives them), and its
    problems.

    Returns ({exercise: [hint 1, hint 2, ...]}, problems), with as many hints per exercise as in English. A hint
    whose section is missing, marked TODO, stale (its ``en:`` fingerprint is not the English text's now) or holds no
    Chinese is given in English, and listed in the problems; so are sections that translate no English hint and
    hints translated twice. A missing file means every hint is missing."""
    sections = translations.parse(path.read_text(encoding="utf-8")) if path.exists() else []
    by_id = {s.cell_id: s for s in sections}
    where = path.name
    problems: list[str] = []
    if len(by_id) != len(sections):
        problems.append(f"{where}: a hint is translated twice")
    ids = {section_id(exercise, n) for exercise, hints in english.items() for n in range(1, len(hints) + 1)}
    problems += [f"{where}: {s.cell_id} translates no English hint (remove its section)"
                 for s in sections if s.cell_id not in ids]
    result: dict[str, list[str]] = {}
    for exercise, hints in english.items():
        result[exercise] = []
        for n, text in enumerate(hints, start=1):
            section = by_id.get(section_id(exercise, n))
            at = f"{where}, hint {exercise} {n}"
            problem = None
            if section is None:
                problem = f"{at}: not translated (run `python -m coursekit.hints update`)"
            elif section.todo:
                problem = f"{at}: marked TODO"
            elif section.en != translations.fingerprint(text):
                problem = f"{at}: stale: the English hint changed since it was translated"
            elif not translations.CJK.search(section.text):
                problem = f"{at}: no Chinese in the translation"
            if problem:
                problems.append(problem)
            result[exercise].append(text if problem else section.text)
    return result, problems


def glossary_problems(english: dict[str, list[str]], chinese: dict[str, list[str]],
                      terms: list[translations.Term] | None = None) -> list[str]:
    """Where a translated hint does not follow the glossary, as the lessons' Markdown cells are checked
    (:func:`coursekit.translations.glossary_problems`): a term the English hint uses is rendered the glossary's way,
    and no rendering the glossary rules out is used. Hints with no counterpart in ``chinese`` are skipped."""
    terms = translations.glossary() if terms is None else terms
    problems = []
    for exercise, hints in english.items():
        for n, (en, zh) in enumerate(zip(hints, chinese.get(exercise, [])), start=1):
            problems += translations.glossary_problems(en, zh, terms, f"{LANGUAGE} hint {exercise} {n}")
    return problems


def load(language: str = ENGLISH, folder: Path | None = None) -> dict[str, list[str]]:
    """The hints in ``language`` ("en" or "zh-CN"): {exercise: [hint 1, hint 2, ...]}, from ``folder`` (by default
    the repository's ``solutions/hints/``). {} where the folder or the language's file does not exist (the student
    edition has no hints). In a translation, a hint whose translation is missing or stale is given in English."""
    english_path, path = path_of(ENGLISH, folder), path_of(language, folder)
    if not english_path.is_file() or not path.is_file():
        return {}
    english = read(english_path)
    if language == ENGLISH:
        return english
    return read_translation(path, english)[0]


# ------------------------------------------------------------------------------------------------- check, update


def course_exercises() -> list[str]:
    """The graded exercises of the course, in lesson order, each once (from the graders, by
    :func:`gradekit.classroom.course_tests`)."""
    from gradekit import classroom  # the graders' reader: imported only where the course's exercises are needed

    return list(dict.fromkeys(t.exercise for t in classroom.course_tests()))


def check(folder: Path | None = None, exercises: list[str] | None = None) -> list[str]:
    """Everything wrong with the hints in ``folder``: every exercise of the course (``exercises``, by default
    :func:`course_exercises`) has 2 or 3 English hints, in the course's order, and no other exercise has any; every
    hint has a current translation; the translations follow the glossary (checked once every hint is translated, as
    ``coursekit.translations check`` does for a lesson)."""
    exercises = course_exercises() if exercises is None else exercises
    english_path = path_of(ENGLISH, folder)
    if not english_path.is_file():
        return [f"{english_path} is missing"]
    try:
        english = read(english_path)
    except ValueError as error:
        return [str(error)]
    problems = []
    for exercise in exercises:
        count = len(english.get(exercise, []))
        if not MIN_HINTS <= count <= MAX_HINTS:
            problems.append(f"{english_path.name}: {exercise} has {count} hints (give it {MIN_HINTS} to {MAX_HINTS})")
    problems += [f"{english_path.name}: {name} is not a graded exercise of the course (remove its hints)"
                 for name in english if name not in exercises]
    known = [name for name in english if name in exercises]
    if known != [name for name in exercises if name in english]:
        problems.append(f"{english_path.name}: the exercises are not in the course's order")
    chinese, found = read_translation(path_of(LANGUAGE, folder), english)
    problems += found
    if not found:
        problems += glossary_problems(english, chinese)
    return problems


def update(folder: Path | None = None) -> list[str]:
    """Bring the translation file in step with the English hints, as ``coursekit.translations update`` does for a
    lesson: a section (the English text, marked TODO) for each new hint, stale sections re-marked TODO with the new
    English above the old translation, orphans dropped, the English order. Returns the hints that need a translator
    (their section ids)."""
    english = read(path_of(ENGLISH, folder))
    path = path_of(LANGUAGE, folder)
    old = {s.cell_id: s for s in translations.parse(path.read_text(encoding="utf-8"))} if path.exists() else {}
    sections, todo = [], []
    for exercise, hints in english.items():
        for n, text in enumerate(hints, start=1):
            fp, s = translations.fingerprint(text), old.get(section_id(exercise, n))
            if s is None:
                s = translations.Section(section_id(exercise, n), fp, text, todo=True)
            elif s.en != fp:
                s = translations.Section(s.cell_id, fp, f"{text}\n\n<!-- the translation of the English before it "
                                         f"changed: -->\n\n{s.text}", todo=True)
            sections.append(s)
            if s.todo:
                todo.append(s.cell_id)
    # the sections as the lessons' translation files write them (from their first marker on), under this file's
    # own header
    rendered = translations.render("", sections)
    first = translations._MARKER.search(rendered)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_HEADER + ("\n" + rendered[first.start():] if first else ""), encoding="utf-8")
    return todo


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "check":
        problems = check()
        print("\n".join(problems) or "hints: every exercise has its hints, translated and current")
        return 1 if problems else 0
    if command == "update":
        todo = update()
        print(f"{path_of(LANGUAGE).relative_to(HINTS_DIR.parents[1])}: "
              + (f"{len(todo)} hints to translate (marked TODO)" if todo else "in step"))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
