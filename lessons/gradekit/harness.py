"""The judge's side of grading: graders ask the submission for answers, and read the graphs they get back.

Graders (``tests/grading/test_lessonNN.py``) are pytest tests marked ``@graded(exercise, points)``. They take the
``submission`` fixture (a :class:`Submission`) and fail with :class:`GradeFailure`, whose message is the feedback
a student reads: what was expected, what was found and, where it helps, what to change.

A :class:`Submission` never runs the student's code in this process. ``submission.call(name, *args)`` sends the
arguments to a worker (:mod:`gradekit.worker`, a confined process of its own, or the same engine in-process for
the graders' own tests) and rebuilds the answer from evidence (:mod:`gradekit.evidence`): models come back as
graphs of Keras' built-in layers with their weights, objects the grader handed in come back as the grader's very
objects. Everything a grader then checks, it checks here, on what it rebuilt.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from gradekit import evidence
from gradekit.worker import Engine, kill_group, short, time_limit, write_frame

DEFAULT_CALL_TIMEOUT = 30.0
DEFAULT_MEMORY_MB = 4096
ENGINE_PACKAGES = ("gradekit", "coursekit")
LESSONS_DIR = Path(__file__).resolve().parents[1]


class GradeFailure(AssertionError):
    """A check did not pass. The message is the feedback for the student."""


class JudgeTimeout(BaseException):
    """The judge's own work on an answer (rebuilding, checking) ran past its limit."""


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


def judge_limit(seconds: float, what: str) -> contextlib.AbstractContextManager:
    """Bound the judge's own work on an answer (a huge graph must not stall grading)."""
    return time_limit(seconds, what, JudgeTimeout)


# ------------------------------------------------------------------------------------------------ transports


class WorkerDied(Exception):
    """The worker process stopped, or did not answer in time, while answering a request."""


