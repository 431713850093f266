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

import ast
import atexit
import contextlib
import hashlib
import inspect
import os
import select
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from gradekit import evidence, intake, sandbox
from gradekit import source as source_facts
from gradekit.evidence import to_numpy, weight_arrays  # noqa: F401 - for the graders too
from gradekit.worker import Engine, find_lesson, kill_group, short, spawn, spawned, time_limit, write_frame

DEFAULT_CALL_TIMEOUT = 30.0
DEFAULT_MEMORY_MB = 4096
# seconds beyond the call time limit a worker has to answer when loading a lesson's file (a loaded machine)
LOAD_MARGIN = 30.0
ENGINE_PACKAGES = ("gradekit", "coursekit")
LESSONS_DIR = Path(__file__).resolve().parents[1]


class GradeFailure(AssertionError):
    """A check did not pass. The message is the feedback for the student."""


class EngineReference(GradeFailure):
    """The exercise's code refers to the grading engine or the interpreter's internals: it earns nothing, and
    ``flag`` (the reason, for the teacher) goes into the report and the gradebook."""

    def __init__(self, message: str, flag: str):
        super().__init__(message)
        self.flag = flag


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


# ------------------------------------------------------------------------------------------------ sources


@dataclass
class ExerciseSource:
    """An exercise's source as the judge reads it (parsed, never run): ``module`` holds the statement that defines
    it (for a class: with its imports and local base classes), ``program`` is all that runs to define it (the
    module, or a notebook exercise's cell with the cells it needs), ``defined`` is the name it is defined under."""

    module: ast.Module
    program: ast.Module
    defined: str
    filename: str


def _parse_source(text: str, filename: str) -> ast.Module:
    try:
        return source_facts.parse(text, filename)
    except source_facts.SourceError as error:
        raise GradeFailure(f"the grader cannot read the source: {error}.") from None


def submitted_source(copy: Path, lesson: str, name: str, digests: dict[str, str] | None = None) -> ExerciseSource:
    """The source of exercise ``name`` in the judge's copy of a submission (a module, or a notebook's exercise
    program as the worker runs it: :func:`gradekit.notebook.exercise_programs`, which only parses). With
    ``digests`` (file name -> SHA-256 when taken in), a file that changed since is refused: the worker cannot write
    the copy (it is read-only for it), and this holds even where only the audit hook would stop it."""
    path, why = find_lesson(copy, lesson)
    if path is None:
        raise GradeFailure(f"not graded: {why}.")
    if digests is not None and digests.get(path.name) != hashlib.sha256(path.read_bytes()).hexdigest():
        raise EngineReference(f"not graded: {path.name} changed while it was being graded.",
                              f"{path.name} was changed by the submission's own code while it was being graded")
    if path.suffix == ".ipynb":
        from gradekit.notebook import NotebookError, exercise_programs

        try:
            program = exercise_programs(path).get(name)
        except (NotebookError, RecursionError, MemoryError, ValueError) as error:
            raise GradeFailure(f"not graded: {path.name} cannot be read ({short(error)}).") from None
        if program is None or program.problem:
            raise GradeFailure(f"not graded: {program.problem if program else f'no exercise cell defines {name}'}.")
        tree = _parse_source("\n".join(unit.source for unit in program.units), path.name)
        return ExerciseSource(tree, tree, name, path.name)
    try:
        with open(path, "rb") as handle:
            text = handle.read(source_facts.MAX_CHARS * 4 + 1).decode("utf-8", errors="replace")
    except OSError as error:
        raise GradeFailure(f"not graded: {path.name} cannot be read ({short(error)}).") from None
    tree = _parse_source(text, path.name)
    return ExerciseSource(tree, tree, name, path.name)


# ------------------------------------------------------------------------------------------------ transports


class WorkerDied(Exception):
    """The worker process stopped, or did not answer in time, while answering a request."""


