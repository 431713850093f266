"""Grader for lesson 01 — from Sequential to the functional API (20 points)."""

from __future__ import annotations

from typing import Any

import numpy as np
import keras

from gradekit.harness import (
    GradeFailure,
    Submission,
    activation_name,
    close,
    dense_chain,
    expect_inputs,
    expect_outputs,
    fresh_session,
    graded,
    random_batch,
    same_variables,
)

# ---------------------------------------------------------------------------------------------- exercise 1


def _mlp(submission: Submission) -> keras.Model:
    fresh_session()
    return submission.model("build_functional_mlp")


@graded("build_functional_mlp", 1)
def test_mlp_input(submission):
    """Exercise 1: one input named 'pixels' of shape (None, 64), float32."""
    expect_inputs(_mlp(submission), [("pixels", (None, 64), "float32")], "build_functional_mlp")


@graded("build_functional_mlp", 1)
def test_mlp_output(submission):
    """Exercise 1: one output, the layer 'digit', of shape (None, 10) with softmax."""
    model = _mlp(submission)
    expect_outputs(model, [("digit", (None, 10))], "build_functional_mlp")
    chain = dense_chain(model)
    if not chain or chain[-1][1] != "softmax":
        raise GradeFailure("build_functional_mlp: the output layer needs activation='softmax' so that the 10 "
                           "outputs are class probabilities.")


@graded("build_functional_mlp", 2)
def test_mlp_hidden_layers(submission):
    """Exercise 1: the layers from input to output are Dense(32, relu) → Dense(32, relu) → Dense(10, softmax)."""
    chain = dense_chain(_mlp(submission))
    expected = [(32, "relu"), (32, "relu"), (10, "softmax")]
    if chain != expected:
        found = " → ".join(f"Dense({u}, {a})" for u, a in chain) or "no Dense layers"
        raise GradeFailure(f"build_functional_mlp: expected Dense(32, relu) → Dense(32, relu) → "
                           f"Dense(10, softmax), found {found}.")


@graded("build_functional_mlp", 1)
def test_mlp_is_functional(submission):
    """Exercise 1: the model is built with keras.Model(inputs, outputs), not keras.Sequential."""
    model = _mlp(submission)
    if isinstance(model, keras.Sequential):
        raise GradeFailure("build_functional_mlp returned a Sequential model: build it with keras.Input, call the "
                           "layers on tensors and return keras.Model(inputs, outputs).")


@graded("build_functional_mlp", 1, hidden=True)
def test_mlp_learns(submission):
    """Exercise 1: compiled with Adam and sparse categorical cross-entropy, a short fit lowers the loss.

    Hidden: the student edition does not contain this test; teachers' grading runs it."""
    model = _mlp(submission)
    rng = np.random.default_rng(1)
    x = rng.random((256, 64)).astype("float32")
    y = (x[:, :10].argmax(axis=1)).astype("int64")  # a learnable rule: which of the first ten pixels is brightest
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    before = float(model.evaluate(x, y, verbose=0))
    model.fit(x, y, epochs=20, batch_size=64, verbose=0)
    after = float(model.evaluate(x, y, verbose=0))
    if not after < 0.8 * before:
        raise GradeFailure(f"build_functional_mlp: 20 epochs of training took the loss from {before:.3f} only to "
                           f"{after:.3f}; check the activations (softmax on the output, relu inside).")


# ---------------------------------------------------------------------------------------------- exercise 2


def _sequentials() -> list[keras.Sequential]:
    fresh_session()
    first = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")], name="classic")
    second = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="tanh"),
                               keras.layers.Dropout(0.5), keras.layers.Dense(3)], name="other")
    return [first, second]


def _converted(submission: Submission) -> list[tuple[keras.Sequential, keras.Model]]:
    pairs = []
    for seq in _sequentials():
        pairs.append((seq, submission.model("to_functional", seq)))
    return pairs


@graded("to_functional", 1)
def test_to_functional_is_new_functional_model(submission):
    """Exercise 2: the result is a new functional model, not a Sequential and not the model it was given."""
    for seq, model in _converted(submission):
        if model is seq or isinstance(model, keras.Sequential):
            raise GradeFailure("to_functional returned a Sequential model: make a keras.Input, call the layers on "
                               "it and return keras.Model(inputs, outputs).")


@graded("to_functional", 2)
def test_to_functional_same_predictions(submission):
    """Exercise 2: on random inputs, the new model predicts exactly what the Sequential model predicts."""
    for seq, model in _converted(submission):
        x = random_batch((8,) + tuple(seq.input_shape[1:]), seed=2)
        want = seq.predict(x, verbose=0)
        try:
            got = model.predict(x, verbose=0)
        except Exception as error:  # noqa: BLE001 - a wrong input shape fails here
            raise GradeFailure(f"to_functional: the new model cannot take the Sequential model's inputs of shape "
                               f"{x.shape} ({type(error).__name__}).") from None
        if not close(got, want):
            raise GradeFailure(f"to_functional: for the Sequential model '{seq.name}' the new model predicts "
                               "different values; call the Sequential model's own layers, in order.")


