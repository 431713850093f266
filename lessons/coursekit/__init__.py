"""coursekit: the one place for what every lesson notebook shares.

A lesson starts with ``import coursekit as ck`` *before* importing Keras, so the settings below take effect:

- ``ck.reset(seed)``: ``keras.backend.clear_session()`` plus ``keras.utils.set_random_seed`` before building a model,
  so layer names (``dense``, ``dense_1``, ...) and weights are the same on every run.
- ``ck.show_model(*models)``: the ``plot_model`` diagram(s), side by side, carrying a machine-independent text form
  of each graph (``ck.graph_text``) which is what nbval compares.
- ``ck.EpochLog(every=10)``: a callback printing one line every few epochs.
- ``ck.plot_history(history)``: training curves from a ``History``.
- ``ck.claim(condition, message)``: assert what the lesson claims and print the claim (a checked output).
- ``ck.record_result(...)``: hand the lesson's headline held-out metric and its baseline to ``make course``.
- ``ck.data``: the course datasets (offline, deterministic), e.g. ``ck.data.load_digits()``.
"""

from __future__ import annotations

import os

# Keras 3 on TensorFlow; quiet C++ logging; no oneDNN custom ops, whose float rounding differs between CPUs.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from coursekit import data  # noqa: E402
from coursekit.notebook import (  # noqa: E402
    EpochLog,
    claim,
    graph_text,
    plot_history,
    record_result,
    reset,
    show_model,
)

__all__ = ["EpochLog", "claim", "data", "graph_text", "plot_history", "record_result", "reset", "show_model"]
