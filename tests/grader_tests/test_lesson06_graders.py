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
            fixed_units=None, use_b=True):
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
        if merge == "absdiff":
            merged = keras.ops.abs(L.subtract([code_a, code_b]))
        else:
            merged = L.Dense(16, activation="relu")(L.concatenate([code_a, code_b]))
        model = keras.Model([a, b], L.Dense(1, activation=out_act, name="same")(merged))
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
    """The shared encoder as three layer objects, each called twice; a Lambda for |a - b|; Activation layer."""
    conv, pool, dense = L.Conv2D(8, 3, activation="relu"), L.Flatten(), L.Dense(units)
    relu = L.ReLU()
    inputs = [keras.Input(shape=(8, 8, 1), name=n) for n in ("image_a", "image_b")]
    codes = [relu(dense(pool(conv(x)))) for x in inputs]
    distance = L.Lambda(lambda t: keras.ops.abs(t[0] - t[1]))(codes)
    logit = L.Dense(1)(distance)
    return keras.Model(inputs=inputs, outputs=L.Activation("sigmoid", name="same")(logit))


def functional_encoder_squared(units=32):
    """A functional encoder model and a squared difference (also symmetric)."""
    x = keras.Input((8, 8, 1))
    h = L.Dense(units, activation="tanh")(L.Flatten()(L.Conv2D(4, 3, padding="same")(x)))
    enc = keras.Model(x, h, name="tower")
    image_b = keras.Input((8, 8, 1), name="image_b")
    image_a = keras.Input((8, 8, 1), name="image_a")
    diff = L.Subtract()([enc(image_b), enc(image_a)])
    return keras.Model([image_a, image_b], L.Dense(1, activation="sigmoid", name="same")(diff * diff))


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
              {"test_siamese_symmetric": "concatenation"}),
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
                             {"build_siamese_digits": functional_encoder_squared}],
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
