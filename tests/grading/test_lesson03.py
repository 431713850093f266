"""Grader for lesson 03 — multi-output models (17 points).

``build_profile_model`` is built and its graph read back: the input, the three heads (shape and activation), that
all three read one shared ``Dense(128)``, and the Conv1D stack under it. ``compile_profile_model`` is given a model
of the grader's own, with its outputs in a scrambled order, and the compiled losses, loss weights, metrics and
optimizer are read per output name. ``balanced_loss_weights`` is checked against the formula on targets it has not
seen.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from gradekit.harness import (
    GradeFailure,
    Submission,
    activation_name,
    compiled_losses,
    expect_inputs,
    expect_outputs,
    fresh_session,
    graded,
    parents,
    producer,
)

BUILD = "build_profile_model"
COMPILE = "compile_profile_model"
WEIGHTS = "balanced_loss_weights"
ACTIVATION_LAYERS = {"Activation": None, "Softmax": "softmax", "ReLU": "relu"}
HEADS = {"age": "linear", "income": "softmax", "gender": "sigmoid"}
CLASSIC_STACK = ["Embedding(50000, 256)", "Conv1D(128, 5, relu)", "MaxPooling1D(5)", "Conv1D(256, 5, relu)",
                 "Conv1D(256, 5, relu)", "MaxPooling1D(5)", "Conv1D(256, 5, relu)", "Conv1D(256, 5, relu)",
                 "GlobalMaxPooling1D", "Dense(128, relu)"]


# ------------------------------------------------------------------------------------------------ reading graphs


def feeders(model: keras.Model, layer: Any) -> list[Any]:
    calls = parents(model, layer)
    return [p for p in calls[0] if isinstance(p, keras.layers.Layer)] if calls else []


def back(model: keras.Model, layer: Any) -> Any:
    """The single layer feeding ``layer`` (skipping Dropout); None where there is not exactly one."""
    found = feeders(model, layer)
    while len(found) == 1 and type(found[0]).__name__ == "Dropout":
        found = feeders(model, found[0])
    return found[0] if len(found) == 1 else None


def with_activation(model: keras.Model, layer: Any) -> tuple[Any, str]:
    """A layer and its activation; an activation layer on top of a Dense/Conv1D counts as that layer's."""
    kind = type(layer).__name__
    if kind in ACTIVATION_LAYERS:
        activation = ACTIVATION_LAYERS[kind] or activation_name(layer)
        below = back(model, layer)
        if below is not None and type(below).__name__ in {"Dense", "Conv1D"} and activation_name(below) == "linear":
            return below, activation
    return layer, activation_name(layer) if kind in {"Dense", "Conv1D"} else ""


def describe(layer: Any, activation: str = "") -> str:
    kind = type(layer).__name__
    if kind == "Embedding":
        return f"Embedding({layer.input_dim}, {layer.output_dim})"
    if kind == "Conv1D":
        return f"Conv1D({layer.filters}, {layer.kernel_size[0]}, {activation})"
    if kind == "MaxPooling1D":
        return f"MaxPooling1D({layer.pool_size[0]})"
    if kind == "Dense":
        return f"Dense({layer.units}, {activation})"
    return kind


def output_layer(model: keras.Model, name: str) -> Any:
    return next(producer(t) for t in model.outputs if producer(t).name == name)


# ------------------------------------------------------------------------------------------------ exercise 1


def _profile(submission: Submission, *args: Any) -> keras.Model:
    fresh_session()
    return submission.model(BUILD, *args)


def _heads(model: keras.Model, groups: int = 10) -> dict[str, tuple[Any, str]]:
    expect_outputs(model, [("age", (None, 1)), ("income", (None, groups)), ("gender", (None, 1))], BUILD)
    return {name: with_activation(model, output_layer(model, name)) for name in HEADS}


