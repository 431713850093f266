"""coursekit: the one place for what every lesson notebook shares.

A lesson starts with ``import coursekit as ck`` *before* importing Keras, so the settings below take effect:

- ``ck.show_backend()``: name the backend Keras runs on (``KERAS_BACKEND``: ``tensorflow``, the default, or
  ``jax``), outside the checked outputs, which are the same on every backend.
- ``ck.gradients(loss_fn, variables)``: gradients with the backend's own automatic differentiation, the one
  backend-specific step a lesson may need (everything else is ``keras.ops``).
- ``ck.reset(seed)``: ``keras.backend.clear_session()`` plus ``keras.utils.set_random_seed`` before building a model,
  so layer names (``dense``, ``dense_1``, ...) and weights are the same on every run.
- ``ck.show_model(*models)``: the ``plot_model`` diagram(s), side by side, carrying a machine-independent text form
  of each graph (``ck.graph_text``) which is what nbval compares.
- ``ck.EpochLog(every=10)``: a callback printing one line every few epochs.
- ``ck.plot_history(history)``: training curves from a ``History``.
- ``ck.claim(condition, message)``: assert what the lesson claims and print the claim (a checked output).
- ``ck.record_result(...)``: hand the lesson's headline held-out metric and its baseline to ``make course``.
- ``ck.check(name)``: grade an exercise as it is in the kernel now, with the course's visible tests (the same
  graders, judge and sandboxed worker as ``make grade``); ``ck.check()`` every exercise of the lesson;
  ``ck.progress()``, ``ck.hint(name)``, ``ck.solution(name)`` (:mod:`coursekit.check`).
- ``ck.data``: the course datasets (offline, deterministic), e.g. ``ck.data.load_digits()``.
"""

from __future__ import annotations

import os
import sys

# Keras 3 on TensorFlow unless KERAS_BACKEND says otherwise (jax: `make test BACKEND=jax`); for TensorFlow, quiet
# C++ logging and no oneDNN custom ops, whose float rounding differs between CPUs.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from coursekit import data  # noqa: E402
from coursekit.check import check, hint, progress, solution  # noqa: E402
from coursekit.notebook import (  # noqa: E402
    BACKENDS,
    EpochLog,
    claim,
    gradients,
    graph_text,
    plot_history,
    record_result,
    reset,
    show_backend,
    show_model,
)

check_module = sys.modules["coursekit.check"]
check_module.prestart()  # in a notebook's kernel: the judge of ck.check starts now, beside the lesson
del check_module

__all__ = ["BACKENDS", "EpochLog", "check", "claim", "data", "gradients", "graph_text", "hint", "plot_history",
           "progress", "record_result", "reset", "show_backend", "show_model", "solution"]
