"""Grader for lesson 01 — from Sequential to the functional API (24 points)."""

from __future__ import annotations

import ast
from typing import Any

import keras
import numpy as np

from gradekit import source as source_facts
from gradekit.harness import (
    GradeFailure,
    Graph,
    Submission,
    activation_name,
    activation_step,
    close,
    composed_activation,
    expect_inputs,
    expect_outputs,
    fit,
    fresh_session,
    graded,
    predict,
    probe_failure,
    producer,
    random_batch,
    run_rng,
    same_variables,
    shape_str,
    weight_arrays,
)

# the short fit of the hidden "learns" test: (rows, epochs, batch size, Adam's learning rate), with margins measured
# over many draws
MLP_FIT = (128, 3, 16, 0.02)


# ---------------------------------------------------------------------------------------------- helpers

def dense_stack(model: keras.Model, exercise: str) -> list[tuple[int | None, str]]:
    """Walk back from the (first) output to the input: the (units, activation) of each Dense, in input-to-output
    order. Activation layers after a Dense are folded into its activation, composed with the Dense's own
    (``Dense(32, activation='relu')`` and ``Dense(32)`` + ``ReLU()`` both read ``(32, 'relu')``, but
    ``Dense(32, activation='relu')`` + ``Activation('sigmoid')`` reads ``(32, 'relu then sigmoid')``); Dropout is
    skipped; an activation layer with no Dense before it reads ``(None, activation)``. The graph is read through
    nested models (:class:`gradekit.harness.Graph`): layers written as a nested Sequential read as if written one by
    one. Raises GradeFailure where the graph branches or holds another kind of layer."""
    graph = Graph([model.outputs[0]])
    call = graph.outputs[0]
    stack: list[tuple[int | None, str]] = []
    after: list[str] = []  # activation layers met since the last Dense, in input-to-output order
    while True:
        layer = call.layer
        kind = type(layer).__name__
        if kind == "Dense":
            stack.append((layer.units, composed_activation([activation_name(layer)] + after)))
            after = []
        elif activation_step(layer) is not None:
            after.insert(0, activation_step(layer))
        elif kind == "InputLayer":
            break
        elif kind != "Dropout":
            raise GradeFailure(f"{exercise}: the stack should hold only Dense layers (and their activations), but "
                               f"it contains '{layer.name}' ({kind}).")
        if not call.inputs:
            break
        if len(graph.calls_of(layer)) != 1 or len(call.inputs) != 1:
            raise GradeFailure(f"{exercise}: '{layer.name}' is called more than once or receives several tensors; "
                               "a plain stack has one path from the input to the output.")
        call = call.inputs[0]
    if after:
        stack.append((None, composed_activation(after)))
    return list(reversed(stack))


def describe_stack(stack: list[tuple[int | None, str]]) -> str:
    return " → ".join(f"Dense({u}, {a})" if u is not None else f"an activation layer ({a})"
                      for u, a in stack) or "no Dense layers"


def input_layer(tensor) -> keras.layers.Layer:
    """The InputLayer a model input tensor comes from (the same object where a handed-in model's input is reused)."""
    return producer(tensor)

# ---------------------------------------------------------------------------------------------- exercise 1


def _mlp(submission: Submission, *, shared: bool = False) -> keras.Model:
    """The submission's MLP; ``shared``: the one rebuilt model the tests that only read it share
    (:meth:`Submission.shared_model`), else a model of the test's own (to train)."""
    fresh_session()
    if shared:
        return submission.shared_model("build_functional_mlp")
    return submission.model("build_functional_mlp")


@graded("build_functional_mlp", 1)
def test_mlp_input(submission):
    """Exercise 1: one input named 'pixels' of shape (None, 64), float32."""
    expect_inputs(_mlp(submission, shared=True), [("pixels", (None, 64), "float32")], "build_functional_mlp")


