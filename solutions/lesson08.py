"""Lesson 08 — three ways to build a model: reference solutions to the graded exercises.

``SubclassedMLP`` is a class: it cannot travel to the grader, so the grader in ``tests/grading/test_lesson08.py``
has the worker build it with sizes, weights and inputs the grader draws, and compares what it computes with its
own computation (``gradekit.probes.probe_model_class``). ``build_ensemble`` receives trained models, built by the
grader, and must use *them*: the grader reads the graph it returns. The code between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` is what a student writes.
"""

from __future__ import annotations

import keras


class SubclassedMLP(keras.Model):
    """Exercise 1: lesson 01's digit classifier, written as a subclass of ``keras.Model``.

    - ``__init__(self, units, num_classes, **kwargs)``: pass ``**kwargs`` (such as ``name``) on to
      ``super().__init__``, keep ``units`` and ``num_classes``, and create three ``Dense`` layers, in this order: two
      hidden layers of ``units`` with ReLU, then the output layer of ``num_classes`` with softmax;
    - ``call(self, inputs)``: apply the three layers one after the other and return the class probabilities;
    - ``get_config(self)``: the base config plus ``units`` and ``num_classes``, so that
      ``SubclassedMLP.from_config(model.get_config())`` makes the same model again and a model saved in the
      ``.keras`` format loads back (given the class).

    Called on inputs of any width, it has the weights of the functional MLP of the same sizes, in the same order
    (kernel and bias of each layer, from the input to the output), so ``model.set_weights(functional.get_weights())``
    makes it compute exactly what the functional model computes. Compute with Keras layers and ``keras.ops`` only:
    the model then runs on every backend, and inside a functional model too.
    """

    # BEGIN SOLUTION
    def __init__(self, units: int, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.num_classes = num_classes
        self.hidden_1 = keras.layers.Dense(units, activation="relu", name="hidden_1")
        self.hidden_2 = keras.layers.Dense(units, activation="relu", name="hidden_2")
        self.digit = keras.layers.Dense(num_classes, activation="softmax", name="digit")

    def call(self, inputs):
        return self.digit(self.hidden_2(self.hidden_1(inputs)))

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "num_classes": self.num_classes})
        return config
    # END SOLUTION


def build_ensemble(models: list[keras.Model], name: str = "ensemble") -> keras.Model:
    """Exercise 2: one model that averages the predictions of several trained models.

    - one input named ``"inputs"``, of the members' input shape (``models[0].input_shape[1:]``), float32;
    - call each given model on that input, once: the given models themselves, not copies (``clone_model`` or a
      rebuilt model would have weights of its own), and leave them as they are: not retrained, not frozen;
    - average their outputs with ``layers.average`` (or ``layers.Average()``), named ``"average"``: that is the
      output, of the members' output shape;
    - return ``keras.Model(inputs, average, name=name)``.

    ``models`` holds two or more models with the same input and output shapes.

    Built-in layers and ``keras.ops`` only: the grader does not rebuild ``Lambda`` layers or custom layer classes.
    """
    # BEGIN SOLUTION
    inputs = keras.Input(shape=models[0].input_shape[1:], name="inputs")
    outputs = [model(inputs) for model in models]
    average = keras.layers.average(outputs, name="average")
    return keras.Model(inputs, average, name=name)
    # END SOLUTION
