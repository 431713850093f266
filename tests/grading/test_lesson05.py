"""Grader for lesson 05 — residual connections (20 points).

``residual_block(x, filters, downsample)`` is called on symbolic tensors and the graph it adds is read back from
the tensor it returns: the add, where the shortcut comes from, the projection, the main path, the ReLU after the
add. ``build_resnet`` is built with a spy block, a parameter-free Keras layer handed in as ``block`` whose calls are
read back from the returned model's graph (which stages it asks for, what feeds what), and with the submission's
own block. Graphs are read through nested models: a path, a stem or a head written as a nested Sequential reads as
the layers in it.
"""

from __future__ import annotations

import weakref
from typing import Any

import keras
import numpy as np

from gradekit.blocks import SpyBlock
from gradekit.harness import (
    Call,
    GradeFailure,
    Graph,
    Submission,
    activation_name,
    expect_inputs,
    expect_outputs,
    fit,
    fresh_session,
    graded,
    predict,
    run_rng,
    shape_str,
)

BLOCK = "residual_block"
BUILDER = "build_resnet"
ACTIVATIONS = {"Activation", "ReLU", "Relu"}  # an activation layer, or keras.ops.relu
PASS_THROUGH = {"BatchNormalization", "Dropout"}


def _activation_of(op: Any) -> str:
    """The activation an activation layer or op applies: Activation('relu'), ReLU() and keras.ops.relu read 'relu'
    (a ReLU layer with a slope, threshold or cap reads 'leaky/capped relu')."""
    kind = type(op).__name__
    if kind == "Activation":
        return activation_name(op)
    if kind == "ReLU" and (op.negative_slope or op.threshold or op.max_value is not None):
        return "leaky/capped relu"
    return "relu"


def _history(call: Call) -> tuple[Any, list[Call]]:
    """A call's layer (or op) and the calls that made what it received, nested models read through."""
    return call.layer, call.inputs


def _block(submission: Submission, shape: tuple, filters: int, downsample: bool) -> tuple[Any, Any]:
    """Call the submission's block on a fresh ``keras.Input``: (x, output tensor)."""
    fresh_session()
    x = keras.Input(shape, name="x")
    out = submission.call(BLOCK, x, filters, downsample=downsample)
    if not isinstance(out, keras.KerasTensor):
        raise GradeFailure(f"{BLOCK} should return a tensor (a tensor in, a tensor out); it returned "
                           f"{type(out).__name__}.")
    return x, out


def _add_inputs(out: Any) -> tuple[Graph, list[Call]]:
    """The block's graph, read through nested models (:class:`gradekit.harness.Graph`: a path written as a nested
    Sequential reads as its layers), and the calls summed by the block's add (which may be followed by an
    activation)."""
    graph = Graph([out])
    call = graph.outputs[0]
    while True:
        operation, inputs = _history(call)
        kind = type(operation).__name__
        if kind == "Add":
            return graph, list(inputs)
        if kind in ACTIVATIONS | PASS_THROUGH and len(inputs) == 1:
            call = inputs[0]
            continue
        raise GradeFailure(f"{BLOCK}: the block's output comes from '{operation.name}' ({kind}), not from an add; "
                           "sum the main path and the shortcut with layers.add([y, shortcut]), then apply ReLU.")


def _walk(x: Call, call: Call) -> list[Any] | None:
    """The operations from the call ``x`` (the block's input) to ``call`` (first to last) along single-input
    layers; None if x is not reached."""
    steps = []
    while call is not x:
        operation, inputs = _history(call)
        if type(operation).__name__ == "InputLayer" or len(inputs) != 1:
            return None
        steps.append(operation)
        call = inputs[0]
    return list(reversed(steps))


def _convs(steps: list[Any]) -> list[tuple[Any, str]]:
    """The convolutions of a path with their activation (an activation layer right after counts); any other layer,
    or an activation with no linear convolution before it, is a step of its own (so it shows in the feedback)."""
    convs: list[tuple[Any, str]] = []
    for op in steps:
        kind = type(op).__name__
        if kind == "Conv2D":
            convs.append((op, activation_name(op)))
        elif kind in ACTIVATIONS and convs and type(convs[-1][0]).__name__ == "Conv2D" and convs[-1][1] == "linear":
            convs[-1] = (convs[-1][0], _activation_of(op))
        elif kind not in PASS_THROUGH:
            convs.append((op, kind))
    return convs


