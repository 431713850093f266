"""Read the exercise cells out of a student's notebook, without running anything.

Exercise cells are found by their tag (``exercise``), never by position. Each cell is parsed on its own, so a syntax
error costs only the exercise(s) that cell defines.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

EXERCISE_TAG = "exercise"
_DEFINES = re.compile(r"^(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)


class NotebookError(Exception):
    """The file cannot be read as a notebook at all."""


@dataclass
class ExerciseCell:
    filename: str
    source: str
    names: list[str] = field(default_factory=list)  # the top-level functions and classes it defines
    problem: str = ""

    @property
    def name(self) -> str:
        return self.names[0] if self.names else "?"


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _cells(path: Path) -> list[dict]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise NotebookError(f"{path.name} is not a text file, so not a notebook") from None
    except json.JSONDecodeError as error:
        raise NotebookError(f"{path.name} is not valid notebook JSON (line {error.lineno}: {error.msg}); "
                            "was it edited outside Jupyter or cut short?") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise NotebookError(f"{path.name} is JSON but not a notebook (it has no list of cells)")
    return cells


def read_exercise_cells(path: Path) -> tuple[list[str], list[ExerciseCell]]:
    """The import statements of the notebook's other code cells, and its exercise cells."""
    imports: list[str] = []
    exercises: list[ExerciseCell] = []
    for cell in _cells(Path(path)):
        if cell.get("cell_type") != "code":
            continue
        source = _source(cell)
        tags = (cell.get("metadata") or {}).get("tags") or []
        if EXERCISE_TAG in tags:
            names = _DEFINES.findall(source)
            item = ExerciseCell(filename=f"{Path(path).name} (exercise cell {names[0] if names else '?'})",
                                source=source, names=names)
            try:
                tree = ast.parse(source)
                item.names = [n.name for n in tree.body
                              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))] or names
            except SyntaxError as error:
                item.problem = (f"the exercise cell for {item.name} has a syntax error on line {error.lineno}: "
                                f"{error.msg}")
            exercises.append(item)
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue  # notebook magics and broken scratch cells do not matter for grading
        imports += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return imports, exercises
