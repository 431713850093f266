"""The lesson 04 grader, tested: wrong Inception modules (the lesson's four-branch module and the guide's three-tower
model) lose the right points with the right feedback, and correct ones written differently get full marks."""

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


# ------------------------------------------------------------------ exercise 2: the guide's three-tower module


def classic(axis=-1, pool="max", pool_strides=1, pool_from=None, tower_1="3x3", tower_2="5x5", shared_1x1=False,
            filters_5x5=64, activation="relu", padding_1x1="same", use_bias=True, name="image", fixed_shape=None,
            after=None):
    """The guide's module with one thing changed (the defaults give the right model): ``pool`` "avg" for an average
    pooling, ``pool_strides`` None for the pooling's default strides, ``pool_from`` "t1" to pool tower 1's 1×1,
    ``tower_1`` "swapped" (the 3×3 first, then the 1×1), ``tower_2`` "two_3x3" (two 3×3 instead of the 5×5) or
    "5x5_only" (no 1×1), ``shared_1x1`` one 1×1 layer called by towers 1 and 2, ``fixed_shape`` an input shape that
    ignores the argument, ``after`` a layer after the concatenation."""

    def build_classic_inception(input_shape=(256, 256, 3)):
        image = keras.Input(fixed_shape or input_shape, name=name)

        def conv_(kernel, filters=64, padding="same"):
            return L.Conv2D(filters, kernel, padding=padding, activation=activation, use_bias=use_bias)

        first = conv_(1, padding=padding_1x1)
        t1_in = first(image)
        t1 = conv_(1)(conv_(3)(image)) if tower_1 == "swapped" else conv_(3)(t1_in)
        if tower_2 == "5x5_only":
            t2 = conv_(5, filters_5x5)(image)
        else:
            t2_in = first(image) if shared_1x1 else conv_(1, padding=padding_1x1)(image)
            t2 = conv_(3)(conv_(3)(t2_in)) if tower_2 == "two_3x3" else conv_(5, filters_5x5)(t2_in)
        pooling = L.MaxPooling2D if pool == "max" else L.AveragePooling2D
        pooled = pooling(3, strides=pool_strides, padding="same")({"t1": t1_in, None: image}[pool_from])
        t3 = conv_(1, padding=padding_1x1)(pooled)
        out = L.concatenate([t1, t2, t3], axis=axis)
        return keras.Model(image, after(out) if after is not None else out)

    return build_classic_inception


def classic_returns_tensor(input_shape=(256, 256, 3)):
    return classic()(input_shape).output


def classic_stub(input_shape=(256, 256, 3)):
    raise NotImplementedError


def classic_with_layers_in_another_order(input_shape=(256, 256, 3)):
    """Right: keras.layers.Input, the towers built pool first, linear convolutions followed by Activation layers,
    tuple kernels and strides, MaxPool2D, keyword arguments, and a Concatenate layer on axis 3."""
    image = keras.layers.Input(shape=input_shape, name="image")

    def unit(t, kernel):
        return L.Activation("relu")(L.Conv2D(filters=64, kernel_size=(kernel, kernel), strides=(1, 1),
                                             padding="same")(t))

    pooled = L.MaxPool2D(pool_size=(3, 3), strides=(1, 1), padding="same", name="pool")(image)
    tower_pool = unit(pooled, 1)
    tower_five = unit(unit(image, 1), 5)
    tower_three = unit(unit(image, 1), 3)
    merged = L.Concatenate(axis=3, name="towers")([tower_pool, tower_three, tower_five])
    return keras.Model(inputs=image, outputs=merged, name="guide_module")