@graded("to_functional", 1)
def test_to_functional_shares_weights(submission):
    """Exercise 2: the new model uses the Sequential model's own variables (shared, not copied)."""
    for seq, model in _converted(submission):
        if not same_variables(model.weights, seq.weights):
            raise GradeFailure("to_functional: the new model has weights of its own; it must call the Sequential "
                               "model's layers (model.layers) instead of creating new layers or copying weights.")


# ---------------------------------------------------------------------------------------------- exercise 3


def _trained_like_model() -> keras.Model:
    fresh_session()
    pixels = keras.Input((64,), name="pixels")
    h1 = keras.layers.Dense(32, activation="relu", name="hidden_1")(pixels)
    h2 = keras.layers.Dense(16, activation="relu", name="hidden_2")(h1)
    out = keras.layers.Dense(10, activation="softmax", name="digit")(h2)
    return keras.Model(pixels, out, name="given")


@graded("feature_extractor", 2)
def test_feature_extractor_outputs(submission):
    """Exercise 3: the extractor outputs exactly the named inner layer's activations (tried on two layers)."""
    model = _trained_like_model()
    x = random_batch((6, 64), seed=3)
    for name in ("hidden_1", "hidden_2"):
        extractor = submission.model("feature_extractor", model, name)
        reference = keras.Model(model.inputs, model.get_layer(name).output)
        try:
            got = extractor.predict(x, verbose=0)
        except Exception as error:  # noqa: BLE001
            raise GradeFailure(f"feature_extractor: the extractor for '{name}' does not take the model's inputs "
                               f"({type(error).__name__}); use model.inputs as its inputs.") from None
        if not close(got, reference.predict(x, verbose=0)):
            shape = getattr(got, "shape", None)
            raise GradeFailure(f"feature_extractor: for layer_name='{name}' the output (shape {shape}) is not that "
                               f"layer's output; use model.get_layer(layer_name).output.")


@graded("feature_extractor", 1)
def test_feature_extractor_shares_weights(submission):
    """Exercise 3: the extractor reuses the model's trained layers: its variables are the model's own."""
    model = _trained_like_model()
    extractor = submission.model("feature_extractor", model, "hidden_2")
    wanted = model.get_layer("hidden_1").weights + model.get_layer("hidden_2").weights
    if not same_variables(extractor.weights, wanted):
        raise GradeFailure("feature_extractor: the extractor's weights are not the given model's own variables "
                           "(up to the named layer); build it from model.inputs and the layer's output instead of "
                           "new layers.")


@graded("feature_extractor", 1)
def test_feature_extractor_inputs(submission):
    """Exercise 3: the extractor's inputs are the given model's inputs."""
    model = _trained_like_model()
    extractor = submission.model("feature_extractor", model, "hidden_1")
    if [t.name for t in extractor.inputs] != [t.name for t in model.inputs] or \
            [tuple(t.shape) for t in extractor.inputs] != [tuple(t.shape) for t in model.inputs]:
        raise GradeFailure("feature_extractor: the extractor should take model.inputs as its inputs.")


# ---------------------------------------------------------------------------------------------- exercise 4


# SimpleDense is a class: it cannot travel to the grader, so the worker builds it with a configuration, weights and
# inputs the grader draws afresh for every grading run (gradekit.probes.probe_layer_class) and reports what it saw;
# the checks below compare that with what the grader computes itself.


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def _plan() -> dict:
    rng = np.random.default_rng()  # fresh values every run: an answer must compute them, not recall them
    normal = lambda *shape: rng.normal(size=shape).astype("float32")  # noqa: E731
    return {
        "cases": [{"kwargs": {"units": 4, "activation": act}, "input_dim": 7, "kernel": normal(7, 4),
                   "bias": normal(4), "x": normal(5, 7)} for act in ("relu", None)],
        "config_kwargs": {"units": 3, "activation": "relu", "name": "mine"},
        "save": {"kwargs": {"units": 3, "activation": "relu", "name": "simple"}, "input_dim": 6,
                 "kernel": normal(6, 3), "bias": normal(3), "dense_kernel": normal(3, 2), "dense_bias": normal(2),
                 "x": normal(4, 6)},
    }


def _observe(submission: Submission) -> tuple[dict, dict]:
    """The plan and what the worker observed, once per submission."""
    if "simple_dense" not in submission.memo:
        plan = _plan()
        submission.memo["simple_dense"] = (plan, submission.probe("SimpleDense", "layer_class", plan))
    plan, seen = submission.memo["simple_dense"]
    if not seen.get("is_layer_class"):
        raise GradeFailure(f"SimpleDense must be a class that subclasses keras.layers.Layer (it is a "
                           f"{seen.get('kind', '?')}).")
    return plan, seen


def _failed(step: Any) -> str:
    """'' if a probe step succeeded, else the reason, worded for the student."""
    if isinstance(step, dict) and set(step) == {"error"}:
        error = step["error"]
        return {"not_implemented": "it is not implemented yet (it raises NotImplementedError)",
                "timeout": "it did not finish in time", "memory": "it ran out of memory"}.get(error, f"it raised {error}")
    return ""


