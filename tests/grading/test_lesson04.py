"""Grader for lesson 04 — branches that merge: the Inception module (23 points).

``inception_module(x, filters)`` is called on a symbolic tensor and the graph it adds is read back from the
tensor it returns: the concatenation, the four branches (walked back layer by layer to ``x``, each checked on its
own: kernel sizes, where the stride sits, the pooling), what feeds each, and every convolution's filters,
activation and padding. ``build_classic_inception(input_shape)`` (the functional-API guide's three-tower module) is
built at the guide's size and at a small one, and its graph is read the same way, from the model's output back to
its input: the three towers, what each reads, the max pooling's size and strides, the merge, the shapes and the
parameter count.
"""

from __future__ import annotations

from typing import Any

import keras

from gradekit.harness import (
    Call,
    GradeFailure,
    Graph,
    Submission,
    activation_name,
    activation_step,
    expect_inputs,
    fresh_session,
    graded,
    shape_str,
)

EXERCISE = "inception_module"
CLASSIC = "build_classic_inception"
PASS_THROUGH = {"BatchNormalization", "Dropout"}
POOLINGS = {"AveragePooling2D": "pool", "MaxPooling2D": "maxpool"}  # the kinds read from a branch

# The four branches, from x to the concatenation, as (kind, kernel, strides) per layer.
EXPECTED = {
    "a": (("conv", (1, 1), (2, 2)),),
    "b": (("conv", (1, 1), (1, 1)), ("conv", (3, 3), (2, 2))),
    "c": (("pool", (3, 3), (2, 2)), ("conv", (3, 3), (1, 1))),
    "d": (("conv", (1, 1), (1, 1)), ("conv", (3, 3), (1, 1)), ("conv", (3, 3), (2, 2))),
}


# ------------------------------------------------------------------------------------------------ reading the graph


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


def _concat(out: Any, exercise: str = EXERCISE,
            merge: str = "the four branches, layers.concatenate([a, b, c, d], axis=-1)") -> tuple[Graph, Call]:
    """The graph that made ``out``, read through nested models, and the concatenation that made it (GradeFailure
    when the output is not a concatenation)."""
    graph = Graph([out])
    call = graph.outputs[0]
    if type(call.layer).__name__ != "Concatenate":
        raise GradeFailure(f"{exercise}: the output comes from '{call.layer.name}' ({type(call.layer).__name__}); "
                           f"it should be the concatenation of {merge}.")
    return graph, call


def _concat_inputs(out: Any, exercise: str = EXERCISE,
                   merge: str = "the four branches, layers.concatenate([a, b, c, d], axis=-1)") -> list[Call]:
    """The calls whose outputs are concatenated into the output."""
    return _concat(out, exercise, merge)[1].inputs


def _walk(start: Call, call: Call, label: str, exercise: str = EXERCISE, noun: str = "branch",
          nouns: str = "branches", origin: str = "the module's argument x") -> list[Any]:
    """The layers from the call ``start`` (x's input) to ``call``, first to last, along a branch of single-input
    layers; a branch written as a nested model (a keras.Sequential, say) reads as the layers in it."""
    steps = []
    while call is not start:
        operation, kind = call.layer, type(call.layer).__name__
        if kind == "InputLayer":
            raise GradeFailure(f"{exercise}: {label} starts from '{operation.name}', an input of its own; every "
                               f"{noun} must start from {origin}.")
        if len(call.inputs) != 1:
            raise GradeFailure(f"{exercise}: in {label}, '{operation.name}' ({kind}) combines {len(call.inputs)} "
                               f"tensors; inside a {noun} each layer takes one tensor, and the {nouns} meet only "
                               "in the final concatenation.")
        steps.append(operation)
        call = call.inputs[0]
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
        elif kind in POOLINGS:
            found.append(((POOLINGS[kind], tuple(op.pool_size), tuple(op.strides)), op, ""))
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
        name = f"{_size(kernel)} " + {"conv": "convolution", "pool": "average pooling",
                                      "maxpool": "max pooling"}[kind]
        if strides != (1, 1):
            name += f" (strides={strides[0] if strides[0] == strides[1] else strides})"
        parts.append(name)
    return " → ".join(parts) or "x itself"


