"""Grader for lesson 04 — branches that merge: the Inception module (12 points).

``inception_module(x, filters)`` is called on a symbolic tensor and the graph it adds is read back from the
tensor it returns: the concatenation, the four branches (walked back layer by layer to ``x``, each checked on its
own: kernel sizes, where the stride sits, the pooling), what feeds each, and every convolution's filters,
activation and padding.
"""

from __future__ import annotations

from typing import Any

import keras

from gradekit.harness import (
    GradeFailure,
    Submission,
    activation_name,
    activation_step,
    fresh_session,
    graded,
    shape_str,
)

EXERCISE = "inception_module"
PASS_THROUGH = {"BatchNormalization", "Dropout"}

# The four branches, from x to the concatenation, as (kind, kernel, strides) per layer.
EXPECTED = {
    "a": (("conv", (1, 1), (2, 2)),),
    "b": (("conv", (1, 1), (1, 1)), ("conv", (3, 3), (2, 2))),
    "c": (("pool", (3, 3), (2, 2)), ("conv", (3, 3), (1, 1))),
    "d": (("conv", (1, 1), (1, 1)), ("conv", (3, 3), (1, 1)), ("conv", (3, 3), (2, 2))),
}


# ------------------------------------------------------------------------------------------------ reading the graph


def _history(tensor: Any) -> tuple[Any, Any]:
    """The operation that produced a symbolic tensor, and the call (node) that did it."""
    operation, node_index, _ = tensor._keras_history
    return operation, operation._inbound_nodes[node_index]


def _module(submission: Submission, shape: tuple = (8, 8, 3), filters: int = 4) -> tuple[Any, Any]:
    """Call the submission on a fresh ``keras.Input``; return (x, output tensor)."""
    fresh_session()
    x = keras.Input(shape, name="x")
    try:
        out = submission.call(EXERCISE, x, filters)
    except GradeFailure as failure:
        hint = ""
        if "Concatenate" in str(failure) or "matching shapes" in str(failure):
            hint = (" The branches' outputs have different heights and widths: give every convolution and the "
                    "pooling padding='same', and put strides=2 on the layer the exercise names in each branch.")
        raise GradeFailure(f"{failure}{hint}") from None
    if not isinstance(out, keras.KerasTensor):
        raise GradeFailure(f"{EXERCISE} should return the concatenated tensor (a tensor in, a tensor out); it "
                           f"returned {type(out).__name__}.")
    return x, out


def _concat_inputs(out: Any) -> list[Any]:
    """The tensors concatenated into the module's output (GradeFailure when the output is not a concatenation)."""
    operation, node = _history(out)
    if type(operation).__name__ != "Concatenate":
        raise GradeFailure(f"{EXERCISE}: the output comes from '{operation.name}' ({type(operation).__name__}); "
                           "it should be the concatenation of the four branches, "
                           "layers.concatenate([a, b, c, d], axis=-1).")
    return list(node.input_tensors)


def _walk(x: Any, tensor: Any, label: str) -> list[Any]:
    """The operations from ``x`` to ``tensor``, first to last, along a branch of single-input layers."""
    steps = []
    while tensor is not x:
        operation, node = _history(tensor)
        kind = type(operation).__name__
        if kind == "InputLayer":
            raise GradeFailure(f"{EXERCISE}: {label} starts from '{operation.name}', an input of its own; every "
                               "branch must start from the module's argument x.")
        inputs = list(node.input_tensors)
        if len(inputs) != 1:
            raise GradeFailure(f"{EXERCISE}: in {label}, '{operation.name}' ({kind}) combines {len(inputs)} "
                               "tensors; inside a branch each layer takes one tensor, and the branches meet only "
                               "in the final concatenation.")
        steps.append(operation)
        tensor = inputs[0]
    return list(reversed(steps))


