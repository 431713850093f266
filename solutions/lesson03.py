"""Lesson 03 — multi-output models: reference solutions to the graded exercises.

Each exercise is a function with the exact name below; the grader in ``tests/grading/test_lesson03.py`` builds or
compiles what it returns and judges the graph and the compiled losses per output name. The code between
``# BEGIN SOLUTION`` and ``# END SOLUTION`` is what a student writes; the student edition keeps the signature and
docstring and replaces it with ``raise NotImplementedError``.
"""

from __future__ import annotations

import keras
import numpy as np


def build_profile_model(vocabulary_size: int = 50000, embedding_dim: int = 256,
                        num_income_groups: int = 10) -> keras.Model:
    """Exercise 1: the classic three-headed user-profiling model (uncompiled).

    - one input ``"posts"``: word indices of any length, ``shape=(None,)``, ``int32``;
    - ``Embedding(vocabulary_size, embedding_dim)`` (vocabulary first);
    - ``Conv1D(128, 5, relu)``, ``MaxPooling1D(5)``, ``Conv1D(256, 5, relu)``, ``Conv1D(256, 5, relu)``,
      ``MaxPooling1D(5)``, ``Conv1D(256, 5, relu)``, ``Conv1D(256, 5, relu)``, ``GlobalMaxPooling1D()``,
      ``Dense(128, relu)``;
    - three heads, all reading that ``Dense(128)``: ``"age"`` a ``Dense(1)`` with no activation (regression),
      ``"income"`` a ``Dense(num_income_groups)`` with softmax, ``"gender"`` a ``Dense(1)`` with sigmoid.
    """
    # BEGIN SOLUTION
    posts = keras.Input(shape=(None,), dtype="int32", name="posts")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim)(posts)
    x = keras.layers.Conv1D(128, 5, activation="relu")(x)
    x = keras.layers.MaxPooling1D(5)(x)
    x = keras.layers.Conv1D(256, 5, activation="relu")(x)
    x = keras.layers.Conv1D(256, 5, activation="relu")(x)
    x = keras.layers.MaxPooling1D(5)(x)
    x = keras.layers.Conv1D(256, 5, activation="relu")(x)
    x = keras.layers.Conv1D(256, 5, activation="relu")(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    age = keras.layers.Dense(1, name="age")(x)
    income = keras.layers.Dense(num_income_groups, activation="softmax", name="income")(x)
    gender = keras.layers.Dense(1, activation="sigmoid", name="gender")(x)
    return keras.Model(posts, [age, income, gender], name="user_profile")
    # END SOLUTION


def compile_profile_model(model: keras.Model, loss_weights: dict[str, float],
                          optimizer: str | keras.optimizers.Optimizer = "rmsprop") -> keras.Model:
    """Exercise 2: compile a model with the outputs ``"age"``, ``"income"`` and ``"gender"``.

    - losses per output name: mean squared error for ``age``, categorical cross-entropy for ``income`` (one-hot
      targets), binary cross-entropy for ``gender``;
    - ``loss_weights`` is a dict keyed by output name, e.g. ``{"age": 0.25, "income": 1.0, "gender": 10.0}``;
    - metrics per output: ``"mae"`` for ``age``, ``"accuracy"`` for ``income`` and for ``gender``;
    - use the given ``optimizer``. Return the compiled model. The outputs may come in any order in ``model.outputs``.

    The grader reads each compiled loss by what it computes: use Keras' built-in losses with their default settings.
    """
    # BEGIN SOLUTION
    model.compile(
        optimizer=optimizer,
        loss={"age": "mse", "income": "categorical_crossentropy", "gender": "binary_crossentropy"},
        loss_weights=dict(loss_weights),
        metrics={"age": ["mae"], "income": ["accuracy"], "gender": ["accuracy"]},
    )
    return model
    # END SOLUTION


def balanced_loss_weights(targets: dict[str, np.ndarray]) -> dict[str, float]:
    """Exercise 3: loss weights that give each head's loss the same starting scale.

    ``targets`` holds the training targets: ``"age"`` (n, 1) in years, ``"income"`` one-hot (n, groups),
    ``"gender"`` (n, 1) of 0/1. Each weight is 1 divided by the loss of the best *constant* prediction for that head:

    - age: the variance of the ages (the mean squared error of always predicting the mean age);
    - income: the entropy ``-sum(p * log p)`` of the income-group frequencies ``p`` (natural log; groups with
      ``p = 0`` add nothing);
    - gender: the entropy of the two frequencies ``p`` and ``1 - p``.

    Return ``{"age": ..., "income": ..., "gender": ...}`` as Python floats.
    """
    # BEGIN SOLUTION
    def entropy(frequencies: np.ndarray) -> float:
        p = frequencies[frequencies > 0]
        return float(-(p * np.log(p)).sum())

    age = np.asarray(targets["age"], dtype="float64")
    income = np.asarray(targets["income"], dtype="float64")
    share = float(np.asarray(targets["gender"], dtype="float64").mean())
    return {"age": 1.0 / float(age.var()),
            "income": 1.0 / entropy(income.mean(axis=0)),
            "gender": 1.0 / entropy(np.array([share, 1.0 - share]))}
    # END SOLUTION