@graded("build_functional_mlp", 1)
def test_mlp_output(submission):
    """Exercise 1: one output, the layer 'digit', of shape (None, 10) with softmax."""
    model = _mlp(submission, shared=True)
    expect_outputs(model, [("digit", (None, 10))], "build_functional_mlp")
    stack = dense_stack(model, "build_functional_mlp")
    if not stack or stack[-1] != (10, "softmax"):
        found = describe_stack(stack[-1:])
        raise GradeFailure(f"build_functional_mlp: the output layer should be Dense(10) with activation='softmax' "
                           f"so that the 10 outputs are class probabilities; it is {found}.")


@graded("build_functional_mlp", 2)
def test_mlp_hidden_layers(submission):
    """Exercise 1: the layers from input to output are Dense(32, relu) → Dense(32, relu) → Dense(10, softmax)."""
    stack = dense_stack(_mlp(submission, shared=True), "build_functional_mlp")
    expected = [(32, "relu"), (32, "relu"), (10, "softmax")]
    if stack != expected:
        raise GradeFailure(f"build_functional_mlp: expected Dense(32, relu) → Dense(32, relu) → "
                           f"Dense(10, softmax), found {describe_stack(stack)}; give each hidden Dense(32) "
                           "activation='relu' and nothing else.")


@graded("build_functional_mlp", 1)
def test_mlp_is_functional(submission):
    """Exercise 1: the model is built with keras.Model(inputs, outputs), not keras.Sequential."""
    model = _mlp(submission, shared=True)
    if isinstance(model, keras.Sequential):
        raise GradeFailure("build_functional_mlp returned a Sequential model: build it with keras.Input, call the "
                           "layers on tensors and return keras.Model(inputs, outputs).")