def _layers(steps: list[Any]) -> list[tuple[tuple, Any, str]]:
    """Each layer of a branch as ((kind, kernel, strides), layer, activation), BatchNormalization and Dropout left
    out. An activation layer (or op) right after a convolution without one counts as that convolution's activation;
    anywhere else (after a convolution that already has one, after the pooling, on x) it is a layer of its own."""
    found: list[tuple[tuple, Any, str]] = []
    for op in steps:
        kind, activation = type(op).__name__, activation_step(op)
        if kind == "Conv2D":
            found.append((("conv", tuple(op.kernel_size), tuple(op.strides)), op, activation_name(op)))
        elif kind == "AveragePooling2D":
            found.append((("pool", tuple(op.pool_size), tuple(op.strides)), op, ""))
        elif activation is not None and found and found[-1][0][0] == "conv" and found[-1][2] == "linear":
            found[-1] = (found[-1][0], found[-1][1], activation)
        elif activation is not None:
            text = {"Activation": f"Activation('{activation}')",
                    "ReLU": activation if activation.startswith("ReLU(") else "ReLU()"}.get(kind, f"{kind}")
            found.append(((f"an extra {text}", None, None), op, ""))
        elif kind not in PASS_THROUGH:
            found.append(((kind, None, None), op, ""))
    return found


def _size(pair: tuple) -> str:
    return f"{pair[0]}×{pair[1]}"


def _describe(signature: tuple) -> str:
    parts = []
    for kind, kernel, strides in signature:
        if kernel is None:
            parts.append(kind)
            continue
        name = f"{_size(kernel)} " + ("convolution" if kind == "conv" else "average pooling")
        if strides != (1, 1):
            name += f" (strides={strides[0] if strides[0] == strides[1] else strides})"
        parts.append(name)
    return " → ".join(parts) or "x itself"


def _branches(submission: Submission, shape: tuple = (8, 8, 3), filters: int = 4):
    """(x, [(label, steps, layers) for each concatenated tensor])."""
    x, out = _module(submission, shape, filters)
    branches = []
    for i, tensor in enumerate(_concat_inputs(out), start=1):
        label = f"branch {i} of the concatenation"
        steps = _walk(x, tensor, label)
        branches.append((label, steps, _layers(steps)))
    return x, branches