def _split(x: Any, out: Any) -> tuple[list[Any], list[Any]]:
    """(shortcut path, main path) from x to the add: the shortcut is the path with fewer convolutions."""
    graph, inputs = _add_inputs(out)
    if len(inputs) != 2:
        raise GradeFailure(f"{BLOCK}: the add receives {len(inputs)} tensors; it should sum two, the main path "
                           "and the shortcut.")
    paths = [_walk(graph.source(x), call) for call in inputs]
    names = " and ".join(f"'{call.layer.name}'" for call in inputs)
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
    """Exercise 1: the block keeps the shape (identity case), sets `filters` channels, and halves H and W with
    downsample."""
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
    """Exercise 1: when the shapes match (no downsample, x has `filters` channels) the add receives x itself: an
    identity shortcut, not a convolution and not another tensor."""
    x, out = _block(submission, (8, 8, 6), 6, False)
    graph, inputs = _add_inputs(out)
    start = graph.source(x)
    if not any(call is start for call in inputs):
        found = " and ".join(f"'{call.layer.name}' ({type(call.layer).__name__})" for call in inputs)
        hint = ("a convolution of x: when the shapes already match, the shortcut is x itself, with no projection"
                if any(_is_projection(_walk(start, call)) for call in inputs)
                else "the shortcut must be the block's input x, unchanged")
        raise GradeFailure(f"{BLOCK}: with downsample=False and filters equal to x's channels, the add receives "
                           f"{found}, neither of which is x; {hint}: layers.add([y, x]).")


@graded(BLOCK, 2)
def test_residual_projection(submission):
    """Exercise 1: when the shapes differ, the shortcut is a 1×1 convolution of x with `filters` filters and the
    main path's strides (strides 2 with downsample, also when the channel count stays; 1 when only the channel
    count changes)."""
    for shape, filters, downsample in (((8, 8, 6), 10, True), ((8, 8, 6), 10, False), ((8, 8, 6), 6, True)):
        stride = 2 if downsample else 1
        case = f"downsample={downsample}, x with 6 channels, filters={filters}"
        try:
            x, out = _block(submission, shape, filters, downsample)
        except GradeFailure as failure:
            if "raised ValueError" not in str(failure):
                raise
            raise GradeFailure(f"{failure} With {case} the main path changes the shape, so the shortcut must be "
                               f"a projection of x with the main path's strides: Conv2D({filters}, 1, "
                               f"strides={stride}).") from None
        shortcut, _ = _split(x, out)
        convs = [op for op in shortcut if type(op).__name__ == "Conv2D"]
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
    """Exercise 1: the main path is two 3×3 convolutions with `filters` filters, ReLU after the first, strides 2 on
    the first when downsampling, and nothing else (no activation before the first convolution)."""
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
def test_residual_main_path_padding_same(submission):
    """Exercise 1: both convolutions of the main path use padding='same'."""
    for shape, filters, downsample in (((8, 8, 6), 6, False), ((8, 8, 6), 10, True)):
        x, out = _block(submission, shape, filters, downsample)
        _, main = _split(x, out)
        for op in main:
            if type(op).__name__ == "Conv2D" and op.padding != "same":
                raise GradeFailure(f"{BLOCK}: with downsample={downsample}, the main path's {_conv_text(op)} has "
                                   f"padding='{op.padding}'; both 3×3 convolutions need padding='same', so that "
                                   "they keep the height and width (halved only by strides=2) and no crop or "
                                   "padding layer is needed.")


@graded(BLOCK, 1)
def test_residual_second_conv_without_activation(submission):
    """Exercise 1: the second convolution of the main path has no activation: the ReLU comes after the add, not
    before it."""
    for shape, filters, downsample in (((8, 8, 6), 6, False), ((8, 8, 6), 10, True)):
        x, out = _block(submission, shape, filters, downsample)
        _, main = _split(x, out)
        convs = [(op, act) for op, act in _convs(main) if type(op).__name__ == "Conv2D"]
        if len(convs) < 2:
            raise GradeFailure(f"{BLOCK}: with downsample={downsample} the main path has {len(convs)} "
                               "convolution(s); it needs two, the second one without activation.")
        if convs[-1][1] != "linear":
            raise GradeFailure(f"{BLOCK}: with downsample={downsample}, the main path's second convolution is "
                               f"followed by activation '{convs[-1][1]}' before the add; it must have no "
                               "activation (leave out activation=..., or the activation layer after it): the ReLU "
                               "belongs after the add, applied to the sum.")


