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
"""

from __future__ import annotations

import ctypes
import os
import sys
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


def confine(scratch: Path, readable: list[Path], memory_mb: int | None = None) -> str:
    """Confine this process: read the Python installation, the system libraries, ``readable`` (the engine's and
    the submission's copies) and ``scratch``; write only ``scratch``. Returns a description of the layers in
    force."""
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
    return ", ".join(layers)
