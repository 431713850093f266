"""Grader for lesson 07 — models as layers (20 points).

Both builders receive a vision model and a question encoder, built here, and must use *them*, not rebuilt or cloned
copies; neither may be frozen. ``build_vqa`` calls both on new inputs 'image' and 'question': the graph is checked
for the two given models themselves, each called on its input, for the concatenation of their two vectors and the
softmax over the answers, and the given models must come back with the weights they were handed in with.
``build_video_qa`` applies the vision model to every frame through ``TimeDistributed`` with its own weights and
calls the question encoder itself. The graph is checked for both, for the LSTM(32) over the frame vectors and for
the concatenation of the two vectors, and a short fit must update the given models' weights (proof that they are
shared, not copied).
"""

from __future__ import annotations

import keras
import numpy as np

from gradekit.harness import (
    GradeFailure,
    Submission,
    expect_dense_output,
    expect_inputs,
    fit,
    fresh_session,
    graded,
    model_nodes,
    parents,
    producer,
    run_rng,
    same_variables,
    shape_str,
    weight_arrays,
)

EXERCISE = "build_video_qa"
VQA = "build_vqa"
L = keras.layers

# Two settings, so that a hard-coded shape or size fails: (frame shape, frames, question length, vocabulary, answers)
SETTINGS = [((6, 6, 1), 3, 5, 10, 5), ((5, 7, 2), 5, 4, 12, 7)]
# The same for the VQA model, which reads one image: (image shape, question length, vocabulary, answers)
VQA_SETTINGS = [((6, 6, 1), 5, 10, 5), ((5, 7, 2), 4, 12, 7)]


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
    return weight_arrays(model)


def _expect_concatenation(model: keras.Model, first: list, question_encoder: keras.Model, exercise: str,
                          what: str, how: str, first_output: str) -> None:
    """A concatenation joins exactly two vectors, the output of one of ``first`` (the vision model, the LSTM) and the
    question encoder's, and leads to the 'answer' layer."""
    concats = [(op, node) for op in model.operations if type(op).__name__ == "Concatenate"
               for node in model_nodes(model, op)]
    if not concats:
        raise GradeFailure(f"{exercise}: the model has no concatenation; join the {what} vector and the question "
                           f"vector with {how}.")
    joined = []
    for concat, node in concats:  # noqa: B007 - read after the loop: the concatenation that joins the two
        sources = [_source(t) for t in node.input_tensors]
        if len(sources) == 2 and any(s is question_encoder for s in sources) and \
                any(s is f for s in sources for f in first):
            break
        joined.append(" and ".join(f"'{s.name}' ({type(s).__name__})" for s in sources))
    else:
        raise GradeFailure(f"{exercise}: the concatenation joins {'; '.join(joined)}; it should join exactly two "
                           f"vectors, {first_output} and the question encoder's output (the question).")
    output_node = model.outputs[0]._keras_history
    output_node = output_node.operation._inbound_nodes[output_node.node_index]
    if id(node) not in _upstream(output_node):
        raise GradeFailure(f"{exercise}: the concatenation '{concat.name}' does not lead to the 'answer' layer; "
                           "feed it to Dense(answers, activation='softmax', name='answer').")


def _expect_answer_output(model: keras.Model, answers: int, exercise: str) -> None:
    """One output, 'answer', of shape (None, answers): a Dense layer with a softmax (or Dense, then a softmax
    layer)."""
    expect_dense_output(model, "answer", (None, answers), "softmax", exercise,
                        fix="layers.Dense(answers, activation='softmax', name='answer')",
                        why=": one probability per answer word", wrappers=("Activation", "Softmax"))


def _expect_given_model_called(model: keras.Model, given: keras.Model, others: list, input_name: str,
                               exercise: str, label: str, short: str, call: str) -> None:
    """The given model itself (not a copy) is part of ``model`` and called on the input ``input_name``; ``others``
    are the other given models (not copies of this one), ``short`` what the feedback calls the model for short."""
    if not any(op is given for op in model.operations):
        copies = [op for op in model.operations if isinstance(op, keras.Model) and all(op is not o for o in others)]
        hint = (f" The model holds '{copies[0].name}', a model with weights of its own: a copy (clone_model or a "
                f"rebuilt {short}) does not share the given {short}'s weights.") if copies else ""
        raise GradeFailure(f"{exercise}: the given {label} is not part of the model.{hint} Call it "
                           f"directly: {call}.")
    if not _fed_by(model, given, _input_layer(model, input_name)):
        raise GradeFailure(f"{exercise}: the {label} is not called on the '{input_name}' input.")