@graded(BLOCK, 1)
def test_residual_paths_summed_with_add(submission):
    """Exercise 1: the main path and the shortcut, both computed from x, are summed by an add (not concatenated,
    multiplied or averaged)."""
    for shape, filters, downsample in (((8, 8, 6), 6, False), ((8, 8, 6), 10, True)):
        x, out = _block(submission, shape, filters, downsample)
        _split(x, out)


@graded(BLOCK, 1)
def test_residual_relu_after_add(submission):
    """Exercise 1: ReLU is applied to the sum: the block returns relu(add([main path, shortcut]))."""
    for shape, filters, downsample in (((8, 8, 6), 6, False), ((8, 8, 6), 10, True)):
        _, out = _block(submission, shape, filters, downsample)
        graph, _ = _add_inputs(out)  # the output comes from an add, through activations and pass-through layers
        after, call = [], graph.outputs[0]
        while type(call.layer).__name__ != "Add":
            operation, inputs = _history(call)
            if type(operation).__name__ in ACTIVATIONS:
                after.append(_activation_of(operation))
            call = inputs[0]
        if not after:
            raise GradeFailure(f"{BLOCK}: with downsample={downsample} the block returns the sum itself, with no "
                               "ReLU after the add; apply ReLU to the sum: "
                               "layers.Activation('relu')(layers.add([y, shortcut])).")
        if any(act != "relu" for act in after):
            raise GradeFailure(f"{BLOCK}: with downsample={downsample}, after the add the block applies "
                               f"{' then '.join(repr(a) for a in reversed(after))}; apply ReLU to the sum, "
                               "nothing else.")


@graded(BLOCK, 1)
def test_residual_identity_at_zero(submission):
    """Exercise 1 (behaviour): with every convolution's weights set to zero, the identity block passes x straight
    through."""
    x, out = _block(submission, (6, 6, 4), 4, False)
    model = keras.Model(x, out)
    for layer in Graph([out]).layers:  # nested models read through: every convolution of the block
        if type(layer).__name__ == "Conv2D":
            for weight in layer.weights:
                weight.assign(np.zeros(weight.shape, dtype="float32"))
    batch = run_rng(BLOCK, "identity").random((3, 6, 6, 4)).astype("float32")  # non-negative, so relu(x) == x
    got = submission.run(f"running the block built by {BLOCK}", predict, model, batch)
    if np.shape(got) != batch.shape or not np.allclose(got, batch, atol=1e-5):
        raise GradeFailure(f"{BLOCK}: with the main path's weights at zero the block should output x (the shortcut "
                           "alone), but it does not; the shortcut must carry x unchanged to the add.")


# ---------------------------------------------------------------------------------------------- exercise 2


def _resnet(submission: Submission, *, shared: bool = False, **kwargs) -> keras.Model:
    """Build with the default block; ``shared`` (the grader's, not passed on): the one rebuilt model the tests that
    only read it share (:meth:`Submission.shared_model`), else a model of the test's own (to train)."""
    fresh_session()
    return submission.shared_model(BUILDER, **kwargs) if shared else submission.model(BUILDER, **kwargs)


def _resnet_with_spy(submission: Submission, **kwargs) -> tuple[keras.Model, SpyBlock]:
    """Build with the spy as `block`: (model, spy)."""
    fresh_session()
    spy = SpyBlock(name="given_block")
    return submission.model(BUILDER, block=spy, **kwargs), spy


_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def graph_of(model: keras.Model) -> Graph:
    """The network's graph read through nested models (a stem or a head written as a nested Sequential reads as its
    layers; the spy is a layer), read once per model so that its calls compare by identity."""
    if model not in _GRAPHS:
        _GRAPHS[model] = Graph.of(model)
    return _GRAPHS[model]


