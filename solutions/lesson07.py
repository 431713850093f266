"""Lesson 07 — models as layers: reference solutions to the graded exercises.

The grader in ``tests/grading/test_lesson07.py`` builds what each function returns from models it gives, and judges
the graph: the given vision model and question encoder must be used themselves, not copies, with their own weights.
``build_vqa`` calls both on new inputs; ``build_video_qa`` applies the vision model to every frame through
``TimeDistributed`` and calls the question encoder. The code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is
what a student writes.
"""

from __future__ import annotations

import keras


def build_vqa(vision_model: keras.Model, question_encoder: keras.Model, answers: int) -> keras.Model:
    """Exercise 1: a visual question answering model, built from a vision model and a question encoder it is given.

    - input ``"image"``: an image of the vision model's input shape (``vision_model.input_shape[1:]``), float32;
    - input ``"question"``: word indices of the question encoder's input shape (``question_encoder.input_shape[1:]``),
      dtype int32;
    - call ``vision_model`` itself on the image input and ``question_encoder`` itself on the question input: the
      given models, not copies, so that the VQA model computes with their own weights;
    - concatenate the two vectors and end with ``Dense(answers, softmax)`` named ``"answer"``: one probability per
      answer word.

    Do not copy, freeze or re-initialise the given models: they keep the weights they were given, and training the
    VQA model trains them (the video model of exercise 2 starts from them).
    """
    # BEGIN SOLUTION
    image = keras.Input(shape=vision_model.input_shape[1:], name="image")
    question = keras.Input(shape=question_encoder.input_shape[1:], dtype="int32", name="question")
    merged = keras.layers.concatenate([vision_model(image), question_encoder(question)], name="merged")
    answer = keras.layers.Dense(answers, activation="softmax", name="answer")(merged)
    return keras.Model([image, question], answer, name="vqa")
    # END SOLUTION


def build_video_qa(vision_model: keras.Model, question_encoder: keras.Model, frames: int,
                   answers: int) -> keras.Model:
    """Exercise 2: a video question answering model, built from a vision model and a question encoder it is given.

    - input ``"video"``: ``frames`` images of the vision model's input shape, float32, so of shape
      ``(frames, *vision_model.input_shape[1:])``;
    - input ``"question"``: word indices of the question encoder's input shape (``question_encoder.input_shape[1:]``),
      dtype int32;
    - apply ``vision_model`` to every frame with ``layers.TimeDistributed(vision_model)``: one vector per frame,
      computed with the vision model's own weights;
    - read the sequence of frame vectors with an ``LSTM(32)``: one vector for the whole video;
    - encode the question by calling ``question_encoder`` itself on the question input (the given model, not a copy);
    - concatenate the video and question vectors and end with ``Dense(answers, softmax)`` named ``"answer"``.

    Do not copy or freeze the given models: training the video model goes on training them.
    """
    # BEGIN SOLUTION
    video = keras.Input(shape=(frames, *vision_model.input_shape[1:]), name="video")
    question = keras.Input(shape=question_encoder.input_shape[1:], dtype="int32", name="question")
    frame_vectors = keras.layers.TimeDistributed(vision_model, name="frames")(video)
    video_vector = keras.layers.LSTM(32, name="video_lstm")(frame_vectors)
    question_vector = question_encoder(question)
    merged = keras.layers.concatenate([video_vector, question_vector], name="merged")
    answer = keras.layers.Dense(answers, activation="softmax", name="answer")(merged)
    return keras.Model([video, question], answer, name="video_qa")
    # END SOLUTION
