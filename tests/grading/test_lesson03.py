"""Grader for lesson 03 — multi-output models (22 points).

``build_profile_model`` is built and its graph read back: the input, each of the three heads (shape and
activation), that all three read one shared ``Dense(128)``, the Conv1D stack under it (filters, kernel sizes,
activations, strides, padding, pool sizes), and that it is returned uncompiled (facts that hold at any size are read
on the model built small, the stack with its default embedding on the default one). ``compile_profile_model`` is given a
model of the grader's own, with its outputs in a scrambled order, and the compiled losses, loss weights, each
output's metric (by the value evaluate reports) and the optimizer are read per output name.
``balanced_loss_weights`` is checked weight by weight against the formula on targets it has not seen. Graphs are
read through nested models: a trunk written as a nested Sequential reads as the layers in it.
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np

from gradekit.harness import (
    GradeFailure,
    Graph,
    Submission,
    activation_name,
    activation_step,
    compiled_losses,
    expect_inputs,
    expect_losses,
    expect_optimizer,
    expect_outputs,
    fit,
    fresh_session,
    graded,
    predict,
    producer,
    run_rng,
    shape_str,
)

BUILD = "build_profile_model"
COMPILE = "compile_profile_model"
WEIGHTS = "balanced_loss_weights"
HEADS = {"age": "linear", "income": "softmax", "gender": "sigmoid"}
CLASSIC_STACK = ["Embedding(50000, 256)", "Conv1D(128, 5, relu)", "MaxPooling1D(5)", "Conv1D(256, 5, relu)",
                 "Conv1D(256, 5, relu)", "MaxPooling1D(5)", "Conv1D(256, 5, relu)", "Conv1D(256, 5, relu)",
                 "GlobalMaxPooling1D", "Dense(128, relu)"]
# small sizes (vocabulary_size, embedding_dim, num_income_groups) for the checks whose facts hold at any size: the
# default model (a 50000 × 256 embedding, 13M weights) is built only where a fact is about the defaults
SMALL = (100, 8, 4)
# the short fit of the hidden "learns" test: (posts, epochs, batch size), with margins measured over many draws
PROFILE_FIT = (64, 8, 16)


# ------------------------------------------------------------------------------------------------ reading graphs


_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def graph_of(model: keras.Model) -> Graph:
    """The model's graph read through nested models (:class:`gradekit.harness.Graph`: a trunk or head written as a
    nested Sequential reads as its layers), read once per model."""
    if model not in _GRAPHS:
        _GRAPHS[model] = Graph.of(model)
    return _GRAPHS[model]


def feeders(model: keras.Model, layer: Any) -> list[Any]:
    """The layers (or ops, e.g. keras.ops.relu) whose outputs the first call of ``layer`` in ``model`` received,
    read through nested models."""
    calls = graph_of(model).parents(layer)
    return [p for p in calls[0] if isinstance(p, keras.Operation)] if calls else []


def back(model: keras.Model, layer: Any) -> Any:
    """The single layer feeding ``layer`` (skipping Dropout); None where there is not exactly one."""
    found = feeders(model, layer)
    while len(found) == 1 and type(found[0]).__name__ == "Dropout":
        found = feeders(model, found[0])
    return found[0] if len(found) == 1 else None


def with_activation(model: keras.Model, layer: Any) -> tuple[Any, str]:
    """A layer and its activation; an activation layer (or op) on top of a linear Dense/Conv1D counts as that
    layer's activation. An activation on top of anything else stays a layer of its own."""
    activation = activation_step(layer)
    if activation is not None:
        below = back(model, layer)
        if below is not None and type(below).__name__ in {"Dense", "Conv1D"} and activation_name(below) == "linear":
            return below, activation
        return layer, activation
    return layer, activation_name(layer) if type(layer).__name__ in {"Dense", "Conv1D"} else ""