@graded(EXERCISE, 2)
def test_inception_output_shape(submission):
    """The module returns a tensor of shape (None, ceil(H/2), ceil(W/2), 4·filters), tried on two inputs."""
    for shape, filters in (((8, 8, 3), 4), ((7, 10, 5), 3)):
        x, out = _module(submission, shape, filters)
        want = (None, -(-shape[0] // 2), -(-shape[1] // 2), 4 * filters)
        if tuple(out.shape) != want:
            raise GradeFailure(f"{EXERCISE}: for x of shape {shape_str((None,) + shape)} and filters={filters} the "
                               f"output should have shape {shape_str(want)}, it has {shape_str(out.shape)}.")
        try:
            keras.Model(x, out)
        except Exception as error:  # noqa: BLE001
            raise GradeFailure(f"{EXERCISE}: the output is not computed from x ({type(error).__name__}); build "
                               "every branch on the tensor the function receives.") from None


@graded(EXERCISE, 1)
def test_inception_concatenates_channels(submission):
    """The output is a concatenation of four tensors on the channel axis (the last one)."""
    x, out = _module(submission)
    inputs = _concat_inputs(out)
    operation, _ = _history(out)
    axis = getattr(operation, "axis", None)
    if axis not in (-1, len(out.shape) - 1):
        raise GradeFailure(f"{EXERCISE}: the branches are concatenated on axis {axis}; stack them on the channel "
                           "axis, axis=-1 (the height and width must stay those of each branch).")
    if len(inputs) != 4:
        raise GradeFailure(f"{EXERCISE}: the concatenation receives {len(inputs)} tensors; it should receive the "
                           "four branches a, b, c and d.")


@graded(EXERCISE, 2)
def test_inception_branches_fed_from_x(submission):
    """Each concatenated tensor comes from x through a branch of its own: every branch starts from x, no layer
    serves two branches and no branch is fed by another branch's tensor."""
    _, branches = _branches(submission)
    owner: dict[int, str] = {}
    for label, steps, _ in branches:
        if not steps:
            raise GradeFailure(f"{EXERCISE}: {label} is x itself; each branch transforms x with its own layers.")
        for op in steps:
            if id(op) in owner and owner[id(op)] != label:
                raise GradeFailure(f"{EXERCISE}: '{op.name}' belongs to both {owner[id(op)]} and {label}: a branch "
                                   "is fed by another branch's tensor (or a layer is reused). Start each branch "
                                   "from x with layers of its own.")
            owner[id(op)] = label


def _expect_branch(submission: Submission, key: str) -> None:
    """Branch ``key`` of the exercise is one of the concatenated branches."""
    _, branches = _branches(submission)
    found = [tuple(sig for sig, _, _ in layers) for _, _, layers in branches]
    if EXPECTED[key] not in found:
        listing = "; ".join(f"{i}: {_describe(signature)}" for i, signature in enumerate(found, start=1))
        others = [k for k in EXPECTED if k != key and EXPECTED[k] in found]
        raise GradeFailure(f"{EXERCISE}: none of the concatenated branches is branch {key}, "
                           f"x → {_describe(EXPECTED[key])}. The concatenated branches are — {listing}"
                           f"{' (branches ' + ', '.join(others) + ' are there)' if others else ''}. Build branch "
                           f"{key} from x with exactly these layers, with strides=2 only where it says so.")


@graded(EXERCISE, 1)
def test_inception_branch_a(submission):
    """Branch a: a 1×1 convolution with strides=2, from x."""
    _expect_branch(submission, "a")


@graded(EXERCISE, 1)
def test_inception_branch_b(submission):
    """Branch b: a 1×1 convolution, then a 3×3 convolution with strides=2, from x."""
    _expect_branch(submission, "b")


@graded(EXERCISE, 1)
def test_inception_branch_c(submission):
    """Branch c: a 3×3 average pooling with strides=2, then a 3×3 convolution, from x."""
    _expect_branch(submission, "c")


@graded(EXERCISE, 1)
def test_inception_branch_d(submission):
    """Branch d: a 1×1 convolution, then a 3×3 convolution, then a 3×3 convolution with strides=2, from x."""
    _expect_branch(submission, "d")


def _convolutions(submission: Submission, filters: int = 4) -> list[tuple[str, Any, str]]:
    """Every convolution of the module: (its branch's label, the layer, its activation)."""
    _, branches = _branches(submission, (8, 8, 3), filters)
    return [(label, op, act) for label, _, layers in branches for (kind, _, _), op, act in layers if kind == "conv"]


@graded(EXERCISE, 1)
def test_inception_conv_filters(submission):
    """Every convolution of the module has `filters` filters."""
    filters = 5
    for label, op, _ in _convolutions(submission, filters):
        if op.filters != filters:
            raise GradeFailure(f"{EXERCISE}: with filters={filters}, '{op.name}' in {label} has {op.filters} "
                               "filters; every convolution of the module uses the `filters` argument.")


@graded(EXERCISE, 1)
def test_inception_conv_relu(submission):
    """Every convolution of the module has a ReLU activation."""
    for label, op, act in _convolutions(submission):
        if act != "relu":
            raise GradeFailure(f"{EXERCISE}: '{op.name}' in {label} has activation '{act}'; every convolution "
                               "of the module needs activation='relu' (or a plain ReLU layer right after it).")


@graded(EXERCISE, 1)
def test_inception_padding_same(submission):
    """Every convolution, and the average pooling, has padding="same"."""
    _, branches = _branches(submission)
    for label, _, layers in branches:
        for (kind, kernel, _), op, _ in layers:
            if kind in ("conv", "pool") and op.padding != "same":
                what = "the average pooling" if kind == "pool" else f"the {_size(kernel)} convolution '{op.name}'"
                even = " (a 1×1 one too)" if kernel == (1, 1) else ""
                raise GradeFailure(f"{EXERCISE}: {what} in {label} has padding='{op.padding}'; every convolution"
                                   f"{even} and the pooling of the module take padding='same'.")
