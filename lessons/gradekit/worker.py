"""The worker: the only place where a submission's code runs.

The judge starts ``python -P -m gradekit.worker SUBMISSION`` in a scratch folder, beside a copy of the submission
and of the engine (``gradekit``, ``coursekit``), and nothing else of the course; inside bubblewrap where it can
(the scratch is then a size-limited tmpfs, and the worker's processes end with it). The worker imports Keras,
confines itself (:mod:`gradekit.sandbox`), then answers the judge's requests, one at a time, over its
standard input and output: call an exercise with these arguments and send back what it returned, as evidence
(:mod:`gradekit.evidence`); or run a fixed probe on an exercise class. It never sees the graders, decides nothing
and writes no report: whatever it sends, the judge checks.

:class:`Engine` is the part that loads submissions and answers requests; the graders' own tests use it in-process
(``Submission.from_objects``) so that they exercise the same evidence round trip as classroom grading.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import traceback
import types
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from gradekit import evidence, intake

OUTPUT_LIMIT = 8192


class SubmissionTimeout(BaseException):
    """Raised inside submitted code that runs past its time limit (BaseException: a bare except can't eat it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str, error: type[BaseException] = SubmissionTimeout) -> Iterator[None]:
    """Interrupt the block after ``seconds`` with ``error`` (Unix main thread; elsewhere the block runs unbounded)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise error(what)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _BoundedSink(io.TextIOBase):
    """Where submitted code's prints go while it runs: the first few kilobytes are kept, the rest is dropped."""

    def __init__(self, limit: int = OUTPUT_LIMIT):
        self.limit, self.kept, self.size = limit, [], 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < self.limit:
            self.kept.append(text[: self.limit - self.size])
        self.size += len(text)
        return len(text)


@contextlib.contextmanager
def guarded(seconds: float | None, what: str) -> Iterator[None]:
    """Run submitted code: a time limit, and its printed output kept small."""
    sink = _BoundedSink()
    with time_limit(seconds, what), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def short(error: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, cut to ``limit`` characters."""
    try:
        text = f"{type(error).__name__}: {error}".strip()
    except Exception:  # noqa: BLE001 - a __str__ that raises
        text = type(error).__name__
    first = text.splitlines()[0] if text else type(error).__name__
    return first if len(first) <= limit else first[:limit] + "…"


def where(error: BaseException, filename: str) -> str:
    """' (line N of lesson01.py)' for the deepest frame of the submission in the traceback, if any."""
    try:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename).name.startswith(filename)
                  or f.filename.startswith(filename)]
    except Exception:  # noqa: BLE001
        return ""
    return f" (line {frames[-1].lineno} of {frames[-1].filename})" if frames else ""


def failure(kind: str, detail: str = "") -> dict:
    return {"ok": False, "kind": kind, "detail": detail[:1000]}


# ------------------------------------------------------------------------------------------------ a submission


class LessonCode:
    """One lesson of a submission, loaded: where each exercise name comes from, or why it cannot be used.

    A module is run once, whole; a notebook exercise's program (its cell and what it needs from other cells) runs
    the first time the exercise is asked for, so a cell that breaks, hangs or exits costs only its own exercise.
    """

    def __init__(self, filename: str, module: dict | None = None, problem: str = "",
                 programs: dict[str, Any] | None = None, timeout: float = 60.0, path: Path | None = None):
        self.filename, self.module, self.problem = filename, module, problem
        self.programs = programs
        self.timeout, self.path = timeout, path
        self.namespaces: dict[str, dict] = {}
        self.problems: dict[str, str] = {}

    def lookup(self, name: str) -> tuple[Any, dict | None]:
        if self.problem:
            return None, failure("unusable", self.problem)
        if self.programs is not None and name in self.programs and name not in self.namespaces \
                and name not in self.problems:
            self._run_program(name)
        if name in self.problems:
            return None, failure("unusable", self.problems[name])
        space = self.namespaces.get(name, self.module)
        if space is None or name not in space:
            return None, failure("missing_cell" if self.programs is not None else "missing", self.filename)
        return space[name], None

    def _run_program(self, name: str) -> None:
        program = self.programs[name]
        if program.problem:
            self.problems[name] = program.problem
            return
        space: dict[str, Any] = {"__name__": f"submission_{name}", "__file__": str(self.path)}
        try:
            with guarded(self.timeout, f"the exercise cell for {name}"):
                for unit in program.units:
                    code = compile("\n" * (unit.first_line - 1) + unit.source, unit.filename, "exec")
                    exec(code, space)
        except SubmissionTimeout:
            self.problems[name] = f"running the exercise cell for {name} did not finish within {self.timeout:g} s"
            return
        except BaseException as error:  # noqa: BLE001
            self.problems[name] = (f"running the exercise cell for {name} raised {short(error)}"
                                   f"{where(error, self.filename)}")
            return
        self.namespaces[name] = space


def load_module(path: Path, timeout: float) -> LessonCode:
    module = types.ModuleType(f"submission_{path.stem}")
    module.__file__ = str(path)
    try:
        source = path.read_text(encoding="utf-8", errors="replace")
        code = compile(source, path.name, "exec")
    except SyntaxError as error:
        return LessonCode(path.name, problem=f"{path.name} has a syntax error on line {error.lineno}: {error.msg}")
    except (OSError, ValueError, RecursionError, MemoryError) as error:
        return LessonCode(path.name, problem=f"{path.name} cannot be read ({short(error)})")
    try:
        with guarded(timeout, f"importing {path.name}"):
            exec(code, module.__dict__)
    except SubmissionTimeout:
        return LessonCode(path.name, problem=f"importing {path.name} did not finish within {timeout:g} s (is there "
                                             "an endless loop or a long training run at the top level?)")
    except BaseException as error:  # noqa: BLE001 - SystemExit, KeyboardInterrupt in student code too
        return LessonCode(path.name, problem=f"importing {path.name} raised {short(error)}{where(error, path.name)}")
    return LessonCode(path.name, module=module.__dict__)


def load_notebook(path: Path, timeout: float) -> LessonCode:
    """A notebook's exercises, each with the program that defines it (:func:`gradekit.notebook.exercise_programs`);
    nothing runs until an exercise is asked for."""
    from gradekit.notebook import NotebookError, exercise_programs

    try:
        programs = exercise_programs(path)
    except NotebookError as error:
        return LessonCode(path.name, problem=str(error), programs={})
    except (RecursionError, MemoryError, ValueError) as error:
        return LessonCode(path.name, problem=f"{path.name} cannot be read ({short(error)})", programs={})
    return LessonCode(path.name, programs=programs, timeout=timeout, path=path)


def find_lesson(location: Path, lesson: str) -> tuple[Path | None, str]:
    """The file of ``lesson`` in a submission: ``lessonNN.py``, else a notebook ``NN_*.ipynb``; or the submission
    itself when it is one notebook. Returns (path, '') or (None, why not)."""
    number = lesson[-2:]
    if location.is_file() and location.suffix == ".ipynb":
        if location.name.startswith(number) or not location.name[:2].isdigit():  # e.g. "ada.ipynb"
            return location, ""
        return None, f"the submitted notebook {location.name} is not lesson {number}'s"
    try:
        names = [entry.name for entry in os.scandir(location) if entry.is_file(follow_symlinks=False)]
    except OSError:
        names = []
    name = intake.chosen_files(names).get(lesson)
    if name:
        return location / name, ""
    return None, intake.absent(lesson, location.name)


# -------------------------------------------------------------------------------------------------- the engine


class Engine:
    """Loads a submission's lessons on demand and answers the judge's requests."""

    def __init__(self, location: Path | None = None, timeout: float = 60.0,
                 objects: dict[str, dict[str, Any]] | None = None):
        self.location, self.timeout = location, timeout
        self.lessons: dict[str, LessonCode] = {}
        for lesson, names in (objects or {}).items():
            self.lessons[lesson] = LessonCode(f"{lesson}.py", module=dict(names))

    def lesson(self, lesson: str) -> LessonCode:
        if lesson not in self.lessons:
            if self.location is None:
                self.lessons[lesson] = LessonCode(f"{lesson}.py", module={})
            else:
                path, why = find_lesson(self.location, lesson)
                if path is None:
                    self.lessons[lesson] = LessonCode(f"{lesson}.py", problem=why)
                elif path.suffix == ".ipynb":
                    self.lessons[lesson] = load_notebook(path, self.timeout)
                else:
                    self.lessons[lesson] = load_module(path, self.timeout)
        return self.lessons[lesson]

    def handle(self, message: bytes) -> bytes:
        """One request in, one answer out (both :func:`gradekit.evidence.encode`-d)."""
        try:
            request, arrays = evidence.decode(message)
            answer, out_arrays = self._answer(request, arrays)
        except evidence.EvidenceError as error:
            answer, out_arrays = failure("evidence", str(error)), []
        try:
            return evidence.encode(answer, out_arrays)
        except (ValueError, TypeError) as error:
            return evidence.encode(failure("evidence", f"the answer could not be written ({short(error)})"), [])

    def _answer(self, request: dict, arrays: list[np.ndarray]) -> tuple[dict, list[np.ndarray]]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True}, []
        lesson = self.lesson(str(request.get("lesson")))
        if op == "load":  # the lesson's file alone (a module runs its top level now): the judge times it apart
            return {"ok": True}, []
        name = str(request.get("name"))
        target, problem = lesson.lookup(name)
        if problem:
            return problem, []
        timeout = float(request.get("timeout") or self.timeout)
        given_args = evidence.unpack(request, arrays)
        args, kwargs = given_args if isinstance(given_args, tuple) and len(given_args) == 2 else ([], {})
        if op == "call":
            return self._call(name, target, list(args), dict(kwargs), timeout, lesson.filename)
        if op == "probe":
            return self._probe(name, target, str(request.get("probe")), args, kwargs, timeout, lesson.filename)
        return failure("evidence", f"unknown request {op!r}"), []

    def _call(self, name: str, target: Any, args: list, kwargs: dict, timeout: float,
              filename: str) -> tuple[dict, list[np.ndarray]]:
        if not callable(target):
            return failure("not_callable", type(target).__name__), []
        given = evidence.given_objects(args, kwargs)
        received = {k: evidence.weight_arrays(obj) for k, obj in enumerate(given) if hasattr(obj, "get_weights")}
        # the same submission always builds the same initial weights, so a grader's training check gives it the
        # same verdict on every run, whatever was called before
        import keras

        keras.utils.set_random_seed(0)
        outcome = run_submitted(f"{name}", target, args, kwargs, timeout, filename)
        if "result" not in outcome:
            return outcome, []
        try:
            with guarded(timeout, f"reading what {name} returned"):
                document, out = evidence.pack(outcome["result"], given, received)
        except evidence.EvidenceError as error:
            return failure("unreadable", str(error)), []
        except SubmissionTimeout:
            return failure("timeout", f"{timeout:g}"), []
        except BaseException as error:  # noqa: BLE001 - a __getattr__ of the student's that raises, etc.
            return failure("unreadable", f"reading what {name} returned raised {short(error)}"), []
        return {"ok": True, "type": type(outcome["result"]).__name__, **document}, out

    def _probe(self, name: str, target: Any, probe: str, args: Any, kwargs: Any, timeout: float,
               filename: str) -> tuple[dict, list[np.ndarray]]:
        from gradekit import probes

        fn = probes.PROBES.get(probe)
        if fn is None:
            return failure("evidence", f"unknown probe {probe!r}"), []
        try:
            with guarded(timeout * 3, f"checking {name}"):
                observations = fn(target, filename, timeout, *args, **kwargs)
        except SubmissionTimeout:
            return failure("timeout", f"{timeout * 3:g}"), []
        document, out = evidence.pack(observations)
        return {"ok": True, "type": "dict", **document}, out


def run_submitted(what: str, fn: Callable, args: list, kwargs: dict, timeout: float, filename: str) -> dict:
    """Call submitted code; ``{"result": value}`` or a failure record."""
    try:
        with guarded(timeout, what):
            return {"result": fn(*args, **kwargs)}
    except NotImplementedError:
        return failure("not_implemented")
    except MemoryError:
        return failure("memory")
    except SubmissionTimeout:
        return failure("timeout", f"{timeout:g}")
    except RecursionError as error:
        return failure("exception", f"{short(error)}{where(error, filename)}")
    except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt from student code too
        return failure("exception", f"{short(error)}{where(error, filename)}")


# ---------------------------------------------------------------------------------------------------- the process


def _read_exact(fd: int, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, limit: int) -> bytes:
    size = int.from_bytes(_read_exact(fd, 8), "big")
    if size > limit:
        raise ValueError(f"frame of {size} bytes")
    return _read_exact(fd, size)


_SPAWNER: list[ThreadPoolExecutor] = []
_SPAWNED: weakref.WeakSet = weakref.WeakSet()
_SPAWNING = threading.Lock()


def spawn(argv: list[str], die_with_parent: bool = True, **popen: Any) -> subprocess.Popen:
    """Start a process in a session of its own that, with ``die_with_parent``, is killed when this one ends
    (PR_SET_PDEATHSIG, as bwrap's --die-with-parent). The kernel sends that signal when the *thread* that started
    the child ends, and judges are started from threads that do not last: every process is started from one
    thread that lives as long as this process."""
    from gradekit.sandbox import child_setup

    setup = child_setup(die_with_parent)

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(argv, start_new_session=True, preexec_fn=setup, **popen)
        _SPAWNED.add(proc)
        return proc

    with _SPAWNING:
        if not _SPAWNER:
            _SPAWNER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradekit-spawner"))
        return _SPAWNER[0].submit(start).result()


def spawned() -> set[int]:
    """The processes :func:`spawn` started that have not been reaped: a subreaper's own children, not orphans."""
    return {proc.pid for proc in list(_SPAWNED) if proc.returncode is None}


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a process started with ``start_new_session=True``, with every process of its group, and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def write_frame(fd: int, data: bytes) -> None:
    view = memoryview(len(data).to_bytes(8, "big") + data)
    while view:
        view = view[os.write(fd, view):]


def warm_up() -> None:
    """Load, before confinement, what grading will use, through the same Keras calls on every backend: the
    backend's runtime (TensorFlow's, or JAX's XLA client and compiler) starts with a prediction, and writing the
    model as evidence loads Keras' serialization, which imports TensorFlow when it is installed, whatever the
    backend. Libraries loaded now are read while every file still can be, and their memory counts before the
    limit on what the submission may add (:func:`gradekit.sandbox.confine`). Keras is imported without the optional
    integrations grading never uses (:mod:`gradekit.lean`)."""
    from gradekit.lean import import_keras

    keras = import_keras()

    warm = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    warm.predict(np.zeros((1, 2), "float32"), verbose=0)
    evidence.pack(warm)
    keras.backend.clear_session()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    submission, timeout, memory_mb = Path(argv[0]), float(argv[1]), int(argv[2])
    file_mb = int(argv[3]) if len(argv) > 3 else 0  # where no size-limited tmpfs bounds the scratch
    # The protocol keeps private copies of stdin/stdout; the usual descriptors point at nothing.
    requests, answers = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1) if os.environ.get("COURSE_WORKER_LOG") else (0, 1, 2):
        os.dup2(null, fd)
    warm_up()
    import gradekit.probes  # noqa: F401

    scratch = Path.cwd()
    engine_dir = Path(__file__).resolve().parents[1]
    from gradekit.sandbox import confine

    layers = confine(scratch, [engine_dir, submission], memory_mb, file_mb)
    write_frame(answers, evidence.encode({"ok": True, "ready": True, "sandbox": layers}, []))
    # the first request names the submission: the folder, or one notebook in it (a spare worker starts before it
    # is known, :func:`gradekit.harness.start_spare`)
    try:
        first, _ = evidence.decode(read_frame(requests, 1 << 16))
    except (EOFError, OSError, ValueError, evidence.EvidenceError):
        return 0
    name = str(first.get("name", "")) if isinstance(first, dict) and first.get("op") == "submission" else "/"
    if "/" in name or name in (".", ".."):
        return 2
    engine = Engine(submission / name if name else submission, timeout)
    while True:
        try:
            message = read_frame(requests, 1 << 31)
        except (EOFError, OSError, ValueError):
            return 0
        try:
            answer = engine.handle(message)
        except MemoryError:
            answer = evidence.encode(failure("memory"), [])
        except BaseException as error:  # noqa: BLE001 - the worker itself must keep answering
            answer = evidence.encode(failure("crash", short(error)), [])
        write_frame(answers, answer)


if __name__ == "__main__":
    sys.exit(main())
