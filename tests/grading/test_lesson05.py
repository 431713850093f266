"""Grader for lesson 05 — residual connections (13 points).

``residual_block(x, filters, downsample)`` is called on symbolic tensors and the graph it adds is read back from
the tensor it returns: the add, where the shortcut comes from, the projection, the main path. ``build_resnet`` is
built with a spy block (to see the stages it asks for) and with the submission's own block.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from gradekit.blocks import block_calls, residual_spy_block
from gradekit.harness import (
    GradeFailure,
    Submission,
    activation_name,
    expect_inputs,
    expect_outputs,
    fresh_session,
    graded,
    model_nodes,
    producer,
    shape_str,
)

BLOCK = "residual_block"
BUILDER = "build_resnet"
ACTIVATIONS = {"Activation", "ReLU", "Relu"}  # an activation layer, or keras.ops.relu
PASS_THROUGH = {"BatchNormalization", "Dropout"}


def _history(tensor: Any) -> tuple[Any, Any]:
    operation, node_index, _ = tensor._keras_history
    return operation, operation._inbound_nodes[node_index]


def _block(submission: Submission, shape: tuple, filters: int, downsample: bool) -> tuple[Any, Any]:
    """Call the submission's block on a fresh ``keras.Input``: (x, output tensor)."""
    fresh_session()
    x = keras.Input(shape, name="x")
    out = submission.call(BLOCK, x, filters, downsample=downsample)
    if not isinstance(out, keras.KerasTensor):
        raise GradeFailure(f"{BLOCK} should return a tensor (a tensor in, a tensor out); it returned "
                           f"{type(out).__name__}.")
    return x, out


def _add_inputs(out: Any) -> list[Any]:
    """The tensors summed by the block's add (which may be followed by an activation)."""
    tensor = out
    while True:
        operation, node = _history(tensor)
        kind = type(operation).__name__
        if kind == "Add":
            return list(node.input_tensors)
        if kind in ACTIVATIONS | PASS_THROUGH and len(node.input_tensors) == 1:
            tensor = node.input_tensors[0]
            continue
        raise GradeFailure(f"{BLOCK}: the block's output comes from '{operation.name}' ({kind}), not from an add; "
                           "sum the main path and the shortcut with layers.add([y, shortcut]), then apply ReLU.")


def _walk(x: Any, tensor: Any) -> list[Any] | None:
    """The operations from ``x`` to ``tensor`` (first to last) along single-input layers; None if x is not reached."""
    steps = []
    while tensor is not x:
        operation, node = _history(tensor)
        inputs = list(node.input_tensors)
        if type(operation).__name__ == "InputLayer" or len(inputs) != 1:
            return None
        steps.append(operation)
        tensor = inputs[0]
    return list(reversed(steps))


def _convs(steps: list[Any]) -> list[tuple[Any, str]]:
    """The convolutions of a path with their activation (an activation layer right after counts)."""
    convs: list[tuple[Any, str]] = []
    for op in steps:
        kind = type(op).__name__
        if kind == "Conv2D":
            convs.append((op, activation_name(op)))
        elif kind in ACTIVATIONS and convs and convs[-1][1] == "linear":
            convs[-1] = (convs[-1][0], "relu" if kind != "Activation" else activation_name(op))
        elif kind not in ACTIVATIONS | PASS_THROUGH:
            convs.append((op, kind))
    return convs


def _split(x: Any, out: Any) -> tuple[list[Any], list[Any]]:
    """(shortcut path, main path) from x to the add: the shortcut is the path with fewer convolutions."""
    inputs = _add_inputs(out)
    if len(inputs) != 2:
        raise GradeFailure(f"{BLOCK}: the add receives {len(inputs)} tensors; it should sum two, the main path "
                           "and the shortcut.")
    paths = [_walk(x, t) for t in inputs]
    names = " and ".join(f"'{producer(t).name}'" for t in inputs)
    if any(p is None for p in paths):
        raise GradeFailure(f"{BLOCK}: the add sums {names}, but one of them is not computed from x along its own "
                           "path; add the main path's output and the shortcut, both computed from x.")
    shortcut, main = sorted(paths, key=lambda p: sum(type(op).__name__ == "Conv2D" for op in p))
    return shortcut, main


