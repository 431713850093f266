"""Lesson 01 — from Sequential to the functional API: reference solutions to the graded exercises.

Each exercise is a function (or class) with the exact name below; the grader in ``tests/grading/test_lesson01.py``
builds what it returns and judges the graph. The code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is what a
student writes; the student edition keeps the signature and docstring and replaces it with
``raise NotImplementedError``.
"""

from __future__ import annotations

import keras


def build_functional_mlp() -> keras.Model:
    """Exercise 1: the classic 64 → 32 → 32 → 10 digit classifier, written with the functional API.

    - one input named ``"pixels"`` holding 64 floats per example;
    - two hidden ``Dense(32)`` layers with ReLU;
    - an output ``Dense(10)`` layer with softmax, named ``"digit"``;
    - return a ``keras.Model`` built as ``keras.Model(inputs, outputs)`` (not a ``Sequential``).
    """
    # BEGIN SOLUTION
    pixels = keras.Input(shape=(64,), name="pixels")
    x = keras.layers.Dense(32, activation="relu")(pixels)
    x = keras.layers.Dense(32, activation="relu")(x)
    digit = keras.layers.Dense(10, activation="softmax", name="digit")(x)
    return keras.Model(pixels, digit, name="functional_mlp")
    # END SOLUTION


def to_functional(model: keras.Sequential) -> keras.Model:
    """Exercise 2: rebuild a built ``Sequential`` model as a functional model that shares its weights.

    Create a new ``keras.Input`` with the Sequential model's input shape and call the Sequential model's own
    layers on it, one after the other. Do not create new layers: both models must use the same variables, so that
    training one trains the other. Return the new ``keras.Model`` (it must not be a ``Sequential``).
    """
    # BEGIN SOLUTION
    inputs = keras.Input(shape=model.input_shape[1:], name="inputs")
    x = inputs
    for layer in model.layers:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_functional")
    # END SOLUTION


def feature_extractor(model: keras.Model, layer_name: str) -> keras.Model:
    """Exercise 3: a model that returns the output of one inner layer of ``model``.

    The new model takes the same inputs as ``model`` (``model.inputs``) and outputs what the layer called
    ``layer_name`` produces (``model.get_layer(layer_name).output``). It reuses the trained layers: no copies.
    """
    # BEGIN SOLUTION
    return keras.Model(model.inputs, model.get_layer(layer_name).output, name=f"{layer_name}_features")
    # END SOLUTION


class SimpleDense(keras.layers.Layer):
    """Exercise 4: a Dense layer written from scratch.

    - ``__init__(self, units, activation=None, **kwargs)``: keep ``units`` and the activation
      (``keras.activations.get(activation)``), and pass ``**kwargs`` (such as ``name``) to ``super().__init__``;
    - ``build(self, input_shape)``: create the trainable weights ``kernel`` of shape ``(input_dim, units)`` and
      ``bias`` of shape ``(units,)`` with ``self.add_weight``, where ``input_dim`` is the last input dimension;
    - ``call(self, inputs)``: return ``activation(inputs @ kernel + bias)``;
    - ``get_config(self)``: the base config plus ``units`` and the serialized activation, so that a model that
      uses the layer can be saved in the ``.keras`` format and loaded back.
    """

    # BEGIN SOLUTION
    def __init__(self, units: int, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(input_dim, self.units), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return self.activation(keras.ops.matmul(inputs, self.kernel) + self.bias)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "activation": keras.activations.serialize(self.activation)})
        return config
    # END SOLUTION
