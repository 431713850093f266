"""Grader for lesson 09 — training and inference in one graph (24 points).

Every exercise is handed models the grader builds itself, small and with BatchNormalization layers, their weights
(moving means and variances included) drawn afresh in every grading run, in two settings of shapes and sizes so
that a hard-coded shape or size fails.

``build_finetune_model`` is given a pretrained base (convolution, BatchNormalization, Flatten): the model it returns
must take an input 'image' of the base's input shape, call the given base itself on it (the grader's very model, not
a copy), freeze it (the model's only trainable weights are the head's kernel and bias, and a short fit leaves every
weight of the base, moving statistics included, as it was), put a Dropout(0.2) between the base and the head, end
with a Dense(classes, softmax) named 'label', and learn (hidden). Passing ``training=False`` when calling the base
is neither required nor refused: in Keras 3 a model called by ``fit`` runs its inner layers in training mode
whatever an inner call says, and only ``trainable = False`` keeps a BatchNormalization layer in inference mode.

``unfreeze_for_finetuning`` is given a frozen base with a BatchNormalization layer at the top and one inside a
nested model (functional in one setting, Sequential in the other): it must return that base itself, with every
layer that has weights trainable except the BatchNormalization layers, nested ones included, which stay frozen; and
in a short fit of a model around it (calling it with ``training=False``, as the lesson does), the moving means and
variances must stay as they were while the other weights change.

``grow_head`` is given a trained functional model and the name of an inner layer (a different one in each
setting): the new model must start from the trained model's own input, reuse its layers (no copies, no new layers
but the head), freeze the layers it reuses, leave the later layers out, end with a Dense(classes, softmax) named
'new_head' that reads the named layer's output, and learn (hidden). (What an answer does to the trained model's
later layers is not graded: the engine brings back only the objects an answer uses.)
"""

from __future__ import annotations

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
    composed_activation,
    expect_inputs,
    expect_outputs,
    fit,
    fresh_session,
    graded,
    predict,
    producer,
    run_rng,
    same_variables,
    to_numpy,
)

FINETUNE = "build_finetune_model"
UNFREEZE = "unfreeze_for_finetuning"
GROW = "grow_head"
L = keras.layers

# build_finetune_model: (image shape, filters of the base's convolution, classes)
FINETUNE_SETTINGS = [((8, 8, 1), 4, 3), ((6, 10, 2), 6, 5)]
# unfreeze_for_finetuning: (input shape, width of the first layer, width of the nested block); a convolutional base
# with a nested functional block, and a dense one with a nested Sequential block
UNFREEZE_SETTINGS = [((7, 7, 2), 4, 3), ((9,), 7, 5)]
# grow_head: (input size, hidden_1 units, hidden_2 units, outputs of the trained model, new classes, layer name)
GROW_SETTINGS = [(10, 8, 6, 4, 3, "hidden_2"), (7, 9, 5, 6, 4, "hidden_1")]
# the short fits of the hidden "learns" tests: (Adam's learning rate, epochs), with margins measured over many draws
FINETUNE_FIT, GROW_FIT = (0.03, 40), (0.1, 40)


# ------------------------------------------------------------------------------------------------ helpers


def _numpy(variable: Any) -> np.ndarray:
    return np.array(to_numpy(variable))


def _draw_weights(model: keras.Model, *stream: Any) -> keras.Model:
    """Give the grader's model weights drawn for this grading run (as if trained): kernels, biases, and each
    BatchNormalization layer's scale, offset, moving mean and moving (positive) variance."""
    rng = run_rng("weights", *stream)
    values = []
    for weight in model.weights:
        shape, name = tuple(weight.shape), weight.name
        if name == "moving_variance":
            value = rng.uniform(0.5, 2.0, shape)
        elif name == "gamma":
            value = rng.uniform(0.5, 1.5, shape)
        elif name in ("beta", "moving_mean", "bias"):
            value = rng.normal(0.0, 0.2, shape)
        else:
            value = rng.normal(0.0, 0.3, shape)
        values.append(value.astype(weight.dtype))
    model.set_weights(values)
    return model


