"""Grader for lesson 06 — shared layers (17 points).

Both builders are judged on their graphs: which layers each input goes through before the two paths meet, and
whether those are the very same layer objects with the very same variables (two separate layers of the same shape
are not shared, however alike they look), and what the two encodings are merged into. The classic shared LSTM
(``build_shared_lstm_posts``) is built at its classic sizes and at small ones: one LSTM, called on both posts, the
concatenation, the sigmoid output and the parameter count; the siamese digits network (``build_siamese_digits``)
is also run, to see that it is symmetric and merges by |a − b|, and trained (a hidden test).
"""

from __future__ import annotations

import weakref

import keras
import numpy as np

from gradekit.harness import (
    Call,
    GradeFailure,
    Graph,
    Submission,
    close,
    expect_dense_output,
    expect_inputs,
    fit,
    fresh_session,
    graded,
    predict,
    random_batch,
    run_rng,
    same_variables,
    shape_str,
)

EXERCISE = "build_siamese_digits"
IMAGES = ("image_a", "image_b")
POSTS_EXERCISE = "build_shared_lstm_posts"
POSTS = ("post_a", "post_b")
# (timesteps, features, units): the classic sizes (the defaults), and small ones so that none may be hard-coded
CLASSIC_POSTS, SMALL_POSTS = (140, 256, 64), (12, 20, 8)


def _siamese(submission: Submission, units: int | None = None, *, shared: bool = False) -> keras.Model:
    """The submission's model; ``shared``: the one rebuilt model the tests that only read it share
    (:meth:`Submission.shared_model`), else a model of the test's own (to train, or to build a probe model on)."""
    fresh_session()
    ask = submission.shared_model if shared else submission.model
    if units is None:
        return ask(EXERCISE)
    return ask(EXERCISE, units)


def dependence(graph: Graph):
    """A function: call -> the names of the model inputs its result depends on."""
    depends: dict[int, frozenset] = {}
    for call in graph.calls:  # inputs first
        if type(call.layer).__name__ == "InputLayer":
            depends[id(call)] = frozenset([call.layer.name])
        else:
            depends[id(call)] = frozenset().union(*[depends[id(p)] for p in call.inputs])
    return lambda call: depends[id(call)]


def branches(model: keras.Model) -> dict[str, list[Call]]:
    """For each model input: the layer calls whose result depends on that input and on no other, the graph read
    through nested models (:class:`gradekit.harness.Graph`: an encoder written as a nested Sequential reads as its
    layers).

    A layer shared by two inputs has one call in each input's branch; a layer that combines both inputs (the
    merge and everything after it) is in no branch.
    """
    graph = graph_of(model)
    deps = dependence(graph)
    out: dict[str, list[Call]] = {t.name: [] for t in model.inputs}
    for call in graph.calls:
        d = deps(call)
        if type(call.layer).__name__ != "InputLayer" and len(d) == 1 and next(iter(d)) in out:
            out[next(iter(d))].append(call)
    return out


def weighted_layers(branch: list[Call]) -> list[object]:
    seen, layers = set(), []
    for call in branch:
        if getattr(call.layer, "weights", None) and id(call.layer) not in seen:
            seen.add(id(call.layer))
            layers.append(call.layer)
    return layers


def encodings(model: keras.Model, branch: list[Call]) -> list[Call]:
    """The calls where a branch ends: calls of the branch whose output feeds a call outside the branch."""
    inside = {id(call) for call in branch}
    ends: list[Call] = []
    for call in graph_of(model).calls:
        if id(call) in inside:
            continue
        for parent in call.inputs:
            if id(parent) in inside and not any(parent is e for e in ends):
                ends.append(parent)
    return ends


_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def graph_of(model: keras.Model) -> Graph:
    """The model's graph read through nested models, read once per model (so that its calls compare by identity)."""
    if model not in _GRAPHS:
        _GRAPHS[model] = Graph.of(model)
    return _GRAPHS[model]


def _names(layers: list[object]) -> str:
    return ", ".join(f"'{layer.name}'" for layer in layers) or "no layer with weights"


# ---------------------------------------------------------------------------- exercise 1: the classic shared LSTM