def describe(layer: Any, activation: str = "") -> str:
    """A layer as the exercise writes it, with any setting that differs from the stated one spelled out."""
    kind = type(layer).__name__
    if kind == "Embedding":
        return f"Embedding({layer.input_dim}, {layer.output_dim})"
    if kind == "Conv1D":
        extra = "".join([f", strides={layer.strides[0]}" if tuple(layer.strides) != (1,) else "",
                         f", padding='{layer.padding}'" if layer.padding != "valid" else "",
                         f", dilation_rate={layer.dilation_rate[0]}" if tuple(layer.dilation_rate) != (1,) else ""])
        return f"Conv1D({layer.filters}, {layer.kernel_size[0]}, {activation}{extra})"
    if kind == "MaxPooling1D":
        extra = "".join([f", strides={layer.strides[0]}" if tuple(layer.strides) != tuple(layer.pool_size) else "",
                         f", padding='{layer.padding}'" if layer.padding != "valid" else ""])
        return f"MaxPooling1D({layer.pool_size[0]}{extra})"
    if kind == "Dense":
        return f"Dense({layer.units}, {activation})"
    if kind == "ReLU":
        return activation if activation.startswith("ReLU(") else "ReLU()"
    if kind == "Activation":
        return f"Activation('{activation}')"
    return kind


def output_layer(model: keras.Model, name: str) -> Any:
    """The layer that makes the output ``name`` (inside the nested model of that name, if one returns it)."""
    return graph_of(model).output(model, name).layer


# ------------------------------------------------------------------------------------------------ exercise 1


def _profile(submission: Submission, *args: Any, shared: bool = False) -> keras.Model:
    """The submission's model; ``shared``: the one rebuilt model the tests that only read it share
    (:meth:`Submission.shared_model`), else a model of the test's own (to train, or the default model, 13M weights,
    read by one test only: sharing it would only keep it in memory)."""
    fresh_session()
    return submission.shared_model(BUILD, *args) if shared else submission.model(BUILD, *args)


def _heads(model: keras.Model, groups: int = 10) -> dict[str, tuple[Any, str]]:
    expect_outputs(model, [("age", (None, 1)), ("income", (None, groups)), ("gender", (None, 1))], BUILD)
    return {name: with_activation(model, output_layer(model, name)) for name in HEADS}


def _trunk(model: keras.Model, groups: int = 10) -> list[str]:
    """The layers under the shared layer, from the input up, described; the shared layer must be common."""
    below = {name: back(model, dense) for name, (dense, _) in _heads(model, groups).items()}
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


def _expect_head(submission: Submission, name: str, units: int, text: str) -> None:
    """The output ``name`` is a Dense(units) with the head's activation (``text`` says so in feedback), in the model
    built at the small sizes."""
    model = _profile(submission, *SMALL, shared=True)
    found = {producer(t).name: t for t in model.outputs}
    if name not in found:
        raise GradeFailure(f"{BUILD}: no output named '{name}' (found {', '.join(repr(n) for n in found)}); the "
                           f"'{name}' head should be {text}: give its layer name='{name}'.")
    if tuple(found[name].shape) != (None, units):
        raise GradeFailure(f"{BUILD}: the '{name}' head should be {text}, of shape {shape_str((None, units))}; it "
                           f"has shape {shape_str(found[name].shape)}.")
    layer, activation = with_activation(model, output_layer(model, name))
    if type(layer).__name__ != "Dense":
        raise GradeFailure(f"{BUILD}: the '{name}' head should be {text}; it is {describe(layer, activation)}.")
    if activation != HEADS[name]:
        change = ("leave the activation out (no activation= and no activation layer)" if HEADS[name] == "linear"
                  else f"give it activation='{HEADS[name]}'")
        raise GradeFailure(f"{BUILD}: the '{name}' head should be {text}; it has the activation '{activation}': "
                           f"{change}.")


@graded(BUILD, 1)
def test_profile_input(submission):
    """Exercise 1: one input 'posts' of word indices of any length: shape (None, None), int32."""
    expect_inputs(_profile(submission, *SMALL, shared=True), [("posts", (None, None), "int32")], BUILD)


@graded(BUILD, 1)
def test_profile_age_head(submission):
    """Exercise 1: the output 'age' is a Dense(1) with no activation (regression)."""
    _expect_head(submission, "age", 1, "a Dense(1) with no activation (a regression)")


@graded(BUILD, 1)
def test_profile_income_head(submission):
    """Exercise 1: the output 'income' is a Dense(num_income_groups) with softmax."""
    _expect_head(submission, "income", SMALL[2], "a Dense(num_income_groups) with softmax")


