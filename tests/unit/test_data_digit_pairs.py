"""digit_pairs: pairs stay inside their split, labels agree with the digits, half the pairs are 'same'."""

from __future__ import annotations

import json

import numpy as np

from coursekit.data import digit_pairs, digits


def test_pairs_are_consistent_with_the_digits():
    _, labels = digits._raw()
    splits = json.loads(digits.SPLITS_FILE.read_text())
    for split, size in digit_pairs.SIZES.items():
        records = digit_pairs.read(split)
        allowed = set(splits[split])
        assert len(records) == size
        assert all(r["a"] in allowed and r["b"] in allowed for r in records), f"{split}: a pair leaves its split"
        assert all(r["digit_a"] == labels[r["a"]] and r["digit_b"] == labels[r["b"]] for r in records)
        assert all(r["same"] == int(r["digit_a"] == r["digit_b"]) for r in records)
        assert all(r["a"] != r["b"] for r in records)
        assert sum(r["same"] for r in records) == size // 2


def test_loader_returns_the_images_of_the_pairs():
    (x_train, y_train), (x_val, _), (x_test, y_test) = digit_pairs.load_digit_pairs()
    assert set(x_train) == {"image_a", "image_b"}
    assert x_train["image_a"].shape == (3000, 8, 8, 1) and x_train["image_a"].dtype == np.float32
    assert y_train.dtype == np.float32 and set(np.unique(y_test).tolist()) == {0.0, 1.0}
    images, _ = digits._raw()
    first = digit_pairs.read("test")[0]
    assert np.allclose(x_test["image_b"][0, :, :, 0], images[first["b"]] / 16.0)
    assert len(x_val["image_a"]) == 500
