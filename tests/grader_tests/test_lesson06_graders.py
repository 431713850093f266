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


# ------------------------------------------------------------------ exercise 1: the classic shared LSTM


def posts(shared=True, merge="concat", out_act="sigmoid", out_name="same_author", dtype="float32", fixed_units=None,
          fixed_shape=None, use_b=True, b_extra=False, return_sequences=False, hidden=False, use_bias=True,
          recurrent=L.LSTM):
    """A family of shared-LSTM builders, right or wrong depending on the arguments."""

    def build(timesteps=140, features=256, units=64):
        units = fixed_units or units
        shape = fixed_shape or (timesteps, features)
        post_a = keras.Input(shape, name="post_a", dtype=dtype)
        post_b = keras.Input(shape, name="post_b", dtype=dtype)
        make = lambda: recurrent(units, return_sequences=return_sequences, use_bias=use_bias)  # noqa: E731
        lstm_a = make()
        lstm_b = lstm_a if shared else make()
        encoded_a = lstm_a(post_a)
        encoded_b = lstm_b(post_b if use_b else post_a)
        if return_sequences:  # one vector per step, averaged afterwards
            pool = L.GlobalAveragePooling1D()
            encoded_a, encoded_b = pool(encoded_a), pool(encoded_b)
        if b_extra:
            encoded_b = L.Dense(units)(encoded_b)
        merged = {"concat": lambda: L.concatenate([encoded_a, encoded_b]),
                  "reversed": lambda: L.concatenate([encoded_b, encoded_a]),
                  "absdiff": lambda: keras.ops.abs(L.subtract([encoded_a, encoded_b]))}[merge]()
        if hidden:
            merged = L.Dense(16, activation="relu")(merged)
        return keras.Model([post_a, post_b], L.Dense(1, activation=out_act, name=out_name)(merged))

    return build


def posts_stub(timesteps=140, features=256, units=64):
    raise NotImplementedError


def posts_sequential_encoder(timesteps=140, features=256, units=64):
    """Right: the LSTM inside a Sequential encoder that is called twice, a Concatenate layer, and the sigmoid as an
    Activation layer named 'same_author' after a linear Dense(1)."""
    encoder = keras.Sequential([keras.Input((timesteps, features)), L.LSTM(units=units)], name="post_reader")
    post_a = keras.layers.Input(shape=(timesteps, features), name="post_a")
    post_b = keras.layers.Input(shape=(timesteps, features), name="post_b")
    merged = L.Concatenate(axis=-1)([encoder(post_a), encoder(post_b)])
    return keras.Model(inputs=[post_a, post_b], outputs=L.Activation("sigmoid", name="same_author")(L.Dense(1)(merged)))


def posts_dict_and_ops(timesteps=140, features=256, units=64):
    """Right: the inputs made post_b first and passed as a dict, keras.ops.concatenate, Dropout before the output."""
    post_b = keras.Input((timesteps, features), name="post_b")
    post_a = keras.Input((timesteps, features), name="post_a")
    reader = L.LSTM(units, name="reader")
    code_b, code_a = reader(post_b), reader(post_a)
    merged = L.Dropout(0.2)(keras.ops.concatenate([code_a, code_b], axis=-1))
    same = L.Dense(units=1, activation=keras.activations.sigmoid, name="same_author")(merged)
    return keras.Model({"post_a": post_a, "post_b": post_b}, same)


def posts_in_a_loop(timesteps=140, features=256, units=64):
    """Right: the shared LSTM called in a comprehension over the inputs."""
    inputs = [keras.Input(shape=(timesteps, features), name=name) for name in ("post_a", "post_b")]
    lstm = L.LSTM(units)
    merged = L.concatenate([lstm(post) for post in inputs], axis=1)
    return keras.Model(inputs, L.Dense(1, activation="sigmoid", name="same_author")(merged))


