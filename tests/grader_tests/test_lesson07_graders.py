"""The lesson 07 grader, tested: wrong submissions lose the right points with the right feedback, and correct
answers written differently get full marks."""

from __future__ import annotations

import keras
import pytest

from gradekit.harness import weight_arrays
from grader_tests.graderkit import Wrong, assert_every_check_can_fail, check_right, check_wrong, params
from grading import test_lesson07 as grader

L = keras.layers


def video_qa(vision_copy=False, question_copy=False, time_distributed=True, recurrent=True, out_act="softmax",
             question_dtype="int32", freeze=False, fixed_answers=None, use_question=True, lstm_units=32,
             return_sequences=False, freeze_question=False, freeze_embedding=False, freeze_conv=False,
             merge="concat"):
    """A family of video QA builders, right or wrong depending on the arguments."""

    def build(vision_model, question_encoder, frames, answers):
        answers = fixed_answers or answers
        if freeze:
            vision_model.trainable = False
        if freeze_question:
            question_encoder.trainable = False
        for given, kind, frozen in ((question_encoder, L.Embedding, freeze_embedding),
                                    (vision_model, L.Conv2D, freeze_conv)):
            for layer in given.layers:
                if frozen and isinstance(layer, kind):
                    layer.trainable = False
        video = keras.Input((frames, *vision_model.input_shape[1:]), name="video")
        question = keras.Input(question_encoder.input_shape[1:], dtype=question_dtype, name="question")
        vision = keras.models.clone_model(vision_model) if vision_copy else vision_model
        if time_distributed:
            frame_vectors = L.TimeDistributed(vision)(video)
        else:  # the vision model called on each frame, stacked back: shared, but not TimeDistributed
            frame_vectors = keras.ops.stack([vision(video[:, t]) for t in range(frames)], axis=1)
        if not recurrent:
            video_vector = L.GlobalAveragePooling1D()(frame_vectors)
        elif return_sequences:  # a vector per frame, averaged afterwards
            video_vector = L.GlobalAveragePooling1D()(L.LSTM(lstm_units, return_sequences=True)(frame_vectors))
        else:
            video_vector = L.LSTM(lstm_units)(frame_vectors)
        encoder = keras.models.clone_model(question_encoder) if question_copy else question_encoder
        parts = [video_vector, encoder(question)] if use_question else [video_vector]
        if merge == "add":  # the question vector projected to the video vector's size, then added
            merged = L.add([video_vector, L.Dense(video_vector.shape[-1])(parts[1])])
        else:
            merged = L.concatenate(parts) if len(parts) > 1 else parts[0]
        return keras.Model([video, question], L.Dense(answers, activation=out_act, name="answer")(merged))

    return build


def stub(vision_model, question_encoder, frames, answers):
    raise NotImplementedError


# ------------------------------------------------------------------ right, written differently


def lstm_and_activation_layer(vision_model, question_encoder, frames, answers):
    """Inputs made in the other order and passed as a dict, keyword arguments, Concatenate() with the question
    first, and the softmax as its own layer named 'answer'."""
    question = keras.layers.Input(shape=question_encoder.input_shape[1:], name="question", dtype="int32")
    video = keras.layers.Input(shape=(frames,) + tuple(vision_model.input_shape[1:]), name="video")
    encoded_question = question_encoder(question)
    sequence = keras.layers.TimeDistributed(layer=vision_model)(video)
    encoded_video = keras.layers.LSTM(units=32, return_sequences=False, name="read_video")(sequence)
    logits = keras.layers.Dense(answers)(keras.layers.Concatenate(axis=-1)([encoded_question, encoded_video]))
    return keras.Model(inputs={"video": video, "question": question},
                       outputs=keras.layers.Activation("softmax", name="answer")(logits))


def ops_concatenate_and_hidden_layer(vision_model, question_encoder, frames, answers):
    """keras.ops.concatenate, Dropout after the LSTM, and a hidden Dense layer before the answer."""
    video = keras.Input((frames, *vision_model.input_shape[1:]), name="video")
    question = keras.Input(question_encoder.input_shape[1:], dtype="int32", name="question")
    video_vector = L.Dropout(0.1)(L.LSTM(32)(L.TimeDistributed(vision_model, name="per_frame")(video)))
    merged = keras.ops.concatenate([video_vector, question_encoder(question)], axis=-1)
    hidden = L.Dense(16, activation="relu")(merged)
    return keras.Model([video, question], L.Dense(answers, activation="softmax", name="answer")(hidden))


