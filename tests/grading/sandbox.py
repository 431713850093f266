"""pytest plugin for grading an untrusted submission in a child process (``-p grading.sandbox``).

The parent (``grading.classroom``) starts one such process per submission and lesson. This plugin:

- sends each graded test's result to the parent through an inherited pipe, tagged with a one-time token that the
  parent wrote to stdin (read and dropped before any submitted code runs); the parent writes the report;
- before the first submitted code runs (after collection), seals the grader, harness and pytest modules against
  attribute assignment and installs an audit hook (``sys.addaudithook``: it cannot be removed) that refuses
  writing files outside the child's scratch folder, starting processes, opening network connections, loading
  libraries through ctypes, tracing, and replacing functions' code or the classes of the grading machinery.

What stays possible is code that digs through the process's memory on purpose; the parent still decides which
tests exist and what they are worth, so such code can at most forge results for its own lesson in its own process.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

RESULTS_FD_ENV = "COURSE_GRADING_FD"
SCRATCH_ENV = "COURSE_GRADING_SCRATCH"
GUARDED_MODULE_PREFIXES = ("grading", "test_lesson", "conftest", "_pytest", "pytest", "pluggy")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _read_token() -> str:
    """The parent's one-time token, from file descriptor 0 (read at import: pytest soon captures stdin)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 64)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


class _Channel:
    def __init__(self) -> None:
        fd = os.environ.pop(RESULTS_FD_ENV, None)
        self.token = _read_token() if fd else ""
        self.stream = os.fdopen(int(fd), "w", buffering=1) if fd else None

    def send(self, record: dict) -> None:
        if self.stream is not None:
            self.stream.write(json.dumps({"token": self.token, **record}) + "\n")
            self.stream.flush()


_channel = _Channel()  # at import, before pytest captures stdin and long before any submitted code runs


def pytest_runtest_logreport(report):
    for key, value in getattr(report, "user_properties", []):
        if key == "grade" and _channel is not None:
            _channel.send(value)


# ------------------------------------------------------------------------------------------------- guarding


def _from_pytest() -> bool:
    """Whether the attribute change comes from pytest's or pluggy's own code (pytest sets some module
    attributes while it runs); the graders' modules are sealed against everyone."""
    caller = sys._getframe(2).f_globals.get("__name__", "")
    return caller.split(".")[0] in ("_pytest", "pytest", "pluggy")


class _SealedModule(types.ModuleType):
    def __setattr__(self, name, value):
        if self.__name__.split(".")[0] in ("_pytest", "pytest", "pluggy") and _from_pytest():
            return super().__setattr__(name, value)
        raise AttributeError(f"grading: changing {self.__name__}.{name} is not allowed while grading")

    def __delattr__(self, name):
        if self.__name__.split(".")[0] in ("_pytest", "pytest", "pluggy") and _from_pytest():
            return super().__delattr__(name)
        raise AttributeError(f"grading: deleting {self.__name__}.{name} is not allowed while grading")


def _guarded_module(name: str) -> bool:
    return name.split(".")[0].startswith(GUARDED_MODULE_PREFIXES)


def _inside(path: object, root: Path) -> bool:
    try:
        resolved = Path(os.fsdecode(path)).resolve()
    except (TypeError, ValueError, OSError):
        return False
    return resolved == root or root in resolved.parents


def _make_hook(scratch: Path):
    allowed = (scratch, Path("/dev/null"))

    def deny(what: str) -> None:
        raise PermissionError(f"grading: {what} is not allowed while grading")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing and not isinstance(path, int) and not any(_inside(path, root) for root in allowed):
                deny(f"writing to {path}")
        elif event in ("os.remove", "os.rename", "os.replace", "os.rmdir", "os.truncate", "os.chmod",
                       "os.chown", "os.link", "os.symlink", "shutil.rmtree", "shutil.move", "os.mkdir"):
            if not args or not _inside(args[0], scratch):
                deny(f"{event} outside the scratch folder")
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                       "os.forkpty", "os.kill", "os.killpg", "pty.spawn"):
            deny(f"{event}")
        elif event in ("socket.connect", "socket.bind", "socket.sendto"):
            deny("network access")
        elif event.startswith("ctypes.") or event in ("sys.settrace", "sys.setprofile", "sys._current_frames"):
            deny(event)
        elif event in ("object.__setattr__", "object.__delattr__"):
            obj, name = args[0], args[1]
            if name in ("__code__", "__class__") or (
                    isinstance(obj, type) and _guarded_module(getattr(obj, "__module__", "") or "")):
                deny(f"changing {getattr(obj, '__name__', type(obj).__name__)}.{name}")

    return hook


def pytest_collection_finish(session):
    """Everything the graders need is imported now; submitted code runs only from the first test on."""
    scratch = Path(os.environ.get(SCRATCH_ENV, os.getcwd())).resolve()
    for name, module in list(sys.modules.items()):
        if module is not None and _guarded_module(name) and type(module) is types.ModuleType:
            try:
                module.__class__ = _SealedModule
            except TypeError:
                pass
    sys.addaudithook(_make_hook(scratch))