WRONG = {
    "build_shared_lstm_posts": [
        Wrong("two-lstms", {"build_shared_lstm_posts": posts(shared=False)},
              {"test_posts_one_shared_lstm": "holds 2 LSTM layers .* each with weights of its own",
               "test_posts_parameter_count": "has 164,481 parameters; it should have 82,305.*two LSTMs' worth"}),
        Wrong("post-b-unused", {"build_shared_lstm_posts": posts(use_b=False)},
              {"test_posts_one_shared_lstm": "'post_b' does not go through the LSTM",
               "test_posts_concatenation": "not the two encodings of the shared LSTM"}),
        Wrong("extra-dense-on-post-b", {"build_shared_lstm_posts": posts(b_extra=True)},
              {"test_posts_one_shared_lstm": r"not read by the same layers: 'post_a' goes through '.*', 'post_b' "
                                             r"through '.*', '.*'",
               "test_posts_parameter_count": "has 86,465 parameters"}),
        Wrong("gru", {"build_shared_lstm_posts": posts(recurrent=L.GRU)},
              {"test_posts_one_shared_lstm": "no LSTM layer", "test_posts_lstm_units": "no LSTM layer"}),
        Wrong("lstm-returns-sequences", {"build_shared_lstm_posts": posts(return_sequences=True)},
              {"test_posts_lstm_units": r"returns \(None, 140, 64\); it should return one vector of 64 numbers"}),
        Wrong("units-hard-coded", {"build_shared_lstm_posts": posts(fixed_units=64)},
              {"test_posts_lstm_units": r"build_shared_lstm_posts\(12, 20, 8\): the LSTM '.*' has 64 units; it "
                                        "should have units=8",
               "test_posts_parameter_count": r"\(12, 20, 8\): the model has 21,889 parameters"}),
        Wrong("shape-hard-coded", {"build_shared_lstm_posts": posts(fixed_shape=(140, 256))},
              {"test_posts_inputs": r"input 'post_a' should have shape \(None, 12, 20\)"}),
        Wrong("int-inputs", {"build_shared_lstm_posts": posts(dtype="int32")},
              {"test_posts_inputs": "dtype float32"}),
        Wrong("absolute-difference", {"build_shared_lstm_posts": posts(merge="absdiff")},
              {"test_posts_concatenation": r"reads '.*' \(Absolute\); it should read the concatenation",
               "test_posts_parameter_count": "has 82,241 parameters"}),
        Wrong("post-b-first", {"build_shared_lstm_posts": posts(merge="reversed")},
              {"test_posts_concatenation": "puts post_b's encoding first"}),
        Wrong("hidden-layer", {"build_shared_lstm_posts": posts(hidden=True)},
              {"test_posts_concatenation": r"reads '.*' \(Dense\); it should read the concatenation",
               "test_posts_parameter_count": "has 84,257 parameters"}),
        Wrong("no-biases", {"build_shared_lstm_posts": posts(use_bias=False)},
              {"test_posts_parameter_count": "has 82,049 parameters; it should have 82,305"}),
        Wrong("softmax-output", {"build_shared_lstm_posts": posts(out_act="softmax")},
              {"test_posts_output": "activation 'softmax'; use activation='sigmoid'"}),
        Wrong("output-named-after-the-guide", {"build_shared_lstm_posts": posts(out_name="predictions")},
              {"test_posts_output": "no output named 'same_author'"}),
        Wrong("not-implemented", {"build_shared_lstm_posts": posts_stub},
              {"test_posts_inputs": "not implemented yet"}),
    ],
    "build_siamese_digits": [
        Wrong("two-separate-encoders", {"build_siamese_digits": siamese(shared=False)},
              {"test_siamese_shares_encoder": r"'image_a' goes through 'conv2d.*'dense.*, 'image_b' through "
                                              r"'conv2d.*'dense.*create the encoder once",
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
    "build_shared_lstm_posts": [{"build_shared_lstm_posts": posts()},
                                {"build_shared_lstm_posts": posts_sequential_encoder},
                                {"build_shared_lstm_posts": posts_dict_and_ops},
                                {"build_shared_lstm_posts": posts_in_a_loop}],
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
