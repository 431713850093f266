"""Grader for lesson 08 — three ways to build a model (20 points).

``SubclassedMLP`` is a class, which cannot travel to the grader. Its class statement (it subclasses ``keras.Model``,
not ``Sequential``; its ``__init__`` does not build a functional model; it defines ``call`` and ``get_config``) is read
here from the submitted source, parsed and never run (``gradekit.source``). Its behaviour: the worker builds it with
sizes, weights and inputs drawn here afresh for every grading run (``gradekit.probes.probe_model_class``) and reports
the outputs; the checks compare them with what the grader computes itself (the functional MLP's computation, in
NumPy). The output shape, parameter count, weight shapes and trainable flags it reports word the feedback and decide
the tests about them: the README lists them as resting on the worker's word.
``build_ensemble`` receives models built here and must call *them*, once each, on one new input, and average their
outputs; the graph it returns is read here, and its predictions are compared with the members' own.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from gradekit import source as source_facts
from gradekit.harness import (
    GradeFailure,
    Submission,
    close,
    expect_inputs,
    expect_outputs,
    fresh_session,
    graded,
    model_nodes,
    predict,
    probe_failure,
    producer,
    random_batch,
    run_rng,
    shape_str,
    weight_arrays,
)

L = keras.layers

# ---------------------------------------------------------------------------------------------- exercise 1

CLASS = "SubclassedMLP"


def _sizes(rng: np.random.Generator) -> tuple[int, int, int]:
    """(input width, units, classes), drawn afresh: all different, so weights in the wrong order cannot fit, and
    never 10 classes (the digits), so a hard-coded 10 shows."""
    width, units, classes = (int(n) for n in rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 11, 12], size=3, replace=False))
    return width, units, classes


def _relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _shapes(width: int, units: int, classes: int) -> list[tuple[int, ...]]:
    """The functional MLP's weight shapes, in its order: kernel and bias of each layer, input to output."""
    return [(width, units), (units,), (units, units), (units,), (units, classes), (classes,)]


def _mlp(weights: list[np.ndarray], x: np.ndarray, hidden=_relu, output=_softmax) -> np.ndarray:
    """What the functional MLP computes, in float64 (``hidden`` and ``output``: other activations, for feedback)."""
    w1, b1, w2, b2, w3, b3 = (np.asarray(w, "float64") for w in weights)
    return output(hidden(hidden(np.asarray(x, "float64") @ w1 + b1) @ w2 + b2) @ w3 + b3)


# What a wrong model may compute instead, for the feedback: (description, function of the weights and inputs)
OTHER_COMPUTATIONS = [
    ("the logits, without the softmax on the output layer", lambda w, x: _mlp(w, x, output=lambda z: z)),
    ("a sigmoid instead of the softmax on the output layer", lambda w, x: _mlp(w, x, output=_sigmoid)),
    ("tanh instead of relu in the hidden layers", lambda w, x: _mlp(w, x, hidden=np.tanh)),
    ("no activation in the hidden layers", lambda w, x: _mlp(w, x, hidden=lambda z: z)),
]


def _spec(rng: np.random.Generator, width: int, units: int, classes: int) -> dict:
    return {"kwargs": {"units": units, "num_classes": classes}, "input_dim": width,
            "weights": [rng.normal(scale=0.5, size=shape).astype("float32")
                        for shape in _shapes(width, units, classes)],
            "x": rng.normal(size=(6, width)).astype("float32")}


def _plan() -> dict:
    rng = run_rng(CLASS, "plan")  # fresh values every run (the class seed's, in a batch): an answer must compute them
    config = _spec(rng, *_sizes(rng))
    config["kwargs"]["name"] = f"mine_{rng.integers(1000, 9999)}"
    return {"cases": [_spec(rng, *_sizes(rng)) for _ in range(2)], "symbolic": _spec(rng, *_sizes(rng)),
            "config": config, "save": _spec(rng, *_sizes(rng))}


