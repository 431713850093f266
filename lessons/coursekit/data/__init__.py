"""The course datasets: small, offline, deterministic.

Each dataset is a module here, named like its folder under ``datasets/`` (its files and a README with origin,
generative story and licence). A module defines ``build(folder)``, a seeded, deterministic builder that writes those
files, and a loader that returns NumPy arrays as ``(x_train, y_train), (x_val, y_val), (x_test, y_test)`` (or, for
several inputs or outputs, dicts keyed by their names). Modules are found automatically: ``ck.data.NAME``.

Rebuild or verify the committed files::

    python -m coursekit.data build [NAME ...]   # write datasets/NAME/ again
    python -m coursekit.data check [NAME ...]   # rebuild into a temporary folder and compare byte for byte
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

DATASETS_DIR = Path(__file__).resolve().parents[3] / "datasets"

# name -> builder writing the dataset's files into the folder it is given; one entry per module with a build()
BUILDERS: dict[str, Callable[[Path], None]] = {}
for _info in pkgutil.iter_modules(__path__):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    globals()[_info.name] = _module
    if callable(getattr(_module, "build", None)):
        BUILDERS[_info.name] = _module.build

from coursekit.data.digits import load_digits  # noqa: E402  (the shortcut every vision lesson uses)

__all__ = ["BUILDERS", "DATASETS_DIR", "load_digits"]
