"""Confine the worker process before any submitted code runs.

Two layers, both allow-lists:

1. **Landlock** (Linux 5.13 and later, no privileges needed): the kernel itself limits the process, and every
   process it could start, to reading the Python installation, the virtual environment, the system libraries and
   its own scratch folder, and to writing only in the scratch folder. It cannot execute programs, and, where the
   kernel offers it (Landlock ABI 4 and 6), it cannot open TCP connections, signal processes outside itself or
   reach abstract Unix sockets. Nothing can lift these limits once they are set; the grader's files, the reference
   solutions, the lesson notebooks, ``build/`` and ``.git`` are simply not there for the worker.
2. **An audit hook** (``sys.addaudithook``, which cannot be removed): the same file allow-list for Python's own
   file access, and no processes, signals, sockets or ctypes. On a machine without Landlock (macOS, Windows, an
   old kernel) this is the only layer, and it is a deterrent, not a wall: code in the process can reach around
   it. :func:`confine` reports which layers are active.

Both layers run *inside* the outer wall the judge puts around the worker where it can: **bubblewrap**
(:func:`bwrap_command`, the ``bwrap`` program), which starts the worker in new PID, network, IPC, UTS, user and
cgroup namespaces, with a file system made of read-only views of only what it needs and a size-limited tmpfs as its
scratch, and kills it with its judge. Where bwrap is missing or unusable (:func:`bubblewrap` says why) the worker
runs with the two layers above, a limit on the size of each file it writes, and the lifecycle helpers below:
it dies with its judge (``PR_SET_PDEATHSIG``), and the judge, a child subreaper, kills what it leaves behind
(:func:`end_adopted`). A teacher may require bwrap (``COURSE_REQUIRE_SANDBOX=1``, ``--require-sandbox``):
grading then refuses to run without it (:func:`refusal`).
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# Landlock constants (linux/landlock.h)
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_FS = {name: 1 << bit for bit, name in enumerate([
    "EXECUTE", "WRITE_FILE", "READ_FILE", "READ_DIR", "REMOVE_DIR", "REMOVE_FILE", "MAKE_CHAR", "MAKE_DIR",
    "MAKE_REG", "MAKE_SOCK", "MAKE_FIFO", "MAKE_BLOCK", "MAKE_SYM", "REFER", "TRUNCATE", "IOCTL_DEV"])}
_FS_BY_ABI = {1: 13, 2: 14, 3: 15, 4: 15, 5: 16}  # how many of the rights above each ABI version knows
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2
_PR_SET_NO_NEW_PRIVS = 38
_O_PATH = getattr(os, "O_PATH", 0o10000000)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _rights(names: list[str], abi: int) -> int:
    known = _FS_BY_ABI.get(abi, 16)
    mask = (1 << known) - 1
    return sum(_FS[n] for n in names) & mask


def landlock(readable: list[Path], writable: list[Path]) -> str:
    """Restrict this process with Landlock; returns a description, or '' where Landlock is not available."""
    if not sys.platform.startswith("linux"):
        return ""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        abi = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return ""
    if abi < 1:
        return ""
    handled = _rights(list(_FS), abi)
    read = _rights(["READ_FILE", "READ_DIR"], abi)
    write = handled & ~_FS["EXECUTE"]
    attr = _RulesetAttr(handled, (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0,
                        (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return ""
    try:
        for paths, access in ((readable, read), (writable, write)):
            for path in paths:
                try:
                    fd = os.open(path, _O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = access if Path(path).is_dir() else access & (
                        _FS["READ_FILE"] | _FS["WRITE_FILE"] | _rights(["TRUNCATE", "IOCTL_DEV"], abi))
                    rule = _PathBeneathAttr(allowed, fd)
                    if libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                                    ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                        raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
                finally:
                    os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    extras = (["no TCP"] if abi >= 4 else []) + (["no signals or abstract sockets outside"] if abi >= 6 else [])
    return f"Landlock ABI {abi}" + (f" ({', '.join(extras)})" if extras else "")


def _inside(path: object, roots: tuple[Path, ...]) -> bool:
    try:
        resolved = Path(os.fsdecode(path)).resolve()
    except (TypeError, ValueError, OSError):
        return False
    return any(resolved == root or root in resolved.parents for root in roots)


def audit_hook(readable: list[Path], writable: list[Path]):
    """The audit hook: file access only within the allow-lists; no processes, signals, sockets, ctypes."""
    read_roots = tuple(p.resolve() for p in readable + writable)
    write_roots = tuple(p.resolve() for p in writable)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def deny(what: str) -> None:
        raise PermissionError(f"grading: {what} is not allowed while grading")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if isinstance(path, int) or path is None:
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & write_flags)
            if not _inside(path, write_roots if writing else read_roots):
                deny(f"opening {path}")
        elif event in ("os.listdir", "os.scandir", "glob.glob", "os.chdir"):
            if args and args[0] is not None and not isinstance(args[0], int) and not _inside(args[0], read_roots):
                deny(f"{event} on {args[0]}")
        elif event in ("os.remove", "os.rename", "os.replace", "os.rmdir", "os.truncate", "os.chmod", "os.chown",
                       "os.link", "os.symlink", "shutil.rmtree", "shutil.move", "os.mkdir", "os.utime"):
            if not args or not _inside(args[0], write_roots):
                deny(f"{event} outside the scratch folder")
        elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                       "os.forkpty", "os.kill", "os.killpg", "pty.spawn", "signal.pthread_kill", "os.startfile"):
            deny(event)
        elif event.startswith("socket.") and event not in ("socket.gethostname",):
            deny("network access")
        elif event.startswith("ctypes.") or event in ("sys.setprofile", "sys.settrace"):
            deny(event)

    return hook


def confine(scratch: Path, readable: list[Path], memory_mb: int | None = None, file_mb: int | None = None) -> str:
    """Confine this process: read the Python installation, the system libraries, ``readable`` (the engine's and
    the submission's copies) and ``scratch``; write only ``scratch``, files of at most ``file_mb`` each (where no
    size-limited tmpfs bounds the scratch). Returns a description of the layers in force."""
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    libraries = [Path(p) for p in ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo",
                                   "/etc/ld.so.cache", "/dev/urandom", "/dev/null", "/proc/self",
                                   "/sys/devices/system/cpu", "/sys/fs/cgroup")]
    readable = sorted(prefixes) + [p for p in libraries if p.exists()] + [p.resolve() for p in readable]
    writable = [scratch.resolve(), Path("/dev/null")]
    layers = []
    described = landlock(readable, writable)
    if described:
        layers.append(described)
    sys.addaudithook(audit_hook(readable, writable))
    layers.append("audit hook")
    if memory_mb:
        try:
            import resource

            with open("/proc/self/statm") as statm:
                current = int(statm.read().split()[0]) * resource.getpagesize()
            limit = current + memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            layers.append(f"{memory_mb} MB more memory at most")
        except (ImportError, OSError, ValueError):
            pass
    if file_mb:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 2**20, file_mb * 2**20))
            layers.append(f"files of {file_mb} MB at most (no quota on their total)")
        except (ImportError, OSError, ValueError):
            pass
    return ", ".join(layers)


# ------------------------------------------------------------------------------------------------ bubblewrap

BWRAP_ENV = "COURSE_BWRAP"  # the bwrap program to use (default: bwrap on the PATH); tests point it at nothing
REQUIRE_ENV = "COURSE_REQUIRE_SANDBOX"  # 1: grade only inside bubblewrap
DEFAULT_SCRATCH_MB = 512
INSIDE = Path("/grading")  # where the worker's folders appear inside bubblewrap
# the few /etc files the dynamic linker, Python, TensorFlow and JAX read
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "passwd", "group",
        "nsswitch.conf", "hosts", "fonts")
_NAMESPACES = {"pid": "PID", "net": "network", "ipc": "IPC", "uts": "UTS", "user": "user", "cgroup": "cgroup",
               "mnt": "mount"}


@dataclass(frozen=True)
class Bubblewrap:
    """A bwrap that works here: its version and the namespaces it really creates (the judge's own facts)."""

    program: str
    version: str
    namespaces: tuple[str, ...]

    def describe(self, scratch_mb: int) -> str:
        return f"bubblewrap {self.version} ({', '.join(self.namespaces)} namespaces; {scratch_mb} MB scratch)"


def required(flag: bool = False) -> bool:
    """Whether grading must run inside bubblewrap: the option, or COURSE_REQUIRE_SANDBOX=1."""
    return bool(flag) or os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def refusal(why: str) -> str:
    """The one sentence grading ends with when bubblewrap is required but cannot be used."""
    return (f"Grading requires the bubblewrap sandbox, but {why}: install it (Debian/Ubuntu 'sudo apt-get install "
            "bubblewrap', Fedora 'sudo dnf install bubblewrap'; 'make setup' does it where it can) on a runner that "
            "allows unprivileged user namespaces (on Ubuntu 23.10 and later 'sudo sysctl -w "
            "kernel.apparmor_restrict_unprivileged_userns=0'; in a container, one started with user namespaces "
            "allowed), or grade without COURSE_REQUIRE_SANDBOX / --require-sandbox")


def bubblewrap() -> tuple[Bubblewrap | None, str]:
    """The usable bwrap, or (None, why not). Tried once per process (and program) with a trivial sandbox."""
    return _probe(os.environ.get(BWRAP_ENV) or shutil.which("bwrap") or "")


def _namespace_ids() -> list[str]:
    return [os.readlink(f"/proc/self/ns/{name}") if os.path.exists(f"/proc/self/ns/{name}") else ""
            for name in _NAMESPACES]


@functools.cache
def _probe(program: str) -> tuple[Bubblewrap | None, str]:
    if not sys.platform.startswith("linux"):
        return None, "bubblewrap runs on Linux only"
    if not program or not os.access(program, os.X_OK):
        return None, f"bubblewrap ({program or 'bwrap'}) is not installed"
    script = (f"import os; print(' '.join(os.readlink('/proc/self/ns/' + n) if os.path.exists('/proc/self/ns/' + n) "
              f"else '' for n in {list(_NAMESPACES)!r}))")
    try:
        version = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30).stdout.split()
        proc = subprocess.run([program, *_view(), "--", sys.executable, "-I", "-S", "-c", script],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"bubblewrap ({program}) cannot be run ({error})"
    if proc.returncode != 0:
        said = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return None, f"bubblewrap ({program}) cannot create a sandbox here ({said})"
    inside = proc.stdout.split()
    namespaces = tuple(label for (name, label), mine, theirs in zip(_NAMESPACES.items(), _namespace_ids(), inside)
                       if mine and theirs and mine != theirs)
    if not {"PID", "network"} <= set(namespaces):
        return None, f"bubblewrap ({program}) created only {', '.join(namespaces) or 'no'} namespaces"
    return Bubblewrap(program, version[-1] if version else "(unknown version)", namespaces), ""


def python_prefixes() -> list[Path]:
    """The Python installation(s) the worker runs: the virtual environment and the Python it was made from."""
    found: list[Path] = []
    for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        for path in (Path(prefix), Path(prefix).resolve()):
            if path not in found:
                found.append(path)
    return found


def _view() -> list[str]:
    """bwrap's options for every sandbox: all namespaces, and a root file system (read-only) holding the system
    libraries, the few /etc files they need and the Python installation(s), nothing else."""
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
            "--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib32", "lib64", "libx32"):
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in _ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    for prefix in python_prefixes():
        if not (prefix == Path("/usr") or Path("/usr") in prefix.parents):
            args += ["--ro-bind", str(prefix), str(prefix)]
    return args