def _case(submission: Submission, index: int) -> tuple[dict, dict]:
    plan, seen = _observe(submission)
    case = seen["cases"][index]
    for step, what in (("create", "creating SimpleDense(units=4, ...)"),
                       ("symbolic_call", "calling SimpleDense on a (None, 7) input")):
        reason = _failed(case.get(step))
        if reason:
            raise GradeFailure(f"{what} failed: {reason}.")
    return plan["cases"][index], case


@graded("SimpleDense", 1)
def test_simple_dense_output_shape(submission):
    """Exercise 4: SimpleDense(units=4) on inputs of shape (None, 7) outputs shape (None, 4)."""
    _, case = _case(submission, 0)
    shape = tuple(case.get("output_shape") or ())
    if shape != (None, 4):
        raise GradeFailure(f"SimpleDense(units=4) should output shape (None, 4), it outputs {shape}.")


@graded("SimpleDense", 1)
def test_simple_dense_weights(submission):
    """Exercise 4: build() creates two trainable weights, kernel (7, 4) and bias (4,), from the input shape."""
    _, case = _case(submission, 0)
    if case.get("weights_before_call"):
        raise GradeFailure("SimpleDense creates its weights in __init__; create them in build(), where the input "
                           "dimension is known.")
    shapes = sorted(tuple(s) for s in case.get("trainable_shapes") or [])
    if shapes != [(4,), (7, 4)] or case.get("non_trainable_count"):
        raise GradeFailure(f"SimpleDense(units=4) on 7 input features should have trainable weights of shapes "
                           f"(7, 4) and (4,) and no others, it has {shapes}"
                           + (f" and {case['non_trainable_count']} non-trainable" if case.get("non_trainable_count")
                              else "") + ".")


@graded("SimpleDense", 2)
def test_simple_dense_computes(submission):
    """Exercise 4: the layer computes activation(inputs @ kernel + bias), for relu and for no activation."""
    for index, fn in ((0, _relu), (1, lambda z: z)):
        drawn, case = _case(submission, index)
        label = "activation='relu'" if index == 0 else "no activation"
        reason = _failed(case.get("outputs"))
        if reason:
            raise GradeFailure(f"SimpleDense with {label}, called on data, failed: {reason}.")
        got = case.get("outputs")
        want = fn(drawn["x"].astype("float64") @ drawn["kernel"] + drawn["bias"])
        if not close(got, want, atol=1e-4):
            raise GradeFailure(f"SimpleDense with {label} does not compute activation(inputs @ kernel + bias).")


@graded("SimpleDense", 1)
def test_simple_dense_config(submission):
    """Exercise 4: get_config() holds units and activation, and from_config rebuilds the same layer."""
    _, seen = _observe(submission)
    record = seen.get("config") or {}
    reason = _failed(record.get("create")) or _failed(record.get("config"))
    if reason:
        raise GradeFailure(f"SimpleDense(units=3, activation='relu', name='mine').get_config() failed: {reason}.")
    config = record.get("config")
    if not isinstance(config, dict) or set(config) == {"error"}:
        raise GradeFailure(f"SimpleDense.get_config() should return a dict, it {(config or {}).get('error', '')}.")
    if "units" not in config or "activation" not in config:
        missing = [k for k in ("units", "activation") if k not in config]
        raise GradeFailure(f"SimpleDense.get_config() lacks {', '.join(missing)}; add them to the base config.")
    reason = _failed(record.get("round_trip"))
    if reason:
        raise GradeFailure(f"SimpleDense.from_config(layer.get_config()) failed: {reason}.")
    clone = record.get("round_trip") or {}
    try:
        activation = keras.activations.get(config["activation"]).__name__
    except Exception:  # noqa: BLE001 - whatever the student stored
        activation = repr(config["activation"])
    if config["units"] != 3 or activation != "relu" or clone.get("name") != "mine" or \
            (clone.get("config") or {}).get("units") != 3:
        raise GradeFailure("SimpleDense.from_config(get_config()) does not give back units=3, activation='relu' "
                           "and the layer's name; store the constructor's arguments in get_config() and pass "
                           "**kwargs on to super().__init__.")


@graded("SimpleDense", 1)
def test_simple_dense_save_load(submission):
    """Exercise 4: a model using SimpleDense survives a .keras save and load with identical predictions."""
    plan, seen = _observe(submission)
    record = seen.get("save") or {}
    reason = _failed(record.get("outputs"))
    if reason:
        raise GradeFailure(f"saving and loading a model with SimpleDense failed: {reason}; check get_config().")
    drawn = plan["save"]
    hidden = _relu(drawn["x"].astype("float64") @ drawn["kernel"] + drawn["bias"])
    want = hidden @ drawn["dense_kernel"] + drawn["dense_bias"]
    if not close(record.get("outputs"), want, atol=1e-4):
        raise GradeFailure("after save and load, the model with SimpleDense predicts different values.")
