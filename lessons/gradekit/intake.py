"""Intake: the only way a submission enters grading.

A submission is the student's: its paths, links, sizes and counts are not to be trusted. :func:`take` copies into
a folder the judge owns exactly the files grading reads (``lessonNN.py`` and ``NN_*.ipynb`` at the top level of a
submission folder, or the one submitted notebook) and nothing else: no sub-folder, no hidden file. It never follows
a symbolic link (neither the submission itself nor a file in it), takes only regular files with a single name (no
hard link, pipe or device), reads at most a bounded number of bytes of each and looks at a bounded number of
entries. A refused file is not copied; its lesson gets a message that names the file and says what to do, which
the judge shows as the lesson's feedback.

:func:`scrub_paths` removes the machine's absolute paths from any text that reaches a student's report.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_MODULE_BYTES = 2 * 2**20  # a lessonNN.py
MAX_NOTEBOOK_BYTES = 50 * 2**20  # a notebook, outputs included
MAX_ENTRIES = 2000  # entries of a submission folder looked at
EVERY_LESSON = "*"  # the key of a problem with the submission as a whole

MODULE = re.compile(r"lesson([0-9]{2})\.py")
NOTEBOOK = re.compile(r"([0-9]{2})_.*\.ipynb", re.DOTALL)  # as the worker's glob NN_*.ipynb
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)  # a FIFO cannot block the open


@dataclass
class Intake:
    """What was taken: the path the worker reads (the judge's folder, or the notebook in it), and why some lessons
    cannot be graded (lesson such as ``lesson01``, or :data:`EVERY_LESSON`, -> a message for the student)."""

    submission: Path
    problems: dict[str, str] = field(default_factory=dict)
    # a submission folder's lessons that have a file (None: one notebook, which the worker matches to a lesson)
    lessons: frozenset[str] | None = None
    folder: str = ""  # the submission folder's name, for the message about a lesson it lacks

    def problem(self, lesson: str) -> str:
        found = self.problems.get(lesson) or self.problems.get(EVERY_LESSON, "")
        if not found and self.lessons is not None and lesson not in self.lessons:
            return absent(lesson, self.folder)
        return found


def absent(lesson: str, folder: str) -> str:
    """Why a submission folder's ``lesson`` cannot be graded when it has no file for it (the worker says the same)."""
    return f"neither {lesson}.py nor a notebook {lesson[-2:]}_*.ipynb was found in the submission folder {folder}"


def location_problem(location: Path) -> str:
    """Why the submission at ``location`` cannot be taken at all ('' if it is a real folder or notebook). The path
    itself is looked at, never what it points to."""
    name = Path(location).name
    try:
        mode = os.lstat(location).st_mode
    except FileNotFoundError:
        return f"the submission {name} does not exist"
    except OSError as error:
        return f"the submission {name} cannot be read ({error.strerror})"
    if stat.S_ISLNK(mode):
        return f"{name} is a symbolic link: hand in the folder or notebook itself"
    if stat.S_ISDIR(mode):
        return ""
    if not stat.S_ISREG(mode):
        return f"{name} is not a regular file or folder (a pipe, device or socket): hand in your notebook itself"
    if not name.endswith(".ipynb"):
        return (f"{name} is neither a folder nor a notebook (.ipynb): hand in your notebook, or a folder of your "
                "lessonNN.py or NN_*.ipynb files")
    return ""


def take(location: Path, dest: Path) -> Intake:
    """Copy the files grading reads from the submission at ``location`` into ``dest`` (created, the judge's)."""
    location, dest = Path(location), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    why = location_problem(location)
    if why:
        return Intake(dest, {EVERY_LESSON: why})
    if not stat.S_ISDIR(os.lstat(location).st_mode):  # the one notebook of a submission
        why = _copy(None, location, location.name, dest / location.name, MAX_NOTEBOOK_BYTES)
        return Intake(dest / location.name, {EVERY_LESSON: why} if why else {})
    try:
        folder = os.open(location, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:  # replaced by a link since it was looked at, or unreadable
        return Intake(dest, {EVERY_LESSON: f"the submission folder {location.name} cannot be read ({error.strerror})"})
    try:
        names = _names(folder, location.name)
        if isinstance(names, str):
            return Intake(dest, {EVERY_LESSON: names})
        problems = {}
        chosen = chosen_files(names)
        for lesson, name in chosen.items():
            limit = MAX_NOTEBOOK_BYTES if name.endswith(".ipynb") else MAX_MODULE_BYTES
            why = _copy(folder, Path(name), name, dest / name, limit)
            if why:
                problems[lesson] = why
        return Intake(dest, problems, frozenset(chosen), location.name)
    finally:
        os.close(folder)


def _names(folder: int, label: str) -> list[str] | str:
    """The names in the folder (at most MAX_ENTRIES), or why there are too many."""
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if len(names) >= MAX_ENTRIES:
                return (f"the submission folder {label} holds more than {MAX_ENTRIES} entries: hand in only your "
                        "lesson files (lessonNN.py or NN_*.ipynb)")
            names.append(entry.name)
    return names


def chosen_files(names: list[str]) -> dict[str, str]:
    """The one file grading reads for each lesson (``lessonNN`` -> file name): ``lessonNN.py``, else the first
    ``NN_*.ipynb`` in sorted order. Hidden files are never taken. Intake copies these; the worker and the judge find
    a lesson's file in the copy by the same rule (:func:`gradekit.worker.find_lesson`)."""
    modules, notebooks = {}, {}
    for name in sorted(names):
        module, notebook = MODULE.fullmatch(name), NOTEBOOK.fullmatch(name)
        if module:
            modules[f"lesson{module[1]}"] = name
        elif notebook:
            notebooks.setdefault(f"lesson{notebook[1]}", name)
    return {**notebooks, **modules}


# why read_regular refuses a file, as intake's feedback and merge's refusals word it ("<name> is a symbolic link")
NOT_TAKEN = {"link": "is a symbolic link", "socket": "is not a regular file (a socket)",
             "folder": "is a folder, not a file", "special": "is not a regular file (a pipe, device or socket)",
             "hard link": "is a hard link (the same file under another name too)"}


def read_regular(path: Path, limit: int, folder: int | None = None) -> tuple[bytes | None, str]:
    """The bytes of one regular file (``path``, relative to the open ``folder`` if given), at most ``limit``: opened
    without following a link or blocking on a FIFO, refused if it is not a regular file or has another name (a hard
    link), read with a bound whatever its size. Returns (data, '') or (None, why): a key of the refusals above,
    'too large', or the system's reason it cannot be opened. Intake and the classroom's merge read through it."""
    try:
        fd = os.open(path, _READ, dir_fd=folder) if folder is not None else os.open(path, _READ)
    except OSError as error:
        return None, {errno.ELOOP: "link", errno.ENXIO: "socket"}.get(error.errno, error.strerror or "error")
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return None, "folder"
        if not stat.S_ISREG(info.st_mode):
            return None, "special"
        if info.st_nlink > 1:
            return None, "hard link"
        data = b"" if info.st_size > limit else _read(fd, limit + 1)
        if info.st_size > limit or len(data) > limit:
            return None, "too large"
        return data, ""
    finally:
        os.close(fd)


def _copy(folder: int | None, path: Path, name: str, target: Path, limit: int) -> str:
    """Copy one regular file (``path``, relative to the open ``folder`` if given) to ``target``; '' or why not."""
    data, why = read_regular(path, limit, folder)
    if data is None:
        if why == "too large":
            return _too_large(name, limit)
        if why == "hard link":
            return f"{name} {NOT_TAKEN[why]}: hand in a copy of the file itself"
        if why in NOT_TAKEN:
            return f"{name} {NOT_TAKEN[why]}: hand in the file itself"
        return f"{name} cannot be read ({why}): hand it in again"
    with open(target, "xb") as out:
        out.write(data)
    return ""


def _read(fd: int, most: int) -> bytes:
    chunks, have = [], 0
    while have < most:
        chunk = os.read(fd, min(most - have, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        have += len(chunk)
    return b"".join(chunks)


def _too_large(name: str, limit: int) -> str:
    size = f"{limit // 2**20} MB"
    if name.endswith(".ipynb"):
        return (f"{name} is larger than {size}: clear its outputs (Kernel → Restart and clear outputs) and hand it "
                "in again")
    return f"{name} is larger than {size}: hand in only your code, without data pasted into it"


# ------------------------------------------------------------------------------------------------ feedback

# An absolute path: a slash at the start or after a space, quote, bracket, '=' or ':' (but not '//', as in a URL),
# then one or more components.
_ABSOLUTE = re.compile(r"(?:^|(?<=[\s'\"`(\[{<=:,]))(?:/[^\s/'\"`()\[\]{}<>,:;|]+)+/?")


def scrub_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its last component ('/work/main/solutions/lesson01.py' ->
    'lesson01.py'): a report shows no folder of the machine (the course's, the judge's or the worker's)."""
    return _ABSOLUTE.sub(lambda match: match[0].rstrip("/").rsplit("/", 1)[-1], str(text))