def _is_projection(path: list[Any] | None) -> bool:
    """A path that is one 1×1 convolution of x."""
    return bool(path) and len(path) == 1 and type(path[0]).__name__ == "Conv2D" and path[0].kernel_size == (1, 1)


def _conv_text(op: Any) -> str:
    if type(op).__name__ != "Conv2D":
        return f"'{op.name}' ({type(op).__name__})"
    stride = f", strides={op.strides[0]}" if op.strides[0] != 1 else ""
    return f"Conv2D({op.filters}, {op.kernel_size[0]}×{op.kernel_size[1]}{stride})"


# ---------------------------------------------------------------------------------------------- exercise 1


@graded(BLOCK, 1)
def test_residual_output_shapes(submission):
    """The block keeps the shape (identity case), sets `filters` channels, and halves H and W with downsample."""
    cases = [((8, 8, 6), 6, False, (None, 8, 8, 6)), ((8, 8, 6), 10, True, (None, 4, 4, 10)),
             ((8, 8, 6), 10, False, (None, 8, 8, 10)), ((7, 5, 4), 4, True, (None, 4, 3, 4))]
    for shape, filters, downsample, want in cases:
        _, out = _block(submission, shape, filters, downsample)
        if tuple(out.shape) != want:
            raise GradeFailure(f"{BLOCK}: for x of shape {shape_str((None,) + shape)}, filters={filters}, "
                               f"downsample={downsample}, the output should have shape {shape_str(want)}, it has "
                               f"{shape_str(out.shape)}.")


@graded(BLOCK, 2)
def test_residual_identity_shortcut(submission):
    """When the shapes match (no downsample, x has `filters` channels) the add receives x itself: an identity
    shortcut, not a convolution and not another tensor."""
    x, out = _block(submission, (8, 8, 6), 6, False)
    inputs = _add_inputs(out)
    if not any(t is x for t in inputs):
        found = " and ".join(f"'{producer(t).name}' ({type(producer(t)).__name__})" for t in inputs)
        hint = ("a convolution of x: when the shapes already match, the shortcut is x itself, with no projection"
                if any(_is_projection(_walk(x, t)) for t in inputs)
                else "the shortcut must be the block's input x, unchanged")
        raise GradeFailure(f"{BLOCK}: with downsample=False and filters equal to x's channels, the add receives "
                           f"{found}, neither of which is x; {hint}: layers.add([y, x]).")


@graded(BLOCK, 2)
def test_residual_projection(submission):
    """When the shapes differ, the shortcut is a 1×1 convolution of x with `filters` filters and the main path's
    strides (strides 2 with downsample, 1 when only the channel count changes)."""
    for shape, filters, downsample in (((8, 8, 6), 10, True), ((8, 8, 6), 10, False)):
        x, out = _block(submission, shape, filters, downsample)
        shortcut, _ = _split(x, out)
        convs = [op for op in shortcut if type(op).__name__ == "Conv2D"]
        stride = 2 if downsample else 1
        case = f"downsample={downsample}, x with 6 channels, filters={filters}"
        if not convs:
            raise GradeFailure(f"{BLOCK}: with {case}, the shortcut has no convolution, so its shape cannot match "
                               f"the main path's; project x with Conv2D({filters}, 1, strides={stride}).")
        if len(convs) != 1 or convs[0].kernel_size != (1, 1) or convs[0].strides != (stride, stride) or \
                convs[0].filters != filters:
            found = " → ".join(_conv_text(op) for op in convs)
            raise GradeFailure(f"{BLOCK}: with {case}, the shortcut is {found}; it should be one 1×1 convolution "
                               f"of x, Conv2D({filters}, 1, strides={stride}).")