def _block_calls(model: keras.Model, spy: SpyBlock) -> list[Call]:
    """The calls of the spy block that are part of the model, in the order they were made."""
    made = {id(node): i for i, node in enumerate(spy._inbound_nodes)}
    return sorted(graph_of(model).calls_of(spy), key=lambda call: made.get(id(call.node), len(made)))


def _call_args(call: Call) -> tuple[int, bool]:
    kwargs = call.node.arguments.kwargs
    return int(kwargs["filters"]), bool(kwargs.get("downsample", False))


def _fed_by(model: keras.Model, call: Call) -> list[Call]:
    """The calls of ``model``'s graph that receive the output of ``call``."""
    return graph_of(model).readers(call)


def _skip_back(call: Call, kinds: set[str]) -> Call:
    """Walk back from ``call`` through single-input operations of the given kinds."""
    while type(call.layer).__name__ in kinds and len(call.inputs) == 1:
        call = call.inputs[0]
    return call


def _stem(model: keras.Model) -> Call | None:
    """The call of the convolution that reads the image, or None."""
    image = graph_of(model).source(model.inputs[0])
    convs = [call for call in _fed_by(model, image) if type(call.layer).__name__ == "Conv2D"]
    return convs[0] if convs else None


def _output_dense(model: keras.Model) -> Call | None:
    """The call of the Dense layer that makes the output: the output layer itself, or the layer under a softmax
    layer."""
    call = graph_of(model).outputs[0]
    if type(call.layer).__name__ in {"Activation", "Softmax"} and len(call.inputs) == 1:
        call = call.inputs[0]
    return call if type(call.layer).__name__ == "Dense" else None


def _is_global_average(op: Any) -> bool:
    """GlobalAveragePooling2D, or keras.ops.mean over the height and width axes."""
    kind = type(op).__name__
    if kind == "GlobalAveragePooling2D":
        return True
    return kind == "Mean" and sorted(int(a) % 4 for a in (op.axis or [])) == [1, 2]


@graded(BUILDER, 1)
def test_resnet_io(submission):
    """Exercise 2: one input 'image' of the given shape (float32); one output 'digit', a Dense layer with
    `num_classes` softmax units."""
    model, _ = _resnet_with_spy(submission, input_shape=(8, 8, 1), num_classes=10, filters=(4, 8),
                                blocks_per_stage=1)
    expect_inputs(model, [("image", (None, 8, 8, 1), "float32")], BUILDER)
    expect_outputs(model, [("digit", (None, 10))], BUILDER)
    model, _ = _resnet_with_spy(submission, input_shape=(12, 10, 3), num_classes=4, filters=(4, 8),
                                blocks_per_stage=1)
    expect_inputs(model, [("image", (None, 12, 10, 3), "float32")], BUILDER)
    expect_outputs(model, [("digit", (None, 4))], BUILDER)
    last = graph_of(model).outputs[0].layer
    if _output_dense(model) is None:
        raise GradeFailure(f"{BUILDER}: the output 'digit' is made by '{last.name}' ({type(last).__name__}), not "
                           "by a Dense layer; end with layers.Dense(num_classes, activation='softmax', "
                           "name='digit').")
    act = activation_name(last) if type(last).__name__ != "Softmax" else "softmax"
    if act != "softmax":
        raise GradeFailure(f"{BUILDER}: the output layer 'digit' has activation '{act}'; use softmax so that the "
                           "outputs are class probabilities.")


