"""The lesson 06 grader, tested: wrong submissions lose the right points with the right feedback, and correct
answers written differently get full marks."""

from __future__ import annotations

import keras
import pytest

from grader_tests.graderkit import Wrong, assert_every_check_can_fail, check_right, check_wrong, params
from grading import test_lesson06 as grader

L = keras.layers


def encoder(units=32, name="encoder"):
    return keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(),
                             L.Flatten(), L.Dense(units, activation="relu")], name=name)


def siamese(shared=True, merge="absdiff", out_act="sigmoid", shape=(8, 8, 1), dtype="float32", trainable=True,
            fixed_units=None, use_b=True, head="dense"):
    """A family of siamese builders, right or wrong depending on the arguments."""

    def build(units=32):
        units = fixed_units or units
        a = keras.Input(shape, name="image_a", dtype=dtype)
        b = keras.Input(shape, name="image_b", dtype=dtype)
        enc_a = encoder(units, "encoder_a" if not shared else "encoder")
        enc_b = enc_a if shared else encoder(units, "encoder_b")
        if len(shape) == 1:
            enc_a = enc_b = L.Dense(units, activation="relu")
        code_a, code_b = enc_a(a), enc_b(b) if use_b else enc_a(a)
        if merge == "concat":
            merged = L.Dense(16, activation="relu")(L.concatenate([code_a, code_b]))
        else:
            merged = {"absdiff": lambda: keras.ops.abs(L.subtract([code_a, code_b])),
                      "diff": lambda: L.subtract([code_a, code_b]),
                      "square": lambda: keras.ops.square(code_a - code_b),
                      "sum": lambda: L.add([code_a, code_b])}[merge]()
        if head == "dense":
            same = L.Dense(1, activation=out_act, name="same")(merged)
        else:  # no Dense: the sigmoid of minus the summed distance
            same = L.Activation(out_act, name="same")(keras.ops.negative(keras.ops.sum(merged, axis=-1,
                                                                                       keepdims=True)))
        model = keras.Model([a, b], same)
        model.trainable = trainable
        return model

    return build


def separate_dense_layers(units=32):
    """Two Dense layers of the same shape: they look alike, but they are not shared."""
    a, b = keras.Input((8, 8, 1), name="image_a"), keras.Input((8, 8, 1), name="image_b")
    flat = L.Flatten()
    code_a = L.Dense(units, activation="relu")(flat(a))
    code_b = L.Dense(units, activation="relu")(flat(b))
    return keras.Model([a, b], L.Dense(1, activation="sigmoid", name="same")(keras.ops.abs(code_a - code_b)))


def half_shared(units=32):
    """A shared Dense, then one more Dense on image_b's path only."""
    a, b = keras.Input((8, 8, 1), name="image_a"), keras.Input((8, 8, 1), name="image_b")
    flat, dense = L.Flatten(), L.Dense(units, activation="relu")
    code_a = dense(flat(a))
    code_b = L.Dense(units)(dense(flat(b)))
    return keras.Model([a, b], L.Dense(1, activation="sigmoid", name="same")(keras.ops.abs(code_a - code_b)))


def stub(units=32):
    raise NotImplementedError


# ------------------------------------------------------------------ right, written differently


def shared_layers_not_a_model(units=32):
    """The shared encoder as three layer objects, each called twice; keras.ops.absolute of a - b; the sigmoid as
    an Activation layer after Dense(1)."""
    conv, pool, dense = L.Conv2D(8, 3, activation="relu"), L.Flatten(), L.Dense(units)
    relu = L.ReLU()
    inputs = [keras.Input(shape=(8, 8, 1), name=n) for n in ("image_a", "image_b")]
    codes = [relu(dense(pool(conv(x)))) for x in inputs]
    distance = keras.ops.absolute(codes[0] - codes[1])
    logit = L.Dense(1)(distance)
    return keras.Model(inputs=inputs, outputs=L.Activation("sigmoid", name="same")(logit))


def functional_encoder_reversed_difference(units=32):
    """A functional encoder model, inputs made in the other order, |b − a| with a Subtract layer object."""
    x = keras.Input((8, 8, 1))
    h = L.Dense(units, activation="tanh")(L.Flatten()(L.Conv2D(4, 3, padding="same")(x)))
    enc = keras.Model(x, h, name="tower")
    image_b = keras.Input((8, 8, 1), name="image_b")
    image_a = keras.Input((8, 8, 1), name="image_a")
    diff = keras.ops.abs(L.Subtract()([enc(image_b), enc(image_a)]))
    return keras.Model([image_a, image_b], L.Dense(1, activation="sigmoid", name="same")(diff))