class LocalTransport:
    """The engine in this process: for the graders' own tests, whose submissions are the tests' own code."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def request(self, message: bytes, deadline: float) -> bytes:
        return self.engine.handle(message)

    def source(self, lesson: str, name: str) -> ExerciseSource:
        """The test's own object: its module's source for the class statement, its own for the program."""
        obj = (self.engine.lessons.get(lesson).module or {}).get(name) if lesson in self.engine.lessons else None
        if obj is None:
            raise GradeFailure(f"the submission defines no '{name}'.")
        try:
            own = textwrap.dedent(inspect.getsource(obj))
        except (OSError, TypeError):
            own = ""
        try:
            whole = inspect.getsource(inspect.getmodule(obj))
        except (OSError, TypeError):
            whole = own
        defined = getattr(obj, "__name__", name)
        filename = Path(inspect.getsourcefile(obj) or "test").name
        try:
            program = _parse_source(own, filename)
        except GradeFailure:  # a lambda's source is a fragment of a line
            program = ast.Module(body=[], type_ignores=[])
        return ExerciseSource(_parse_source(whole, filename), program, defined, filename)

    def close(self) -> None:
        pass


class WorkerProcess:
    """A confined worker process for one submission, started on first use and again after it dies.

    Its folder (in ``root``: the classroom's per-submission folder, which it removes whatever happens to the
    judge; else a temporary folder removed at exit) holds ``engine/`` (copies of ``gradekit`` and ``coursekit``)
    and ``submission/`` (a copy of the submission), which bubblewrap shows the worker read-only under
    :data:`gradekit.sandbox.INSIDE`, beside its scratch, a tmpfs of ``scratch_mb`` MB and the only place it may
    write. Without bubblewrap the scratch is ``scratch/`` in the folder, and each file it writes is limited to
    ``scratch_mb`` (the total is not).
    """

    def __init__(self, location: Path | None, call_timeout: float = DEFAULT_CALL_TIMEOUT,
                 memory_mb: int = DEFAULT_MEMORY_MB, scratch_mb: int = sandbox.DEFAULT_SCRATCH_MB,
                 root: Path | None = None, require_sandbox: bool = False):
        self.call_timeout, self.memory_mb = call_timeout, memory_mb
        self.scratch_mb, self.require_sandbox = scratch_mb, require_sandbox
        self.folder = Path(tempfile.mkdtemp(prefix="grading-worker-", dir=root))
        engine = self.folder / "engine"
        for package in ENGINE_PACKAGES:
            shutil.copytree(LESSONS_DIR / package, engine / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "templates", "practice_material"))
        (self.folder / "submission").mkdir()
        self.location: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.ready = False
        self.sandbox = ""  # the judge's fact (bubblewrap or not), then the worker's inner layers
        self.outer = ""
        self.started = 0  # when the process started (sandbox.start_time): what it leaves behind started later
        self.starts = 0
        if location is not None:
            self.adopt(location)

    def adopt(self, location: Path) -> WorkerProcess:
        """Take in the submission at ``location`` (once): copy what grading reads into ``submission/``, note its
        digests, and tell a worker already started (a spare, :func:`start_spare`) which file or folder it is."""
        if self.location is not None:
            raise RuntimeError("a worker grades one submission")
        self.location = Path(location)
        # only the files grading reads, never through a link; ``intake.problem(lesson)``: why a lesson is refused
        self.intake = intake.take(self.location, self.folder / "submission")
        self.submission = self.intake.submission
        # what the judge took in, before any submitted code ran: the source it reads later must still be this
        copies = [self.submission] if self.submission.is_file() else sorted(self.submission.iterdir())
        self.digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in copies if path.is_file()}
        if self.proc is not None and self.proc.poll() is None:
            self._name_submission()
        return self

    def _name_submission(self) -> None:
        """The worker's first request: which file of its ``submission/`` folder (or the folder) it grades."""
        assert self.proc is not None and self.proc.stdin is not None
        name = "" if self.submission == self.folder / "submission" else self.submission.name
        try:
            write_frame(self.proc.stdin.fileno(), evidence.encode({"op": "submission", "name": name}, []))
        except OSError:
            pass  # it died; the next request starts another

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
        self.sandbox = f"{self.outer}: {document.get('sandbox', '')}"
        self.ready = True

    def _spawn(self) -> None:
        self.ready = False
        bwrap, why = sandbox.bubblewrap()
        if bwrap is None and sandbox.required(self.require_sandbox):
            raise WorkerDied(sandbox.refusal(why))
        inside = sandbox.INSIDE if bwrap else self.folder  # the folder as the worker sees it
        scratch = inside / "scratch"
        if bwrap is None:
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
        # the judge's backend (KERAS_BACKEND) and its settings: the worker computes what the judge would
        keep = ("PATH", "LANG", "LC_ALL", "KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
                "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "JAX_PLATFORMS", "XLA_FLAGS",
                "COURSE_WORKER_LOG")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update({"PYTHONPATH": str(inside / "engine"), "HOME": str(scratch), "TMPDIR": str(scratch),
                    "MPLCONFIGDIR": str(scratch), "KERAS_HOME": str(scratch / ".keras"),
                    "PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": env.get("TF_CPP_MIN_LOG_LEVEL", "3")})
        env.setdefault("KERAS_BACKEND", "tensorflow")
        argv = [sys.executable, "-P", "-m", "gradekit.worker", str(inside / "submission"),
                f"{self.call_timeout:g}", str(self.memory_mb), "0" if bwrap else str(self.scratch_mb)]
        sandbox.become_subreaper()  # orphans of the worker's processes come back here, and kill() ends them
        if bwrap is not None:
            binds = [(self.folder / name, inside / name) for name in ("engine", "submission")]
            argv = sandbox.bwrap_command(bwrap, argv, env, binds, scratch, self.scratch_mb)
            env, cwd, self.outer = {}, self.folder, f"{bwrap.describe(self.scratch_mb)}, inside it"
        else:
            cwd, self.outer = scratch, f"no bubblewrap ({why})"
        self.proc = spawn(argv, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log())
        self.started = sandbox.start_time(self.proc.pid)
        self.starts += 1
        if self.location is not None:  # else a spare, told when it is adopted
            self._name_submission()

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

    def ensure_started(self) -> int:
        """Start the worker unless it is running and ready; how many times it has been started (each start loads
        the lessons afresh)."""
        if self.proc is None or self.proc.poll() is not None or not self.ready:
            self._start()
        return self.starts

    def request(self, message: bytes, deadline: float) -> bytes:
        self.ensure_started()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            write_frame(self.proc.stdin.fileno(), message)
        except (BrokenPipeError, OSError):
            self.kill()
            raise WorkerDied("it stopped before the request reached it") from None
        return self._read(deadline)

    def kill(self) -> None:
        """Kill the worker, and whatever it started that outlived it (without bubblewrap's PID namespace, a process
        in a session of its own comes back to this subreaper)."""
        if self.proc is not None:
            kill_group(self.proc)
            self.proc = None
            sandbox.end_adopted(self.started, spawned())
        self.ready = False

    def close(self) -> None:
        self.kill()
        if not os.environ.get("COURSE_WORKER_LOG"):
            shutil.rmtree(self.folder, ignore_errors=True)


