"""What to run to grade each exercise of a student's notebook, worked out by static analysis alone.

Exercise cells carry the tag ``exercise``; the top-level functions and classes they define are the exercises. An
exercise cell may use names bound in the notebook's other cells: helper functions, constants, imports. For each
exercise, :func:`exercise_programs` finds the top-level statements that bind the names it needs, then what those
statements need, and so on, and returns them with the exercise cell (taken whole) as :class:`Unit` s to execute, in
order, in one fresh namespace. Nothing here runs student code.

Which binding: for a name a function needs when it is called, the binding the notebook holds once "Run all" has
reached the exercise cell: the exercise cell's own, else the last one in a cell above it, else (a helper written
below the exercise, cells reordered) the last one below it. For a name a statement needs while it runs (``B = A * 2``,
a decorator, a default value), the last binding above that statement, else the last one below it.

Order: a unit runs after the units whose bindings it reads while it runs; otherwise notebook order, the exercise cell
as late as it can; a unit whose binding must win for a name read at call time goes after the other units binding that
name; a cycle falls back to notebook order. Statements that follow each other in a cell and in that order form one
unit.

Only cheap, safe statements are brought in: imports, definitions (whose decorators and default values are cheap) and
assignments whose value trains nothing, loads nothing, draws nothing and calls nothing of ``coursekit``. A needed name
bound only by another kind of statement (a training cell, a loop, a cell with a syntax error) makes the exercise
ungradable; its ``problem`` names the name, the cell and line that bind it, and says what to do.
"""

from __future__ import annotations

import ast
import builtins
import heapq
import json
import re
import symtable
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from gradekit.intake import MAX_MODULE_BYTES, MAX_NOTEBOOK_BYTES

EXERCISE_TAG = "exercise"
# Bounds on what is read, besides MAX_NOTEBOOK_BYTES (the intake refuses larger files: :mod:`gradekit.intake`).
MAX_JSON_CONTAINERS = 1_000_000
MAX_CELLS = 5_000
MAX_CODE_CHARS = MAX_MODULE_BYTES
_T = TypeVar("_T")

#: Calls that make a statement too slow or unsafe to bring into graded code, by called name or final attribute
#: (``load(...)``, ``model.fit(...)``), with what such a call does.
EXPENSIVE_CALLS: dict[str, str] = {
    **dict.fromkeys(("fit", "fit_generator", "train_on_batch"), "trains a model"),
    **dict.fromkeys(("evaluate", "predict", "predict_on_batch", "test_on_batch"), "runs a model on data"),
    **dict.fromkeys(("load", "loadtxt", "genfromtxt", "read_csv", "read_json", "read_text", "read_bytes", "open"),
                    "loads data"),
    **dict.fromkeys(("load_model", "load_weights"), "loads a saved model"),
    **dict.fromkeys(("urlopen", "urlretrieve", "get"), "downloads data"),
    **dict.fromkeys(("save", "save_weights", "savefig"), "writes a file"),
    "sleep": "waits",
    **dict.fromkeys(("system", "run", "Popen", "call", "check_output"), "runs another program"),
    **dict.fromkeys(("plot_model", "show_model", "show", "imshow", "plot"), "draws a figure"),
}
#: The course's helper package: any call on a name bound by importing it loads data or draws.
COURSEKIT = "coursekit"
#: Statements that are never cheap (but see the ``if`` and ``try`` exceptions in ``_statement_cost``).
_COMPOUND: dict[type, str] = {
    ast.For: "a `for` loop", ast.AsyncFor: "an `async for` loop", ast.While: "a `while` loop",
    ast.With: "a `with` block", ast.AsyncWith: "an `async with` block", ast.If: "an `if` block",
    ast.Try: "a `try` block", ast.Match: "a `match` block",
    **({ast.TryStar: "a `try` block"} if hasattr(ast, "TryStar") else {}),
}
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_COMPREHENSION_SCOPES = frozenset({"listcomp", "setcomp", "dictcomp", "genexpr"})
#: Names that are there without any cell binding them.
_GIVEN = frozenset(dir(builtins)) | frozenset({"__file__", "__builtins__", "__annotations__", "__cached__"})
_SHORT = 60  # longest statement quoted in feedback

