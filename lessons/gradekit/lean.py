"""Importing Keras in a grading process without the optional integrations grading never uses.

``import keras`` also imports, when they are installed, scikit-learn (for the estimators of ``keras.wrappers``),
matplotlib (for the image galleries of ``keras.visualization``) and, on TensorFlow, JAX (TensorFlow Lite's converter
imports it). Each of these imports is optional: Keras and TensorFlow make it in a ``try ... except ImportError`` and
work without it. The course installs all three (the lessons plot, lesson 01 reads scikit-learn's digits, JAX is the
second backend), so every worker and judge paid for them: on the 2-core machine they were about 2.5 s of the 6.5 s a
process spent importing Keras on TensorFlow, and about 1.5 s of 3.3 s on JAX (measured 2026-12-03). A worker starts
once per submission (and per judge), so this was a large share of grading a class.

:func:`import_keras` imports Keras while those packages look absent, then lets them be imported as usual: code that
asks for scikit-learn or matplotlib afterwards (a submitted notebook's helper cell, say) gets them. What stays
unavailable in that process is only what Keras decided at import time: its scikit-learn wrappers and its image
galleries, which no exercise of the course uses. The backend's own package is never hidden.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

# the packages Keras (and TensorFlow) import only if they can; hidden while Keras is imported
OPTIONAL = ("sklearn", "matplotlib", "jax")


class _LookAbsent:
    """A meta-path finder under which the named top-level packages cannot be found."""

    def __init__(self, names: set[str]):
        self.names = names

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"{name} is not imported while Keras is (gradekit.lean)", name=name)
        return None


def hidden_while_importing(backend: str | None = None) -> set[str]:
    """The optional packages to hide: those not yet imported, except the backend's (KERAS_BACKEND). Where the
    backend is not named in the environment (Keras then reads its own settings file), JAX is not hidden."""
    backend = os.environ.get("KERAS_BACKEND", "") if backend is None else backend
    names = {name for name in OPTIONAL if name not in sys.modules}
    if backend in ("", "jax"):
        names.discard("jax")
    return names


def import_keras() -> ModuleType:
    """``import keras``, without the optional integrations above if Keras is not imported yet."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    finder = _LookAbsent(hidden_while_importing())
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module("keras")
    finally:
        sys.meta_path.remove(finder)
