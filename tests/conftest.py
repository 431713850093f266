"""Test configuration shared by every test folder, and the nbval settings for the lesson notebooks."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "lessons", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# the notebooks' check cells (ck.check) record their points in a file of this run, not in lessons/ (the processes
# this run starts, its judges among them, inherit the setting)
if "COURSE_PROGRESS" not in os.environ:
    _PROGRESS = tempfile.mkdtemp(prefix="course-progress-")
    os.environ["COURSE_PROGRESS"] = os.path.join(_PROGRESS, "progress.json")
    atexit.register(shutil.rmtree, _PROGRESS, True)


def _without_stderr(outputs):
    from coursekit.check import unchecked  # stderr, the backend's name, "checking..."

    return [out for out in outputs if not unchecked(out)]


def pytest_configure(config):
    """nbval: leave stderr out of the comparison, and the outputs coursekit marks ``unchecked``.

    TensorFlow writes C++ log lines and warnings to stderr; they differ between machines and say nothing about
    the lesson. coursekit marks (``metadata.coursekit.unchecked``) the backend's name (``ck.show_backend``) and the
    "checking..." line of ``ck.check``, replaced by the check's table when it is done. Everything else a cell shows
    (stdout, rich displays, the text form of diagrams, the check's table) is compared.
    """
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    if getattr(IPyNbCell.compare_outputs, "_course_patched", False):
        return
    original = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        return original(self, _without_stderr(test), _without_stderr(ref), skip_compare)

    compare_outputs._course_patched = True
    IPyNbCell.compare_outputs = compare_outputs


def pytest_unconfigure(config):
    """The folders of the notebooks' kernels that nbval stopped without a shutdown (ck.check's judge), removed."""
    if not getattr(config.option, "nbval", False):  # a judge's run, or tests without notebooks
        return
    from coursekit.check import _remove_stale_sessions

    _remove_stale_sessions()