def _structure(submission: Submission) -> source_facts.ClassFacts:
    """The class statement, read from the source: a subclass of keras.Model itself."""
    _, _, facts = submission.observe_class(CLASS, "model_class", _plan, _label)
    if facts is None:
        raise GradeFailure(f"{CLASS} must be a class that subclasses keras.Model; the submission defines no class "
                           f"{CLASS} (write `class {CLASS}(keras.Model):`).")
    if facts.problem:
        raise GradeFailure(f"{CLASS}: {facts.problem}; write `class {CLASS}(keras.Model):`.")
    if facts.base_kind == "Sequential":
        raise GradeFailure(f"{CLASS} subclasses keras.Sequential; subclass keras.Model, create the layers in "
                           "__init__ and apply them in call().")
    if facts.base_kind == "Layer":
        raise GradeFailure(f"{CLASS} must be a class that subclasses keras.Model (it is a subclass of "
                           "keras.layers.Layer, not of keras.Model).")
    if facts.base_kind != "Model":
        raise GradeFailure(f"{CLASS} must be a class that subclasses keras.Model; it subclasses "
                           f"{source_facts.describe_base(facts)}.")
    return facts


def _observe(submission: Submission) -> tuple[dict, dict]:
    """The plan and what the worker observed, once per submission (after the class statement was read)."""
    _structure(submission)
    plan, seen, _ = submission.observe_class(CLASS, "model_class", _plan, _label)
    if not seen.get("is_model_class"):
        raise GradeFailure(f"{CLASS} must be a class that subclasses keras.Model (it is a {seen.get('kind', '?')}).")
    return plan, seen


def _label(spec: dict) -> str:
    return f"{CLASS}(units={spec['kwargs']['units']}, num_classes={spec['kwargs']['num_classes']})"


def _ready(spec: dict, record: dict, steps: tuple[str, ...] = ("create", "call")) -> None:
    """Fail with the reason if creating the model or calling it on data failed."""
    width = spec["input_dim"]
    what = {"create": f"creating {_label(spec)}",
            "call": f"calling {_label(spec)} on a batch of shape (2, {width})",
            "measure": f"counting the parameters of {_label(spec)}"}
    for step in steps:
        reason = probe_failure(record.get(step)) or ("" if record.get(step) is not None else "it did not run")
        if reason:
            raise GradeFailure(f"{what[step]} failed: {reason}.")


def _cases(submission: Submission, steps: tuple[str, ...] = ("create", "call")) -> list[tuple[dict, dict]]:
    plan, seen = _observe(submission)
    pairs = list(zip(plan["cases"], seen.get("cases") or []))
    for spec, record in pairs:
        _ready(spec, record, steps)
    return pairs


def _compare(label: str, spec: dict, got: Any) -> None:
    """Fail unless ``got`` is what the functional MLP computes with the plan's weights on its inputs."""
    want = _mlp(spec["weights"], spec["x"])
    if close(got, want, atol=1e-4):
        return
    shape = np.shape(got)
    if shape != want.shape:
        raise GradeFailure(f"{label} returns shape {shape_str(shape)} for inputs of shape "
                           f"{shape_str(spec['x'].shape)}; it should return {shape_str(want.shape)}.")
    what = next((text for text, fn in OTHER_COMPUTATIONS if close(got, fn(spec["weights"], spec["x"]), atol=1e-4)),
                None)
    found = f" it computes {what}" if what else " it computes something else"
    raise GradeFailure(f"{label} predicts different values from the functional MLP with the same weights:{found}. "
                       "It should compute softmax(relu(relu(x·W1 + b1)·W2 + b2)·W3 + b3): apply hidden_1, hidden_2 "
                       "(relu) and the output layer (softmax) in that order in call().")


@graded(CLASS, 1)
def test_subclassed_mlp_is_a_model_subclass(submission):
    """Exercise 1: SubclassedMLP subclasses keras.Model (not Sequential), and an instance computes with its own
    call(), not as a functional model built in __init__."""
    facts = _structure(submission)
    if any(call.args or any(k.arg in ("inputs", "outputs") for k in call.keywords)
           for call in facts.super_init_calls()):
        raise GradeFailure(f"{CLASS} is a functional model (its __init__ passes inputs and outputs to "
                           "super().__init__); the exercise asks for the subclassing style: create the layers in "
                           "__init__ and apply them in call().")
    if not facts.defines("call"):
        raise GradeFailure(f"{CLASS} defines no call(); write the forward pass in call(self, inputs).")
    plan, seen = _observe(submission)
    _ready(plan["cases"][0], (seen.get("cases") or [{}])[0], ("create",))


