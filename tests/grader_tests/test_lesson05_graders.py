"""The lesson 05 grader, tested: wrong residual blocks and builders lose the right points with the right feedback,
and correct ones written differently get full marks."""

from __future__ import annotations

import keras

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson05 as grader

L = keras.layers


# ------------------------------------------------------------------ residual_block: wrong answers


def block(shortcut="x", project="auto", proj_kernel=1, proj_strides=True, main_convs=2, stride_on="first",
          first_act="relu", merge="add", second_act=None, second_act_layer=False, after_add="relu",
          padding="same", relu_first=False):
    """A residual block with one thing changed (the defaults give the correct block)."""

    def residual_block(x, filters, downsample=False):
        strides = 2 if downsample else 1
        h = L.Activation("relu")(x) if relu_first else x
        y1 = L.Conv2D(filters, 3, strides=strides if stride_on == "first" else 1, padding=padding,
                      activation=first_act)(h)
        y = y1
        if main_convs == 2:
            y = L.Conv2D(filters, 3, strides=strides if stride_on == "second" else 1, padding=padding,
                         activation=None if second_act_layer else second_act)(y1)
            if second_act_layer:
                y = L.Activation(second_act)(y)
        needs = downsample or x.shape[-1] != filters
        if shortcut == "none":
            return L.Activation("relu")(y)
        source = {"x": x, "y1": y1}[shortcut]
        if project == "always" or (project == "auto" and needs) or (project == "channels" and
                                                                     x.shape[-1] != filters):
            source = L.Conv2D(filters, proj_kernel, strides=strides if proj_strides else 1, padding="same")(source)
        if padding == "valid":  # the main path shrank: crop the shortcut to match, so that the block still builds
            dh, dw = source.shape[1] - y.shape[1], source.shape[2] - y.shape[2]
            source = L.Cropping2D(((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2)))(source)
        merged = {"add": L.add, "concat": L.concatenate, "multiply": L.multiply}[merge]([y, source])
        return L.Activation(after_add)(merged) if after_add else merged

    return residual_block


def stub(x, filters, downsample=False):
    raise NotImplementedError


# ------------------------------------------------------------------ residual_block: right, written differently


def block_with_ops_and_batchnorm(x, filters, downsample=False):
    shortcut = x
    if downsample:
        shortcut = L.Conv2D(filters, kernel_size=(1, 1), strides=(2, 2), padding="same")(x)
    elif int(x.shape[-1]) != filters:
        shortcut = L.Conv2D(filters, 1)(x)
    h = L.Conv2D(filters, (3, 3), strides=(2, 2) if downsample else (1, 1), padding="same", use_bias=False)(x)
    h = L.ReLU()(L.BatchNormalization()(h))
    h = L.Conv2D(filters, (3, 3), padding="same")(h)
    return keras.ops.relu(h + shortcut)


def block_relu_layers_and_add_object(x, filters, downsample=False):
    """A ReLU layer instead of activation=, a Dropout(0) before the add, an Add layer object, keras.ops.relu on the
    sum, the shortcut built first, keyword arguments and tuples."""
    stride = (2, 2) if downsample else (1, 1)
    skip = x
    if downsample or x.shape[-1] != filters:
        skip = L.Conv2D(filters=filters, kernel_size=(1, 1), strides=stride)(x)
    main = L.Conv2D(filters, kernel_size=(3, 3), strides=stride, padding="same")(x)
    main = L.ReLU()(main)
    main = L.Dropout(0.0)(L.Conv2D(filters, kernel_size=(3, 3), padding="same", activation="linear")(main))
    return keras.ops.relu(L.Add(name=None)([skip, main]))


def block_nested_main_path(x, filters, downsample=False, second_act=None):
    """Right (without second_act): the main path written as a nested Sequential, the shortcut beside it."""
    stride = 2 if downsample else 1
    main = keras.Sequential([L.Conv2D(filters, 3, strides=stride, padding="same", activation="relu"),
                             L.Conv2D(filters, 3, padding="same", activation=second_act)])
    skip = x if stride == 1 and x.shape[-1] == filters else L.Conv2D(filters, 1, strides=stride)(x)
    return L.Activation("relu")(L.add([main(x), skip]))


# ------------------------------------------------------------------ residual_block: wrong, written like a right one