def maximum_of_both_differences(units=32):
    """|a − b| written as maximum(a − b, b − a), a dict of inputs, an encoder Sequential built by add()."""
    enc = keras.Sequential(name="shared")
    for layer in (L.Input((8, 8, 1)), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                  L.Dense(units, activation="relu")):
        enc.add(layer)
    images = {n: keras.Input((8, 8, 1), name=n) for n in ("image_a", "image_b")}
    a, b = enc(images["image_a"]), enc(images["image_b"])
    distance = keras.ops.maximum(keras.ops.subtract(a, b), keras.ops.subtract(b, a))
    return keras.Model(images, L.Dense(1, activation="sigmoid", name="same")(distance))


WRONG = {
    "build_siamese_digits": [
        Wrong("two-separate-encoders", {"build_siamese_digits": siamese(shared=False)},
              {"test_siamese_shares_encoder": r"'encoder_a'.*'encoder_b'.*create the encoder once",
               "test_siamese_symmetric": "swapping the two images"}),
        Wrong("separate-dense-layers", {"build_siamese_digits": separate_dense_layers},
              {"test_siamese_shares_encoder": r"'dense'.*'dense_1'.*weights of their own"}),
        Wrong("half-shared", {"build_siamese_digits": half_shared},
              {"test_siamese_shares_encoder": "not encoded by the same layers"}),
        Wrong("image-b-unused", {"build_siamese_digits": siamese(use_b=False)},
              {"test_siamese_shares_encoder": "'image_b' goes through no layer"}),
        Wrong("concatenated", {"build_siamese_digits": siamese(merge="concat")},
              {"test_siamese_symmetric": "concatenation",
               "test_siamese_absolute_difference": r"shape \(None, 64\), not \|a − b\|"}),
        Wrong("plain-difference", {"build_siamese_digits": siamese(merge="diff")},
              {"test_siamese_symmetric": "swapping the two images changes the answer",
               "test_siamese_absolute_difference": "receives the plain difference a − b"}),
        Wrong("squared-difference", {"build_siamese_digits": siamese(merge="square")},
              {"test_siamese_absolute_difference": r"receives the squared difference \(a − b\)²"}),
        Wrong("sum-of-encodings", {"build_siamese_digits": siamese(merge="sum")},
              {"test_siamese_absolute_difference": "receives the sum a \\+ b"}),
        Wrong("no-dense-output", {"build_siamese_digits": siamese(head="activation")},
              {"test_siamese_output": r"'same' \(Activation\) from '.*' \(Negative\), not by a Dense layer",
               "test_siamese_absolute_difference": "no layer with weights comes after the two encodings meet"}),
        Wrong("relu-output", {"build_siamese_digits": siamese(out_act="relu")},
              {"test_siamese_output": "activation='sigmoid'"}),
        Wrong("flat-inputs", {"build_siamese_digits": siamese(shape=(64,))},
              {"test_siamese_inputs": r"shape \(None, 8, 8, 1\)"}),
        Wrong("int-inputs", {"build_siamese_digits": siamese(dtype="int32")},
              {"test_siamese_inputs": "dtype float32"}),
        Wrong("units-ignored", {"build_siamese_digits": siamese(fixed_units=32)},
              {"test_siamese_units": r"\(16\).*should have 16 numbers"}),
        Wrong("frozen", {"build_siamese_digits": siamese(trainable=False)},
              {"test_siamese_learns": "took the training loss"}),
        Wrong("not-implemented", {"build_siamese_digits": stub},
              {"test_siamese_inputs": "not implemented yet"}),
    ],
}

RIGHT = {
    "build_siamese_digits": [{"build_siamese_digits": shared_layers_not_a_model},
                             {"build_siamese_digits": functional_encoder_reversed_difference},
                             {"build_siamese_digits": maximum_of_both_differences}],
}


@pytest.mark.parametrize("exercise, wrong", params(WRONG))
def test_wrong_submission_loses_points(exercise, wrong, tmp_path):
    check_wrong(grader, exercise, "lesson06", wrong, tmp_path)


@pytest.mark.parametrize("exercise, objects", [pytest.param(e, o, id=f"{e}-{i}") for e, cases in RIGHT.items()
                                               for i, o in enumerate(cases)])
def test_correct_variant_gets_full_marks(exercise, objects, tmp_path):
    check_right(grader, exercise, "lesson06", objects, tmp_path)


def test_every_check_can_fail():
    assert_every_check_can_fail(grader, WRONG)