_WORKERS: dict[tuple, WorkerProcess] = {}
_SETTINGS: dict[str, Any] = {}  # the grading run's scratch size, folder and requirement (configure_workers)


def configure_workers(scratch_mb: int = sandbox.DEFAULT_SCRATCH_MB, root: Path | None = None,
                      require_sandbox: bool = False) -> None:
    """Settings of the workers this run starts: the size of each one's scratch, the folder that holds their
    folders (None: a temporary one), and whether bubblewrap is required."""
    _SETTINGS.update(scratch_mb=scratch_mb, root=root, require_sandbox=require_sandbox)


def worker_for(location: Path, call_timeout: float, memory_mb: int = DEFAULT_MEMORY_MB) -> WorkerProcess:
    """One worker per submission (and settings) for the whole grading run: the spare (:func:`start_spare`) where
    one with these settings is waiting, else a new one."""
    key = (str(Path(location).absolute()), call_timeout, memory_mb)  # a link is not followed, here as in intake
    if key not in _WORKERS:
        settings = (call_timeout, memory_mb, _SETTINGS.get("scratch_mb", sandbox.DEFAULT_SCRATCH_MB),
                    bool(_SETTINGS.get("require_sandbox")))
        spare = _SPARE.pop(settings, None)
        if spare is not None and spare.proc is not None and spare.proc.poll() is None:
            _WORKERS[key] = spare.adopt(Path(location))
            start_spare(spare.folder.parent, *settings)  # the next one starts now, beside this grading
        else:
            if spare is not None:
                spare.close()
            _WORKERS[key] = WorkerProcess(location, call_timeout, memory_mb, **_SETTINGS)
    return _WORKERS[key]


_SPARE: dict[tuple, WorkerProcess] = {}  # a worker started before its submission is known, by settings


def start_spare(root: Path, call_timeout: float = DEFAULT_CALL_TIMEOUT, memory_mb: int = DEFAULT_MEMORY_MB,
                scratch_mb: int = sandbox.DEFAULT_SCRATCH_MB, require_sandbox: bool = False) -> None:
    """Start a worker for the next submission now, in a folder in ``root``: it imports Keras while the judge
    waits, and :func:`worker_for` gives it the next submission graded with the same settings. A judge that lasts
    (the in-notebook check's) calls this after each job. The spare holds nothing of any submission until then."""
    settings = (call_timeout, memory_mb, scratch_mb, bool(require_sandbox))
    for key in [k for k in _SPARE if k != settings]:
        _SPARE.pop(key).close()
    if settings in _SPARE and _SPARE[settings].proc is not None and _SPARE[settings].proc.poll() is None:
        return
    if settings in _SPARE:
        _SPARE.pop(settings).close()
    Path(root).mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(None, call_timeout, memory_mb, scratch_mb, Path(root), require_sandbox)
    try:
        worker.prestart()
    except WorkerDied:  # bubblewrap required and missing: the next job says so
        worker.close()
        return
    _SPARE[settings] = worker


@atexit.register
def close_spare() -> None:
    for worker in _SPARE.values():
        worker.close()
    _SPARE.clear()