@graded(BUILD, 1)
def test_profile_gender_head(submission):
    """Exercise 1: the output 'gender' is a Dense(1) with sigmoid."""
    _expect_head(submission, "gender", 1, "a Dense(1) with sigmoid")


@graded(BUILD, 1)
def test_profile_heads_share_trunk(submission):
    """Exercise 1: the three heads read one and the same layer, a Dense(128, relu)."""
    stack = _trunk(_profile(submission, *SMALL, shared=True), SMALL[2])
    if stack[-1] != "Dense(128, relu)":
        raise GradeFailure(f"{BUILD}: the heads should read a shared Dense(128, relu), they read {stack[-1]}.")


@graded(BUILD, 2)
def test_profile_trunk(submission):
    """Exercise 1: under the heads: Embedding(50000, 256), the classic Conv1D/MaxPooling1D stack (kernels 5, strides
    and padding left at their defaults), GlobalMaxPooling1D."""
    stack = _trunk(_profile(submission))  # not shared: the default model, read here only
    if stack != CLASSIC_STACK:
        raise GradeFailure(f"{BUILD}: from the input to the heads the layers should be {' → '.join(CLASSIC_STACK)} "
                           f"(strides and padding left at their defaults); found {' → '.join(stack)}.")


@graded(BUILD, 1)
def test_profile_uses_arguments(submission):
    """Exercise 1: the sizes come from the arguments: build_profile_model(100, 8, 4)."""
    model = _profile(submission, 100, 8, 4, shared=True)
    expect_outputs(model, [("age", (None, 1)), ("income", (None, 4)), ("gender", (None, 1))], BUILD)
    embeddings = [describe(layer) for layer in graph_of(model).layers if type(layer).__name__ == "Embedding"]
    if embeddings != ["Embedding(100, 8)"]:
        raise GradeFailure(f"{BUILD}: with vocabulary_size=100 and embedding_dim=8 the model should have one "
                           f"Embedding(100, 8) (vocabulary first), it has {', '.join(embeddings) or 'none'}.")


@graded(BUILD, 1)
def test_profile_uncompiled(submission):
    """Exercise 1: the model is returned uncompiled (exercise 2 compiles it)."""
    model = _profile(submission, *SMALL, shared=True)
    if getattr(model, "compiled", False) or getattr(model, "optimizer", None) is not None:
        optimizer = getattr(model, "optimizer", None)
        with_what = f" with {type(optimizer).__name__}" if optimizer is not None else ""
        raise GradeFailure(f"{BUILD}: the model should be returned uncompiled, it comes back compiled{with_what}; "
                           "remove the model.compile(...) call (compile_profile_model, exercise 2, compiles it).")


