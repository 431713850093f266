"""Grader for lesson 06 — shared layers (8 points).

The siamese builder is judged on its graph: which layers each image goes through before the two paths meet, and
whether those are the very same layer objects with the very same variables (two separate layers of the same shape
are not shared, however alike they look).
"""

from __future__ import annotations

import keras
import numpy as np

from gradekit.harness import (
    GradeFailure,
    Submission,
    activation_name,
    close,
    expect_inputs,
    expect_outputs,
    fresh_session,
    graded,
    model_nodes,
    producer,
    random_batch,
    same_variables,
)

EXERCISE = "build_siamese_digits"
IMAGES = ("image_a", "image_b")


def _siamese(submission: Submission, units: int | None = None) -> keras.Model:
    fresh_session()
    if units is None:
        return submission.model(EXERCISE)
    return submission.model(EXERCISE, units)


def branches(model: keras.Model) -> dict[str, list[tuple[object, object]]]:
    """For each model input: the calls (operation, node) whose result depends on that input and on no other.

    A layer shared by two inputs has one call in each input's branch; a layer that combines both inputs (the
    merge and everything after it) is in no branch.
    """
    depends: dict[int, frozenset] = {}

    def deps(node) -> frozenset:
        key = id(node)
        if key not in depends:
            op = node.operation
            if type(op).__name__ == "InputLayer":
                depends[key] = frozenset([op.name])
            else:
                depends[key] = frozenset().union(*[deps(p) for p in node.parent_nodes]) if node.parent_nodes \
                    else frozenset()
        return depends[key]

    out: dict[str, list] = {t.name: [] for t in model.inputs}
    for op in getattr(model, "operations", model.layers):
        if type(op).__name__ == "InputLayer":
            continue
        for node in model_nodes(model, op):
            d = deps(node)
            if len(d) == 1:
                out[next(iter(d))].append((op, node))
    return out


def weighted_layers(branch: list[tuple[object, object]]) -> list[object]:
    seen, layers = set(), []
    for op, _ in branch:
        if getattr(op, "weights", None) and id(op) not in seen:
            seen.add(id(op))
            layers.append(op)
    return layers


def encodings(model: keras.Model, branch: list[tuple[object, object]]) -> list[object]:
    """The tensors where a branch ends: outputs of its calls that feed a call outside the branch."""
    inside = {id(node) for _, node in branch}
    ends = []
    for op in getattr(model, "operations", model.layers):
        for node in model_nodes(model, op):
            if id(node) in inside:
                continue
            for parent in node.parent_nodes:
                if id(parent) in inside:
                    ends.extend(parent.output_tensors)
    return ends


def _names(layers: list[object]) -> str:
    return ", ".join(f"'{layer.name}'" for layer in layers) or "no layer with weights"


# ---------------------------------------------------------------------------------------------- the checks


@graded(EXERCISE, 1)
def test_siamese_inputs(submission):
    """Two inputs, 'image_a' and 'image_b', each of shape (None, 8, 8, 1), float32."""
    expect_inputs(_siamese(submission), [(name, (None, 8, 8, 1), "float32") for name in IMAGES], EXERCISE)


@graded(EXERCISE, 1)
def test_siamese_output(submission):
    """One output, 'same', of shape (None, 1), with a sigmoid: the probability that both show the same digit."""
    model = _siamese(submission)
    expect_outputs(model, [("same", (None, 1))], EXERCISE)
    layer = producer(model.outputs[0])
    if activation_name(layer) != "sigmoid":
        raise GradeFailure(f"{EXERCISE}: the output 'same' has activation '{activation_name(layer)}'; use "
                           "activation='sigmoid' so that it is a probability between 0 and 1.")


@graded(EXERCISE, 3)
def test_siamese_shares_encoder(submission):
    """Both images go through the same layer objects, with the same variables, before the two paths meet."""
    model = _siamese(submission)
    found = branches(model)
    missing = [name for name in IMAGES if name not in found]
    if missing:
        raise GradeFailure(f"{EXERCISE}: the model has no input named {missing[0]!r}.")
    layers = {name: weighted_layers(found[name]) for name in IMAGES}
    for name in IMAGES:
        if not layers[name]:
            raise GradeFailure(f"{EXERCISE}: '{name}' goes through no layer with weights before it meets the other "
                               "image (or is not used at all); call the one shared encoder on each image, then "
                               "merge the two encodings.")
    weights = {name: [w for layer in layers[name] for w in layer.weights] for name in IMAGES}
    same_layers = {id(layer) for layer in layers["image_a"]} == {id(layer) for layer in layers["image_b"]}
    if not (same_layers and same_variables(weights["image_a"], weights["image_b"])):
        raise GradeFailure(f"{EXERCISE}: the two images are not encoded by the same layers: 'image_a' goes through "
                           f"{_names(layers['image_a'])}, 'image_b' through {_names(layers['image_b'])}. Layers "
                           "created twice have weights of their own, even with the same shape; create the encoder "
                           "once and call that same object on both images.")


@graded(EXERCISE, 1)
def test_siamese_units(submission):
    """Each image is encoded into `units` numbers (tried with units=16 and units=32)."""
    for units in (16, 32):
        model = _siamese(submission, units)
        for name, branch in branches(model).items():
            ends = encodings(model, branch)
            sizes = sorted({tuple(t.shape)[-1] for t in ends})
            if sizes != [units]:
                raise GradeFailure(f"{EXERCISE}({units}): the encoding of '{name}' should have {units} numbers "
                                   f"(Dense(units)), it has {', '.join(map(str, sizes)) or 'none'}.")


@graded(EXERCISE, 1)
def test_siamese_symmetric(submission):
    """Swapping the two images does not change the answer (shared encoder, then |a − b|)."""
    model = _siamese(submission)
    a, b = random_batch((16, 8, 8, 1), seed=1), random_batch((16, 8, 8, 1), seed=2)
    forward = submission.run(f"predicting with the model of {EXERCISE}", model.predict,
                             {"image_a": a, "image_b": b}, verbose=0)
    swapped = submission.run(f"predicting with the model of {EXERCISE}", model.predict,
                             {"image_a": b, "image_b": a}, verbose=0)
    if not close(forward, swapped, atol=1e-5):
        raise GradeFailure(f"{EXERCISE}: swapping the two images changes the answer; the question 'same digit?' is "
                           "symmetric, so encode both images with the same encoder and merge them with |a − b| "
                           "(not with a concatenation, whose order matters).")


@graded(EXERCISE, 1, hidden=True)
def test_siamese_learns(submission):
    """Compiled with Adam and binary cross-entropy, a short fit on real digit pairs lowers the training loss."""
    from coursekit.data.digit_pairs import load_digit_pairs

    (x, y), _, _ = load_digit_pairs()
    x = {name: x[name][:512] for name in IMAGES}
    y = y[:512]
    model = _siamese(submission)
    model.compile(optimizer=keras.optimizers.Adam(0.005), loss="binary_crossentropy")
    history = submission.run(f"training the model of {EXERCISE}", model.fit, x, y, epochs=8, batch_size=64,
                             verbose=0)
    before, after = float(history.history["loss"][0]), float(history.history["loss"][-1])
    if not (np.isfinite(after) and after < 0.85 * before):
        raise GradeFailure(f"{EXERCISE}: 8 epochs on 512 digit pairs took the training loss from {before:.3f} "
                           f"(first epoch) only to {after:.3f}; check that the layers are trainable and the output "
                           "is Dense(1, sigmoid).")