class LocalTransport:
    """The engine in this process: for the graders' own tests, whose submissions are the tests' own code."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def request(self, message: bytes, deadline: float) -> bytes:
        return self.engine.handle(message)

    def close(self) -> None:
        pass


class WorkerProcess:
    """A confined worker process for one submission, started on first use and again after it dies.

    Its folder holds three things only: ``engine/`` (copies of ``gradekit`` and ``coursekit``), ``submission/``
    (a copy of the submission) and ``scratch/`` (its working folder, the only place it may write).
    """

    def __init__(self, location: Path, call_timeout: float = DEFAULT_CALL_TIMEOUT,
                 memory_mb: int = DEFAULT_MEMORY_MB):
        self.location, self.call_timeout, self.memory_mb = Path(location), call_timeout, memory_mb
        self.folder = Path(tempfile.mkdtemp(prefix="grading-worker-"))
        engine = self.folder / "engine"
        for package in ENGINE_PACKAGES:
            shutil.copytree(LESSONS_DIR / package, engine / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "templates"))
        target = self.folder / "submission"
        if self.location.is_dir():
            shutil.copytree(self.location, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))
            self.submission = target
        elif self.location.is_file():
            target.mkdir()
            shutil.copy2(self.location, target / self.location.name)
            self.submission = target / self.location.name
        else:
            target.mkdir()
            self.submission = target / self.location.name
        self.proc: subprocess.Popen | None = None
        self.ready = False
        self.sandbox = ""
        self.starts = 0

    def prestart(self) -> None:
        """Start the process now without waiting for it (it imports Keras while the judge gets ready)."""
        if self.proc is None:
            self._spawn()

    def _start(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._spawn()
        ready = self._read(time.monotonic() + 180)
        document, _ = evidence.decode(ready)
        if not (isinstance(document, dict) and document.get("ready")):
            raise WorkerDied("the worker did not start")
        self.sandbox = str(document.get("sandbox", ""))
        self.ready = True

    def _spawn(self) -> None:
        self.ready = False
        scratch = self.folder / "scratch"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        # the judge's backend (KERAS_BACKEND) and its settings: the worker computes what the judge would
        keep = ("PATH", "LANG", "LC_ALL", "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
                "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "JAX_PLATFORMS", "XLA_FLAGS",
                "COURSE_WORKER_LOG")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update({"PYTHONPATH": str(self.folder / "engine"), "HOME": str(scratch), "TMPDIR": str(scratch),
                    "MPLCONFIGDIR": str(scratch), "KERAS_HOME": str(scratch / ".keras"),
                    "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": env.get("TF_CPP_MIN_LOG_LEVEL", "3")})
        env.setdefault("KERAS_BACKEND", "tensorflow")
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "gradekit.worker", str(self.submission), f"{self.call_timeout:g}",
             str(self.memory_mb)], cwd=scratch, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log(), start_new_session=True)
        self.starts += 1

    def _log(self) -> Any:
        """Where the worker's own error output goes: a file in its folder when COURSE_WORKER_LOG is set (for
        debugging the engine), else nowhere."""
        if os.environ.get("COURSE_WORKER_LOG"):
            return open(self.folder / f"worker-{self.starts}.log", "wb")
        return subprocess.DEVNULL

    def _read(self, deadline: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        chunks: list[bytes] = []
        need, header = 8, True
        size = have = 0
        while True:
            if have >= need:
                data = b"".join(chunks)
                if header:
                    size = int.from_bytes(data[:8], "big")
                    if size > 2**31:
                        self.kill()
                        raise WorkerDied("its answer was far too large")
                    chunks, need, header = [data[8:]], size, False
                    have = len(chunks[0])
                    continue
                return data[:size]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerDied("timeout")
            ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    code = self.proc.wait()
                    self.proc = None
                    reason = (f"killed by signal {-code}" + (" — out of memory?" if -code in (6, 9) else "")
                              if code < 0 else f"exit status {code}")
                    raise WorkerDied(reason)
                chunks.append(chunk)
                have += len(chunk)

    def request(self, message: bytes, deadline: float) -> bytes:
        if self.proc is None or self.proc.poll() is not None or not self.ready:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            write_frame(self.proc.stdin.fileno(), message)
        except (BrokenPipeError, OSError):
            self.kill()
            raise WorkerDied("it stopped before the request reached it") from None
        return self._read(deadline)

    def kill(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None
        self.ready = False

    def close(self) -> None:
        self.kill()
        if not os.environ.get("COURSE_WORKER_LOG"):
            shutil.rmtree(self.folder, ignore_errors=True)


_WORKERS: dict[tuple, WorkerProcess] = {}


def worker_for(location: Path, call_timeout: float, memory_mb: int = DEFAULT_MEMORY_MB) -> WorkerProcess:
    """One worker per submission (and settings) for the whole grading run."""
    key = (str(Path(location).resolve()), call_timeout, memory_mb)
    if key not in _WORKERS:
        _WORKERS[key] = WorkerProcess(location, call_timeout, memory_mb)
    return _WORKERS[key]


@atexit.register
def close_workers() -> None:
    for worker in _WORKERS.values():
        worker.close()
    _WORKERS.clear()


# ------------------------------------------------------------------------------------------------ submissions

_KIND_MESSAGES = {
    "not_implemented": "{what} is not implemented yet (it raises NotImplementedError).",
    "memory": "{what} ran out of memory (it asked for more than the grader allows).",
    "timeout": "{what} did not finish within {timeout} s (an endless loop, or far more work than the exercise "
               "needs?).",
    "exception": "{what} raised {detail}.",
    "missing": "{detail} defines no '{name}': write the exercise's function or class with exactly that name.",
    "missing_cell": "{detail} has no exercise cell defining '{name}' (exercise cells carry the tag 'exercise': was "
                    "the cell deleted, untagged or the name changed?).",
    "unusable": "not graded: {detail}.",
    "not_callable": "'{name}' in the submission is a {detail}, not a function.",
    "unreadable": "{what} returned something the grader cannot read: {detail}.",
    "evidence": "the grader could not read the answer to {what}: {detail}.",
    "crash": "the worker failed while running {what} ({detail}).",
}


class Submission:
    """One lesson of a submission, as the judge sees it: exercises it can call through a worker."""

    def __init__(self, lesson: str, transport: Any, call_timeout: float = DEFAULT_CALL_TIMEOUT):
        self.lesson, self.transport, self.call_timeout = lesson, transport, call_timeout
        self._answers: dict[str, bytes] = {}
        self.memo: dict[str, Any] = {}  # graders may keep what they drew or observed once per submission here
        self._stopped: dict[str, str] = {}  # exercise -> why its calls fail at once (a timeout, a dead worker)

    @classmethod
    def load(cls, location: Path, lesson: str, call_timeout: float = DEFAULT_CALL_TIMEOUT,
             memory_mb: int = DEFAULT_MEMORY_MB) -> Submission:
        """The lesson ``lesson`` of the submission at ``location`` (a folder of ``lessonNN.py`` modules or
        ``NN_*.ipynb`` notebooks, or one notebook), graded through a confined worker process."""
        return cls(lesson, worker_for(Path(location), call_timeout, memory_mb), call_timeout)

    @classmethod
    def from_objects(cls, lesson: str, call_timeout: float = DEFAULT_CALL_TIMEOUT, **objects: Any) -> Submission:
        """A submission made of the given functions and classes, answered in-process through the same evidence
        round trip (the graders' own tests use this)."""
        return cls(lesson, LocalTransport(Engine(timeout=call_timeout, objects={lesson: objects})), call_timeout)

    # --------------------------------------------------------------------------------------------------------
    def _ask(self, op: str, name: str, args: tuple, kwargs: dict, what: str, probe: str = "") -> Any:
        if name in self._stopped:
            raise GradeFailure(self._stopped[name])
        given = evidence.given_objects(list(args), dict(kwargs))
        document, arrays = evidence.pack((list(args), dict(kwargs)))
        document.update({"op": op, "lesson": self.lesson, "name": name, "timeout": self.call_timeout,
                         "probe": probe})
        message = evidence.encode(document, arrays)
        key = hashlib.sha256(message).hexdigest()
        answer = self._answers.get(key)
        if answer is None:
            try:
                answer = self.transport.request(message, time.monotonic() + self.call_timeout * 4 + 30)
            except WorkerDied as died:
                reason = str(died)
                if reason == "timeout":
                    text = _KIND_MESSAGES["timeout"].format(what=what, timeout=f"{self.call_timeout:g}")
                else:
                    text = (f"the worker process stopped while running {what} ({reason}); it is restarted for the "
                            "other tests.")
                self._stopped[name] = text
                raise GradeFailure(text) from None
            self._answers[key] = answer
        try:
            with judge_limit(max(60.0, self.call_timeout), f"rebuilding the answer to {what}"):
                reply, out = evidence.decode(answer)
                if not isinstance(reply, dict):
                    raise evidence.EvidenceError("the worker's answer is not evidence")
                if not reply.get("ok"):
                    kind = str(reply.get("kind", "crash"))
                    detail = str(reply.get("detail", ""))[:1000]
                    template = _KIND_MESSAGES.get(kind, _KIND_MESSAGES["crash"])
                    text = template.format(what=what, name=name, detail=detail,
                                           timeout=detail or f"{self.call_timeout:g}")
                    if kind in ("timeout", "memory"):  # the other calls would only wait for the same end
                        self._stopped[name] = text
                    raise GradeFailure(text)
                return evidence.unpack(reply, out, given)
        except evidence.EvidenceError as error:
            raise GradeFailure(f"{name}: the grader cannot rebuild what it returned: {error}.") from None
        except JudgeTimeout:
            raise GradeFailure(f"{name}: rebuilding what it returned took too long (is the model far too "
                               "large?).") from None

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the submission's ``name`` in the worker; its answer, rebuilt here. Any failure becomes feedback."""
        return self._ask("call", name, args, kwargs, name)

    def probe(self, name: str, probe: str, /, *args: Any, **kwargs: Any) -> dict:
        """Run the worker's fixed ``probe`` (:mod:`gradekit.probes`) on the exercise ``name``; its observations."""
        return self._ask("probe", name, args, kwargs, name, probe=probe)

    def run(self, what: str, fn: Callable, /, *args: Any, **kwargs: Any) -> Any:
        """Run the judge's own work on an answer (training a rebuilt model, say); a failure becomes feedback."""
        try:
            with judge_limit(max(120.0, self.call_timeout * 2), what):
                return fn(*args, **kwargs)
        except GradeFailure:
            raise
        except MemoryError:
            raise GradeFailure(f"{what} ran out of memory.") from None
        except JudgeTimeout:
            raise GradeFailure(f"{what} did not finish in time (is the model far too large?).") from None
        except Exception as error:  # noqa: BLE001
            text = f"{type(error).__name__}: {error}".strip().splitlines()[0][:300]
            raise GradeFailure(f"{what} raised {text}.") from None

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


def activation_step(operation: Any) -> str | None:
    """The activation a separate activation layer or op applies ('relu', 'softmax', ...); None for any other layer.

    ``Activation('relu')``, ``ReLU()`` and ``keras.ops.relu`` all read 'relu'; a ``ReLU`` layer with a
    ``negative_slope``, ``max_value`` or ``threshold`` computes another function and reads e.g.
    'ReLU(negative_slope=0.1)', so it never passes for a plain ReLU.
    """
    kind = type(operation).__name__
    if kind == "Activation":
        return activation_name(operation)
    if kind == "ReLU":
        changed = [f"{arg}={value:g}" for arg, value, default in (
            ("negative_slope", getattr(operation, "negative_slope", 0.0), 0.0),
            ("max_value", getattr(operation, "max_value", None), None),
            ("threshold", getattr(operation, "threshold", 0.0), 0.0)) if value is not None and value != default]
        return f"ReLU({', '.join(changed)})" if changed else "relu"
    return {"Softmax": "softmax", "Relu": "relu", "Sigmoid": "sigmoid",  # layers.Softmax, keras.ops.*
            "LeakyReLU": "leaky_relu", "ELU": "elu", "PReLU": "prelu"}.get(kind)


IDEMPOTENT_ACTIVATIONS = {"relu"}  # f(f(x)) == f(x): Dense(relu) followed by ReLU() is still relu


def composed_activation(activations: list[str]) -> str:
    """Activations applied one after the other, as one name: [] and ['linear'] read 'linear', ['linear', 'relu']
    reads 'relu', ['relu', 'relu'] reads 'relu', ['relu', 'sigmoid'] reads 'relu then sigmoid'."""
    steps: list[str] = []
    for name in activations:
        if name == "linear" or (steps and steps[-1] == name and name in IDEMPOTENT_ACTIVATIONS):
            continue
        steps.append(name)
    return " then ".join(steps) or "linear"


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


def expect_dense_output(model: keras.Model, name: str, shape: tuple, activation: str, exercise: str, fix: str,
                        why: str, wrappers: tuple[str, ...] = ("Activation",)) -> None:
    """The model's one output is ``name`` of ``shape``, made by a Dense layer with ``activation`` (or by a Dense
    layer followed by an activation layer of a kind in ``wrappers``). ``fix`` says what to end the model with,
    ``why`` follows the activation the feedback asks for."""
    expect_outputs(model, [(name, shape)], exercise)
    layer = producer(model.outputs[0])
    dense = layer
    if type(layer).__name__ in wrappers:  # Dense, then the activation as a layer of its own, named as the output
        dense = model_nodes(model, layer)[0].parent_nodes[0].operation
    if type(dense).__name__ != "Dense":
        raise GradeFailure(f"{exercise}: the output '{name}' is made by '{layer.name}' ({type(layer).__name__}) "
                           f"from '{dense.name}' ({type(dense).__name__}), not by a Dense layer; end with {fix}.")
    if activation_name(layer) != activation:
        raise GradeFailure(f"{exercise}: the output '{name}' has activation '{activation_name(layer)}'; use "
                           f"activation='{activation}'{why}.")


def probe_failure(step: Any) -> str:
    """'' if a step of a probe (:mod:`gradekit.probes`) succeeded, else the reason, worded for the student."""
    if isinstance(step, dict) and set(step) == {"error"}:
        error = step["error"]
        known = {"not_implemented": "it is not implemented yet (it raises NotImplementedError)",
                 "timeout": "it did not finish in time", "memory": "it ran out of memory"}
        return known.get(error, f"it raised {str(error).rstrip('.')}")
    return ""


def close(a: Any, b: Any, atol: float = 1e-5) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol))