# ------------------------------------------------------------------ wrong, written like right ones


def gru_and_activation_layer(vision_model, question_encoder, frames, answers):
    """A GRU(16) instead of the LSTM(32); otherwise right (inputs in the other order, Concatenate(), the softmax as
    its own layer)."""
    question = keras.layers.Input(shape=question_encoder.input_shape[1:], name="question", dtype="int32")
    video = keras.layers.Input(shape=(frames,) + tuple(vision_model.input_shape[1:]), name="video")
    encoded_question = question_encoder(question)
    sequence = keras.layers.TimeDistributed(layer=vision_model)(video)
    encoded_video = keras.layers.GRU(16)(sequence)
    logits = keras.layers.Dense(answers)(keras.layers.Concatenate()([encoded_question, encoded_video]))
    return keras.Model(inputs={"video": video, "question": question},
                       outputs=keras.layers.Activation("softmax", name="answer")(logits))


def bidirectional_lstm(vision_model, question_encoder, frames, answers):
    """A Bidirectional(LSTM(8)) instead of the LSTM(32); otherwise right."""
    video = keras.Input((frames, *vision_model.input_shape[1:]), name="video")
    question = keras.Input(question_encoder.input_shape[1:], dtype="int32", name="question")
    frames_read = L.Bidirectional(L.LSTM(8))(L.TimeDistributed(vision_model, name="per_frame")(video))
    hidden = L.Dense(16, activation="relu")(L.concatenate([frames_read, question_encoder(question)]))
    return keras.Model([video, question], L.Dense(answers, activation="softmax", name="answer")(hidden))


# ------------------------------------------------------------------ exercise 1: visual question answering


def vqa(vision_copy=False, copy_weights=False, question_copy=False, use_question=True, merge="concat",
        out_act="softmax", fixed_answers=None, question_dtype="int32", image_name="image", freeze_vision=False,
        freeze_embedding=False, reinitialise_vision=False):
    """A family of VQA builders, right or wrong depending on the arguments."""

    def build(vision_model, question_encoder, answers):
        answers = fixed_answers or answers
        if freeze_vision:
            vision_model.trainable = False
        if freeze_embedding:
            question_encoder.get_layer("question_embedding").trainable = False
        if reinitialise_vision:  # "a fresh start": the weights of a freshly initialised copy
            vision_model.set_weights(weight_arrays(keras.models.clone_model(vision_model)))
        image = keras.Input(vision_model.input_shape[1:], name=image_name)
        question = keras.Input(question_encoder.input_shape[1:], dtype=question_dtype, name="question")
        vision = keras.models.clone_model(vision_model) if vision_copy else vision_model
        if vision_copy and copy_weights:
            vision.set_weights(weight_arrays(vision_model))
        encoder = keras.models.clone_model(question_encoder) if question_copy else question_encoder
        image_vector = vision(image)
        if not use_question:
            merged = image_vector
        elif merge == "add":  # the question vector projected to the image vector's size, then added
            merged = L.add([image_vector, L.Dense(image_vector.shape[-1])(encoder(question))])
        elif merge == "three":  # the image vector twice
            merged = L.concatenate([image_vector, encoder(question), image_vector])
        else:
            merged = L.concatenate([image_vector, encoder(question)])
        return keras.Model([image, question], L.Dense(answers, activation=out_act, name="answer")(merged))

    return build


def vqa_on_the_given_models_inputs(vision_model, question_encoder, answers):
    """The given models' own inputs and outputs, joined: a model over their layers, but neither model is called."""
    merged = L.concatenate([vision_model.output, question_encoder.output])
    return keras.Model([vision_model.input, question_encoder.input],
                       L.Dense(answers, activation="softmax", name="answer")(merged))


def vqa_stub(vision_model, question_encoder, answers):
    raise NotImplementedError


def vqa_dict_question_first(vision_model, question_encoder, answers):
    """Right: inputs made question first and passed as a dict, keyword arguments, Concatenate() with the question
    vector first, the softmax as its own layer named 'answer'."""
    question = keras.layers.Input(shape=tuple(question_encoder.inputs[0].shape[1:]), dtype="int32", name="question")
    image = keras.layers.Input(shape=tuple(vision_model.inputs[0].shape[1:]), name="image")
    question_vector = question_encoder(question)
    image_vector = vision_model(image)
    logits = L.Dense(units=answers)(L.Concatenate(axis=-1)([question_vector, image_vector]))
    return keras.Model(inputs={"image": image, "question": question},
                       outputs=L.Activation("softmax", name="answer")(logits))


