"""Grader for lesson 07 — models as layers (11 points).

``build_video_qa`` receives a vision model and a question encoder, built here, and must use *them*: the vision
model applied to every frame through ``TimeDistributed`` with its own weights, and the question encoder called
itself, not rebuilt or cloned; neither may be frozen. The graph is checked for both, for the LSTM(32) over the frame
vectors and for the concatenation of the two vectors, and a short fit must update the given models' weights (proof
that they are shared, not copied).
"""

from __future__ import annotations

import keras
import numpy as np

from gradekit.harness import (
    GradeFailure,
    Submission,
    activation_name,
    expect_inputs,
    expect_outputs,
    fresh_session,
    graded,
    model_nodes,
    parents,
    producer,
    same_variables,
    shape_str,
)

EXERCISE = "build_video_qa"
L = keras.layers

# Two settings, so that a hard-coded shape or size fails: (frame shape, frames, question length, vocabulary, answers)
SETTINGS = [((6, 6, 1), 3, 5, 10, 5), ((5, 7, 2), 5, 4, 12, 7)]


def given_models(frame_shape: tuple, length: int, vocabulary: int) -> tuple[keras.Model, keras.Model]:
    """A small vision model and question encoder, like the lesson's (the grader's own, built fresh)."""
    frame = keras.Input(frame_shape, name="frame")
    x = L.Conv2D(4, 3, activation="relu", name="vision_conv")(frame)
    vision = keras.Model(frame, L.Dense(8, activation="relu", name="vision_dense")(L.Flatten()(x)),
                         name="given_vision_model")
    words = keras.Input((length,), dtype="int32", name="words")
    encoded = L.LSTM(6, name="question_lstm")(L.Embedding(vocabulary, 4, name="question_embedding")(words))
    return vision, keras.Model(words, encoded, name="given_question_encoder")


def _build(submission: Submission, setting: tuple = SETTINGS[0]):
    frame_shape, frames, length, vocabulary, answers = setting
    fresh_session()
    vision, question_encoder = given_models(frame_shape, length, vocabulary)
    model = submission.model(EXERCISE, vision, question_encoder, frames, answers)
    return model, vision, question_encoder


def _input_layer(model: keras.Model, name: str):
    for op in model.operations:
        if type(op).__name__ == "InputLayer" and op.name == name:
            return op
    return None


def _fed_by(model: keras.Model, layer, source) -> bool:
    return source is not None and any(source in called_on for called_on in parents(model, layer))


def _readers(model: keras.Model, tensors: list) -> list:
    """The operations that receive one of ``tensors`` (through Dropout layers)."""
    found, frontier = [], list(tensors)
    while frontier:
        tensor = frontier.pop(0)
        for op in model.operations:
            for node in model_nodes(model, op):
                if any(t is tensor for t in node.input_tensors):
                    if type(op).__name__ == "Dropout":
                        frontier.extend(node.output_tensors)
                    elif op not in found:
                        found.append(op)
    return found


def _source(tensor):
    """The operation that produced ``tensor``, looking through Dropout layers."""
    op = producer(tensor)
    while type(op).__name__ == "Dropout":
        tensor = tensor._keras_history.operation._inbound_nodes[tensor._keras_history.node_index].input_tensors[0]
        op = producer(tensor)
    return op


def _upstream(node) -> set[int]:
    """The ids of every node upstream of ``node``, and of ``node`` itself."""
    seen, stack = set(), [node]
    while stack:
        current = stack.pop()
        if id(current) not in seen:
            seen.add(id(current))
            stack.extend(current.parent_nodes)
    return seen


def _weights_now(model: keras.Model) -> list[np.ndarray]:
    return [np.array(w.numpy()) for w in model.weights]


# ---------------------------------------------------------------------------------------------- the checks


@graded(EXERCISE, 1)
def test_video_qa_inputs(submission):
    """Exercise: inputs 'video' (None, frames, *frame shape) float32 and 'question' (None, length) int32, for two
    settings."""
    for setting in SETTINGS:
        frame_shape, frames, length, _, _ = setting
        model, _, _ = _build(submission, setting)
        expect_inputs(model, [("video", (None, frames, *frame_shape), "float32"),
                              ("question", (None, length), "int32")], EXERCISE)


