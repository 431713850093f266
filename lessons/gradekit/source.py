"""What the judge reads from a submission's *source*: parsed, never executed.

Two kinds of fact come from here rather than from the worker, because the worker runs the submission and anything
it says about the submitted code could be the submission's own invention:

- **The structure of an exercise class** (:func:`class_facts`): what it subclasses (``keras.layers.Layer`` itself,
  not a built-in layer such as ``Dense``; ``keras.Model``, not ``Sequential``), which methods it defines, whether
  ``build`` creates weights with ``self.add_weight`` and ``__init__`` creates none, whether ``__init__`` makes a
  functional model. Its behaviour is checked on outputs the judge computes itself (see the graders of lessons 01
  and 08); the class statement is read here.
- **References to the grading engine** (:func:`engine_references`): code that names ``gradekit``, or reaches for
  the interpreter's internals through which the engine can be found and changed (``sys.modules``, ``gc``'s object
  lists, frames, ``__import__`` and ``importlib``, ``exec``/``eval``/``compile``, ``__subclasses__``,
  ``__globals__``, ``ctypes``, ``inspect``). No exercise needs any of them. The exercise whose program contains one
  earns nothing, and the report flags it for the teacher with the reason.

Everything is bounded: the text's size, the number of syntax nodes and their nesting (a deeply nested expression
makes Python's own parser recurse), the length of a chain of local base classes.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field

MAX_CHARS = 2_000_000
MAX_NODES = 400_000
MAX_NESTING = 150  # brackets and blocks inside each other; CPython's parser gives up near 200
MAX_BASE_CHAIN = 20

KERAS_ROOTS = ("keras", "tensorflow", "tf_keras")


class SourceError(Exception):
    """The source cannot be read as Python within the bounds. The message is for the student."""


def _nesting(text: str) -> int:
    """The deepest bracket nesting of ``text`` (an upper bound that does not need the parser)."""
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth = max(0, depth - 1)
    return deepest


def parse(text: str, filename: str) -> ast.Module:
    """``text`` parsed, or SourceError: too long, nested too deeply, not Python."""
    if len(text) > MAX_CHARS:
        raise SourceError(f"{filename} is longer than {MAX_CHARS:,} characters")
    if _nesting(text) > MAX_NESTING:
        raise SourceError(f"{filename} nests brackets more than {MAX_NESTING} deep")
    limit = sys.getrecursionlimit()
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as error:
        raise SourceError(f"{filename} has a syntax error on line {error.lineno}: {error.msg}") from None
    except (RecursionError, MemoryError, ValueError) as error:
        raise SourceError(f"{filename} cannot be parsed ({type(error).__name__})") from None
    finally:
        sys.setrecursionlimit(limit)
    count = 0
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise SourceError(f"{filename} is too large to be read ({MAX_NODES:,} syntax nodes at most)")
        if depth > MAX_NESTING * 2:
            raise SourceError(f"{filename} nests code too deeply")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


def _walk(node: ast.AST):
    """``ast.walk`` without recursion (the tree was bounded by :func:`parse`)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(ast.iter_child_nodes(current))


# ------------------------------------------------------------------------------------------ engine references

# Names whose mere use reaches the engine or the interpreter's internals; no exercise needs them.
_MODULES = {"gradekit": "the grading engine (gradekit)", "gc": "the garbage collector's object lists (gc)",
            "importlib": "the import machinery (importlib)", "ctypes": "raw memory (ctypes)",
            "inspect": "the interpreter's frames (inspect)", "builtins": "the interpreter's builtins (builtins)",
            "_posixsubprocess": "process creation (_posixsubprocess)"}
_NAMES = {"__import__": "__import__", "exec": "exec()", "eval": "eval()", "compile": "compile()",
          "globals": "globals()", "__builtins__": "__builtins__", "breakpoint": "breakpoint()", "vars": "vars()"}
_ATTRIBUTES = {"modules": "sys.modules", "_getframe": "sys._getframe", "f_back": "frames (f_back)",
               "f_globals": "frames (f_globals)", "f_locals": "frames (f_locals)", "tb_frame": "frames (tb_frame)",
               "gi_frame": "frames (gi_frame)", "cr_frame": "frames (cr_frame)", "__globals__": "__globals__",
               "__subclasses__": "__subclasses__", "__code__": "__code__", "__closure__": "__closure__",
               "__builtins__": "__builtins__", "get_objects": "gc.get_objects", "get_referrers": "gc.get_referrers",
               "get_referents": "gc.get_referents", "__loader__": "__loader__", "__spec__": "__spec__",
               "addaudithook": "audit hooks", "settrace": "tracing", "setprofile": "profiling",
               "__dict__": "__dict__", "_posixsubprocess": "process creation (_posixsubprocess)",
               "_fork_exec": "process creation (_fork_exec)", "fork_exec": "process creation (fork_exec)"}


