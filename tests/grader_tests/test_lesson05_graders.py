"""The lesson 05 grader, tested: wrong residual blocks and builders lose the right points with the right feedback,
and correct ones written differently get full marks."""

from __future__ import annotations

import keras

from grader_tests.graderkit import Wrong, self_tests
from grading import test_lesson05 as grader

L = keras.layers


# ------------------------------------------------------------------ residual_block: wrong answers


def block(shortcut="x", project="auto", proj_kernel=1, proj_strides=True, main_convs=2, stride_on="first",
          first_act="relu", merge="add"):
    """A residual block with one thing changed (the defaults give the correct block)."""

    def residual_block(x, filters, downsample=False):
        strides = 2 if downsample else 1
        y1 = L.Conv2D(filters, 3, strides=strides if stride_on == "first" else 1, padding="same",
                      activation=first_act)(x)
        y = y1
        if main_convs == 2:
            y = L.Conv2D(filters, 3, strides=strides if stride_on == "second" else 1, padding="same")(y1)
        needs = downsample or x.shape[-1] != filters
        if shortcut == "none":
            return L.Activation("relu")(y)
        source = {"x": x, "y1": y1}[shortcut]
        if project == "always" or (project == "auto" and needs):
            source = L.Conv2D(filters, proj_kernel, strides=strides if proj_strides else 1, padding="same")(source)
        merged = L.add([y, source]) if merge == "add" else L.concatenate([y, source])
        return L.Activation("relu")(merged)

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


def block_preactivation_style(x, filters, downsample=False):
    """No ReLU after the add, an Add layer object, the shortcut written first."""
    stride = 1 + int(bool(downsample))
    skip = x if (stride == 1 and x.shape[-1] == filters) else L.Conv2D(filters, 1, strides=stride)(x)
    main = L.Conv2D(filters, 3, strides=stride, padding="same")(x)
    main = L.Activation("relu")(main)
    main = L.Conv2D(filters, 3, padding="same")(main)
    return L.Add()([skip, main])


# ------------------------------------------------------------------ build_resnet


def resnet(ignore_block=False, downsample_first_stage=False, stem=True, out_act="softmax", one_block=False,
           trainable=True, input_name="image"):
    """A builder with one thing changed (the defaults give the correct builder)."""

    def build_resnet(input_shape=(8, 8, 1), num_classes=10, filters=(8, 16), blocks_per_stage=5,
                     block=block(), name="resnet"):
        image = keras.Input(input_shape, name=input_name)
        x = L.Conv2D(filters[0], 3, padding="same", activation="relu", trainable=trainable)(image) if stem else image
        for s, f in enumerate(filters):
            for i in range(1 if one_block else blocks_per_stage):
                down = (i == 0) and (s > 0 or downsample_first_stage)
                x = (plain(x, f, down) if ignore_block else block(x, f, downsample=down))
        x = L.GlobalAveragePooling2D()(x)
        out = L.Dense(num_classes, activation=out_act, name="digit", trainable=trainable)(x)
        model = keras.Model(image, out, name=name)
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


WRONG = {
    "residual_block": [
        Wrong("no-shortcut", {"residual_block": block(shortcut="none")},
              {"test_residual_identity_shortcut": "comes from .*not from an add",
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
              {"test_residual_projection": "raised ValueError"}),
        Wrong("3x3-projection", {"residual_block": block(proj_kernel=3)},
              {"test_residual_projection": r"the shortcut is Conv2D\(10, 3×3, strides=2\)"}),
        Wrong("one-conv-main-path", {"residual_block": block(main_convs=1)},
              {"test_residual_main_path": r"the main path is Conv2D\(6, 3×3\); it should be"}),
        Wrong("stride-on-second-conv", {"residual_block": block(stride_on="second")},
              {"test_residual_main_path": r"Conv2D\(10, 3×3\) → Conv2D\(10, 3×3, strides=2\)"}),
        Wrong("no-relu-inside", {"residual_block": block(first_act=None)},
              {"test_residual_main_path": "activation 'linear'"}),
        Wrong("concatenated", {"residual_block": block(merge="concat")},
              {"test_residual_output_shapes": r"it has \(None, 8, 8, 12\)",
               "test_residual_identity_shortcut": r"'concatenate' \(Concatenate\), not from an add"}),
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
        Wrong("no-stem", {"build_resnet": resnet(stem=False)},
              {"test_resnet_stem": r"receives a tensor of shape \(None, 8, 8, 1\)"}),
        Wrong("relu-output", {"build_resnet": resnet(out_act="relu")},
              {"test_resnet_io": "activation 'relu'"}),
        Wrong("input-misnamed", {"build_resnet": resnet(input_name="pixels")},
              {"test_resnet_io": "no input named 'image'"}),
        Wrong("frozen", {"build_resnet": resnet(trainable=False)},
              {"test_resnet_learns": "took the loss"}),
    ],
}

RIGHT = {
    "residual_block": [
        {"residual_block": block()},
        {"residual_block": block_with_ops_and_batchnorm},
        {"residual_block": block_preactivation_style},
    ],
    "build_resnet": [
        {"build_resnet": resnet()},
        {"build_resnet": resnet_written_differently},
    ],
}



test_wrong_submission_loses_points, test_correct_variant_gets_full_marks, test_every_check_can_fail = \
    self_tests(grader, "lesson05", WRONG, RIGHT)