@graded(CLASS, 1)
def test_subclassed_mlp_output_shape(submission):
    """Exercise 1: called on a batch of shape (2, width), it returns one probability per class, shape
    (2, num_classes) (tried with two sets of sizes)."""
    for spec, record in _cases(submission):
        shape = tuple(record.get("output_shape") or ())
        classes = spec["kwargs"]["num_classes"]
        if shape != (2, classes):
            raise GradeFailure(f"{_label(spec)} called on a batch of shape (2, {spec['input_dim']}) returns shape "
                               f"{shape_str(shape)}; it should return (2, {classes}): one probability per class.")


@graded(CLASS, 1)
def test_subclassed_mlp_parameter_count(submission):
    """Exercise 1: it has the functional MLP's number of parameters, (width·units + units) + (units·units + units)
    + (units·num_classes + num_classes) (tried with two sets of sizes)."""
    for spec, record in _cases(submission, ("create", "call", "measure")):
        width, units, classes = spec["input_dim"], spec["kwargs"]["units"], spec["kwargs"]["num_classes"]
        want = sum(int(np.prod(shape)) for shape in _shapes(width, units, classes))
        if record.get("parameters") != want:
            raise GradeFailure(f"{_label(spec)} on {width} input features has {record.get('parameters')} "
                               f"parameters; the functional MLP of the same sizes has {want}: two hidden "
                               f"Dense({units}) layers and an output Dense({classes}), with biases.")


@graded(CLASS, 1)
def test_subclassed_mlp_weight_order(submission):
    """Exercise 1: its weights, all trainable, come in the functional MLP's order: kernel and bias of each layer
    from the input to the output, shapes (width, units), (units,), (units, units), (units,), (units, num_classes),
    (num_classes,)."""
    for spec, record in _cases(submission, ("create", "call", "measure")):
        width, units, classes = spec["input_dim"], spec["kwargs"]["units"], spec["kwargs"]["num_classes"]
        want = _shapes(width, units, classes)
        found = [tuple(shape) for shape in record.get("weight_shapes") or []]
        listed = ", ".join(shape_str(s) for s in found) or "none"
        if found != want:
            if sorted(found) == sorted(want):
                raise GradeFailure(f"{_label(spec)} lists its weights in the order {listed}, not the functional "
                                   f"MLP's {', '.join(shape_str(s) for s in want)}: Keras lists a model's weights "
                                   "in the order its layers were assigned in __init__; create hidden_1, hidden_2 "
                                   "and the output layer in that order.")
            raise GradeFailure(f"{_label(spec)} on {width} input features has weights of shapes {listed}; the "
                               f"functional MLP has {', '.join(shape_str(s) for s in want)}.")
        if record.get("trainable_count") != len(want):
            raise GradeFailure(f"only {record.get('trainable_count')} of the {len(want)} weights of {_label(spec)} "
                               "are trainable; leave every layer trainable.")


@graded(CLASS, 2)
def test_subclassed_mlp_same_predictions(submission):
    """Exercise 1: given the functional MLP's weights with set_weights, it predicts exactly what the functional
    MLP predicts (tried with two sets of sizes, weights and inputs drawn afresh)."""
    for spec, record in _cases(submission):
        reason = probe_failure(record.get("outputs"))
        if reason:
            raise GradeFailure(f"setting the functional MLP's weights on {_label(spec)} with set_weights, then "
                               f"predicting, failed: {reason}.")
        _compare(_label(spec), spec, record.get("outputs"))


@graded(CLASS, 1)
def test_subclassed_mlp_inside_a_functional_model(submission):
    """Exercise 1: called on a keras.Input, it works inside a functional model, which then computes what the
    functional MLP computes."""
    plan, seen = _observe(submission)
    spec, record = plan["symbolic"], seen.get("symbolic") or {}
    _ready(spec, record, ("create",))
    reason = probe_failure(record.get("call"))
    if reason:
        raise GradeFailure(f"calling {_label(spec)} on keras.Input(shape=({spec['input_dim']},)), inside a "
                           f"functional model, failed: {reason}. Compute with Keras layers and keras.ops (not "
                           "NumPy), which work on symbolic tensors too.")
    shape = tuple(record.get("output_shape") or ())
    classes = spec["kwargs"]["num_classes"]
    if shape != (None, classes):
        raise GradeFailure(f"{_label(spec)} called on keras.Input(shape=({spec['input_dim']},)) returns shape "
                           f"{shape_str(shape)}; it should return (None, {classes}).")
    reason = probe_failure(record.get("outputs"))
    if reason:
        raise GradeFailure(f"the functional model around {_label(spec)} failed to predict: {reason}.")
    _compare(f"the functional model around {_label(spec)}", spec, record.get("outputs"))