def sandboxes() -> str:
    """What confined this run's workers, as they started ('' if none did): for the report."""
    return "; ".join(sorted({worker.sandbox for worker in _WORKERS.values() if worker.sandbox}))


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
        # shared rebuilt answers (shared_call): request hash -> (the grader's objects handed in, the answer or the
        # feedback of its failure)
        self._shared: dict[str, tuple[list[Any], tuple[bool, Any]]] = {}
        self.memo: dict[str, Any] = {}  # graders may keep what they drew or observed once per submission here
        self._stopped: dict[str, str] = {}  # exercise -> why its calls fail at once (a timeout, a dead worker)
        self._loaded_by = 0  # the worker start (WorkerProcess.starts) that loaded this lesson's file
        self._unloadable = ""  # why no exercise of the lesson can be graded (its file's top level never ended)

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
    def source(self, name: str) -> ExerciseSource:
        """The exercise's source, read and parsed here, never run (once per exercise). EngineReference when it
        reaches for the grading engine (:meth:`check_engine_references`)."""
        self.refused()
        key = f"source:{name}"
        if key not in self.memo:
            reader = getattr(self.transport, "source", None)
            if reader is not None:
                self.memo[key] = reader(self.lesson, name)
            else:
                self.memo[key] = submitted_source(Path(self.transport.submission), self.lesson, name,
                                                  getattr(self.transport, "digests", None))
        self.check_engine_references(name)
        return self.memo[key]

    def check_engine_references(self, name: str) -> None:
        """An exercise whose code refers to the grading engine or the interpreter's internals earns nothing:
        EngineReference, with the reason for the teacher (read once per exercise; a source that cannot be read is
        left to the worker's answer, which says why)."""
        key = f"engine:{name}"
        if key not in self.memo:
            self.memo[key] = None
            try:
                found = source_facts.engine_references(self.source(name).program)
            except EngineReference:
                raise
            except GradeFailure:
                found = []
            if found:
                flag = f"{name} refers to the grading engine or the interpreter's internals ({'; '.join(found[:3])})"
                uses = ", ".join(f.split(": ", 1)[1] for f in found[:3])
                self.memo[key] = EngineReference(
                    f"{name} earns no points: its code {uses}. No exercise needs these; they can reach into the "
                    "grading engine, so the exercise is not graded and your teacher sees this. Remove them and hand "
                    "in again.", flag)
        if self.memo[key] is not None:
            raise self.memo[key]

    def observe_class(self, name: str, probe: str, make_plan: Callable[[], dict],
                      label: Callable[[dict], str]) -> tuple[dict, dict, source_facts.ClassFacts | None]:
        """For an exercise that is a class: the plan the judge drew (``make_plan``, once per submission), what the
        worker's ``probe`` observed with it, and the class statement read from the source (None where the source
        defines no class of that name). A lesson that cannot be loaded fails with the worker's reason, and the
        student edition's stub with 'not implemented yet' (``label(spec)`` names the first case)."""
        key = f"probe:{name}"
        if key not in self.memo:
            plan = make_plan()
            self.memo[key] = (plan, self.probe(name, probe, plan))
        plan, seen = self.memo[key]
        created = (seen.get("cases") or [{}])[0].get("create")
        if created == {"error": "not_implemented"}:
            raise GradeFailure(f"creating {label(plan['cases'][0])} failed: {probe_failure(created)}.")
        found = self.source(name)
        return plan, seen, source_facts.class_facts(found.module, found.defined)

    def refused(self) -> None:
        """GradeFailure when the lesson's file was refused as the submission was taken in (a link, too large...)."""
        taken = getattr(self.transport, "intake", None)
        problem = taken.problem(self.lesson) if taken is not None else ""
        if problem:
            raise GradeFailure(f"not graded: {problem}.")

    def _load(self) -> None:
        """Before a worker's first call for this lesson (after each start), have it load the lesson's file alone,
        with a deadline of its own: the call time limit, plus :data:`LOAD_MARGIN`. A file whose top level runs on
        past that limit (code that ignores the worker's alarm: an attacker, or a blocking call that never returns)
        would hang again on every restart, so it stops the whole lesson once, with one message, instead of
        costing each exercise the longer wait of a call and a new worker, up to the submission's time limit."""
        if self._unloadable:
            raise GradeFailure(self._unloadable)
        ensure = getattr(self.transport, "ensure_started", None)  # a worker process (not the in-process engine)
        if ensure is None:
            return
        try:
            start = ensure()
        except WorkerDied:  # the worker did not start: not the file's doing; the call that follows says what happened
            return
        if start == self._loaded_by:
            return
        try:
            message = evidence.encode({"op": "load", "lesson": self.lesson}, [])
            self.transport.request(message, time.monotonic() + self.call_timeout + LOAD_MARGIN)
        except WorkerDied as died:
            if str(died) != "timeout":
                return  # the call that follows starts a worker again and says what happened, as before
            self._unloadable = (f"loading {self.lesson}'s file did not finish within {self.call_timeout:g} s: code "
                                "at its top level ran on past the time limit, so none of its exercises can be "
                                "graded (an endless loop or a long training run outside any function? Move it "
                                "into a function).")
            raise GradeFailure(self._unloadable) from None
        self._loaded_by = start

    def _ask(self, op: str, name: str, args: tuple, kwargs: dict, what: str, probe: str = "",
             shared: bool = False) -> Any:
        self.refused()
        if name in self._stopped:
            raise GradeFailure(self._stopped[name])
        self.check_engine_references(name)
        given = evidence.given_objects(list(args), dict(kwargs))
        document, arrays = evidence.pack((list(args), dict(kwargs)))
        document.update({"op": op, "lesson": self.lesson, "name": name, "timeout": self.call_timeout,
                         "probe": probe})
        message = evidence.encode(document, arrays)
        key = hashlib.sha256(message).hexdigest()
        answer = self._answers.get(key)
        if answer is None:
            self._load()
            try:
                answer = self.transport.request(message, time.monotonic() + self.call_timeout * 4 + 30)
            except MemoryError:  # the judge's own limit (gradekit.judge), reading a huge answer
                getattr(self.transport, "kill", lambda: None)()  # its answer is half read: start afresh
                self._stopped[name] = (f"the answer to {what} is too large for the grader's memory: return a model "
                                       "of the size the exercise asks for.")
                raise GradeFailure(self._stopped[name]) from None
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
        if not shared:
            return self._rebuild(answer, given, name, what)
        kept = self._shared.get(key)
        if kept is None or len(kept[0]) != len(given) or any(a is not b for a, b in zip(kept[0], given)):
            try:
                kept = (given, (True, self._rebuild(answer, given, name, what)))
            except GradeFailure as failure:  # EngineReference is raised before the answer is read, never here
                kept = (given, (False, str(failure)))
            self._shared[key] = kept
        done, outcome = kept[1]
        if not done:
            raise GradeFailure(outcome)
        return outcome

    def _rebuild(self, answer: bytes, given: list[Any], name: str, what: str) -> Any:
        """The answer rebuilt here, from the worker's evidence: new Keras objects, the grader's own where it handed
        them in. Any failure becomes feedback."""
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
        except MemoryError:  # the judge's own limit (gradekit.judge)
            raise GradeFailure(f"{name}: rebuilding what it returned needs more memory than the grader allows (is "
                               "the model far larger than the exercise asks for?).") from None

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
        """Call a builder and insist that it returned a Keras model (rebuilt afresh for this ask: the grader may
        train, compile or otherwise change it)."""
        return self._a_model(name, self.call(name, *args, **kwargs))

    def shared_call(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """:meth:`call`, for a grader that only reads the answer: every ask with the same arguments gets the very
        same rebuilt object (rebuilt once per submission, not once per ask), and a failure gives the same feedback
        each time.

        The object is shared by every test that asks for it, so a test that uses it must leave it as it came:
        reading its inputs and outputs, layers, graph (:class:`Graph`), config, shapes, parameter counts, or
        predicting with its weights is fine. A test that trains, compiles, fits or evaluates it, sets or assigns
        weights, changes ``trainable``, builds another model on its layers or tensors (calling its layers adds
        calls to them, which later graph readings would see), or reads anything the judge's Keras session at the
        time of the ask decides (what :func:`fresh_session` resets) must use :meth:`call` or :meth:`model`.

        Names and weights come from the evidence, not from the judge's Keras session: the names the submission
        gave (a layer named 'digit', an input 'pixels') and those Keras gave in the worker alike (a layer left
        unnamed reads 'dense' however many layers the judge made since). So a shared answer rebuilt before a later
        :func:`fresh_session` (``keras.backend.clear_session()``) keeps them and stays usable. A grader that calls
        :func:`fresh_session` before asking still should: the first ask, the one that rebuilds, then sees the same
        fresh session as a non-shared ask would.

        Arguments that hold the grader's own Keras objects (a model or a tensor handed in) are shared only while
        they are the very same objects: a grader that builds them anew for each ask gets a fresh rebuild each
        time, since the answer is built on them.
        """
        return self._ask("call", name, args, kwargs, name, shared=True)

    def shared_model(self, name: str, /, *args: Any, **kwargs: Any) -> keras.Model:
        """:meth:`model`, for a grader that only reads the model: one rebuilt model shared by every test that asks
        for it with the same arguments (:meth:`shared_call` says what such a test may and may not do with it)."""
        return self._a_model(name, self.shared_call(name, *args, **kwargs))

    @staticmethod
    def _a_model(name: str, result: Any) -> keras.Model:
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


class Call:
    """One call of a layer in a :class:`Graph`: the layer, its Keras node, and the calls that made its inputs."""

    __slots__ = ("layer", "node", "scope", "inputs", "tensor")

    def __init__(self, layer: Any, node: Any, scope: tuple):
        self.layer, self.node, self.scope = layer, node, scope
        self.inputs: list[Call] = []  # the call that made each tensor it received, in the node's order
        self.tensor: Any = None  # its (first) output as a tensor of the outer graph, where one carries it

    @property
    def outputs(self) -> list[Any]:
        """The tensors this call returned (inside a nested model, that model's own tensors: same shapes)."""
        return list(self.node.output_tensors)

    def __repr__(self) -> str:
        return f"Call({self.layer.name!r})"


class Graph:
    """A graph read through nested models: every call of a layer, and the calls that made what it received.

    A model used as a layer (a nested ``keras.Sequential``, a functional model called on a tensor) is read as the
    calls of its own layers: its inputs are bound to the tensors it was called on, and whatever reads its output
    reads the call of its inner layer that made it. So ``keras.Sequential([Conv2D(...), Conv2D(...)])(x)`` reads as
    two convolutions called one after the other on ``x``, exactly like the same layers called one by one; a nested
    model called twice gives two calls of each of its layers. Models in ``keep`` (models a grader handed in, say)
    are read as one layer each. Built from output tensors (a tensor a function returned) or with :meth:`of`.
    """

    def __init__(self, outputs: Any, keep: Iterable[Any] = ()):
        self._keep = {id(m) for m in keep}
        self._calls: dict[tuple, Call] = {}
        self._bindings: dict[tuple, dict[int, tuple[Any, tuple]]] = {}
        self._pending: list[Call] = []
        self.outputs = [self._call(t, ()) for t in keras.tree.flatten(outputs)]
        while self._pending:
            call = self._pending.pop()
            call.inputs = [self._call(t, call.scope) for t in call.node.input_tensors]
        self.calls = self._ordered()

    @classmethod
    def of(cls, model: keras.Model, keep: Iterable[Any] = ()) -> Graph:
        return cls(model.outputs, keep)

    @staticmethod
    def _structure(model: Any) -> tuple[list[Any], list[Any]]:
        inner = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
        if inner is None:
            return [], []
        inputs = getattr(inner, "_inputs_struct", None)
        outputs = getattr(inner, "_outputs_struct", None)
        return (keras.tree.flatten(inner.inputs if inputs is None else inputs),
                keras.tree.flatten(inner.outputs if outputs is None else outputs))

    def _nested(self, operation: Any, node: Any, scope: tuple) -> tuple | None:
        """The scope of a call of a nested model, its inputs bound to what it was called on; None where the model
        is read as one layer."""
        if not isinstance(operation, keras.Model) or id(operation) in self._keep:
            return None
        inner = scope + (id(node),)
        if inner not in self._bindings:
            inputs, _ = self._structure(operation)
            args = node.arguments.args
            given = keras.tree.flatten(args[0] if args else node.arguments.kwargs.get("inputs"))
            given = [t for t in given if isinstance(t, keras.KerasTensor)]
            if not inputs or len(inputs) != len(given):
                return None
            self._bindings[inner] = {id(i): (t, scope) for i, t in zip(inputs, given)}
        return inner

    def _call(self, tensor: Any, scope: tuple) -> Call:
        outer = None
        while True:
            if not scope:
                outer = tensor
            bound = self._bindings.get(scope, {}).get(id(tensor))
            if bound is not None:
                tensor, scope = bound
                continue
            operation, node_index, tensor_index = tensor._keras_history
            node = operation._inbound_nodes[node_index]
            inner = self._nested(operation, node, scope)
            if inner is None:
                break
            tensor, scope = self._structure(operation)[1][tensor_index], inner
        key = (id(node), scope)
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = Call(operation, node, scope)
            self._pending.append(call)
        if call.tensor is None and outer is not None:
            call.tensor = outer
        return call

    def _ordered(self) -> list[Call]:
        order: list[Call] = []
        done: set[int] = set()
        for root in self.outputs:
            stack = [(root, False)]
            while stack:
                call, expanded = stack.pop()
                if id(call) in done:
                    continue
                if expanded:
                    done.add(id(call))
                    order.append(call)
                    continue
                stack.append((call, True))
                stack.extend((parent, False) for parent in reversed(call.inputs) if id(parent) not in done)
        return order

    def source(self, tensor: Any) -> Call:
        """The call that made ``tensor``, a tensor of the outer graph (an input, a returned tensor)."""
        return self._call(tensor, ())

    def calls_of(self, layer: Any) -> list[Call]:
        """The calls of ``layer`` in the graph (a layer inside a nested model called twice has two)."""
        return [call for call in self.calls if call.layer is layer]

    def readers(self, call: Call) -> list[Call]:
        """The calls that received an output of ``call``."""
        return [other for other in self.calls if any(parent is call for parent in other.inputs)]

    def parents(self, layer: Any) -> list[list[Any]]:
        """For each call of ``layer``: the layers (or ops) whose outputs it received. What :func:`parents` gives for
        a model's own layers, with nested models read through (a layer inside a nested model is found, and what
        feeds it is the layer that really made its input, inside or outside the nested model)."""
        return [[parent.layer for parent in call.inputs] for call in self.calls_of(layer)]

    def output(self, model: keras.Model, name: str) -> Call | None:
        """The call that makes ``model``'s output ``name`` (the name Keras gives the output: the name of the layer,
        or of the nested model, that returns it), read through nested models; None if there is no such output."""
        tensor = next((t for t in model.outputs if producer(t).name == name), None)
        return None if tensor is None else self.source(tensor)

    @property
    def layers(self) -> list[Any]:
        """Every layer called in the graph, nested models read through, each once (inputs left out)."""
        found: dict[int, Any] = {}
        for call in self.calls:
            if type(call.layer).__name__ != "InputLayer":
                found.setdefault(id(call.layer), call.layer)
        return list(found.values())


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
    The graph is read through nested models (:class:`Graph`): a stack written as a nested ``Sequential`` reads as its
    layers. Raises GradeFailure where the graph branches or holds a layer that is not part of a Dense stack.
    """
    call = Graph([output if output is not None else model.outputs[0]]).outputs[0]
    chain: list[tuple[int, str]] = []
    pending_activation: str | None = None
    while True:
        layer = call.layer
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
        if kind == "InputLayer" or not call.inputs:
            break
        if len(call.inputs) != 1:
            raise GradeFailure(f"'{layer.name}' receives {len(call.inputs)} tensors; a plain stack has one path.")
        call = call.inputs[0]
    return list(reversed(chain))


def same_variables(a: Iterable[Any], b: Iterable[Any]) -> bool:
    """True when both collections hold the very same variable objects (shared weights, not copies)."""
    return {id(v) for v in a} == {id(v) for v in b}


# Drawn from the operating system's entropy when grading starts and never stored: no submission can know the
# inputs and weights a check uses. Within one grading run a stream gives the same numbers every time it is asked.
_RUN_ENTROPY = np.random.SeedSequence().entropy


def set_run_entropy(entropy: int | None = None) -> None:
    """Start a grading run's draws: from ``entropy`` (a class's seed, ``batch --seed``: then a batch, its shards and a
    shard graded again draw the same inputs) or, by default, afresh from the operating system. The judge calls it
    before each job; the worker never learns it."""
    global _RUN_ENTROPY
    _RUN_ENTROPY = np.random.SeedSequence().entropy if entropy is None else int(entropy)


def run_rng(*stream: Any) -> np.random.Generator:
    """A generator of this grading run's random numbers: new in every run, the same within a run for the same
    ``stream`` (any hashable labels: ``run_rng("to_functional", 2)``), so that two tests of one exercise, or a check
    and the reference it compares with, see one draw, and the worker's answers to identical calls are reused."""
    key = int.from_bytes(hashlib.sha256(repr(stream).encode()).digest()[:8], "big")
    return np.random.default_rng([key, _RUN_ENTROPY])


