"""Lesson 06 — shared layers: reference solution to the graded exercise.

The grader in ``tests/grading/test_lesson06.py`` builds what the function returns and judges the graph: above all,
that both images really go through the same layers, with the same variables. The code between ``# BEGIN SOLUTION``
and ``# END SOLUTION`` is what a student writes.
"""

from __future__ import annotations

import keras


def build_siamese_digits(units: int = 32) -> keras.Model:
    """Exercise: a siamese network that tells whether two digit images show the same digit.

    - two inputs named ``"image_a"`` and ``"image_b"``, each an (8, 8, 1) float32 image;
    - ONE encoder, created once and called on both images, so that both paths use the very same weights: for
      example a small model ``Conv2D(16, 3, relu) → MaxPooling2D → Flatten → Dense(units, relu)``;
    - merge the two encodings by their absolute difference ``|a − b|`` (for example ``layers.subtract`` followed by
      ``keras.ops.abs``): it is 0 wherever both images give the same encoding, whichever image comes first;
    - one output, ``Dense(1, sigmoid)`` named ``"same"``: the probability that both images show the same digit.
    """
    # BEGIN SOLUTION
    encoder = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1), name="digit_image"),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(units, activation="relu"),
        ],
        name="encoder",
    )
    image_a = keras.Input(shape=(8, 8, 1), name="image_a")
    image_b = keras.Input(shape=(8, 8, 1), name="image_b")
    code_a = encoder(image_a)
    code_b = encoder(image_b)  # the same encoder, called a second time: a second node, no new weights
    distance = keras.ops.abs(keras.layers.subtract([code_a, code_b]))
    same = keras.layers.Dense(1, activation="sigmoid", name="same")(distance)
    return keras.Model([image_a, image_b], same, name="siamese")
    # END SOLUTION