def engine_references(tree: ast.Module) -> list[str]:
    """What in the code refers to the grading engine or reaches the interpreter's internals, each once, as the
    teacher reads it: e.g. ["line 3: imports gc (the garbage collector's object lists (gc))"]."""
    found: dict[str, int] = {}

    def note(node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", 0)
        found[what] = min(found.get(what, line), line)

    # a string that is a statement of its own (a docstring) does nothing; one that is used may name the engine
    loose = {id(node.value) for node in _walk(tree)
             if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in _MODULES:
                    note(node, f"imports {_MODULES[root]}")
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            if root in _MODULES:
                note(node, f"imports {_MODULES[root]}")
            for alias in node.names:
                if alias.name in _ATTRIBUTES or alias.name in _NAMES:
                    note(node, f"imports {alias.name}")
        elif isinstance(node, ast.Name):
            if node.id in _MODULES:
                note(node, f"uses {_MODULES[node.id]}")
            elif node.id in _NAMES:
                note(node, f"uses {_NAMES[node.id]}")
        elif isinstance(node, ast.Attribute):
            if node.attr in _ATTRIBUTES:
                note(node, f"uses {_ATTRIBUTES[node.attr]}")
            elif node.attr in _MODULES:
                note(node, f"uses {_MODULES[node.attr]}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes) and id(node) not in loose:
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            lowered = text.lower()
            if "gradekit" in lowered:
                note(node, "names the grading engine (gradekit) in a string")
            for attribute in ("__globals__", "__subclasses__", "__builtins__", "__import__", "get_objects",
                              "f_back", "f_globals", "_getframe"):
                if attribute in text:
                    note(node, f"names {attribute} in a string")
    return [f"line {line}: {what}" for what, line in sorted(found.items(), key=lambda item: (item[1], item[0]))]


# ------------------------------------------------------------------------------------------ classes


@dataclass
class ClassFacts:
    """What a class statement says, read from the source."""

    name: str
    base: str = ""  # the first ancestor outside the source, as a dotted name resolved through imports
    local_bases: list[str] = field(default_factory=list)  # classes of the same source on the way, nearest first
    methods: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    problem: str = ""  # why the base cannot be told
    classes: dict[str, ast.ClassDef] = field(default_factory=dict, repr=False)  # the source's top-level classes

    def defines(self, method: str) -> bool:
        return method in self.methods

    def self_calls(self, method: str, names: tuple[str, ...]) -> list[ast.Call]:
        """Calls ``self.<one of names>(...)`` in ``method`` (nested functions included)."""
        fn = self.methods.get(method)
        if fn is None:
            return []
        found = []
        for node in _walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                found.append(node)
        return found

    def _callees(self, fn: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        """Methods of the source's classes that ``fn`` calls: ``self.m(...)``, ``super().m(...)`` or
        ``LocalClass.m(self, ...)``."""
        found = []
        for node in _walk(fn):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner, method = node.func.value, node.func.attr
            if isinstance(owner, ast.Name) and owner.id == "self" and method in self.methods:
                found.append(self.methods[method])
            elif isinstance(owner, ast.Name) and owner.id in self.classes:
                found += [item for item in self.classes[owner.id].body
                          if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == method]
            elif isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                chain = [self.name, *self.local_bases]
                home = next((k for k, c in enumerate(chain) if any(item is fn for item in self.classes[c].body)),
                            len(chain))
                for base in chain[home + 1:]:  # the parent's method, as super() finds it from fn's class
                    hits = [item for item in self.classes[base].body
                            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == method]
                    if hits:
                        found += hits[:1]
                        break
        return found

    def reachable_calls(self, method: str, names: tuple[str, ...]) -> list[ast.Call]:
        """Calls ``self.<one of names>(...)`` made by ``method`` or by the methods of the source it calls (a
        ``build`` that hands the work to a helper, or to a base class's ``build``)."""
        start = self.methods.get(method)
        if start is None:
            return []
        todo, seen, calls = [start], set(), []
        while todo and len(seen) < 200:
            fn = todo.pop()
            if id(fn) in seen:
                continue
            seen.add(id(fn))
            for node in _walk(fn):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names \
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "self":
                    calls.append(node)
            todo += self._callees(fn)
        return calls

    def super_init_calls(self) -> list[ast.Call]:
        """The calls of the parent's ``__init__`` in ``__init__``: ``super().__init__(...)``,
        ``super(C, self).__init__(...)`` or ``Base.__init__(self, ...)`` (then without ``self``)."""
        fn = self.methods.get("__init__")
        if fn is None:
            return []
        calls = []
        for node in _walk(fn):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "__init__"):
                continue
            target = node.func.value
            if isinstance(target, ast.Call) and isinstance(target.func, ast.Name) and target.func.id == "super":
                calls.append(node)
            elif node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == "self":
                calls.append(ast.Call(func=node.func, args=node.args[1:], keywords=node.keywords))
        return calls

    @property
    def base_kind(self) -> str:
        """The base's last name ('Layer', 'Dense', 'Model', 'Sequential', ...) when it is Keras', else ''."""
        parts = self.base.split(".")
        return parts[-1] if parts and parts[0] in KERAS_ROOTS else ""


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted origin, from the module's imports (``import keras as K`` -> K: keras)."""
    names: dict[str, str] = {}
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    names[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(expr: ast.expr) -> str:
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return ""
    parts.append(expr.id)
    return ".".join(reversed(parts))


def _resolve(dotted: str, imports: dict[str, str]) -> str:
    head, _, rest = dotted.partition(".")
    origin = imports.get(head)
    if origin is None:
        return dotted
    return f"{origin}.{rest}" if rest else origin


def _top_level(tree: ast.Module) -> tuple[dict[str, ast.ClassDef], dict[str, str]]:
    """The module's classes (the last definition of each name wins, as when the file runs) and simple aliases
    (``SimpleDense = MyDense``)."""
    classes: dict[str, ast.ClassDef] = {}
    aliases: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = node
            aliases.pop(node.name, None)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _dotted(node.value)
            if value:
                aliases[node.targets[0].id] = value
                classes.pop(node.targets[0].id, None)
    return classes, aliases


def class_facts(tree: ast.Module, name: str) -> ClassFacts | None:
    """The facts of the class ``name`` defined at the top level of ``tree`` (following simple aliases and base
    classes defined in the same source); None when the source defines no class of that name."""
    classes, aliases = _top_level(tree)
    imports = _imports(tree)
    seen = 0
    while name not in classes and name in aliases and seen < MAX_BASE_CHAIN:
        name, seen = aliases[name], seen + 1
    if name not in classes:
        return None
    facts = ClassFacts(name, classes=classes)
    node: ast.ClassDef | None = classes[name]
    visited: set[str] = set()
    while node is not None:
        if node.name in visited or len(visited) >= MAX_BASE_CHAIN:
            facts.problem = f"the chain of base classes of {name} is a loop or too long"
            return facts
        visited.add(node.name)
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                facts.methods.setdefault(item.name, item)
        bases = [b for b in node.bases if not (isinstance(b, ast.Name) and b.id == "object")]
        if len(bases) != 1:
            if not bases:
                facts.problem = f"{node.name} subclasses nothing"
            else:
                facts.problem = f"{node.name} has {len(bases)} base classes; give it one"
            return facts
        dotted = _dotted(bases[0])
        if not dotted:
            facts.problem = f"the base class of {node.name} is not a plain name"
            return facts
        while dotted in aliases and dotted not in classes and len(visited) < MAX_BASE_CHAIN:
            visited.add(dotted)
            dotted = aliases[dotted]
        if dotted in classes and dotted not in imports:
            facts.local_bases.append(dotted)
            node = classes[dotted]
            continue
        head, _, rest = dotted.partition(".")
        hops = 0
        while head in aliases and head not in imports and hops < MAX_BASE_CHAIN:  # L = keras.layers; L.Layer
            hops += 1
            head, _, more = aliases[head].partition(".")
            rest = ".".join(p for p in (more, rest) if p)
        facts.base = _resolve(".".join(p for p in (head, rest) if p), imports)
        node = None
    return facts


def describe_base(facts: ClassFacts) -> str:
    """'keras.layers.Dense', or through local classes 'MyBase, which subclasses keras.layers.Dense'."""
    if facts.local_bases:
        return f"{facts.local_bases[0]} (which subclasses {facts.base or '?'})"
    return facts.base or "?"
