"""Test configuration shared by every test folder, and the nbval settings for the lesson notebooks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "lessons", ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _without_stderr(outputs):
    return [out for out in outputs if not (out.get("output_type") == "stream" and out.get("name") == "stderr")]


def pytest_configure(config):
    """nbval: leave stderr out of the comparison.

    TensorFlow writes C++ log lines and warnings to stderr; they differ between machines and say nothing about
    the lesson. Everything else a cell shows (stdout, rich displays, the text form of diagrams) is compared.
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
