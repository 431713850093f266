"""The lesson 09 grader, tested: wrong fine-tuning models, unfreezing functions and grown heads lose the right
points with the right feedback, and correct ones written differently get full marks."""

from __future__ import annotations

import keras

from gradekit.harness import weight_arrays
from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson09 as grader

L = keras.layers


# ------------------------------------------------------------------ build_finetune_model


def finetune(freeze=True, training=None, copy=False, layers_one_by_one=False, dropout=0.2, dropout_first=False,
             name="label", activation="softmax", fixed_classes=None, input_name="image", freeze_conv_only=False,
             freeze_all=False):
    """A family of fine-tuning builders, right or wrong depending on the arguments (the defaults give the
    reference answer)."""

    def build_finetune_model(base, classes):
        classes = fixed_classes or classes
        used = base
        if copy:  # a copy with the base's weights
            used = keras.models.clone_model(base)
            used.set_weights(weight_arrays(base))
        if freeze:
            used.trainable = False
        if freeze_conv_only:
            used.get_layer("base_conv").trainable = False
        image = keras.Input(base.input_shape[1:], name=input_name)
        x = L.Dropout(dropout)(image) if dropout_first else image
        if layers_one_by_one:  # the base's own layers called on the new input: its weights, but not the base
            for layer in base.layers[1:]:
                x = layer(x)
            features = x
        else:
            features = used(x) if training is None else used(x, training=training)
        if dropout and not dropout_first:
            features = L.Dropout(dropout)(features)
        model = keras.Model(image, L.Dense(classes, activation=activation, name=name)(features))
        if freeze_all:
            model.trainable = False
        return model

    return build_finetune_model


def finetune_stub(base, classes):
    raise NotImplementedError


def finetune_sequential_head(base, classes):
    """Right: the head written inline as a Sequential model named 'label' (Dropout, then the softmax Dense), the
    base called with training=False, and frozen layer by layer after the model is built."""
    image = keras.layers.Input(shape=tuple(base.inputs[0].shape[1:]), name="image")
    head = keras.Sequential([keras.layers.Dropout(rate=0.2), keras.layers.Dense(units=classes, activation="softmax")],
                            name="label")
    model = keras.Model(inputs=image, outputs=head(base(image, training=False)))
    for layer in base.layers:
        layer.trainable = False
    return model


def finetune_functional_head(base, classes):
    """Right: the head a functional model named 'label', its softmax an Activation layer after a linear Dense."""
    base.trainable = False
    features_in = keras.Input(base.output_shape[1:])
    logits = keras.layers.Dense(classes)(keras.layers.Dropout(0.2)(features_in))
    head = keras.Model(features_in, keras.layers.Activation("softmax")(logits), name="label")
    image = keras.Input(shape=base.input_shape[1:], name="image")
    return keras.Model(image, head(base(image)))


def finetune_softmax_layer(base, classes):
    """Right: Dense(classes) then a Softmax layer named 'label', Dropout(rate=0.2), training=True on the call (a
    frozen BatchNormalization layer ignores it)."""
    image = keras.Input(base.input_shape[1:], name="image")
    base.trainable = False
    hidden = keras.layers.Dropout(rate=0.2, name="drop")(base(image, training=True))
    return keras.Model(image, keras.layers.Softmax(name="label")(keras.layers.Dense(classes)(hidden)))


# ------------------------------------------------------------------ unfreeze_for_finetuning


def unfreeze(unfreeze_base=True, freeze_norms=True, nested=True, copy=False, refreeze=False,
             top_level_only=False):
    """A family of unfreezing functions, right or wrong depending on the arguments (the defaults give the
    reference answer)."""

    def unfreeze_for_finetuning(base):
        model = base
        if copy:  # a copy with the base's weights, unfrozen as it should be
            model = keras.models.clone_model(base)
            model.set_weights(weight_arrays(base))
            return unfreeze_layer_by_layer(model)
        if unfreeze_base:
            model.trainable = True
        if top_level_only:  # the top-level layers unfrozen one by one; the nested model left frozen
            for layer in model.layers:
                if not isinstance(layer, (keras.layers.BatchNormalization, keras.Model)):
                    layer.trainable = True

        def walk(m):
            for layer in m.layers:
                if isinstance(layer, keras.layers.BatchNormalization) and freeze_norms:
                    layer.trainable = False
                elif isinstance(layer, keras.Model) and nested:
                    walk(layer)

        walk(model)
        if refreeze:
            model.trainable = False
        return model

    return unfreeze_for_finetuning