@graded(BLOCK, 1)
def test_residual_main_path(submission):
    """The main path is two 3×3 convolutions with `filters` filters, ReLU after the first, strides 2 on the first
    when downsampling."""
    for shape, filters, downsample in (((8, 8, 6), 6, False), ((8, 8, 6), 10, True)):
        x, out = _block(submission, shape, filters, downsample)
        _, main = _split(x, out)
        convs = _convs(main)
        stride = 2 if downsample else 1
        want = [(3, stride, filters), (3, 1, filters)]
        got = [(op.kernel_size[0], op.strides[0], op.filters) if type(op).__name__ == "Conv2D" else None
               for op, _ in convs]
        if got != want:
            found = " → ".join(_conv_text(op) for op, _ in convs) or "nothing"
            raise GradeFailure(f"{BLOCK}: with downsample={downsample} the main path is {found}; it should be "
                               f"Conv2D({filters}, 3×3{', strides=2' if downsample else ''}) with ReLU → "
                               f"Conv2D({filters}, 3×3).")
        if convs[0][1] != "relu":
            raise GradeFailure(f"{BLOCK}: the first convolution of the main path has activation '{convs[0][1]}'; "
                               "it needs ReLU.")


@graded(BLOCK, 1)
def test_residual_identity_at_zero(submission):
    """Behaviour: with every convolution's weights set to zero, the identity block passes x straight through."""
    x, out = _block(submission, (6, 6, 4), 4, False)
    model = keras.Model(x, out)
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            for weight in layer.weights:
                weight.assign(np.zeros(weight.shape, dtype="float32"))
    batch = np.random.default_rng(7).random((3, 6, 6, 4)).astype("float32")  # non-negative, so relu(x) == x
    got = submission.run(f"running the block built by {BLOCK}", model.predict, batch, verbose=0)
    if np.shape(got) != batch.shape or not np.allclose(got, batch, atol=1e-5):
        raise GradeFailure(f"{BLOCK}: with the main path's weights at zero the block should output x (the shortcut "
                           "alone), but it does not; the shortcut must carry x unchanged to the add.")


# ---------------------------------------------------------------------------------------------- exercise 2


def _resnet(submission: Submission, **kwargs) -> keras.Model:
    fresh_session()
    return submission.model(BUILDER, **kwargs)


@graded(BUILDER, 1)
def test_resnet_io(submission):
    """One input 'image' of the given shape (float32); one output 'digit' with `num_classes` softmax units."""
    model = _resnet(submission, input_shape=(8, 8, 1), num_classes=10, filters=(4, 8), blocks_per_stage=1)
    expect_inputs(model, [("image", (None, 8, 8, 1), "float32")], BUILDER)
    expect_outputs(model, [("digit", (None, 10))], BUILDER)
    model = _resnet(submission, input_shape=(12, 10, 3), num_classes=4, filters=(4, 8), blocks_per_stage=1)
    expect_inputs(model, [("image", (None, 12, 10, 3), "float32")], BUILDER)
    expect_outputs(model, [("digit", (None, 4))], BUILDER)
    last = producer(model.outputs[0])
    act = activation_name(last) if type(last).__name__ != "Softmax" else "softmax"
    if act != "softmax":
        raise GradeFailure(f"{BUILDER}: the output layer 'digit' has activation '{act}'; use softmax so that the "
                           "outputs are class probabilities.")


@graded(BUILDER, 2)
def test_resnet_stages(submission):
    """The builder calls `block` once per block, stage by stage, with each stage's filters, and downsamples in the
    first block of every stage after the first (tried with two configurations)."""
    for filters, blocks in (((4, 8), 2), ((3, 5, 7), 1)):
        model = _resnet(submission, input_shape=(8, 8, 1), num_classes=10, filters=filters,
                        blocks_per_stage=blocks, block=residual_spy_block)
        calls = block_calls(model)
        want = [(f, s > 0 and i == 0) for s, f in enumerate(filters) for i in range(blocks)]
        got = [(f, d) for f, d, _ in calls]
        if not calls:
            raise GradeFailure(f"{BUILDER} never called the `block` it was given; build every block with "
                               "block(x, filters, downsample=...) so that the lesson can swap in a plain block.")
        if got != want:
            show = lambda seq: ", ".join(f"({f}, {d})" for f, d in seq)  # noqa: E731
            raise GradeFailure(f"{BUILDER}(filters={filters}, blocks_per_stage={blocks}) called block with "
                               f"(filters, downsample) = {show(got)}; expected {show(want)}.")


