"""Lesson 09 — training and inference in one graph: reference solutions to the graded exercises.

The grader in ``tests/grading/test_lesson09.py`` builds what each function returns from models it gives (a small
trained base with BatchNormalization), and judges the graph and its behaviour: ``build_finetune_model`` nests the
given base itself, frozen, under a new Dropout and softmax head; ``unfreeze_for_finetuning`` makes the base
trainable again except its BatchNormalization layers, which then stay in inference mode while it is fine-tuned;
``grow_head`` grows a new softmax head from an inner layer of the given trained model, on the trained model's own
input, with the layers it reuses frozen. The code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is what a
student writes.
"""

from __future__ import annotations

import keras


def build_finetune_model(base: keras.Model, classes: int) -> keras.Model:
    """Exercise 1: a new classifier around a pretrained base, ready to train its head alone.

    - freeze the base: ``base.trainable = False``, so that none of its weights is trained (and its
      BatchNormalization layers run in inference mode, with the statistics they learnt);
    - a new input ``"image"`` of the base's input shape (``base.input_shape[1:]``);
    - call ``base`` itself (the given model, not a copy) on that input;
    - a ``Dropout(0.2)`` layer on the base's output, then ``Dense(classes, softmax)`` named ``"label"``.

    The model's only trainable weights are the head's kernel and bias.
    """
    # BEGIN SOLUTION
    base.trainable = False
    image = keras.Input(shape=base.input_shape[1:], name="image")
    features = base(image)
    features = keras.layers.Dropout(0.2, name="head_dropout")(features)
    label = keras.layers.Dense(classes, activation="softmax", name="label")(features)
    return keras.Model(image, label, name="finetune")
    # END SOLUTION


def unfreeze_for_finetuning(base: keras.Model) -> keras.Model:
    """Exercise 2: make a frozen base trainable again for fine-tuning, except its BatchNormalization layers.

    - every layer of ``base`` becomes trainable (``base.trainable = True`` does that for all of them), except the
      BatchNormalization layers, nested ones included (walk ``base.layers``, and the layers of any layer that is
      itself a model);
    - every BatchNormalization layer stays frozen (``trainable = False``): it then runs in inference mode even
      inside ``fit``, with the mean and variance it learnt, which a ``training=False`` on the call does not
      guarantee in Keras 3;
    - return ``base`` itself (the given model, changed in place), not a copy.
    """
    # BEGIN SOLUTION
    base.trainable = True

    def freeze_batch_norms(model: keras.Model) -> None:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
            elif isinstance(layer, keras.Model):
                freeze_batch_norms(layer)

    freeze_batch_norms(base)
    return base
    # END SOLUTION


def grow_head(trained: keras.Model, layer_name: str, classes: int) -> keras.Model:
    """Exercise 2: a new head grown from an inner layer of a trained functional model.

    - the new model's input is the trained model's own input (``trained.inputs``): both models then share every
      layer up to ``layer_name``, with the same weights;
    - freeze the layers the new model reuses (``trainable = False`` on each layer of ``trained`` up to and
      including ``layer_name``); leave the trained model's later layers out of the new model;
    - its one output is ``Dense(classes, softmax)`` named ``"new_head"``, applied to the output of
      ``trained.get_layer(layer_name)``.

    The new model's only trainable weights are the new head's kernel and bias.
    """
    # BEGIN SOLUTION
    inner = trained.get_layer(layer_name)
    for layer in trained.layers:
        layer.trainable = False
        if layer is inner:
            break
    head = keras.layers.Dense(classes, activation="softmax", name="new_head")(inner.output)
    return keras.Model(trained.inputs, head, name=f"{layer_name}_head")
    # END SOLUTION