@graded(CLASS, 1)
def test_subclassed_mlp_config(submission):
    """Exercise 1: get_config() holds units and num_classes with the base config, and SubclassedMLP.from_config
    rebuilds a model of the same sizes and name, which computes what the functional MLP computes."""
    if not _structure(submission).defines("get_config"):
        raise GradeFailure(f"{CLASS} defines no get_config(): for a subclassed model Keras cannot write one (its "
                           "get_config() raises NotImplementedError), so the model cannot be rebuilt or loaded "
                           "back; return the base config plus units and num_classes.")
    plan, seen = _observe(submission)
    spec, record = plan["config"], seen.get("config") or {}
    label = f"{_label(spec)[:-1]}, name={spec['kwargs']['name']!r})"
    units, classes, name = spec["kwargs"]["units"], spec["kwargs"]["num_classes"], spec["kwargs"]["name"]
    reason = probe_failure(record.get("create"))
    if reason:
        raise GradeFailure(f"creating {label} failed: {reason}.")
    reason = probe_failure(record.get("config"))
    config = record.get("config")
    if reason or not isinstance(config, dict) or set(config) == {"error"}:
        detail = reason or (config or {}).get("error", "returned nothing")
        raise GradeFailure(f"{label}.get_config() failed: {detail}.")
    missing = [key for key in ("units", "num_classes") if key not in config]
    if missing:
        raise GradeFailure(f"{CLASS}.get_config() lacks {', '.join(missing)}; add them to the base config "
                           "(config = super().get_config(), then config.update(...)).")
    if config["units"] != units or config["num_classes"] != classes:
        raise GradeFailure(f"{label}.get_config() holds units={config['units']!r} and "
                           f"num_classes={config['num_classes']!r}; store the constructor's arguments.")
    if config.get("name") != name:
        raise GradeFailure(f"{CLASS}.get_config() lacks the base config (the name, for one); start from "
                           "super().get_config().")
    reason = probe_failure(record.get("round_trip"))
    if reason:
        raise GradeFailure(f"{CLASS}.from_config(model.get_config()) failed: {reason}.")
    clone = record.get("round_trip") or {}
    if clone.get("name") != name:
        raise GradeFailure(f"{CLASS}.from_config(get_config()) does not give back the name {name!r}; pass **kwargs "
                           "on to super().__init__.")
    reason = probe_failure(record.get("outputs"))
    if reason:
        raise GradeFailure(f"the model made again with {CLASS}.from_config(get_config()), given the functional MLP's "
                           f"weights with set_weights, failed to predict: {reason}.")
    _compare(f"the model made again with {CLASS}.from_config(get_config())", spec, record.get("outputs"))


@graded(CLASS, 1)
def test_subclassed_mlp_save_load(submission):
    """Exercise 1: a model saved in the .keras format loads back (given the class) and predicts the same."""
    plan, seen = _observe(submission)
    spec, record = plan["save"], seen.get("save") or {}
    _ready(spec, record)
    reason = probe_failure(record.get("weights"))
    if reason:
        raise GradeFailure(f"setting the functional MLP's weights on {_label(spec)} with set_weights, before saving "
                           f"it, failed: {reason}.")
    reason = probe_failure(record.get("outputs"))
    if reason and not _structure(submission).defines("get_config"):
        raise GradeFailure(f"saving {_label(spec)} in the .keras format and loading it back failed: {CLASS} defines "
                           "no get_config(), which Keras needs to make the model again.")
    if reason:
        raise GradeFailure(f"saving {_label(spec)} in the .keras format and loading it back failed: {reason}; "
                           "check get_config().")
    if not close(record.get("outputs"), _mlp(spec["weights"], spec["x"]), atol=1e-4):
        raise GradeFailure(f"after a .keras save and load, {_label(spec)} predicts different values from the model "
                           "that was saved.")


# ---------------------------------------------------------------------------------------------- exercise 2

EXERCISE = "build_ensemble"
# (input width, classes, members): two members, then three, of other sizes, so nothing can be hard-coded
SETTINGS = [(5, 3, 2), (7, 4, 3)]