def block_preactivation_style(x, filters, downsample=False):
    """No ReLU after the add (the docstring says: apply ReLU to the sum), an Add layer object, the shortcut
    written first."""
    stride = 1 + int(bool(downsample))
    skip = x if (stride == 1 and x.shape[-1] == filters) else L.Conv2D(filters, 1, strides=stride)(x)
    main = L.Conv2D(filters, 3, strides=stride, padding="same")(x)
    main = L.Activation("relu")(main)
    main = L.Conv2D(filters, 3, padding="same")(main)
    return L.Add()([skip, main])


# ------------------------------------------------------------------ build_resnet


def resnet(ignore_block=False, downsample_first_stage=False, stem=True, out_act="softmax", one_block=False,
           trainable=True, input_name="image", stem_padding="same", stem_act="relu", head="pool",
           use_name=True, first_stage_side_by_side=False):
    """A builder with one thing changed (the defaults give the correct builder)."""

    def build_resnet(input_shape=(8, 8, 1), num_classes=10, filters=(8, 16), blocks_per_stage=5,
                     block=block(), name="resnet"):  # noqa: B008 - one block function per builder, as asked
        image = keras.Input(input_shape, name=input_name)
        x = L.Conv2D(filters[0], 3, padding=stem_padding, activation=stem_act, trainable=trainable)(image) \
            if stem else image
        for s, f in enumerate(filters):
            if s == 0 and first_stage_side_by_side and blocks_per_stage > 1:  # every block reads the stem
                x = L.add([block(x, f, downsample=False) for _ in range(blocks_per_stage)])
                continue
            for i in range(1 if one_block else blocks_per_stage):
                down = (i == 0) and (s > 0 or downsample_first_stage)
                x = (plain(x, f, down) if ignore_block else block(x, f, downsample=down))
        if head == "conv":  # an all-convolutional head: no Dense layer
            x = L.GlobalAveragePooling2D()(L.Conv2D(num_classes, 1)(x))
            out = L.Activation(out_act, name="digit")(x)
        else:
            x = {"pool": L.GlobalAveragePooling2D(), "flatten": L.Flatten(), "max": L.GlobalMaxPooling2D()}[head](x)
            out = L.Dense(num_classes, activation=out_act, name="digit", trainable=trainable)(x)
        model = keras.Model(image, out, name=name if use_name else "my_resnet")
        if not trainable:
            for layer in model.layers:
                layer.trainable = False
        return model

    return build_resnet


def plain(x, filters, downsample=False):
    x = L.Conv2D(filters, 3, strides=2 if downsample else 1, padding="same", activation="relu")(x)
    return L.Conv2D(filters, 3, padding="same", activation="relu")(x)


def resnet_written_differently(input_shape=(8, 8, 1), num_classes=10, filters=(8, 16), blocks_per_stage=5,
                               block=block_with_ops_and_batchnorm, name="resnet"):
    inputs = keras.layers.Input(shape=input_shape, name="image")
    h = L.Activation("relu")(L.Conv2D(filters[0], (3, 3), padding="same")(inputs))
    plan = [(f, i == 0 and s != 0) for s, f in enumerate(filters) for i in range(blocks_per_stage)]
    for f, down in plan:
        h = block(h, f, down)
    h = L.Flatten()(L.GlobalAveragePooling2D()(h))
    logits = L.Dense(num_classes)(h)
    return keras.Model(inputs=inputs, outputs=L.Softmax(name="digit")(logits), name=name)


def resnet_nested_stem_and_head(input_shape=(8, 8, 1), num_classes=10, filters=(8, 16), blocks_per_stage=5,
                                block=block_nested_main_path, name="resnet"):
    """Right: the stem and the head (pooling, then the softmax Dense) written as nested Sequential models, the head
    named 'digit'."""
    image = keras.Input(input_shape, name="image")
    x = keras.Sequential([L.Conv2D(filters[0], 3, padding="same", activation="relu")], name="stem")(image)
    for s, f in enumerate(filters):
        for i in range(blocks_per_stage):
            x = block(x, f, downsample=s > 0 and i == 0)
    head = keras.Sequential([L.GlobalAveragePooling2D(), L.Dense(num_classes, activation="softmax")], name="digit")
    return keras.Model(image, head(x), name=name)