def random_batch(shape: tuple, *stream: Any, dtype: str = "float32") -> np.ndarray:
    """Uniform numbers in [0, 1) of ``shape``, drawn from this run's ``stream`` (:func:`run_rng`)."""
    return run_rng("random_batch", tuple(shape), *stream).random(shape).astype(dtype)


def expect_dense_output(model: keras.Model, name: str, shape: tuple, activation: str, exercise: str, fix: str,
                        why: str, wrappers: tuple[str, ...] = ("Activation",), keep: Iterable[Any] = ()) -> None:
    """The model's one output is ``name`` of ``shape``, made by a Dense layer with ``activation`` (or by a Dense
    layer followed by an activation layer of a kind in ``wrappers``). The graph is read through nested models
    (:class:`Graph`; those in ``keep`` are layers): an output written as a nested model named ``name`` reads as the
    layers in it. ``fix`` says what to end the model with, ``why`` follows the activation the feedback asks for."""
    expect_outputs(model, [(name, shape)], exercise)
    call = Graph.of(model, keep).outputs[0]
    layer = dense = call.layer
    if type(layer).__name__ in wrappers and len(call.inputs) == 1:  # Dense, then the activation as a layer of its own
        dense = call.inputs[0].layer
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


def fit(model: keras.Model, *args: Any, **kwargs: Any) -> Any:
    """``model.fit(*args, **kwargs)``, with the optimizer's variables made first, as the first training step would
    make them (for the model's trainable variables). On TensorFlow a step that makes variables is traced twice: made
    beforehand, each fit of a grader is traced once, which halves its cost on a small model."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    return model.fit(*args, **kwargs)


def predict(model: keras.Model, x: Any) -> Any:
    """What ``model.predict(x)`` returns (NumPy arrays, in the structure of the model's outputs), computed in one
    call in inference mode. The graders' batches are small, and ``predict`` would first trace a function for each new
    model: a fifth of a second on TensorFlow, each time. As in ``predict``, one array fits a model built on a list
    of one input."""
    if isinstance(getattr(model, "_inputs_struct", None), (list, tuple)) and len(model._inputs_struct) == 1 \
            and not isinstance(x, (list, tuple, dict)):
        x = [x]
    return keras.tree.map_structure(to_numpy, model(x, training=False))


_SESSIONS = [0]


def fresh_session() -> None:
    """Reset Keras' names and seeds before a grader builds models. A full garbage collection costs a quarter of a
    second, so it runs every 20 resets only."""
    _SESSIONS[0] += 1
    keras.backend.clear_session(free_memory=_SESSIONS[0] % 20 == 0)
    keras.utils.set_random_seed(0)


def _resolved_losses(model: keras.Model) -> list[Any]:
    """Keras' own per-output loss entries (path, loss, loss_weights, name) of a compiled model, resolved as the first
    training step would resolve them. Raises GradeFailure if the model is not compiled."""
    if not getattr(model, "compiled", False) or getattr(model, "_compile_loss", None) is None:
        raise GradeFailure("the model is not compiled with a loss: call model.compile(optimizer=..., loss=..., "
                           "loss_weights=...) before returning it.")
    compile_loss = model._compile_loss
    if not compile_loss.built:
        # a dict keyed by input names fits a model whose inputs are a list and one whose inputs are a dict; a model
        # with one input takes its array as it is
        batch = {t.name: np.zeros((2,) + tuple(2 if d is None else d for d in t.shape[1:]), dtype=str(t.dtype))
                 for t in model.inputs}
        y_pred = model(next(iter(batch.values())) if len(batch) == 1 else batch)
        y_true = keras.tree.map_structure(keras.ops.zeros_like, y_pred)
        try:
            compile_loss.build(y_true, y_pred)
        except (KeyError, ValueError, TypeError) as error:
            raise GradeFailure(f"Keras cannot match the compiled losses to the model's outputs ({short(error)}); "
                               "give one loss per output, as a list in output order or a dict keyed by output "
                               "names.") from None
    return list(compile_loss._flat_losses)


def loss_name(loss: Any) -> str:
    """The name of a loss function or object's function: 'mse' and MeanSquaredError() read 'mean_squared_error'."""
    fn = getattr(loss, "fn", loss)
    return getattr(fn, "__name__", type(fn).__name__)


def compiled_losses(model: keras.Model) -> dict[str, tuple[str, float]]:
    """What ``compile`` gave each output, read from the model: output name -> (loss function name, loss weight).

    Keras resolves ``loss``/``loss_weights`` (one value, a list in output order, or a dict keyed by output names)
    lazily, at the first training step; this resolves them the same way, on a tiny zero batch of the model's own
    shapes, and reads Keras' own per-output result. So a list and a dict that mean the same read alike, and what is
    read is what training would use. The name is the loss function's (``"mse"`` and ``MeanSquaredError()`` both
    read ``"mean_squared_error"``); a weight left out reads 1.0. Raises GradeFailure if the model is not compiled.
    The name says what kind of loss it is, not how it is configured: :func:`expect_losses` checks that too.
    """
    return {entry.name: (loss_name(entry.loss), 1.0 if entry.loss_weights is None else float(entry.loss_weights))
            for entry in _resolved_losses(model)}


_IGNORED_SETTINGS = {"name", "fn", "dtype"}


def _settings(loss: Any) -> dict[str, Any]:
    try:
        config = loss.get_config()
    except Exception:  # noqa: BLE001 - a plain function has no settings
        return {}
    return {k: v for k, v in (config if isinstance(config, dict) else {}).items() if k not in _IGNORED_SETTINGS}


def _loss_batch(reference: Any, shape: tuple, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) for an output of ``shape`` (batch first) as the reference loss reads them: class indices
    or one-hot rows and softmax probabilities for the categorical cross-entropies, 0/1 targets and probabilities
    for the binary one, numbers for the others."""
    name, shape = loss_name(reference), tuple(shape)
    if "categorical" in name:
        logits = rng.normal(size=shape) * 2
        y_pred = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
        labels = rng.integers(0, shape[-1], shape[:-1])
        y_true = labels if name.startswith("sparse") else np.eye(shape[-1])[labels]
    elif "binary" in name:
        y_pred, y_true = rng.uniform(0.05, 0.95, shape), rng.integers(0, 2, shape)
    else:
        y_pred, y_true = rng.normal(size=shape), rng.normal(size=shape)
    return y_true.astype("int64" if y_true.dtype.kind == "i" else "float32"), y_pred.astype("float32")


def _describe_settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in settings.items())


def expect_losses(model: keras.Model, wanted: dict[str, tuple[Any, str]], exercise: str, how: str) -> None:
    """Each output in ``wanted`` (name -> (reference loss object, how the exercise writes it)) is compiled with the
    reference loss: the same kind of loss (read by :func:`compiled_losses`), configured alike, checked by what it
    computes. The compiled loss of each output and the reference are evaluated on a batch drawn afresh (targets and
    predictions of the output's shape, :func:`_loss_batch`) and must agree: ``"mse"`` and ``MeanSquaredError()``
    agree, ``from_logits=True`` on probabilities, ``label_smoothing``, another ``reduction`` do not, and the
    feedback names the setting to change. ``how`` ends the feedback (how to give the losses)."""
    entries = {entry.name: entry.loss for entry in _resolved_losses(model)}
    shapes = {producer(t).name: tuple(t.shape) for t in model.outputs}
    for name, (reference, text) in wanted.items():
        if name not in entries:
            found = ", ".join(repr(n) for n in entries) or "none"
            raise GradeFailure(f"{exercise}: the output '{name}' has no compiled loss (losses were given for {found}); "
                               f"{how}.")
        loss, want_name = entries[name], loss_name(reference)
        if loss_name(loss) != want_name:
            raise GradeFailure(f"{exercise}: the output '{name}' should be trained with {text} ({want_name}), it gets "
                               f"{loss_name(loss)}; {how}.")
        shape = (16,) + tuple(2 if d is None else d for d in shapes.get(name, (None, 1))[1:])
        y_true, y_pred = _loss_batch(reference, shape, run_rng("expect_losses", exercise, name, shape))
        want = float(to_numpy(reference(y_true, y_pred)))
        try:
            got = np.asarray(to_numpy(loss(y_true, y_pred)), dtype="float64")
        except Exception as error:  # noqa: BLE001 - a configuration that cannot read such targets
            got = np.asarray(np.nan)
            why = f" (it fails on them: {short(error)})"
        else:
            why = ""
        if got.shape == () and np.isclose(float(got), want, rtol=1e-4, atol=1e-6):
            continue
        ref_settings = _settings(reference)
        changed = {k: v for k, v in _settings(loss).items()
                   if k not in ref_settings or ref_settings[k] != v}
        reading = (f"computes {float(got):.4g}" if got.shape == () else f"returns values of shape {got.shape}") \
            if not why else "cannot be computed"
        setting = (f": it is configured with {_describe_settings(changed)}; leave "
                   f"{'that setting' if len(changed) == 1 else 'those settings'} at what {text} uses "
                   f"({_describe_settings({k: ref_settings[k] for k in changed if k in ref_settings})})"
                   if changed else "")
        raise GradeFailure(f"{exercise}: the loss compiled for '{name}' {reading} on the grader's targets and "
                           f"predictions{why}, where {text} computes {want:.4g}{setting}. Compile '{name}' with "
                           f"{text} as the exercise states it.")


def expect_optimizer(optimizer: Any, wanted: type, text: str, exercise: str) -> None:
    """``optimizer`` is a ``wanted`` optimizer with Keras' default settings (what the string ``text`` gives)."""
    if not isinstance(optimizer, wanted):
        raise GradeFailure(f"{exercise}: compile with optimizer='{text}', not {type(optimizer).__name__}.")
    default = wanted().get_config()
    found = optimizer.get_config()
    changed = {k: v for k, v in found.items() if k != "name" and not (
        k in default and (v == default[k] or (isinstance(v, float) and isinstance(default[k], float)
                                              and np.isclose(v, default[k]))))}
    if changed:
        raise GradeFailure(f"{exercise}: the optimizer is {wanted.__name__} with {_describe_settings(changed)}; the "
                           f"exercise asks for optimizer='{text}', Keras' defaults (leave those settings out).")


__all__ = [
    "GradeFailure", "Submission", "graded", "shape_str", "model_nodes", "parents", "producer", "activation_name",
    "expect_inputs", "expect_outputs", "dense_chain", "same_variables", "random_batch", "close", "fresh_session",
    "compiled_losses", "probe_failure", "expect_dense_output", "Call", "Graph", "run_rng", "loss_name",
    "expect_losses", "expect_optimizer",
]
