"""Handwritten digits: the 1,797 8x8 images that scikit-learn ships (no download).

The images come from the UCI "Optical Recognition of Handwritten Digits" data set, as bundled by scikit-learn.
What this module adds is a fixed, stratified train / validation / test split, written to
``datasets/digits/splits.json`` so that every machine and every future scikit-learn uses the same one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SEED = 1797
FRACTIONS = {"train": 0.65, "validation": 0.15, "test": 0.20}
SPLITS_FILE = Path(__file__).resolve().parents[3] / "datasets" / "digits" / "splits.json"


def _raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return bunch.images.astype("float32"), bunch.target.astype("int64")


def build(folder: Path) -> None:
    """Write ``splits.json``: a stratified split of the 1,797 indices, drawn with a fixed seed."""
    _, labels = _raw()
    rng = np.random.default_rng(SEED)
    splits: dict[str, list[int]] = {name: [] for name in FRACTIONS}
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        n_test = round(len(idx) * FRACTIONS["test"])
        n_val = round(len(idx) * FRACTIONS["validation"])
        splits["test"] += idx[:n_test].tolist()
        splits["validation"] += idx[n_test:n_test + n_val].tolist()
        splits["train"] += idx[n_test + n_val:].tolist()
    folder.mkdir(parents=True, exist_ok=True)
    lines = ",\n".join(f'  "{name}": {json.dumps(sorted(ids))}' for name, ids in splits.items())
    (folder / "splits.json").write_text("{\n" + lines + "\n}\n")


def load_digits(flat: bool = True):
    """The digits as ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``.

    ``x`` is float32 in [0, 1]: shape (n, 64) when ``flat``, else (n, 8, 8, 1) images. ``y`` holds int64 labels 0-9.
    """
    images, labels = _raw()
    x = images / 16.0
    x = x.reshape(len(x), 64) if flat else x[..., None]
    splits = json.loads(SPLITS_FILE.read_text())
    return tuple((x[np.array(splits[name])], labels[np.array(splits[name])])
                 for name in ("train", "validation", "test"))