def _posts(submission: Submission, sizes: tuple[int, int, int] = CLASSIC_POSTS, *,
           shared: bool = False) -> keras.Model:
    """The submission's model: with its defaults for the classic sizes, else with (timesteps, features, units);
    ``shared``: the one rebuilt model the tests that only read it share (:meth:`Submission.shared_model`), else a
    model of the test's own."""
    fresh_session()
    ask = submission.shared_model if shared else submission.model
    if sizes == CLASSIC_POSTS:
        return ask(POSTS_EXERCISE)
    return ask(POSTS_EXERCISE, *sizes)


def _call_label(sizes: tuple[int, int, int]) -> str:
    return POSTS_EXERCISE if sizes == CLASSIC_POSTS else f"{POSTS_EXERCISE}{sizes}"


def lstm_layers(model: keras.Model) -> list[object]:
    """Every LSTM layer object of the model, inside nested models too (each once)."""
    return [layer for layer in graph_of(model).layers if type(layer).__name__ == "LSTM"]


def parameters_of_posts_model(timesteps: int, features: int, units: int) -> int:
    """One LSTM(units) on `features` numbers per step (four gates: input kernel, recurrent kernel, bias), and the
    Dense(1) output on the two concatenated encodings."""
    return 4 * units * (features + units + 1) + 2 * units + 1


@graded(POSTS_EXERCISE, 1)
def test_posts_inputs(submission):
    """Exercise 1: two inputs, 'post_a' and 'post_b', each of shape (None, timesteps, features), float32: with the
    defaults (the classic 140 × 256) and with timesteps=12, features=20."""
    for sizes in (CLASSIC_POSTS, SMALL_POSTS):
        timesteps, features, _ = sizes
        expect_inputs(_posts(submission, sizes, shared=True),
                      [(name, (None, timesteps, features), "float32") for name in POSTS], _call_label(sizes))


@graded(POSTS_EXERCISE, 1)
def test_posts_output(submission):
    """Exercise 1: one output, 'same_author', a Dense(1) layer with a sigmoid: the probability that one person
    wrote both posts."""
    model = _posts(submission, shared=True)
    expect_dense_output(model, "same_author", (None, 1), "sigmoid", POSTS_EXERCISE,
                        fix="layers.Dense(1, activation='sigmoid', name='same_author') on the concatenated encodings",
                        why=" so that it is a probability between 0 and 1")


@graded(POSTS_EXERCISE, 3)
def test_posts_one_shared_lstm(submission):
    """Exercise 1: the model holds ONE LSTM layer, with one set of variables, called on both posts: each post goes
    through that very LSTM (two calls in the graph, one per post) and through the same layers with weights, before
    the two paths meet."""
    model = _posts(submission, shared=True)
    lstms = lstm_layers(model)
    if not lstms:
        raise GradeFailure(f"{POSTS_EXERCISE}: the model has no LSTM layer; read each post with one "
                           "layers.LSTM(units), created once and called on both posts.")
    if len(lstms) > 1:
        raise GradeFailure(f"{POSTS_EXERCISE}: the model holds {len(lstms)} LSTM layers ({_names(lstms)}), each with "
                           "weights of its own: a layer created twice is not shared, even with the same shape. "
                           "Create one LSTM, keep it in a variable and call that variable on both posts.")
    [lstm] = lstms
    found = branches(model)
    for name in POSTS:
        if name not in found:
            raise GradeFailure(f"{POSTS_EXERCISE}: the model has no input named {name!r}.")
    layers = {name: weighted_layers(found[name]) for name in POSTS}
    weights = {name: [w for layer in layers[name] for w in layer.weights] for name in POSTS}
    for name in POSTS:
        if not any(w is v for w in weights[name] for v in lstm.weights):
            other = [n for n in POSTS if n != name][0]
            raise GradeFailure(f"{POSTS_EXERCISE}: '{name}' does not go through the LSTM '{lstm.name}' before it "
                               f"meets '{other}' (or is not used at all); call the one LSTM on each post: "
                               "encoded_a = lstm(post_a), encoded_b = lstm(post_b).")
    if not same_variables(weights["post_a"], weights["post_b"]):
        raise GradeFailure(f"{POSTS_EXERCISE}: the two posts are not read by the same layers: 'post_a' goes through "
                           f"{_names(layers['post_a'])}, 'post_b' through {_names(layers['post_b'])}. Both go "
                           "through the one LSTM and nothing else with weights before they meet.")


