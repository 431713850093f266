"""The course datasets: small, offline, deterministic.

Each dataset has a folder under ``datasets/`` (its files and a README with origin, generative story and licence)
and a module here with ``build(folder)`` (a seeded, deterministic builder that writes those files) and a loader
that returns NumPy arrays as ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``.

Rebuild or verify the committed files::

    python -m coursekit.data build [NAME ...]   # write datasets/NAME/ again
    python -m coursekit.data check [NAME ...]   # rebuild into a temporary folder and compare byte for byte
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from coursekit.data import digits
from coursekit.data.digits import load_digits

DATASETS_DIR = Path(__file__).resolve().parents[3] / "datasets"

# name -> builder writing the dataset's files into the folder it is given
BUILDERS: dict[str, Callable[[Path], None]] = {
    "digits": digits.build,
}

__all__ = ["BUILDERS", "DATASETS_DIR", "load_digits"]