def given_members(width: int, classes: int, count: int) -> list[keras.Model]:
    """Trained-like members of the same input and output shapes, each built differently (the grader's own)."""
    first = keras.Sequential([keras.Input((width,), name="features"), L.Dense(6, activation="relu"),
                              L.Dense(classes, activation="softmax")], name="member_a")
    x = keras.Input((width,), name="x")
    second = keras.Model(x, L.Dense(classes, activation="softmax", name="probabilities")(x), name="member_b")
    z = keras.Input((width,), name="z")
    h = L.Dense(4, activation="relu")(L.Dense(8, activation="tanh")(z))
    third = keras.Model(z, L.Dense(classes, activation="softmax")(h), name="member_c")
    members = [first, second, third][:count]
    rng = run_rng(EXERCISE, "members", width)  # trained-like weights, new every grading run
    for member in members:  # biases too: members that differ in every way
        member.set_weights([rng.normal(scale=0.7, size=w.shape).astype("float32") for w in weight_arrays(member)])
    return members


def _state(member: keras.Model) -> tuple[list[np.ndarray], list[bool]]:
    flags = [bool(member.trainable)] + [bool(layer.trainable) for layer in member._flatten_layers(include_self=False)]
    return [np.array(w) for w in weight_arrays(member)], flags


def _build(submission: Submission, setting: tuple = SETTINGS[0], **kwargs: Any):
    """The ensemble built from fresh members, the members, and their state before the call."""
    width, classes, count = setting
    fresh_session()
    members = given_members(width, classes, count)
    before = [_state(member) for member in members]
    model = submission.model(EXERCISE, members, **kwargs)
    return model, members, before


def _is(op: Any, members: list[keras.Model]) -> bool:
    return any(op is member for member in members)


@graded(EXERCISE, 1)
def test_ensemble_input(submission):
    """Exercise 2: one input, 'inputs', of the members' input shape (None, width), float32 (tried with two and three
    members of two widths)."""
    for setting in SETTINGS:
        model, _, _ = _build(submission, setting)
        expect_inputs(model, [("inputs", (None, setting[0]), "float32")], EXERCISE)


@graded(EXERCISE, 1)
def test_ensemble_output(submission):
    """Exercise 2: one output, the layer 'average', of the members' output shape (None, classes)."""
    for setting in SETTINGS:
        model, _, _ = _build(submission, setting)
        expect_outputs(model, [("average", (None, setting[1]))], EXERCISE)


@graded(EXERCISE, 1)
def test_ensemble_name(submission):
    """Exercise 2: the model is named after the `name` argument, 'ensemble' by default."""
    for kwargs, want in (({}, "ensemble"), ({"name": "committee"}, "committee")):
        model, _, _ = _build(submission, SETTINGS[0], **kwargs)
        if model.name != want:
            asked = f"name={kwargs['name']!r}" if kwargs else "no name"
            raise GradeFailure(f"{EXERCISE} called with {asked} returns a model named {model.name!r}; it should be "
                               f"named {want!r}: keras.Model(inputs, average, name=name).")


@graded(EXERCISE, 2)
def test_ensemble_calls_every_member_once(submission):
    """Exercise 2: every given model is called exactly once, on the ensemble's input (tried with two and three
    members)."""
    for setting in SETTINGS:
        model, members, _ = _build(submission, setting)
        if len(model.inputs) != 1:
            raise GradeFailure(f"{EXERCISE}: the ensemble has {len(model.inputs)} inputs; give it one input and "
                               "call every member on it.")
        source = producer(model.inputs[0])
        for member in members:
            calls = model_nodes(model, member) if _is(member, model.operations) else []
            if not calls:
                raise GradeFailure(f"{EXERCISE}: the given model '{member.name}' is not called in the ensemble of "
                                   f"{len(members)} models; call every given model on the input, once.")
            if len(calls) != 1:
                raise GradeFailure(f"{EXERCISE}: the given model '{member.name}' is called {len(calls)} times; call "
                                   "each given model once.")
            fed = [parent.operation for parent in calls[0].parent_nodes]
            if len(fed) != 1 or fed[0] is not source:
                names = ", ".join(f"'{op.name}'" for op in fed) or "nothing"
                raise GradeFailure(f"{EXERCISE}: the given model '{member.name}' is called on {names}, not on the "
                                   "ensemble's input; call every member on the same new keras.Input.")