@graded(BUILDER, 1)
def test_resnet_stem(submission):
    """Exercise 2: a stem, a 3×3 convolution of the image with filters[0] filters and ReLU, feeds the first
    block."""
    model, spy = _resnet_with_spy(submission, input_shape=(8, 8, 1), num_classes=10, filters=(4, 8),
                                  blocks_per_stage=1)
    calls = _block_calls(model, spy)
    stem_call = _stem(model)
    if stem_call is None:
        image = graph_of(model).source(model.inputs[0])
        found = (f"the first block receives a tensor of shape {shape_str(model.inputs[0].shape)}, the image itself"
                 if calls and calls[0].inputs and calls[0].inputs[0] is image else "no convolution reads the image")
        raise GradeFailure(f"{BUILDER}: {found}; the image should first go through a stem, "
                           "Conv2D(filters[0], 3, padding='same', activation='relu'), whose output feeds the "
                           "first block.")
    stem = stem_call.layer
    if stem.kernel_size != (3, 3) or stem.filters != 4 or stem.strides != (1, 1):
        raise GradeFailure(f"{BUILDER}: with filters=(4, 8) the stem is {_conv_text(stem)}; it should be a 3×3 "
                           "convolution with filters[0] filters: Conv2D(filters[0], 3, padding='same', "
                           "activation='relu').")
    act = activation_name(stem)
    if act == "linear":  # or an activation layer right after the stem
        after = [call for call in _fed_by(model, stem_call) if type(call.layer).__name__ in ACTIVATIONS]
        act = _activation_of(after[0].layer) if after else act
    if act != "relu":
        raise GradeFailure(f"{BUILDER}: the stem convolution has activation '{act}'; it needs ReLU.")
    if calls and calls[0].inputs:
        source = _skip_back(calls[0].inputs[0], ACTIVATIONS | PASS_THROUGH)
        if source is not stem_call:
            raise GradeFailure(f"{BUILDER}: the first block receives the output of '{source.layer.name}', not "
                               f"the stem's ('{stem.name}'); call the first block on the stem's output.")


@graded(BUILDER, 1)
def test_resnet_stem_padding_same(submission):
    """Exercise 2: the stem convolution uses padding='same', so that it keeps the image's height and width."""
    model, _ = _resnet_with_spy(submission, input_shape=(8, 8, 1), num_classes=10, filters=(4, 8),
                                blocks_per_stage=1)
    stem_call = _stem(model)
    if stem_call is None:
        raise GradeFailure(f"{BUILDER}: no convolution reads the image, so there is no stem to check; start with "
                           "Conv2D(filters[0], 3, padding='same', activation='relu').")
    stem = stem_call.layer
    if stem.padding != "same":
        shape = stem_call.outputs[0].shape
        raise GradeFailure(f"{BUILDER}: the stem convolution has padding='{stem.padding}', so the 8×8 image "
                           f"becomes {shape[1]}×{shape[2]} maps before the first block; use padding='same'.")


@graded(BUILDER, 2)
def test_resnet_stages(submission):
    """Exercise 2: the builder calls `block` once per block, stage by stage, with each stage's filters, each block
    on the previous block's output, and downsamples in the first block of every stage after the first (tried with
    two configurations)."""
    for filters, blocks in (((4, 8), 2), ((3, 5, 7), 1)):
        model, spy = _resnet_with_spy(submission, input_shape=(8, 8, 1), num_classes=10, filters=filters,
                                      blocks_per_stage=blocks)
        calls = _block_calls(model, spy)
        want = [(f, s > 0 and i == 0) for s, f in enumerate(filters) for i in range(blocks)]
        if not calls:
            raise GradeFailure(f"{BUILDER} never called the `block` it was given (or left what it built out of the "
                               "model); build every block with block(x, filters, downsample=...) so that the "
                               "lesson can swap in a plain block.")
        got = [_call_args(call) for call in calls]
        if got != want:
            show = lambda seq: ", ".join(f"({f}, {d})" for f, d in seq)  # noqa: E731
            raise GradeFailure(f"{BUILDER}(filters={filters}, blocks_per_stage={blocks}) called block with "
                               f"(filters, downsample) = {show(got)}; expected {show(want)}.")
        for k, (previous, call) in enumerate(zip(calls, calls[1:]), start=2):
            source = _skip_back(call.inputs[0], PASS_THROUGH) if call.inputs else call
            if source is not previous:
                raise GradeFailure(f"{BUILDER}(filters={filters}, blocks_per_stage={blocks}): block {k} receives "
                                   f"the output of '{source.layer.name}', not block {k - 1}'s; chain the "
                                   "blocks, each called on the previous block's output: x = block(x, ...).")