def _trunk(model: keras.Model) -> list[str]:
    """The layers under the shared layer, from the input up, described; the shared layer must be common."""
    below = {name: back(model, dense) for name, (dense, _) in _heads(model).items()}
    if len({id(layer) for layer in below.values()}) != 1 or None in below.values():
        found = ", ".join(f"{name} reads {layer.name if layer is not None else 'several layers'}"
                          for name, layer in below.items())
        raise GradeFailure(f"{BUILD}: the three heads should all read the same shared Dense(128) layer ({found}).")
    stack, layer = [], next(iter(below.values()))
    while layer is not None and type(layer).__name__ != "InputLayer":
        layer, activation = with_activation(model, layer)
        stack.append(describe(layer, activation))
        layer = back(model, layer)
    return list(reversed(stack))


@graded(BUILD, 1)
def test_profile_input(submission):
    """Exercise 1: one input 'posts' of word indices of any length: shape (None, None), int32."""
    expect_inputs(_profile(submission), [("posts", (None, None), "int32")], BUILD)


@graded(BUILD, 2)
def test_profile_heads(submission):
    """Exercise 1: outputs 'age' (None, 1) linear, 'income' (None, 10) softmax and 'gender' (None, 1) sigmoid."""
    for name, (layer, activation) in _heads(_profile(submission)).items():
        if type(layer).__name__ != "Dense":
            raise GradeFailure(f"{BUILD}: the '{name}' head should be a Dense layer, it is {type(layer).__name__}.")
        if activation != HEADS[name]:
            want = "no activation" if HEADS[name] == "linear" else f"activation='{HEADS[name]}'"
            raise GradeFailure(f"{BUILD}: the '{name}' head needs {want}, it has {activation}.")


@graded(BUILD, 1)
def test_profile_heads_share_trunk(submission):
    """Exercise 1: the three heads read one and the same layer, a Dense(128, relu)."""
    stack = _trunk(_profile(submission))
    if stack[-1] != "Dense(128, relu)":
        raise GradeFailure(f"{BUILD}: the heads should read a shared Dense(128, relu), they read {stack[-1]}.")


@graded(BUILD, 2)
def test_profile_trunk(submission):
    """Exercise 1: under the heads: Embedding(50000, 256), the classic Conv1D/MaxPooling1D stack, GlobalMaxPooling1D."""
    stack = _trunk(_profile(submission))
    if stack != CLASSIC_STACK:
        raise GradeFailure(f"{BUILD}: from the input to the heads the layers should be {' → '.join(CLASSIC_STACK)}; "
                           f"found {' → '.join(stack)}.")


@graded(BUILD, 1)
def test_profile_uses_arguments(submission):
    """Exercise 1: the sizes come from the arguments: build_profile_model(100, 8, 4)."""
    model = _profile(submission, 100, 8, 4)
    expect_outputs(model, [("age", (None, 1)), ("income", (None, 4)), ("gender", (None, 1))], BUILD)
    embeddings = [describe(layer) for layer in model.layers if type(layer).__name__ == "Embedding"]
    if embeddings != ["Embedding(100, 8)"]:
        raise GradeFailure(f"{BUILD}: with vocabulary_size=100 and embedding_dim=8 the model should have one "
                           f"Embedding(100, 8) (vocabulary first), it has {', '.join(embeddings) or 'none'}.")


@graded(BUILD, 1, hidden=True)
def test_profile_learns(submission):
    """Exercise 1: compiled with a loss per head, a short fit on 280-word posts lowers the total loss.

    Hidden: the student edition does not contain this test; teachers' grading runs it."""
    model = _profile(submission, 30, 8, 10)
    rng = np.random.default_rng(5)
    x = rng.integers(1, 30, (128, 280)).astype("int32")
    marker = (x == 7).mean(axis=1, keepdims=True)  # the targets follow how often word 7 occurs
    y = {"age": (20 + 400 * marker).astype("float32"),
         "income": np.eye(10, dtype="float32")[np.minimum((marker[:, 0] * 300).astype(int), 9)],
         "gender": (marker > np.median(marker)).astype("float32")}
    what = f"training the model from {BUILD}"
    submission.run(what, model.compile, optimizer=keras.optimizers.Adam(0.003),
                   loss={"age": "mse", "income": "categorical_crossentropy", "gender": "binary_crossentropy"},
                   loss_weights={"age": 0.01, "income": 1.0, "gender": 1.0})
    before = float(submission.run(what, model.evaluate, x, y, verbose=0, return_dict=True)["loss"])
    submission.run(what, model.fit, x, y, epochs=8, batch_size=32, verbose=0)
    after = float(submission.run(what, model.evaluate, x, y, verbose=0, return_dict=True)["loss"])
    if not after < 0.8 * before:
        raise GradeFailure(f"{BUILD}: 8 epochs took the loss from {before:.3f} only to {after:.3f}; check the "
                           "heads' activations and that every layer is trainable.")


