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
           wide_d=False, merge=None, a_padding=None, a_after=None, c_pool_after=None, b_kernel=3, short_d=False,
           shared_1x1=False):
    """An Inception module with one thing changed (the defaults give the correct module): ``a_padding`` for the
    1×1 convolution of branch a only, ``a_after`` / ``c_pool_after`` a layer added after branch a's convolution /
    after branch c's pooling, ``b_kernel`` the kernel of branch b's strided convolution, ``short_d`` leaves out the
    middle 3×3 convolution of branch d, ``shared_1x1`` has branches b and d call one 1×1 convolution layer."""

    def inception_module(x, filters):
        conv_ = lambda k, s=1, f=filters: conv(f, k, s, padding, activation)  # noqa: E731
        a = conv(filters, 1, 2, a_padding or padding, activation)(x)
        if a_after is not None:
            a = a_after(a)
        one_by_one = conv_(1)
        b1 = one_by_one(x)
        b = conv_(b_kernel, 2)(b1)
        source = {"b1": b1, None: x}[c_from]
        if c_stride_on_conv:
            c = conv_(3, 2)(L.AveragePooling2D(3, strides=1, padding=padding)(source))
        else:
            pooled = L.AveragePooling2D(3, strides=2, padding=padding)(source)
            if c_pool_after is not None:
                pooled = c_pool_after(pooled)
            c = conv_(3)(pooled)
        d1 = {"b1": b1, None: None}[d_from]
        d1 = (one_by_one(x) if shared_1x1 else conv_(1)(x)) if d1 is None else d1
        d = d1 if short_d else conv_(3)(d1)
        d = conv_(3, 2, 2 * filters if wide_d else filters)(d)
        branches = [t for name, t in zip("abcd", (a, b, c, d)) if name != skip]
        if merge == "add":
            return L.add(branches)
        return L.concatenate(branches, axis=axis)

    return inception_module


def linear_convs_then(activation_layer):
    """An Inception module whose convolutions have no activation= and are each followed by ``activation_layer()``."""

    def inception_module(x, filters):
        def unit(t, kernel, strides=1):
            return activation_layer()(conv(filters, kernel, strides, activation=None)(t))

        a = unit(x, 1, 2)
        b = unit(unit(x, 1), 3, 2)
        c = unit(L.AveragePooling2D(3, strides=2, padding="same")(x), 3)
        d = unit(unit(unit(x, 1), 3), 3, 2)
        return L.concatenate([a, b, c, d])

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
    tower_a = L.ReLU()(L.Conv2D(filters, 1, strides=2, padding="same")(x))
    return L.Concatenate(axis=3)([tower_d, tower_c, tower_b, tower_a])


def with_ops(x, filters):
    relu = keras.ops.relu
    a = relu(L.Conv2D(filters, 1, strides=2, padding="same")(x))
    b = L.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(
        L.Conv2D(filters, 1, padding="same", activation="relu")(x))
    c = L.Conv2D(filters, 3, padding="same", activation="relu")(L.AveragePooling2D(3, 2, padding="same")(x))
    d = x
    for kernel, strides in ((1, 1), (3, 1), (3, 2)):
        d = L.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu")(d)
    return keras.ops.concatenate([a, b, c, d], axis=-1)


def in_another_order_with_activation_layers(x, filters):
    """Right: the layers made first and called later, branches built d, c, b, a, Activation('relu') layers after
    linear convolutions, an explicit (1, 1) stride, tuples for kernels and strides, other names."""
    same = {"padding": "same"}
    d_layers = [L.Conv2D(filters, (1, 1), strides=(1, 1), name="d_reduce", **same),
                L.Conv2D(filters, (3, 3), name="d_mid", **same), L.Conv2D(filters, (3, 3), strides=(2, 2), **same)]
    d = x
    for layer in d_layers:
        d = L.Activation("relu")(layer(d))
    c = L.Conv2D(filters, 3, activation=keras.activations.relu, **same)(
        L.AveragePooling2D(pool_size=3, strides=2, **same)(x))
    b = L.Conv2D(filters, 3, strides=2, activation="relu", **same)(L.Conv2D(filters, 1, activation="relu", **same)(x))
    a = L.Activation(keras.activations.relu)(L.Conv2D(filters, 1, strides=2, activation="linear", **same)(x))
    return L.Concatenate(axis=-1, name="inception_out")([a, b, c, d])


