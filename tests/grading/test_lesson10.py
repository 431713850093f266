"""Grader for lesson 10 — the capstone (24 points).

``build_car_model`` is called with training features the grader draws (two settings of sizes, so a hard-coded
shape or size fails), for the full model and for models that lack inputs or heads, and the graph it returns is read
back: the named inputs (shapes, dtypes), the preprocessing inside the model (each ``Normalization`` adapted to the
given values, the one-hot ``CategoryEncoding`` of the make, the ``Rescaling`` of the pixels), each branch layer by
layer, the concatenation read by one shared ``Dense(32, relu)`` named ``"shared"``, the two heads, that every output
depends on every input, that it is returned uncompiled, and (hidden) that a short fit lowers the loss.
``compile_car_model`` is given models of the grader's own, with both heads (listed in a scrambled order) or one,
and the compiled losses, loss weights, metrics (by the values evaluate reports) and optimizer are read per output
name. Graphs are read through nested models: a branch written as a nested Sequential reads as the layers in it.
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np

from gradekit.harness import (
    Call,
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
    to_numpy,
)

BUILD = "build_car_model"
COMPILE = "compile_car_model"
L = keras.layers

# (review length, photo shape, makes, words, grades): two settings, so that a hard-coded size fails
SETTINGS = [(7, (12, 16, 1), 4, 9, 3), (5, (10, 14, 1), 6, 11, 4)]


def features(setting: tuple = SETTINGS[0], n: int = 48, draw: int = 0) -> dict[str, np.ndarray]:
    """Prepared training features of the setting's sizes, raw years, km and pixels (the grader's own), drawn afresh
    in every grading run; ``draw`` numbers the draws of one run (each draw's ages are shifted by 3 years more)."""
    length, photo, makes, words, _ = setting
    rng = run_rng(BUILD, "features", setting, n, draw)
    return {"make": rng.integers(0, makes, (n, 1)).astype("int32"),
            "age": rng.uniform(0, 15, (n, 1)).astype("float32") + 3 * draw,
            "mileage": rng.uniform(0, 200_000, (n, 1)).astype("float32"),
            "review": rng.integers(0, words, (n, length)).astype("int32"),
            "photo": rng.uniform(0, 255, (n, *photo)).astype("float32")}


def _build(submission: Submission, setting: tuple = SETTINGS[0], draw: int = 0, *, shared: bool = False,
           **kwargs: Any) -> keras.Model:
    """The submission's model, built on the features of ``setting`` and ``draw``; ``shared`` (the grader's, not
    passed on): the one rebuilt model the tests that only read it share (:meth:`Submission.shared_model`), else a
    model of the test's own (to train)."""
    _, _, makes, words, grades = setting
    fresh_session()
    ask = submission.shared_model if shared else submission.model
    return ask(BUILD, features(setting, draw=draw), makes, words, grades, **kwargs)


# ------------------------------------------------------------------------------------------------ reading graphs


_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def graph_of(model: keras.Model) -> Graph:
    """The model's graph read through nested models (:class:`gradekit.harness.Graph`: a branch written as a nested
    Sequential reads as its layers), read once per model so that its calls compare by identity."""
    if model not in _GRAPHS:
        _GRAPHS[model] = Graph.of(model)
    return _GRAPHS[model]


def _input(model: keras.Model, name: str) -> Call | None:
    """The call of the model's input ``name``."""
    return next((graph_of(model).source(t) for t in model.inputs if producer(t).name == name), None)


def _readers(model: keras.Model, call: Call) -> list[Call]:
    """The calls that receive the output of ``call`` (Dropout layers skipped)."""
    out = []
    for reader in graph_of(model).readers(call):
        out.extend(_readers(model, reader) if type(reader.layer).__name__ == "Dropout" else [reader])
    return out


def _feeders(model: keras.Model, call: Call) -> list[Call]:
    """The calls whose outputs ``call`` receives (Dropout layers skipped)."""
    out = []
    for feeder in call.inputs:
        out.extend(_feeders(model, feeder) if type(feeder.layer).__name__ == "Dropout" else [feeder])
    return out


def _one(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else None


def _describe(model: keras.Model, call: Call) -> tuple[str, Call]:
    """A layer as the exercise writes it, and the call where it ends: an activation layer (or op) right after a
    linear Dense or convolution counts as that layer's activation."""
    op = call.layer
    kind = type(op).__name__
    end, activation = call, activation_name(op)
    if kind in {"Dense", "Conv1D", "Conv2D"} and activation == "linear":
        after = _one(_readers(model, call))
        if after is not None and activation_step(after.layer) is not None:
            end, activation = after, activation_step(after.layer)
    if kind == "Dense":
        return f"Dense({op.units}, {activation})", end
    if kind in {"Conv1D", "Conv2D"}:
        strides = set(op.strides)
        extra = (f", strides={op.strides[0]}" if strides != {1} and len(strides) == 1 else
                 f", strides={tuple(op.strides)}" if strides != {1} else "")
        extra += f", padding='{op.padding}'" if op.padding != "valid" else ""
        size = op.kernel_size[0] if len(set(op.kernel_size)) == 1 else tuple(op.kernel_size)
        return f"{kind}({op.filters}, {size}{extra}, {activation})", end
    if kind == "Embedding":
        return f"Embedding({op.input_dim}, {op.output_dim})", end
    if kind == "Rescaling":
        scale, offset = float(np.ravel(op.scale)[0]), float(np.ravel(op.offset)[0])
        return ("Rescaling(1/255)" if np.isclose(scale, 1 / 255) and offset == 0 else
                f"Rescaling({scale:.4g}, offset={offset:g})"), end
    if kind == "CategoryEncoding":  # of one index per row, 'multi_hot' (the default) computes what 'one_hot' does
        mode = "one_hot" if op.output_mode in ("one_hot", "multi_hot") else op.output_mode
        return f"CategoryEncoding({op.num_tokens}, output_mode='{mode}')", end
    return kind, end


def _forward(model: keras.Model, start: Call, steps: int) -> tuple[list[str], Call | None]:
    """The descriptions of the ``steps`` layers after ``start``, each the single reader of the one before."""
    found, call = [], start
    for _ in range(steps):
        readers = _readers(model, call)
        if len(readers) != 1:
            name = call.layer.name
            found.append(f"{len(readers)} layers reading '{name}'" if readers else f"nothing after '{name}'")
            return found, None
        text, call = _describe(model, readers[0])
        found.append(text)
    return found, call


def _shared(model: keras.Model) -> Call | None:
    """The call of the one layer every head reads (through the heads' own activation layers), or None."""
    below = {}
    for call in graph_of(model).outputs:
        head = call
        if activation_step(head.layer) is not None and type(head.layer).__name__ not in {"Dense"}:
            head = _one(_feeders(model, head)) or head
        found = _one(_feeders(model, head))
        below[id(found)] = found
    return next(iter(below.values())) if len(below) == 1 else None


def _head(model: keras.Model, name: str) -> str:
    call = graph_of(model).output(model, name)
    op = call.layer
    if type(op).__name__ != "Dense" and activation_step(op) is not None:
        below = _one(_feeders(model, call))
        if below is not None and type(below.layer).__name__ == "Dense" and activation_name(below.layer) == "linear":
            return f"Dense({below.layer.units}, {activation_step(op)})"
    return _describe(model, call)[0] if type(op).__name__ == "Dense" else type(op).__name__


def _branch(model: keras.Model, name: str, wanted: list[str], hint: str) -> Any:
    start = _input(model, name)
    if start is None:
        raise GradeFailure(f"{BUILD}: no input named '{name}'.")
    found, end = _forward(model, start, len(wanted))
    if found != wanted:
        raise GradeFailure(f"{BUILD}: the '{name}' input should go through {', '.join(wanted)} ({hint}); found "
                           f"{', '.join(found)}.")
    return end


# ------------------------------------------------------------------------------------------------ exercise 1


def _full_inputs(setting: tuple) -> list[tuple[str, tuple, str]]:
    length, photo, _, _, _ = setting
    return [("make", (None, 1), "int32"), ("age", (None, 1), "float32"), ("mileage", (None, 1), "float32"),
            ("review", (None, length), "int32"), ("photo", (None, *photo), "float32")]


@graded(BUILD, 2)
def test_car_inputs(submission):
    """Exercise 1: five named inputs: make (1,) int32, age and mileage (1,) float32, review (length,) int32, photo
    (height, width, 1) float32, of the shapes of the given features (two settings)."""
    for setting in SETTINGS:
        expect_inputs(_build(submission, setting, shared=True), _full_inputs(setting), BUILD)


@graded(BUILD, 2)
def test_car_heads(submission):
    """Exercise 1: two outputs: 'price' a Dense(1) with no activation, 'grade' a Dense(grades) with softmax."""
    for setting in SETTINGS:
        grades = setting[4]
        model = _build(submission, setting, shared=True)
        expect_outputs(model, [("price", (None, 1)), ("grade", (None, grades))], BUILD)
        for name, wanted in (("price", "Dense(1, linear)"), ("grade", f"Dense({grades}, softmax)")):
            found = _head(model, name)
            if found != wanted:
                raise GradeFailure(f"{BUILD}: the '{name}' head should be {wanted.replace(', linear', '')}"
                                   f"{' with no activation' if name == 'price' else ''}; found {found}.")


@graded(BUILD, 1)
def test_car_normalizes_the_numbers(submission):
    """Exercise 1: age and mileage each go through a Normalization adapted to their values in x_train (so the model
    takes raw years and km)."""
    for draw in (0, 1):
        x = features(draw=draw)
        model = _build(submission, draw=draw, shared=True)
        for name in ("age", "mileage"):
            start = _input(model, name)
            call = _one(_readers(model, start)) if start is not None else None
            reader = call.layer if call is not None else None
            if reader is None or type(reader).__name__ != "Normalization":
                kind = type(reader).__name__ if reader is not None else "several layers or none"
                raise GradeFailure(f"{BUILD}: the '{name}' input should go straight into a Normalization layer of "
                                   f"its own; it goes into {kind}.")
            mean = np.ravel(to_numpy(reader.mean))
            variance = np.ravel(to_numpy(reader.variance))
            want = (float(x[name].mean()), float(x[name].var()))
            if not (np.allclose(mean, want[0], rtol=1e-3) and np.allclose(variance, want[1], rtol=1e-3)):
                raise GradeFailure(f"{BUILD}: the Normalization of '{name}' should hold the mean and variance of "
                                   f"x_train['{name}'] ({want[0]:.4g} and {want[1]:.4g} on the grader's data); it "
                                   f"holds {mean[0]:.4g} and {variance[0]:.4g}: adapt it to x_train['{name}'] (its "
                                   "own values, not another feature's).")


@graded(BUILD, 1)
def test_car_table_branch(submission):
    """Exercise 1: make goes through CategoryEncoding(makes, one_hot); make, age and mileage are concatenated and
    read by a Dense(16, relu)."""
    for setting in SETTINGS:
        makes = setting[2]
        model = _build(submission, setting, shared=True)
        _branch(model, "make", [f"CategoryEncoding({makes}, output_mode='one_hot')"], "the make's index, one-hot")
        ends = {name: _one(_readers(model, _input(model, name))) for name in ("make", "age", "mileage")}
        joins = {name: _one(_readers(model, end)) if end is not None else None for name, end in ends.items()}
        join = _one(list({id(j): j for j in joins.values()}.values()))
        if join is None or type(join.layer).__name__ != "Concatenate" or len(_feeders(model, join)) != 3:
            raise GradeFailure(f"{BUILD}: the one-hot make and the normalized age and mileage should be concatenated "
                               "together, the three of them in one Concatenate.")
        found, _ = _forward(model, join, 1)
        if found != ["Dense(16, relu)"]:
            raise GradeFailure(f"{BUILD}: the table's concatenation should be read by a Dense(16, relu); found "
                               f"{found[0]}.")


@graded(BUILD, 1)
def test_car_review_branch(submission):
    """Exercise 1: review goes through Embedding(words, 16), Conv1D(32, 3, relu) and GlobalMaxPooling1D."""
    for setting in SETTINGS:
        words = setting[3]
        _branch(_build(submission, setting, shared=True), "review",
                [f"Embedding({words}, 16)", "Conv1D(32, 3, relu)", "GlobalMaxPooling1D"], "words first: "
                "Embedding(words, 16)")


@graded(BUILD, 1)
def test_car_photo_branch(submission):
    """Exercise 1: photo goes through Rescaling(1/255), Conv2D(8, 3, strides=2, relu), Conv2D(16, 3, strides=2,
    relu), Flatten and Dense(16, relu)."""
    _branch(_build(submission, shared=True), "photo", ["Rescaling(1/255)", "Conv2D(8, 3, strides=2, relu)",
                                          "Conv2D(16, 3, strides=2, relu)", "Flatten", "Dense(16, relu)"],
            "raw pixels 0-255 scaled to 0-1 first")


@graded(BUILD, 1)
def test_car_merge(submission):
    """Exercise 1: the three branches are concatenated and read by one Dense(32, relu) named 'shared', which both
    heads read."""
    model = _build(submission, shared=True)
    shared = _shared(model)
    if shared is None:
        raise GradeFailure(f"{BUILD}: both heads should read one and the same Dense(32, relu) named 'shared'.")
    text, _ = _describe(model, shared)
    if text != "Dense(32, relu)" or shared.layer.name != "shared":
        raise GradeFailure(f"{BUILD}: the layer the heads read should be a Dense(32, relu) named 'shared'; it is "
                           f"{text} named '{shared.layer.name}'.")
    merge = _one(_feeders(model, shared))
    if merge is None or type(merge.layer).__name__ != "Concatenate" or len(_feeders(model, merge)) != 3:
        raise GradeFailure(f"{BUILD}: 'shared' should read the concatenation of the three branches (table, review, "
                           "photo), one Concatenate of three tensors.")


def _predict(submission: Submission, model: keras.Model, x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's predictions keyed by output name, whether its outputs are a dict or a list."""
    found = submission.run(f"predicting with the model of {BUILD}", predict, model, x)
    if isinstance(found, dict):
        return {name: np.asarray(value) for name, value in found.items()}
    found = found if isinstance(found, list) else [found]
    return {producer(t).name: np.asarray(value) for t, value in zip(model.outputs, found)}


@graded(BUILD, 1)
def test_car_outputs_depend_on_every_input(submission):
    """Exercise 1 (behaviour): changing any one input changes both predictions."""
    model = _build(submission, shared=True)
    x = features(n=16, draw=5)
    other = features(n=16, draw=6)
    base = _predict(submission, model, x)
    for name in x:
        changed = _predict(submission, model, {**x, name: other[name]})
        for head in ("price", "grade"):
            if np.allclose(np.asarray(changed[head]), np.asarray(base[head]), atol=1e-7):
                raise GradeFailure(f"{BUILD}: the '{head}' prediction does not change when the '{name}' input does: "
                                   "every input should reach both heads (through the merge and 'shared').")


@graded(BUILD, 2)
def test_car_inputs_of_the_named_kinds_only(submission):
    """Exercise 1: inputs=(...) keeps only the inputs of the named kinds ('table' is make, age and mileage); a single
    branch is read by 'shared' as it is."""
    setting = SETTINGS[0]
    full = {name: (name, shape, dtype) for name, shape, dtype in _full_inputs(setting)}
    for kinds, names in ((("review", "photo"), ["review", "photo"]), (("table",), ["make", "age", "mileage"]),
                         (("table", "photo"), ["make", "age", "mileage", "photo"]), (("review",), ["review"])):
        model = _build(submission, setting, shared=True, inputs=kinds)
        try:
            expect_inputs(model, [full[name] for name in names], BUILD)
        except GradeFailure as failure:
            raise GradeFailure(f"with inputs={kinds}: {failure}") from None
        expect_outputs(model, [("price", (None, 1)), ("grade", (None, setting[4]))], BUILD)
        shared = _shared(model)
        if shared is None or shared.layer.name != "shared":
            raise GradeFailure(f"{BUILD}: with inputs={kinds}, both heads should still read the Dense(32, relu) "
                               "named 'shared'.")


@graded(BUILD, 1)
def test_car_heads_of_the_named_kinds_only(submission):
    """Exercise 1: heads=(...) keeps only the named heads."""
    setting = SETTINGS[1]
    for heads, wanted in ((("price",), [("price", (None, 1))]), (("grade",), [("grade", (None, setting[4]))])):
        model = _build(submission, setting, shared=True, heads=heads)
        try:
            expect_outputs(model, wanted, BUILD)
        except GradeFailure as failure:
            raise GradeFailure(f"with heads={heads}: {failure}") from None


@graded(BUILD, 1)
def test_car_uncompiled_and_named(submission):
    """Exercise 1: the model is returned uncompiled, with the given name."""
    model = _build(submission, shared=True, name="grader_cars")
    if getattr(model, "compiled", False):
        raise GradeFailure(f"{BUILD}: the model should be returned uncompiled (compile_car_model does that); remove "
                           "the model.compile(...) call.")
    if model.name != "grader_cars":
        raise GradeFailure(f"{BUILD}: the model should be named with the given name ('grader_cars'), it is named "
                           f"'{model.name}'.")


@graded(BUILD, 1, hidden=True)
def test_car_learns(submission):
    """Exercise 1 (behaviour): a short fit lowers the loss (every layer is trainable)."""
    model = _build(submission)  # a model of its own: it is compiled and trained
    x = features(n=128)
    rng = run_rng(BUILD, "learns")
    y = {"price": (x["age"] / 5 + x["make"]).astype("float32") + rng.normal(0, 0.1, (128, 1)).astype("float32"),
         "grade": (x["review"][:, 0] % SETTINGS[0][4]).astype("int64")}
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss={"price": "mse",
                                                               "grade": "sparse_categorical_crossentropy"})
    before = submission.run(f"evaluating the model of {BUILD}", model.evaluate, x, y, verbose=0, return_dict=True)
    submission.run(f"training the model of {BUILD}", fit, model, x, y, epochs=15, batch_size=32, verbose=0)
    after = submission.run(f"evaluating the model of {BUILD}", model.evaluate, x, y, verbose=0, return_dict=True)
    before, after = float(before["loss"]), float(after["loss"])
    if not after < 0.7 * before:
        raise GradeFailure(f"{BUILD}: 15 epochs took the loss from {before:.3f} only to {after:.3f}; check the heads' "
                           "activations and that every layer is trainable.")


# ------------------------------------------------------------------------------------------------ exercise 2


def _two_headed(heads: tuple[str, ...] = ("grade", "price")) -> keras.Model:
    """A small car-like model of the grader's own, with the given heads in the given order."""
    fresh_session()
    table = keras.Input((3,), name="features")
    x = L.Dense(8, activation="relu")(table)
    made = {"price": L.Dense(1, name="price")(x), "grade": L.Dense(3, activation="softmax", name="grade")(x)}
    return keras.Model(table, [made[h] for h in heads], name="grader_model")


def _compiled(submission: Submission, weights: dict[str, float], heads: tuple[str, ...] = ("grade", "price"),
              *optimizer: Any) -> keras.Model:
    model = _two_headed(heads)
    result = submission.call(COMPILE, model, dict(weights), *optimizer)
    if result is not model:
        if isinstance(result, keras.Model):
            raise GradeFailure(f"{COMPILE} should compile the given model and return it; it returned another model "
                               f"('{result.name}', a copy?).")
        hint = " (did you forget to return it?)" if result is None else ""
        raise GradeFailure(f"{COMPILE} should compile the given model and return it; it returned "
                           f"{type(result).__name__}{hint}.")
    return model


def _read(submission: Submission, model: keras.Model) -> dict[str, tuple[str, float]]:
    return submission.run(f"reading how {COMPILE} compiled the model", compiled_losses, model)


WANTED_LOSSES = {"price": "mean_squared_error", "grade": "sparse_categorical_crossentropy"}


@graded(COMPILE, 2)
def test_compile_losses(submission):
    """Exercise 2: by output name: mean squared error for price, sparse categorical cross-entropy for grade, each
    computing what Keras' loss of that name computes with its default settings."""
    model = _compiled(submission, {"price": 0.02, "grade": 1.0})
    wanted = {"price": (keras.losses.MeanSquaredError(), "mean squared error, 'mse'"),
              "grade": (keras.losses.SparseCategoricalCrossentropy(), "sparse categorical cross-entropy on the "
                                                                      "softmax's probabilities, "
                                                                      "'sparse_categorical_crossentropy'")}
    submission.run(f"reading how {COMPILE} compiled the model", expect_losses, model, wanted, COMPILE,
                   "give the losses as a dict keyed by output name; the grade targets are indices, not one-hot")


@graded(COMPILE, 2)
def test_compile_weights(submission):
    """Exercise 2: each output gets the loss weight given for its name (two sets of weights)."""
    for weights in ({"price": 0.02, "grade": 1.0}, {"price": 3.0, "grade": 0.5}):
        found = _read(submission, _compiled(submission, weights))
        got = {name: found.get(name, ("", 0.0))[1] for name in weights}
        if not all(np.isclose(got[name], weight) for name, weight in weights.items()):
            raise GradeFailure(f"{COMPILE}: with loss_weights={weights} the outputs got the weights {got}; pass the "
                               "weights keyed by output name.")


@graded(COMPILE, 2)
def test_compile_a_model_with_one_head(submission):
    """Exercise 2: a model with one head is compiled with that head's loss and weight only, though the weights
    given hold both heads."""
    for heads in (("price",), ("grade",)):
        weights = {"price": 0.25, "grade": 4.0}
        found = _read(submission, _compiled(submission, weights, heads))
        want = {heads[0]: (WANTED_LOSSES[heads[0]], weights[heads[0]])}
        got = {name: (loss, round(weight, 6)) for name, (loss, weight) in found.items()}
        if got != want:
            raise GradeFailure(f"{COMPILE}: a model with only the '{heads[0]}' head should get the loss and weight "
                               f"{want}; it got {got}. Compile only the outputs the model has (model.output_names).")


def _metric_readings(submission: Submission, heads: tuple[str, ...] = ("grade", "price")):
    model = _compiled(submission, {"price": 1.0, "grade": 1.0}, heads)
    rng = run_rng(COMPILE, "metrics")
    x = rng.random((64, 3)).astype("float32")
    y = {"price": rng.random((64, 1)).astype("float32"), "grade": rng.integers(0, 3, 64).astype("int64")}
    y = {h: y[h] for h in heads} if len(heads) > 1 else y[heads[0]]
    logs = submission.run(f"evaluating the model compiled by {COMPILE}", model.evaluate, x, y, verbose=0,
                          return_dict=True)
    outputs = submission.run(f"predicting with the model compiled by {COMPILE}", predict, model, x)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    predictions = dict(zip([producer(t).name for t in model.outputs], outputs))
    targets = y if isinstance(y, dict) else {heads[0]: y}
    return {k: float(v) for k, v in logs.items()}, predictions, targets


@graded(COMPILE, 2)
def test_compile_metrics(submission):
    """Exercise 2: evaluate reports the price's mean absolute error ('mae') and the grade's accuracy, also for a
    model with one head."""
    checks = {"price": ("mae", lambda p, t: np.abs(p - t).mean()),
              "grade": ("accuracy", lambda p, t: (p.argmax(axis=-1) == t).mean())}
    for heads in (("grade", "price"), ("grade",)):
        logs, predictions, targets = _metric_readings(submission, heads)
        for name in heads:
            metric, value = checks[name]
            want = float(value(predictions[name], targets[name]))
            reported = {k: v for k, v in logs.items() if (k.startswith(f"{name}_") or len(heads) == 1)
                        and "loss" not in k}
            if not any(np.isclose(v, want, atol=1e-4) for v in reported.values()):
                found = ", ".join(f"{k}={v:.4g}" for k, v in sorted(reported.items())) or "no metric"
                raise GradeFailure(f"{COMPILE}: the '{name}' output should report '{metric}' ({want:.4g} on the "
                                   f"grader's batch); evaluate reports {found}. Give the metrics per output name: "
                                   "{'price': ['mae'], 'grade': ['accuracy']}.")


@graded(COMPILE, 1)
def test_compile_optimizer(submission):
    """Exercise 2: the optimizer passed in is used; without one, Adam with Keras' default settings."""
    given = keras.optimizers.RMSprop(0.004)
    model = _compiled(submission, {"price": 1.0, "grade": 1.0}, ("grade", "price"), given)
    if model.optimizer is not given:
        raise GradeFailure(f"{COMPILE}: the model should use the optimizer it is given, it uses "
                           f"{type(model.optimizer).__name__}.")
    default = _compiled(submission, {"price": 1.0, "grade": 1.0})
    expect_optimizer(default.optimizer, keras.optimizers.Adam, "adam",
                     f"{COMPILE} (without an optimizer argument: the default optimizer='adam')")
