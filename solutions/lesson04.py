"""Lesson 04 — branches that merge: the Inception module. Reference solutions to the graded exercises.

The grader in ``tests/grading/test_lesson04.py`` calls ``inception_module`` on a symbolic tensor and judges the graph
it adds: the four branches, what feeds each, the concatenation and the output shape. It builds
``build_classic_inception`` and reads the model's graph the same way: the three towers, what each reads, the
merge, the shapes and the parameter count. The code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is what a
student writes; the student edition keeps the signature and docstring and replaces it with
``raise NotImplementedError``.
"""

from __future__ import annotations

import keras


def inception_module(x: keras.KerasTensor, filters: int) -> keras.KerasTensor:
    """Exercise 1: the classic Inception module, a tensor in and a tensor out.

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
    name = f"inception_{filters}"  # a name per layer makes the diagram readable: branch a, b, c, d
    branch_a = layers.Conv2D(filters, 1, strides=2, padding="same", activation="relu", name=f"{name}_a_1x1")(x)

    branch_b = layers.Conv2D(filters, 1, padding="same", activation="relu", name=f"{name}_b_1x1")(x)
    branch_b = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu",
                             name=f"{name}_b_3x3")(branch_b)

    branch_c = layers.AveragePooling2D(3, strides=2, padding="same", name=f"{name}_c_pool")(x)
    branch_c = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_c_3x3")(branch_c)

    branch_d = layers.Conv2D(filters, 1, padding="same", activation="relu", name=f"{name}_d_1x1")(x)
    branch_d = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_d_3x3")(branch_d)
    branch_d = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu",
                             name=f"{name}_d_3x3_stride")(branch_d)

    return layers.concatenate([branch_a, branch_b, branch_c, branch_d], axis=-1, name=f"{name}_merge")
    # END SOLUTION


def build_classic_inception(input_shape: tuple[int, ...] = (256, 256, 3)) -> keras.Model:
    """Exercise 2: the functional-API guide's Inception module, as a model, at the guide's sizes.

    - one input named ``"image"`` of shape ``input_shape`` (the guide's: 256×256 colour images);
    - three towers; every convolution has 64 filters, ReLU and ``padding="same"``:

      - tower 1: a 1×1 convolution that reads the input, then a 3×3 convolution that reads the 1×1;
      - tower 2: a 1×1 convolution that reads the input, then a 5×5 convolution that reads the 1×1;
      - tower 3: ``MaxPooling2D(3, strides=1, padding="same")`` that reads the input, then a 1×1 convolution;

      each tower has layers of its own (none is shared with another tower);
    - the model's output: the three towers concatenated on the channel axis (the last one).

    No layer has a stride of 2 (the pooling's ``strides=1`` matters: it defaults to the pool size), so every tower
    keeps the height and width: for ``input_shape`` ``(H, W, C)`` the output has shape ``(None, H, W, 192)``. The
    model has ``3 × (64·C + 64) + 36,928 + 102,464`` parameters (three 1×1 convolutions on C channels, the 3×3 and
    the 5×5 on 64): 140,160 at the guide's size.
    """
    # BEGIN SOLUTION
    layers = keras.layers
    image = keras.Input(shape=input_shape, name="image")

    tower_1 = layers.Conv2D(64, 1, padding="same", activation="relu", name="tower_1_1x1")(image)
    tower_1 = layers.Conv2D(64, 3, padding="same", activation="relu", name="tower_1_3x3")(tower_1)

    tower_2 = layers.Conv2D(64, 1, padding="same", activation="relu", name="tower_2_1x1")(image)
    tower_2 = layers.Conv2D(64, 5, padding="same", activation="relu", name="tower_2_5x5")(tower_2)

    tower_3 = layers.MaxPooling2D(3, strides=1, padding="same", name="tower_3_pool")(image)
    tower_3 = layers.Conv2D(64, 1, padding="same", activation="relu", name="tower_3_1x1")(tower_3)

    towers = layers.concatenate([tower_1, tower_2, tower_3], axis=-1, name="towers")
    return keras.Model(image, towers, name="classic_inception")
    # END SOLUTION