def _leaves(model: keras.Model, inside: tuple = ()) -> list[tuple[Any, tuple]]:
    """Every layer of ``model`` that is not a model, nested models walked into, each with the names of the models
    it sits in (InputLayers left out)."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(_leaves(layer, inside + (layer.name,)))
        elif type(layer).__name__ != "InputLayer":
            found.append((layer, inside))
    return found


def _where(layer: Any, inside: tuple) -> str:
    return f"'{layer.name}'" + (f" (inside the nested model '{inside[-1]}')" if inside else "")


def _is_batch_norm(layer: Any) -> bool:
    return isinstance(layer, L.BatchNormalization)


def _changed(variables: list, before: list[np.ndarray]) -> list:
    return [v for v, b in zip(variables, before) if not np.array_equal(_numpy(v), b)]


def _head(model: keras.Model, keep: list) -> Call | None:
    """The call of the Dense layer that makes the model's (first) output, through an activation layer after it
    (nested models read through, those in ``keep`` read as one layer); None where there is none."""
    call = Graph.of(model, keep).outputs[0]
    if type(call.layer).__name__ != "Dense" and activation_step(call.layer) is not None and len(call.inputs) == 1:
        call = call.inputs[0]
    return call if type(call.layer).__name__ == "Dense" else None


def _expect_softmax_head(model: keras.Model, name: str, classes: int, exercise: str, keep: list) -> None:
    """The model's one output is ``name`` of shape (None, classes), made by a Dense layer with a softmax (its own
    activation, or an Activation('softmax') or Softmax layer right after a linear Dense; nested models read
    through, those in ``keep`` read as one layer)."""
    expect_outputs(model, [(name, (None, classes))], exercise)
    call = Graph.of(model, keep).outputs[0]
    head = _head(model, keep)
    if head is None:
        raise GradeFailure(f"{exercise}: the output '{name}' is made by '{call.layer.name}' "
                           f"({type(call.layer).__name__}), not by a Dense layer; end with "
                           f"layers.Dense(classes, activation='softmax', name='{name}').")
    steps = [activation_name(head.layer)] + ([activation_step(call.layer)] if call.layer is not head.layer else [])
    found = composed_activation(steps)
    if found != "softmax":
        raise GradeFailure(f"{exercise}: the output '{name}' has activation '{found}'; use activation='softmax': "
                           "one probability per class.")


def _trainable_beyond_head(model: keras.Model, head: Call | None) -> list:
    """The model's trainable weights that are not its head's kernel and bias."""
    own = {id(w) for w in head.layer.weights} if head is not None else set()
    return [w for w in model.trainable_weights if id(w) not in own]


def _labels(features: np.ndarray, classes: int, *stream: Any) -> np.ndarray:
    """A rule a softmax layer on ``features`` can learn: the largest of ``classes`` random projections of the
    standardised features."""
    rng = run_rng("labels", *stream)
    f = (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-6)
    return np.argmax(f @ rng.normal(size=(f.shape[1], classes)), axis=1).astype("int64")


def _learns(submission: Submission, model: keras.Model, x: np.ndarray, y: np.ndarray, classes: int, what: str,
            rate: float, epochs: int) -> tuple[float, float]:
    """Compile with Adam and sparse categorical cross-entropy, fit briefly: (loss before, loss after), evaluated
    (so in inference mode, the Dropout off). The model must give one value per class first (a cross-entropy
    against labels beyond its outputs means nothing, and each backend treats it its own way)."""
    width = model.outputs[0].shape[-1] if len(model.outputs) == 1 else None
    if width != classes:
        raise GradeFailure(f"{what.replace('training the model of ', '')}: the model should give one probability "
                           f"per class, {classes} values per example; it gives "
                           f"{width if width is not None else 'several outputs'}.")
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy")
    before = float(submission.run(what, model.evaluate, x, y, verbose=0))
    submission.run(what, fit, model, *_passes(x, y, epochs), epochs=1, batch_size=32, verbose=0)
    after = float(submission.run(what, model.evaluate, x, y, verbose=0))
    return before, after


def _passes(x: np.ndarray, y: np.ndarray, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """The data repeated ``epochs`` times, for one shuffled epoch that does the work of ``epochs`` (without the
    cost of an epoch's bookkeeping each time)."""
    return np.tile(x, (epochs,) + (1,) * (x.ndim - 1)), np.tile(y, epochs)


# ------------------------------------------------------------------------------ exercise 1: a frozen base


def given_base(setting: tuple) -> keras.Model:
    """A small pretrained base like the lesson's (the grader's own, built fresh, weights drawn for this run)."""
    shape, filters, _ = setting
    image = keras.Input(shape, name="pixels")
    x = L.Conv2D(filters, 3, padding="same", name="base_conv")(image)
    x = L.BatchNormalization(name="base_bn")(x)
    x = L.Activation("relu", name="base_relu")(x)
    x = L.Flatten(name="base_features")(x)
    return _draw_weights(keras.Model(image, x, name="pretrained_base"), FINETUNE, setting)


def _finetune(submission: Submission, setting: tuple = FINETUNE_SETTINGS[0]) -> tuple[keras.Model, keras.Model]:
    fresh_session()
    base = given_base(setting)
    return submission.model(FINETUNE, base, setting[-1]), base


@graded(FINETUNE, 1)
def test_finetune_input(submission):
    """Exercise 1: one input named 'image', float32, of the base's input shape (None, *base.input_shape[1:]), for
    two settings."""
    for setting in FINETUNE_SETTINGS:
        model, _ = _finetune(submission, setting)
        expect_inputs(model, [("image", (None, *setting[0]), "float32")], FINETUNE)


@graded(FINETUNE, 2)
def test_finetune_calls_the_given_base(submission):
    """Exercise 1: the given base itself (not a copy: the same variables) is a layer of the model, called on the
    new input."""
    model, base = _finetune(submission)
    graph = Graph.of(model, keep=[base])
    calls = graph.calls_of(base)
    if not calls:
        names = {layer.name for layer in base.layers if layer.weights}
        copies = [op for op in model.operations if isinstance(op, keras.Model)] or \
            [layer for layer in graph.layers if layer.name in names]
        hint = (f" The model holds '{copies[0].name}' with weights of its own: a copy (clone_model, a rebuilt base, "
                "or the base's layers called one by one on a new input) does not use the given base's weights."
                if copies else "")
        raise GradeFailure(f"{FINETUNE}: the given base is not a layer of the model.{hint} Call the base you were "
                           "given on the new input: features = base(image).")


@graded(FINETUNE, 2)
def test_finetune_base_frozen(submission):
    """Exercise 1: the base is frozen: the model's only trainable weights are the head's kernel and bias (two
    settings)."""
    for setting in FINETUNE_SETTINGS:
        model, base = _finetune(submission, setting)
        head = _head(model, [base])
        extra = _trainable_beyond_head(model, head)
        base_ids = {id(w) for w in base.weights}
        if any(id(w) in base_ids for w in extra):
            ours = [w for w in extra if id(w) in base_ids]
            raise GradeFailure(f"{FINETUNE}: {len(ours)} of the base's {len(base.weights)} weights are trainable in "
                               f"the model (for example '{ours[0].path}'): training would change the pretrained "
                               "base. Freeze it: base.trainable = False (calling it with training=False does not "
                               "freeze it).")
        if extra:
            raise GradeFailure(f"{FINETUNE}: the model's only trainable weights should be the head's kernel and "
                               f"bias; it has {len(extra)} more (for example '{extra[0].path}'). Freeze the base "
                               "(base.trainable = False) and add no trainable layer but the head.")
        if head is None or not same_variables(model.trainable_weights, head.layer.weights):
            raise GradeFailure(f"{FINETUNE}: the head (the Dense layer 'label') should be the model's trainable "
                               "part, its kernel and bias; it is frozen or missing. Leave it trainable.")


@graded(FINETUNE, 1)
def test_finetune_dropout_between_base_and_head(submission):
    """Exercise 1: the base's output goes through a Dropout(0.2), which the head 'label' reads."""
    model, base = _finetune(submission)
    head = _head(model, [base])
    if head is None:
        raise GradeFailure(f"{FINETUNE}: the model's output is not made by a Dense layer, so the grader finds no "
                           "head to read the Dropout; end with Dense(classes, activation='softmax', name='label').")
    below = head.inputs[0].layer if len(head.inputs) == 1 else None
    if type(below).__name__ != "Dropout":
        what = f"'{below.name}' ({type(below).__name__})" if below is not None else "several tensors"
        raise GradeFailure(f"{FINETUNE}: the head reads {what}, not a Dropout layer; put "
                           "keras.layers.Dropout(0.2) between the base and the head.")
    if not np.isclose(float(below.rate), 0.2):
        raise GradeFailure(f"{FINETUNE}: the Dropout between the base and the head has rate {float(below.rate):g}; "
                           "the exercise asks for Dropout(0.2).")
    read = head.inputs[0].inputs[0].layer if len(head.inputs[0].inputs) == 1 else None
    called = bool(Graph.of(model, keep=[base]).calls_of(base))  # a copy of the base costs the test of the base
    if read is not base and (called or read is None or type(read).__name__ == "InputLayer"):
        raise GradeFailure(f"{FINETUNE}: the Dropout before the head does not read the base's output; apply it to "
                           "what base(image) returns.")


@graded(FINETUNE, 1)
def test_finetune_head(submission):
    """Exercise 1: one output, 'label', a Dense(classes) layer with a softmax, for two settings."""
    for setting in FINETUNE_SETTINGS:
        model, base = _finetune(submission, setting)
        _expect_softmax_head(model, "label", setting[-1], FINETUNE, keep=[base])


def _weights_of(model: keras.Model) -> list[np.ndarray]:
    return [_numpy(w) for w in model.weights]


def _finetune_fit(submission: Submission) -> dict:
    """One short fit of the model on data whose labels a softmax on the base's features can learn, done once per
    submission: the losses before and after (evaluated) and the base's weights that changed."""
    key = f"{FINETUNE}:fit"
    if key not in submission.memo:
        try:
            submission.memo[key] = _run_finetune_fit(submission)
        except GradeFailure as failure:
            submission.memo[key] = failure
    found = submission.memo[key]
    if isinstance(found, GradeFailure):
        raise found
    return found


def _run_finetune_fit(submission: Submission) -> dict:
    setting = FINETUNE_SETTINGS[0]
    shape, _, classes = setting
    fresh_session()
    base = given_base(setting)
    x = run_rng(FINETUNE, "fit").random((96, *shape)).astype("float32")
    y = _labels(predict(base, x), classes, FINETUNE)  # the grader's own base
    model = submission.model(FINETUNE, base, classes)
    before = _weights_of(base)
    start, end = _learns(submission, model, x, y, classes, f"training the model of {FINETUNE}", *FINETUNE_FIT)
    return {"start": start, "end": end, "changed": [w.path for w in _changed(base.weights, before)],
            "weights": len(base.weights)}


@graded(FINETUNE, 1)
def test_finetune_fit_leaves_the_base_unchanged(submission):
    """Exercise 1 (behaviour): a short fit of the model leaves every weight of the base as it was: kernels, and
    the BatchNormalization layer's scale, offset, moving mean and moving variance."""
    found = _finetune_fit(submission)
    if found["changed"]:
        raise GradeFailure(f"{FINETUNE}: a short fit of the model changed {len(found['changed'])} of the base's "
                           f"{found['weights']} weights (for example '{found['changed'][0]}'). During fit the base "
                           "runs in training mode, whatever training=... its call says: only base.trainable = False "
                           "keeps its weights and its BatchNormalization statistics as they were.")


@graded(FINETUNE, 1, hidden=True)
def test_finetune_learns(submission):
    """Exercise 1 (behaviour): compiled with Adam and sparse categorical cross-entropy, a short fit lowers the
    loss (on labels a softmax on the base's features can learn)."""
    found = _finetune_fit(submission)
    start, end = found["start"], found["end"]
    if not (np.isfinite(end) and end < 0.8 * start):
        raise GradeFailure(f"{FINETUNE}: {FINETUNE_FIT[1]} epochs of training took the loss from {start:.3f} only "
                           f"to {end:.3f}; check the head (Dense(classes, softmax) on the base's features) and "
                           "that it is trainable.")


# ------------------------------------------------------------------------------ exercise 2: unfreezing


def given_nested_base(setting: tuple) -> keras.Model:
    """A frozen pretrained base with a BatchNormalization layer at the top and one inside a nested model: a
    convolutional base with a nested functional block (first setting), a dense one with a nested Sequential block
    (second setting). Built fresh, weights drawn for this run, then frozen with base.trainable = False."""
    shape, width, inner = setting
    inputs = keras.Input(shape, name="pixels")
    if len(shape) == 3:
        x = L.Conv2D(width, 3, name="stem_conv")(inputs)
        x = L.Activation("relu", name="stem_relu")(L.BatchNormalization(name="stem_bn")(x))
        block_in = keras.Input(tuple(x.shape[1:]), name="block_input")
        y = L.Conv2D(inner, 3, padding="same", name="block_conv")(block_in)
        y = L.Activation("relu", name="block_relu")(L.BatchNormalization(name="block_bn")(y))
        block = keras.Model(block_in, y, name="block")
        x = L.GlobalAveragePooling2D(name="pool")(block(x))
    else:
        x = L.Dense(width, name="stem_dense")(inputs)
        x = L.Activation("relu", name="stem_relu")(L.BatchNormalization(name="stem_bn")(x))
        block = keras.Sequential([keras.Input((width,)), L.Dense(inner, name="block_dense"),
                                  L.BatchNormalization(name="block_bn"), L.ReLU(name="block_relu")], name="block")
        x = L.Dense(inner + 1, activation="relu", name="top_dense")(block(x))
    base = _draw_weights(keras.Model(inputs, x, name="frozen_base"), UNFREEZE, setting)
    base.trainable = False
    return base


def _unfreeze(submission: Submission, setting: tuple = UNFREEZE_SETTINGS[0]) -> tuple[keras.Model, keras.Model]:
    fresh_session()
    base = given_nested_base(setting)
    return submission.model(UNFREEZE, base), base


@graded(UNFREEZE, 1)
def test_unfreeze_returns_the_given_base(submission):
    """Exercise 2: it returns the given base itself, changed in place (not a copy), for two settings."""
    for setting in UNFREEZE_SETTINGS:
        result, base = _unfreeze(submission, setting)
        if result is not base:
            raise GradeFailure(f"{UNFREEZE} returned another model ('{result.name}'), not the base it was given: "
                               "change the given base in place (its trainable flags) and return it, so that the "
                               "fine-tuning model built around it trains its weights.")


@graded(UNFREEZE, 1)
def test_unfreeze_other_layers_trainable(submission):
    """Exercise 2: every layer of the returned base that has weights and is not a BatchNormalization layer,
    nested ones included, is trainable (two settings)."""
    for setting in UNFREEZE_SETTINGS:
        result, _ = _unfreeze(submission, setting)
        frozen = [(layer, inside) for layer, inside in _leaves(result)
                  if layer.weights and not _is_batch_norm(layer)
                  and not (layer.trainable and all(w.trainable for w in layer.weights))]
        if frozen:
            names = ", ".join(_where(layer, inside) for layer, inside in frozen)
            raise GradeFailure(f"{UNFREEZE}: {len(frozen)} layer(s) with weights are still frozen: {names}. Make "
                               "the whole base trainable first (base.trainable = True unfreezes every layer, nested "
                               "ones included), then freeze only the BatchNormalization layers.")


@graded(UNFREEZE, 2)
def test_unfreeze_batch_norms_frozen(submission):
    """Exercise 2: every BatchNormalization layer of the returned base, the one inside the nested model included,
    is frozen (trainable False), for two settings."""
    for setting in UNFREEZE_SETTINGS:
        result, _ = _unfreeze(submission, setting)
        norms = [(layer, inside) for layer, inside in _leaves(result) if _is_batch_norm(layer)]
        trainable = [(layer, inside) for layer, inside in norms if layer.trainable]
        if trainable:
            names = ", ".join(_where(layer, inside) for layer, inside in trainable)
            nested = any(inside for _, inside in trainable) and not all(inside for _, inside in norms)
            hint = (" A layer of a nested model is not in base.layers: walk into every layer that is itself a "
                    "keras.Model and freeze the BatchNormalization layers inside it too." if nested else
                    " Set trainable = False on every BatchNormalization layer, nested ones included, after "
                    "unfreezing the base.")
            raise GradeFailure(f"{UNFREEZE}: {len(trainable)} of the base's {len(norms)} BatchNormalization layers "
                               f"are trainable: {names}. A trainable BatchNormalization layer normalises with the "
                               "batch's statistics during fit and updates its moving ones, even when the base is "
                               f"called with training=False.{hint}")


@graded(UNFREEZE, 2)
def test_unfreeze_fit_keeps_batch_norm_statistics(submission):
    """Exercise 2 (behaviour): in a short fit of a model around the returned base (called with training=False),
    the moving means and variances of its BatchNormalization layers stay as they were, while the weights of its
    other layers change."""
    setting = UNFREEZE_SETTINGS[0]
    result, _ = _unfreeze(submission, setting)
    rng = run_rng(UNFREEZE, "fit")
    x = rng.random((64, *setting[0])).astype("float32")
    y = rng.integers(0, 3, 64).astype("int64")
    inputs = keras.Input(setting[0], name="image")
    model = keras.Model(inputs, L.Dense(3, activation="softmax", name="label")(result(inputs, training=False)))
    leaves = _leaves(result)
    norms = [(layer, inside) for layer, inside in leaves if _is_batch_norm(layer)]
    others = [(layer, inside) for layer, inside in leaves if layer.weights and not _is_batch_norm(layer)]
    statistics = {id(layer): [w for w in layer.weights if w.name in ("moving_mean", "moving_variance")]
                  for layer, _ in norms}
    before = {id(layer): _weights_of(layer) for layer, _ in others}
    before.update({key: [_numpy(w) for w in ws] for key, ws in statistics.items()})
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    submission.run(f"training a model around the base {UNFREEZE} returned", fit, model, *_passes(x, y, 3), epochs=1,
                   batch_size=16, verbose=0)
    moved = [(layer, inside) for layer, inside in norms if _changed(statistics[id(layer)], before[id(layer)])]
    if moved:
        names = ", ".join(_where(layer, inside) for layer, inside in moved)
        raise GradeFailure(f"{UNFREEZE}: a short fit of a model around the returned base (called with "
                           f"training=False) changed the moving mean and variance of {names}: fit runs the base in "
                           "training mode whatever its call says, and a trainable BatchNormalization layer then "
                           "learns the batch statistics. Freeze every BatchNormalization layer (trainable = False), "
                           "nested ones included.")
    still = [(layer, inside) for layer, inside in others if not _changed(layer.weights, before[id(layer)])]
    if still:
        names = ", ".join(_where(layer, inside) for layer, inside in still)
        raise GradeFailure(f"{UNFREEZE}: a short fit of a model around the returned base left the weights of {names} "
                           "unchanged: they are frozen. Unfreeze the base (base.trainable = True) before freezing "
                           "its BatchNormalization layers.")


# ------------------------------------------------------------------------------ exercise 3: a new head


def given_trained(setting: tuple) -> keras.Model:
    """A small trained classifier (the grader's own, built fresh, weights drawn for this run)."""
    size, first, second, outputs, _, _ = setting
    pixels = keras.Input((size,), name="pixels")
    x = L.Dense(first, activation="relu", name="hidden_1")(pixels)
    x = L.BatchNormalization(name="bn")(x)
    x = L.Dense(second, activation="relu", name="hidden_2")(x)
    out = L.Dense(outputs, activation="softmax", name="output")(x)
    return _draw_weights(keras.Model(pixels, out, name="trained"), GROW, setting)


def _split(trained: keras.Model, name: str) -> tuple[list, list]:
    """The trained model's layers with weights up to and including ``name``, and its layers after it."""
    layers = trained.layers
    k = next(i for i, layer in enumerate(layers) if layer.name == name)
    return [layer for layer in layers[:k + 1] if layer.weights], layers[k + 1:]


def _grow(submission: Submission, setting: tuple = GROW_SETTINGS[0]) -> tuple[keras.Model, keras.Model]:
    fresh_session()
    trained = given_trained(setting)
    return submission.model(GROW, trained, setting[-1], setting[-2]), trained


def _grow_x(setting: tuple, n: int) -> np.ndarray:
    return run_rng(GROW, "x", setting, n).random((n, setting[0])).astype("float32")


@graded(GROW, 1)
def test_grow_head_input(submission):
    """Exercise 3: the new model's input is the trained model's own input (trained.inputs, not a new
    keras.Input), for two settings."""
    for setting in GROW_SETTINGS:
        model, trained = _grow(submission, setting)
        wanted = [producer(t) for t in trained.inputs]
        found = [producer(t) for t in model.inputs]
        if len(found) != len(wanted) or any(f is not w for f, w in zip(found, wanted)):
            names = ", ".join(f"'{layer.name}'" + ("" if any(layer is w for w in wanted) else " (a new Input)")
                              for layer in found) or "none"
            raise GradeFailure(f"{GROW}: the new model should start from the trained model's own input "
                               f"('{wanted[0].name}'), it starts from {names}; use trained.inputs itself, so that "
                               "both models share the same graph up to the named layer.")


@graded(GROW, 2)
def test_grow_head_reuses_the_trained_layers(submission):
    """Exercise 3: apart from its new head, the new model holds only the trained model's own layers (the same
    variables: no copies, no new layers), for two settings."""
    for setting in GROW_SETTINGS:
        model, trained = _grow(submission, setting)
        head, output = _head(model, []), Graph.of(model).outputs[0]
        own = {id(layer) for layer in trained.layers}
        if head is not None:  # the new head, and the activation layer after it where it has one
            own |= {id(head.layer), id(output.layer)}
        new = [layer for layer in Graph.of(model).layers if id(layer) not in own
               and (layer.weights or not (type(layer).__name__ == "Dropout" or activation_step(layer)))]
        if new:
            names = ", ".join(f"'{layer.name}' ({type(layer).__name__})" for layer in new)
            raise GradeFailure(f"{GROW}: the new model holds layers that are not the trained model's own ({names}): "
                               "copies or new layers do not have the trained weights. Build it from trained.inputs "
                               "and trained.get_layer(layer_name).output, and add only the new head.")


@graded(GROW, 2)
def test_grow_head_reused_layers_frozen(submission):
    """Exercise 3: the trained layers the new model reuses (up to and including the named layer) are frozen: the
    new model's only trainable weights are the new head's kernel and bias (two settings)."""
    for setting in GROW_SETTINGS:
        model, trained = _grow(submission, setting)
        reused, _ = _split(trained, setting[-1])
        used = {id(layer) for layer in Graph.of(model).layers}
        trainable = [layer for layer in reused if id(layer) in used and layer.trainable and layer.trainable_weights]
        if trainable:
            names = ", ".join(f"'{layer.name}'" for layer in trainable)
            raise GradeFailure(f"{GROW}: for layer_name='{setting[-1]}' the reused layer(s) {names} are still "
                               "trainable: training the new head would change the trained model. Set "
                               "trainable = False on every layer of the trained model up to and including the "
                               "named one.")
        head = _head(model, [])
        extra = _trainable_beyond_head(model, head)
        if extra or head is None or not head.layer.trainable_weights:
            what = (f"it also trains '{extra[0].path}'" if extra else "the new head is frozen or missing")
            raise GradeFailure(f"{GROW}: the new model's only trainable weights should be the new head's kernel and "
                               f"bias; {what}.")


@graded(GROW, 1)
def test_grow_head_leaves_the_later_layers(submission):
    """Exercise 3: the trained model's layers after the named one are not in the new model (two settings)."""
    for setting in GROW_SETTINGS:
        fresh_session()
        trained = given_trained(setting)
        model = submission.model(GROW, trained, setting[-1], setting[-2])
        _, later = _split(trained, setting[-1])
        inside = [layer for layer in later if any(layer is used for used in Graph.of(model).layers)]
        if inside:
            names = ", ".join(f"'{layer.name}'" for layer in inside)
            raise GradeFailure(f"{GROW}: for layer_name='{setting[-1]}' the new model also runs the trained model's "
                               f"later layer(s) {names}; grow the head from the named layer's output "
                               "(trained.get_layer(layer_name).output), which leaves them out.")


@graded(GROW, 1)
def test_grow_head_output(submission):
    """Exercise 3: one output, 'new_head', a Dense(classes) layer with a softmax, for two settings."""
    for setting in GROW_SETTINGS:
        model, _ = _grow(submission, setting)
        _expect_softmax_head(model, "new_head", setting[-2], GROW, keep=[])


@graded(GROW, 1)
def test_grow_head_reads_the_named_layer(submission):
    """Exercise 3: the new head reads the output of the layer named layer_name (tried on two different inner
    layers)."""
    for setting in GROW_SETTINGS:
        name = setting[-1]
        model, trained = _grow(submission, setting)
        head = _head(model, [])
        if head is None:
            raise GradeFailure(f"{GROW}: the new model's output is not made by a Dense layer; end with "
                               "Dense(classes, activation='softmax', name='new_head') on the named layer's output.")
        feeders = head.inputs
        while len(feeders) == 1 and type(feeders[0].layer).__name__ == "Dropout":
            feeders = feeders[0].inputs
        layer = trained.get_layer(name)
        if not (len(feeders) == 1 and feeders[0].layer is layer):
            what = ", ".join(f"'{f.layer.name}'" for f in feeders) or "nothing"
            copy = " (a copy of the trained model's layer)" if any(f.layer.name == name for f in feeders) else ""
            raise GradeFailure(f"{GROW}: for layer_name='{name}' the new head reads {what}{copy}, not the trained "
                               "model's layer of that name; apply it to trained.get_layer(layer_name).output.")


@graded(GROW, 1, hidden=True)
def test_grow_head_learns(submission):
    """Exercise 3 (behaviour): compiled with Adam and sparse categorical cross-entropy, a short fit lowers the
    loss (on labels a softmax on the named layer's output can learn)."""
    setting = GROW_SETTINGS[1]
    fresh_session()
    trained = given_trained(setting)
    x = _grow_x(setting, 96)
    layer = trained.get_layer(setting[-1])
    features = predict(keras.Model(trained.input, layer.output), x)
    y = _labels(features, setting[-2], GROW)
    model = submission.model(GROW, trained, setting[-1], setting[-2])
    start, end = _learns(submission, model, x, y, setting[-2], f"training the model of {GROW}", *GROW_FIT)
    if not (np.isfinite(end) and end < 0.8 * start):
        raise GradeFailure(f"{GROW}: {GROW_FIT[1]} epochs of training took the loss from {start:.3f} only to "
                           f"{end:.3f}; check the new head (Dense(classes, softmax) on the named layer's output) "
                           "and that it is trainable.")