# ------------------------------------------------------------------------------------------------ exercise 2


def _three_headed() -> keras.Model:
    """A small model with the three heads, its outputs listed in a scrambled order (gender, age, income)."""
    fresh_session()
    posts = keras.Input((None,), dtype="int32", name="posts")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(30, 8)(posts))
    x = keras.layers.Dense(16, activation="relu")(x)
    age = keras.layers.Dense(1, name="age")(x)
    income = keras.layers.Dense(10, activation="softmax", name="income")(x)
    gender = keras.layers.Dense(1, activation="sigmoid", name="gender")(x)
    return keras.Model(posts, [gender, age, income], name="scrambled")


def _compiled(submission: Submission, weights: dict[str, float], *optimizer: Any) -> keras.Model:
    model = _three_headed()
    result = submission.call(COMPILE, model, dict(weights), *optimizer)
    if result is not model:
        hint = " (did you forget to return it?)" if result is None else ""
        raise GradeFailure(f"{COMPILE} should compile the given model and return it; it returned "
                           f"{type(result).__name__}{hint}.")
    return model


def _read(submission: Submission, model: keras.Model) -> dict[str, tuple[str, float]]:
    return submission.run(f"reading how {COMPILE} compiled the model", compiled_losses, model)


@graded(COMPILE, 2)
def test_compile_losses(submission):
    """Exercise 2: by output name: mse for age, categorical cross-entropy (income), binary cross-entropy (gender)."""
    found = _read(submission, _compiled(submission, {"age": 0.25, "income": 1.0, "gender": 10.0}))
    wanted = {"age": "mean_squared_error", "income": "categorical_crossentropy", "gender": "binary_crossentropy"}
    for name, loss in wanted.items():
        got = found.get(name, ("no loss", 0))[0]
        if got != loss:
            raise GradeFailure(f"{COMPILE}: the output '{name}' should be trained with {loss}, it gets {got} (the "
                               "outputs may come in any order: give the losses as a dict keyed by output name).")


@graded(COMPILE, 2)
def test_compile_weights(submission):
    """Exercise 2: each output gets the loss weight given for its name (tried with two sets of weights)."""
    for weights in ({"age": 0.25, "income": 1.0, "gender": 10.0}, {"age": 0.5, "income": 2.0, "gender": 3.0}):
        found = _read(submission, _compiled(submission, weights))
        got = {name: found.get(name, ("", 0.0))[1] for name in weights}
        if not all(np.isclose(got[name], weight) for name, weight in weights.items()):
            raise GradeFailure(f"{COMPILE}: with loss_weights={weights} the outputs got the weights {got}; pass the "
                               "given dict as loss_weights (and keep losses and weights in the same form).")


@graded(COMPILE, 1)
def test_compile_metrics(submission):
    """Exercise 2: evaluate reports age_mae, and an accuracy for income and for gender."""
    model = _compiled(submission, {"age": 1.0, "income": 1.0, "gender": 1.0})
    rng = np.random.default_rng(6)
    x = rng.integers(1, 30, (8, 12)).astype("int32")
    y = {"age": rng.random((8, 1)).astype("float32"), "income": np.eye(10, dtype="float32")[rng.integers(0, 10, 8)],
         "gender": rng.integers(0, 2, (8, 1)).astype("float32")}
    logs = submission.run(f"evaluating the model compiled by {COMPILE}", model.evaluate, x, y, verbose=0,
                          return_dict=True)
    checks = {"age": ("mae", "mean_absolute_error"), "income": ("accuracy",), "gender": ("accuracy",)}
    for name, words in checks.items():
        if not any(key.startswith(f"{name}_") and any(w in key for w in words) for key in logs):
            raise GradeFailure(f"{COMPILE}: evaluate reports {sorted(logs)}; give metrics per output, e.g. "
                               "metrics={'age': ['mae'], 'income': ['accuracy'], 'gender': ['accuracy']}.")