def unfreeze_stub(base):
    raise NotImplementedError


def unfreeze_layer_by_layer(base):
    """Right: each layer's flag set on its own, nested models walked with a stack, and the base's own flag left as
    it was (frozen): its layers' variables are what a fit trains."""
    stack = list(base.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.Model):
            layer.trainable = True
            stack.extend(layer.layers)
        else:
            layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    return base


def unfreeze_recursively(base):
    """Right: the function calls itself on nested models, after making the whole base trainable."""
    base.trainable = True
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        elif isinstance(layer, keras.Model):
            unfreeze_recursively(layer)
    return base


# ------------------------------------------------------------------ grow_head


def grow(freeze="up_to", new_input=False, copy=False, source="named", activation="softmax", name="new_head",
         fixed_classes=None, freeze_head=False):
    """A family of head growers, right or wrong depending on the arguments (the defaults give the reference
    answer). ``freeze``: "up_to" (the reused layers), "none", "named" (only the named layer); ``source``: the layer
    the head reads, "named", "before" (the one before it) or "output" (the trained model's output)."""

    def grow_head(trained, layer_name, classes):
        classes = fixed_classes or classes
        model = trained
        if copy:
            model = keras.models.clone_model(trained)
            model.set_weights(weight_arrays(trained))
        names = [layer.name for layer in model.layers]
        k = names.index(layer_name)
        if freeze == "up_to":
            for layer in model.layers[:k + 1]:
                layer.trainable = False
        elif freeze == "named":
            model.layers[k].trainable = False
        if new_input:  # a new Input, the trained layers called on it again: the same weights, another graph
            inputs = keras.Input(trained.input_shape[1:], name="features")
            x = inputs
            for layer in model.layers[1:k + 1]:
                x = layer(x)
        else:
            inputs = model.inputs
            x = {"named": model.layers[k].output, "before": model.layers[k - 1].output,
                 "output": model.output}[source]
        head = L.Dense(classes, activation=activation, name=name, trainable=not freeze_head)(x)
        return keras.Model(inputs, head)

    return grow_head


def grow_stub(trained, layer_name, classes):
    raise NotImplementedError


def grow_frozen_after(trained, layer_name, classes):
    """Right: the new model built first, then its reused layers frozen (all of its layers but the head); the
    head a Dense then an Activation layer named 'new_head'; trained.input."""
    features = trained.get_layer(layer_name).output
    probabilities = keras.layers.Activation("softmax", name="new_head")(keras.layers.Dense(classes)(features))
    model = keras.Model(inputs=trained.input, outputs=probabilities)
    for layer in model.layers[:-2]:
        layer.trainable = False
    return model


def grow_sequential_head(trained, layer_name, classes):
    """Right: the head a Sequential model named 'new_head' (Dropout, then the softmax Dense); the reused layers
    found by walking the trained model's layers until the named one."""
    for layer in trained.layers:
        layer.trainable = False
        if layer.name == layer_name:
            break
    head = keras.Sequential([keras.layers.Dropout(0.1), keras.layers.Dense(classes, activation="softmax")],
                            name="new_head")
    return keras.Model(trained.inputs, head(trained.get_layer(layer_name).output))