_DEFINES = re.compile(r"^(?:async[ \t]+)?(?:def|class)[ \t]+([A-Za-z_]\w*)", re.MULTILINE)
_ASSIGNS = re.compile(r"^([A-Za-z_]\w*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*)[ \t]*(?::[^=\n]*)?"
                      r"(?://|\*\*|<<|>>|[-+*/%@&|^])?=(?!=)", re.MULTILINE)
_IMPORTS = re.compile(r"^import[ \t]+([^#\n]+)", re.MULTILINE)
_FROM_IMPORTS = re.compile(r"^from[ \t]+[\w.]+[ \t]+import[ \t]+\(?([^#)\n]+)", re.MULTILINE)
_MAGIC = re.compile(r"^[ \t]*[%!].*$", re.MULTILINE)


class NotebookError(Exception):
    """The file cannot be read as a notebook at all."""


@dataclass
class Unit:
    """Top-level statement(s) of one cell to execute."""

    source: str  # Python source, exactly the statements' text
    filename: str  # for tracebacks, e.g. "ada.ipynb (cell 7)", cells counted from 1 as in ``nb["cells"]``
    first_line: int  # line of ``source``'s first line within its cell, 1-based
    binds: list[str]  # the names it binds at module level


@dataclass
class ExerciseProgram:
    """What to execute, in order, in one fresh namespace, to define exercise ``name`` and everything it needs."""

    name: str
    units: list[Unit]
    problem: str = ""  # non-empty: the exercise cannot be graded; the sentence(s) a student reads


@dataclass
class _Cell:
    """A code cell, parsed."""

    number: int  # index in nb["cells"] + 1
    source: str  # after normalising line ends and, when needed, blanking IPython magics
    exercise: bool
    tree: ast.Module | None = None
    error: str = ""  # why it does not parse, e.g. "a syntax error on line 3: invalid syntax"
    statements: list[_Statement] = field(default_factory=list)


@dataclass(eq=False)
class _Statement:
    """A top-level statement of a cell, with what it binds and needs."""

    cell: _Cell
    index: int
    node: ast.stmt
    source: str  # its text
    start: tuple[int, int]  # (line, byte column) where its text starts in the cell
    end: tuple[int, int]
    binds: frozenset[str]
    module_needs: frozenset[str]  # names read while it runs
    call_needs: frozenset[str]  # names read only when a function it defines is called
    cost: str  # "" when cheap to bring in, else what it is, e.g. "a statement that trains a model"

    @property
    def position(self) -> tuple[int, int]:
        return self.cell.number, self.index

    @property
    def star(self) -> bool:
        return isinstance(self.node, ast.ImportFrom) and any(alias.name == "*" for alias in self.node.names)


@dataclass
class _Notebook:
    """A notebook's code cells and where each name is bound."""

    name: str
    cells: list[_Cell]
    bindings: dict[str, list[_Statement]]  # in notebook order
    guessed: dict[str, list[tuple[_Cell, int]]]  # names seemingly bound by cells that do not parse, with the line
    stars: list[_Statement]  # ``from x import *`` statements, outside exercise cells


# --- reading --------------------------------------------------------------------------------------------------------