def resnet_ops_and_keywords(input_shape=(8, 8, 1), num_classes=10, filters=(8, 16), blocks_per_stage=5,
                            block=block_relu_layers_and_add_object, name="resnet"):
    """Blocks called with keywords in a while loop, keras.ops.relu after the stem, keras.ops.mean as the global
    average pooling, other layer names."""
    image = keras.Input(shape=tuple(input_shape), name="image", dtype="float32")
    h = keras.ops.relu(L.Conv2D(filters=filters[0], kernel_size=3, strides=1, padding="same", name="first")(image))
    stage = 0
    while stage < len(filters):
        for i in range(blocks_per_stage):
            h = block(x=h, filters=filters[stage], downsample=bool(stage and not i))
        stage += 1
    pooled = keras.ops.mean(h, axis=(1, 2))
    return keras.Model(inputs=[image], outputs=L.Dense(units=num_classes, activation="softmax", name="digit")(pooled),
                       name=name)


WRONG = {
    "residual_block": [
        Wrong("nested-main-path-with-relu-before-the-add",
              {"residual_block": lambda x, filters, downsample=False: block_nested_main_path(x, filters, downsample,
                                                                                             second_act="relu")},
              {"test_residual_second_conv_without_activation": "followed by activation 'relu' before the add"}),
        Wrong("no-shortcut", {"residual_block": block(shortcut="none")},
              {"test_residual_identity_shortcut": "comes from .*not from an add",
               "test_residual_paths_summed_with_add": "not from an add",
               "test_residual_identity_at_zero": "should output x"}),
        Wrong("shortcut-from-first-conv", {"residual_block": block(shortcut="y1")},
              {"test_residual_identity_shortcut": "neither of which is x; the shortcut must be the block's input",
               "test_residual_identity_at_zero": "should output x"}),
        Wrong("always-projects", {"residual_block": block(project="always")},
              {"test_residual_identity_shortcut": "a convolution of x: when the shapes already match"}),
        Wrong("no-projection", {"residual_block": block(project="never")},
              {"test_residual_output_shapes": "raised ValueError",
               "test_residual_projection": "raised ValueError"}),
        Wrong("projection-without-strides", {"residual_block": block(proj_strides=False)},
              {"test_residual_projection": "raised ValueError.*the shortcut must be a projection of x with the "
                                           "main path's strides"}),
        Wrong("projects-only-when-the-channels-change", {"residual_block": block(project="channels")},
              {"test_residual_projection": r"raised ValueError.*With downsample=True, x with 6 channels, "
                                           r"filters=6 .*Conv2D\(6, 1, strides=2\)"}),
        Wrong("3x3-projection", {"residual_block": block(proj_kernel=3)},
              {"test_residual_projection": r"the shortcut is Conv2D\(10, 3×3, strides=2\)"}),
        Wrong("one-conv-main-path", {"residual_block": block(main_convs=1)},
              {"test_residual_main_path": r"the main path is Conv2D\(6, 3×3\); it should be",
               "test_residual_second_conv_without_activation": "has 1 convolution"}),
        Wrong("stride-on-second-conv", {"residual_block": block(stride_on="second")},
              {"test_residual_main_path": r"Conv2D\(10, 3×3\) → Conv2D\(10, 3×3, strides=2\)"}),
        Wrong("no-relu-inside", {"residual_block": block(first_act=None)},
              {"test_residual_main_path": "activation 'linear'"}),
        Wrong("relu-before-the-first-conv", {"residual_block": block(relu_first=True)},
              {"test_residual_main_path": r"the main path is '.*' \(Activation\) → Conv2D\(6, 3×3\)"}),
        Wrong("valid-padding-cropped-shortcut", {"residual_block": block(padding="valid")},
              {"test_residual_main_path_padding_same": "has padding='valid'; both 3×3 convolutions need "
                                                       "padding='same'",
               "test_residual_output_shapes": r"it has \(None, 4, 4, 6\)"}),
        Wrong("relu-before-the-add-not-after", {"residual_block": block(second_act="relu", after_add=None)},
              {"test_residual_second_conv_without_activation": "followed by activation 'relu' before the add",
               "test_residual_relu_after_add": "returns the sum itself, with no ReLU after the add"}),
        Wrong("relu-layer-on-second-conv-too", {"residual_block": block(second_act="relu", second_act_layer=True)},
              {"test_residual_second_conv_without_activation": "followed by activation 'relu' before the add"}),
        Wrong("no-relu-after-add", {"residual_block": block_preactivation_style},
              {"test_residual_relu_after_add": "no ReLU after the add"}),
        Wrong("tanh-after-add", {"residual_block": block(after_add="tanh")},
              {"test_residual_relu_after_add": "after the add the block applies 'tanh'"}),
        Wrong("concatenated", {"residual_block": block(merge="concat")},
              {"test_residual_output_shapes": r"it has \(None, 8, 8, 12\)",
               "test_residual_identity_shortcut": r"'concatenate' \(Concatenate\), not from an add",
               "test_residual_paths_summed_with_add": r"\(Concatenate\), not from an add"}),
        Wrong("multiplied", {"residual_block": block(merge="multiply")},
              {"test_residual_paths_summed_with_add": r"\(Multiply\), not from an add"}),
        Wrong("not-implemented", {"residual_block": stub},
              {"test_residual_output_shapes": "not implemented yet"}),
    ],
    "build_resnet": [
        Wrong("ignores-the-block", {"build_resnet": resnet(ignore_block=True)},
              {"test_resnet_stages": "never called the `block`", "test_resnet_uses_residual_blocks": "has 0 add"}),
        Wrong("downsamples-the-first-stage", {"build_resnet": resnet(downsample_first_stage=True)},
              {"test_resnet_stages": r"\(filters, downsample\) = \(4, True\)"}),
        Wrong("one-block-per-stage", {"build_resnet": resnet(one_block=True)},
              {"test_resnet_stages": r"expected \(4, False\), \(4, False\), \(8, True\), \(8, False\)",
               "test_resnet_uses_residual_blocks": "has 2 add"}),
        Wrong("first-stage-side-by-side", {"build_resnet": resnet(first_stage_side_by_side=True)},
              {"test_resnet_stages": r"block 2 receives the output of 'conv2d\w*', not block 1's"}),
        Wrong("no-stem", {"build_resnet": resnet(stem=False)},
              {"test_resnet_stem": r"receives a tensor of shape \(None, 8, 8, 1\)"}),
        Wrong("linear-stem", {"build_resnet": resnet(stem_act=None)},
              {"test_resnet_stem": "stem convolution has activation 'linear'"}),
        Wrong("stem-padding-valid", {"build_resnet": resnet(stem_padding="valid")},
              {"test_resnet_stem_padding_same": "padding='valid', so the 8×8 image becomes 6×6 maps"}),
        Wrong("flatten-instead-of-pooling", {"build_resnet": resnet(head="flatten")},
              {"test_resnet_global_average_pooling": r"reads '.*' \(Flatten\); it should read the global average"}),
        Wrong("global-max-pooling", {"build_resnet": resnet(head="max")},
              {"test_resnet_global_average_pooling": r"\(GlobalMaxPooling2D\)"}),
        Wrong("convolutional-head-no-dense", {"build_resnet": resnet(head="conv")},
              {"test_resnet_io": r"not by a Dense layer",
               "test_resnet_global_average_pooling": "not a Dense layer"}),
        Wrong("relu-output", {"build_resnet": resnet(out_act="relu")},
              {"test_resnet_io": "activation 'relu'"}),
        Wrong("input-misnamed", {"build_resnet": resnet(input_name="pixels")},
              {"test_resnet_io": "no input named 'image'"}),
        Wrong("name-ignored", {"build_resnet": resnet(use_name=False)},
              {"test_resnet_model_name": "the model is named 'my_resnet'; it should be named 'resnet'"}),
        Wrong("frozen", {"build_resnet": resnet(trainable=False)},
              {"test_resnet_learns": "took the loss"}),
    ],
}

RIGHT = {
    "residual_block": [
        {"residual_block": block()},
        {"residual_block": block_with_ops_and_batchnorm},
        {"residual_block": block_relu_layers_and_add_object},
        {"residual_block": block_nested_main_path},
    ],
    "build_resnet": [
        {"build_resnet": resnet()},
        {"build_resnet": resnet_written_differently},
        {"build_resnet": resnet_nested_stem_and_head},
        {"build_resnet": resnet_ops_and_keywords},
    ],
}


test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson05", WRONG, RIGHT)