def vqa_ops_and_hidden_layer(vision_model, question_encoder, answers):
    """Right: keras.ops.concatenate, Dropout on the image vector, and a hidden Dense layer before the answer."""
    image = keras.Input(vision_model.input_shape[1:], name="image")
    question = keras.Input(question_encoder.input_shape[1:], dtype="int32", name="question")
    merged = keras.ops.concatenate([L.Dropout(0.1)(vision_model(image)), question_encoder(question)], axis=-1)
    hidden = L.Dense(16, activation="relu")(merged)
    return keras.Model([image, question], L.Dense(answers, activation="softmax", name="answer")(hidden))


WRONG = {
    "build_vqa": [
        Wrong("vision-model-cloned", {"build_vqa": vqa(vision_copy=True)},
              {"test_vqa_vision_model_is_given_model": r"given vision model is not part of the model\. The model "
                                                       r"holds '.*', .*a copy \(clone_model or a rebuilt vision "
                                                       r"model\).*Call it directly: vision_model\(image\)",
               "test_vqa_concatenates_image_and_question": r"joins '.*' \(Functional\) and "
                                                           r"'given_question_encoder' \(Functional\)"}),
        Wrong("vision-model-cloned-with-its-weights", {"build_vqa": vqa(vision_copy=True, copy_weights=True)},
              {"test_vqa_vision_model_is_given_model": "a copy"}),
        Wrong("question-encoder-cloned", {"build_vqa": vqa(question_copy=True)},
              {"test_vqa_question_encoder_is_given_model": r"a copy \(clone_model or a rebuilt encoder\)"}),
        Wrong("given-models-own-inputs", {"build_vqa": vqa_on_the_given_models_inputs},
              {"test_vqa_inputs": "no input named 'image'",
               "test_vqa_vision_model_is_given_model": "given vision model is not part of the model",
               "test_vqa_question_encoder_is_given_model": "given question encoder is not part of the model"}),
        Wrong("question-unused", {"build_vqa": vqa(use_question=False)},
              {"test_vqa_question_encoder_is_given_model": "not part of the model",
               "test_vqa_concatenates_image_and_question": "the model has no concatenation"}),
        Wrong("question-added-not-concatenated", {"build_vqa": vqa(merge="add")},
              {"test_vqa_concatenates_image_and_question": "the model has no concatenation"}),
        Wrong("image-vector-twice", {"build_vqa": vqa(merge="three")},
              {"test_vqa_concatenates_image_and_question": r"joins 'given_vision_model' \(Functional\) and "
                                                           r"'given_question_encoder' \(Functional\) and "
                                                           r"'given_vision_model' \(Functional\); it should join "
                                                           "exactly two vectors"}),
        Wrong("vision-frozen", {"build_vqa": vqa(freeze_vision=True)},
              {"test_vqa_given_models_not_frozen": "4 of the given vision model's 4 weights are frozen in the VQA "
                                                   "model"}),
        Wrong("embedding-frozen", {"build_vqa": vqa(freeze_embedding=True)},
              {"test_vqa_given_models_not_frozen": "1 of the given question encoder's 4 weights are frozen"}),
        Wrong("vision-re-initialised", {"build_vqa": vqa(reinitialise_vision=True)},
              {"test_vqa_given_models_keep_their_weights": r"changed 4 of the given vision model's 4 weights "
                                                           r"\(for example '.*kernel'\)"}),
        Wrong("sigmoid-output", {"build_vqa": vqa(out_act="sigmoid")},
              {"test_vqa_output": "activation='softmax'"}),
        Wrong("answers-hard-coded", {"build_vqa": vqa(fixed_answers=5)},
              {"test_vqa_output": r"shape \(None, 7\)"}),
        Wrong("float-question", {"build_vqa": vqa(question_dtype="float32")},
              {"test_vqa_inputs": "dtype int32"}),
        Wrong("image-named-frame", {"build_vqa": vqa(image_name="frame")},
              {"test_vqa_inputs": "no input named 'image'"}),
        Wrong("not-implemented", {"build_vqa": vqa_stub}, {"test_vqa_inputs": "not implemented yet"}),
    ],
    "build_video_qa": [
        Wrong("vision-model-cloned", {"build_video_qa": video_qa(vision_copy=True)},
              {"test_video_qa_time_distributed_vision": "weights of its own: a copy",
               "test_video_qa_lstm_over_frames": "not fed by TimeDistributed",
               "test_video_qa_trains_the_given_models": "given vision model's weights unchanged"}),
        Wrong("question-encoder-cloned", {"build_video_qa": video_qa(question_copy=True)},
              {"test_video_qa_question_encoder_is_given_model": "a copy",
               "test_video_qa_trains_the_given_models": "given question model's weights unchanged"}),
        Wrong("question-unused", {"build_video_qa": video_qa(use_question=False)},
              {"test_video_qa_question_encoder_is_given_model": "not part of the model",
               "test_video_qa_concatenates_video_and_question": "the model has no concatenation"}),
        Wrong("question-added-not-concatenated", {"build_video_qa": video_qa(merge="add")},
              {"test_video_qa_concatenates_video_and_question": "the model has no concatenation"}),
        Wrong("no-time-distributed", {"build_video_qa": video_qa(time_distributed=False)},
              {"test_video_qa_time_distributed_vision": "no TimeDistributed layer"}),
        Wrong("no-lstm", {"build_video_qa": video_qa(recurrent=False)},
              {"test_video_qa_lstm_over_frames": "no LSTM",
               "test_video_qa_lstm_32": r"read by '.*' \(GlobalAveragePooling1D\); the exercise asks for an LSTM"}),
        Wrong("gru-instead-of-lstm", {"build_video_qa": gru_and_activation_layer},
              {"test_video_qa_lstm_32": r"\(GRU\); the exercise asks for an LSTM"}),
        Wrong("bidirectional-lstm", {"build_video_qa": bidirectional_lstm},
              {"test_video_qa_lstm_32": r"\(Bidirectional\); the exercise asks for an LSTM"}),
        Wrong("lstm-16-units", {"build_video_qa": video_qa(lstm_units=16)},
              {"test_video_qa_lstm_32": "has 16 units; it should have 32"}),
        Wrong("lstm-returns-sequences", {"build_video_qa": video_qa(return_sequences=True)},
              {"test_video_qa_lstm_32": r"returns shape \(None, 3, 32\); it should return one vector"}),
        Wrong("vision-frozen", {"build_video_qa": video_qa(freeze=True)},
              {"test_video_qa_given_models_not_frozen": "of the given vision model's 4 weights are frozen",
               "test_video_qa_trains_the_given_models": "keep it trainable"}),
        Wrong("question-encoder-frozen", {"build_video_qa": video_qa(freeze_question=True)},
              {"test_video_qa_given_models_not_frozen": "given question encoder's .* weights are frozen"}),
        Wrong("embedding-frozen", {"build_video_qa": video_qa(freeze_embedding=True)},
              {"test_video_qa_given_models_not_frozen": "1 of the given question encoder's 4 weights are frozen"}),
        Wrong("vision-conv-frozen", {"build_video_qa": video_qa(freeze_conv=True)},
              {"test_video_qa_given_models_not_frozen": "2 of the given vision model's 4 weights are frozen"}),
        Wrong("sigmoid-output", {"build_video_qa": video_qa(out_act="sigmoid")},
              {"test_video_qa_output": "activation='softmax'"}),
        Wrong("answers-hard-coded", {"build_video_qa": video_qa(fixed_answers=5)},
              {"test_video_qa_output": r"shape \(None, 7\)"}),
        Wrong("float-question", {"build_video_qa": video_qa(question_dtype="float32")},
              {"test_video_qa_inputs": "dtype int32"}),
        Wrong("not-implemented", {"build_video_qa": stub}, {"test_video_qa_inputs": "not implemented yet"}),
    ],
}

RIGHT = {
    "build_vqa": [{"build_vqa": vqa()}, {"build_vqa": vqa_dict_question_first},
                  {"build_vqa": vqa_ops_and_hidden_layer}],
    "build_video_qa": [{"build_video_qa": video_qa()}, {"build_video_qa": lstm_and_activation_layer},
                       {"build_video_qa": ops_concatenate_and_hidden_layer}],
}


@pytest.mark.parametrize("exercise, wrong", params(WRONG))
def test_wrong_submission_loses_points(exercise, wrong, tmp_path):
    check_wrong(grader, exercise, "lesson07", wrong, tmp_path)


@pytest.mark.parametrize("exercise, objects", [pytest.param(e, o, id=f"{e}-{i}") for e, cases in RIGHT.items()
                                               for i, o in enumerate(cases)])
def test_correct_variant_gets_full_marks(exercise, objects, tmp_path):
    check_right(grader, exercise, "lesson07", objects, tmp_path)


def test_every_check_can_fail():
    assert_every_check_can_fail(grader, WRONG)