@graded("build_functional_mlp", 1, hidden=True)
def test_mlp_learns(submission):
    """Exercise 1: its outputs are class probabilities (rows of non-negative numbers that sum to 1, what sparse
    categorical cross-entropy reads), and compiled with Adam and that loss, a short fit lowers the loss.

    Hidden: the student edition does not contain this test; teachers' grading runs it."""
    model = _mlp(submission)  # a model of its own: it is compiled and trained
    rng = run_rng("build_functional_mlp", "learns")  # new rows every grading run
    x = rng.random((MLP_FIT[0], 64)).astype("float32")
    x[np.arange(len(x)), rng.integers(0, 10, len(x))] += 3.0  # one of the first ten pixels stands out
    y = (x[:, :10].argmax(axis=1)).astype("int64")  # a learnable rule: which of the first ten pixels is brightest
    what = "training the model from build_functional_mlp"
    # Keras' cross-entropy rescales outputs that are not probabilities, and the loss it then reports falls in some
    # runs and not in others: the verdict would depend on the draw. Outputs that are not probabilities fail here,
    # whatever the draw.
    p = np.asarray(submission.run(what, predict, model, x), dtype="float64")
    sums = p.sum(axis=-1)
    if p.ndim != 2 or p.min() < -1e-6 or not np.allclose(sums, 1.0, atol=1e-3):
        found = (f"values down to {p.min():.3g}" if p.min() < -1e-6 else
                 f"rows summing to {sums.min():.3g}…{sums.max():.3g}") if p.ndim == 2 else f"shape {p.shape}"
        raise GradeFailure(f"build_functional_mlp: the outputs are not class probabilities ({found}), so the sparse "
                           "categorical cross-entropy the model is trained with has no meaning; end with "
                           "Dense(10, activation='softmax').")
    samples, epochs, batch_size, rate = MLP_FIT
    before = float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0)).mean())  # the loss of these outputs
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy")
    history = submission.run(what, fit, model, x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    after = float(history.history["loss"][-1])
    if not (np.isfinite(after) and after < 0.8 * before):
        raise GradeFailure(f"build_functional_mlp: {epochs} epochs of training on {samples} rows took the loss from "
                           f"{before:.3f} (before training) only to {after:.3f} (last epoch); check the activations "
                           "(softmax on the output, relu inside).")


# ---------------------------------------------------------------------------------------------- exercise 2


def _drawn_weights(model: keras.Model, *stream: object) -> keras.Model:
    """Give the grader's model weights drawn for this grading run (as if trained): nothing a check compares is
    known before the run."""
    rng = run_rng("weights", model.name, *stream)
    model.set_weights([rng.normal(0.0, 0.5, w.shape).astype(w.dtype) for w in weight_arrays(model)])
    return model


def _sequentials() -> list[keras.Sequential]:
    fresh_session()
    first = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")], name="classic")
    second = keras.Sequential([keras.Input((5,)), keras.layers.Dense(7, activation="tanh"),
                               keras.layers.Dropout(0.5), keras.layers.Dense(3)], name="other")
    return [_drawn_weights(first), _drawn_weights(second)]


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
        x = random_batch((8,) + tuple(seq.input_shape[1:]), "to_functional", seq.name)  # new rows every run
        want = predict(seq, x)
        try:
            got = predict(model, x)
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


@graded("to_functional", 1)
def test_to_functional_new_input(submission):
    """Exercise 2: the new model starts from a new keras.Input, not from the Sequential model's own input."""
    for seq, model in _converted(submission):
        own = {id(input_layer(t)) for t in seq.inputs}
        if any(id(input_layer(t)) in own for t in model.inputs):
            raise GradeFailure(f"to_functional: for the Sequential model '{seq.name}' the new model starts from the "
                               "Sequential model's own input (model.inputs); create a new "
                               "keras.Input(shape=model.input_shape[1:]) and call the layers on it.")


@graded("to_functional", 1)
def test_to_functional_input_shape(submission):
    """Exercise 2: the new model has one input, of the Sequential model's input shape (tried on two models)."""
    for seq, model in _converted(submission):
        want = tuple(seq.input_shape)
        found = [tuple(t.shape) for t in model.inputs]
        if found != [want]:
            shapes = ", ".join(shape_str(f) for f in found) or "none"
            raise GradeFailure(f"to_functional: for the Sequential model '{seq.name}' the new model should have one "
                               f"input of shape {shape_str(want)} (batch first), it has {shapes}; create it with "
                               "keras.Input(shape=model.input_shape[1:]).")


@graded("to_functional", 1)
def test_to_functional_no_new_layers(submission):
    """Exercise 2: no new layers: apart from its Input, the new model holds only the Sequential model's layers (a
    model of the student's own that wraps them is read through)."""
    for seq, model in _converted(submission):
        own = {id(layer) for layer in seq.layers} | {id(seq)}
        new = [layer for layer in Graph.of(model, keep=[seq]).layers if id(layer) not in own]
        if new:
            names = ", ".join(f"'{layer.name}' ({type(layer).__name__})" for layer in new)
            raise GradeFailure(f"to_functional: for the Sequential model '{seq.name}' the new model holds new layers "
                               f"({names}); call only the Sequential model's own layers (model.layers), and add "
                               "no layers of your own.")


@graded("to_functional", 1)
def test_to_functional_calls_layers_in_order(submission):
    """Exercise 2: the Sequential model's own layers are called one after the other on the new Input, each on
    the previous one's output (directly, or inside a model of the student's own)."""
    for seq, model in _converted(submission):
        # read through models of the student's own (the given Sequential stays one layer: calling it whole is not
        # calling its layers)
        graph = Graph.of(model, keep=[seq])
        path, call = [], graph.outputs[0] if len(model.outputs) == 1 else None
        while call is not None and type(call.layer).__name__ != "InputLayer":
            path.append(call.layer)
            once = len(graph.calls_of(call.layer)) == 1 and len(call.inputs) == 1
            call = call.inputs[0] if once else None
        layer = call.layer if call is not None else None
        path.reverse()
        if layer is not None and len(path) == len(seq.layers) and all(a is b for a, b in zip(path, seq.layers)):
            continue
        wanted = " → ".join(f"'{layer.name}'" for layer in seq.layers)
        if any(step is seq for step in path):
            found = f"the Sequential model '{seq.name}' itself, called as one layer"
        else:
            found = " → ".join(f"'{step.name}'" + ("" if any(step is own for own in seq.layers) else " (new)")
                               for step in path) or "no layers"
            if layer is None:
                found += " (then a layer called more than once or receiving several tensors)"
        raise GradeFailure(f"to_functional: from the new Input the model should call the Sequential model's layers "
                           f"{wanted}, one after the other; found {found}. Loop over model.layers, every one of "
                           "them (Dropout too), calling each on the previous output.")


# ---------------------------------------------------------------------------------------------- exercise 3


def _trained_like_model() -> keras.Model:
    fresh_session()
    pixels = keras.Input((64,), name="pixels")
    h1 = keras.layers.Dense(32, activation="relu", name="hidden_1")(pixels)
    h2 = keras.layers.Dense(16, activation="relu", name="hidden_2")(h1)
    out = keras.layers.Dense(10, activation="softmax", name="digit")(h2)
    return _drawn_weights(keras.Model(pixels, out, name="given"))


def _two_input_model() -> keras.Model:
    """A given model with two inputs, whose layer 'joined' reads both."""
    fresh_session()
    image, extra = keras.Input((64,), name="pixels"), keras.Input((5,), name="extra")
    joined = keras.layers.Dense(8, activation="relu", name="joined")(keras.layers.concatenate([image, extra]))
    out = keras.layers.Dense(10, activation="softmax", name="digit")(joined)
    return keras.Model([image, extra], out, name="given_two_inputs")


@graded("feature_extractor", 2)
def test_feature_extractor_outputs(submission):
    """Exercise 3: the extractor has one output, the named inner layer's own output (tried on two layers)."""
    model = _trained_like_model()
    x = random_batch((6, 64), "feature_extractor")
    for name in ("hidden_1", "hidden_2"):
        extractor = submission.model("feature_extractor", model, name)
        layer = model.get_layer(name)
        if len(extractor.outputs) != 1:
            raise GradeFailure(f"feature_extractor: for layer_name='{name}' the extractor should have one output, "
                               f"that layer's output; it has {len(extractor.outputs)}. Use "
                               "model.get_layer(layer_name).output as its outputs.")
        made_by = producer(extractor.outputs[0])
        if made_by is not layer:
            what = (f"a new layer '{made_by.name}' (a copy)" if made_by.name == name
                    else f"'{made_by.name}' ({type(made_by).__name__})")
            raise GradeFailure(f"feature_extractor: for layer_name='{name}' the output is produced by {what}, not by "
                               f"the given model's layer '{name}' itself; use model.get_layer(layer_name).output as "
                               "it is.")
        reference = keras.Model(model.inputs, layer.output)
        try:
            got = predict(extractor, x)
        except Exception as error:  # noqa: BLE001
            raise GradeFailure(f"feature_extractor: the extractor for '{name}' does not take the model's inputs "
                               f"({type(error).__name__}); use model.inputs as its inputs.") from None
        if not close(got, predict(reference, x)):
            shape = getattr(got, "shape", None)
            raise GradeFailure(f"feature_extractor: for layer_name='{name}' the output (shape {shape}) is not that "
                               f"layer's output; use model.get_layer(layer_name).output.")


@graded("feature_extractor", 1)
def test_feature_extractor_shares_weights(submission):
    """Exercise 3: the extractor reuses the model's trained layers (no copies, no new layers): its layers and
    variables are the model's own."""
    model = _trained_like_model()
    extractor = submission.model("feature_extractor", model, "hidden_2")
    own = {id(layer) for layer in model.layers}
    new = [layer for layer in extractor.layers if id(layer) not in own and type(layer).__name__ != "InputLayer"]
    if new:
        names = ", ".join(f"'{layer.name}' ({type(layer).__name__})" for layer in new)
        raise GradeFailure(f"feature_extractor: the extractor holds layers that are not the given model's own "
                           f"({names}); build it from model.inputs and model.get_layer(layer_name).output, which "
                           "reuse the trained layers, instead of copies or new layers.")
    wanted = model.get_layer("hidden_1").weights + model.get_layer("hidden_2").weights
    if not same_variables(extractor.weights, wanted):
        raise GradeFailure("feature_extractor: the extractor's weights are not the given model's own variables "
                           "(up to the named layer); build it from model.inputs and the layer's output instead of "
                           "new layers.")


@graded("feature_extractor", 1)
def test_feature_extractor_inputs(submission):
    """Exercise 3: the extractor's inputs are the given model's own inputs, all of them (model.inputs; tried on a
    model with one input and on one with two)."""
    for model, name in ((_trained_like_model(), "hidden_1"), (_two_input_model(), "joined")):
        names = ", ".join(f"'{t.name}'" for t in model.inputs)
        try:
            extractor = submission.model("feature_extractor", model, name)
        except GradeFailure as failure:
            if len(model.inputs) == 1:
                raise
            raise GradeFailure(f"feature_extractor: on a model with the inputs {names}, {failure} The extractor "
                               "should take all of the model's inputs: use model.inputs.") from None
        found = [input_layer(t) for t in extractor.inputs]
        wanted = [input_layer(t) for t in model.inputs]
        if len(found) != len(wanted) or any(all(f is not w for f in found) for w in wanted):
            new = ", ".join(f"'{layer.name}'" + ("" if any(layer is w for w in wanted) else " (a new Input)")
                            for layer in found) or "none"
            raise GradeFailure(f"feature_extractor: the extractor should take the given model's own inputs "
                               f"({names}), it takes {new}; use model.inputs itself, not new keras.Input tensors.")


# ---------------------------------------------------------------------------------------------- exercise 4


# SimpleDense is a class: it cannot travel to the grader. Its structure (it subclasses keras.layers.Layer itself, makes
# its weights in build, defines call and get_config) is read here from the submitted source, parsed and never run
# (gradekit.source). Its behaviour is checked on outputs: the worker builds it with sizes, weights and inputs drawn
# here afresh for every grading run (gradekit.probes.probe_layer_class), and the checks below compare what comes back
# with what the grader computes itself, so only a layer that computes them can pass.

LAYER = "SimpleDense"


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def _sizes(rng: np.random.Generator) -> tuple[int, int]:
    """(input_dim, units), different from each other, so that the kernel and the bias cannot be mistaken."""
    dim, units = (int(n) for n in rng.choice(np.arange(3, 13), size=2, replace=False))
    return dim, units


def _spec(rng: np.random.Generator, activation: str | None, **kwargs: Any) -> dict:
    dim, units = _sizes(rng)
    normal = lambda *shape: rng.normal(size=shape).astype("float32")  # noqa: E731
    return {"kwargs": {"units": units, "activation": activation, **kwargs}, "input_dim": dim,
            "kernel": normal(dim, units), "bias": normal(units), "x": normal(int(rng.integers(3, 9)), dim)}


def _plan() -> dict:
    rng = run_rng(LAYER, "plan")  # fresh values every run (the class seed's, in a batch): an answer must compute them
    save = _spec(rng, "relu", name=f"simple_{rng.integers(1000, 9999)}")
    save.update({"dense_kernel": rng.normal(size=(save["kwargs"]["units"], 2)).astype("float32"),
                 "dense_bias": rng.normal(size=2).astype("float32")})
    return {"cases": [_spec(rng, "relu"), _spec(rng, None)],
            "config": _spec(rng, "relu", name=f"mine_{rng.integers(1000, 9999)}"),
            "save": save}


def _want(spec: dict, activation: Any = None) -> np.ndarray:
    """What a Dense layer computes with the plan's kernel and bias on its inputs, in float64."""
    z = spec["x"].astype("float64") @ spec["kernel"] + spec["bias"]
    act = activation or (_relu if spec["kwargs"]["activation"] == "relu" else (lambda v: v))
    return act(z)


def _label(spec: dict) -> str:
    kwargs = ", ".join(f"{k}={v!r}" for k, v in spec["kwargs"].items())
    return f"SimpleDense({kwargs})"


def _structure(submission: Submission) -> Any:
    """The class statement, read from the source: it must subclass keras.layers.Layer itself."""
    _, _, facts = submission.observe_class(LAYER, "layer_class", _plan, _label)
    if facts is None:
        raise GradeFailure(f"the submission defines no class {LAYER} (write `class {LAYER}(keras.layers.Layer):`).")
    if facts.problem:
        raise GradeFailure(f"{LAYER}: {facts.problem}; write `class {LAYER}(keras.layers.Layer):`.")
    if facts.base_kind != "Layer":
        base = source_facts.describe_base(facts)
        if facts.base_kind:
            raise GradeFailure(f"{LAYER} subclasses {base}, a layer Keras already has; the exercise is to write a "
                               "Dense layer from scratch: subclass keras.layers.Layer and create the kernel and the "
                               "bias yourself in build().")
        raise GradeFailure(f"{LAYER} must subclass keras.layers.Layer; it subclasses {base}.")
    missing = [m for m in ("build", "call", "get_config") if not facts.defines(m)]
    if missing:
        raise GradeFailure(f"{LAYER} defines no {' and no '.join(f'{m}()' for m in missing)}; the exercise asks for "
                           "__init__, build, call and get_config.")
    return facts


def _observe(submission: Submission) -> tuple[dict, dict]:
    """The plan and what the worker observed, once per submission (after the class statement was read)."""
    _structure(submission)
    plan, seen, _ = submission.observe_class(LAYER, "layer_class", _plan, _label)
    if not seen.get("is_layer_class"):
        raise GradeFailure(f"{LAYER} must be a class that subclasses keras.layers.Layer (it is a "
                           f"{seen.get('kind', '?')}).")
    return plan, seen


def _case(submission: Submission, index: int) -> tuple[dict, dict]:
    plan, seen = _observe(submission)
    spec, case = plan["cases"][index], seen["cases"][index]
    for step, what in (("create", f"creating {_label(spec)}"),
                       ("symbolic_call", f"calling {_label(spec)} on a (None, {spec['input_dim']}) input")):
        reason = probe_failure(case.get(step))
        if reason:
            raise GradeFailure(f"{what} failed: {reason}.")
    return spec, case


def _outputs(record: dict, key: str, what: str) -> np.ndarray:
    reason = probe_failure(record.get(key)) or ("" if record.get(key) is not None else "it did not run")
    if reason:
        raise GradeFailure(f"{what} failed: {reason}.")
    return np.asarray(record[key])


@graded(LAYER, 1)
def test_simple_dense_output_shape(submission):
    """Exercise 4: SimpleDense(units) called on a keras.Input of shape (None, input_dim), inside a functional model,
    outputs shape (None, units) (sizes drawn afresh)."""
    spec, case = _case(submission, 0)
    got = _outputs(case, "functional_outputs", f"predicting with a functional model around {_label(spec)}")
    want = (len(spec["x"]), spec["kwargs"]["units"])
    if got.shape != want:
        raise GradeFailure(f"{_label(spec)} on inputs of shape (None, {spec['input_dim']}) should output shape "
                           f"(None, {want[1]}); on a batch of {want[0]} it outputs {shape_str(got.shape)}.")


@graded(LAYER, 1)
def test_simple_dense_weights(submission):
    """Exercise 4: build() creates the weights with self.add_weight, __init__ creates none; the layer has two
    trainable weights, kernel (input_dim, units) and bias (units,), and computes with them."""
    facts = _structure(submission)
    if facts.reachable_calls("__init__", ("add_weight", "add_variable")):
        raise GradeFailure(f"{LAYER} creates weights in __init__; create them in build(), where the input dimension "
                           "is known.")
    made = facts.reachable_calls("build", ("add_weight", "add_variable"))
    if not made:
        raise GradeFailure(f"{LAYER}.build() creates no weights; create the kernel and the bias there with "
                           "self.add_weight(shape=..., initializer=...).")
    if any(k.arg == "trainable" and not (isinstance(k.value, ast.Constant) and k.value.value is True)
           for call in made for k in call.keywords):
        raise GradeFailure(f"{LAYER}.build() makes a weight that is not trainable (trainable=...); leave the kernel "
                           "and the bias trainable.")
    spec, case = _case(submission, 0)
    dim, units = spec["input_dim"], spec["kwargs"]["units"]
    shapes = sorted(tuple(s) for s in case.get("trainable_shapes") or [])
    if shapes != sorted([(units,), (dim, units)]) or case.get("non_trainable_count"):
        raise GradeFailure(f"{_label(spec)} on {dim} input features should have trainable weights of shapes "
                           f"({dim}, {units}) and ({units},) and no others, it has {shapes}"
                           + (f" and {case['non_trainable_count']} non-trainable" if case.get("non_trainable_count")
                              else "") + ".")
    got = _outputs(case, "outputs", f"calling {_label(spec)} on data with a given kernel and bias")
    if not any(close(got, _want(spec, fn), atol=1e-4) for fn in (_relu, lambda z: z)):
        raise GradeFailure(f"{_label(spec)} given a kernel of shape ({dim}, {units}) and a bias of shape ({units},) "
                           "does not compute inputs @ kernel + bias with them (before the activation); use "
                           "self.kernel and self.bias in call().")


@graded(LAYER, 2)
def test_simple_dense_computes(submission):
    """Exercise 4: the layer computes activation(inputs @ kernel + bias), for relu and for no activation, called on
    data and inside a functional model (weights and inputs drawn afresh)."""
    for index in (0, 1):
        spec, case = _case(submission, index)
        label = "activation='relu'" if spec["kwargs"]["activation"] == "relu" else "no activation"
        for key, how in (("outputs", "called on data"), ("functional_outputs", "inside a functional model")):
            got = _outputs(case, key, f"SimpleDense with {label}, {how},")
            if not close(got, _want(spec), atol=1e-4):
                raise GradeFailure(f"SimpleDense with {label}, {how}, does not compute activation(inputs @ kernel "
                                   "+ bias).")


@graded(LAYER, 1)
def test_simple_dense_config(submission):
    """Exercise 4: get_config() holds units, activation and the name, and from_config rebuilds a layer that
    computes the same."""
    plan, seen = _observe(submission)
    spec, record = plan["config"], seen.get("config") or {}
    reason = probe_failure(record.get("create")) or probe_failure(record.get("config"))
    if reason:
        raise GradeFailure(f"{_label(spec)}.get_config() failed: {reason}.")
    config = record.get("config")
    if not isinstance(config, dict) or set(config) == {"error"}:
        raise GradeFailure(f"SimpleDense.get_config() should return a dict, it {(config or {}).get('error', '')}.")
    if "units" not in config or "activation" not in config:
        missing = [k for k in ("units", "activation") if k not in config]
        raise GradeFailure(f"SimpleDense.get_config() lacks {', '.join(missing)}; add them to the base config.")
    try:
        activation = keras.activations.get(config["activation"]).__name__
    except Exception:  # noqa: BLE001 - whatever the student stored
        activation = repr(config["activation"])
    units, name = spec["kwargs"]["units"], spec["kwargs"]["name"]
    if config["units"] != units or activation != "relu" or config.get("name") != name:
        raise GradeFailure(f"{_label(spec)}.get_config() holds units={config['units']!r}, activation "
                           f"{activation!r} and name={config.get('name')!r}; store the constructor's arguments and "
                           "start from super().get_config() (which holds the name).")
    reason = probe_failure(record.get("round_trip"))
    if reason:
        raise GradeFailure(f"SimpleDense.from_config(layer.get_config()) failed: {reason}.")
    clone = record.get("round_trip") or {}
    if clone.get("name") != name:
        raise GradeFailure("SimpleDense.from_config(get_config()) does not keep the layer's name; pass **kwargs on "
                           "to super().__init__.")
    got = _outputs(record, "outputs", "the layer made again with from_config, given a kernel and a bias,")
    if not close(got, _want(spec), atol=1e-4):
        raise GradeFailure("the layer made again with SimpleDense.from_config(get_config()) does not compute "
                           f"relu(inputs @ kernel + bias) with units={units}: store the constructor's arguments "
                           "(units, activation) in get_config().")


@graded(LAYER, 1)
def test_simple_dense_save_load(submission):
    """Exercise 4: a model using SimpleDense survives a .keras save and load with identical predictions."""
    plan, seen = _observe(submission)
    record = seen.get("save") or {}
    reason = probe_failure(record.get("outputs"))
    if reason:
        raise GradeFailure(f"saving and loading a model with SimpleDense failed: {reason}; check get_config().")
    drawn = plan["save"]
    want = _want(drawn) @ drawn["dense_kernel"] + drawn["dense_bias"]
    if not close(record.get("outputs"), want, atol=1e-4):
        raise GradeFailure("after save and load, the model with SimpleDense predicts different values.")