@graded(EXERCISE, 1)
def test_video_qa_output(submission):
    """Exercise: one output, 'answer', a Dense(answers) layer with a softmax, for two settings."""
    for setting in SETTINGS:
        model, _, _ = _build(submission, setting)
        expect_outputs(model, [("answer", (None, setting[-1]))], EXERCISE)
        layer = producer(model.outputs[0])
        dense = layer
        if type(layer).__name__ in ("Activation", "Softmax"):  # Dense, then the softmax as a layer of its own
            dense = model_nodes(model, layer)[0].parent_nodes[0].operation
        if type(dense).__name__ != "Dense":
            raise GradeFailure(f"{EXERCISE}: the output 'answer' is made by '{layer.name}' "
                               f"({type(layer).__name__}) from '{dense.name}' ({type(dense).__name__}), not by a "
                               "Dense layer; end with layers.Dense(answers, activation='softmax', name='answer').")
        if activation_name(layer) != "softmax":
            raise GradeFailure(f"{EXERCISE}: the output 'answer' has activation '{activation_name(layer)}'; use "
                               "activation='softmax': one probability per answer word.")


@graded(EXERCISE, 2)
def test_video_qa_time_distributed_vision(submission):
    """Exercise: the given vision model is applied to the video's frames through TimeDistributed, with its own
    weights."""
    model, vision, _ = _build(submission)
    wrappers = [op for op in model.operations if isinstance(op, L.TimeDistributed)]
    if not wrappers:
        raise GradeFailure(f"{EXERCISE}: the model has no TimeDistributed layer; apply the vision model to every "
                           "frame with layers.TimeDistributed(vision_model)(video).")
    ours = [td for td in wrappers if td.layer is vision or same_variables(td.layer.weights, vision.weights)]
    if not ours:
        names = ", ".join(f"'{td.layer.name}'" for td in wrappers)
        raise GradeFailure(f"{EXERCISE}: TimeDistributed wraps {names}, which has weights of its own: a copy or a "
                           "new model, not the vision model you were given. Pass the given vision_model itself: "
                           "layers.TimeDistributed(vision_model).")
    if not any(_fed_by(model, td, _input_layer(model, "video")) for td in ours):
        raise GradeFailure(f"{EXERCISE}: TimeDistributed(vision_model) is not applied to the 'video' input.")


@graded(EXERCISE, 1)
def test_video_qa_lstm_over_frames(submission):
    """Exercise: a recurrent layer (the LSTM) reads the sequence of frame vectors that TimeDistributed
    produces."""
    model, vision, _ = _build(submission)
    wrappers = [op for op in model.operations if isinstance(op, L.TimeDistributed)
                and same_variables(op.layer.weights, vision.weights)]
    recurrent = [op for op in model.operations if isinstance(op, (L.RNN, L.Bidirectional))]
    if not recurrent:
        raise GradeFailure(f"{EXERCISE}: there is no LSTM in the model; read the frame vectors with an LSTM(32) "
                           "to get one vector for the whole video.")
    if not any(td in called_on for rnn in recurrent for called_on in parents(model, rnn) for td in wrappers):
        raise GradeFailure(f"{EXERCISE}: the LSTM is not fed by TimeDistributed(vision_model); call it on the "
                           "sequence of frame vectors.")


@graded(EXERCISE, 1)
def test_video_qa_lstm_32(submission):
    """Exercise: the frame vectors are read by an LSTM(32) that returns one vector for the whole video, of shape
    (None, 32)."""
    model, _, _ = _build(submission)
    frame_vectors = [node.output_tensors[0] for op in model.operations if isinstance(op, L.TimeDistributed)
                     for node in model_nodes(model, op)]
    readers = _readers(model, frame_vectors) if frame_vectors else \
        [op for op in model.operations if isinstance(op, (L.RNN, L.Bidirectional))]
    if not readers:
        raise GradeFailure(f"{EXERCISE}: nothing reads the frame vectors; read them with an LSTM(32) to get one "
                           "vector for the whole video.")
    reader = readers[0]
    if type(reader).__name__ != "LSTM":
        raise GradeFailure(f"{EXERCISE}: the frame vectors are read by '{reader.name}' ({type(reader).__name__}); "
                           "the exercise asks for an LSTM: layers.LSTM(32).")
    if reader.units != 32:
        raise GradeFailure(f"{EXERCISE}: the LSTM that reads the frame vectors has {reader.units} units; it "
                           "should have 32: layers.LSTM(32).")
    shape = tuple(model_nodes(model, reader)[0].output_tensors[0].shape)
    if shape != (None, 32):
        raise GradeFailure(f"{EXERCISE}: the LSTM returns shape {shape_str(shape)}; it should return one vector "
                           "for the whole video, (None, 32): leave return_sequences (and return_state) off.")


