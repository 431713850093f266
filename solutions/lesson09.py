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

    - a new input named ``"image"`` of the base's input shape (``base.input_shape[1:]``);
    - call ``base`` itself on it (the given model, not a copy or its layers one by one), so that the model uses
      the base's own weights;
    - freeze the base: ``base.trainable = False``. The model's only trainable weights are then the head's kernel
      and bias, and a ``fit`` leaves every weight of the base as it was, the BatchNormalization layers' moving
      mean and variance included (passing ``training=False`` when calling the base is allowed, but it does not
      freeze it: ``fit`` runs the base in training mode whatever its call says);
    - a ``Dropout(0.2)`` layer on the base's output, then the head: ``Dense(classes, activation="softmax")``
      named ``"label"``, on the Dropout, the model's one output.
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

    - every layer of ``base`` that has weights and is not a BatchNormalization layer becomes trainable, nested ones
      included (``base.trainable = True`` does that for all of them);
    - every BatchNormalization layer stays frozen (``trainable = False``), the ones inside a nested model included
      (walk ``base.layers``, and the layers of any layer that is itself a ``keras.Model``): a frozen
      BatchNormalization layer runs in inference mode even inside ``fit``, with the mean and variance it learnt,
      which calling the base with ``training=False`` does not guarantee in Keras 3. So in a ``fit`` of a model
      around the base, its moving means and variances stay as they were while its other weights are trained;
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
    """Exercise 3: a new head grown from an inner layer of a trained functional model.

    - the new model's input is the trained model's own input (``trained.inputs``, not a new ``keras.Input``):
      both models then share every layer up to ``layer_name``, with the same weights; add no layer but the head;
    - freeze the layers the new model reuses (``trainable = False`` on each layer of ``trained`` up to and
      including ``layer_name``): the new model's only trainable weights are the new head's kernel and bias;
    - leave the trained model's later layers out of the new model;
    - its one output is ``Dense(classes, activation="softmax")`` named ``"new_head"``, applied to the output of
      ``trained.get_layer(layer_name)``.
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
