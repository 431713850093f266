"""Lesson 10 — the capstone: reference solutions to the graded exercises.

The grader in ``tests/grading/test_lesson10.py`` builds models with ``build_car_model`` from training data it draws
itself, for the full model and for models that lack inputs or heads, and judges the graph: the named inputs, the
preprocessing layers inside the model (adapted to the data it was given), the branches, the merge and the heads.
``compile_car_model`` is given models of the grader's own, with both heads or one, and the compiled losses, loss
weights, metrics and optimizer are read per output name. The code between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` is what a student writes.
"""

from __future__ import annotations

import keras
import numpy as np


def build_car_model(x_train: dict[str, np.ndarray], makes: int, words: int, grades: int = 3,
                    inputs: tuple[str, ...] = ("table", "review", "photo"),
                    heads: tuple[str, ...] = ("price", "grade"), name: str = "cars") -> keras.Model:
    """Exercise 1: the used-car model, with the inputs of the kinds named in ``inputs`` and the heads in ``heads``.

    ``x_train`` holds the prepared training features (``"make"``, ``"age"``, ``"mileage"``, ``"review"``,
    ``"photo"``), from which the model takes its input shapes and adapts its preprocessing.

    - ``"table"`` in ``inputs``: three inputs, ``"make"`` (shape ``(1,)``, int32: the make's index, below
      ``makes``), ``"age"`` and ``"mileage"`` (shape ``(1,)``, float32: raw years and km). Each of ``age`` and
      ``mileage`` goes through its own ``Normalization`` layer adapted to its values in ``x_train``; ``make``
      through ``CategoryEncoding(makes, output_mode="one_hot")``; the three are concatenated and go through a
      ``Dense(16, relu)``;
    - ``"review"`` in ``inputs``: an input ``"review"`` of word indices (int32, shape ``x_train["review"].shape[1:]``),
      read by an ``Embedding(words, 16)``, a ``Conv1D(32, 3, relu)`` and a ``GlobalMaxPooling1D``;
    - ``"photo"`` in ``inputs``: an input ``"photo"`` of raw pixels 0-255 (float32, shape
      ``x_train["photo"].shape[1:]``), scaled by ``Rescaling(1 / 255)``, then ``Conv2D(8, 3, strides=2, relu)``,
      ``Conv2D(16, 3, strides=2, relu)``, ``Flatten`` and ``Dense(16, relu)``;
    - the branches are concatenated (a single branch is used as it is) and read by a ``Dense(32, relu)`` named
      ``"shared"``, which every head reads;
    - ``"price"`` in ``heads``: an output ``"price"``, ``Dense(1)`` with no activation; ``"grade"`` in ``heads``: an
      output ``"grade"``, ``Dense(grades, softmax)``.

    Return ``keras.Model(inputs, outputs, name=name)``, uncompiled. The inputs and outputs are found by their names,
    so dicts keyed by name are the natural form (lists of the same named tensors work too).

    Built-in layers and ``keras.ops`` only: the grader does not rebuild ``Lambda`` layers or custom layer classes.
    """
    # BEGIN SOLUTION
    layers = keras.layers
    model_inputs, branches = {}, []
    if "table" in inputs:
        make = keras.Input(shape=(1,), dtype="int32", name="make")
        age = keras.Input(shape=(1,), name="age")
        mileage = keras.Input(shape=(1,), name="mileage")
        age_norm = layers.Normalization(name="age_norm")
        age_norm.adapt(x_train["age"])
        mileage_norm = layers.Normalization(name="mileage_norm")
        mileage_norm.adapt(x_train["mileage"])
        one_hot = layers.CategoryEncoding(makes, output_mode="one_hot", name="make_one_hot")(make)
        table = layers.concatenate([one_hot, age_norm(age), mileage_norm(mileage)], name="table")
        branches.append(layers.Dense(16, activation="relu", name="table_dense")(table))
        model_inputs.update(make=make, age=age, mileage=mileage)
    if "review" in inputs:
        review = keras.Input(shape=x_train["review"].shape[1:], dtype="int32", name="review")
        x = layers.Embedding(words, 16, name="word_embedding")(review)
        x = layers.Conv1D(32, 3, activation="relu", name="review_conv")(x)
        branches.append(layers.GlobalMaxPooling1D(name="review_pool")(x))
        model_inputs["review"] = review
    if "photo" in inputs:
        photo = keras.Input(shape=x_train["photo"].shape[1:], name="photo")
        x = layers.Rescaling(1 / 255, name="pixels")(photo)
        x = layers.Conv2D(8, 3, strides=2, activation="relu", name="photo_conv_1")(x)
        x = layers.Conv2D(16, 3, strides=2, activation="relu", name="photo_conv_2")(x)
        x = layers.Flatten(name="photo_flat")(x)
        branches.append(layers.Dense(16, activation="relu", name="photo_dense")(x))
        model_inputs["photo"] = photo
    merged = layers.concatenate(branches, name="merged") if len(branches) > 1 else branches[0]
    shared = layers.Dense(32, activation="relu", name="shared")(merged)
    outputs = {}
    if "price" in heads:
        outputs["price"] = layers.Dense(1, name="price")(shared)
    if "grade" in heads:
        outputs["grade"] = layers.Dense(grades, activation="softmax", name="grade")(shared)
    return keras.Model(model_inputs, outputs, name=name)
    # END SOLUTION


def compile_car_model(model: keras.Model, loss_weights: dict[str, float],
                      optimizer: str | keras.optimizers.Optimizer = "adam") -> keras.Model:
    """Exercise 2: compile a car model that has both heads, ``"price"`` and ``"grade"``, or only one of them.

    - losses per output name: mean squared error for ``price`` (thousands of euros), sparse categorical
      cross-entropy for ``grade`` (targets are grade indices, not one-hot);
    - ``loss_weights`` is a dict keyed by output name; it may hold weights for heads the model does not have: give
      each of the model's outputs its own weight, and no others;
    - metrics per output: ``"mae"`` for ``price``, ``"accuracy"`` for ``grade``;
    - use the given ``optimizer``. Return the compiled model (the same object).

    The grader reads each compiled loss by what it computes: use Keras' built-in losses with their default settings.
    """
    # BEGIN SOLUTION
    names = [name for name in ("price", "grade") if name in model.output_names]
    losses = {"price": "mse", "grade": "sparse_categorical_crossentropy"}
    metrics = {"price": ["mae"], "grade": ["accuracy"]}
    model.compile(optimizer=optimizer, loss={n: losses[n] for n in names},
                  loss_weights={n: float(loss_weights[n]) for n in names}, metrics={n: metrics[n] for n in names})
    return model
    # END SOLUTION