def _expect_own_branches(branches: list, exercise: str = EXERCISE, noun: str = "branch", source: str = "x") -> None:
    """Every branch transforms ``source`` with layers of its own: none is ``source`` itself, no layer serves two."""
    owner: dict[int, str] = {}
    for label, steps, _ in branches:
        if not steps:
            raise GradeFailure(f"{exercise}: {label} is {source} itself; each {noun} transforms {source} with its "
                               "own layers.")
        for op in steps:
            if id(op) in owner and owner[id(op)] != label:
                raise GradeFailure(f"{exercise}: '{op.name}' belongs to both {owner[id(op)]} and {label}: a {noun} "
                                   f"is fed by another {noun}'s tensor (or a layer is reused). Start each {noun} "
                                   f"from {source} with layers of its own.")
            owner[id(op)] = label


def _branches(submission: Submission, shape: tuple = (8, 8, 3), filters: int = 4):
    """(x, [(label, steps, layers) for each concatenated tensor])."""
    x, out = _module(submission, shape, filters)
    graph, concat = _concat(out)
    branches = []
    for i, call in enumerate(concat.inputs, start=1):
        label = f"branch {i} of the concatenation"
        steps = _walk(graph.source(x), call, label)
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
    axis = getattr(Graph([out]).outputs[0].layer, "axis", None)
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
    _expect_own_branches(branches)


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


def _branch_convolutions(branches: list) -> list[tuple[str, Any, str]]:
    """Every convolution of a module's branches (or towers): (its branch's label, the layer, its activation)."""
    return [(label, op, act) for label, _, layers in branches for (kind, _, _), op, act in layers if kind == "conv"]


def _expect_relu(exercise: str, convolutions: list[tuple[str, Any, str]], every: str) -> None:
    for label, op, act in convolutions:
        if act != "relu":
            raise GradeFailure(f"{exercise}: '{op.name}' in {label} has activation '{act}'; {every} needs "
                               "activation='relu' (or a plain ReLU layer right after it).")


def _not_same_padding(branches: list) -> tuple[str, str, tuple, Any, str] | None:
    """The first convolution or pooling of the branches whose padding is not "same": (its branch's label, its kind,
    its kernel, the layer, how the feedback names it), or None."""
    for label, _, layers in branches:
        for (kind, kernel, _), op, _ in layers:
            if kind in ("conv", "pool", "maxpool") and op.padding != "same":
                what = f"the {_describe(((kind, kernel, (1, 1)),))}" if kind != "conv" else \
                    f"the {_size(kernel)} convolution '{op.name}'"
                return label, kind, kernel, op, what
    return None


def _convolutions(submission: Submission, filters: int = 4) -> list[tuple[str, Any, str]]:
    """Every convolution of the module: (its branch's label, the layer, its activation)."""
    return _branch_convolutions(_branches(submission, (8, 8, 3), filters)[1])


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
    _expect_relu(EXERCISE, _convolutions(submission), "every convolution of the module")


@graded(EXERCISE, 1)
def test_inception_padding_same(submission):
    """Every convolution, and the average pooling, has padding="same"."""
    found = _not_same_padding(_branches(submission)[1])
    if found:
        label, _, kernel, op, what = found
        even = " (a 1×1 one too)" if kernel == (1, 1) else ""
        raise GradeFailure(f"{EXERCISE}: {what} in {label} has padding='{op.padding}'; every convolution"
                           f"{even} and the pooling of the module take padding='same'.")


# ------------------------------------------------------------------------------------------------------------
# Exercise 2: the functional-API guide's three-tower module, as a model

GUIDE_SHAPE = (256, 256, 3)
SMALL_SHAPE = (9, 7, 5)  # odd sizes and another number of channels: nothing of the guide's size may be hard-coded
CLASSIC_FILTERS = 64

# The three towers, from the input to the concatenation, as (kind, kernel, strides) per layer.
TOWERS = {
    "3×3": (("conv", (1, 1), (1, 1)), ("conv", (3, 3), (1, 1))),
    "5×5": (("conv", (1, 1), (1, 1)), ("conv", (5, 5), (1, 1))),
    "pool": (("maxpool", (3, 3), (1, 1)), ("conv", (1, 1), (1, 1))),
}


def classic_parameters(channels: int) -> int:
    """The guide's module on ``channels`` input channels: three 1×1 convolutions on the input's channels (tower 3's
    reads the pooled input, which has as many), a 3×3 and a 5×5 on 64 channels, every one with 64 filters and a
    bias."""
    one_by_one = CLASSIC_FILTERS * channels + CLASSIC_FILTERS
    return 3 * one_by_one + sum(k * k * CLASSIC_FILTERS * CLASSIC_FILTERS + CLASSIC_FILTERS for k in (3, 5))