WRONG = {
    "inception_module": [
        Wrong("branch-missing", {"inception_module": module(skip="c")},
              {"test_inception_output_shape": r"should have shape \(None, 4, 4, 16\).*\(None, 4, 4, 12\)",
               "test_inception_concatenates_channels": "receives 3 tensors",
               "test_inception_branch_c": r"none of the concatenated branches is branch c, x → 3×3 average pooling "
                                          r"\(strides=2\) → 3×3 convolution\..*branches a, b, d are there"}),
        Wrong("pool-fed-from-branch-b", {"inception_module": module(c_from="b1")},
              {"test_inception_branches_fed_from_x": "belongs to both branch 2 .* and branch 3",
               "test_inception_branch_c": r"3: 1×1 convolution → 3×3 average pooling"}),
        Wrong("branch-d-reuses-branch-b-1x1", {"inception_module": module(d_from="b1")},
              {"test_inception_branches_fed_from_x": "fed by another branch's tensor"}),
        Wrong("one-1x1-layer-for-b-and-d", {"inception_module": module(shared_1x1=True)},
              {"test_inception_branches_fed_from_x": "belongs to both branch 2 .* and branch 4.*a layer is reused"}),
        Wrong("wrong-axis", {"inception_module": module(axis=1)},
              {"test_inception_concatenates_channels": "concatenated on axis 1",
               "test_inception_output_shape": r"it has \(None, 16, 4, 4\)"}),
        Wrong("classic-valid-padding", {"inception_module": classic_listing},
              {"test_inception_output_shape": "padding='same'", "test_inception_branch_b": "padding='same'",
               "test_inception_padding_same": "padding='same'"}),
        Wrong("valid-padding-on-the-1x1", {"inception_module": module(a_padding="valid")},
              {"test_inception_padding_same": r"the 1×1 convolution .* in branch 1 of the concatenation has "
                                              r"padding='valid'; every convolution \(a 1×1 one too\)"}),
        Wrong("no-relu", {"inception_module": module(activation=None)},
              {"test_inception_conv_relu": "activation 'linear'.*activation='relu'"}),
        Wrong("leaky-relu-layers", {"inception_module": linear_convs_then(lambda: L.ReLU(negative_slope=0.1))},
              {"test_inception_conv_relu": r"activation 'ReLU\(negative_slope=0.1\)'.*activation='relu'"}),
        Wrong("sigmoid-after-the-relu", {"inception_module": module(a_after=L.Activation("sigmoid"))},
              {"test_inception_branch_a": r"branch a, x → 1×1 convolution \(strides=2\)\..*1: 1×1 convolution "
                                          r"\(strides=2\) → an extra Activation\('sigmoid'\)"}),
        Wrong("relu-after-the-pooling", {"inception_module": module(c_pool_after=L.ReLU())},
              {"test_inception_branch_c": r"3×3 average pooling \(strides=2\) → an extra ReLU\(\) → 3×3 "
                                          "convolution"}),
        Wrong("3x1-kernel-in-branch-b", {"inception_module": module(b_kernel=(3, 1))},
              {"test_inception_branch_b": r"branch b, .*2: 1×1 convolution → 3×1 convolution \(strides=2\)"}),
        Wrong("branch-d-one-3x3-short", {"inception_module": module(short_d=True)},
              {"test_inception_branch_d": r"branch d, x → 1×1 convolution → 3×3 convolution → 3×3 convolution "
                                          r"\(strides=2\)\..*branches a, b, c are there"}),
        Wrong("stride-on-the-pool-branch-conv", {"inception_module": module(c_stride_on_conv=True)},
              {"test_inception_branch_c": r"3×3 average pooling → 3×3 convolution \(strides=2\)"}),
        Wrong("wider-branch", {"inception_module": module(wide_d=True)},
              {"test_inception_conv_filters": "has 10 filters", "test_inception_output_shape": "it has"}),
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
        {"inception_module": in_another_order_with_activation_layers},
        {"inception_module": linear_convs_then(L.ReLU)},
    ],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson04", WRONG, RIGHT)
