"""The lesson 07 grader, tested: wrong submissions lose the right points with the right feedback, and correct
answers written differently get full marks."""

from __future__ import annotations

import keras
import pytest

from grader_tests.graderkit import Wrong, assert_every_check_can_fail, check_right, check_wrong, params
from grading import test_lesson07 as grader

L = keras.layers


def video_qa(vision_copy=False, question_copy=False, time_distributed=True, recurrent=True, out_act="softmax",
             question_dtype="int32", freeze=False, fixed_answers=None, use_question=True):
    """A family of video QA builders, right or wrong depending on the arguments."""

    def build(vision_model, question_encoder, frames, answers):
        answers = fixed_answers or answers
        if freeze:
            vision_model.trainable = False
        video = keras.Input((frames, *vision_model.input_shape[1:]), name="video")
        question = keras.Input(question_encoder.input_shape[1:], dtype=question_dtype, name="question")
        vision = keras.models.clone_model(vision_model) if vision_copy else vision_model
        if time_distributed:
            frame_vectors = L.TimeDistributed(vision)(video)
        else:  # the vision model called on each frame, stacked back: shared, but not TimeDistributed
            frame_vectors = keras.ops.stack([vision(video[:, t]) for t in range(frames)], axis=1)
        video_vector = L.LSTM(32)(frame_vectors) if recurrent else L.GlobalAveragePooling1D()(frame_vectors)
        encoder = keras.models.clone_model(question_encoder) if question_copy else question_encoder
        parts = [video_vector, encoder(question)] if use_question else [video_vector]
        merged = L.concatenate(parts) if len(parts) > 1 else parts[0]
        return keras.Model([video, question], L.Dense(answers, activation=out_act, name="answer")(merged))

    return build


def stub(vision_model, question_encoder, frames, answers):
    raise NotImplementedError


# ------------------------------------------------------------------ right, written differently


def gru_and_activation_layer(vision_model, question_encoder, frames, answers):
    """Inputs made in the other order, a GRU, Concatenate(), and the softmax as its own layer named 'answer'."""
    question = keras.layers.Input(shape=question_encoder.input_shape[1:], name="question", dtype="int32")
    video = keras.layers.Input(shape=(frames,) + tuple(vision_model.input_shape[1:]), name="video")
    encoded_question = question_encoder(question)
    sequence = keras.layers.TimeDistributed(layer=vision_model)(video)
    encoded_video = keras.layers.GRU(16)(sequence)
    logits = keras.layers.Dense(answers)(keras.layers.Concatenate()([encoded_question, encoded_video]))
    return keras.Model(inputs={"video": video, "question": question},
                       outputs=keras.layers.Activation("softmax", name="answer")(logits))


def bidirectional_lstm(vision_model, question_encoder, frames, answers):
    video = keras.Input((frames, *vision_model.input_shape[1:]), name="video")
    question = keras.Input(question_encoder.input_shape[1:], dtype="int32", name="question")
    frames_read = L.Bidirectional(L.LSTM(8))(L.TimeDistributed(vision_model, name="per_frame")(video))
    hidden = L.Dense(16, activation="relu")(L.concatenate([frames_read, question_encoder(question)]))
    return keras.Model([video, question], L.Dense(answers, activation="softmax", name="answer")(hidden))


WRONG = {
    "build_video_qa": [
        Wrong("vision-model-cloned", {"build_video_qa": video_qa(vision_copy=True)},
              {"test_video_qa_time_distributed_vision": "weights of its own: a copy",
               "test_video_qa_lstm_over_frames": "not fed by TimeDistributed",
               "test_video_qa_trains_the_given_models": "given vision model's weights unchanged"}),
        Wrong("question-encoder-cloned", {"build_video_qa": video_qa(question_copy=True)},
              {"test_video_qa_question_encoder_is_given_model": "a copy",
               "test_video_qa_trains_the_given_models": "given question model's weights unchanged"}),
        Wrong("question-unused", {"build_video_qa": video_qa(use_question=False)},
              {"test_video_qa_question_encoder_is_given_model": "not part of the model"}),
        Wrong("no-time-distributed", {"build_video_qa": video_qa(time_distributed=False)},
              {"test_video_qa_time_distributed_vision": "no TimeDistributed layer"}),
        Wrong("no-lstm", {"build_video_qa": video_qa(recurrent=False)},
              {"test_video_qa_lstm_over_frames": "no LSTM"}),
        Wrong("vision-frozen", {"build_video_qa": video_qa(freeze=True)},
              {"test_video_qa_trains_the_given_models": "keep it trainable"}),
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
    "build_video_qa": [{"build_video_qa": gru_and_activation_layer}, {"build_video_qa": bidirectional_lstm}],
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
