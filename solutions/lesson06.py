"""Lesson 06 — shared layers: reference solutions to the graded exercises.

The grader in ``tests/grading/test_lesson06.py`` builds what each function returns and judges the graph: above all,
that both inputs really go through the same layers, with the same variables (one LSTM called on both posts; one
encoder called on both images). The code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is what a student
writes.
"""

from __future__ import annotations

import keras


def build_shared_lstm_posts(timesteps: int = 140, features: int = 256, units: int = 64) -> keras.Model:
    """Exercise 1: the classic shared LSTM: did the same person write both posts?

    - two inputs named ``"post_a"`` and ``"post_b"``, each a float32 post of shape ``(timesteps, features)``
      (the classic sizes: 140 characters, each a one-hot vector of 256 values);
    - ONE ``LSTM(units)`` layer, created once and called on both posts: two calls of one layer, one set of
      variables; each call returns one vector of ``units`` numbers for its post (no ``return_sequences``);
    - the two encodings concatenated, post_a's first;
    - one output, ``Dense(1, sigmoid)`` named ``"same_author"``, reading the concatenation.

    The model has ``4·units·(features + units + 1) + 2·units + 1`` parameters: one LSTM's worth (82,176 at the
    classic sizes) and the output unit's 129, so 82,305 in all; two separate LSTMs would count twice.
    """
    # BEGIN SOLUTION
    post_a = keras.Input(shape=(timesteps, features), name="post_a")
    post_b = keras.Input(shape=(timesteps, features), name="post_b")
    shared_lstm = keras.layers.LSTM(units, name="shared_lstm")
    encoded_a = shared_lstm(post_a)
    encoded_b = shared_lstm(post_b)  # the same layer again: a second call, no new weights
    merged = keras.layers.concatenate([encoded_a, encoded_b], name="merged")
    same_author = keras.layers.Dense(1, activation="sigmoid", name="same_author")(merged)
    return keras.Model([post_a, post_b], same_author, name="same_author_model")
    # END SOLUTION


def build_siamese_digits(units: int = 32) -> keras.Model:
    """Exercise 2: a siamese network that tells whether two digit images show the same digit.

    - two inputs named ``"image_a"`` and ``"image_b"``, each an (8, 8, 1) float32 image;
    - ONE encoder, created once and called on both images, so that both paths use the very same weights: for
      example a small model ``Conv2D(16, 3, relu) → MaxPooling2D → Flatten → Dense(units, relu)``;
    - merge the two encodings by their absolute difference ``|a − b|`` (for example ``layers.subtract`` followed by
      ``keras.ops.abs``): it is 0 wherever both images give the same encoding, whichever image comes first;
    - one output, ``Dense(1, sigmoid)`` named ``"same"``: the probability that both images show the same digit.

    Built-in layers and ``keras.ops`` only: the grader does not rebuild ``Lambda`` layers or custom layer classes.
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
