"""Tools for course authors: write a lesson as a plain-text script, keep exercise cells in step with solutions/.

    python -m coursekit.authoring from-percent lesson.py lessons/NN_name.ipynb   # script -> notebook (no outputs)
    python -m coursekit.authoring sync [NN ...]                                  # exercise cells <- solutions/
    python -m coursekit.authoring checks [NN ...]                                # a check cell after each exercise
    python -m coursekit.run_course NN --store                                    # execute, store reference outputs

The script uses the "percent" format: ``# %%`` starts a code cell, ``# %% [markdown]`` a Markdown cell whose lines
start with ``# ``, and ``# %% tags=["exercise"]`` a code cell with tags. An *exercise cell* is tagged
``exercise`` and defines one top-level function or class; its source is the definition of the same name in
``solutions/lessonNN.py``, copied verbatim (so the lesson runs, and a student edition can strip it later). The cell
right after it is its *check cell*, tagged ``check``: ``ck.check("name")`` (:mod:`coursekit.check`), whose stored
output is the reference answer's full marks (``checks`` adds the missing ones; ``run_course NN --store`` stores it).
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import nbformat

LESSONS_DIR = Path(__file__).resolve().parents[1]
SOLUTIONS_DIR = LESSONS_DIR.parent / "solutions"
EXERCISE_TAG = "exercise"
CHECK_TAG = "check"
_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def notebook_from_percent(text: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    cells: list[tuple[bool, list[str], list[str]]] = []
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            cells.append((bool(match["md"]), json.loads(match["tags"]) if match["tags"] else [], []))
        elif cells:
            cells[-1][2].append(line)
    for is_md, tags, lines in cells:
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if is_md:
            cell = nbformat.v4.new_markdown_cell("\n".join(ln[2:] if ln.startswith("# ") else ln.lstrip("#")
                                                           for ln in lines))
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines))
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def defined_name(source: str) -> str | None:
    """The single top-level function or class an exercise cell defines."""
    names = [n.name for n in ast.parse(source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return names[0] if len(names) == 1 else None


def solution_sources(lesson: str) -> dict[str, str]:
    """name -> verbatim source of each top-level function and class in solutions/lessonNN.py."""
    path = SOLUTIONS_DIR / f"lesson{lesson}.py"
    lines = path.read_text().splitlines()
    body = ast.parse("\n".join(lines)).body
    sources = {}
    for i, node in enumerate(body):
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        # up to the next top-level statement, so trailing comments such as "# END SOLUTION" belong to it
        end = (min([body[i + 1].lineno] + [d.lineno for d in getattr(body[i + 1], "decorator_list", [])]) - 1
               if i + 1 < len(body) else len(lines))
        chunk = lines[start:end]
        while chunk and (not chunk[-1].strip() or (chunk[-1].startswith("#") and i + 1 < len(body))):
            chunk.pop()  # blank lines, and comments that introduce the next definition
        sources[node.name] = "\n".join(chunk)
    return sources


def exercise_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and EXERCISE_TAG in c.metadata.get("tags", [])]


def sync(lesson: str) -> list[str]:
    """Copy the solutions' definitions into the lesson's exercise cells; return the names that changed."""
    path = next(LESSONS_DIR.glob(f"{lesson}_*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    sources = solution_sources(lesson)
    changed = []
    for cell in exercise_cells(nb):
        name = defined_name(cell.source)
        if name is None or name not in sources:
            raise SystemExit(f"{path.name}: an exercise cell defines {name!r}, not one solution of lesson {lesson}")
        if cell.source != sources[name]:
            cell.source = sources[name]
            changed.append(name)
    if changed:
        nbformat.write(nb, path)
    return changed


def check_source(name: str) -> str:
    return f'ck.check("{name}")'


def add_checks(lesson: str) -> list[str]:
    """Put a check cell right after each exercise cell that has none; return the exercises that got one."""
    path = next(LESSONS_DIR.glob(f"{lesson}_*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    added = []
    k = 0
    while k < len(nb.cells):
        cell = nb.cells[k]
        if cell.cell_type == "code" and EXERCISE_TAG in cell.metadata.get("tags", []):
            name = defined_name(cell.source)
            following = nb.cells[k + 1] if k + 1 < len(nb.cells) else None
            if following is None or CHECK_TAG not in following.metadata.get("tags", []):
                check = nbformat.v4.new_code_cell(check_source(name), metadata={"tags": [CHECK_TAG]})
                check["id"] = f"check-{name}".replace("_", "-").lower()
                nb.cells.insert(k + 1, check)
                added.append(name)
        k += 1
    if added:
        nbformat.write(nb, path)
    return added


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "from-percent":
        nbformat.write(notebook_from_percent(Path(argv[1]).read_text()), argv[2])
        return 0
    if argv and argv[0] == "sync":
        lessons = argv[1:] or sorted(p.name[:2] for p in LESSONS_DIR.glob("[0-9][0-9]_*.ipynb"))
        for lesson in lessons:
            print(f"lesson {lesson}: " + (", ".join(sync(lesson)) or "in step"))
        return 0
    if argv and argv[0] == "checks":
        lessons = argv[1:] or sorted(p.name[:2] for p in LESSONS_DIR.glob("[0-9][0-9]_*.ipynb"))
        for lesson in lessons:
            print(f"lesson {lesson}: " + (", ".join(add_checks(lesson)) or "every exercise has its check cell"))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
