"""Datasets: committed files equal a fresh deterministic build; loaders return clean splits."""

from __future__ import annotations

import numpy as np
import pytest

from coursekit.data import BUILDERS, load_digits
from coursekit.data.__main__ import check


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_committed_files_match_a_fresh_build(name):
    assert check(name) == [], f"datasets/{name} differs from its builder's output: rebuild it"


def test_digits_splits():
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_digits()
    assert x_train.shape[1:] == (64,) and x_train.dtype == np.float32
    assert len(x_train) + len(x_val) + len(x_test) == 1797
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    for y in (y_train, y_val, y_test):
        assert sorted(set(y.tolist())) == list(range(10))  # stratified: every digit in every split
    images = load_digits(flat=False)[2][0]
    assert images.shape == (len(x_test), 8, 8, 1)