@graded(BUILDER, 1)
def test_resnet_stem(submission):
    """The first block receives the output of a stem: a 3×3 ReLU convolution of the image with filters[0] filters."""
    model = _resnet(submission, input_shape=(8, 8, 1), num_classes=10, filters=(4, 8), blocks_per_stage=1,
                    block=residual_spy_block)
    calls = block_calls(model)
    if not calls:
        raise GradeFailure(f"{BUILDER} never called the `block` it was given.")
    if calls[0][2] != (None, 8, 8, 4):
        raise GradeFailure(f"{BUILDER}: the first block receives a tensor of shape {shape_str(calls[0][2])}; it "
                           "should receive the stem's output, (None, 8, 8, filters[0]), from a 3×3 convolution "
                           "with padding='same'.")
    image = model.inputs[0]
    stems = [op for op in _fed_by(model, image) if type(op).__name__ == "Conv2D"]
    ok = [c for c in stems if c.kernel_size == (3, 3) and c.filters == 4]
    if not ok:
        raise GradeFailure(f"{BUILDER}: the image should first go through a stem Conv2D(filters[0], 3, "
                           "padding='same', activation='relu').")
    act = activation_name(ok[0])
    if act == "linear":  # or an activation layer right after the stem
        after = [op for op in _fed_by(model, ok[0].output) if type(op).__name__ in ACTIVATIONS]
        act = ("relu" if type(after[0]).__name__ != "Activation" else activation_name(after[0])) if after else act
    if act != "relu":
        raise GradeFailure(f"{BUILDER}: the stem convolution has activation '{act}'; it needs ReLU.")


def _fed_by(model: keras.Model, tensor: Any) -> list[Any]:
    """The operations of ``model`` that receive ``tensor``."""
    return [op for op in model.operations
            if any(any(t is tensor for t in node.input_tensors) for node in model_nodes(model, op))]


@graded(BUILDER, 1)
def test_resnet_uses_residual_blocks(submission):
    """Built with its default block, the network holds one add per block (residual_block is the default)."""
    model = _resnet(submission, input_shape=(8, 8, 1), num_classes=10, filters=(4, 8), blocks_per_stage=2)
    adds = [op for op in model.operations if type(op).__name__ == "Add"]
    if len(adds) != 4:
        raise GradeFailure(f"{BUILDER}: with filters=(4, 8) and blocks_per_stage=2 and the default block, the "
                           f"network has {len(adds)} add(s); it should have 4, one per residual block "
                           "(make block=residual_block the default).")


def _stripes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 8×8 images of horizontal stripes, vertical stripes or a checkerboard (classes 0, 1, 2)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices((8, 8))
    patterns = np.stack([rows % 2, cols % 2, (rows + cols) % 2]).astype("float32")
    y = rng.integers(0, 3, n)
    x = patterns[y] * 0.6 + rng.random((n, 8, 8)).astype("float32") * 0.4
    return x[..., None], y


@graded(BUILDER, 1, hidden=True)
def test_resnet_learns(submission):
    """Behaviour: compiled with Adam and sparse categorical cross-entropy, a short fit lowers the loss.

    Hidden: the student edition does not contain this test; teachers' grading runs it."""
    model = _resnet(submission, input_shape=(8, 8, 1), num_classes=3, filters=(4, 8), blocks_per_stage=1)
    x, y = _stripes(240, seed=3)

    def fit() -> tuple[float, float]:
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        before = float(model.evaluate(x, y, verbose=0))
        model.fit(x, y, epochs=10, batch_size=32, verbose=0)
        return before, float(model.evaluate(x, y, verbose=0))

    before, after = submission.run(f"training the network built by {BUILDER}", fit)
    if not after < 0.5 * before:
        raise GradeFailure(f"{BUILDER}: 10 epochs of training took the loss from {before:.3f} only to {after:.3f}; "
                           "check that the layers are trainable and the output is a softmax.")
