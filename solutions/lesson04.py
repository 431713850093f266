"""Lesson 04 — branches that merge: the Inception module. Reference solution to the graded exercise.

The grader in ``tests/grading/test_lesson04.py`` calls the function on a symbolic tensor and judges the graph it
adds: the four branches, what feeds each, the concatenation and the output shape. The code between
``# BEGIN SOLUTION`` and ``# END SOLUTION`` is what a student writes; the student edition keeps the signature and
docstring and replaces it with ``raise NotImplementedError``.
"""

from __future__ import annotations

import keras


def inception_module(x: keras.KerasTensor, filters: int) -> keras.KerasTensor:
    """Exercise: the classic Inception module, a tensor in and a tensor out.

    Four branches all start from ``x``; every convolution has ``filters`` filters, ReLU and ``padding="same"``:

    - a: a 1×1 convolution with ``strides=2``;
    - b: a 1×1 convolution, then a 3×3 convolution with ``strides=2``;
    - c: ``AveragePooling2D(3, strides=2, padding="same")``, then a 3×3 convolution;
    - d: a 1×1 convolution, then a 3×3 convolution, then a 3×3 convolution with ``strides=2``.

    Each branch halves the height and width (rounding up), so the four outputs can be concatenated on the
    channel axis (the last one). For ``x`` of shape ``(None, H, W, C)`` the result has shape
    ``(None, ceil(H/2), ceil(W/2), 4 * filters)``. Return that tensor (not a model).
    """
    # BEGIN SOLUTION
    layers = keras.layers
    branch_a = layers.Conv2D(filters, 1, strides=2, padding="same", activation="relu")(x)

    branch_b = layers.Conv2D(filters, 1, padding="same", activation="relu")(x)
    branch_b = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(branch_b)

    branch_c = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    branch_c = layers.Conv2D(filters, 3, padding="same", activation="relu")(branch_c)

    branch_d = layers.Conv2D(filters, 1, padding="same", activation="relu")(x)
    branch_d = layers.Conv2D(filters, 3, padding="same", activation="relu")(branch_d)
    branch_d = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(branch_d)

    return layers.concatenate([branch_a, branch_b, branch_c, branch_d], axis=-1)
    # END SOLUTION
