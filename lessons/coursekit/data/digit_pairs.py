"""Pairs of handwritten digits: are the two images the same digit? (lesson 06)

Every image is one of the 1,797 real 8x8 digits (``coursekit.data.digits``); what is generated here is only which
two images form a pair. Pairs are drawn *inside* each split of the digits, so the test pairs are made of images no
model saw during training. For each pair a digit class is drawn uniformly; every other pair is a "same" pair (two
different images of that class), the others are "different" pairs (an image of that class and an image of one of the
nine other classes, drawn uniformly). Half the pairs are "same", so guessing gets one pair in two right.

The pairs are written to ``datasets/digit_pairs/{train,validation,test}.jsonl``, one JSON object per line, for example
``{"a": 1203, "b": 77, "digit_a": 3, "digit_b": 3, "same": 1}``: ``a`` and ``b`` index the scikit-learn digits, and
the two labels are there for a reader (the models never see them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from coursekit.data import digits
from coursekit.data._jsonl import read_jsonl, write_jsonl

SEED = 6
SIZES = {"train": 3000, "validation": 500, "test": 1000}
FOLDER = Path(__file__).resolve().parents[3] / "datasets" / "digit_pairs"


def _pairs(indices: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator) -> list[dict]:
    by_class = [indices[labels[indices] == c] for c in range(10)]
    pairs = []
    for i in range(size):
        first = int(rng.integers(10))
        same = i % 2 == 0
        if same:
            a, b = rng.choice(by_class[first], 2, replace=False)
        else:
            second = (first + int(rng.integers(1, 10))) % 10
            a, b = rng.choice(by_class[first]), rng.choice(by_class[second])
        pairs.append({"a": int(a), "b": int(b), "digit_a": int(labels[a]), "digit_b": int(labels[b]),
                      "same": int(same)})
    return pairs


def build(folder: Path) -> None:
    """Write the train / validation / test pairs as JSON lines, drawn with one fixed seed."""
    _, labels = digits._raw()
    splits = json.loads(digits.SPLITS_FILE.read_text())
    rng = np.random.default_rng(SEED)
    folder.mkdir(parents=True, exist_ok=True)
    for split, size in SIZES.items():
        pairs = _pairs(np.array(splits[split]), labels, size, rng)
        write_jsonl(folder / f"{split}.jsonl", pairs)


def read(split: str, folder: Path = FOLDER) -> list[dict]:
    """The raw records of one split: dicts with ``a``, ``b``, ``digit_a``, ``digit_b`` and ``same``."""
    return read_jsonl(folder / f"{split}.jsonl")


def load_digit_pairs(folder: Path = FOLDER):
    """The pairs as ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``.

    ``x`` is a dict ``{"image_a": ..., "image_b": ...}`` of float32 images (n, 8, 8, 1) in [0, 1]; ``y`` is float32,
    1.0 when both images show the same digit, else 0.0.
    """
    images, _ = digits._raw()
    x = (images / 16.0)[..., None]
    out = []
    for split in ("train", "validation", "test"):
        records = read(split, folder)
        a = np.array([r["a"] for r in records])
        b = np.array([r["b"] for r in records])
        same = np.array([r["same"] for r in records], dtype="float32")
        out.append(({"image_a": x[a], "image_b": x[b]}, same))
    return tuple(out)