def read_cells(path: str | Path) -> list[dict]:
    """The notebook's cells (``nb["cells"]``); NotebookError when the file is not a notebook, or is larger, holds
    more JSON lists and objects or more cells than a notebook needs (it is read in the judge too: bounded)."""
    path = Path(path)
    clear = "clear its outputs (Kernel → Restart and clear outputs) and hand it in again"
    with open(path, "rb") as handle:
        data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB: {clear}")
    if data.count(b"[") + data.count(b"{") > MAX_JSON_CONTAINERS:  # each becomes a Python object: bound them first
        raise NotebookError(f"{path.name} holds more than {MAX_JSON_CONTAINERS:,} JSON lists and objects: {clear}")
    try:
        nb = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise NotebookError(f"{path.name} is not a text file, so not a notebook") from None
    except json.JSONDecodeError as error:
        raise NotebookError(f"{path.name} is not valid notebook JSON (line {error.lineno}: {error.msg}); "
                            "was it edited outside Jupyter or cut short?") from None
    except RecursionError:
        raise NotebookError(f"{path.name} is JSON nested too deeply to be a notebook") from None
    except ValueError as error:  # e.g. a number of more digits than Python converts
        raise NotebookError(f"{path.name} is not valid notebook JSON ({str(error)[:100]})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list) or not all(isinstance(cell, dict) for cell in cells):
        raise NotebookError(f"{path.name} is JSON but not a notebook (it has no list of cells)")
    if len(cells) > MAX_CELLS:
        raise NotebookError(f"{path.name} has {len(cells):,} cells, more than the {MAX_CELLS:,} graded: hand in the "
                            "lesson's notebook without the extra cells")
    return cells


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    text = "".join(str(part) for part in source) if isinstance(source, list) else str(source)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _tags(cell: dict) -> list:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return tags if isinstance(tags, list) else []


def _parse(source: str) -> ast.Module:
    """``ast.parse`` plus the checks of the compiler's symbol table; anything that cannot be analysed raises
    SyntaxError."""
    try:
        tree = ast.parse(source)
        symtable.symtable(source, "<cell>", "exec")
    except SyntaxError:
        raise
    except (RecursionError, MemoryError):
        raise SyntaxError("it is nested too deeply to analyse") from None
    except ValueError as error:  # e.g. a null byte
        raise SyntaxError(str(error)) from None
    return tree


def _describe(error: SyntaxError) -> str:
    return f"a syntax error on line {error.lineno}: {error.msg}" if error.lineno else f"a syntax error: {error.msg}"


def _read_cell(number: int, source: str, exercise: bool) -> _Cell:
    """Parse a code cell; IPython magic and shell lines are blanked (keeping line numbers) when the cell does not
    parse as it is."""
    cell = _Cell(number, source, exercise)
    try:
        cell.tree = _parse(source)
        return cell
    except SyntaxError as error:
        first = error
    stripped = _MAGIC.sub("", source)
    if stripped == source:
        cell.error = _describe(first)
        return cell
    cell.source = stripped
    try:
        cell.tree = _parse(stripped)
    except SyntaxError as error:
        cell.error = _describe(error)
    return cell


def _is_cell_magic(source: str) -> bool:
    return source.lstrip().startswith("%%")


# --- one statement: what it binds, needs and costs ------------------------------------------------------------------

def _segment(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    """The text between two (line, byte column) positions of a cell."""
    chunk = [line.encode("utf-8") for line in lines[start[0] - 1:end[0]]]
    chunk[-1] = chunk[-1][:end[1]]
    chunk[0] = chunk[0][start[1]:]
    return b"\n".join(chunk).decode("utf-8", errors="replace")


def _bound_names(node: ast.stmt) -> frozenset[str]:
    """The names a top-level statement binds in the module's namespace. Expression statements bind nothing."""
    if isinstance(node, ast.Expr):
        return frozenset()
    names: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, _DEFINITIONS):
            names.add(item.name)
            continue
        if isinstance(item, ast.Lambda):
            continue
        if isinstance(item, _COMPREHENSIONS):  # its loop variables are its own; only := binds outside
            names.update(inner.target.id for inner in ast.walk(item)
                         if isinstance(inner, ast.NamedExpr) and isinstance(inner.target, ast.Name))
            continue
        if isinstance(item, ast.Import):
            names.update(alias.asname or alias.name.partition(".")[0] for alias in item.names)
        elif isinstance(item, ast.ImportFrom):
            names.update(alias.asname or alias.name for alias in item.names if alias.name != "*")
        elif isinstance(item, ast.Name) and isinstance(item.ctx, ast.Store):
            names.add(item.id)
        elif isinstance(item, ast.AnnAssign) and item.value is None:  # `x: int` binds nothing
            continue
        elif isinstance(item, ast.ExceptHandler) and item.name:
            names.add(item.name)
        elif isinstance(item, (ast.MatchAs, ast.MatchStar)) and item.name:
            names.add(item.name)
        elif isinstance(item, ast.MatchMapping) and item.rest:
            names.add(item.rest)
        stack.extend(ast.iter_child_nodes(item))
    return frozenset(names)


def _needed_names(source: str, node: ast.stmt) -> tuple[set[str], set[str]]:
    """The global names a statement reads while it runs, and those read only when a function it defines (or a lambda)
    is called. Class bodies and comprehensions run at once; function and lambda bodies later."""
    table = symtable.symtable(source, "<statement>", "exec")
    augmented = {item.target.id for item in ast.walk(node)
                 if isinstance(item, ast.AugAssign) and isinstance(item.target, ast.Name)}  # `x += 1` reads x
    at_once = {symbol.get_name() for symbol in table.get_symbols()
               if symbol.is_referenced() or (symbol.is_assigned() and symbol.get_name() in augmented)}
    later: set[str] = set()
    scopes = [(child, True) for child in table.get_children()]
    while scopes:
        scope, parent_at_once = scopes.pop()
        kind, name = str(scope.get_type()).lower(), scope.get_name().strip("<>")
        now = parent_at_once and (kind != "function" or name in _COMPREHENSION_SCOPES)
        (at_once if now else later).update(
            symbol.get_name() for symbol in scope.get_symbols()
            if symbol.is_global() and (symbol.is_referenced() or (
                symbol.is_declared_global() and symbol.is_assigned() and symbol.get_name() in augmented)))
        scopes.extend((child, now) for child in scope.get_children())
    return at_once - _GIVEN, later - _GIVEN


def _root_name(func: ast.expr) -> str:
    """``ck`` for ``ck.data.load(...)`` and ``ck.f()(...)``."""
    while isinstance(func, (ast.Attribute, ast.Call, ast.Subscript)):
        func = func.func if isinstance(func, ast.Call) else func.value
    return func.id if isinstance(func, ast.Name) else ""


def _call_cost(func: ast.expr, coursekit_names: frozenset[str]) -> str:
    """What a call of ``func`` does when it is too slow or unsafe for graded code, else ""."""
    called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    if called in EXPENSIVE_CALLS:
        return EXPENSIVE_CALLS[called]
    if _root_name(func) in coursekit_names:
        lowered = called.lower()
        if "load" in lowered:
            return "loads data"
        if any(word in lowered for word in ("show", "plot", "draw")):
            return "draws a figure"
        return f"calls {COURSEKIT} (whose functions load data or draw)"
    return ""


def _expression_cost(nodes: Iterable[ast.AST | None], coursekit_names: frozenset[str]) -> str:
    """What the first expensive call among ``nodes`` does, else "". Lambda bodies are not looked into: they do not run
    when the lambda is made."""
    stack = [item for item in reversed(list(nodes)) if item is not None]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Lambda):
            stack.extend(reversed([*item.args.defaults, *(d for d in item.args.kw_defaults if d is not None)]))
            continue
        if isinstance(item, (ast.Await, ast.Yield, ast.YieldFrom)):
            return "waits for a coroutine"
        if isinstance(item, ast.Call):
            cost = _call_cost(item.func, coursekit_names)
            if cost:
                return cost
        stack.extend(reversed(list(ast.iter_child_nodes(item))))
    return ""