@graded(POSTS_EXERCISE, 1)
def test_posts_lstm_units(submission):
    """Exercise 1: the LSTM has `units` units, and each call returns one vector of `units` numbers per post, shape
    (None, units): with the default 64 and with units=8."""
    for sizes in (CLASSIC_POSTS, SMALL_POSTS):
        units, label = sizes[2], _call_label(sizes)
        model = _posts(submission, sizes, shared=True)
        lstms = lstm_layers(model)
        if not lstms:
            raise GradeFailure(f"{label}: the model has no LSTM layer; read each post with layers.LSTM(units).")
        for lstm in lstms:
            if lstm.units != units:
                raise GradeFailure(f"{label}: the LSTM '{lstm.name}' has {lstm.units} units; it should have "
                                   f"units={units}: layers.LSTM(units).")
            for node in lstm._inbound_nodes:  # its calls, in this model or in a model nested in it
                shapes = [shape_str(t.shape) for t in node.output_tensors]
                if shapes != [shape_str((None, units))]:
                    raise GradeFailure(f"{label}: a call of the LSTM '{lstm.name}' returns {', '.join(shapes)}; it "
                                       f"should return one vector of {units} numbers per post, "
                                       f"{shape_str((None, units))}: leave return_sequences (and return_state) "
                                       "off.")


def _through_dropout(call: Call) -> Call:
    """The call a chain of Dropout layers ending in ``call`` starts from."""
    while type(call.layer).__name__ == "Dropout" and len(call.inputs) == 1:
        call = call.inputs[0]
    return call


@graded(POSTS_EXERCISE, 1)
def test_posts_concatenation(submission):
    """Exercise 1: the two encodings are concatenated, post_a's first, and the output layer reads the
    concatenation."""
    model = _posts(submission, shared=True)
    ends = {name: encodings(model, branch) for name, branch in branches(model).items()}
    output = graph_of(model).outputs[0]
    if type(output.layer).__name__ == "Activation" and len(output.inputs) == 1:
        output = output.inputs[0]
    if len(output.inputs) != 1:
        raise GradeFailure(f"{POSTS_EXERCISE}: the output layer should read one tensor, the concatenated "
                           "encodings.")
    merged = _through_dropout(output.inputs[0])
    merge = merged.layer
    if type(merge).__name__ != "Concatenate":
        raise GradeFailure(f"{POSTS_EXERCISE}: the output layer reads '{merge.name}' ({type(merge).__name__}); it "
                           "should read the concatenation of the two encodings, "
                           "layers.concatenate([encoded_a, encoded_b]).")
    parts = merged.inputs
    want = [ends.get(name, [None])[0] if len(ends.get(name, [])) == 1 else None for name in POSTS]
    if len(parts) == 2 and all(w is not None for w in want) and parts[0] is want[1] and parts[1] is want[0]:
        raise GradeFailure(f"{POSTS_EXERCISE}: the concatenation puts post_b's encoding first; concatenate them "
                           "in the order of the inputs: layers.concatenate([encoded_a, encoded_b]).")
    if not (len(parts) == 2 and parts[0] is want[0] and parts[1] is want[1]):
        raise GradeFailure(f"{POSTS_EXERCISE}: the concatenation '{merge.name}' joins {len(parts)} tensor(s), not "
                           "the two encodings of the shared LSTM (post_a's, then post_b's): "
                           "layers.concatenate([encoded_a, encoded_b]).")


@graded(POSTS_EXERCISE, 1)
def test_posts_parameter_count(submission):
    """Exercise 1: the model has 4·units·(features + units + 1) + 2·units + 1 parameters, one LSTM's worth and the
    output unit's: 82,305 with the defaults, 945 with timesteps=12, features=20, units=8."""
    for sizes in (CLASSIC_POSTS, SMALL_POSTS):
        _, features, units = sizes
        model = _posts(submission, sizes, shared=True)
        want, got = parameters_of_posts_model(*sizes), model.count_params()
        if got != want:
            lstm = 4 * units * (features + units + 1)
            hint = " That is two LSTMs' worth: create the LSTM once and call it twice." \
                if got == want + lstm else ""
            raise GradeFailure(f"{_call_label(sizes)}: the model has {got:,} parameters; it should have {want:,}: "
                               f"one LSTM({units}) on {features} features ({lstm:,}) and the Dense(1) output on the "
                               f"{2 * units} concatenated numbers ({2 * units + 1}), nothing else.{hint}")