def classic_with_ops_and_layers_made_first(input_shape=(256, 256, 3)):
    """Right: every layer made first and called later, ReLU layers and keras.ops.relu after linear convolutions,
    keras.ops.concatenate."""
    reduce_3, conv_3 = L.Conv2D(64, 1, padding="same"), L.Conv2D(64, 3, padding="same", activation="relu")
    reduce_5, conv_5 = L.Conv2D(64, 1, padding="same", activation="relu"), L.Conv2D(64, 5, padding="same")
    pool, project = L.MaxPooling2D(3, 1, "same"), L.Conv2D(64, (1, 1), padding="same", activation="relu")
    image = keras.Input(input_shape, name="image")
    tower_1 = conv_3(L.ReLU()(reduce_3(image)))
    tower_2 = keras.ops.relu(conv_5(reduce_5(image)))
    tower_3 = project(pool(image))
    return keras.Model(image, keras.ops.concatenate([tower_1, tower_2, tower_3], axis=-1))


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
    "build_classic_inception": [
        Wrong("guide-axis-1", {"build_classic_inception": classic(axis=1)},
              {"test_classic_concatenates_channels": "concatenated on axis 1; .*channels-last",
               "test_classic_output_shape": r"should have shape \(None, 256, 256, 192\).*it has "
                                            r"\(None, 768, 256, 64\)"}),
        Wrong("pool-with-default-strides", {"build_classic_inception": classic(pool_strides=None)},
              {"test_classic_tower_pool_1x1": "matching shapes.*the max pooling strides=1",
               "test_classic_output_shape": "different heights and widths"}),
        Wrong("average-pooling", {"build_classic_inception": classic(pool="avg")},
              {"test_classic_tower_pool_1x1": r"none of the concatenated towers is tower 3, the input → 3×3 max "
                                              r"pooling → 1×1 convolution\..*3: the input → 3×3 average pooling → "
                                              r"1×1 convolution \(towers 1, 2 are there\)"}),
        Wrong("3x3-before-the-1x1", {"build_classic_inception": classic(tower_1="swapped")},
              {"test_classic_tower_1x1_3x3": r"none of the concatenated towers is tower 1, the input → 1×1 "
                                             r"convolution → 3×3 convolution\..*1: the input → 3×3 convolution → "
                                             r"1×1 convolution.*\(towers 2, 3 are there\)",
               "test_classic_parameter_count": "has 108,928 parameters"}),
        Wrong("two-3x3-for-the-5x5", {"build_classic_inception": classic(tower_2="two_3x3")},
              {"test_classic_tower_1x1_5x5": r"tower 2, the input → 1×1 convolution → 5×5 convolution\..*1×1 "
                                             r"convolution → 3×3 convolution → 3×3 convolution",
               "test_classic_parameter_count": "has 111,552 parameters; the guide's module has 140,160"}),
        Wrong("5x5-without-its-1x1", {"build_classic_inception": classic(tower_2="5x5_only")},
              {"test_classic_tower_1x1_5x5": r"2: the input → 5×5 convolution",
               "test_classic_parameter_count": "has 42,304 parameters"}),
        Wrong("one-1x1-for-towers-1-and-2", {"build_classic_inception": classic(shared_1x1=True)},
              {"test_classic_towers_read_the_input": "belongs to both tower 1 .* and tower 2.*a layer is reused",
               "test_classic_parameter_count": "has 139,904 parameters"}),
        Wrong("pool-reads-tower-1", {"build_classic_inception": classic(pool_from="t1")},
              {"test_classic_towers_read_the_input": "fed by another tower's tensor",
               "test_classic_tower_pool_1x1": r"3: the input → 1×1 convolution → 3×3 max pooling → 1×1 convolution"}),
        Wrong("narrow-5x5", {"build_classic_inception": classic(filters_5x5=32)},
              {"test_classic_conv_filters": "in tower 2 of the concatenation has 32 filters",
               "test_classic_output_shape": r"it has \(None, 256, 256, 160\)",
               "test_classic_parameter_count": "has 88,928 parameters"}),
        Wrong("no-relu", {"build_classic_inception": classic(activation=None)},
              {"test_classic_conv_relu": "activation 'linear'; every convolution needs activation='relu'"}),
        Wrong("valid-padding-on-the-1x1s", {"build_classic_inception": classic(padding_1x1="valid")},
              {"test_classic_padding_same": r"the 1×1 convolution .* in tower 1 of the concatenation has "
                                            r"padding='valid'; every convolution \(a 1×1 one too"}),
        Wrong("no-biases", {"build_classic_inception": classic(use_bias=False)},
              {"test_classic_parameter_count": "has 139,840 parameters.*no biases"}),
        Wrong("guide-input-name", {"build_classic_inception": classic(name="input_img")},
              {"test_classic_input": "no input named 'image'"}),
        Wrong("shape-hard-coded", {"build_classic_inception": classic(fixed_shape=(256, 256, 3))},
              {"test_classic_input": r"input 'image' should have shape \(None, 9, 7, 5\)",
               "test_classic_output_shape": r"input_shape=\(9, 7, 5\) the output should have shape "
                                            r"\(None, 9, 7, 192\)",
               "test_classic_parameter_count": r"input_shape=\(9, 7, 5\) the model has 140,160 parameters; the "
                                               r"guide's module has 140,544"}),
        Wrong("activation-after-the-merge", {"build_classic_inception": classic(after=L.Activation("relu"))},
              {"test_classic_concatenates_channels": r"the output comes from '.*' \(Activation\); it should be "
                                                     "the concatenation of the three towers"}),
        Wrong("returns-a-tensor", {"build_classic_inception": classic_returns_tensor},
              {"test_classic_input": "returned KerasTensor, not a keras.Model"}),
        Wrong("not-implemented", {"build_classic_inception": classic_stub},
              {"test_classic_input": "not implemented yet"}),
    ],
}