def _expect_not_frozen(model: keras.Model, givens: list[tuple[str, keras.Model]], exercise: str, which: str,
                       why: str) -> None:
    """Every weight of the given models that ``model`` uses is trainable in it."""
    used = {id(w) for w in model.weights}
    trainable = {id(w) for w in model.trainable_weights}
    for label, given in givens:
        frozen = [w for w in given.weights if id(w) in used and id(w) not in trainable]
        if frozen:
            raise GradeFailure(f"{exercise}: {len(frozen)} of the given {label}'s {len(given.weights)} weights are "
                               f"frozen in the {which} (for example '{frozen[0].path}'): the model or one of "
                               f"its layers was set trainable=False. Do not freeze the given models: {why}.")


# ------------------------------------------------------------------------- exercise 1: visual question answering


def _build_vqa(submission: Submission, setting: tuple = VQA_SETTINGS[0]):
    """(the submission's VQA model, the given vision model, the given question encoder, the given models' weights
    as they were handed in)."""
    image_shape, length, vocabulary, answers = setting
    fresh_session()
    vision, question_encoder = given_models(image_shape, length, vocabulary)
    # Weights as if trained, drawn here: the worker seeds Keras as the judge does, so a freshly initialised copy
    # would otherwise come back with the very numbers the given models were built with.
    rng = run_rng(VQA, "weights", image_shape)  # new every grading run
    for given in (vision, question_encoder):
        given.set_weights([rng.normal(0.0, 0.2, w.shape).astype(w.dtype) for w in given.weights])
    handed_in = {"vision model": _weights_now(vision), "question encoder": _weights_now(question_encoder)}
    model = submission.model(VQA, vision, question_encoder, answers)
    return model, vision, question_encoder, handed_in


@graded(VQA, 1)
def test_vqa_inputs(submission):
    """Exercise 1: inputs 'image' (None, *the vision model's input shape) float32 and 'question' (None, length)
    int32, for two settings."""
    for setting in VQA_SETTINGS:
        image_shape, length, _, _ = setting
        model, _, _, _ = _build_vqa(submission, setting)
        expect_inputs(model, [("image", (None, *image_shape), "float32"), ("question", (None, length), "int32")],
                      VQA)


@graded(VQA, 1)
def test_vqa_output(submission):
    """Exercise 1: one output, 'answer', a Dense(answers) layer with a softmax, for two settings."""
    for setting in VQA_SETTINGS:
        model, _, _, _ = _build_vqa(submission, setting)
        _expect_answer_output(model, setting[-1], VQA)


@graded(VQA, 2)
def test_vqa_vision_model_is_given_model(submission):
    """Exercise 1: the given vision model itself (not a copy) is called on the 'image' input."""
    model, vision, question_encoder, _ = _build_vqa(submission)
    _expect_given_model_called(model, vision, [question_encoder], "image", VQA, "vision model", "vision model",
                               "vision_model(image)")


@graded(VQA, 2)
def test_vqa_question_encoder_is_given_model(submission):
    """Exercise 1: the given question encoder itself (not a copy) is called on the 'question' input."""
    model, vision, question_encoder, _ = _build_vqa(submission)
    _expect_given_model_called(model, question_encoder, [vision], "question", VQA, "question encoder", "encoder",
                               "question_encoder(question)")


@graded(VQA, 1)
def test_vqa_concatenates_image_and_question(submission):
    """Exercise 1: the image vector (the vision model's output) and the question vector (the question encoder's
    output) are concatenated, and the concatenation leads to the 'answer' layer."""
    model, vision, question_encoder, _ = _build_vqa(submission)
    _expect_concatenation(model, [vision], question_encoder, VQA, "image",
                          "layers.concatenate([vision_model(image), question_encoder(question)])",
                          "the vision model's output (the image)")


@graded(VQA, 1)
def test_vqa_given_models_not_frozen(submission):
    """Exercise 1: the given models are not frozen: every weight of theirs that the VQA model uses is trainable in it
    (neither the given models nor any of their layers set trainable=False)."""
    model, vision, question_encoder, _ = _build_vqa(submission)
    _expect_not_frozen(model, [("vision model", vision), ("question encoder", question_encoder)], VQA, "VQA model",
                       "training the VQA model trains them, and the video model starts from them")


