"""The lesson 04 grader, tested: wrong Inception modules lose the right points with the right feedback, and
correct modules written differently get full marks."""

from __future__ import annotations

import keras

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson04 as grader

L = keras.layers


def conv(filters, kernel, strides=1, padding="same", activation="relu"):
    return L.Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation)


def module(padding="same", axis=-1, activation="relu", skip=None, c_from=None, d_from=None, c_stride_on_conv=False,
           wide_d=False, merge=None):
    """An Inception module with one thing changed (the defaults give the correct module)."""

    def inception_module(x, filters):
        conv_ = lambda k, s=1, f=filters: conv(f, k, s, padding, activation)  # noqa: E731
        a = conv_(1, 2)(x)
        b1 = conv_(1)(x)
        b = conv_(3, 2)(b1)
        source = {"b1": b1, None: x}[c_from]
        if c_stride_on_conv:
            c = conv_(3, 2)(L.AveragePooling2D(3, strides=1, padding=padding)(source))
        else:
            c = conv_(3)(L.AveragePooling2D(3, strides=2, padding=padding)(source))
        d1 = {"b1": b1, None: None}[d_from]
        d1 = conv_(1)(x) if d1 is None else d1
        d = conv_(3, 2, 2 * filters if wide_d else filters)(conv_(3)(d1))
        branches = [t for name, t in zip("abcd", (a, b, c, d)) if name != skip]
        if merge == "add":
            return L.add(branches)
        return L.concatenate(branches, axis=axis)

    return inception_module


def classic_listing(x, filters):
    """The Keras 2 listing as printed: default padding="valid", so the branches' shapes disagree."""
    a = L.Conv2D(filters, 1, activation="relu", strides=2)(x)
    b = L.Conv2D(filters, 1, activation="relu")(x)
    b = L.Conv2D(filters, 3, activation="relu", strides=2)(b)
    c = L.AveragePooling2D(3, strides=2)(x)
    c = L.Conv2D(filters, 3, activation="relu")(c)
    d = L.Conv2D(filters, 1, activation="relu")(x)
    d = L.Conv2D(filters, 3, activation="relu")(d)
    d = L.Conv2D(filters, 3, activation="relu", strides=2)(d)
    return L.concatenate([a, b, c, d], axis=-1)


def returns_model(x, filters):
    return keras.Model(x, module()(x, filters))


def own_input(x, filters):
    fresh = keras.Input(x.shape[1:])
    return module()(fresh, filters)


def stub(x, filters):
    raise NotImplementedError


# ------------------------------------------------------------------ right, written differently


def with_concatenate_layer_and_activation_layers(x, filters):
    def unit(t, kernel, strides=1):
        t = L.Conv2D(filters=filters, kernel_size=(kernel, kernel), strides=(strides, strides), padding="same",
                     use_bias=False)(t)
        t = L.BatchNormalization()(t)
        return L.Activation("relu")(t)

    tower_d = unit(unit(unit(x, 1), 3), 3, 2)
    tower_c = unit(L.AvgPool2D(pool_size=(3, 3), strides=(2, 2), padding="same")(x), 3)
    tower_b = unit(unit(x, 1), 3, 2)
    tower_a = L.ReLU()(L.Conv2D(filters, 1, strides=2)(x))  # default padding: a 1×1 convolution needs none
    return L.Concatenate(axis=3)([tower_d, tower_c, tower_b, tower_a])


def with_ops(x, filters):
    relu = keras.ops.relu
    a = relu(L.Conv2D(filters, 1, strides=2, padding="same")(x))
    b = L.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(
        L.Conv2D(filters, 1, activation="relu")(x))
    c = L.Conv2D(filters, 3, padding="same", activation="relu")(L.AveragePooling2D(3, 2, padding="same")(x))
    d = x
    for kernel, strides in ((1, 1), (3, 1), (3, 2)):
        d = L.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu")(d)
    return keras.ops.concatenate([a, b, c, d], axis=-1)


WRONG = {
    "inception_module": [
        Wrong("branch-missing", {"inception_module": module(skip="c")},
              {"test_inception_output_shape": r"should have shape \(None, 4, 4, 16\).*\(None, 4, 4, 12\)",
               "test_inception_concatenates_channels": "receives 3 tensors",
               "test_inception_branch_layers": r"missing: 3×3 average pooling \(strides=2\) → 3×3 convolution"}),
        Wrong("pool-fed-from-branch-b", {"inception_module": module(c_from="b1")},
              {"test_inception_branches_fed_from_x": "belongs to both branch 2 .* and branch 3",
               "test_inception_branch_layers": r"found instead: 1×1 convolution → 3×3 average pooling"}),
        Wrong("branch-d-reuses-branch-b-1x1", {"inception_module": module(d_from="b1")},
              {"test_inception_branches_fed_from_x": "fed by another branch's tensor"}),
        Wrong("wrong-axis", {"inception_module": module(axis=1)},
              {"test_inception_concatenates_channels": "concatenated on axis 1",
               "test_inception_output_shape": r"it has \(None, 16, 4, 4\)"}),
        Wrong("classic-valid-padding", {"inception_module": classic_listing},
              {"test_inception_output_shape": "padding='same'", "test_inception_branch_layers": "padding='same'"}),
        Wrong("no-relu", {"inception_module": module(activation=None)},
              {"test_inception_conv_settings": "activation 'linear'.*activation='relu'"}),
        Wrong("stride-on-the-pool-branch-conv", {"inception_module": module(c_stride_on_conv=True)},
              {"test_inception_branch_layers":
                   r"found instead: 3×3 average pooling → 3×3 convolution \(strides=2\)"}),
        Wrong("wider-branch", {"inception_module": module(wide_d=True)},
              {"test_inception_conv_settings": "has 10 filters", "test_inception_output_shape": "it has"}),
        Wrong("added-not-concatenated", {"inception_module": module(merge="add")},
              {"test_inception_concatenates_channels": r"\(Add\).*layers.concatenate"}),
        Wrong("returns-a-model", {"inception_module": returns_model},
              {"test_inception_output_shape": "returned Functional"}),
        Wrong("own-input", {"inception_module": own_input},
              {"test_inception_branches_fed_from_x": "an input of its own",
               "test_inception_output_shape": "not computed from x"}),
        Wrong("not-implemented", {"inception_module": stub},
              {"test_inception_output_shape": "not implemented yet"}),
    ],
}

RIGHT = {
    "inception_module": [
        {"inception_module": module()},
        {"inception_module": with_concatenate_layer_and_activation_layers},
        {"inception_module": with_ops},
    ],
}



test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson04", WRONG, RIGHT)
