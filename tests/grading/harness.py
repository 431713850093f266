"""The grading harness: load a submission safely, call it with a time limit, and inspect the graph it builds.

Graders (``test_lessonNN.py``) are pytest tests marked with ``@graded(exercise, points)``. They take the
``submission`` fixture (a :class:`Submission`) and fail with :class:`GradeFailure`, whose message is the feedback
a student reads, so it says what was expected, what was found and, where it helps, what to change.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import signal
import threading
import traceback
import types
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import keras
import numpy as np
import pytest

from grading.notebook_submission import NotebookError, read_exercise_cells

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

DEFAULT_CALL_TIMEOUT = 120.0


class GradeFailure(AssertionError):
    """A check did not pass. The message is the feedback for the student."""


class SubmissionTimeout(BaseException):
    """Raised inside submitted code that runs past its time limit (BaseException: a bare except can't eat it)."""


def graded(exercise: str, points: float, hidden: bool = False) -> Callable:
    """Mark a grader test: which exercise it belongs to, how many points it is worth, and whether it is hidden
    (a hidden test is left out of the student edition; teachers' grading runs it)."""

    def mark(fn: Callable) -> Callable:
        fn.exercise, fn.points, fn.hidden = exercise, points, hidden
        fn = pytest.mark.points(points)(fn)
        if hidden:
            fn = pytest.mark.hidden(fn)
        return pytest.mark.exercise(exercise)(fn)

    return mark


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (Unix main thread; elsewhere the block runs unbounded)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise SubmissionTimeout(what)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _BoundedSink(io.TextIOBase):
    """Where submitted code's prints go while it runs: the first few kilobytes are kept, the rest is dropped."""

    def __init__(self, limit: int = 8192):
        self.limit, self.kept = limit, []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < self.limit:
            self.kept.append(text[: self.limit - self.size])
        self.size += len(text)
        return len(text)


@contextlib.contextmanager
def memory_budget() -> Iterator[None]:
    """In classroom grading (COURSE_MEMORY_BUDGET_MB set), cap the address space the submitted code may add."""
    budget = os.environ.get("COURSE_MEMORY_BUDGET_MB")
    if not budget or resource is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * resource.getpagesize()
    limit = current + int(budget) * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def guarded(seconds: float | None, what: str) -> Iterator[None]:
    """Run submitted code: a time limit, a memory budget, and its printed output kept small."""
    sink = _BoundedSink()
    with time_limit(seconds, what), memory_budget(), contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(sink):
        yield


def _where(error: BaseException, filename: str) -> str:
    """' (line N of lesson01.py)' for the deepest frame of the submission in the traceback, if any."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).name.startswith(filename)]
    return f" (line {frames[-1].lineno} of {Path(frames[-1].filename).name})" if frames else ""


def _short(error: BaseException, limit: int = 300) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return first if len(first) <= limit else first[:limit] + "…"


class Submission:
    """One lesson module of a submission: ``lesson01.py`` from the submission folder, or a module object."""

    def __init__(self, lesson: str, module: types.ModuleType | None = None, problem: str = "",
                 filename: str = "", call_timeout: float = DEFAULT_CALL_TIMEOUT,
                 cell_problems: dict[str, str] | None = None):
        self.lesson, self.module, self.problem = lesson, module, problem
        self.filename = filename or f"{lesson}.py"
        self.call_timeout = call_timeout
        self.cell_problems = cell_problems or {}  # exercise name -> why its notebook cell could not be used

    @classmethod
    def load(cls, location: Path, lesson: str, call_timeout: float = DEFAULT_CALL_TIMEOUT) -> "Submission":
        """Load ``lessonNN.py`` from a folder, else the lesson's notebook (``NN_*.ipynb``) from the folder, or
        ``location`` itself when it is that notebook."""
        location = Path(location)
        number = lesson[-2:]
        if location.is_file() and location.suffix == ".ipynb":
            if location.name.startswith(number) or not location.name[:2].isdigit():  # e.g. "ada.ipynb"
                return cls.load_notebook(location, lesson, call_timeout)
            return cls(lesson, problem=f"the submitted notebook {location.name} is not lesson {number}'s",
                       call_timeout=call_timeout)
        path = location / f"{lesson}.py"
        notebooks = sorted(location.glob(f"{number}_*.ipynb")) if location.is_dir() else []
        if not path.is_file() and notebooks:
            return cls.load_notebook(notebooks[0], lesson, call_timeout)
        if not path.is_file():
            return cls(lesson, problem=f"neither {path.name} nor a notebook {number}_*.ipynb was found in the "
                                       f"submission folder {location}", call_timeout=call_timeout)
        name = f"submission_{lesson}_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        try:
            with guarded(call_timeout, f"importing {path.name}"):
                spec.loader.exec_module(module)
        except SyntaxError as error:
            return cls(lesson, problem=f"{path.name} has a syntax error on line {error.lineno}: {error.msg}",
                       call_timeout=call_timeout)
        except SubmissionTimeout:
            return cls(lesson, problem=f"importing {path.name} did not finish within {call_timeout:g} s "
                                       "(is there an endless loop or a long training run at the top level?)",
                       call_timeout=call_timeout)
        except BaseException as error:  # noqa: BLE001 - SystemExit, KeyboardInterrupt in student code too
            return cls(lesson, problem=f"importing {path.name} raised {_short(error)}{_where(error, path.name)}",
                       call_timeout=call_timeout)
        return cls(lesson, module=module, filename=path.name, call_timeout=call_timeout)

    @classmethod
    def load_notebook(cls, path: Path, lesson: str, call_timeout: float = DEFAULT_CALL_TIMEOUT) -> "Submission":
        """A submission from a student's notebook: its exercise cells (tagged ``exercise``) are run in a fresh
        module, after the import statements of its other cells. A cell that cannot be used costs only the
        exercises it defines."""
        try:
            imports, cells = read_exercise_cells(path)
        except NotebookError as error:
            return cls(lesson, problem=str(error), call_timeout=call_timeout)
        module = types.ModuleType(f"submission_{lesson}_notebook")
        module.__file__ = str(path)
        for statement in imports:  # e.g. "import keras", "from keras import layers"; a failing one is skipped
            try:
                with guarded(call_timeout, "an import of the notebook"):
                    exec(compile(statement, f"{path.name} (imports)", "exec"), module.__dict__)
            except BaseException:  # noqa: BLE001 - an exercise that needs it will say what is missing
                pass
        problems: dict[str, str] = {}
        for cell in cells:
            if cell.problem:
                problems.update({name: cell.problem for name in cell.names or [cell.name]})
                continue
            try:
                with guarded(call_timeout, f"the exercise cell for {cell.name}"):
                    exec(compile(cell.source, cell.filename, "exec"), module.__dict__)
            except SubmissionTimeout:
                for name in cell.names:
                    problems[name] = f"running the exercise cell for {name} did not finish within {call_timeout:g} s"
            except BaseException as error:  # noqa: BLE001
                for name in cell.names:
                    problems[name] = (f"running the exercise cell for {name} raised {_short(error)}"
                                      f"{_where(error, path.name)}")
        return cls(lesson, module=module, filename=path.name, call_timeout=call_timeout, cell_problems=problems)

    @classmethod
    def from_objects(cls, lesson: str, **objects: Any) -> "Submission":
        """A submission made of the given functions and classes (the graders' own tests use this)."""
        module = types.ModuleType(f"fake_{lesson}")
        module.__dict__.update(objects)
        return cls(lesson, module=module)

    def get(self, name: str) -> Any:
        if self.module is None:
            raise GradeFailure(f"not graded: {self.problem}.")
        if name in self.cell_problems:
            raise GradeFailure(f"not graded: {self.cell_problems[name]}.")
        if not hasattr(self.module, name):
            if self.filename.endswith(".ipynb"):
                raise GradeFailure(f"{self.filename} has no exercise cell defining '{name}' (exercise cells carry "
                                   "the tag 'exercise': was the cell deleted, untagged or the name changed?).")
            raise GradeFailure(f"{self.filename} defines no '{name}': write the exercise's function or class "
                               f"with exactly that name.")
        return getattr(self.module, name)

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the submission's ``name`` with a time limit; any failure becomes readable feedback."""
        fn = self.get(name)
        if not callable(fn):
            raise GradeFailure(f"'{name}' in {self.filename} is a {type(fn).__name__}, not a function.")
        return self.run(name, fn, *args, **kwargs)

    def run(self, what: str, fn: Callable, /, *args: Any, **kwargs: Any) -> Any:
        """Run code that executes the student's code (``what`` names it in feedback), with the same protections:
        a time limit, and any exception turned into feedback that says where it came from."""
        try:
            with guarded(self.call_timeout, what):
                return fn(*args, **kwargs)
        except NotImplementedError:
            raise GradeFailure(f"{what} is not implemented yet (it raises NotImplementedError).") from None
        except MemoryError:
            raise GradeFailure(f"{what} ran out of memory (it asked for more than the grader allows).") from None
        except SubmissionTimeout:
            raise GradeFailure(f"{what} did not finish within {self.call_timeout:g} s "
                               "(an endless loop, or far more work than the exercise needs?).") from None
        except GradeFailure:
            raise
        except Exception as error:  # noqa: BLE001
            raise GradeFailure(f"{what} raised {_short(error)}{_where(error, self.filename)}.") from None

    def model(self, name: str, /, *args: Any, **kwargs: Any) -> keras.Model:
        """Call a builder and insist that it returned a Keras model."""
        result = self.call(name, *args, **kwargs)
        if not isinstance(result, keras.Model):
            hint = " (did you forget to return the model?)" if result is None else ""
            raise GradeFailure(f"{name} returned {type(result).__name__}, not a keras.Model{hint}.")
        return result


# ------------------------------------------------------------------------------------------------------------
# Reading a graph


def shape_str(shape: Iterable[Any]) -> str:
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def model_nodes(model: keras.Model, layer: Any) -> list[Any]:
    """The calls (nodes) of ``layer`` that are part of ``model``'s graph."""
    from keras.src.ops.function import make_node_key

    keys = getattr(model, "_nodes", set())
    return [node for i, node in enumerate(layer._inbound_nodes) if make_node_key(layer, i) in keys]


def parents(model: keras.Model, layer: Any) -> list[list[Any]]:
    """For each call of ``layer`` inside ``model``: the layers whose outputs it received."""
    return [[p.operation for p in node.parent_nodes] for node in model_nodes(model, layer)]


def producer(tensor: Any) -> Any:
    """The layer (operation) that produced a symbolic tensor."""
    return tensor._keras_history.operation


def activation_name(layer: Any) -> str:
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", str(act)) if act is not None else "linear"


def expect_inputs(model: keras.Model, expected: list[tuple[str, tuple, str]], exercise: str) -> None:
    """The model's inputs are exactly ``expected`` (name, shape with the batch dimension, dtype), in any order."""
    found = {t.name: t for t in model.inputs}
    if len(model.inputs) != len(expected):
        names = ", ".join(f"'{n}'" for n in found) or "none"
        raise GradeFailure(f"{exercise}: the model should have {len(expected)} input(s), it has "
                           f"{len(model.inputs)} ({names}).")
    for name, shape, dtype in expected:
        if name not in found:
            raise GradeFailure(f"{exercise}: no input named '{name}' (found {', '.join(repr(n) for n in found)}); "
                               f"name it with keras.Input(..., name='{name}').")
        tensor = found[name]
        if tuple(tensor.shape) != tuple(shape):
            raise GradeFailure(f"{exercise}: input '{name}' should have shape {shape_str(shape)} (batch first), "
                               f"it has {shape_str(tensor.shape)}.")
        if str(tensor.dtype) != dtype:
            raise GradeFailure(f"{exercise}: input '{name}' should have dtype {dtype}, it has {tensor.dtype}; "
                               f"pass dtype='{dtype}' to keras.Input.")


def expect_outputs(model: keras.Model, expected: list[tuple[str, tuple]], exercise: str) -> None:
    """The model's outputs are exactly ``expected`` (layer name, shape), in any order."""
    found = {producer(t).name: t for t in model.outputs}
    if len(model.outputs) != len(expected):
        raise GradeFailure(f"{exercise}: the model should have {len(expected)} output(s), it has "
                           f"{len(model.outputs)} ({', '.join(repr(n) for n in found)}).")
    for name, shape in expected:
        if name not in found:
            raise GradeFailure(f"{exercise}: no output named '{name}' (found {', '.join(repr(n) for n in found)}); "
                               f"give the output layer name='{name}'.")
        if tuple(found[name].shape) != tuple(shape):
            raise GradeFailure(f"{exercise}: output '{name}' should have shape {shape_str(shape)}, it has "
                               f"{shape_str(found[name].shape)}.")


PASS_THROUGH = ("Dropout", "InputLayer")
ACTIVATION_LAYERS = {"ReLU": "relu", "Softmax": "softmax"}


def dense_chain(model: keras.Model, output: Any = None) -> list[tuple[int, str]]:
    """Walk back from the output to the input through single-parent layers: the (units, activation) of each Dense.

    A Dense followed by an ``Activation``/``ReLU``/``Softmax`` layer counts as one Dense with that activation, and
    Dropout is skipped, so ``Dense(32, activation='relu')`` and ``Dense(32)`` + ``Activation('relu')`` read alike.
    Raises GradeFailure where the graph branches or holds a layer that is not part of a Dense stack.
    """
    layer = producer(output if output is not None else model.outputs[0])
    chain: list[tuple[int, str]] = []
    pending_activation: str | None = None
    while True:
        kind = type(layer).__name__
        if kind == "Dense":
            act = activation_name(layer)
            if pending_activation and act == "linear":
                act = pending_activation
            chain.append((layer.units, act))
            pending_activation = None
        elif kind == "Activation":
            pending_activation = activation_name(layer)
        elif kind in ACTIVATION_LAYERS:
            pending_activation = ACTIVATION_LAYERS[kind]
        elif kind not in PASS_THROUGH:
            raise GradeFailure(f"the stack should hold only Dense layers, but it contains '{layer.name}' ({kind}).")
        feeding = parents(model, layer)
        if kind == "InputLayer" or not feeding or not feeding[0]:
            break
        if len(feeding[0]) != 1:
            raise GradeFailure(f"'{layer.name}' receives {len(feeding[0])} tensors; a plain stack has one path.")
        layer = feeding[0][0]
    return list(reversed(chain))


def same_variables(a: Iterable[Any], b: Iterable[Any]) -> bool:
    """True when both collections hold the very same variable objects (shared weights, not copies)."""
    return {id(v) for v in a} == {id(v) for v in b}


def random_batch(shape: tuple, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(dtype)


def close(a: Any, b: Any, atol: float = 1e-5) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol))


def fresh_session() -> None:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def compiled_losses(model: keras.Model) -> dict[str, tuple[str, float]]:
    """What ``compile`` gave each output, read from the model: output name -> (loss function name, loss weight).

    Keras resolves ``loss``/``loss_weights`` (one value, a list in output order, or a dict keyed by output names)
    lazily, at the first training step; this resolves them the same way, on a tiny zero batch of the model's own
    shapes, and reads Keras' own per-output result. So a list and a dict that mean the same read alike, and what is
    read is what training would use. The name is the loss function's (``"mse"`` and ``MeanSquaredError()`` both
    read ``"mean_squared_error"``); a weight left out reads 1.0. Raises GradeFailure if the model is not compiled.
    """
    if not getattr(model, "compiled", False) or getattr(model, "_compile_loss", None) is None:
        raise GradeFailure("the model is not compiled with a loss: call model.compile(optimizer=..., loss=..., "
                           "loss_weights=...) before returning it.")
    compile_loss = model._compile_loss
    if not compile_loss.built:
        batch = [np.zeros((2,) + tuple(2 if d is None else d for d in t.shape[1:]), dtype=str(t.dtype))
                 for t in model.inputs]
        y_pred = model(batch if len(batch) > 1 else batch[0])
        y_true = keras.tree.map_structure(keras.ops.zeros_like, y_pred)
        try:
            compile_loss.build(y_true, y_pred)
        except (KeyError, ValueError, TypeError) as error:
            raise GradeFailure(f"Keras cannot match the compiled losses to the model's outputs ({_short(error)}); "
                               "give one loss per output, as a list in output order or a dict keyed by output "
                               "names.") from None
    found = {}
    for entry in compile_loss._flat_losses:
        fn = getattr(entry.loss, "fn", entry.loss)
        name = getattr(fn, "__name__", type(fn).__name__)
        found[entry.name] = (name, 1.0 if entry.loss_weights is None else float(entry.loss_weights))
    return found


__all__ = [
    "GradeFailure", "Submission", "graded", "time_limit", "shape_str", "model_nodes", "parents", "producer",
    "activation_name", "expect_inputs", "expect_outputs", "dense_chain", "same_variables", "random_batch",
    "close", "fresh_session",
]