@graded(EXERCISE, 1)
def test_video_qa_concatenates_video_and_question(submission):
    """Exercise: the video vector (the LSTM's output) and the question vector (the question encoder's output) are
    concatenated, and the concatenation leads to the 'answer' layer."""
    model, _, question_encoder = _build(submission)
    recurrent = [op for op in model.operations if isinstance(op, (L.RNN, L.Bidirectional))]
    concats = [(op, node) for op in model.operations if type(op).__name__ == "Concatenate"
               for node in model_nodes(model, op)]
    if not concats:
        raise GradeFailure(f"{EXERCISE}: the model has no concatenation; join the video vector and the question "
                           "vector with layers.concatenate([video_vector, question_vector]).")
    joined = []
    for concat, node in concats:  # noqa: B007 - read after the loop: the concatenation that joins the two
        sources = [_source(t) for t in node.input_tensors]
        if len(sources) == 2 and any(s is question_encoder for s in sources) and \
                any(s is r for s in sources for r in recurrent):
            break
        joined.append(" and ".join(f"'{s.name}' ({type(s).__name__})" for s in sources))
    else:
        raise GradeFailure(f"{EXERCISE}: the concatenation joins {'; '.join(joined)}; it should join exactly two "
                           "vectors, the LSTM's output (the video) and the question encoder's output (the "
                           "question).")
    output_node = model.outputs[0]._keras_history
    output_node = output_node.operation._inbound_nodes[output_node.node_index]
    if id(node) not in _upstream(output_node):
        raise GradeFailure(f"{EXERCISE}: the concatenation '{concat.name}' does not lead to the 'answer' layer; "
                           "feed it to Dense(answers, activation='softmax', name='answer').")


@graded(EXERCISE, 2)
def test_video_qa_question_encoder_is_given_model(submission):
    """Exercise: the given question encoder itself (not a copy) is called on the 'question' input."""
    model, vision, question_encoder = _build(submission)
    question = _input_layer(model, "question")
    if not any(op is question_encoder for op in model.operations):
        copies = [op for op in model.operations if isinstance(op, keras.Model) and op is not vision]
        hint = (f" The model holds '{copies[0].name}', a model with weights of its own: a copy (clone_model or a "
                "rebuilt encoder) does not share the given encoder's weights.") if copies else ""
        raise GradeFailure(f"{EXERCISE}: the given question encoder is not part of the model.{hint} Call it "
                           "directly: question_encoder(question).")
    if not _fed_by(model, question_encoder, question):
        raise GradeFailure(f"{EXERCISE}: the question encoder is not called on the 'question' input.")


@graded(EXERCISE, 1)
def test_video_qa_given_models_not_frozen(submission):
    """Exercise: the given models are not frozen: every weight of theirs that the video model uses is trainable in
    it (neither the given models nor any of their layers set trainable=False)."""
    model, vision, question_encoder = _build(submission)
    used = {id(w) for w in model.weights}
    trainable = {id(w) for w in model.trainable_weights}
    for label, given in (("vision model", vision), ("question encoder", question_encoder)):
        frozen = [w for w in given.weights if id(w) in used and id(w) not in trainable]
        if frozen:
            raise GradeFailure(f"{EXERCISE}: {len(frozen)} of the given {label}'s {len(given.weights)} weights are "
                               f"frozen in the video model (for example '{frozen[0].path}'): the model or one of "
                               "its layers was set trainable=False. Do not freeze the given models: training the "
                               "video model goes on training them.")


@graded(EXERCISE, 1, hidden=True)
def test_video_qa_trains_the_given_models(submission):
    """Exercise (behaviour): a short fit lowers the loss and updates the given vision model's and question
    encoder's own weights."""
    frame_shape, frames, length, vocabulary, answers = SETTINGS[0]
    model, vision, question_encoder = _build(submission)
    rng = np.random.default_rng(3)
    x = {"video": rng.random((64, frames, *frame_shape)).astype("float32"),
         "question": rng.integers(1, vocabulary, (64, length)).astype("int32")}
    y = (x["question"][:, 0] % answers).astype("int64")  # a learnable rule: the answer follows the first word
    before = {"vision": _weights_now(vision), "question": _weights_now(question_encoder)}
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    history = submission.run(f"training the model of {EXERCISE}", model.fit, x, y, epochs=15, batch_size=16,
                             verbose=0)
    start, end = float(history.history["loss"][0]), float(history.history["loss"][-1])
    for name, given in (("vision", vision), ("question", question_encoder)):
        if all(np.array_equal(a, b) for a, b in zip(before[name], _weights_now(given))):
            raise GradeFailure(f"{EXERCISE}: training the video model left the given {name} model's weights "
                               "unchanged; use the given model itself (not a copy) and keep it trainable.")
    if not (np.isfinite(end) and end < 0.85 * start):
        raise GradeFailure(f"{EXERCISE}: 15 epochs took the training loss from {start:.3f} (first epoch) only to "
                           f"{end:.3f}; check the output (Dense(answers, softmax)) and that the question reaches it.")