@graded(COMPILE, 1)
def test_compile_optimizer(submission):
    """Exercise 2: the optimizer passed in is used; without one, RMSprop."""
    given = keras.optimizers.Adam(0.004)
    model = _compiled(submission, {"age": 1.0, "income": 1.0, "gender": 1.0}, given)
    if model.optimizer is not given:
        raise GradeFailure(f"{COMPILE}: the model should use the optimizer it is given, it uses "
                           f"{type(model.optimizer).__name__}.")
    default = _compiled(submission, {"age": 1.0, "income": 1.0, "gender": 1.0})
    if not isinstance(default.optimizer, keras.optimizers.RMSprop):
        raise GradeFailure(f"{COMPILE}: without an optimizer argument the model should use RMSprop (the default "
                           f"optimizer='rmsprop'), it uses {type(default.optimizer).__name__}.")


# ------------------------------------------------------------------------------------------------ exercise 3


def _targets() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    groups = rng.choice(8, size=400, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.05, 0.05, 0.0])  # group 7 never occurs
    return {"age": rng.integers(18, 71, (400, 1)).astype("float32"),
            "income": np.eye(8, dtype="float32")[groups],
            "gender": (rng.random((400, 1)) < 0.3).astype("float32")}


def _reference(targets: dict[str, np.ndarray]) -> dict[str, float]:
    p = targets["income"].astype("float64").mean(axis=0)
    p = p[p > 0]
    g = float(targets["gender"].astype("float64").mean())
    return {"age": 1.0 / float(targets["age"].astype("float64").var()),
            "income": 1.0 / float(-(p * np.log(p)).sum()),
            "gender": 1.0 / float(-(g * np.log(g) + (1 - g) * np.log(1 - g)))}


def _weights(submission: Submission) -> dict[str, Any]:
    targets = _targets()
    result = submission.call(WEIGHTS, {k: v.copy() for k, v in targets.items()})
    if not isinstance(result, dict) or set(result) != {"age", "income", "gender"}:
        keys = sorted(result) if isinstance(result, dict) else type(result).__name__
        raise GradeFailure(f"{WEIGHTS} should return a dict with the keys 'age', 'income' and 'gender', it returned "
                           f"{keys}.")
    return result


@graded(WEIGHTS, 1)
def test_balanced_weights_are_a_dict_of_floats(submission):
    """Exercise 3: the result is {'age': w, 'income': w, 'gender': w} of finite positive Python floats."""
    for name, value in _weights(submission).items():
        if not isinstance(value, float) or not np.isfinite(value) or value <= 0:
            raise GradeFailure(f"{WEIGHTS}: the weight for '{name}' should be a finite positive Python float (use "
                               f"float(...)), it is {value!r} of type {type(value).__name__}.")


@graded(WEIGHTS, 2)
def test_balanced_weights_values(submission):
    """Exercise 3: 1/variance of the ages, 1/entropy of the income groups, 1/entropy of gender (natural logs)."""
    got = _weights(submission)
    want = _reference(_targets())
    hints = {"age": "1 / the variance of the ages (not the standard deviation)",
             "income": "1 / the entropy of the income-group frequencies, natural log, skipping groups that never "
                       "occur",
             "gender": "1 / the entropy of (p, 1 - p), p the share of gender 1, natural log"}
    for name in ("age", "income", "gender"):
        try:
            ok = bool(np.isclose(float(got[name]), want[name], rtol=1e-4))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise GradeFailure(f"{WEIGHTS}: the weight for '{name}' should be {hints[name]}: {want[name]:.5g} on the "
                               f"grader's targets, it is {got[name]!r}.")