@graded(EXERCISE, 2)
def test_ensemble_members_are_the_given_models(submission):
    """Exercise 2: the models in the ensemble are the given models themselves, with their own variables (not
    copies: clone_model or a rebuilt model has weights of its own)."""
    for setting in SETTINGS:
        model, members, _ = _build(submission, setting)
        used = {id(v) for v in model.weights}
        copies = [op for op in model.operations if isinstance(op, keras.Model) and not _is(op, members)]
        for member in members:
            if _is(member, model.operations) and {id(v) for v in member.weights} <= used:
                continue
            if copies:
                raise GradeFailure(f"{EXERCISE}: the ensemble holds '{copies[0].name}', a model with weights of its "
                                   f"own, not the given model '{member.name}': a copy (clone_model or a rebuilt "
                                   "model) does not share the trained weights. Call the given models themselves: "
                                   "model(inputs).")
            raise GradeFailure(f"{EXERCISE}: the given model '{member.name}' is not part of the ensemble; call every "
                               "given model on the input.")


@graded(EXERCISE, 1)
def test_ensemble_leaves_members_unchanged(submission):
    """Exercise 2: the given models are left as they are: their weights unchanged (not retrained or reset) and
    still trainable (not frozen)."""
    for setting in SETTINGS:
        _, members, before = _build(submission, setting)
        for member, (weights, flags) in zip(members, before):
            now_weights, now_flags = _state(member)
            if len(now_weights) != len(weights) or any(not np.array_equal(a, b)
                                                       for a, b in zip(weights, now_weights)):
                raise GradeFailure(f"{EXERCISE} changed the weights of the given model '{member.name}' (retrained "
                                   "or reset it?); the ensemble averages trained models as they are.")
            if now_flags != flags:
                raise GradeFailure(f"{EXERCISE} froze the given model '{member.name}' or some of its layers "
                                   "(trainable=False); leave the given models as they are.")


@graded(EXERCISE, 1)
def test_ensemble_averages(submission):
    """Exercise 2: the output is an Average layer (layers.average or layers.Average()) that receives the members'
    outputs, one each."""
    for setting in SETTINGS:
        model, members, _ = _build(submission, setting)
        layer = producer(model.outputs[0])
        if type(layer).__name__ != "Average":
            raise GradeFailure(f"{EXERCISE}: the output is made by '{layer.name}' ({type(layer).__name__}), not by an "
                               "Average layer; average the members' outputs with layers.average(outputs, "
                               "name='average').")
        fed = [parent.operation for parent in model_nodes(model, layer)[0].parent_nodes]
        names = ", ".join(f"'{op.name}' ({type(op).__name__})" for op in fed)
        if len(fed) != len(members) or not all(isinstance(op, keras.Model) for op in fed):
            raise GradeFailure(f"{EXERCISE}: with {len(members)} members, the Average layer receives {names}; it "
                               "should receive the output of each member, once.")


# What an ensemble may compute instead of the mean, for the feedback: (description, function of the predictions)
OTHER_MERGES = [
    ("the sum of the members' predictions", lambda p: p.sum(axis=0)),
    ("the largest of the members' predictions", lambda p: p.max(axis=0)),
    ("the first member's predictions only", lambda p: p[0]),
    ("the mean of all members but the last", lambda p: p[:-1].mean(axis=0)),
]


@graded(EXERCISE, 2)
def test_ensemble_predictions(submission):
    """Exercise 2: on inputs the grader draws, the ensemble predicts the mean of the given models' predictions
    (tried with two and three members)."""
    for setting in SETTINGS:
        model, members, _ = _build(submission, setting)
        x = random_batch((16, setting[0]), EXERCISE, setting) * 4 - 2
        got = submission.run(f"predicting with the model of {EXERCISE}", predict, model, x)
        if isinstance(got, dict) and len(got) == 1:  # one output, keyed by its name
            got = next(iter(got.values()))
        each = np.stack([predict(member, x) for member in members])
        if close(got, each.mean(axis=0)):
            continue
        what = next((text for text, fn in OTHER_MERGES if close(got, fn(each))), "something else")
        raise GradeFailure(f"{EXERCISE}: with {len(members)} members, on inputs the grader drew, the ensemble "
                           f"predicts {what}, not the mean of the members' predictions; average the outputs of "
                           "the given models with layers.average.")