def _classic(submission: Submission, shape: tuple | None = None, *, shared: bool = False) -> keras.Model:
    """The submission's model: with the default input shape (the guide's), or with ``input_shape=shape``;
    ``shared``: the one rebuilt model the tests that only read it share (:meth:`Submission.shared_model`), else a
    model of the test's own."""
    fresh_session()
    ask = submission.shared_model if shared else submission.model
    try:
        if shape is None:
            return ask(CLASSIC)
        return ask(CLASSIC, shape)
    except GradeFailure as failure:
        hint = ""
        if "Concatenate" in str(failure) or "matching shapes" in str(failure):
            hint = (" The towers' outputs have different heights and widths: give every layer padding='same', and "
                    "the max pooling strides=1 (a pooling's strides default to its pool size).")
        raise GradeFailure(f"{failure}{hint}") from None


def _classic_output(model: keras.Model) -> Any:
    if len(model.outputs) != 1:
        raise GradeFailure(f"{CLASSIC}: the model should have one output, the concatenated towers; it has "
                           f"{len(model.outputs)}.")
    return model.outputs[0]


def _towers(submission: Submission, shape: tuple | None = None):
    """(model, [(label, steps, layers) for each concatenated tensor]), walked back to the model's input (the shared
    model: the towers are only read)."""
    model = _classic(submission, shape, shared=True)
    if len(model.inputs) != 1:
        raise GradeFailure(f"{CLASSIC}: the model should have one input, 'image'; it has {len(model.inputs)}.")
    merge = "the three towers, layers.concatenate([tower_1, tower_2, tower_3], axis=-1)"
    graph, concat = _concat(_classic_output(model), CLASSIC, merge)
    towers = []
    for i, call in enumerate(concat.inputs, start=1):
        label = f"tower {i} of the concatenation"
        steps = _walk(graph.source(model.inputs[0]), call, label, CLASSIC, "tower", "towers",
                      "the model's input 'image'")
        towers.append((label, steps, _layers(steps)))
    return model, towers


@graded(CLASSIC, 1)
def test_classic_input(submission):
    """Exercise 2: one input, 'image', of shape (None, *input_shape), float32: with the default input_shape (the
    guide's 256×256×3) and with input_shape=(9, 7, 5)."""
    for shape in (None, SMALL_SHAPE):
        model = _classic(submission, shape, shared=True)
        expect_inputs(model, [("image", (None, *(shape or GUIDE_SHAPE)), "float32")],
                      CLASSIC if shape is None else f"{CLASSIC}(input_shape={shape})")


@graded(CLASSIC, 1)
def test_classic_output_shape(submission):
    """Exercise 2: one output, of shape (None, H, W, 192) for input_shape (H, W, C): the towers keep the height and
    width. With the default input_shape and with (9, 7, 5)."""
    for shape in (GUIDE_SHAPE, SMALL_SHAPE):
        out = _classic_output(_classic(submission, None if shape == GUIDE_SHAPE else shape, shared=True))
        want = (None, shape[0], shape[1], 3 * CLASSIC_FILTERS)
        if tuple(out.shape) != want:
            raise GradeFailure(f"{CLASSIC}: for input_shape={shape} the output should have shape {shape_str(want)} "
                               f"(three towers of 64 channels, at the input's height and width); it has "
                               f"{shape_str(out.shape)}.")


@graded(CLASSIC, 1)
def test_classic_concatenates_channels(submission):
    """Exercise 2: the output is the concatenation of three tensors on the channel axis (the last one)."""
    out = _classic_output(_classic(submission, shared=True))
    merge = "the three towers, layers.concatenate([tower_1, tower_2, tower_3], axis=-1)"
    graph, concat = _concat(out, CLASSIC, merge)
    inputs = concat.inputs
    axis = getattr(concat.layer, "axis", None)
    if axis not in (-1, len(out.shape) - 1):
        raise GradeFailure(f"{CLASSIC}: the towers are concatenated on axis {axis}; stack them on the channel "
                           "axis, axis=-1. (The guide's axis=1 was for channels-first images; Keras' images are "
                           "channels-last, (height, width, channels), so axis=1 stacks them along the height.)")
    if len(inputs) != 3:
        raise GradeFailure(f"{CLASSIC}: the concatenation receives {len(inputs)} tensors; it should receive the "
                           "three towers.")


@graded(CLASSIC, 1)
def test_classic_towers_read_the_input(submission):
    """Exercise 2: each concatenated tensor comes from the input through a tower of its own: the first layer of
    every tower (tower 1's and tower 2's 1×1 convolutions, tower 3's pooling) reads the input, and no layer serves
    two towers (a tower fed by another tower's tensor, or one layer called by two towers, does not count)."""
    _, towers = _towers(submission)
    _expect_own_branches(towers, CLASSIC, "tower", "the input")