def _header(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[ast.AST | None]:
    """The expressions of a definition that run when it runs: decorators, default values, annotations, bases."""
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *node.keywords]
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return [*node.decorator_list, *args.defaults, *args.kw_defaults,
            *(arg.annotation for arg in every if arg is not None), node.returns]


def _block_is_cheap(body: list[ast.stmt], coursekit_names: frozenset[str]) -> bool:
    """Whether a block holds only imports, definitions, cheap assignments, ``pass`` and cheap ``if``/``try``."""
    return all(isinstance(item, ast.Pass) or not _statement_cost(item, coursekit_names) for item in body)


def _statement_cost(node: ast.stmt, coursekit_names: frozenset[str]) -> str:
    """"" when a statement may be brought into graded code, else what it is, as a noun phrase."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return ""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        cost = _expression_cost(_header(node), coursekit_names)
        return f"a definition whose decorator, default value or annotation {cost}" if cost else ""
    if isinstance(node, ast.ClassDef):
        cost = _expression_cost(_header(node), coursekit_names)
        if cost:
            return f"a class definition whose decorator or base {cost}"
        for item in node.body:
            if isinstance(item, (ast.Pass, ast.Expr)):
                cost = _expression_cost([item], coursekit_names)
                inner = f"a statement that {cost}" if cost else ""
            else:
                inner = _statement_cost(item, coursekit_names)
            if inner:
                return f"a class definition whose body has {inner}"
        return ""
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or type(node).__name__ == "TypeAlias":
        cost = _expression_cost([node], coursekit_names)
        return f"a statement that {cost}" if cost else ""
    if isinstance(node, ast.If):
        cheap = (not _expression_cost([node.test], coursekit_names) and _block_is_cheap(node.body, coursekit_names)
                 and _block_is_cheap(node.orelse, coursekit_names))
        return "" if cheap else f"{_COMPOUND[ast.If]} that does more than import, define and assign"
    if isinstance(node, tuple(kind for kind in _COMPOUND if kind.__name__.startswith("Try"))):
        handlers = node.handlers
        cheap = (all(_block_is_cheap(block, coursekit_names)
                     for block in (node.body, node.orelse, node.finalbody, *(h.body for h in handlers)))
                 and not _expression_cost([h.type for h in handlers], coursekit_names))
        return "" if cheap else f"{_COMPOUND[ast.Try]} that does more than import, define and assign"
    if type(node) in _COMPOUND:
        return _COMPOUND[type(node)]
    return "a statement that binds nothing"  # expression statements and the like: never brought in


def _coursekit_names(trees: Iterable[ast.Module]) -> frozenset[str]:
    """Names bound anywhere in the notebook by importing coursekit or something from it."""
    names: set[str] = set()
    for tree in trees:
        for item in ast.walk(tree):
            if isinstance(item, ast.Import):
                names.update(alias.asname or alias.name.partition(".")[0] for alias in item.names
                             if alias.name == COURSEKIT or alias.name.startswith(COURSEKIT + "."))
            elif isinstance(item, ast.ImportFrom) and not item.level and item.module and (
                    item.module == COURSEKIT or item.module.startswith(COURSEKIT + ".")):
                names.update(alias.asname or alias.name for alias in item.names if alias.name != "*")
    return frozenset(names)


def _statements(cell: _Cell, coursekit_names: frozenset[str]) -> list[_Statement]:
    assert cell.tree is not None
    lines = cell.source.split("\n")
    statements = []
    for index, node in enumerate(cell.tree.body):
        decorators = getattr(node, "decorator_list", [])
        start = (min([node.lineno, *(d.lineno for d in decorators)]), 0) if decorators else (node.lineno,
                                                                                            node.col_offset)
        end = (node.end_lineno or node.lineno, node.end_col_offset or 0)
        source = _segment(lines, start, end)
        binds = _bound_names(node)
        at_once, later = _needed_names(source, node)
        if type(node) in _COMPOUND:  # a loop's own variables, a branch's earlier assignments; but `total += x` reads
            at_once -= binds - {item.target.id for item in ast.walk(node)
                                if isinstance(item, ast.AugAssign) and isinstance(item.target, ast.Name)}
        statements.append(_Statement(cell, index, node, source, start, end, binds, frozenset(at_once),
                                     frozenset(later - binds), _statement_cost(node, coursekit_names)))
    return statements


def _guess_bindings(source: str) -> dict[str, int]:
    """Names a cell that does not parse seems to bind at its top level, with the line: for feedback only."""
    found: dict[str, int] = {}

    def add(names: Iterable[str], offset: int) -> None:
        line = source.count("\n", 0, offset) + 1
        for name in names:
            if name.isidentifier():
                found.setdefault(name, line)

    for match in _DEFINES.finditer(source):
        add([match.group(1)], match.start())
    for match in _ASSIGNS.finditer(source):
        add((part.strip() for part in match.group(1).split(",")), match.start())
    for pattern, first_part in ((_IMPORTS, True), (_FROM_IMPORTS, False)):
        for match in pattern.finditer(source):
            names = []
            for part in match.group(1).split(","):
                words = part.split()
                if len(words) >= 3 and words[-2] == "as":
                    names.append(words[-1])
                elif words:
                    names.append(words[0].partition(".")[0] if first_part else words[0])
            add(names, match.start())
    return found


def _read_notebook(path: Path) -> _Notebook:
    cells: list[_Cell] = []
    code = 0
    for index, raw in enumerate(read_cells(path)):
        if raw.get("cell_type") != "code":
            continue
        source, exercise = _cell_source(raw), EXERCISE_TAG in _tags(raw)
        code += len(source)
        if code > MAX_CODE_CHARS:  # parsing and analysing code takes time: as much as a lesson module may hold
            raise NotebookError(f"the code cells of {path.name} hold more than {MAX_CODE_CHARS // 2**20} MB of code: "
                                "move data out of the code and hand it in again")
        if not exercise and _is_cell_magic(source):
            continue
        cells.append(_read_cell(index + 1, source, exercise))
    coursekit_names = _coursekit_names(cell.tree for cell in cells if cell.tree is not None)
    bindings: dict[str, list[_Statement]] = {}
    guessed: dict[str, list[tuple[_Cell, int]]] = {}
    stars: list[_Statement] = []
    for cell in cells:
        if cell.tree is not None:
            try:
                cell.statements = _statements(cell, coursekit_names)
            except (SyntaxError, RecursionError, MemoryError, ValueError):
                cell.tree, cell.error = None, "a statement too deeply nested to analyse"
        if cell.tree is None:
            for name, line in _guess_bindings(cell.source).items():
                guessed.setdefault(name, []).append((cell, line))
            continue
        for statement in cell.statements:
            for name in sorted(statement.binds):
                bindings.setdefault(name, []).append(statement)
            if statement.star and not cell.exercise:
                stars.append(statement)
    return _Notebook(path.name, cells, bindings, guessed, stars)


# --- one exercise ---------------------------------------------------------------------------------------------------

def _last_around(items: list[_T], position: tuple[int, int], where: Callable[[_T], tuple[int, int]]) -> _T | None:
    """The last of ``items`` before ``position`` in notebook order, else the last after it (``where`` gives an item's
    position; an item at ``position`` itself is skipped)."""
    before = [item for item in items if where(item) < position]
    if before:
        return before[-1]
    after = [item for item in items if where(item) > position]
    return after[-1] if after else None


def _short(source: str) -> str:
    text = " ".join(source.split()).replace("`", "'")
    return text if len(text) <= _SHORT else text[:_SHORT - 3].rstrip() + "..."


def _first_use(statement: _Statement, name: str) -> int:
    """The line of a cell where a statement first reads ``name``."""
    lines = [item.lineno for item in ast.walk(statement.node) if isinstance(item, ast.Name) and item.id == name]
    return min(lines, default=statement.start[0])


def _order(priority: dict[tuple[int, int], tuple], hard: set[tuple], soft: list[tuple]) -> list[tuple[int, int]]:
    """Keys in an order that respects ``hard`` edges (before, after), and ``soft`` ones where they make no cycle;
    ties go by ``priority``. Within a cycle of hard edges, priority alone decides."""
    successors: dict = {key: set() for key in priority}
    for before, after in sorted(hard):
        if before != after:
            successors[before].add(after)

    def reaches(source, target) -> bool:
        seen, stack = {source}, [source]
        while stack:
            for item in successors[stack.pop()]:
                if item == target:
                    return True
                if item not in seen:
                    seen.add(item)
                    stack.append(item)
        return False

    in_cycles = [(before, after) for before in sorted(successors) for after in sorted(successors[before])
                 if reaches(after, before)]
    for before, after in in_cycles:  # within a cycle, priority decides
        successors[before].discard(after)
    for before, after in soft:
        if before != after and after not in successors[before] and not reaches(after, before):
            successors[before].add(after)
    waiting = dict.fromkeys(priority, 0)
    for key in priority:
        for item in successors[key]:
            waiting[item] += 1
    ready = [(priority[key], key) for key in priority if not waiting[key]]
    heapq.heapify(ready)
    done: list = []
    while ready:
        _, key = heapq.heappop(ready)
        done.append(key)
        for item in successors[key]:
            waiting[item] -= 1
            if not waiting[item]:
                heapq.heappush(ready, (priority[item], item))
    return done


def _program(nb: _Notebook, cell: _Cell, name: str) -> ExerciseProgram:
    """The units that define exercise ``name`` of exercise cell ``cell``, and what it needs from other cells."""
    here = (cell.number, -1)  # the exercise cell, whole, as one unit
    own_binds = frozenset().union(*(statement.binds for statement in cell.statements))
    at_once: dict[str, _Statement] = {}  # what the cell reads while it runs, before binding it, and where
    bound: set[str] = set()
    for statement in cell.statements:
        for needed in sorted(statement.module_needs - bound):
            at_once.setdefault(needed, statement)
        bound |= statement.binds
    later = frozenset().union(*(statement.call_needs for statement in cell.statements)) - own_binds

    included: dict[tuple[int, int], _Statement] = {}
    reason: dict[tuple[int, int], str] = {}  # why a statement was brought in: the first needed name it binds
    hard: set[tuple] = set()
    final: dict[str, tuple[int, int]] = {}  # for names read at call time: the binding that must win
    problems: dict[str, tuple[str, int]] = {}  # name -> (sentence, cell number)
    queue: deque[tuple[tuple[int, int], list[str], list[str]]] = deque([(here, sorted(at_once), sorted(later))])

    def candidates(needed: str, exclude_here: bool) -> list[_Statement]:
        found = nb.bindings.get(needed, [])
        return [s for s in found if s.cell is not cell] if exclude_here else found

    def user_text(user: tuple[int, int], needed: str) -> str:
        if user == here:
            statement = at_once.get(needed)
            if statement is not None and not isinstance(statement.node, _DEFINITIONS):
                return f" at the top level of its cell (line {_first_use(statement, needed)})"
            return ""
        return f" (through '{reason[user]}', cell {user[0]})"

    def advice(user: tuple[int, int], needed: str) -> str:
        if user_text(user, needed).startswith(" at the top level"):
            return (f"Move the code that uses '{needed}' out of the exercise cell, which should only define the "
                    "exercise.")
        return ("Define what the exercise needs inside the exercise cell, or in a cell of its own that does no "
                "training or data loading.")

    def resolve(needed: str, user: tuple[int, int], immediate: bool) -> None:
        if not immediate and needed in own_binds:
            return
        position = user if immediate else here
        chosen = _last_around(candidates(needed, position == here), position, lambda s: s.position)
        if chosen is None:
            if nb.bindings.get(needed):  # bound only later in the exercise cell itself: Python will say so
                return
            broken = _last_around(nb.guessed.get(needed, []), position, lambda item: (item[0].number, 0))
            if broken is not None:
                broken_cell, line = broken
                problems.setdefault(needed, (
                    f"exercise '{name}' needs '{needed}'{user_text(user, needed)}, which only cell {broken_cell.number}"
                    f" binds (line {line}), and cell {broken_cell.number} has {broken_cell.error}. Fix that cell, or "
                    f"define '{needed}' inside the exercise cell.", broken_cell.number))
                return
            for star in nb.stars:  # the name may come from a `from x import *`
                bring(star, needed)
                if immediate:
                    hard.add((star.position, user))
            return
        if chosen.cell is cell:
            target = here
        elif chosen.cost:
            problems.setdefault(needed, (
                f"exercise '{name}' needs '{needed}'{user_text(user, needed)}, which cell {chosen.cell.number} binds "
                f"on line {chosen.start[0]} (`{_short(chosen.source)}`), "
                f"{chosen.cost}; graded code gets only imports, definitions and constants from other cells. "
                f"{advice(user, needed)}", chosen.cell.number))
            return
        else:
            bring(chosen, needed)
            target = chosen.position
        if immediate:
            hard.add((target, user))
        else:
            final.setdefault(needed, target)

    def bring(statement: _Statement, because: str) -> None:
        if statement.position not in included:
            included[statement.position] = statement
            reason[statement.position] = because
            queue.append((statement.position, sorted(statement.module_needs), sorted(statement.call_needs)))

    while queue:
        user, now, when_called = queue.popleft()
        for needed in now:
            resolve(needed, user, True)
        for needed in when_called:
            resolve(needed, user, False)

    priority = {here: (1, 0, 0), **{key: (0, *key) for key in included}}
    binds = {here: own_binds, **{key: statement.binds for key, statement in included.items()}}
    soft = [(key, target) for needed, target in sorted(final.items()) for key in sorted(binds)
            if key != target and needed in binds[key]]
    soft += [(key, here) for key in sorted(included) if binds[key] & own_binds]
    units = _units(nb, cell, [included.get(key) for key in _order(priority, hard, soft)])
    problem = ""
    if problems:  # the first in notebook order in full, then the others by name and cell
        (_, (problem, _)), *others = sorted(problems.items(), key=lambda item: (item[1][1], item[0]))
        if others:
            problem += " The same goes for " + ", ".join(
                f"'{needed}' (cell {number})" for needed, (_, number) in others) + "."
    return ExerciseProgram(name, units, problem)


def _units(nb: _Notebook, cell: _Cell, ordered: list[_Statement | None]) -> list[Unit]:
    """Units in order; ``None`` stands for the exercise cell, whole. Statements that follow each other both in their
    cell and in the order run as one unit."""
    groups: list[list[_Statement] | None] = []
    for statement in ordered:
        group = groups[-1] if groups else None
        if statement is not None and group and group[-1].cell is statement.cell and (
                group[-1].index + 1 == statement.index):
            group.append(statement)
        else:
            groups.append(None if statement is None else [statement])
    units = []
    for group in groups:
        if group is None:
            binds = frozenset().union(*(statement.binds for statement in cell.statements))
            units.append(Unit(cell.source, f"{nb.name} (cell {cell.number})", 1, sorted(binds)))
            continue
        first, last = group[0], group[-1]
        source = first.source if len(group) == 1 else _segment(first.cell.source.split("\n"), first.start, last.end)
        units.append(Unit(source, f"{nb.name} (cell {first.cell.number})", first.start[0],
                          sorted(frozenset().union(*(statement.binds for statement in group)))))
    return units


def exercise_programs(path: str | Path) -> dict[str, ExerciseProgram]:
    """For each exercise of a notebook (a top-level function or class of a cell tagged ``exercise``), what to run to
    define it. When two exercise cells define the same name, the later one counts, as with "Run all".
    NotebookError when the file is not a notebook."""
    nb = _read_notebook(Path(path))
    winners: dict[str, _Cell] = {}
    for cell in nb.cells:
        if not cell.exercise:
            continue
        if cell.tree is None:
            names = _DEFINES.findall(cell.source)
        else:
            names = [node.name for node in cell.tree.body if isinstance(node, _DEFINITIONS)]
        for name in names:
            winners.pop(name, None)  # keep notebook order of the winning cells
            winners[name] = cell
    programs: dict[str, ExerciseProgram] = {}
    for name, cell in sorted(winners.items(), key=lambda item: item[1].number):
        if cell.tree is None:
            programs[name] = ExerciseProgram(name, [], f"the exercise cell for {name} has {cell.error}")
        else:
            programs[name] = _program(nb, cell, name)
    return programs
