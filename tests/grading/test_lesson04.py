"""Grader for lesson 04 — branches that merge: the Inception module (9 points).

``inception_module(x, filters)`` is called on a symbolic tensor and the graph it adds is read back from the
tensor it returns: the concatenation, the four branches (walked back layer by layer to ``x``) and what feeds each.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import keras

from gradekit.harness import GradeFailure, Submission, activation_name, fresh_session, graded, shape_str

EXERCISE = "inception_module"
ACTIVATIONS = {"Activation", "ReLU", "Relu"}  # a separate activation layer (or keras.ops.relu) after a convolution
PASS_THROUGH = {"BatchNormalization", "Dropout"}

# The four branches, from x to the concatenation, as (kind, kernel, stride) per layer.
EXPECTED = {
    "a": (("conv", 1, 2),),
    "b": (("conv", 1, 1), ("conv", 3, 2)),
    "c": (("pool", 3, 2), ("conv", 3, 1)),
    "d": (("conv", 1, 1), ("conv", 3, 1), ("conv", 3, 2)),
}


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
    """Each convolution or pooling of a branch as ((kind, kernel, stride), layer, activation); an Activation/ReLU
    layer right after a linear convolution counts as that convolution's activation."""
    found: list[tuple[tuple, Any, str]] = []
    for op in steps:
        kind = type(op).__name__
        if kind == "Conv2D":
            found.append((("conv", op.kernel_size[0], op.strides[0]), op, activation_name(op)))
        elif kind == "AveragePooling2D":
            found.append((("pool", op.pool_size[0], op.strides[0]), op, "linear"))
        elif kind in ACTIVATIONS:
            act = "relu" if kind != "Activation" else activation_name(op)
            if found and found[-1][2] == "linear":
                found[-1] = (found[-1][0], found[-1][1], act)
        elif kind in PASS_THROUGH:
            continue
        else:
            found.append(((kind, None, None), op, "linear"))
    return found


def _describe(signature: tuple) -> str:
    parts = []
    for kind, kernel, stride in signature:
        if kernel is None:
            parts.append(kind)
            continue
        name = f"{kernel}×{kernel} " + ("convolution" if kind == "conv" else "average pooling")
        parts.append(name + (f" (strides={stride})" if stride != 1 else ""))
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


@graded(EXERCISE, 3)
def test_inception_branch_layers(submission):
    """The four branches, in any order (/2: strides=2): 1×1/2; 1×1 → 3×3/2; 3×3 average pooling/2 → 3×3;
    1×1 → 3×3 → 3×3/2."""
    _, branches = _branches(submission)
    found = Counter(tuple(sig for sig, _, _ in layers) for _, _, layers in branches)
    expected = Counter(EXPECTED.values())
    missing, extra = expected - found, found - expected
    if missing or extra:
        want = "; ".join(f"{k}: {_describe(v)}" for k, v in EXPECTED.items())
        lines = []
        if missing:
            lines.append("missing: " + "; ".join(_describe(s) for s in missing.elements()))
        if extra:
            lines.append("found instead: " + "; ".join(_describe(s) for s in extra.elements()))
        raise GradeFailure(f"{EXERCISE}: the branches are not the four of the Inception module ({', '.join(lines)}). "
                           f"Expected, each starting from x — {want}.")


@graded(EXERCISE, 1)
def test_inception_conv_settings(submission):
    """Every convolution of the module has `filters` filters and a ReLU activation."""
    filters = 5
    _, branches = _branches(submission, (8, 8, 3), filters)
    for label, _, layers in branches:
        for (kind, _, _), op, act in layers:
            if kind != "conv":
                continue
            if op.filters != filters:
                raise GradeFailure(f"{EXERCISE}: with filters={filters}, '{op.name}' in {label} has {op.filters} "
                                   "filters; every convolution of the module uses the `filters` argument.")
            if act != "relu":
                raise GradeFailure(f"{EXERCISE}: '{op.name}' in {label} has activation '{act}'; every convolution "
                                   "of the module needs activation='relu'.")