def _expect_tower(submission: Submission, key: str, number: int) -> None:
    """Tower ``key`` of the exercise is one of the concatenated towers."""
    _, towers = _towers(submission)
    found = [tuple(sig for sig, _, _ in layers) for _, _, layers in towers]
    if TOWERS[key] not in found:
        listing = "; ".join(f"{i}: the input → {_describe(signature)}" for i, signature in enumerate(found, 1))
        others = [str(k) for k, tower in enumerate(TOWERS.values(), 1) if k != number and tower in found]
        raise GradeFailure(f"{CLASSIC}: none of the concatenated towers is tower {number}, the input → "
                           f"{_describe(TOWERS[key])}. The concatenated towers are — {listing}"
                           f"{' (towers ' + ', '.join(others) + ' are there)' if others else ''}. Build tower "
                           f"{number} from the input with exactly these layers, all with strides 1.")


@graded(CLASSIC, 1)
def test_classic_tower_1x1_3x3(submission):
    """Exercise 2: tower 1: a 1×1 convolution that reads the input, then a 3×3 convolution that reads the 1×1."""
    _expect_tower(submission, "3×3", 1)


@graded(CLASSIC, 1)
def test_classic_tower_1x1_5x5(submission):
    """Exercise 2: tower 2: a 1×1 convolution that reads the input, then a 5×5 convolution that reads the 1×1."""
    _expect_tower(submission, "5×5", 2)


@graded(CLASSIC, 1)
def test_classic_tower_pool_1x1(submission):
    """Exercise 2: tower 3: a 3×3 max pooling with strides=1 that reads the input, then a 1×1 convolution."""
    _expect_tower(submission, "pool", 3)


def _classic_convolutions(submission: Submission) -> list[tuple[str, Any, str]]:
    """Every convolution of the towers: (its tower's label, the layer, its activation)."""
    return _branch_convolutions(_towers(submission)[1])


@graded(CLASSIC, 1)
def test_classic_conv_filters(submission):
    """Exercise 2: every convolution has 64 filters."""
    for label, op, _ in _classic_convolutions(submission):
        if op.filters != CLASSIC_FILTERS:
            raise GradeFailure(f"{CLASSIC}: '{op.name}' in {label} has {op.filters} filters; every convolution of "
                               "the guide's module has 64.")


@graded(CLASSIC, 1)
def test_classic_conv_relu(submission):
    """Exercise 2: every convolution has a ReLU activation."""
    _expect_relu(CLASSIC, _classic_convolutions(submission), "every convolution")


@graded(CLASSIC, 1)
def test_classic_padding_same(submission):
    """Exercise 2: every convolution, and the max pooling, has padding="same"."""
    found = _not_same_padding(_towers(submission)[1])
    if found:
        label, kind, kernel, op, what = found
        even = " (a 1×1 one too, although with strides 1 it keeps the size either way)" \
            if kernel == (1, 1) and kind == "conv" else ""
        raise GradeFailure(f"{CLASSIC}: {what} in {label} has padding='{op.padding}'; every convolution"
                           f"{even} and the pooling take padding='same'.")


@graded(CLASSIC, 1)
def test_classic_parameter_count(submission):
    """Exercise 2: the model has 3 × (64·C + 64) + 36,928 + 102,464 parameters: 140,160 with the default
    input_shape (the guide's), 140,544 with (9, 7, 5)."""
    for shape in (GUIDE_SHAPE, SMALL_SHAPE):
        model = _classic(submission, None if shape == GUIDE_SHAPE else shape, shared=True)
        want, got = classic_parameters(shape[-1]), model.count_params()
        if got != want:
            hint = ""
            if got < want and not any(getattr(layer, "use_bias", True) for layer in model.layers
                                      if type(layer).__name__ == "Conv2D"):
                hint = " The convolutions have no biases (use_bias=False); the guide's have one per filter."
            raise GradeFailure(f"{CLASSIC}: for input_shape={shape} the model has {got:,} parameters; the guide's "
                               f"module has {want:,}: three 1×1 convolutions with 64 filters on the input's "
                               f"{shape[-1]} channels ({3 * (64 * shape[-1] + 64):,}), a 3×3 (36,928) and a 5×5 "
                               f"(102,464) convolution on 64 channels, and no other weights.{hint}")
