"""Lesson 05 — residual connections. Reference solutions to the graded exercises.

The grader in ``tests/grading/test_lesson05.py`` calls ``residual_block`` on symbolic tensors and judges the graph
it adds (the add, the shortcut and where it comes from, the projection, the main path), and builds small networks
with ``build_resnet``. The code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is what a student writes; the
student edition keeps the signature and docstring and replaces it with ``raise NotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Callable

import keras


def residual_block(x: keras.KerasTensor, filters: int, downsample: bool = False) -> keras.KerasTensor:
    """Exercise 1: a residual block, a tensor in and a tensor out.

    - the main path: a 3×3 convolution with ReLU (``strides=2`` when ``downsample``), then a 3×3 convolution
      without activation; both have ``filters`` filters and ``padding="same"``;
    - the shortcut: ``x`` itself when the main path keeps its shape (no ``downsample`` and ``x`` already has
      ``filters`` channels); otherwise a *projection*, a 1×1 convolution of ``x`` with ``filters`` filters and the
      main path's strides, so that both tensors have the same shape;
    - add them with ``layers.add`` and apply ReLU to the sum.

    For ``x`` of shape ``(None, H, W, C)`` the result has shape ``(None, H, W, filters)``, or
    ``(None, ceil(H/2), ceil(W/2), filters)`` with ``downsample=True``.
    """
    # BEGIN SOLUTION
    layers = keras.layers
    strides = 2 if downsample else 1
    y = layers.Conv2D(filters, 3, strides=strides, padding="same", activation="relu")(x)
    y = layers.Conv2D(filters, 3, padding="same")(y)
    shortcut = x
    if downsample or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides)(x)
    return layers.Activation("relu")(layers.add([y, shortcut]))
    # END SOLUTION


def build_resnet(
    input_shape: tuple[int, ...] = (8, 8, 1),
    num_classes: int = 10,
    filters: tuple[int, ...] = (8, 16),
    blocks_per_stage: int = 5,
    block: Callable = residual_block,
    name: str = "resnet",
) -> keras.Model:
    """Exercise 2: a small ResNet for images, built from ``block``.

    - an input named ``"image"`` of shape ``input_shape``;
    - a stem: a 3×3 convolution with ``filters[0]`` filters, ReLU and ``padding="same"``;
    - one *stage* per entry of ``filters``: ``blocks_per_stage`` calls ``block(x, stage_filters, downsample=...)``,
      where only the first block of every stage after the first downsamples (halves height and width);
    - ``GlobalAveragePooling2D``, then a ``Dense(num_classes)`` softmax output layer named ``"digit"``;
    - return ``keras.Model(inputs, outputs, name=name)``.

    ``block`` is any function with ``residual_block``'s signature: the lesson passes a block without a shortcut to
    build the plain network of the same depth.
    """
    # BEGIN SOLUTION
    layers = keras.layers
    image = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(filters[0], 3, padding="same", activation="relu", name="stem")(image)
    for stage, stage_filters in enumerate(filters):
        for i in range(blocks_per_stage):
            x = block(x, stage_filters, downsample=stage > 0 and i == 0)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    digit = layers.Dense(num_classes, activation="softmax", name="digit")(x)
    return keras.Model(image, digit, name=name)
    # END SOLUTION