def with_sequential_branches(x, filters):
    """Right: each branch a nested keras.Sequential (built on the first call), the module read through them."""
    same = {"padding": "same", "activation": "relu"}
    branches = [
        keras.Sequential([L.Conv2D(filters, 1, strides=2, **same)], name="branch_a"),
        keras.Sequential([L.Conv2D(filters, 1, **same), L.Conv2D(filters, 3, strides=2, **same)], name="branch_b"),
        keras.Sequential([L.AveragePooling2D(3, strides=2, padding="same"), L.Conv2D(filters, 3, **same)],
                         name="branch_c"),
        keras.Sequential([L.Conv2D(filters, 1, **same), L.Conv2D(filters, 3, **same),
                          L.Conv2D(filters, 3, strides=2, **same)], name="branch_d"),
    ]
    return L.concatenate([branch(x) for branch in branches], axis=-1)


def classic_with_sequential_towers(input_shape=(256, 256, 3)):
    """Right: each tower a nested keras.Sequential with an Input of its own, called on the model's input."""
    image = keras.Input(input_shape, name="image")
    same = {"padding": "same", "activation": "relu"}

    def tower(*layers, name):
        return keras.Sequential([keras.Input(input_shape), *layers], name=name)(image)

    towers = [tower(L.Conv2D(64, 1, **same), L.Conv2D(64, 3, **same), name="tower_1"),
              tower(L.Conv2D(64, 1, **same), L.Conv2D(64, 5, **same), name="tower_2"),
              tower(L.MaxPooling2D(3, strides=1, padding="same"), L.Conv2D(64, 1, **same), name="tower_3")]
    return keras.Model(image, L.concatenate(towers, axis=-1))


RIGHT = {
    "inception_module": [
        {"inception_module": module()},
        {"inception_module": with_concatenate_layer_and_activation_layers},
        {"inception_module": with_ops},
        {"inception_module": in_another_order_with_activation_layers},
        {"inception_module": linear_convs_then(L.ReLU)},
        {"inception_module": with_sequential_branches},
    ],
    "build_classic_inception": [
        {"build_classic_inception": classic()},
        {"build_classic_inception": classic_with_layers_in_another_order},
        {"build_classic_inception": classic_with_ops_and_layers_made_first},
        {"build_classic_inception": classic_with_sequential_towers},
    ],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson04", WRONG, RIGHT)