WRONG = {
    "build_finetune_model": [
        Wrong("base-not-frozen", {"build_finetune_model": finetune(freeze=False)},
              {"test_finetune_base_frozen": r"4 of the base's 6 weights are trainable in the model .*base\.trainable "
                                            r"= False",
               "test_finetune_fit_leaves_the_base_unchanged": r"changed \d of the base's 6 weights .*only "
                                                              r"base\.trainable = False"}),
        Wrong("training-false-instead-of-freezing", {"build_finetune_model": finetune(freeze=False, training=False)},
              {"test_finetune_base_frozen": r"calling it with training=False does not freeze it",
               "test_finetune_fit_leaves_the_base_unchanged": r"whatever training=\.\.\. its call says"}),
        Wrong("only-the-convolution-frozen", {"build_finetune_model": finetune(freeze=False, freeze_conv_only=True)},
              {"test_finetune_base_frozen": r"2 of the base's 6 weights are trainable .*base_bn/gamma",
               "test_finetune_fit_leaves_the_base_unchanged": r"changed 4 of the base's 6 weights"}),
        Wrong("everything-frozen", {"build_finetune_model": finetune(freeze_all=True)},
              {"test_finetune_base_frozen": "the head .* is frozen or missing",
               "test_finetune_learns": "took the loss from"}),
        Wrong("base-cloned", {"build_finetune_model": finetune(copy=True)},
              {"test_finetune_calls_the_given_base": r"not a layer of the model\. The model holds '.*' with weights "
                                                     r"of its own: a copy"}),
        Wrong("base-cloned-not-frozen", {"build_finetune_model": finetune(copy=True, freeze=False)},
              {"test_finetune_calls_the_given_base": "a copy",
               "test_finetune_base_frozen": r"it has 4 more"}),
        Wrong("base-layers-one-by-one", {"build_finetune_model": finetune(layers_one_by_one=True)},
              {"test_finetune_calls_the_given_base": r"The model holds 'base_conv'"}),
        Wrong("no-dropout", {"build_finetune_model": finetune(dropout=0)},
              {"test_finetune_dropout_between_base_and_head": r"reads 'pretrained_base' \(Functional\), not a "
                                                              "Dropout layer"}),
        Wrong("dropout-0.5", {"build_finetune_model": finetune(dropout=0.5)},
              {"test_finetune_dropout_between_base_and_head": r"has rate 0\.5; the exercise asks for Dropout\(0\.2\)"}),
        Wrong("dropout-on-the-image", {"build_finetune_model": finetune(dropout_first=True)},
              {"test_finetune_dropout_between_base_and_head": "not a Dropout layer"}),
        Wrong("head-named-output", {"build_finetune_model": finetune(name="output")},
              {"test_finetune_head": "no output named 'label'"}),
        Wrong("sigmoid-head", {"build_finetune_model": finetune(activation="sigmoid")},
              {"test_finetune_head": "activation='softmax'"}),
        Wrong("classes-hard-coded", {"build_finetune_model": finetune(fixed_classes=3)},
              {"test_finetune_head": r"shape \(None, 5\)"}),
        Wrong("input-named-pixels", {"build_finetune_model": finetune(input_name="pixels")},
              {"test_finetune_input": "no input named 'image'"}),
        Wrong("not-implemented", {"build_finetune_model": finetune_stub},
              {name: "not implemented yet" for name in grader.__dict__
               if name.startswith("test_finetune_")}),
    ],
    "unfreeze_for_finetuning": [
        Wrong("batch-norms-left-trainable", {"unfreeze_for_finetuning": unfreeze(freeze_norms=False)},
              {"test_unfreeze_batch_norms_frozen": r"2 of the base's 2 BatchNormalization layers are trainable: "
                                                   r"'stem_bn', 'block_bn' \(inside the nested model 'block'\)",
               "test_unfreeze_fit_keeps_batch_norm_statistics": r"changed the moving mean and variance of 'stem_bn'"
                                                                r".*even when|whatever its call says"}),
        Wrong("nested-batch-norm-missed", {"unfreeze_for_finetuning": unfreeze(nested=False)},
              {"test_unfreeze_batch_norms_frozen": r"1 of the base's 2 .*'block_bn' \(inside the nested model "
                                                   r"'block'\).*walk into every layer that is itself a keras\.Model",
               "test_unfreeze_fit_keeps_batch_norm_statistics": r"moving mean and variance of 'block_bn'"}),
        Wrong("base-left-frozen", {"unfreeze_for_finetuning": unfreeze(unfreeze_base=False)},
              {"test_unfreeze_other_layers_trainable": r"2 layer\(s\) with weights are still frozen: 'stem_conv', "
                                                       r"'block_conv' \(inside the nested model 'block'\)",
               "test_unfreeze_fit_keeps_batch_norm_statistics": r"left the weights of 'stem_conv', 'block_conv'"}),
        Wrong("frozen-again-at-the-end", {"unfreeze_for_finetuning": unfreeze(refreeze=True)},
              {"test_unfreeze_other_layers_trainable": "still frozen",
               "test_unfreeze_fit_keeps_batch_norm_statistics": "unchanged: they are frozen"}),
        Wrong("nested-model-left-frozen", {"unfreeze_for_finetuning": unfreeze(unfreeze_base=False,
                                                                               top_level_only=True)},
              {"test_unfreeze_other_layers_trainable": r"1 layer\(s\) .*'block_conv' \(inside the nested model",
               "test_unfreeze_fit_keeps_batch_norm_statistics": r"left the weights of 'block_conv' \(inside"}),
        Wrong("returns-a-copy", {"unfreeze_for_finetuning": unfreeze(copy=True)},
              {"test_unfreeze_returns_the_given_base": r"returned another model \('.*'\), not the base it was "
                                                       "given"}),
        Wrong("not-implemented", {"unfreeze_for_finetuning": unfreeze_stub},
              {name: "not implemented yet" for name in grader.__dict__ if name.startswith("test_unfreeze_")}),
    ],
    "grow_head": [
        Wrong("reused-layers-trainable", {"grow_head": grow(freeze="none")},
              {"test_grow_head_reused_layers_frozen": r"reused layer\(s\) 'hidden_1', 'bn', 'hidden_2' are still "
                                                      "trainable"}),
        Wrong("only-the-named-layer-frozen", {"grow_head": grow(freeze="named")},
              {"test_grow_head_reused_layers_frozen": r"reused layer\(s\) 'hidden_1', 'bn' are still trainable"}),
        Wrong("head-on-the-layer-before", {"grow_head": grow(source="before")},
              {"test_grow_head_reads_the_named_layer": r"for layer_name='hidden_2' the new head reads 'bn', not "
                                                       "the trained model's layer"}),
        # (its hidden "learns" point depends on the draw: the trained model's probabilities carry some of what the
        # named layer's output does)
        Wrong("head-on-the-trained-output", {"grow_head": grow(source="output")},
              {"test_grow_head_reads_the_named_layer": "reads 'output'",
               "test_grow_head_leaves_the_later_layers": r"also runs the trained model's later layer\(s\) 'output'",
               "test_grow_head_reused_layers_frozen": r"it also trains 'output/kernel'"}),
        Wrong("new-input-layers-called-again", {"grow_head": grow(new_input=True)},
              {"test_grow_head_input": r"it starts from 'features' \(a new Input\); use trained\.inputs itself"}),
        Wrong("trained-model-cloned", {"grow_head": grow(copy=True)},
              {"test_grow_head_input": "a new Input",
               "test_grow_head_reuses_the_trained_layers": r"layers that are not the trained model's own \('hidden_1"
                                                           r"' \(Dense\)",
               "test_grow_head_reads_the_named_layer": r"reads 'hidden_2' \(a copy of the trained model's layer\)"}),
        Wrong("head-frozen-too", {"grow_head": grow(freeze_head=True)},
              {"test_grow_head_reused_layers_frozen": "the new head is frozen or missing",
               "test_grow_head_learns": "took the loss from"}),
        Wrong("sigmoid-head", {"grow_head": grow(activation="sigmoid")},
              {"test_grow_head_output": "activation='softmax'"}),
        Wrong("classes-hard-coded", {"grow_head": grow(fixed_classes=3)},
              {"test_grow_head_output": r"shape \(None, 4\)",
               "test_grow_head_learns": r"one probability per class, 4 values per example; it gives 3"}),
        Wrong("head-named-label", {"grow_head": grow(name="label")},
              {"test_grow_head_output": "no output named 'new_head'"}),
        Wrong("not-implemented", {"grow_head": grow_stub},
              {name: "not implemented yet" for name in grader.__dict__ if name.startswith("test_grow_head_")}),
    ],
}

# What a submission does to a handed-in layer that its answer does not use (the trained model's later layers) reaches
# the judge only where the grading engine sends back the state of every object it handed in, used or not (see
# _engine_returns_every_handed_in_object); these wrong answers are checked there.
RIGHT = {
    "build_finetune_model": [{"build_finetune_model": finetune()},
                             {"build_finetune_model": finetune_sequential_head},
                             {"build_finetune_model": finetune_functional_head},
                             {"build_finetune_model": finetune_softmax_layer}],
    "unfreeze_for_finetuning": [{"unfreeze_for_finetuning": unfreeze()},
                                {"unfreeze_for_finetuning": unfreeze_layer_by_layer},
                                {"unfreeze_for_finetuning": unfreeze_recursively}],
    "grow_head": [{"grow_head": grow()}, {"grow_head": grow_frozen_after},
                  {"grow_head": grow_sequential_head}],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson09", WRONG, RIGHT)