_SESSIONS = [0]


def fresh_session() -> None:
    """Reset Keras' names and seeds before a grader builds models. A full garbage collection costs a quarter of a
    second, so it runs every 20 resets only."""
    _SESSIONS[0] += 1
    keras.backend.clear_session(free_memory=_SESSIONS[0] % 20 == 0)
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
        # a dict keyed by input names fits a model whose inputs are a list and one whose inputs are a dict
        batch = {t.name: np.zeros((2,) + tuple(2 if d is None else d for d in t.shape[1:]), dtype=str(t.dtype))
                 for t in model.inputs}
        y_pred = model(batch)
        y_true = keras.tree.map_structure(keras.ops.zeros_like, y_pred)
        try:
            compile_loss.build(y_true, y_pred)
        except (KeyError, ValueError, TypeError) as error:
            raise GradeFailure(f"Keras cannot match the compiled losses to the model's outputs ({short(error)}); "
                               "give one loss per output, as a list in output order or a dict keyed by output "
                               "names.") from None
    found = {}
    for entry in compile_loss._flat_losses:
        fn = getattr(entry.loss, "fn", entry.loss)
        name = getattr(fn, "__name__", type(fn).__name__)
        found[entry.name] = (name, 1.0 if entry.loss_weights is None else float(entry.loss_weights))
    return found


__all__ = [
    "GradeFailure", "Submission", "graded", "shape_str", "model_nodes", "parents", "producer", "activation_name",
    "expect_inputs", "expect_outputs", "dense_chain", "same_variables", "random_batch", "close", "fresh_session",
    "compiled_losses", "probe_failure", "expect_dense_output",
]