@graded(BUILDER, 1)
def test_resnet_global_average_pooling(submission):
    """Exercise 2: GlobalAveragePooling2D of the last block's output, then the Dense(num_classes) output layer."""
    model, spy = _resnet_with_spy(submission, input_shape=(8, 8, 1), num_classes=10, filters=(4, 8),
                                  blocks_per_stage=1)
    dense = _output_dense(model)
    if dense is None:
        raise GradeFailure(f"{BUILDER}: the output 'digit' is not a Dense layer, so nothing reads pooled features; "
                           "end with GlobalAveragePooling2D, then Dense(num_classes, activation='softmax', "
                           "name='digit').")
    source = dense.inputs[0]
    while True:  # through Dropout, and through a Flatten that only drops 1×1 height and width
        pool, inputs = _history(source)
        kind = type(pool).__name__
        flat_1x1 = kind == "Flatten" and len(inputs) == 1 and all(d == 1 for d in inputs[0].outputs[0].shape[1:-1])
        if flat_1x1 or (kind == "Dropout" and len(inputs) == 1):
            source = inputs[0]
            continue
        break
    if not _is_global_average(pool):
        raise GradeFailure(f"{BUILDER}: the output Dense layer reads '{pool.name}' ({type(pool).__name__}); it "
                           "should read the global average of the last block's output: "
                           "layers.GlobalAveragePooling2D()(x), then the Dense layer.")
    calls = _block_calls(model, spy)
    if calls and inputs and _skip_back(inputs[0], PASS_THROUGH) is not calls[-1]:
        raise GradeFailure(f"{BUILDER}: GlobalAveragePooling2D reads '{inputs[0].layer.name}', "
                           "not the last block's output; pool the output of the last block.")


@graded(BUILDER, 1)
def test_resnet_model_name(submission):
    """Exercise 2: the model is named `name` ('resnet' by default; the lesson also builds one named 'plain')."""
    for kwargs, want in (({}, "resnet"), ({"name": "plain"}, "plain")):
        model, _ = _resnet_with_spy(submission, input_shape=(8, 8, 1), num_classes=10, filters=(4, 8),
                                    blocks_per_stage=1, **kwargs)
        if model.name != want:
            given = f"name='{want}'" if kwargs else "the default name"
            raise GradeFailure(f"{BUILDER}: built with {given}, the model is named '{model.name}'; it should be "
                               f"named '{want}': return keras.Model(inputs, outputs, name=name).")


@graded(BUILDER, 1)
def test_resnet_uses_residual_blocks(submission):
    """Exercise 2: built with its default block, the network holds one add per block (residual_block is the
    default)."""
    model = _resnet(submission, input_shape=(8, 8, 1), num_classes=10, filters=(4, 8), blocks_per_stage=2,
                    shared=True)
    adds = [call for call in graph_of(model).calls if type(call.layer).__name__ == "Add"]
    if len(adds) != 4:
        raise GradeFailure(f"{BUILDER}: with filters=(4, 8) and blocks_per_stage=2 and the default block, the "
                           f"network has {len(adds)} add(s); it should have 4, one per residual block "
                           "(make block=residual_block the default).")


def _stripes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 8×8 images of horizontal stripes, vertical stripes or a checkerboard (classes 0, 1, 2)."""
    rng = run_rng(BUILDER, "stripes", n)  # new images every grading run
    rows, cols = np.indices((8, 8))
    patterns = np.stack([rows % 2, cols % 2, (rows + cols) % 2]).astype("float32")
    y = rng.integers(0, 3, n)
    x = patterns[y] * 0.6 + rng.random((n, 8, 8)).astype("float32") * 0.4
    return x[..., None], y


@graded(BUILDER, 1, hidden=True)
def test_resnet_learns(submission):
    """Exercise 2 (behaviour): compiled with Adam and sparse categorical cross-entropy, a short fit lowers the
    loss.

    Hidden: the student edition does not contain this test; teachers' grading runs it."""
    model = _resnet(submission, input_shape=(8, 8, 1), num_classes=3, filters=(4, 8), blocks_per_stage=1)
    x, y = _stripes(240)

    def train() -> tuple[float, float]:
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        before = float(model.evaluate(x, y, verbose=0))
        fit(model, x, y, epochs=10, batch_size=32, verbose=0)
        return before, float(model.evaluate(x, y, verbose=0))

    before, after = submission.run(f"training the network built by {BUILDER}", train)
    if not after < 0.5 * before:
        raise GradeFailure(f"{BUILDER}: 10 epochs of training took the loss from {before:.3f} only to {after:.3f}; "
                           "check that the layers are trainable and the output is a softmax.")