@graded(VQA, 1)
def test_vqa_given_models_keep_their_weights(submission):
    """Exercise 1: the given models keep the weights they were handed in with: building the VQA model neither
    re-initialises, sets nor trains them."""
    _, vision, question_encoder, handed_in = _build_vqa(submission)
    for label, given in (("vision model", vision), ("question encoder", question_encoder)):
        changed = [w for w, now, before in zip(given.weights, weight_arrays(given), handed_in[label])
                   if not np.array_equal(now, before)]
        if changed:
            raise GradeFailure(f"{VQA}: building the VQA model changed {len(changed)} of the given {label}'s "
                               f"{len(given.weights)} weights (for example '{changed[0].path}'): the given models "
                               "were re-initialised, set or trained. Use them as they are: the VQA model starts "
                               "from their weights.")


# ------------------------------------------------------------------------- exercise 2: video question answering


@graded(EXERCISE, 1)
def test_video_qa_inputs(submission):
    """Exercise 2: inputs 'video' (None, frames, *frame shape) float32 and 'question' (None, length) int32, for two
    settings."""
    for setting in SETTINGS:
        frame_shape, frames, length, _, _ = setting
        model, _, _ = _build(submission, setting)
        expect_inputs(model, [("video", (None, frames, *frame_shape), "float32"),
                              ("question", (None, length), "int32")], EXERCISE)


@graded(EXERCISE, 1)
def test_video_qa_output(submission):
    """Exercise 2: one output, 'answer', a Dense(answers) layer with a softmax, for two settings."""
    for setting in SETTINGS:
        model, _, _ = _build(submission, setting)
        _expect_answer_output(model, setting[-1], EXERCISE)


@graded(EXERCISE, 2)
def test_video_qa_time_distributed_vision(submission):
    """Exercise 2: the given vision model is applied to the video's frames through TimeDistributed, with its own
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
    """Exercise 2: a recurrent layer (the LSTM) reads the sequence of frame vectors that TimeDistributed
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
    """Exercise 2: the frame vectors are read by an LSTM(32) that returns one vector for the whole video, of shape
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
    """Exercise 2: the video vector (the LSTM's output) and the question vector (the question encoder's output) are
    concatenated, and the concatenation leads to the 'answer' layer."""
    model, _, question_encoder = _build(submission)
    recurrent = [op for op in model.operations if isinstance(op, (L.RNN, L.Bidirectional))]
    _expect_concatenation(model, recurrent, question_encoder, EXERCISE, "video",
                          "layers.concatenate([video_vector, question_vector])", "the LSTM's output (the video)")


@graded(EXERCISE, 2)
def test_video_qa_question_encoder_is_given_model(submission):
    """Exercise 2: the given question encoder itself (not a copy) is called on the 'question' input."""
    model, vision, question_encoder = _build(submission)
    _expect_given_model_called(model, question_encoder, [vision], "question", EXERCISE, "question encoder",
                               "encoder", "question_encoder(question)")


@graded(EXERCISE, 1)
def test_video_qa_given_models_not_frozen(submission):
    """Exercise 2: the given models are not frozen: every weight of theirs that the video model uses is trainable in
    it (neither the given models nor any of their layers set trainable=False)."""
    model, vision, question_encoder = _build(submission)
    _expect_not_frozen(model, [("vision model", vision), ("question encoder", question_encoder)], EXERCISE,
                       "video model", "training the video model goes on training them")


@graded(EXERCISE, 1, hidden=True)
def test_video_qa_trains_the_given_models(submission):
    """Exercise 2 (behaviour): a short fit lowers the loss and updates the given vision model's and question
    encoder's own weights."""
    frame_shape, frames, length, vocabulary, answers = SETTINGS[0]
    model, vision, question_encoder = _build(submission)
    rng = run_rng(EXERCISE, "learns")
    x = {"video": rng.random((64, frames, *frame_shape)).astype("float32"),
         "question": rng.integers(1, vocabulary, (64, length)).astype("int32")}
    y = (x["question"][:, 0] % answers).astype("int64")  # a learnable rule: the answer follows the first word
    before = {"vision": _weights_now(vision), "question": _weights_now(question_encoder)}
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    history = submission.run(f"training the model of {EXERCISE}", fit, model, x, y, epochs=15, batch_size=16,
                             verbose=0)
    start, end = float(history.history["loss"][0]), float(history.history["loss"][-1])
    for name, given in (("vision", vision), ("question", question_encoder)):
        if all(np.array_equal(a, b) for a, b in zip(before[name], _weights_now(given))):
            raise GradeFailure(f"{EXERCISE}: training the video model left the given {name} model's weights "
                               "unchanged; use the given model itself (not a copy) and keep it trainable.")
    if not (np.isfinite(end) and end < 0.85 * start):
        raise GradeFailure(f"{EXERCISE}: 15 epochs took the training loss from {start:.3f} (first epoch) only to "
                           f"{end:.3f}; check the output (Dense(answers, softmax)) and that the question reaches it.")