@graded(BUILD, 1, hidden=True)
def test_profile_learns(submission):
    """Exercise 1: compiled with a loss per head, a short fit on 280-word posts lowers the total loss (the loss
    of the untrained model on all posts against the training loss of the last epoch).

    Hidden: the student edition does not contain this test; teachers' grading runs it."""
    posts, epochs, batch_size = PROFILE_FIT
    model = _profile(submission, 30, 8, 10)  # a model of its own: it is compiled and trained
    rng = run_rng(BUILD, "learns")  # new posts every grading run
    x = rng.integers(1, 30, (posts, 280)).astype("int32")
    marker = (x == 7).mean(axis=1, keepdims=True)  # the targets follow how often word 7 occurs
    y = {"age": (20 + 400 * marker).astype("float32"),
         "income": np.eye(10, dtype="float32")[np.minimum((marker[:, 0] * 300).astype(int), 9)],
         "gender": (marker > np.median(marker)).astype("float32")}
    what = f"training the model from {BUILD}"
    submission.run(what, model.compile, optimizer=keras.optimizers.Adam(0.003),
                   loss={"age": "mse", "income": "categorical_crossentropy", "gender": "binary_crossentropy"},
                   loss_weights={"age": 0.01, "income": 1.0, "gender": 1.0})
    before = float(submission.run(what, model.evaluate, x, y, verbose=0, return_dict=True)["loss"])
    history = submission.run(what, fit, model, x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    after = float(history.history["loss"][-1])
    if not (np.isfinite(after) and after < 0.8 * before):
        raise GradeFailure(f"{BUILD}: {epochs} epochs on {posts} posts took the loss from {before:.3f} (before "
                           f"training) only to {after:.3f} (last epoch); check the heads' activations and that every "
                           "layer is trainable.")


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
        if isinstance(result, keras.Model):
            raise GradeFailure(f"{COMPILE} should compile the given model and return it; it returned another model "
                               f"('{result.name}', a copy?): call model.compile(...) on the model it receives and "
                               "return that same model.")
        hint = " (did you forget to return it?)" if result is None else ""
        raise GradeFailure(f"{COMPILE} should compile the given model and return it; it returned "
                           f"{type(result).__name__}{hint}.")
    return model


def _read(submission: Submission, model: keras.Model) -> dict[str, tuple[str, float]]:
    return submission.run(f"reading how {COMPILE} compiled the model", compiled_losses, model)


@graded(COMPILE, 2)
def test_compile_losses(submission):
    """Exercise 2: by output name: mse for age, categorical cross-entropy (income), binary cross-entropy (gender),
    each computing what Keras' loss of that name computes with its default settings."""
    model = _compiled(submission, {"age": 0.25, "income": 1.0, "gender": 10.0})
    wanted = {"age": (keras.losses.MeanSquaredError(), "mean squared error, 'mse'"),
              "income": (keras.losses.CategoricalCrossentropy(), "categorical cross-entropy on the softmax's "
                                                                 "probabilities, 'categorical_crossentropy'"),
              "gender": (keras.losses.BinaryCrossentropy(), "binary cross-entropy on the sigmoid's probability, "
                                                            "'binary_crossentropy'")}
    submission.run(f"reading how {COMPILE} compiled the model", expect_losses, model, wanted, COMPILE,
                   "the outputs may come in any order: give the losses as a dict keyed by output name")


@graded(COMPILE, 2)
def test_compile_weights(submission):
    """Exercise 2: each output gets the loss weight given for its name (tried with two sets of weights)."""
    for weights in ({"age": 0.25, "income": 1.0, "gender": 10.0}, {"age": 0.5, "income": 2.0, "gender": 3.0}):
        found = _read(submission, _compiled(submission, weights))
        got = {name: found.get(name, ("", 0.0))[1] for name in weights}
        if not all(np.isclose(got[name], weight) for name, weight in weights.items()):
            raise GradeFailure(f"{COMPILE}: with loss_weights={weights} the outputs got the weights {got}; pass the "
                               "given dict as loss_weights (and keep losses and weights in the same form).")


def _metric_readings(submission: Submission) -> tuple[dict[str, float], dict[str, np.ndarray], dict[str, Any]]:
    """Evaluate the compiled model on a small batch: (what evaluate reports, the model's predictions by output
    name, the targets), read once per submission for the three metric tests."""
    if "metric readings" in submission.memo:
        return submission.memo["metric readings"]
    model = _compiled(submission, {"age": 1.0, "income": 1.0, "gender": 1.0})
    rng = run_rng(COMPILE, "metrics")
    x = rng.integers(1, 30, (64, 12)).astype("int32")
    y = {"age": rng.random((64, 1)).astype("float32"),
         "income": np.eye(10, dtype="float32")[rng.integers(0, 10, 64)],
         "gender": rng.integers(0, 2, (64, 1)).astype("float32")}
    logs = submission.run(f"evaluating the model compiled by {COMPILE}", model.evaluate, x, y, verbose=0,
                          return_dict=True)
    outputs = submission.run(f"predicting with the model compiled by {COMPILE}", predict, model, x)
    predictions = dict(zip([producer(t).name for t in model.outputs], outputs))
    submission.memo["metric readings"] = {k: float(v) for k, v in logs.items()}, predictions, y
    return submission.memo["metric readings"]


def _expect_metric(submission: Submission, name: str, metric: str, meaning: str, value: Any) -> None:
    """evaluate reports, for the output ``name``, a metric whose value is ``value(prediction, target)``."""
    logs, predictions, targets = _metric_readings(submission)
    want = float(value(predictions[name], targets[name]))
    reported = {key: v for key, v in logs.items() if key.startswith(f"{name}_") and key != f"{name}_loss"}
    if not any(np.isclose(v, want, atol=1e-4) for v in reported.values()):
        found = ", ".join(f"{key}={v:.4g}" for key, v in sorted(reported.items())) or "no metric"
        raise GradeFailure(f"{COMPILE}: the '{name}' output should report '{metric}' ({meaning}: {want:.4g} on the "
                           f"grader's batch); evaluate reports {found} for it. Give the metrics per output name, "
                           "metrics={'age': ['mae'], 'income': ['accuracy'], 'gender': ['accuracy']}.")


@graded(COMPILE, 1)
def test_compile_age_metric_mae(submission):
    """Exercise 2: evaluate reports the mean absolute error ('mae') of the 'age' output."""
    _expect_metric(submission, "age", "mae", "the mean absolute error of the predicted ages",
                   lambda p, t: np.abs(p - t).mean())


@graded(COMPILE, 1)
def test_compile_income_metric_accuracy(submission):
    """Exercise 2: evaluate reports the accuracy of the 'income' output (predicted group = one-hot target's)."""
    _expect_metric(submission, "income", "accuracy", "the share of people whose most probable income group is "
                   "their one-hot target's", lambda p, t: (p.argmax(axis=-1) == t.argmax(axis=-1)).mean())


@graded(COMPILE, 1)
def test_compile_gender_metric_accuracy(submission):
    """Exercise 2: evaluate reports the accuracy of the 'gender' output (prediction above 0.5 = target 1)."""
    _expect_metric(submission, "gender", "accuracy", "the share of predictions on the right side of 0.5",
                   lambda p, t: ((p > 0.5) == (t > 0.5)).mean())


@graded(COMPILE, 1)
def test_compile_optimizer(submission):
    """Exercise 2: the optimizer passed in is used; without one, RMSprop with Keras' default settings."""
    given = keras.optimizers.Adam(0.004)
    model = _compiled(submission, {"age": 1.0, "income": 1.0, "gender": 1.0}, given)
    if model.optimizer is not given:
        raise GradeFailure(f"{COMPILE}: the model should use the optimizer it is given, it uses "
                           f"{type(model.optimizer).__name__}.")
    default = _compiled(submission, {"age": 1.0, "income": 1.0, "gender": 1.0})
    expect_optimizer(default.optimizer, keras.optimizers.RMSprop, "rmsprop",
                     f"{COMPILE} (without an optimizer argument: the default optimizer='rmsprop')")


# ------------------------------------------------------------------------------------------------ exercise 3


def _targets() -> dict[str, np.ndarray]:
    rng = run_rng(WEIGHTS, "targets")  # new targets every run, the same for every test of the run
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
    targets = _targets()  # the tests only read the answer (a dict of numbers): they share it
    result = submission.shared_call(WEIGHTS, {k: v.copy() for k, v in targets.items()})
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


def _expect_weight(submission: Submission, name: str, hint: str) -> None:
    got = _weights(submission)[name]
    want = _reference(_targets())[name]
    try:
        ok = bool(np.isclose(float(got), want, rtol=1e-4))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise GradeFailure(f"{WEIGHTS}: the weight for '{name}' should be {hint}: {want:.5g} on the grader's "
                           f"targets, it is {got!r}.")


@graded(WEIGHTS, 1)
def test_balanced_age_weight_is_inverse_variance(submission):
    """Exercise 3: the 'age' weight is 1 / the variance of the ages (the MSE of always predicting the mean)."""
    _expect_weight(submission, "age", "1 / the variance of the ages (not the standard deviation; the mean squared "
                                      "error of always predicting the mean age, so divided by n, not n - 1)")


@graded(WEIGHTS, 1)
def test_balanced_income_weight_is_inverse_entropy(submission):
    """Exercise 3: the 'income' weight is 1 / the entropy of the income-group frequencies (natural log)."""
    _expect_weight(submission, "income", "1 / the entropy -sum(p * log p) of the income-group frequencies p, "
                                         "natural log, skipping groups that never occur")


@graded(WEIGHTS, 1)
def test_balanced_gender_weight_is_inverse_entropy(submission):
    """Exercise 3: the 'gender' weight is 1 / the entropy of the two frequencies p and 1 - p (natural log)."""
    _expect_weight(submission, "gender", "1 / the entropy of the two frequencies (p, 1 - p), p the share of "
                                         "gender 1: -(p log p + (1 - p) log(1 - p)), natural log")