def bwrap_command(bwrap: Bubblewrap, argv: list[str], env: dict[str, str], binds: list[tuple[Path, Path]],
                  scratch: Path, scratch_mb: int) -> list[str]:
    """``bwrap ... -- argv``: ``binds`` (host folder, where it appears) read-only, ``scratch`` a tmpfs of
    ``scratch_mb`` MB and the working folder, exactly the environment ``env``, and the root file system read-only
    once it is made (bwrap's own root is a tmpfs without a size limit)."""
    args = [bwrap.program, *_view(), "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    for source, target in binds:
        args += ["--ro-bind", str(source), str(target)]
    args += ["--size", str(scratch_mb * 2**20), "--tmpfs", str(scratch), "--chdir", str(scratch),
             "--remount-ro", "/dev", "--remount-ro", "/", "--", *argv]
    return args


# -------------------------------------------------------------------------------------------- process lifecycle

_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
    except OSError:
        return None


def child_setup(die_with_parent: bool):
    """A ``preexec_fn``: the child gets SIGKILL when the thread that started it ends (PR_SET_PDEATHSIG), and the
    parent's soft address-space limit (the judge's, :func:`limit_memory`) is lifted for it."""
    libc = _libc() if die_with_parent else None
    parent = os.getpid()
    try:
        import resource

        limits = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        resource, limits = None, None

    def setup() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the line above
                os._exit(1)
        if resource is not None and limits is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limits[1], limits[1]))

    return setup