# ---------------------------------------------------------------------------- exercise 2: the siamese digits


@graded(EXERCISE, 1)
def test_siamese_inputs(submission):
    """Exercise 2: two inputs, 'image_a' and 'image_b', each of shape (None, 8, 8, 1), float32."""
    expect_inputs(_siamese(submission, shared=True), [(name, (None, 8, 8, 1), "float32") for name in IMAGES],
                  EXERCISE)


@graded(EXERCISE, 1)
def test_siamese_output(submission):
    """Exercise 2: one output, 'same', a Dense(1) layer with a sigmoid: the probability that both show the same
    digit."""
    model = _siamese(submission, shared=True)
    expect_dense_output(model, "same", (None, 1), "sigmoid", EXERCISE,
                        fix="layers.Dense(1, activation='sigmoid', name='same') on the merged encodings",
                        why=" so that it is a probability between 0 and 1")


@graded(EXERCISE, 3)
def test_siamese_shares_encoder(submission):
    """Exercise 2: both images go through the same layer objects, with the same variables, before the two paths
    meet."""
    model = _siamese(submission, shared=True)
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
    """Exercise 2: each image is encoded into `units` numbers (tried with units=16 and units=32)."""
    for units in (16, 32):
        model = _siamese(submission, units, shared=True)
        for name, branch in branches(model).items():
            ends = encodings(model, branch)
            sizes = sorted({tuple(end.outputs[0].shape)[-1] for end in ends})
            if sizes != [units]:
                raise GradeFailure(f"{EXERCISE}({units}): the encoding of '{name}' should have {units} numbers "
                                   f"(Dense(units)), it has {', '.join(map(str, sizes)) or 'none'}.")


@graded(EXERCISE, 1)
def test_siamese_symmetric(submission):
    """Exercise 2: swapping the two images does not change the answer (shared encoder, then |a − b|)."""
    model = _siamese(submission, shared=True)
    a, b = random_batch((16, 8, 8, 1), "symmetric", "a"), random_batch((16, 8, 8, 1), "symmetric", "b")
    forward = submission.run(f"predicting with the model of {EXERCISE}", predict, model, {"image_a": a, "image_b": b})
    swapped = submission.run(f"predicting with the model of {EXERCISE}", predict, model, {"image_a": b, "image_b": a})
    if not close(forward, swapped, atol=1e-5):
        raise GradeFailure(f"{EXERCISE}: swapping the two images changes the answer; the question 'same digit?' is "
                           "symmetric, so encode both images with the same encoder and merge them with |a − b| "
                           "(not with a concatenation, whose order matters).")


def _ancestors(call: Call) -> set[int]:
    """The ids of every call upstream of ``call``."""
    seen: set[int] = set()
    stack = list(call.inputs)
    while stack:
        parent = stack.pop()
        if id(parent) not in seen:
            seen.add(id(parent))
            stack.extend(parent.inputs)
    return seen


# What a merge tensor may be instead of |a − b|, for the feedback: (description, function of the two encodings)
OTHER_MERGES = [
    ("the plain difference a − b, whose sign flips when the images are swapped", lambda a, b: a - b),
    ("the plain difference b − a, whose sign flips when the images are swapped", lambda a, b: b - a),
    ("the squared difference (a − b)²", lambda a, b: (a - b) ** 2),
    ("the sum a + b, which is not 0 when both encodings are equal", lambda a, b: a + b),
    ("the product a × b, which is not 0 when both encodings are equal", lambda a, b: a * b),
]


