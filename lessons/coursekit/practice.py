"""The practice edition, for studying on your own (``make practice``; ``make practice EDITION=zh-CN`` in Chinese).

    python -m coursekit.practice OUT [--language zh-CN]

The practice edition is the student edition (:mod:`coursekit.student_edition`: stubs in the exercise cells, no
stored outputs that depend on an exercise or that a check cell printed) plus ``lessons/coursekit/practice_material/``:
copies of ``solutions/lessonNN.py`` (the reference answers) and of ``solutions/hints/*.md`` (the hints), which
``ck.hint(name)`` and ``ck.solution(name)`` read through the functions below, and a README section on how to
practise. The classroom edition (``make student``) holds none of it.

- ``material_dir()``: where the hints and answers are: ``practice_material/`` next to this file in a practice
  edition; the repository's ``solutions/`` in the course itself; ``None`` in the classroom edition.
- ``hints(exercise, language)``: the exercise's hints, in order (``[]`` if there are none).
- ``answer(exercise)``: the source of the exercise's reference answer, without the solution markers (``None`` if
  there is none). Answers are read by parsing, never by importing or running the solution files.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import sys
from pathlib import Path

from coursekit import student_edition

ROOT = Path(__file__).resolve().parents[2]
PRACTICE_MATERIAL = "practice_material"
MARKERS = (student_edition.BEGIN, student_edition.END)
LESSON_FILES = "lesson[0-9][0-9].py"

# The README section of the practice edition, after the student README (the commands and the name are examples).
README_SECTION = {
    "en": """
## Practise on your own

This is the practice edition: besides the exercises it holds hints and reference answers
(`lessons/coursekit/practice_material/`). Under each exercise cell there is a check cell; run it after your answer:

```python
ck.check("build_functional_mlp")     # grade this exercise now: each fact checked, with its points and feedback
ck.hint("build_functional_mlp")      # the next hint (one more each time you ask)
ck.solution("build_functional_mlp")  # the reference answer, once you have checked the exercise at least once
ck.progress()                        # the points of your latest check of every exercise
```

Try first, then ask for one hint at a time; read the answer after you have tried. `make grade` grades every lesson
at once, as above.
""",
    "zh-CN": """
## 自学练习

这是自学版：除了练习，它还带有提示和参考答案（`lessons/coursekit/practice_material/`）。每个练习单元格下面都有一个检查单元格；写完答案后运行它：

```python
ck.check("build_functional_mlp")     # 现在给这道练习评分
ck.hint("build_functional_mlp")      # 下一条提示
ck.solution("build_functional_mlp")  # 参考答案（至少检查过一次之后）
ck.progress()                        # 每个练习最近一次检查的得分
```

- `ck.check(...)`：立即给这道练习评分，列出检查的每一项及其得分和反馈。
- `ck.hint(...)`：给出下一条提示（每问一次多给一条）。
- `ck.solution(...)`：显示参考答案，前提是这道练习至少检查过一次。
- `ck.progress()`：每道练习最近一次检查的得分。

先自己尝试，再一次要一条提示；尝试过之后再看答案。`make grade` 仍像上面那样一次给所有课程评分。
""",
}


# ---------------------------------------------------------------------------------------------- the material


def material_dir() -> Path | None:
    """Where the hints and reference answers are: the practice edition's ``practice_material/``, the course's
    ``solutions/``, or None (the classroom edition has neither)."""
    here = Path(__file__).resolve().parent
    if (here / PRACTICE_MATERIAL).is_dir():
        return here / PRACTICE_MATERIAL
    solutions = here.parents[1] / "solutions"
    if (solutions / "lesson01.py").is_file():
        return solutions
    return None


def hints(exercise: str, language: str = "en") -> list[str]:
    """The hints to ``exercise`` in ``language``, in the order they are given; [] if there are none."""
    folder = material_dir()
    if folder is None:
        return []
    hint_files = importlib.import_module("coursekit.hints")
    return list(hint_files.load(language, folder / "hints").get(exercise, []))


def _definition(source: str, name: str) -> str | None:
    """The top-level function or class ``name`` of a module's source, with its decorators and the indented lines
    and comments that follow it up to the next top-level statement; None if there is none."""
    body = ast.parse(source).body
    lines = source.splitlines()
    for i, node in enumerate(body):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.name != name:
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        following = body[i + 1] if i + 1 < len(body) else None
        end = (min([following.lineno] + [d.lineno for d in getattr(following, "decorator_list", [])]) - 1
               if following is not None else len(lines))
        chunk = lines[start:end]
        while chunk and (not chunk[-1].strip() or (following is not None and chunk[-1].startswith("#"))):
            chunk.pop()  # blank lines, and comments that introduce the next definition
        return "\n".join(chunk)
    return None


def answer(exercise: str) -> str | None:
    """The source of the reference answer to ``exercise`` (the top-level function or class of that name in a
    ``lessonNN.py`` of the material), without its ``# BEGIN SOLUTION`` / ``# END SOLUTION`` lines; None if there
    is none. The files are parsed, never imported."""
    folder = material_dir()
    if folder is None:
        return None
    for path in sorted(folder.glob(LESSON_FILES)):
        try:
            source = _definition(path.read_text(encoding="utf-8"), exercise)
        except (OSError, SyntaxError, ValueError):
            continue
        if source is not None:
            return "\n".join(line for line in source.splitlines() if line.strip() not in MARKERS)
    return None


# ---------------------------------------------------------------------------------------------- the edition


def build(out: Path, language: str = "en") -> list[str]:
    """Write the practice edition into ``out`` (emptied first): the student edition, the reference answers and
    hints in ``lessons/coursekit/practice_material/``, and a README section on practising; return the lessons."""
    out = Path(out)
    lessons = student_edition.build(out, language)
    material = out / "lessons" / "coursekit" / PRACTICE_MATERIAL
    material.mkdir()
    for path in sorted((ROOT / "solutions").glob(LESSON_FILES)):
        shutil.copy2(path, material / path.name)
    hint_files = sorted((ROOT / "solutions" / "hints").glob("*.md"))
    if hint_files:
        (material / "hints").mkdir()
        for path in hint_files:
            shutil.copy2(path, material / "hints" / path.name)
    readme = out / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").rstrip("\n") + "\n" + README_SECTION[language],
                      encoding="utf-8")
    return lessons


def main(argv: list[str]) -> int:
    return student_edition.cli(argv, build, "practice edition", __doc__ or "")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