@functools.cache
def become_subreaper() -> bool:
    """Make this process adopt its descendants' orphans (PR_SET_CHILD_SUBREAPER), so that a process a worker
    started in a session of its own comes back here to be ended rather than to init."""
    libc = _libc()
    return libc is not None and libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(parent, process group, start time in clock ticks after boot) of a process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[2]), int(fields[19])


def start_time(pid: int) -> int:
    """When a process started (clock ticks after boot; 0 if unknown)."""
    stat = _stat(pid)
    return stat[2] if stat else 0


def end_adopted(since: int, spared: set[int] = frozenset()) -> int:
    """Kill and reap every process this subreaper adopted that started at or after ``since`` (a
    :func:`start_time`), outside its own process group and not in ``spared`` (the children it started itself and
    still uses), until none is left; how many there were."""
    if not sys.platform.startswith("linux") or not since:
        return 0
    me, group, ended = os.getpid(), os.getpgrp(), 0
    for _ in range(100):
        adopted = []
        for entry in os.listdir("/proc"):
            stat = _stat(int(entry)) if entry.isdigit() else None
            if stat and stat[0] == me and stat[1] != group and stat[2] >= since and int(entry) not in spared:
                adopted.append(int(entry))
        if not adopted:
            break
        for pid in adopted:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in adopted:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        ended += len(adopted)
    return ended


def limit_memory(extra_mb: int) -> str:
    """Bound this process's address space at its current size plus ``extra_mb`` (soft limit: what it starts may
    lift it); a MemoryError instead of the machine swapping. A description, or '' where it cannot be set."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * resource.getpagesize()
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        limit = current + extra_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    except (ImportError, OSError, ValueError):
        return ""
    return f"{extra_mb} MB more memory at most"