@graded(EXERCISE, 1)
def test_siamese_absolute_difference(submission):
    """Exercise 2: the two encodings are merged by their absolute difference |a − b|: the first layer with weights
    after the two paths meet receives exactly |encoding of image_a − encoding of image_b|."""
    model = _siamese(submission)  # a model of its own: a probe model is built on its tensors
    found = branches(model)
    ends = {}
    for name in IMAGES:
        ends[name] = encodings(model, found.get(name, []))
        if len(ends[name]) != 1:
            raise GradeFailure(f"{EXERCISE}: '{name}' should be encoded into one vector that goes into the merge; "
                               f"its path ends in {len(ends[name])} tensors.")
    graph = graph_of(model)
    deps = dependence(graph)
    merged = [call for call in graph.calls if deps(call) >= set(IMAGES) and getattr(call.layer, "weights", None)]
    first = [call for call in merged
             if not any(id(other) in _ancestors(call) for other in merged if other is not call)]
    if not first:
        raise GradeFailure(f"{EXERCISE}: no layer with weights comes after the two encodings meet; merge them "
                           "with |a − b| (layers.subtract, then keras.ops.abs) and feed that to the output "
                           "Dense(1, sigmoid) 'same'.")
    a, b = random_batch((16, 8, 8, 1), "difference", "a"), random_batch((16, 8, 8, 1), "difference", "b")
    batch = [{"image_a": a, "image_b": b}[t.name] for t in model.inputs]
    for call in first:
        op = call.layer
        if len(call.inputs) != 1:
            raise GradeFailure(f"{EXERCISE}: '{op.name}' receives {len(call.inputs)} tensors after the two "
                               "paths meet; it should receive one, |a − b| of the two encodings.")
        merge = call.inputs[0].outputs[0]
        seen = [ends["image_a"][0].tensor, ends["image_b"][0].tensor, call.inputs[0].tensor]
        if any(t is None for t in seen):
            raise GradeFailure(f"{EXERCISE}: the merge of the two encodings happens inside a nested model, where "
                               "the grader cannot read it; merge them in the model itself: "
                               "keras.ops.abs(layers.subtract([a, b])).")
        probe = keras.Model(model.inputs, seen)
        enc_a, enc_b, got = submission.run(f"predicting with the model of {EXERCISE}", predict, probe, batch)
        want = np.abs(enc_a - enc_b)
        if np.shape(got) != np.shape(want):
            encoding = shape_str(ends["image_a"][0].outputs[0].shape)
            raise GradeFailure(f"{EXERCISE}: '{op.name}' receives a tensor of shape {shape_str(merge.shape)}, not "
                               f"|a − b| of the two encodings (shape {encoding}; a "
                               "concatenation, for one, is twice as long); merge them with "
                               "keras.ops.abs(layers.subtract([a, b])).")
        if not np.allclose(got, want, atol=1e-5, rtol=1e-4):
            what = next((text for text, fn in OTHER_MERGES if np.allclose(got, fn(enc_a, enc_b), atol=1e-5,
                                                                           rtol=1e-4)),
                        "something other than |a − b| of the two encodings")
            raise GradeFailure(f"{EXERCISE}: after the two paths meet, '{op.name}' receives {what}; merge the two "
                               "encodings by their absolute difference |a − b|: "
                               "keras.ops.abs(layers.subtract([a, b])).")


@graded(EXERCISE, 1, hidden=True)
def test_siamese_learns(submission):
    """Exercise 2 (behaviour): compiled with Adam and binary cross-entropy, a short fit on real digit pairs lowers
    the training loss."""
    from coursekit.data.digit_pairs import load_digit_pairs

    (x, y), _, _ = load_digit_pairs()
    rows = run_rng(EXERCISE, "learns").choice(len(y), 512, replace=False)  # other pairs every grading run
    x = {name: x[name][rows] for name in IMAGES}
    y = y[rows]
    model = _siamese(submission)  # a model of its own: it is compiled and trained
    model.compile(optimizer=keras.optimizers.Adam(0.005), loss="binary_crossentropy")
    history = submission.run(f"training the model of {EXERCISE}", fit, model, x, y, epochs=8, batch_size=64,
                             verbose=0)
    before, after = float(history.history["loss"][0]), float(history.history["loss"][-1])
    if not (np.isfinite(after) and after < 0.85 * before):
        raise GradeFailure(f"{EXERCISE}: 8 epochs on 512 digit pairs took the training loss from {before:.3f} "
                           f"(first epoch) only to {after:.3f}; check that the layers are trainable and the output "
                           "is Dense(1, sigmoid).")
